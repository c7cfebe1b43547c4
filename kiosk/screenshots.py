"""Render every screen to PNG files, offscreen: what UI reviewers look at (``motcua kiosk screenshots``).

One process renders one window size (Kivy fixes the size when the window is created). The caller gives
the answers to show (demo dossiers, one per state) and the statistics; nothing here does I/O besides
writing the PNG files.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from dossier.lookup import LookupResult
from kiosk.ports import Scan
from kiosk.session import LoadStats, StartLookup, StatsAnswer


@dataclass(frozen=True)
class Scenarios:
    """What the screenshots show."""

    results: Sequence[tuple[str, LookupResult]]  # (file name part, a FOUND answer) for each state
    stale: LookupResult  # a FOUND answer served from the cache while central is away ("as of")
    not_found: LookupResult
    unavailable: LookupResult
    stats: StatsAnswer
    office: str = ""


class ManualClock:
    """A monotonic clock that moves only when told (the idle warning and the spinner on demand)."""

    def __init__(self) -> None:
        self.mono = 1000.0

    def now(self) -> datetime:
        """The real wall-clock time."""
        return datetime.now(UTC)

    def monotonic(self) -> float:
        """The manual monotonic time."""
        return self.mono


def render_all(
    app: object, out: Path, scenarios: Scenarios, clock: ManualClock, *, langs: Sequence[str] = ("vi", "en")
) -> tuple[list[Path], list[str]]:
    """Drive ``app`` (a built ``KioskApp`` using ``clock``) through every screen.

    Returns the files written and the accessibility failures found on them (contrast, target size).
    """
    from kivy.base import EventLoop
    from kivy.core.window import Window
    from kivy.uix.behaviors import ButtonBehavior

    from kiosk.a11y import audit
    from kiosk.app import KioskApp

    assert isinstance(app, KioskApp)
    session = app.session
    root = app.root_widget
    assert root is not None
    out.mkdir(parents=True, exist_ok=True)
    size = f"{Window.width}x{Window.height}"
    written: list[Path] = []
    problems: list[str] = []

    def is_target(w: object) -> bool:
        return isinstance(w, ButtonBehavior) and bool(getattr(w, "text", ""))

    def shot(name: str, lang: str) -> None:
        app.refresh()
        for _ in range(4):
            EventLoop.idle()
        app.refresh()
        EventLoop.idle()
        path = out / f"{size}-{lang}-{name}.png"
        root.export_to_png(str(path))
        written.append(path)
        findings, _, _ = audit(root, app.parts.settings.px_per_mm, is_target=is_target)
        problems.extend(f"{path.name}: {f}" for f in findings)

    def show(result: LookupResult, lang: str) -> None:
        session.reset()
        session.lang = lang
        effects = session.scan(Scan(result.code))
        ticket = next(e.ticket for e in effects if isinstance(e, StartLookup))
        session.lookup_done(ticket, result)

    for lang in langs:
        session.reset()
        session.lang = lang
        shot("01-welcome", lang)
        session.open_keypad()
        for ch in "0000015H5624":
            session.key(ch)
        shot("02-keypad", lang)
        session.clear()
        for ch in "0000015H56241315O001".replace("O", "0"):
            session.key(ch)
        session.submit()
        shot("03-keypad-reason", lang)
        for name, result in scenarios.results:
            show(result, lang)
            shot(f"04-result-{name}", lang)
        show(scenarios.stale, lang)
        shot("05-result-as-of-banner", lang)
        clock.mono += session.config.idle_timeout_s - session.config.warning_lead_s + 1
        session.tick()
        shot("06-timeout-warning", lang)
        session.touch()
        show(scenarios.not_found, lang)
        shot("07-not-found", lang)
        show(scenarios.unavailable, lang)
        shot("08-cannot-check", lang)
        show(scenarios.results[0][1], lang)
        session.open_rating()
        session.choose("service", 1)
        shot("09-rating", lang)
        session.choose("staff", 3)
        session.rating.error = ""
        session.reset()
        session.lang = lang
        effects = session.open_stats()
        ticket = next(e.ticket for e in effects if isinstance(e, LoadStats))
        session.stats_loaded(ticket, scenarios.stats)
        shot("10-statistics", lang)
        session.reset()
        session.lang = lang
        session.open_keypad()
        for ch in "0000015H562403150001":
            session.key(ch)
        session.submit()
        clock.mono += 1.0
        shot("11-searching", lang)
        session.reset()
    return written, problems
