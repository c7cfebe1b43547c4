"""One reading of every health source, and the compact heartbeat summary computed from it.

The Prometheus exporter (``health.exporter``) and the heartbeat both start from the same
:class:`Snapshot`, so the local metrics and central's copy agree. A source that fails to read is
absent from the snapshot (and ``source_up`` says so); it never stops the others.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any, Protocol

from dossier.errors import MotcuaError
from dossier.usage import UsageSnapshot
from health.doctor import DoctorRecord
from health.sources import (
    BreakerStats,
    CoreSource,
    CoreStats,
    DoctorResult,
    KioskSource,
    KioskStats,
    SmsSource,
    SmsStats,
    UsageSource,
)
from health.system import SystemProbe, SystemStats

log = logging.getLogger(__name__)


def package_version() -> str:
    """The installed motcua-edge version."""
    try:
        return metadata.version("motcua-edge")
    except metadata.PackageNotFoundError:
        return "0+unknown"


@dataclass(frozen=True)
class Identity:
    """Who sends the heartbeat."""

    device: str
    role: str  # kiosk | sms | both
    site: str
    version: str = field(default_factory=package_version)

    @property
    def has_sms(self) -> bool:
        """The device runs an SMS gateway."""
        return self.role in ("sms", "both")

    @property
    def has_kiosk(self) -> bool:
        """The device runs a kiosk."""
        return self.role in ("kiosk", "both")


class QueueFigures(Protocol):
    """The heartbeat queue's depth and drop count."""

    def depth(self) -> int:
        """Heartbeats waiting."""
        ...

    def dropped(self) -> int:
        """Heartbeats dropped because the queue was full."""
        ...


@dataclass(frozen=True)
class Snapshot:
    """Every figure read at ``at`` (epoch seconds); ``None`` where a source is absent or failed."""

    at: float
    identity: Identity
    system: SystemStats
    usage: UsageSnapshot | None = None
    core: CoreStats | None = None
    sms: SmsStats | None = None
    kiosk: KioskStats | None = None
    doctor: DoctorResult | None = None
    queue_depth: int | None = None
    queue_dropped: int | None = None
    source_up: dict[str, bool] = field(default_factory=dict)
    breakers: dict[str, BreakerStats] = field(default_factory=dict)  # by lookup channel

    @property
    def breaker(self) -> BreakerStats | None:
        """The worst breaker of the running lookup processes (``None``: none published one)."""
        order = {"open": 0, "half_open": 1, "closed": 2}
        return min(self.breakers.values(), key=lambda b: order.get(b.state, 3), default=None)


BREAKER_STATES = ("closed", "open", "half_open")


def breakers_from_usage(usage: UsageSnapshot | None, now: float, max_age: float) -> dict[str, BreakerStats]:
    """Breakers the lookup processes published (``breaker.<channel>``) within ``max_age`` seconds."""
    out: dict[str, BreakerStats] = {}
    for name, (value, at) in (usage.states if usage else {}).items():
        if not name.startswith("breaker.") or now - at > max_age or value.get("state") not in BREAKER_STATES:
            continue
        failures = value.get("failures")
        since = value.get("since")
        out[name.removeprefix("breaker.")] = BreakerStats(
            str(value["state"]),
            int(failures) if isinstance(failures, int) else 0,
            float(since) if isinstance(since, (int, float)) else None,
        )
    return out


class Sources:
    """Every source the agent reads; each is optional (a kiosk has no SMS gateway)."""

    def __init__(
        self,
        identity: Identity,
        system: SystemProbe,
        *,
        usage: UsageSource | None = None,
        core: CoreSource | None = None,
        sms: SmsSource | None = None,
        kiosk: KioskSource | None = None,
        doctor: DoctorRecord | None = None,
        queue: QueueFigures | None = None,
        clock: Callable[[], float],
        state_max_age: float = 30.0,
    ) -> None:
        self.identity = identity
        self.system = system
        self.usage = usage
        self.core = core
        self.sms = sms
        self.kiosk = kiosk
        self.doctor = doctor
        self.queue = queue
        self.clock = clock
        self.state_max_age = state_max_age
        self._down: set[str] = set()
        self._lock = threading.Lock()  # the agent's loop and a metrics scrape may read at once

    def _read(self, name: str, up: dict[str, bool], fn: Callable[[], Any]) -> Any:
        try:
            value = fn()
        except Exception as err:  # one unreadable source (even a surprising one) never stops the agent
            up[name] = False
            if name not in self._down:
                self._down.add(name)
                detail = str(err) if isinstance(err, (MotcuaError, OSError)) else type(err).__name__
                log.warning("health source %s cannot be read: %s", name, detail)
            return None
        up[name] = True
        if name in self._down:
            self._down.discard(name)
            log.info("health source %s can be read again", name)
        return value

    def snapshot(self) -> Snapshot:
        """Read every source now."""
        with self._lock:
            return self._snapshot()

    def _snapshot(self) -> Snapshot:
        up: dict[str, bool] = {}
        usage = self._read("usage", up, self.usage.usage) if self.usage else None
        core = self._read("core", up, self.core.core_stats) if self.core else None
        sms = self._read("sms", up, self.sms.sms_stats) if self.sms else None
        kiosk = self._read("kiosk", up, self.kiosk.kiosk_stats) if self.kiosk else None
        doctor = self.doctor.read() if self.doctor else None
        depth = self._read("queue", up, self.queue.depth) if self.queue else None
        dropped = self.queue.dropped() if self.queue and depth is not None else None
        now = self.clock()
        return Snapshot(
            at=now,
            identity=self.identity,
            system=self.system.read(),
            usage=usage,
            core=core,
            sms=sms,
            kiosk=kiosk,
            doctor=doctor,
            queue_depth=depth,
            queue_dropped=dropped,
            source_up=up,
            breakers=breakers_from_usage(usage, now, self.state_max_age),
        )


def heartbeat_metrics(snap: Snapshot) -> dict[str, float]:
    """The compact summary sent in each heartbeat (names of the PLAN.md contract; absent = unknown)."""
    m: dict[str, float | int | None] = {}
    if snap.usage is not None:
        total = snap.usage.total()
        m["lookups_total"] = total
        m["lookups_failed_total"] = snap.usage.total(result="unavailable")
        if total:
            m["lookup_cache_hit_ratio"] = snap.usage.total(sources=("cache", "stale")) / total
        if snap.identity.has_kiosk:
            m["kiosk_scans_total"] = snap.usage.events.get("kiosk_scan", 0)
    if snap.core is not None:
        c = snap.core
        m["cache_dossiers"] = c.dossiers
        if c.sync_last_success is not None:
            m["sync_age_seconds"] = max(snap.at - c.sync_last_success, 0.0)
        m["sync_errors_total"] = c.sync_errors_total
        m["sync_consecutive_failures"] = c.sync_consecutive_failures
        m["inconsistencies_pending"] = c.inconsistencies_pending
    if snap.breaker is not None:
        m["breaker_open"] = int(snap.breaker.state != "closed")
    if snap.sms is not None:
        s = snap.sms
        m["sms_inbox_pending"] = s.inbox_pending
        m["sms_outbox_queued"] = int(s.outbox.get("queued", 0)) + int(s.outbox.get("sending", 0))
        m["sms_sent_total"] = s.sent_total
        m["sms_failed_total"] = s.outbox.get("failed", 0)
        m["sms_delivered_total"] = s.outbox.get("delivered", 0)
        signals = [x.signal_percent for x in s.modems if x.connected and x.signal_percent is not None]
        if signals:
            m["modem_signal_percent"] = min(signals)  # the worst modem is the one to fix
        m["modem_registered"] = int(
            s.gateway_running and bool(s.modems) and all(x.connected and x.registered for x in s.modems)
        )
    if snap.kiosk is not None:
        m["kiosk_ratings_pending"] = snap.kiosk.ratings_pending
    sysm = snap.system
    m["cpu_temperature_celsius"] = sysm.cpu_temperature_celsius
    if sysm.throttled_now is not None:
        m["cpu_throttled"] = int(sysm.throttled_now)
    m["disk_free_bytes"] = sysm.disk_free_bytes
    m["disk_free_ratio"] = sysm.disk_free_ratio
    m["uptime_seconds"] = sysm.uptime_seconds
    if snap.doctor is not None:
        m["doctor_failures"] = snap.doctor.failures
    m["heartbeat_queue_depth"] = snap.queue_depth
    return {
        k: (round(float(v), 4) if isinstance(v, float) else v)
        for k, v in m.items()
        if v is not None and math.isfinite(v)
    }


def doctor_checks(snap: Snapshot) -> list[dict[str, str]]:
    """The latest doctor checks for the heartbeat (already clipped to the contract's limits)."""
    if snap.doctor is None:
        return []
    return [{"name": c.name, "status": c.status, "detail": c.detail} for c in snap.doctor.checks]
