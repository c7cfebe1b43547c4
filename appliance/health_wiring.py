"""Building the health agent and the backups from the configuration.

The health part imports no other part; here the SMS gateway's store and the kiosk's store are adapted
to its Protocols (``health.sources``), and the files that cannot be fetched again are listed for the
backups. Parts are imported inside the functions that need them: a kiosk has no modem library.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from appliance.config import Config
from dossier.errors import StorageError
from dossier.sqlstore import SqliteStore
from dossier.usage import UsageRecorder, UsageSnapshot, check_name, open_usage, read_usage
from health.settings import HealthSection

if TYPE_CHECKING:  # the rest of health is imported where used: a lookup process needs only the usage file
    from dossier.lookup import LookupResult
    from health.backup import BackupItem, Backups
    from health.sources import KioskStats, ModemStats, SmsStats

log = logging.getLogger(__name__)

SERVICES = ("motcua-sms", "motcua-kiosk", "motcua-sync", "motcua-health")


def settings(config: Config) -> HealthSection:
    """The ``[health]`` section (defaults while the config has none)."""
    section = getattr(config, "health", None)
    return section if isinstance(section, HealthSection) else HealthSection()


def usage_path(config: Config) -> Path:
    """Usage counters shared by the device's processes."""
    return config.data_dir / "usage.db"


def health_db_path(config: Config) -> Path:
    """The heartbeat queue."""
    return config.data_dir / "health.db"


def doctor_path(config: Config) -> Path:
    """The latest ``motcua doctor --record`` result."""
    return config.data_dir / "doctor.json"


def sms_db_path(config: Config) -> Path:
    """The SMS gateway's store."""
    return Path(config.sms.db_path) if config.sms.db_path else config.data_dir / "sms.db"


def kiosk_db_path(config: Config) -> Path:
    """The kiosk's store (pending ratings), as ``appliance.kiosk_wiring`` places it."""
    return config.data_dir / "kiosk.db"


def backup_root(config: Config) -> Path:
    """Where the daily backups go."""
    section = settings(config)
    return Path(section.backup_dir) if section.backup_dir else config.data_dir / "backups"


def usage_recorder(config: Config, *, background: bool = True) -> UsageRecorder:
    """A usage recorder over this device's usage.db (the caller closes it)."""
    return UsageRecorder(
        usage_path(config), flush_seconds=settings(config).usage_flush_seconds, background=background
    )


_RECORDERS: dict[Path, UsageRecorder] = {}
_RECORDERS_LOCK = threading.Lock()


def _process_recorder(config: Config) -> UsageRecorder:
    """This process's one recorder of the usage file, flushed by its thread and at exit."""
    path = usage_path(config).resolve()
    with _RECORDERS_LOCK:
        recorder = _RECORDERS.get(path)
        if recorder is None:
            recorder = _RECORDERS[path] = usage_recorder(config)
            recorder.open()  # migrations now, not in the exit handler
            atexit.register(recorder.close)
    return recorder


def flush_usage() -> None:
    """Write this process's usage counters and states now (they are also written every few seconds)."""
    with _RECORDERS_LOCK:
        recorders = list(_RECORDERS.values())
    for recorder in recorders:
        recorder.flush()


def usage_observer(config: Config, channel: str) -> Callable[[LookupResult, float], None]:
    """The ``LookupService`` observer counting lookups made on ``channel`` (``sms``, ``kiosk``, ``cli``)."""
    return _process_recorder(config).observer(channel)


def track_lookup(config: Config, channel: str, breaker_state: Callable[[], dict[str, Any]]) -> None:
    """Publish this process's lookup breaker (``LookupService.breaker_state``) for the health agent."""
    _process_recorder(config).track(f"breaker.{channel}", breaker_state)


def usage_event(config: Config, name: str) -> Callable[[int], None]:
    """A counter of ``name`` events (the kiosk calls ``usage_event(config, "kiosk_scan")`` per scan)."""
    check_name("event", name)
    recorder = _process_recorder(config)

    def count(n: int = 1) -> None:
        """Count ``n`` events."""
        recorder.record_event(name, n)

    return count


# --- sources adapted from the parts -------------------------------------------------------------------


class UsageFile:
    """``UsageSource`` over usage.db (opened when first read)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._store: SqliteStore | None = None

    def usage(self) -> UsageSnapshot:
        """Every process's totals."""
        if self._store is None:
            self._store = open_usage(self.path)
        return read_usage(self._store)

    def close(self) -> None:
        """Close the file."""
        if self._store is not None:
            self._store.close()


def _modem(raw: Any) -> ModemStats | None:
    from health.sources import ModemStats

    if not isinstance(raw, dict):
        return None
    signal = raw.get("signal_percent")
    return ModemStats(
        port=str(raw.get("port", "")),
        connected=bool(raw.get("connected")),
        signal_percent=int(signal) if isinstance(signal, (int, float)) else None,
        registration=str(raw.get("registration", "unknown")),
    )


def sms_stats_from_health(health: dict[str, Any]) -> SmsStats:
    """``SmsStats`` from ``sms_gateway.health.gateway_health``'s answer."""
    from health.sources import SmsStats

    store = health.get("store", {})
    messages = store.get("messages") or {}
    outbox = {str(k): int(v) for k, v in (store.get("outbox") or {}).items()}
    modems = [m for m in (_modem(x) for x in health.get("modems") or []) if m is not None]
    return SmsStats(
        inbox_pending=int(messages.get("new", 0)) + int(store.get("parts_waiting") or 0),
        outbox=outbox,
        gateway_running=bool(health.get("running")),
        modems=tuple(modems),
    )


class SmsStoreSource:
    """``SmsSource`` over the gateway's store (``sms_gateway.health.gateway_health``)."""

    def __init__(self, path: Path, clock: Callable[[], float] = time.time) -> None:
        self.path = path
        self.clock = clock
        self._store: Any = None

    def sms_stats(self) -> SmsStats:
        """Queue depths, counters and the running gateway's modems."""
        from health.sources import SmsStats

        if not self.path.exists():  # the gateway never ran here: nothing queued, no modem answers
            return SmsStats(inbox_pending=0, outbox={}, gateway_running=False)
        from sms_gateway.health import gateway_health
        from sms_gateway.store import SmsStore

        if self._store is None:
            self._store = SmsStore(self.path)
        return sms_stats_from_health(gateway_health(self._store, now=self.clock()))

    def close(self) -> None:
        """Close the store."""
        if self._store is not None:
            self._store.close()


class KioskStoreSource:
    """``KioskSource`` over the kiosk's store (``kiosk.ratings.RatingBook``), opened read-only."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def kiosk_stats(self) -> KioskStats | None:
        """Ratings waiting for upload; ``None`` while the kiosk has not created its store."""
        if not self.path.exists():
            return None
        from health.sources import KioskStats
        from kiosk.ratings import COMPONENT, RatingBook

        store = SqliteStore.open(self.path, component=COMPONENT, readonly=True)
        try:
            return KioskStats(ratings_pending=RatingBook(store).pending_count())
        finally:
            store.close()


# --- the agent ----------------------------------------------------------------------------------------


@dataclass
class HealthRuntime:
    """The agent, its sources and what to close."""

    agent: Any
    sources: Any
    cache: Any = None
    closers: list[Callable[[], None]] = field(default_factory=list)

    def close(self) -> None:
        """Close every file opened for the agent."""
        for close in reversed(self.closers):
            try:
                close()
            except Exception:  # closing must go on for the others
                log.debug("closing a health source failed", exc_info=True)


def identity(config: Config) -> Any:
    """Who this device is, for heartbeats."""
    from health.summary import Identity

    device = config.device
    return Identity(
        device=device.name,
        role=str(getattr(device, "role", "both")),
        site=str(getattr(device, "site", "") or ""),
    )


def build_sources(
    config: Config, *, queue: Any = None, clock: Callable[[], float] = time.time
) -> HealthRuntime:
    """Every source the agent reads, from the configuration."""
    from dossier.cache import Cache
    from health.core import CacheCore
    from health.doctor import DoctorRecord
    from health.summary import Sources
    from health.system import SystemProbe

    ident = identity(config)
    closers: list[Callable[[], None]] = []
    usage = UsageFile(usage_path(config))
    closers.append(usage.close)
    cache = Cache(config.cache_path)
    closers.append(cache.close)
    sms = SmsStoreSource(sms_db_path(config), clock) if ident.has_sms else None
    if sms is not None:
        closers.append(sms.close)
    kiosk = KioskStoreSource(kiosk_db_path(config)) if ident.has_kiosk else None
    sources = Sources(
        ident,
        SystemProbe(config.data_dir),
        usage=usage,
        core=CacheCore(cache),
        sms=sms,
        kiosk=kiosk,
        doctor=DoctorRecord(doctor_path(config)),
        queue=queue,
        clock=clock,
        state_max_age=max(30.0, 3 * settings(config).usage_flush_seconds),
    )
    return HealthRuntime(agent=None, sources=sources, cache=cache, closers=closers)


def build_agent(
    config: Config,
    *,
    central: Any = None,
    connect: bool = True,
    clock: Callable[[], float] = time.time,
    monotonic: Callable[[], float] = time.monotonic,
) -> HealthRuntime:
    """The agent with its queue (health.db) and central (the device's client unless given or not
    ``connect``)."""
    from health.agent import HealthAgent
    from health.queue import HeartbeatQueue

    section = settings(config)
    queue = HeartbeatQueue(health_db_path(config), max_items=section.queue_max)
    runtime = build_sources(config, queue=queue, clock=clock)
    runtime.closers.insert(0, queue.close)
    if central is None and connect:
        if config.central.api_key:
            from appliance.wiring import make_client

            central = make_client(config)
        else:
            log.warning("no central.api_key (device not enrolled): heartbeats stay queued")
    cache = runtime.cache
    runtime.agent = HealthAgent(
        runtime.sources,
        queue,
        central,
        inconsistencies=cache,
        interval=section.heartbeat_interval,
        batch_size=section.batch_size,
        max_backoff=section.max_backoff,
        rejected_retry=section.rejected_retry,
        clock=clock,
        monotonic=monotonic,
    )
    return runtime


# --- backups ------------------------------------------------------------------------------------------


def backup_items(config: Config, config_path: str | os.PathLike[str] | None) -> list[BackupItem]:
    """What cannot be fetched again: SMS store, kiosk store, usage, heartbeat queue, the config file."""
    from health.backup import BackupItem

    items = [
        BackupItem("sms.db", sms_db_path(config)),
        BackupItem("kiosk.db", kiosk_db_path(config)),
        BackupItem("usage.db", usage_path(config)),
        BackupItem("health.db", health_db_path(config)),
    ]
    if config_path:
        items.append(BackupItem("config.toml", Path(config_path), kind="file"))
    return items


def restore_targets(
    config: Config, config_path: str | os.PathLike[str] | None, *, with_config: bool
) -> dict[str, Path]:
    """Where each backed-up file goes back (the config only when asked and known)."""
    targets = {item.name: item.source for item in backup_items(config, None)}
    if with_config and config_path:
        targets["config.toml"] = Path(config_path)
    return targets


def make_backups(config: Config) -> Backups:
    """The backup folder of this device."""
    from health.backup import Backups

    return Backups(backup_root(config), keep=settings(config).backup_keep)


def restore(config: Config, name: str, targets: dict[str, Path]) -> list[str]:
    """Restore backup ``name``; the heartbeat sequence never goes back (central has those numbers)."""
    from health.queue import HeartbeatQueue

    floor = 0
    queue_path = targets.get("health.db")
    if queue_path is not None and queue_path.exists():
        try:
            queue = HeartbeatQueue(queue_path)
            floor = queue.last_seq()
            queue.close()
        except StorageError:
            log.warning("the heartbeat queue cannot be read before the restore; its sequence restarts")
    restored = make_backups(config).restore(name, targets)
    if "health.db" in restored and floor and queue_path is not None:
        queue = HeartbeatQueue(queue_path)
        try:
            queue.raise_seq(floor)
        finally:
            queue.close()
    return restored


def running_services(config: Config, *, now: float | None = None) -> list[str]:
    """Services that seem to be running (they must be stopped before a restore)."""
    import shutil
    import subprocess

    running = []
    if shutil.which("systemctl") and Path("/run/systemd/system").is_dir():
        for unit in SERVICES:
            result = subprocess.run(
                ["systemctl", "is-active", "--quiet", unit], check=False, timeout=10, capture_output=True
            )
            if result.returncode == 0:
                running.append(unit)
    sms_path = sms_db_path(config)
    if sms_path.exists() and "motcua-sms" not in running:
        source = SmsStoreSource(sms_path, (lambda: now) if now is not None else time.time)
        try:
            if source.sms_stats().gateway_running:
                running.append("the SMS gateway (its status is fresh)")
        except StorageError:
            pass
        finally:
            source.close()
    return running
