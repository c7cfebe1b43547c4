"""Kiosk test fixtures: real Kivy rendering offscreen (SDL offscreen driver, Mesa), one window per session.

Kivy's environment is set here, before anything imports Kivy. Each test builds a fresh ``KioskApp``,
adds its tree to the shared window and removes it afterwards; frames advance with ``EventLoop.idle()``;
every wait is bounded by wall-clock time.
"""

from __future__ import annotations

import os
import queue
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

os.environ["SDL_VIDEODRIVER"] = "offscreen"
os.environ["KIVY_NO_ARGS"] = "1"
os.environ["KIVY_NO_FILELOG"] = "1"
os.environ["KCFG_KIVY_LOG_LEVEL"] = "warning"
os.environ.setdefault("KIVY_HOME", tempfile.mkdtemp(prefix="motcua-kivy-test-"))

from kiosk import kivy_setup  # noqa: E402
from kiosk.settings import KioskSection  # noqa: E402

WIDTH, HEIGHT = 800, 480
SETTINGS = KioskSection(fullscreen=False)
kivy_setup.configure(SETTINGS, headless=True, size=(WIDTH, HEIGHT))  # before any test module imports Kivy


@pytest.fixture(scope="session")
def window() -> Iterator[Any]:
    """The one offscreen window; ``Window.close`` is neutralised and counts its calls."""
    from kivy.base import EventLoop
    from kivy.core.window import Window

    EventLoop.ensure_window()
    closes: list[int] = []
    original = Window.close
    Window.close = lambda *a, **k: closes.append(1)  # type: ignore[method-assign]
    Window.closes = closes  # type: ignore[attr-defined]
    yield Window
    Window.close = original  # type: ignore[method-assign]


def pump(frames: int = 2) -> None:
    """Advance Kivy by ``frames`` frames (clock callbacks, layout, drawing)."""
    from kivy.base import EventLoop

    for _ in range(frames):
        EventLoop.idle()


def wait_until(condition: Callable[[], bool], timeout: float = 10.0, what: str = "condition") -> None:
    """Pump frames until ``condition()`` holds; fail after ``timeout`` seconds of wall-clock time."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        pump(1)


def tap(widget: Any) -> None:
    """A finger touching and leaving the centre of ``widget``."""
    from kivy.tests.common import UnitTestTouch

    touch = UnitTestTouch(*widget.to_window(*widget.center))
    touch.touch_down()
    touch.touch_up()
    pump(1)


def find(root: Any, text: str | None = None, cls: type | None = None, action: str | None = None) -> Any:
    """The first visible widget under ``root`` matching text / class / action (fails when none)."""
    from kiosk.a11y import visible_widgets

    for w in visible_widgets(root):
        if text is not None and getattr(w, "text", None) != text:
            continue
        if cls is not None and not isinstance(w, cls):
            continue
        if action is not None and getattr(w, "action", None) != action:
            continue
        return w
    raise AssertionError(f"no visible widget with text={text!r} cls={cls} action={action!r}")


# --- a kiosk over a real cache and lookup, with recording ports ---------------------------------------

from kivy.core.window import Window  # noqa: E402
from kivy.uix.behaviors import ButtonBehavior  # noqa: E402

from appliance.kiosk_wiring import WedgeKeys  # noqa: E402
from barcode.events import CodeExtractor  # noqa: E402
from barcode.wedge import WedgeDetector  # noqa: E402
from dossier.cache import Cache  # noqa: E402
from dossier.codes import CodeParser  # noqa: E402
from dossier.errors import CentralBadResponse, DossierNotFound  # noqa: E402
from dossier.lookup import LookupService  # noqa: E402
from dossier.model import Dossier, Status  # noqa: E402
from kiosk.a11y import audit  # noqa: E402
from kiosk.app import KioskApp, KioskParts  # noqa: E402
from kiosk.ports import Scan  # noqa: E402
from kiosk.session import Screen  # noqa: E402
from tests.kiosk.data import AGENCY, dossier  # noqa: E402

SETTINGS_APP = KioskSection(
    fullscreen=False, idle_timeout_s=30, warning_lead_s=10, lookup_timeout_s=1.0, keypad_letters=("H", "G")
)
STATES = [dossier(s) for s in Status] + [dossier(Status.IN_PROGRESS, overdue=True, seq=1)]


class Central:
    """The lookup's source (the central client's seam): answers "not found", or nonsense."""

    def __init__(self) -> None:
        self.mode = "not_found"

    def get_dossier(self, code: str, *, deadline: float | None = None) -> Dossier:
        if self.mode == "nonsense":
            raise CentralBadResponse("central sent malformed JSON")
        raise DossierNotFound(code)


class Speaker:
    """Records what would be said, and on which thread ``say`` was called."""

    def __init__(self) -> None:
        self.said: list[tuple[str, str]] = []

    def say(self, text: str, lang: str) -> None:
        self.said.append((text, lang))

    def stop(self) -> None:
        pass

    def available(self) -> bool:
        return True

    def close(self) -> None:
        pass


class QueueScans:
    """A scanner on its own thread (like the camera's), fed by the test."""

    def __init__(self) -> None:
        self.q: queue.Queue[Scan | None] = queue.Queue()
        self.thread: threading.Thread | None = None

    def start(self, deliver: Callable[[Scan], None]) -> None:
        def run() -> None:
            while (scan := self.q.get()) is not None:
                deliver(scan)

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.q.put(None)
        if self.thread is not None:
            self.thread.join(5)

    def problems(self) -> list[str]:
        return []


@pytest.fixture
def dossier_cache(tmp_path: Path) -> Iterator[Cache]:
    c = Cache(tmp_path / "cache.db")
    for d in STATES:
        c.put(d)
    yield c
    c.close()


@pytest.fixture
def kiosk(window: Any, dossier_cache: Cache) -> Iterator[Callable[..., KioskApp]]:
    made: list[tuple[KioskApp, Any, LookupService]] = []

    def make(**overrides: Any) -> KioskApp:
        central = overrides.pop("central", Central())
        service = LookupService(dossier_cache, central, central_deadline=0.5)
        parser = CodeParser()
        parts = KioskParts(
            settings=overrides.pop("settings", SETTINGS_APP),
            lookup=overrides.pop("lookup", service.lookup),
            parser=parser,
            agency_id=AGENCY,
            keys=WedgeKeys(WedgeDetector(), CodeExtractor(parser)),
            speaker=overrides.pop("speaker", Speaker()),
            **overrides,
        )
        app = KioskApp(parts)
        root = app.build()
        window.add_widget(root)
        pump(3)
        made.append((app, root, service))
        return app

    yield make
    for app, root, service in made:
        app.dispatch("on_stop")  # shuts down, and releases kv's cached `app`
        window.remove_widget(root)
        service.close()


def screen(app: KioskApp) -> Screen:
    return app.session.screen


def type_burst(text: str) -> None:
    """A keyboard-wedge scanner: the characters in a burst, then Enter."""
    for ch in text:
        Window.dispatch("on_textinput", ch)
    Window.dispatch("on_key_down", 13, 40, None, [])
    pump(1)


def check_a11y(app: KioskApp, where: str) -> None:
    """Contrast >= 4.5:1 for every visible text, touch targets >= 9 mm on the configured display."""
    pump(2)
    assert app.root_widget is not None
    findings, texts, targets = audit(
        app.root_widget,
        app.parts.settings.px_per_mm,
        is_target=lambda w: isinstance(w, ButtonBehavior) and not (w.opacity == 0 or not w.text),
    )
    assert texts > 2 and targets >= 1, where
    assert findings == [], f"{where}: " + "; ".join(map(str, findings))
