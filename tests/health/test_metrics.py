"""Metrics after a run of real lookups and SMS: scraped over HTTP and checked against what happened."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from appliance.config import Config, config_from_dict
from appliance.health_wiring import HealthRuntime, build_agent, usage_recorder
from dossier.cache import Cache
from dossier.client import CentralClient
from dossier.lookup import LookupService
from health.exporter import MetricsServer, SnapshotCollector
from sms_gateway.runtime import STATUS_KEY
from sms_gateway.store import NewMessage, Outgoing, PartIn, SmsStore
from tests.dossier.factory import make_dossier
from tests.dossier.scripted_central import scripted_central
from tests.health.conftest import free_port


def device_config(tmp_path: Path, role: str = "both") -> Config:
    return config_from_dict({"device": {"name": "dev-9", "role": role, "data_dir": str(tmp_path / "data")}})


def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(samples: dict[Any, float], name: str, **labels: str) -> float:
    return samples[(name, tuple(sorted(labels.items())))]


def run_lookups(config: Config) -> None:
    """Lookups on two channels: cache hits, a central answer, a not-found, and central down."""
    cache = Cache(config.cache_path)
    recorder = usage_recorder(config, background=False)
    try:
        for n in (1, 2):
            cache.put(make_dossier(n))
        with scripted_central() as (url, state):
            state.put(make_dossier(3))
            kiosk = LookupService(cache, CentralClient(url, retries=0), observer=recorder.observer("kiosk"))
            sms = LookupService(cache, CentralClient(url, retries=0), observer=recorder.observer("sms"))
            assert kiosk.lookup(make_dossier(1).code).source == "cache"
            assert kiosk.lookup(make_dossier(2).code).source == "cache"
            assert kiosk.lookup(make_dossier(3).code).source == "central"
            assert sms.lookup(make_dossier(3).code).source == "cache"
            assert sms.lookup(make_dossier(4).code).outcome.value == "not_found"
            kiosk.close()
            sms.close()
        down = LookupService(
            cache,
            CentralClient(f"http://127.0.0.1:{free_port()}", retries=0, connect_timeout=1.0),
            observer=recorder.observer("sms"),
            central_deadline=2.0,
        )
        assert down.lookup(make_dossier(5).code).outcome.value == "unavailable"
        down.close()
        recorder.record_event("kiosk_scan", 4)
    finally:
        recorder.close()  # writes what the process counted
        cache.close()


def fill_sms(config: Config) -> None:
    """A gateway's store: one of each outbox state that matters, an unanswered message, a modem."""
    store = SmsStore(config.data_dir / "sms.db")
    try:
        store.enqueue(Outgoing("0912345678", f"reply {i}", "reply") for i in range(5))
        a = store.claim("m1")
        assert a is not None
        store.mark_sent(a.id, [11], 1)
        b = store.claim("m1")
        assert b is not None
        store.mark_sent(b.id, [12], 1)
        store.record_delivery("m1", 12, True)
        c = store.claim("m1")
        assert c is not None
        store.mark_failed(c.id, "refused")
        store.add_parts([PartIn("m1", "+84912345678", "HS 000.00.15.H56-261110-0001")])
        part = store.waiting_parts()[0]
        store.add_messages(
            [NewMessage((part.id,), "m1", "+84912345678", "0912345678", part.text, time.time())]
        )
        modems = [
            {"port": "/dev/ttyUSB0", "connected": True, "signal": 20, "signal_percent": 65,
             "registration": "home"},
            {"port": "/dev/ttyUSB1", "connected": True, "signal": 9, "signal_percent": 29,
             "registration": "searching"},
        ]  # fmt: skip
        store.set_meta(STATUS_KEY, json.dumps({"updated_at": time.time(), "modems": modems}))
    finally:
        store.close()


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[tuple[Config, HealthRuntime]]:
    config = device_config(tmp_path)
    config.data_dir.mkdir(parents=True)
    rt = build_agent(config, connect=False)
    yield config, rt
    rt.close()


def test_metrics_after_lookups_and_sms(runtime: tuple[Config, HealthRuntime]) -> None:
    config, rt = runtime
    run_lookups(config)
    fill_sms(config)
    synced = Cache(config.cache_path, clock=lambda: time.time() - 120)  # sync ran two minutes ago
    synced.record_sync_success(time.time() - 120, [])
    synced.record_sync_failure("central answered HTTP 503")
    synced.record_inconsistency(make_dossier(1).code, 5, 4, channel="sms")
    synced.close()
    (config.data_dir / "doctor.json").write_text(
        json.dumps(
            {"at": "x", "worst": "fail", "checks": [{"name": "modem", "status": "fail", "detail": ""}]}
        )
    )
    rt.agent.beat()
    server = MetricsServer(SnapshotCollector(rt.sources.snapshot, rt.agent), 0)
    try:
        m = scrape(server.port)
    finally:
        server.close()
    look = "motcua_lookups_total"
    assert value(m, look, channel="kiosk", source="cache", result="found") == 2
    assert value(m, look, channel="kiosk", source="central", result="found") == 1
    assert value(m, look, channel="sms", source="cache", result="found") == 1
    assert value(m, look, channel="sms", source="central", result="not_found") == 1
    assert value(m, look, channel="sms", source="none", result="unavailable") == 1
    hist = "motcua_lookup_duration_seconds"
    assert value(m, hist + "_count", channel="kiosk", source="cache", result="found") == 2
    assert value(m, hist + "_bucket", channel="kiosk", source="cache", result="found", le="+Inf") == 2
    assert value(m, hist + "_sum", channel="sms", source="none", result="unavailable") > 0
    assert value(m, "motcua_lookup_cache_hit_ratio") == pytest.approx(3 / 6)
    assert value(m, "motcua_kiosk_scans_total") == 4
    assert value(m, "motcua_cache_dossiers") == 3  # two put, one fetched from central
    assert 119 <= value(m, "motcua_sync_age_seconds") < 300
    assert value(m, "motcua_sync_consecutive_failures") == 1
    assert value(m, "motcua_inconsistencies_pending") == 1
    assert value(m, "motcua_sms_outbox", state="queued") == 2
    assert value(m, "motcua_sms_outbox", state="failed") == 1
    assert value(m, "motcua_sms_sent_total") == 2
    assert value(m, "motcua_sms_delivered_total") == 1
    assert value(m, "motcua_sms_failed_total") == 1
    assert value(m, "motcua_sms_inbox_pending") == 1
    assert value(m, "motcua_sms_gateway_running") == 1
    assert value(m, "motcua_modem_signal_percent", port="/dev/ttyUSB0") == 65
    assert value(m, "motcua_modem_registered", port="/dev/ttyUSB1") == 0
    assert value(m, "motcua_doctor_failures") == 1
    assert value(m, "motcua_heartbeat_queue_depth") == 1
    assert value(m, "motcua_disk_free_bytes") > 0
    assert (
        value(m, "motcua_info", version=rt.sources.identity.version, role="both", site="", device="dev-9")
        == 1
    )
    assert all(value(m, "motcua_health_source_up", source=s) == 1 for s in ("usage", "core", "sms", "queue"))
    # the heartbeat carries the same figures under the contract's names
    hb = rt.agent.queue.peek(1)[0]
    assert hb["metrics"]["lookups_total"] == 6
    assert hb["metrics"]["lookups_failed_total"] == 1
    assert hb["metrics"]["lookup_cache_hit_ratio"] == pytest.approx(0.5)
    assert hb["metrics"]["sms_outbox_queued"] == 2
    assert hb["metrics"]["modem_signal_percent"] == 29  # the worst modem
    assert hb["metrics"]["modem_registered"] == 0  # one modem is still searching
    assert hb["metrics"]["kiosk_scans_total"] == 4
    assert hb["checks"] == [{"name": "modem", "status": "fail", "detail": ""}]


def test_a_kiosk_without_sms_and_a_missing_store_scrape_cleanly(tmp_path: Path) -> None:
    config = device_config(tmp_path, role="kiosk")
    rt = build_agent(config, connect=False)
    try:
        snap = rt.sources.snapshot()
        body = rt.agent.build(snap)
    finally:
        rt.close()
    assert snap.sms is None and snap.kiosk is None  # no kiosk.db yet: absent, not an error
    assert all(snap.source_up.values())
    assert "sms_outbox_queued" not in body["metrics"] and "modem_registered" not in body["metrics"]
    assert body["metrics"]["kiosk_scans_total"] == 0
    assert body["role"] == "kiosk"


def test_an_sms_device_whose_gateway_never_ran_reports_no_modem(tmp_path: Path) -> None:
    config = device_config(tmp_path, role="sms")
    rt = build_agent(config, connect=False)
    try:
        body = rt.agent.build()
    finally:
        rt.close()
    assert body["metrics"]["modem_registered"] == 0
    assert body["metrics"]["sms_outbox_queued"] == 0
    assert not (config.data_dir / "sms.db").exists()  # the agent does not create the gateway's store


def test_the_metrics_port_in_use_is_a_clear_error(runtime: tuple[Config, HealthRuntime]) -> None:
    from dossier.errors import NeedsTechnician

    _config, rt = runtime
    first = MetricsServer(SnapshotCollector(rt.sources.snapshot), 0)
    try:
        with pytest.raises(NeedsTechnician, match="health.port"):
            MetricsServer(SnapshotCollector(rt.sources.snapshot), first.port)
    finally:
        first.close()


def test_a_lookup_process_breaker_reaches_the_agent_in_another_process(tmp_path: Path) -> None:
    from appliance import wiring
    from appliance.health_wiring import flush_usage

    config = device_config(tmp_path, role="sms")
    cache = Cache(config.cache_path)
    dead = CentralClient(f"http://127.0.0.1:{free_port()}", retries=0, connect_timeout=1.0)
    lookup = wiring.make_lookup(config, cache, dead, channel="sms")
    for n in range(1, 6):  # central refuses connections: the breaker opens
        lookup.lookup(make_dossier(n).code)
    assert lookup.breaker_state()["state"] == "open"
    flush_usage()
    rt = build_agent(config, connect=False)
    try:
        snap = rt.sources.snapshot()
        body = rt.agent.build(snap)
        server = MetricsServer(SnapshotCollector(lambda: snap), 0)
        try:
            m = scrape(server.port)
        finally:
            server.close()
    finally:
        rt.close()
        lookup.close()
        cache.close()
    assert body["metrics"]["breaker_open"] == 1
    assert value(m, "motcua_breaker_state", channel="sms", state="open") == 1
    assert value(m, "motcua_breaker_state", channel="sms", state="closed") == 0
    assert value(m, "motcua_lookups_total", channel="sms", source="none", result="unavailable") == 5


def test_a_surprising_gateway_snapshot_marks_the_source_down_and_the_rest_goes_on(tmp_path: Path) -> None:
    config = device_config(tmp_path, role="sms")
    store = SmsStore(config.data_dir / "sms.db")
    store.set_meta(STATUS_KEY, "[1, 2]")  # not the object the gateway writes
    store.close()
    rt = build_agent(config, connect=False)
    try:
        snap = rt.sources.snapshot()
        body = rt.agent.build(snap)
    finally:
        rt.close()
    assert snap.source_up["sms"] is False and snap.source_up["core"] is True
    assert "sms_outbox_queued" not in body["metrics"] and "cache_dossiers" in body["metrics"]
