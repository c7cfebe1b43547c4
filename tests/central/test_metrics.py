"""``/metrics``: the fleet's latest heartbeats as Prometheus families, behind the scrape token."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.central.conftest import NOW, Central
from tests.central.test_devices_api import enrolled, hb, send

SCRAPE = "scrape-token-0123456789"


@pytest.fixture
def scraped(make_central: Any) -> Iterator[Central]:
    with make_central(scrape_token=SCRAPE) as central:
        yield central


def scrape(central: Central) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    """{sample name: {sorted labels: value}}."""
    resp = central.get("/metrics", headers={"Authorization": f"Bearer {SCRAPE}"})
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"].startswith("text/plain")
    out: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(resp.text):
        for s in family.samples:
            out.setdefault(s.name, {})[tuple(sorted(s.labels.items()))] = s.value
    return out


def one(samples: dict[tuple[tuple[str, str], ...], float], **labels: str) -> float:
    """The value of the sample whose labels include ``labels``."""
    hits = [v for k, v in samples.items() if set(labels.items()) <= set(k)]
    assert len(hits) == 1, (labels, samples)
    return hits[0]


def test_metrics_need_the_scrape_token(scraped: Central, make_central: Any) -> None:
    assert scraped.get("/metrics").status_code == 401
    assert scraped.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    _, key = enrolled(scraped)
    assert scraped.get("/metrics", headers={"Authorization": f"Bearer {key}"}).status_code == 401


def test_metrics_are_off_without_a_scrape_token(central: Central) -> None:
    resp = central.get("/metrics", headers={"Authorization": "Bearer anything"})
    assert resp.status_code == 404 and "scrape_token" in resp.json()["error"]["message"]


def test_latest_heartbeat_per_device_is_exported_with_labels(scraped: Central) -> None:
    a_id, a_key = enrolled(scraped, "kiosk-a")
    b_id, b_key = enrolled(scraped, "sms-b")
    c_id, c_key = enrolled(scraped, "revoked-c")
    checks = [
        {"name": "modem", "status": "fail", "detail": "no SIM"},
        {"name": "disk", "status": "warn", "detail": "85 %"},
    ]
    assert send(scraped, a_key, [hb(1, metrics={"sync_age_seconds": 30, "modem_signal_percent": 10}),
                                 hb(2, metrics={"sync_age_seconds": 60, "modem_signal_percent": 20,
                                                "sms_outbox_queued": 7, "up": 5}, checks=checks)
                                 ]).status_code == 204  # fmt: skip
    assert (
        send(scraped, b_key, [hb(1, role="sms", site="Xã B", metrics={"sms_failed_total": 3})]).status_code
        == 204
    )
    assert send(scraped, c_key, [hb(1)]).status_code == 204
    assert scraped.admin(f"/api/v1/admin/devices/{c_id}/revoke").status_code == 200
    items = [
        {"id": i, "code": f"X-{i}", "cached_version": 2, "central_version": 1, "at": 1.0} for i in (1, 2, 3)
    ]
    resp = scraped.post("/api/v1/devices/inconsistencies", json={"items": items},
                        headers={"Authorization": f"Bearer {b_key}"})  # fmt: skip
    assert resp.status_code == 204

    m = scrape(scraped)
    assert one(m["motcua_device_sync_age_seconds"], device=a_id, site="UBND xã Tân Phú", role="both") == 60
    assert one(m["motcua_device_modem_signal_percent"], device=a_id) == 20
    assert one(m["motcua_device_sms_outbox_queued"], device=a_id) == 7
    assert one(m["motcua_device_sms_failed_total"], device=b_id, site="Xã B", role="sms") == 3
    assert one(m["motcua_device_uptime_seconds"], device=b_id) == 3601.0  # from the top-level field
    assert one(m["motcua_device_last_heartbeat_timestamp_seconds"], device=a_id) == NOW.timestamp()
    assert one(m["motcua_device_up"], device=a_id) == 1 and one(m["motcua_device_up"], device=b_id) == 1
    assert one(m["motcua_device_info"], device=a_id, version="1.4.0") == 1
    assert one(m["motcua_device_check_failing"], device=a_id, check="modem") == 1
    assert one(m["motcua_device_check_failing"], device=a_id, check="disk") == 0
    assert one(m["motcua_device_inconsistencies_reported_total"], device=b_id) == 3
    assert one(m["motcua_device_inconsistencies_reported_total"], device=a_id) == 0
    assert one(m["motcua_device_heartbeats_received_total"], device=a_id) == 2
    assert one(m["motcua_device_clock_skew_seconds"], device=a_id) == pytest.approx(2.0)
    # a device's metric named like a family central computes does not overwrite it
    assert set(m["motcua_device_up"].values()) == {1.0}
    # a revoked device is not exported
    assert not any(("device", c_id) in k for samples in m.values() for k in samples)

    scraped.clock.now = NOW + timedelta(minutes=10)
    assert send(scraped, b_key, [hb(2, role="sms", site="Xã B")]).status_code == 204
    later = scrape(scraped)
    assert (
        one(later["motcua_device_up"], device=a_id) == 0 and one(later["motcua_device_up"], device=b_id) == 1
    )


def test_fast_renderer_matches_generate_latest(tmp_path: Any) -> None:
    from datetime import UTC, datetime

    from prometheus_client import generate_latest

    from central.fleet_store import FleetStore, Heartbeat
    from central.metrics import FleetCollector, registry_for, render

    store = FleetStore(tmp_path / "fleet.db")
    try:
        for i, site in enumerate(('Xã "Bình" An', "C:\\sites\\b", "plain")):
            beat = Heartbeat(1, datetime.now(UTC), f"v{i}", "sms", site, 5.0, {"sms_outbox_queued": i, "x_total": 1e21},
                             [{"name": "modem", "status": "fail", "detail": ""}])  # fmt: skip
            store.add_heartbeats(f"d{i}", [beat], 1000.0)
        store.add_inconsistencies("d0", [{"id": 1, "code": "X", "cached_version": 2, "central_version": 1,
                                          "at": "2024-01-01T00:00:00+00:00", "channel": ""}], 1000.0)  # fmt: skip
        collector = FleetCollector(store, lambda: 1100.0, 300)

        class Ctx:
            fleet, offline_after = store, 300.0

            @staticmethod
            def epoch() -> float:
                return 1100.0

        ours = render(collector).decode()
        reference = generate_latest(registry_for(Ctx)).decode()  # type: ignore[arg-type]

        def samples(text: str) -> set[tuple[str, tuple[tuple[str, str], ...], float]]:
            return {(s.name, tuple(sorted(s.labels.items())), s.value)
                    for f in text_string_to_metric_families(text) for s in f.samples}  # fmt: skip

        assert samples(ours) == samples(reference) and len(samples(ours)) > 20
        assert (
            "motcua_device_sms_outbox_queued",
            (("device", "d0"), ("role", "sms"), ("site", 'Xã "Bình" An')),
            0.0,
        ) in samples(ours)
        assert sorted(ours.splitlines()) == sorted(reference.splitlines())
    finally:
        store.close()
