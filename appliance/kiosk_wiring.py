"""The kiosk composed from the other parts: barcode's scanners and wedge detector, dossier's lookup and
central client, the kiosk's own store. Adapters here turn each part's types into the kiosk's ports.

Kivy is imported only by the functions that open a window (``run_kiosk``, ``start_kiosk_in_stack``,
``render_screenshots``); Kivy must run on the process's main thread.
"""

from __future__ import annotations

import logging
import queue
import re
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from appliance.config import Config
from dossier.codes import CodeParser
from dossier.errors import CentralBadResponse, InvalidInput, MotcuaError
from dossier.lookup import LookupResult, LookupService
from kiosk.ports import KeyOutput, Scan, Typed

if TYPE_CHECKING:
    from barcode.events import CodeExtractor, ScanEvent
    from barcode.wedge import WedgeDetector
    from dossier.client import CentralClient
    from kiosk.app import KioskParts

log = logging.getLogger(__name__)


def kiosk_db_path(config: Config) -> Path:
    """The kiosk's own database (ratings, cached statistics): ``<data_dir>/kiosk.db``."""
    return config.data_dir / "kiosk.db"


def office_agency(config: Config, cache: Any = None) -> str:
    """The agency whose statistics the kiosk shows: ``kiosk.agency_id``, else ``device.agencies[0]``,
    else (demo) the agency of a cached dossier."""
    if config.kiosk.agency_id:
        return config.kiosk.agency_id
    if config.device.agencies:
        return config.device.agencies[0]
    if cache is not None:
        try:
            for code, _status in cache.sample_codes(per_status=1):
                agency = code.rsplit("-", 2)[0]
                if agency:
                    return str(agency)
        except MotcuaError:
            pass
    return ""


def office_name(cache: Any, agency: str) -> str:
    """The agency's name as cached dossiers give it ("" when none is cached)."""
    if not agency:
        return ""
    try:
        for code, _status in cache.sample_codes(per_status=1):
            entry = cache.get(code)
            if entry is not None and entry.dossier.agency_id == agency and entry.dossier.agency_name:
                return str(entry.dossier.agency_name)
    except MotcuaError:
        pass
    return ""


# --- adapters: other parts → kiosk ports -------------------------------------------------------------


def scan_from_event(event: ScanEvent) -> Scan:
    """barcode's ``ScanEvent`` → the kiosk's ``Scan``."""
    return Scan(event.code.value if event.code else None, event.reason, event.source)


class WedgeKeys:
    """``KeyFilter`` over barcode's ``WedgeDetector``: scanner bursts become scans, the rest typing."""

    def __init__(self, detector: WedgeDetector, extractor: CodeExtractor) -> None:
        self.detector = detector
        self.extractor = extractor

    def _convert(self, outputs: list[Any]) -> list[KeyOutput]:
        from barcode.wedge import WedgeScan

        out: list[KeyOutput] = []
        for item in outputs:
            if isinstance(item, WedgeScan):
                event = self.extractor.event(item.text, source="keyboard", symbology=item.symbology)
                out.append(scan_from_event(event))
            else:
                out.append(Typed(tuple(item.keys)))
        return out

    def feed(self, key: str, at: float) -> list[KeyOutput]:
        """One key."""
        return self._convert(self.detector.feed(key, at))

    def poll(self, now: float) -> list[KeyOutput]:
        """Release held keys after a pause."""
        return self._convert(self.detector.poll(now))


class BarcodeScans:
    """``ScanSource`` over barcode's camera / serial / evdev scanners and their event queue."""

    def __init__(
        self,
        config: Config,
        *,
        scanners: list[Any] | None = None,
        events: queue.Queue[ScanEvent] | None = None,
    ) -> None:
        self.config = config
        self.events: queue.Queue[ScanEvent] = events if events is not None else queue.Queue(maxsize=100)
        self._given = scanners  # already built (benchmarks, tests); None: built from [barcode]
        self.scanners: list[Any] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._problems: list[str] = []

    def start(self, deliver: Callable[[Scan], None]) -> None:
        """Build and start the configured scanners and the thread that hands their events over."""
        from barcode.scanners import build_scanners

        try:
            if self._given is not None:
                self.scanners = list(self._given)
            else:
                self.scanners = list(
                    build_scanners(self.config.barcode, self.events, self.config.codes.extra_patterns)
                )
        except MotcuaError as err:
            self._problems.append(str(err))
            log.warning("scanners unavailable, the keypad still works: %s", err)
            self.scanners = []
        for scanner in self.scanners:
            scanner.start()
        self._stop.clear()
        self._thread = threading.Thread(target=self._drain, args=(deliver,), name="kiosk-scans", daemon=True)
        self._thread.start()

    def _drain(self, deliver: Callable[[Scan], None]) -> None:
        while not self._stop.is_set():
            try:
                event = self.events.get(timeout=0.2)
            except queue.Empty:
                continue
            deliver(scan_from_event(event))

    def stop(self) -> None:
        """Stop the scanners and the hand-over thread."""
        self._stop.set()
        for scanner in self.scanners:
            scanner.stop(timeout=3.0)
        if self._thread is not None:
            self._thread.join(3.0)
            self._thread = None

    def problems(self) -> list[str]:
        """Scanners configured but not working now."""
        down = [f"{type(s).__name__} unavailable" for s in self.scanners if s.state == "unavailable"]
        return self._problems + down


class CentralStats:
    """``StatsSource`` over ``CentralClient.stats``."""

    def __init__(self, client: CentralClient) -> None:
        self.client = client

    def stats(self, agency_id: str, year: int, month: int | None) -> dict[str, Any]:
        """Central's statistics object."""
        return self.client.stats(agency_id, year, month)


_REFUSED = re.compile(r"HTTP (400|409|422)\b")


class CentralRatings:
    """``RatingUploader`` over ``CentralClient.post_rating``: central refusing the rating itself (400/422)
    becomes ``InvalidInput`` (not retried); being away stays a ``CentralError`` (retried)."""

    def __init__(self, client: CentralClient) -> None:
        self.client = client

    def post_rating(self, rating: dict[str, Any]) -> None:
        """Post one rating (idempotent by id on central)."""
        try:
            self.client.post_rating(rating)
        except CentralBadResponse as err:
            if _REFUSED.search(str(err)):
                raise InvalidInput(f"central refused the rating: {err}") from None
            raise


def lookup_fn(lookup: LookupService) -> Callable[[str], LookupResult]:
    """The kiosk's lookup: the shared ``LookupService`` (its deadline bounds each call)."""
    return lookup.lookup


# --- composition ---------------------------------------------------------------------------------------


def make_kiosk_parts(
    config: Config,
    lookup: LookupService,
    client: CentralClient | None,
    *,
    scanners: bool = True,
    speech: bool = True,
    agency_id: str = "",
) -> KioskParts:
    """Every part the kiosk uses, from the configuration (the kiosk's store is opened here)."""
    from kiosk.app import KioskParts
    from kiosk.printing import make_printer
    from kiosk.ratings import RatingBook, RatingForwarder, open_kiosk_store
    from kiosk.speech import EspeakSpeaker, SilentSpeaker
    from kiosk.stats import StatsCache

    s = config.kiosk
    parser = CodeParser(config.codes.extra_patterns)
    store = open_kiosk_store(kiosk_db_path(config))
    book = RatingBook(store)
    agency = agency_id or office_agency(config, lookup.cache)
    forwarder = RatingForwarder(book, CentralRatings(client)) if client is not None else None
    stats = StatsCache(
        store, CentralStats(client) if client is not None else None, agency, refresh_s=s.stats_refresh_s
    )
    speaker: Any = SilentSpeaker()
    if speech and s.speech_enabled:
        speaker = EspeakSpeaker(
            s.speech_command,
            {"vi": s.speech_voice_vi, "en": s.speech_voice_en},
            rate=s.speech_rate,
            timeout_s=s.speech_timeout_s,
        )
    keys = None
    if scanners:
        from barcode.events import CodeExtractor
        from barcode.wedge import WedgeDetector

        keys = WedgeKeys(WedgeDetector.from_settings(config.barcode), CodeExtractor(parser))
    return KioskParts(
        settings=s,
        lookup=lookup_fn(lookup),
        parser=parser,
        mask_names=config.render.mask_names,
        agency_id=agency,
        office_name=office_name(lookup.cache, agency),
        scans=BarcodeScans(config) if scanners else None,
        keys=keys,
        speaker=speaker,
        printer=make_printer(s),
        ratings=book,
        forwarder=forwarder,
        stats=stats,
        on_close=[store.close],
    )


def run_kiosk(config: Config, *, windowed: bool = False) -> int:
    """``motcua kiosk run``: the kiosk in a window (or full screen), until the process is stopped.

    Must run on the main thread (Kivy). The dossier cache is kept current by ``motcua sync`` (its own
    service); the kiosk only reads it and asks central on a miss.
    """
    from appliance import wiring
    from kiosk import kivy_setup

    kivy_setup.configure(config.kiosk, windowed=windowed)
    cache = wiring.open_cache(config)
    client = wiring.make_client(config)
    lookup = wiring.make_lookup(config, cache, client, channel="kiosk")
    try:
        parts = make_kiosk_parts(config, lookup, client)
        from kiosk.app import KioskApp

        app = KioskApp(parts, allow_close=windowed)
        kivy_setup.stop_on_signals(app)
        app.run()
    finally:
        lookup.close()
        cache.close()
    return 0


def start_kiosk_in_stack(
    config: Config, lookup: LookupService, client: CentralClient, stop_event: threading.Event
) -> int:
    """The kiosk inside ``motcua run`` (``make run``), over the stack's lookup and client.

    MUST be called on the main thread (Kivy's window and event loop live there; run the stack's other
    parts on their own threads). With a display ($DISPLAY or $WAYLAND_DISPLAY) it opens the kiosk in a
    window and returns when the window is closed or ``stop_event`` is set (ignored kiosk-mode closes do
    not end it: stop the stack). Without one it renders every screen offscreen from the stack's own data
    into ``<data_dir>/screenshots``, prints where, and returns. Returns 0, or 4 when Kivy cannot start.
    """
    from kiosk import kivy_setup

    if not kivy_setup.has_display():
        out = config.data_dir / "screenshots"
        try:
            written, problems = render_screenshots(config, out, lookup=lookup, client=client)
        except MotcuaError as err:
            print(f"kiosk: no display, and the screenshots failed: {err}")
            return 4
        print(f"kiosk: no display here; {len(written)} screenshots of the kiosk written to {out}")
        for problem in problems:
            print(f"kiosk: accessibility: {problem}")
        return 0
    kivy_setup.configure(config.kiosk, windowed=True)
    from kivy.clock import Clock

    from kiosk.app import KioskApp

    parts = make_kiosk_parts(config, lookup, client)
    app = KioskApp(parts, allow_close=True)  # a development window: closing it ends the kiosk

    def watch(_dt: float) -> None:
        if stop_event.is_set():
            app.stop()

    Clock.schedule_interval(watch, 0.5)
    print("kiosk: open in a window (stop the stack with Ctrl-C in this terminal)")
    app.run()
    return 0


def render_screenshots(
    config: Config,
    out: Path,
    *,
    size: tuple[int, int] | None = None,
    lookup: LookupService | None = None,
    client: CentralClient | None = None,
) -> tuple[list[Path], list[str]]:
    """Render every screen in both languages at one size, offscreen, into ``out`` (this process's window).

    Returns the files and the accessibility failures found on them (see ``kiosk.a11y``).

    With ``lookup`` (the stack's), the answers come from the stack's cache; otherwise from demo data
    generated here. Must run on the main thread, once per process (the window size is fixed at creation).
    """
    from kiosk import kivy_setup
    from kiosk.settings import PANELS_MM

    settings = config.kiosk
    size = size or (settings.width_px, settings.height_px)
    if size != (settings.width_px, settings.height_px):
        import msgspec

        mm = PANELS_MM.get(size, (settings.display_width_mm * size[0] / settings.width_px,
                                  settings.display_height_mm * size[1] / settings.height_px))  # fmt: skip
        settings = msgspec.structs.replace(
            settings, width_px=size[0], height_px=size[1], display_width_mm=mm[0], display_height_mm=mm[1]
        )
    kivy_setup.configure(settings, headless=True, size=size)
    from kivy.base import EventLoop
    from kivy.core.window import Window

    from kiosk.app import KioskApp, KioskParts
    from kiosk.screenshots import ManualClock, render_all

    EventLoop.ensure_window()
    scenarios, agency = stack_scenarios(config, lookup, client) if lookup is not None else demo_scenarios()
    clock = ManualClock()
    parts = KioskParts(
        settings=settings,
        lookup=lambda code: scenarios.not_found,
        mask_names=config.render.mask_names,
        agency_id=agency,
        office_name=scenarios.office,
        printer=None,
        clock=clock,
    )
    app = KioskApp(parts)
    root = app.build()
    Window.add_widget(root)
    try:
        return render_all(app, out, scenarios, clock)
    finally:
        app.dispatch("on_stop")
        Window.remove_widget(root)


# --- what the screenshots show -------------------------------------------------------------------------

_SLUGS = {1: "submitted-online", 2: "accepted", 3: "not-accepted", 4: "in-progress", 5: "supplement-requested",
          6: "fees-due", 7: "withdrawn", 8: "stopped", 9: "finished", 10: "returned"}  # fmt: skip


def _pick(dossiers: list[Any], now: Any) -> list[tuple[str, Any]]:
    """One dossier per state (with history, and a note for a supplement request when there is one), plus
    an overdue one."""
    import msgspec

    from dossier.model import Status

    chosen: list[tuple[str, Any]] = []
    for status in Status:
        candidates = [d for d in dossiers if d.status is status]
        if not candidates:
            # The demo data, generated for the current time, may hold no dossier in a rare state:
            # show one anyway (a dossier of another state, restated), so every state is always rendered.
            candidates = [msgspec.structs.replace(dossiers[0], status=status)]
        best = max(candidates, key=lambda d: (bool(d.note), len(d.history), d.code))
        chosen.append((f"{status.value:02d}-{_SLUGS[status.value]}", best))
    overdue = [d for d in dossiers if d.status is Status.IN_PROGRESS and d.is_overdue(now)]
    if overdue:
        chosen.append(("04-in-progress-overdue", overdue[0]))
    return chosen


def demo_scenarios() -> tuple[Any, str]:
    """Screens over the reference service's demo data (``central/demo.py``); statistics counted by
    central's own code over those dossiers. Returns (scenarios, agency)."""
    import tempfile
    from collections import Counter
    from datetime import UTC, datetime, timedelta

    from central.demo import generate
    from central.stats import on_time_stats
    from central.store import CentralStore
    from dossier.lookup import Outcome
    from dossier.model import VN_TZ
    from kiosk.screenshots import Scenarios
    from kiosk.session import StatsAnswer

    now = datetime.now(VN_TZ).replace(microsecond=0)
    dossiers = generate(800, now=now)
    picked = _pick(dossiers, now)
    as_of = datetime.now(UTC)
    results = [(name, LookupResult(d.code, Outcome.FOUND, d, "cache", as_of, 4.0)) for name, d in picked]
    base = next(d for name, d in picked if name.startswith("04"))
    stale = LookupResult(
        base.code, Outcome.FOUND, base, "stale", as_of - timedelta(hours=2), 7200.0, "timeout"
    )
    agency = Counter(d.agency_id for d in dossiers).most_common(1)[0][0]
    with tempfile.TemporaryDirectory() as tmp:
        store = CentralStore(Path(tmp) / "central.db")
        try:
            store.bulk_insert(dossiers, now)
            month = on_time_stats(store, agency, now.year, now.month, now)
            year = on_time_stats(store, agency, now.year, None, now)
        finally:
            store.close()
    stats = StatsAnswer(month, year, fetched_at=as_of, cached=False)
    missing = f"{agency}-{now:%y%m%d}-9999"
    return (
        Scenarios(
            results=results,
            stale=stale,
            not_found=LookupResult(missing, Outcome.NOT_FOUND, None, "central", None, 0.0),
            unavailable=LookupResult(base.code, Outcome.UNAVAILABLE, None, "none", None, None, "timeout"),
            stats=stats,
            office=next((d.agency_name for d in dossiers if d.agency_id == agency), ""),
        ),
        agency,
    )


def stack_scenarios(config: Config, lookup: LookupService, client: CentralClient | None) -> tuple[Any, str]:
    """Screens over the running stack: one cached dossier per state, central's statistics."""
    from datetime import UTC, datetime, timedelta

    from dossier.lookup import Outcome
    from dossier.model import VN_TZ
    from kiosk.screenshots import Scenarios
    from kiosk.session import StatsAnswer

    now = datetime.now(VN_TZ)
    found = []
    for code, _status in lookup.cache.sample_codes(per_status=1):
        entry = lookup.cache.get(code)
        if entry is not None:
            found.append(entry.dossier)
    if not found:
        return demo_scenarios()
    picked = _pick(found, now)
    as_of = datetime.now(UTC)
    results = [(name, LookupResult(d.code, Outcome.FOUND, d, "cache", as_of, 4.0)) for name, d in picked]
    base = picked[0][1]
    agency = office_agency(config, lookup.cache)
    stats = StatsAnswer(None, None, problem="none")
    if client is not None and agency:
        try:
            month = client.stats(agency, now.year, now.month)
            year = client.stats(agency, now.year, None)
            stats = StatsAnswer(month, year, fetched_at=as_of)
        except MotcuaError as err:
            log.warning("statistics for the screenshots unavailable: %s", err)
    return (
        Scenarios(
            results=results,
            stale=LookupResult(base.code, Outcome.FOUND, base, "stale", as_of - timedelta(hours=2), 7200.0),
            not_found=LookupResult(
                f"{agency or '000.00.15.H56'}-{now:%y%m%d}-9999",
                Outcome.NOT_FOUND,
                None,
                "central",
                None,
                0.0,
            ),
            unavailable=LookupResult(base.code, Outcome.UNAVAILABLE, None, "none", None, None, "timeout"),
            stats=stats,
            office=config.kiosk.office_name or office_name(lookup.cache, agency),
        ),
        agency,
    )
