"""Alert rules (promtool) and the Grafana dashboard, checked against what central's /metrics exports."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.central.conftest import serve
from tests.central.test_devices_api import enrolled, hb, send

MONITORING = Path(__file__).resolve().parents[2] / "monitoring"
SCRAPE = "scrape-token-0123456789"
# The heartbeat metric names of the PLAN.md contract (the health agent sends these).
CONTRACT_METRICS = [
    "lookups_total",
    "lookups_failed_total",
    "lookup_cache_hit_ratio",
    "cache_dossiers",
    "sync_age_seconds",
    "sync_errors_total",
    "sync_consecutive_failures",
    "breaker_open",
    "sms_inbox_pending",
    "sms_outbox_queued",
    "sms_sent_total",
    "sms_failed_total",
    "sms_delivered_total",
    "modem_signal_percent",
    "modem_registered",
    "kiosk_scans_total",
    "kiosk_ratings_pending",
    "cpu_temperature_celsius",
    "cpu_throttled",
    "disk_free_bytes",
    "disk_free_ratio",
    "uptime_seconds",
    "inconsistencies_pending",
    "doctor_failures",
    "heartbeat_queue_depth",
]
NAME = re.compile(r"\b(motcua_[a-z0-9_]+)")


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("promtool")
    assert exe, "promtool is missing: apt-get install prometheus"
    return subprocess.run(
        [exe, *args], cwd=MONITORING, capture_output=True, text=True, timeout=60, check=False
    )


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> set[str]:
    """Sample names /metrics really exports after one full heartbeat and one inconsistency."""
    with serve(tmp_path_factory.mktemp("central") / "central.db", scrape_token=SCRAPE) as central:
        _, key = enrolled(central)
        metrics = {name: 1.0 for name in CONTRACT_METRICS}
        assert (
            send(
                central, key, [hb(1, metrics=metrics, checks=[{"name": "modem", "status": "fail"}])]
            ).status_code
            == 204
        )
        item = {"id": 1, "code": "X-1", "cached_version": 2, "central_version": 1, "at": 1.0}
        resp = central.post("/api/v1/devices/inconsistencies", json={"items": [item]},
                            headers={"Authorization": f"Bearer {key}"})  # fmt: skip
        assert resp.status_code == 204
        text = central.get("/metrics", headers={"Authorization": f"Bearer {SCRAPE}"}).text
    return {s.name for family in text_string_to_metric_families(text) for s in family.samples}


def test_every_contract_metric_is_exported_as_a_device_gauge(exported: set[str]) -> None:
    assert {f"motcua_device_{n}" for n in CONTRACT_METRICS} <= exported
    assert {"motcua_device_up", "motcua_device_last_heartbeat_timestamp_seconds", "motcua_device_info",
            "motcua_device_check_failing", "motcua_device_inconsistencies_reported_total"} <= exported  # fmt: skip


def test_rules_pass_promtool_check() -> None:
    result = promtool("check", "rules", "alerts.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_rules_fire_on_synthetic_series() -> None:
    result = promtool("test", "rules", "alerts_test.yml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_rules_cover_the_issue_and_use_exported_metrics(exported: set[str]) -> None:
    rules = yaml.safe_load((MONITORING / "alerts.yml").read_text())
    alerts = {r["alert"]: r for g in rules["groups"] for r in g["rules"]}
    for wanted in ("MotcuaDeviceOffline", "MotcuaSyncStale", "MotcuaModemNoSignal", "MotcuaSmsQueueGrowing",
                   "MotcuaSmsDeliveryFailures", "MotcuaDiskLow", "MotcuaDeviceHot", "MotcuaDeviceThrottled",
                   "MotcuaDoctorFailing", "MotcuaInconsistenciesReported"):  # fmt: skip
        assert wanted in alerts
    used = {n for r in alerts.values() for n in NAME.findall(r["expr"])}
    assert used and used <= exported, used - exported
    tested = set(NAME.findall((MONITORING / "alerts_test.yml").read_text()))
    assert tested <= exported, tested - exported
    unit_tested = set(re.findall(r"alertname: (\w+)", (MONITORING / "alerts_test.yml").read_text()))
    assert unit_tested == set(alerts)  # every rule has a unit test


def test_dashboard_is_valid_and_uses_only_exported_metrics(exported: set[str]) -> None:
    dash = json.loads((MONITORING / "grafana-dashboard.json").read_text())
    assert dash["uid"] and dash["title"] and dash["panels"]
    exprs = [t["expr"] for p in dash["panels"] for t in p["targets"]]
    exprs += [v["definition"] for v in dash["templating"]["list"] if "definition" in v]
    assert len(exprs) > 15
    used = {n for e in exprs for n in NAME.findall(e)}
    assert used <= exported, used - exported
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids))
