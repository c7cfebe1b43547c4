"""The Kivy application: screens built once, the session driving them, I/O on worker threads.

Threads only at the edges: lookups, saving ratings, loading statistics and printing run on small
thread pools; speech has its own thread; scanners have theirs. Every answer comes back to the UI thread
through ``Clock.schedule_once``, and the session drops answers it no longer awaits. Call
``kiosk.kivy_setup.configure`` before importing this module (it imports Kivy's window).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from kivy.app import App
from kivy.clock import Clock
from kivy.core.window import Window
from kivy.lang import Builder
from kivy.properties import BooleanProperty, NumericProperty, StringProperty
from kivy.uix.screenmanager import NoTransition, ScreenManager

from dossier.codes import EXAMPLE, CodeParser
from dossier.errors import MotcuaError
from dossier.lookup import LookupResult, Outcome
from kiosk import i18n, screens
from kiosk.ports import Clock as ClockPort
from kiosk.ports import KeyFilter, LookupFn, Printer, Scan, ScanSource, Speaker, SystemClock, Typed
from kiosk.present import qr_url
from kiosk.printing import compose_job, slip_lines
from kiosk.raster import rasterise
from kiosk.ratings import RatingBook, RatingForwarder
from kiosk.session import (
    Effect,
    Hush,
    LoadStats,
    SaveRating,
    Screen,
    Session,
    SessionConfig,
    Speak,
    StartLookup,
    StatsAnswer,
)
from kiosk.settings import KioskSection
from kiosk.speech import SilentSpeaker
from kiosk.stats import StatsCache
from kiosk.widgets import KioskRoot, png_texture, qr_png, qr_texture

log = logging.getLogger(__name__)

KV_DIR = Path(__file__).parent / "kv"
KV_FILES = ("common.kv", "welcome.kv", "keypad.kv", "result.kv", "not_found.kv", "unavailable.kv", "rating.kv",
            "thanks.kv", "stats.kv")  # fmt: skip
SCREEN_CLASSES: dict[Screen, type[screens.KioskScreen]] = {
    Screen.WELCOME: screens.WelcomeScreen,
    Screen.KEYPAD: screens.KeypadScreen,
    Screen.RESULT: screens.ResultScreen,
    Screen.NOT_FOUND: screens.NotFoundScreen,
    Screen.UNAVAILABLE: screens.UnavailableScreen,
    Screen.RATING: screens.RatingScreen,
    Screen.THANKS: screens.ThanksScreen,
    Screen.STATS: screens.StatsScreen,
}
KEY_NAMES = {13: "\n", 271: "\n", 9: "\t", 8: "backspace"}
ESCAPE = 27
_loaded = False


def post(callback: Callable[..., Any]) -> None:
    """Run ``callback`` on the UI thread as soon as possible; callable from any thread.

    With the "free_only" clock (``kivy_setup``) it wakes the sleeping event loop at once; with another
    clock it runs at the next frame.
    """
    free = getattr(Clock, "schedule_once_free", None)
    (free or Clock.schedule_once)(callback, 0)


def load_kv() -> None:
    """Load the kv files once per process."""
    global _loaded
    if not _loaded:
        for name in KV_FILES:
            Builder.load_file(str(KV_DIR / name))
        _loaded = True


@dataclass
class KioskParts:
    """Everything the kiosk uses, built by ``appliance.kiosk_wiring`` (or by tests)."""

    settings: KioskSection
    lookup: LookupFn
    parser: CodeParser = field(default_factory=CodeParser)
    mask_names: bool = True
    agency_id: str = ""
    office_name: str = ""  # used when kiosk.office_name is empty
    scans: ScanSource | None = None
    keys: KeyFilter | None = None
    speaker: Speaker = field(default_factory=SilentSpeaker)
    printer: Printer | None = None
    ratings: RatingBook | None = None
    forwarder: RatingForwarder | None = None
    stats: StatsCache | None = None
    clock: ClockPort = field(default_factory=SystemClock)
    on_close: list[Callable[[], None]] = field(default_factory=list)

    def session_config(self) -> SessionConfig:
        """The session's settings from the kiosk section."""
        s = self.settings
        return SessionConfig(
            idle_timeout_s=s.idle_timeout_s,
            warning_lead_s=s.warning_lead_s,
            thanks_timeout_s=s.thanks_timeout_s,
            notice_seconds=s.notice_seconds,
            spinner_delay_s=s.spinner_delay_s,
            lookup_timeout_s=s.lookup_timeout_s,
            language=s.language,
            mask_names=self.mask_names,
            url_template=s.public_lookup_url,
            agency_id=self.agency_id or s.agency_id,
            office_name=s.office_name or self.office_name,
            letters=s.keypad_letters,
        )


class KioskApp(App):
    """The kiosk. ``build()`` makes the widget tree once; ``shutdown()`` stops threads and unbinds."""

    lang = StringProperty("vi")
    screen = StringProperty("welcome")
    u = NumericProperty(5.0)  # pixels per millimetre of the configured display
    fs = NumericProperty(20.0)  # body text size
    bh = NumericProperty(60.0)  # touch target height
    busy = BooleanProperty(False)
    busy_code = StringProperty("")
    warning = BooleanProperty(False)
    warning_text = StringProperty("")
    notice = StringProperty("")

    def __init__(self, parts: KioskParts, *, allow_close: bool = False, **kw: Any) -> None:
        super().__init__(**kw)
        self.title = "motcua-edge"
        self.parts = parts
        self.allow_close = allow_close  # a development window may be closed; the kiosk never
        self.session = Session(parts.session_config(), parts.parser, parts.clock)
        self.lang = self.session.lang
        self._lookups = ThreadPoolExecutor(max_workers=2, thread_name_prefix="kiosk-lookup")
        self._io = ThreadPoolExecutor(max_workers=2, thread_name_prefix="kiosk-io")
        self._events: list[Any] = []
        self._bound = False
        self._shut = False
        self.root_widget: KioskRoot | None = None
        self.screens: dict[Screen, screens.KioskScreen] = {}
        self.scanner_problems: list[str] = []
        self.drawn_at = 0.0  # perf_counter of the last refresh that showed a new result (benchmarks)
        self._qr: tuple[str, bytes] | None = None  # the QR code of the result, made on the lookup's thread
        self.scans_total = 0

    # --- building -----------------------------------------------------------------------------------

    def t(self, key: str, lang: str, **params: Any) -> str:
        """A text in ``lang`` (kv rules bind to ``app.lang`` through this call)."""
        return i18n.t(lang, key, **params)

    def build(self) -> KioskRoot:
        """The widget tree (made once), window bindings, timers, and the background services."""
        load_kv()
        self._size_units()
        root = KioskRoot()
        sm: ScreenManager = root.ids.sm
        sm.transition = NoTransition()
        for screen, cls in SCREEN_CLASSES.items():
            widget = cls(name=screen.value)
            self.screens[screen] = widget
            sm.add_widget(widget)
        keypad = self.screens[Screen.KEYPAD]
        assert isinstance(keypad, screens.KeypadScreen)
        keypad.build_keys(self.parts.settings.keypad_letters)
        welcome = self.screens[Screen.WELCOME]
        assert isinstance(welcome, screens.WelcomeScreen)
        welcome.receipt_qr = qr_texture(f"https://example.invalid/tra-cuu?ma={EXAMPLE}")
        self.root_widget = root
        self._bind()
        self._start_services()
        self.refresh()
        return root

    def _size_units(self, *_: Any) -> None:
        s = self.parts.settings
        self.u = min(Window.width / s.display_width_mm, Window.height / s.display_height_mm)
        self.fs = s.text_mm * self.u
        self.bh = s.button_mm * self.u

    def _bind(self) -> None:
        if self._bound:
            return
        Window.bind(
            on_textinput=self._on_textinput,
            on_key_down=self._on_key_down,
            on_keyboard=self._on_keyboard,
            on_request_close=self._on_request_close,
            size=self._size_units,
        )
        self._events = [Clock.schedule_interval(self._tick, 0.1)]
        self._bound = True

    def _start_services(self) -> None:
        p = self.parts
        if hasattr(p.speaker, "on_problem"):  # espeak-ng or the audio output failed: say so on screen
            p.speaker.on_problem = self._speaker_problem
        if p.scans is not None:
            try:
                p.scans.start(self._from_scanner)
            except MotcuaError as err:
                log.warning("scanners could not start; the keypad still works: %s", err)
        if p.forwarder is not None:
            p.forwarder.start()
        if p.stats is not None:
            self._io.submit(self._prefetch_stats)
            self._events.append(Clock.schedule_interval(self._schedule_prefetch, p.settings.stats_refresh_s))
        if p.scans is not None:
            self._events.append(Clock.schedule_interval(self._check_scanners, 5.0))
            Clock.schedule_once(self._check_scanners, 1.0)

    def _check_scanners(self, *_: Any) -> None:
        scans = self.parts.scans
        problems = scans.problems() if scans is not None else []
        if problems != self.scanner_problems:
            self.scanner_problems = problems
            self.refresh()

    def _speaker_problem(self, detail: str) -> None:
        """Called on the speech thread."""
        post(self._show_speaker_missing)

    def _show_speaker_missing(self, *_: Any) -> None:
        self.session.show_notice("speaker_missing")
        self.refresh()

    def shutdown(self) -> None:
        """Stop timers, threads and services; unbind from the window (tests reuse the window). Idempotent.

        Dispatch ``on_stop`` instead when another app will follow in this process: that also releases
        kv's ``app`` proxy, which otherwise keeps pointing at this app.
        """
        if self._shut:
            return
        self._shut = True
        for event in self._events:
            event.cancel()
        self._events = []
        if self._bound:
            Window.unbind(
                on_textinput=self._on_textinput,
                on_key_down=self._on_key_down,
                on_keyboard=self._on_keyboard,
                on_request_close=self._on_request_close,
                size=self._size_units,
            )
            self._bound = False
        p = self.parts
        if p.scans is not None:
            p.scans.stop()
        if p.forwarder is not None:
            p.forwarder.stop()
        p.speaker.close()
        self._lookups.shutdown(wait=False, cancel_futures=True)
        self._io.shutdown(wait=True, cancel_futures=True)
        for close in p.on_close:
            try:
                close()
            except Exception:
                log.exception("closing a kiosk part failed")

    def on_stop(self) -> None:
        """Kivy's stop: shut down cleanly."""
        self.shutdown()

    # --- kiosk mode: no way out ---------------------------------------------------------------------

    def _on_keyboard(self, window: Any, key: int, *args: Any) -> bool:
        return key == ESCAPE  # swallowed: Kivy's default would close the window

    def _on_request_close(self, *args: Any, **kw: Any) -> bool:
        return not self.allow_close  # kiosk mode: the window manager's close, Alt-F4: refused

    # --- input --------------------------------------------------------------------------------------

    def activity(self) -> None:
        """A touch anywhere: the citizen is still there."""
        self.session.touch()

    def _on_textinput(self, window: Any, text: str) -> bool:
        for ch in text:
            self._feed_key(ch)
        return True

    def _on_key_down(
        self, window: Any, key: int, scancode: Any = None, codepoint: Any = None, modifiers: Any = None
    ) -> bool:
        if key == ESCAPE:
            return True
        name = KEY_NAMES.get(key)
        if name is None:
            return False
        self._feed_key(name)
        return True

    def _feed_key(self, key: str) -> None:
        now = self.parts.clock.monotonic()
        outputs = self.parts.keys.feed(key, now) if self.parts.keys is not None else [Typed((key,))]
        self._key_outputs(outputs)

    def _key_outputs(self, outputs: list[Any]) -> None:
        if not outputs:
            return
        effects: list[Effect] = []
        s = self.session
        for out in outputs:
            if isinstance(out, Scan):
                self.scans_total += 1
                effects += s.scan(out)
                continue
            for key in out.keys:
                s.touch()
                if s.screen is Screen.WELCOME and len(key) == 1 and key.isalnum():
                    s.open_keypad()
                if s.screen is not Screen.KEYPAD:
                    continue
                if key == "backspace":
                    s.delete()
                elif key == "\n":
                    effects += s.submit()
                elif len(key) == 1:
                    s.key(key)
        self._run(effects)

    def _from_scanner(self, scan: Scan) -> None:
        """Called on a scanner's thread: hand the scan to the UI thread."""
        post(partial(self._on_scan, scan))

    def _on_scan(self, scan: Scan, *_: Any) -> None:
        self.scans_total += 1
        self._run(self.session.scan(scan))

    # --- buttons ------------------------------------------------------------------------------------

    def act(self, action: str, arg: str = "") -> None:
        """A button was released: ``action`` names what to do."""
        s = self.session
        s.touch()
        effects: list[Effect] = []
        if action == "home":
            effects += s.home()
        elif action == "home_reset":
            s.reset()
            effects.append(Hush())
        elif action == "language":
            s.toggle_language()
            effects.append(Hush())
        elif action == "read_aloud":
            effects.append(Speak(s.speech(), s.lang))
        elif action == "keypad":
            s.open_keypad()
        elif action == "key":
            s.key(arg)
        elif action == "delete":
            s.delete()
        elif action == "clear":
            s.clear()
        elif action == "submit":
            effects += s.submit()
        elif action == "retype":
            s.retype()
        elif action == "retry":
            effects += s.retry()
        elif action == "rate":
            s.open_rating()
        elif action == "choose":
            question, _, level = arg.partition(":")
            s.choose(question, int(level))
        elif action == "send_rating":
            effects += s.submit_rating()
        elif action == "stats":
            effects += s.open_stats()
        elif action == "print":
            self._print()
        elif action == "dismiss_notice":
            s.notice = None
        # "more_time": the touch itself extended the time
        self._run(effects)

    # --- effects, off the UI thread -----------------------------------------------------------------

    def _run(self, effects: list[Effect]) -> None:
        for e in effects:
            if isinstance(e, StartLookup):
                self._lookups.submit(self._lookup_job, e)
                Clock.schedule_once(self.refresh, self.parts.settings.spinner_delay_s + 0.01)
            elif isinstance(e, SaveRating):
                self._io.submit(self._save_job, e)
            elif isinstance(e, LoadStats):
                self._io.submit(self._stats_job, e)
            elif isinstance(e, Speak):
                self.parts.speaker.say(e.text, e.lang)
                if not self.parts.speaker.available():
                    self.session.show_notice("speaker_missing")
            elif isinstance(e, Hush):
                self.parts.speaker.stop()
        self.refresh()

    def _lookup_job(self, effect: StartLookup) -> None:
        qr: tuple[str, bytes] | None = None
        try:
            result = self.parts.lookup(effect.code)
            if result.outcome is Outcome.FOUND and result.dossier is not None:
                url = qr_url(self.session.config.url_template, result.dossier.code)
                qr = (url, qr_png(url)) if url else None
        except Exception as err:  # a broken lookup must not freeze the screen
            if not isinstance(err, MotcuaError):
                log.exception("lookup failed unexpectedly")
            result = LookupResult(
                effect.code, Outcome.UNAVAILABLE, None, "none", None, None, type(err).__name__
            )
        post(partial(self._lookup_done, effect.ticket, result, qr))

    def qr_texture_for(self, url: str) -> Any:
        """The QR texture of ``url``: from the PNG made on the lookup's thread when there is one."""
        if self._qr is not None and self._qr[0] == url:
            return png_texture(self._qr[1])
        return qr_texture(url)

    def _lookup_done(self, ticket: int, result: LookupResult, qr: tuple[str, bytes] | None, *_: Any) -> None:
        if self.session.lookup_done(ticket, result):
            self._qr = qr
            self.refresh()
            self.drawn_at = time.perf_counter()

    def _save_job(self, effect: SaveRating) -> None:
        ok = False
        book = self.parts.ratings
        if book is not None:
            try:
                book.add(effect.rating)
                ok = True
            except MotcuaError as err:
                log.error("a rating could not be stored: %s", err)
        post(partial(self._saved, effect.ticket, ok))

    def _saved(self, ticket: int, ok: bool, *_: Any) -> None:
        self.session.rating_saved(ticket, ok)
        if ok and self.parts.forwarder is not None:
            self.parts.forwarder.wake()
        self.refresh()

    def _stats_job(self, effect: LoadStats) -> None:
        answer = self._load_stats()
        post(partial(self._stats_done, effect.ticket, answer))

    def _load_stats(self) -> StatsAnswer:
        if self.parts.stats is None:
            return StatsAnswer(None, None, problem="no_agency")
        try:
            return self.parts.stats.load()
        except Exception:
            log.exception("statistics could not be loaded")
            return StatsAnswer(None, None, problem="none")

    def _stats_done(self, ticket: int, answer: StatsAnswer, *_: Any) -> None:
        self.session.stats_loaded(ticket, answer)
        self.refresh()

    def _schedule_prefetch(self, *_: Any) -> None:
        self._io.submit(self._prefetch_stats)

    def _prefetch_stats(self) -> None:
        self._load_stats()

    # --- printing -----------------------------------------------------------------------------------

    def _print(self) -> None:
        s = self.session
        view = s.result_view()
        printer = self.parts.printer
        if view is None:
            return
        if printer is None:
            s.show_notice("printer_missing")
            return
        settings = self.parts.settings
        lines = slip_lines(view, s.lang, self.parts.clock.now())
        image = rasterise(lines, settings.printer_width_dots) if settings.printer_text == "raster" else None
        job = compose_job(
            lines,
            mode=settings.printer_text,
            width_dots=settings.printer_width_dots,
            text_image=image,
            qr_url=view.qr_url,
        )
        s.show_notice("printing")
        self._io.submit(self._print_job, printer, job)

    def _print_job(self, printer: Printer, job: bytes) -> None:
        try:
            printer.send(job)
            ok = True
        except MotcuaError as err:
            log.warning("printing failed: %s", err)
            ok = False
        post(partial(self._printed, ok))

    def _printed(self, ok: bool, *_: Any) -> None:
        self.session.show_notice("printed" if ok else "printer_missing")
        self.refresh()

    # --- time and drawing ---------------------------------------------------------------------------

    def _tick(self, *_: Any) -> None:
        if self.parts.keys is not None:
            self._key_outputs(self.parts.keys.poll(self.parts.clock.monotonic()))
        effects = self.session.tick()
        if effects:
            self._run(effects)
        else:
            self.refresh()

    def refresh(self, *_: Any) -> None:
        """Show the session's state: current screen, its content, overlays, notice."""
        if self.root_widget is None:
            return
        s = self.session
        self.lang = s.lang
        self.screen = s.screen.value
        sm = self.root_widget.ids.sm
        if sm.current != s.screen.value:
            sm.current = s.screen.value
            sm.transition.stop()  # switch now: a touch in the next frame must not be lost to an "animation"
        if s.result is None:
            self._qr = None  # the code is the citizen's: forgotten with the rest
        for widget in self.screens.values():
            widget.update(self, s)
        self.busy = s.spinner_visible()
        self.busy_code = s.busy.code if s.busy is not None else ""
        self.warning = s.warning
        self.warning_text = (
            i18n.t(s.lang, "more_time_text", n=max(0, round(s.idle_left()))) if s.warning else ""
        )
        self.notice = s.notice_text()
