"""Local Prometheus metrics: a custom collector that reads every source on each scrape.

Served on 127.0.0.1 only (devices sit behind NAT; central is the province's scrape target, fed by
heartbeats). Names start with ``motcua_``; the heartbeat's compact names are derived from the same
snapshot (``health.summary.heartbeat_metrics``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any, Protocol

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from dossier.errors import NeedsTechnician
from dossier.usage import BUCKET_LABELS
from health.summary import BREAKER_STATES, Snapshot, heartbeat_metrics

log = logging.getLogger(__name__)

BIND = "127.0.0.1"


class AgentFigures(Protocol):
    """The running agent's own counters (absent in ``health show``)."""

    forwarded: int
    inconsistencies_forwarded: int

    @property
    def state(self) -> str:
        """``ok``, ``failing`` or ``rejected``."""
        ...


def _gauge(name: str, doc: str, value: float | None) -> Iterator[Metric]:
    if value is not None:
        yield GaugeMetricFamily(name, doc, value=value)


def _labelled(name: str, doc: str, labels: list[str], rows: list[tuple[list[str], float]]) -> Metric:
    family = GaugeMetricFamily(name, doc, labels=labels)
    for values, value in rows:
        family.add_metric(values, value)
    return family


def snapshot_metrics(snap: Snapshot, agent: AgentFigures | None = None) -> Iterator[Metric]:
    """Every metric family of one snapshot."""
    ident = snap.identity
    info = GaugeMetricFamily("motcua_info", "This device.", labels=["version", "role", "site", "device"])
    info.add_metric([ident.version, ident.role, ident.site, ident.device], 1)
    yield info
    yield _labelled(
        "motcua_health_source_up",
        "1 when the health agent could read this source on the last scrape.",
        ["source"],
        [([name], float(ok)) for name, ok in sorted(snap.source_up.items())],
    )
    yield from _usage_metrics(snap)
    yield from _core_metrics(snap)
    yield from _breaker_metrics(snap)
    yield from _sms_metrics(snap)
    yield from _system_metrics(snap)
    if snap.kiosk is not None:
        yield from _gauge(
            "motcua_kiosk_ratings_pending", "Ratings waiting for upload.", snap.kiosk.ratings_pending
        )
    if snap.doctor is not None:
        yield from _gauge(
            "motcua_doctor_failures", "Failed checks in the latest doctor run.", snap.doctor.failures
        )
        counts = {s: 0 for s in ("pass", "warn", "fail")}
        for check in snap.doctor.checks:
            counts[check.status] += 1
        yield _labelled(
            "motcua_doctor_checks",
            "Checks of the latest doctor run by status.",
            ["status"],
            [([s], float(n)) for s, n in counts.items()],
        )
    yield from _gauge("motcua_heartbeat_queue_depth", "Heartbeats waiting for central.", snap.queue_depth)
    if snap.queue_dropped is not None:
        yield CounterMetricFamily(
            "motcua_heartbeats_dropped", "Heartbeats dropped: the queue was full.", value=snap.queue_dropped
        )
    if agent is not None:
        yield CounterMetricFamily(
            "motcua_heartbeats_forwarded", "Heartbeats central accepted (this run).", value=agent.forwarded
        )
        yield CounterMetricFamily(
            "motcua_inconsistencies_forwarded",
            "Inconsistencies central accepted (this run).",
            value=agent.inconsistencies_forwarded,
        )
        yield _labelled(
            "motcua_central_link",
            "How forwarding to central goes: ok, failing (unreachable) or rejected (key refused).",
            ["state"],
            [([s], float(agent.state == s)) for s in ("ok", "failing", "rejected")],
        )


def _usage_metrics(snap: Snapshot) -> Iterator[Metric]:
    if snap.usage is None:
        return
    labels = ["channel", "source", "result"]
    counts = CounterMetricFamily("motcua_lookups", "Lookups by channel, source and result.", labels=labels)
    latency = HistogramMetricFamily(
        "motcua_lookup_duration_seconds", "Lookup time by channel, source and result.", labels=labels
    )
    for c in snap.usage.lookups:
        values = [c.channel, c.source, c.result]
        counts.add_metric(values, c.count)
        cumulative, buckets = 0, []
        for label, n in zip(BUCKET_LABELS, c.buckets, strict=True):
            cumulative += n
            buckets.append((label, float(cumulative)))
        latency.add_metric(values, buckets, c.seconds_sum)
    yield counts
    yield latency
    total = snap.usage.total()
    if total:
        yield from _gauge(
            "motcua_lookup_cache_hit_ratio",
            "Share of lookups answered from the cache (fresh or stale).",
            snap.usage.total(sources=("cache", "stale")) / total,
        )
    events = CounterMetricFamily("motcua_events", "Counted events (kiosk_scan, ...).", labels=["name"])
    for name, n in sorted(snap.usage.events.items()):
        events.add_metric([name], n)
    yield events
    if snap.identity.has_kiosk:
        yield CounterMetricFamily(
            "motcua_kiosk_scans",
            "Receipts scanned at the kiosk.",
            value=snap.usage.events.get("kiosk_scan", 0),
        )


def _core_metrics(snap: Snapshot) -> Iterator[Metric]:
    c = snap.core
    if c is None:
        return
    yield from _gauge("motcua_cache_dossiers", "Dossiers in the local cache.", c.dossiers)
    if c.sync_last_success is not None:
        yield from _gauge(
            "motcua_sync_last_success_timestamp_seconds", "When the last sync succeeded.", c.sync_last_success
        )
    hb = heartbeat_metrics(snap)
    yield from _gauge(
        "motcua_sync_age_seconds", "Seconds since the last successful sync.", hb.get("sync_age_seconds")
    )
    if c.sync_errors_total is not None:
        yield CounterMetricFamily("motcua_sync_errors", "Failed sync attempts.", value=c.sync_errors_total)
    yield from _gauge(
        "motcua_sync_consecutive_failures",
        "Sync failures since the last success.",
        c.sync_consecutive_failures,
    )
    yield from _gauge(
        "motcua_inconsistencies_pending",
        "Inconsistencies not yet accepted by central.",
        c.inconsistencies_pending,
    )


def _breaker_metrics(snap: Snapshot) -> Iterator[Metric]:
    if not snap.breakers:
        return
    yield _labelled(
        "motcua_breaker_state",
        "Each lookup process's circuit breaker over central (1 for its current state).",
        ["channel", "state"],
        [([ch, s], float(b.state == s)) for ch, b in sorted(snap.breakers.items()) for s in BREAKER_STATES],
    )
    yield _labelled(
        "motcua_breaker_failures",
        "Consecutive central failures seen by each lookup process.",
        ["channel"],
        [([ch], float(b.failures)) for ch, b in sorted(snap.breakers.items())],
    )
    yield from _gauge(
        "motcua_breaker_open",
        "1 while some lookups do not wait on central.",
        heartbeat_metrics(snap).get("breaker_open"),
    )


def _sms_metrics(snap: Snapshot) -> Iterator[Metric]:
    s = snap.sms
    if s is None:
        return
    yield from _gauge("motcua_sms_inbox_pending", "Received SMS not yet answered.", s.inbox_pending)
    yield _labelled(
        "motcua_sms_outbox",
        "Outgoing SMS by state.",
        ["state"],
        [([k], float(v)) for k, v in sorted(s.outbox.items())],
    )
    yield CounterMetricFamily(
        "motcua_sms_sent", "SMS accepted by the network (kept rows).", value=s.sent_total
    )
    yield CounterMetricFamily(
        "motcua_sms_failed", "SMS given up (kept rows).", value=s.outbox.get("failed", 0)
    )
    yield CounterMetricFamily(
        "motcua_sms_delivered", "SMS with a delivery report (kept rows).", value=s.outbox.get("delivered", 0)
    )
    yield from _gauge(
        "motcua_sms_gateway_running", "1 while the gateway's status is fresh.", float(s.gateway_running)
    )
    if s.gateway_running and s.modems:
        ports = [m.port for m in s.modems]
        yield _labelled(
            "motcua_modem_connected",
            "1 while the modem answers.",
            ["port"],
            [([p], float(m.connected)) for p, m in zip(ports, s.modems, strict=True)],
        )
        yield _labelled(
            "motcua_modem_registered",
            "1 while the modem is registered on a network (home or roaming).",
            ["port"],
            [([m.port], float(m.registered)) for m in s.modems],
        )
        yield _labelled(
            "motcua_modem_signal_percent",
            "Signal strength, 0-100.",
            ["port"],
            [([m.port], float(m.signal_percent)) for m in s.modems if m.signal_percent is not None],
        )


def _system_metrics(snap: Snapshot) -> Iterator[Metric]:
    sysm = snap.system
    yield from _gauge("motcua_cpu_temperature_celsius", "Hottest thermal zone.", sysm.cpu_temperature_celsius)
    if sysm.throttled_flags is not None:
        yield from _gauge(
            "motcua_cpu_throttled",
            "1 while the Pi is throttled or under-volted.",
            float(bool(sysm.throttled_now)),
        )
        yield from _gauge("motcua_cpu_throttled_flags", "vcgencmd get_throttled bits.", sysm.throttled_flags)
    yield from _gauge("motcua_disk_free_bytes", "Free bytes on the data disk.", sysm.disk_free_bytes)
    yield from _gauge("motcua_disk_total_bytes", "Size of the data disk.", sysm.disk_total_bytes)
    yield from _gauge("motcua_disk_free_ratio", "Free share of the data disk.", sysm.disk_free_ratio)
    yield from _gauge("motcua_uptime_seconds", "Seconds since the machine booted.", sysm.uptime_seconds)


class SnapshotCollector(Collector):
    """Reads a fresh snapshot on every scrape."""

    def __init__(self, read: Callable[[], Snapshot], agent: AgentFigures | None = None) -> None:
        self.read = read
        self.agent = agent

    def collect(self) -> Iterator[Metric]:
        """Every metric family, read now."""
        yield from snapshot_metrics(self.read(), self.agent)

    def describe(self) -> list[Any]:
        """Nothing up front: the registry must not scrape at registration."""
        return []


class MetricsServer:
    """The HTTP endpoint on 127.0.0.1:``port`` (``port`` 0: any free port, for tests)."""

    def __init__(self, collector: Collector, port: int) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(collector)
        try:
            self._server, self._thread = start_http_server(port, addr=BIND, registry=self.registry)
        except OSError as err:
            raise NeedsTechnician(
                f"cannot serve metrics on {BIND}:{port}: {err.strerror or err}",
                hint="another program uses the port: change health.port",
            ) from None
        self.port = int(self._server.server_port)
        log.info("metrics on http://%s:%d/metrics", BIND, self.port)

    def close(self) -> None:
        """Stop serving."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5.0)
