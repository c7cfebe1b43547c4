"""What the kiosk needs from the rest of the appliance, as Protocols (adapted in ``appliance.kiosk_wiring``).

The kiosk imports ``dossier`` and nothing of another part: scanners, the central client and the lookup
service reach it through these seams. Every port method that may block is called on a worker thread,
never on the UI thread.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from dossier.lookup import LookupResult


@dataclass(frozen=True)
class Scan:
    """A scanner read: the dossier code found (canonical) or, when none, why not (plain reason)."""

    code: str | None
    reason: str = ""
    source: str = "scanner"


@dataclass(frozen=True)
class Typed:
    """Keys a person typed on a keyboard (not a scanner burst): printable characters and key names."""

    keys: tuple[str, ...]


KeyOutput = Scan | Typed


class ScanSource(Protocol):
    """Camera, serial or exclusive-evdev scanners; ``deliver`` is called on the scanner's own thread."""

    def start(self, deliver: Callable[[Scan], None]) -> None:
        """Start reading; each scan is passed to ``deliver``."""
        ...

    def stop(self) -> None:
        """Stop reading (bounded wait)."""
        ...

    def problems(self) -> list[str]:
        """Scanners that are configured but not working now (short technician text); [] when all run."""
        ...


class KeyFilter(Protocol):
    """Tells a keyboard-wedge scanner's burst of keys from typing (fed on the UI thread, no I/O)."""

    def feed(self, key: str, at: float) -> list[KeyOutput]:
        """One key ("\\n" for Enter, "\\t" for Tab, names for special keys) at ``at`` (monotonic seconds)."""
        ...

    def poll(self, now: float) -> list[KeyOutput]:
        """Release held keys once input has paused."""
        ...


LookupFn = Callable[[str], LookupResult]
"""Look up a canonical dossier code (blocking, bounded by the lookup's own deadline)."""


class StatsSource(Protocol):
    """Central's on-time statistics (Decision 766) for one agency and period."""

    def stats(self, agency_id: str, year: int, month: int | None) -> dict[str, Any]:
        """The contract's statistics object; raises ``dossier.errors.CentralError`` when unavailable."""
        ...


class RatingUploader(Protocol):
    """Sends one rating to central (idempotent by the rating's ``id``)."""

    def post_rating(self, rating: dict[str, Any]) -> None:
        """Raises ``CentralError`` (or a subclass) when not accepted."""
        ...


class Speaker(Protocol):
    """Speech output; ``say`` returns at once, speech happens on the speaker's own thread."""

    def say(self, text: str, lang: str) -> None:
        """Speak ``text`` in ``lang`` ("vi"/"en"), interrupting what is being said."""
        ...

    def stop(self) -> None:
        """Stop speaking now."""
        ...

    def available(self) -> bool:
        """False once the speech program or audio output has failed."""
        ...

    def close(self) -> None:
        """Stop the speaker's thread."""
        ...


class Printer(Protocol):
    """A receipt printer; ``send`` blocks (called on a worker thread)."""

    def send(self, data: bytes) -> None:
        """Write ESC/POS bytes; raises ``dossier.errors.HardwareUnavailable`` when absent."""
        ...


class Clock(Protocol):
    """Wall-clock and monotonic time (a seam for tests)."""

    def now(self) -> datetime:
        """The current aware time."""
        ...

    def monotonic(self) -> float:
        """Seconds on a monotonic clock."""
        ...


class SystemClock:
    """The real clocks."""

    def now(self) -> datetime:
        """The current time in UTC (views convert to Vietnam time)."""
        from datetime import UTC

        return datetime.now(UTC)

    def monotonic(self) -> float:
        """``time.monotonic()``."""
        import time

        return time.monotonic()
