"""A circuit breaker over central: once it is known to be down, stop waiting on it.

``closed``: calls go through. After ``failures`` consecutive failures it opens: callers answer at once
(the cache, or "cannot check right now") instead of waiting a deadline each. While open, one probe at a
time is allowed every ``probe_seconds`` (``half_open`` while it runs); a probe that succeeds closes it.
It logs once when it opens (a WARNING with one short line and the detail for technicians) and once when
it closes. One breaker may be shared by every lookup service of a process.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from dossier.errors import CentralUnavailable

log = logging.getLogger(__name__)

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"


class CircuitBreaker:
    """Consecutive-failure breaker with timed single probes; thread-safe."""

    def __init__(
        self,
        *,
        failures: int = 3,
        probe_seconds: float = 15.0,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        if failures < 1 or probe_seconds <= 0:
            raise ValueError("a breaker needs failures >= 1 and probe_seconds > 0")
        self.threshold = failures
        self.probe_seconds = probe_seconds
        self._clock = clock
        self._wall = wall_clock
        self._lock = threading.Lock()
        self._state = CLOSED
        self._failures = 0
        self._since = wall_clock()
        self._last_error = ""
        self._next_probe = 0.0

    @classmethod
    def from_config(cls, section: Any) -> CircuitBreaker:
        """Build from a lookup settings section (``breaker_failures``, ``breaker_probe_seconds``)."""
        return cls(
            failures=getattr(section, "breaker_failures", 3),
            probe_seconds=getattr(section, "breaker_probe_seconds", 15.0),
        )

    @property
    def state(self) -> str:
        """``closed``, ``open`` or ``half_open``."""
        return self._state

    def allows(self) -> bool:
        """Whether a call may go to central now (only while closed; probes ask ``begin_probe``)."""
        return self._state == CLOSED

    def begin_probe(self) -> bool:
        """Claim the one probe allowed while open, when it is due; ``True``: the caller probes now."""
        with self._lock:
            if self._state != OPEN or self._clock() < self._next_probe:
                return False
            self._state = HALF_OPEN
            return True

    def seconds_to_probe(self) -> float:
        """Seconds until the next probe is due (0 when due or closed)."""
        with self._lock:
            return max(0.0, self._next_probe - self._clock()) if self._state == OPEN else 0.0

    def success(self) -> None:
        """Central answered (a dossier, or an authoritative "no such dossier")."""
        with self._lock:
            was = self._state
            self._failures = 0
            self._last_error = ""
            if was == CLOSED:
                return
            self._state = CLOSED
            outage = self._wall() - self._since
            self._since = self._wall()
        log.info("central answers again: lookups use it again (breaker closed after %.0f s)", outage)

    def failure(self, err: BaseException) -> None:
        """Central did not answer in time or sensibly."""
        reason = str(err)
        detail = getattr(err, "detail", "") if isinstance(err, CentralUnavailable) else ""
        with self._lock:
            self._failures += 1
            self._last_error = reason[:200]
            if self._state == HALF_OPEN:
                self._state = OPEN
                self._next_probe = self._clock() + self.probe_seconds
                return
            if self._state == OPEN or self._failures < self.threshold:
                return
            self._state = OPEN
            self._since = self._wall()
            self._next_probe = self._clock() + self.probe_seconds
            count = self._failures
        log.warning(
            "central unavailable (%s): lookups answer from the cache for now, probing every %.0f s",
            reason,
            self.probe_seconds,
        )
        log.info("central failure detail after %d attempts: %s", count, detail or reason)

    def snapshot(self) -> dict[str, Any]:
        """``{"state", "failures", "since" (epoch), "last_error"}`` for status screens and metrics."""
        with self._lock:
            return {
                "state": self._state,
                "failures": self._failures,
                "since": self._since,
                "last_error": self._last_error,
            }
