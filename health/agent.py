"""The health agent's loop: queue a heartbeat every interval, forward the queue and inconsistencies.

Everything is driven by :meth:`HealthAgent.tick`, which does what is due and returns how long to wait;
:meth:`HealthAgent.run` only waits on the stop event between ticks, so every wait is interruptible.
Schedules use a monotonic clock (a Pi without a real-time clock jumps when time syncs); ``sent_at``
uses the wall clock. Heartbeats and inconsistencies leave the device only after central's 2xx.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from dossier.errors import CentralRejected, MotcuaError
from health.doctor import clip
from health.queue import HeartbeatQueue
from health.sources import CentralSink, Inconsistencies
from health.summary import Snapshot, Sources, doctor_checks, heartbeat_metrics

log = logging.getLogger(__name__)

FIRST_BACKOFF = 5.0
MAX_BATCHES_PER_TICK = 50  # 5,000 heartbeats: a long outage drains over a few ticks, not in one burst
INCONSISTENCY_BATCH = 500
INCONSISTENCY_FIELDS = ("id", "code", "cached_version", "central_version", "at", "channel")
DROP_LOG_EVERY = 60


class HealthAgent:
    """Queues heartbeats on disk and forwards them (and inconsistencies) to central in order."""

    def __init__(
        self,
        sources: Sources,
        queue: HeartbeatQueue,
        central: CentralSink | None,
        *,
        inconsistencies: Inconsistencies | None = None,
        interval: float = 60.0,
        batch_size: int = 100,
        max_backoff: float = 300.0,
        rejected_retry: float = 3600.0,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self.sources = sources
        self.queue = queue
        self.central = central
        self.inconsistencies = inconsistencies
        self.interval = interval
        self.batch_size = batch_size
        self.max_backoff = max_backoff
        self.rejected_retry = rejected_retry
        self.clock = clock
        self.monotonic = monotonic
        self.jitter = jitter
        now = monotonic()
        self._next_beat = now
        self._next_send = now
        self._backoff = 0.0
        self._state = "ok"  # ok | failing | rejected
        self._dropping = False
        self._unlogged_drops = 0
        self._more = False
        self.forwarded = 0
        self.inconsistencies_forwarded = 0

    # --- one heartbeat -------------------------------------------------------------------------------

    def build(self, snap: Snapshot | None = None) -> dict[str, Any]:
        """A heartbeat body (without ``seq``) from a fresh reading of every source."""
        snap = snap or self.sources.snapshot()
        ident = snap.identity
        return {
            "sent_at": datetime.fromtimestamp(snap.at, UTC).isoformat(timespec="seconds"),
            "version": clip(ident.version, 64),
            "role": ident.role,
            "site": clip(ident.site, 200),
            "uptime_seconds": round(snap.system.uptime_seconds or 0.0, 1),
            "metrics": heartbeat_metrics(snap),
            "checks": doctor_checks(snap),
        }

    def beat(self) -> int:
        """Queue one heartbeat now; returns its ``seq``."""
        seq, dropped = self.queue.push(self.build())
        if not dropped:
            self._dropping = False
            return seq
        self._unlogged_drops += dropped
        if not self._dropping or self._unlogged_drops >= DROP_LOG_EVERY:
            log.warning(
                "heartbeat queue full (%d): dropped the oldest, %d dropped in all",
                self.queue.max_items,
                self.queue.dropped(),
            )
            self._unlogged_drops = 0
        self._dropping = True
        return seq

    # --- forwarding ----------------------------------------------------------------------------------

    def forward(self) -> bool:
        """Send queued heartbeats oldest first, then unreported inconsistencies; ``False`` on failure."""
        if self.central is None:
            self._next_send = self.monotonic() + self.interval
            return False
        try:
            self._more = True
            for _ in range(MAX_BATCHES_PER_TICK):
                batch = self.queue.peek(self.batch_size)
                if not batch:
                    self._more = False
                    break
                self.central.send_heartbeats(batch)
                self.queue.ack(batch[-1]["seq"])
                self.forwarded += len(batch)
            if self.inconsistencies is not None:
                self._forward_inconsistencies(self.inconsistencies)
        except CentralRejected as err:
            self._failed("rejected", err, self.rejected_retry)
            return False
        except MotcuaError as err:
            self._backoff = min(max(self._backoff * 2, FIRST_BACKOFF), self.max_backoff)
            self._failed("failing", err, self._backoff * (0.5 + self.jitter() / 2))
            return False
        if self._state != "ok":
            log.info("central accepts heartbeats again; %d waiting", self.queue.depth())
        self._state, self._backoff = "ok", 0.0
        return True

    def _forward_inconsistencies(self, source: Inconsistencies) -> None:
        while True:
            items = source.unreported_inconsistencies(limit=INCONSISTENCY_BATCH)
            if not items or self.central is None:
                return
            self.central.report_inconsistencies(
                [{k: i[k] for k in INCONSISTENCY_FIELDS if k in i} for i in items]
            )
            source.mark_inconsistencies_reported([int(i["id"]) for i in items])
            self.inconsistencies_forwarded += len(items)
            log.info("reported %d inconsistencies to central", len(items))
            if len(items) < INCONSISTENCY_BATCH:
                return

    def _failed(self, state: str, err: MotcuaError, wait: float) -> None:
        if state != self._state:
            if state == "rejected":
                log.error("central refused this device's key; heartbeats stay queued: %s", err)
            else:
                log.warning("cannot reach central; heartbeats stay queued: %s", err)
        self._state = state
        self._next_send = self.monotonic() + wait

    # --- scheduling ----------------------------------------------------------------------------------

    def tick(self) -> float:
        """Do what is due (queue a heartbeat, forward); returns seconds until something is due again."""
        now = self.monotonic()
        if now >= self._next_beat:
            try:
                self.beat()
            except MotcuaError as err:
                log.warning("cannot queue a heartbeat: %s", err)
            self._next_beat = max(self._next_beat + self.interval, now)
        if now >= self._next_send and self.forward():
            # a long backlog goes on at once; otherwise the queue grows only when a heartbeat is due
            self._next_send = now if self._more else self._next_beat
        after = self.monotonic()
        return max(min(self._next_beat, self._next_send) - after, 0.0)

    def run(self, stop: threading.Event) -> None:
        """Tick until ``stop`` is set."""
        log.info("health agent started: a heartbeat every %.0f s", self.interval)
        while not stop.is_set():
            delay = self.tick()
            stop.wait(max(delay, 0.05))
        log.info("health agent stopped; %d heartbeats waiting", self.queue.depth())

    @property
    def state(self) -> str:
        """``ok``, ``failing`` (central unreachable) or ``rejected`` (the key was refused)."""
        return self._state

    @property
    def next_send_in(self) -> float:
        """Seconds until the next attempt to forward."""
        return max(self._next_send - self.monotonic(), 0.0)
