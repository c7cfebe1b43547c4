"""``/metrics`` for Prometheus: the fleet's latest heartbeats as gauge families, behind a scrape token.

A custom collector reads each device's latest state from the fleet database at scrape time (no global
mutable gauges): one family ``motcua_device_<name>`` per heartbeat metric, labelled device, site and
role, plus the last heartbeat time (central's clock), up, info, clock skew, failing doctor checks and
the inconsistencies each device reported. Revoked devices are not exported.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable, Iterator

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.samples import Sample
from prometheus_client.utils import floatToGoString

from central.errors import NotFound, Unauthorized
from central.fleet_context import FleetContext, request_key
from central.fleet_store import FleetStore

log = logging.getLogger(__name__)

PREFIX = "motcua_device_"
LABELS = ("device", "site", "role")
MAX_FAMILIES = 500  # distinct heartbeat metric names exported; more means a misbehaving agent

# Families computed by central: a device metric with one of these names is not exported as a gauge.
RESERVED = frozenset({
    "up", "info", "last_heartbeat_timestamp_seconds", "clock_skew_seconds", "check_failing",
    "inconsistencies_reported", "inconsistencies_reported_total", "heartbeats_received",
    "heartbeats_received_total",
})  # fmt: skip

HELP = {
    "lookups_total": "Lookups answered by the device since its counters started.",
    "lookups_failed_total": "Lookups the device could not answer.",
    "lookup_cache_hit_ratio": "Share of lookups answered from the device's cache.",
    "cache_dossiers": "Dossiers in the device's cache.",
    "sync_age_seconds": "Seconds since the device's last successful sync with central.",
    "sync_errors_total": "Failed syncs.",
    "sync_consecutive_failures": "Syncs failed in a row.",
    "breaker_open": "1 when the device's lookup breaker towards central is open.",
    "sms_inbox_pending": "Received SMS not yet answered.",
    "sms_outbox_queued": "SMS waiting to be sent.",
    "sms_sent_total": "SMS sent.",
    "sms_failed_total": "SMS that failed for good.",
    "sms_delivered_total": "SMS with a delivery report.",
    "modem_signal_percent": "Signal of the weakest connected modem, percent.",
    "modem_registered": "1 when every modem is registered on the network.",
    "kiosk_scans_total": "Receipts scanned at the kiosk.",
    "kiosk_ratings_pending": "Satisfaction ratings waiting for upload.",
    "cpu_temperature_celsius": "CPU temperature.",
    "cpu_throttled": "1 when the CPU is throttled now.",
    "disk_free_bytes": "Free bytes on the data disk.",
    "disk_free_ratio": "Free share of the data disk.",
    "uptime_seconds": "Seconds since the device booted.",
    "inconsistencies_pending": "Inconsistencies recorded but not yet reported.",
    "doctor_failures": "Failing checks of the latest doctor run.",
    "heartbeat_queue_depth": "Heartbeats queued on the device, not yet accepted by central.",
}


class FleetCollector(Collector):
    """Reads the latest heartbeat of every device at each scrape."""

    def __init__(self, fleet: FleetStore, now: Callable[[], float], offline_after: float) -> None:
        self.fleet = fleet
        self.now = now
        self.offline_after = offline_after

    def collect(self) -> Iterator[Metric]:
        """The fleet's families (read at scrape time)."""
        now = self.now()
        gauges: dict[str, GaugeMetricFamily] = {}
        last = GaugeMetricFamily(
            PREFIX + "last_heartbeat_timestamp_seconds",
            "When central received the device's latest heartbeat (central's clock, epoch seconds).",
            labels=LABELS,
        )
        up = GaugeMetricFamily(
            PREFIX + "up", "1 when the device's latest heartbeat is recent enough to call it online.",
            labels=LABELS,
        )  # fmt: skip
        info = GaugeMetricFamily(
            PREFIX + "info", "The device's software version (value 1).", labels=(*LABELS, "version")
        )
        skew = GaugeMetricFamily(
            PREFIX + "clock_skew_seconds",
            "Device clock minus central's clock at the latest heartbeat (sent_at − received).",
            labels=LABELS,
        )
        failing = GaugeMetricFamily(
            PREFIX + "check_failing",
            "1 when the check failed in the device's latest doctor run, 0 when it passed or warned.",
            labels=(*LABELS, "check"),
        )
        received = CounterMetricFamily(
            PREFIX + "heartbeats_received", "Heartbeats central stored for the device.", labels=LABELS
        )
        reported = CounterMetricFamily(
            PREFIX + "inconsistencies_reported",
            "Inconsistencies the device reported to central (001 Art. 8.4).",
            labels=LABELS,
        )
        dropped: set[str] = set()
        for state in self.fleet.states():
            if state.revoked_at is not None:
                continue
            # one label dict per device, shared by its samples (the renderer formats it once)
            labels = {"device": state.device_id, "site": state.site, "role": state.role}
            _add(reported, labels, state.inconsistencies_total, "_total")
            if not state.has_heartbeat:
                continue
            _add(received, labels, state.heartbeats_total, "_total")
            _add(last, labels, state.received_at)
            _add(up, labels, 1.0 if now - state.received_at <= self.offline_after else 0.0)
            _add(info, {**labels, "version": state.version}, 1.0)
            if state.skew_seconds is not None:
                _add(skew, labels, state.skew_seconds)
            for check in state.checks:
                _add(
                    failing, {**labels, "check": check["name"]}, 1.0 if check.get("status") == "fail" else 0.0
                )
            values = dict(state.metrics)
            values.setdefault("uptime_seconds", state.uptime_seconds)
            for name, value in values.items():
                if name in RESERVED:
                    continue
                family = gauges.get(name)
                if family is None:
                    if len(gauges) >= MAX_FAMILIES:
                        dropped.add(name)
                        continue
                    family = gauges[name] = GaugeMetricFamily(
                        PREFIX + name,
                        HELP.get(name, f"Device-reported {name} (from heartbeats)."),
                        labels=LABELS,
                    )
                _add(family, labels, float(value))
        if dropped:
            log.warning("metrics: %d heartbeat metric names over the limit of %d not exported", len(dropped),
                        MAX_FAMILIES)  # fmt: skip
        yield from (last, up, info, skew, failing, received, reported)
        yield from (gauges[name] for name in sorted(gauges))


def _add(family: Metric, labels: dict[str, str], value: float, suffix: str = "") -> None:
    """``add_metric`` without copying the labels (the same dict serves all of a device's samples)."""
    family.samples.append(Sample(family.name + suffix, labels, float(value)))


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def render(collector: Collector) -> bytes:
    """The text exposition format (0.0.4) of ``collector``, as ``generate_latest`` writes it.

    ``generate_latest`` formats the labels of every sample again; here each label dict is formatted
    once and reused by identity, which makes a 10,000-device scrape several times cheaper.
    """
    families = list(collector.collect())  # keeps every label dict alive: ids stay unique meanwhile
    texts: dict[int, str] = {}
    out: list[str] = []
    for family in families:
        name = family.name + ("_total" if family.type == "counter" else "")
        help_text = family.documentation.replace("\\", "\\\\").replace("\n", "\\n")
        out.append(f"# HELP {name} {help_text}\n# TYPE {name} {family.type}\n")
        for sample in family.samples:
            key = id(sample.labels)
            text = texts.get(key)
            if text is None:
                pairs = ",".join(f'{k}="{_escape(v)}"' for k, v in sorted(sample.labels.items()))
                text = texts[key] = "{" + pairs + "}" if pairs else ""
            out.append(f"{sample.name}{text} {floatToGoString(sample.value)}\n")
    return "".join(out).encode()


def registry_for(ctx: FleetContext) -> CollectorRegistry:
    """A registry holding only the fleet collector."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(FleetCollector(ctx.fleet, ctx.epoch, ctx.offline_after))
    return registry


def add_route(router: APIRouter, ctx: FleetContext) -> None:
    """``GET /metrics``, answered only with ``Authorization: Bearer <scrape_token>``."""
    collector = FleetCollector(ctx.fleet, ctx.epoch, ctx.offline_after)

    @router.get("/metrics", response_class=Response, responses={200: {"content": {"text/plain": {}}}})
    def metrics(request: Request) -> Response:
        """The fleet's latest heartbeats in Prometheus' text format (scrape token required)."""
        if not ctx.scrape_token:
            raise NotFound("/metrics is off: set central_service.scrape_token")
        key = request_key(request)
        if key is None or not hmac.compare_digest(key.encode(), ctx.scrape_token.encode()):
            raise Unauthorized("the scrape token is required (Authorization: Bearer <scrape_token>)")
        return Response(render(collector), media_type=CONTENT_TYPE_LATEST)
