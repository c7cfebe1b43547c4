"""Heartbeats, inconsistencies and revocation against the real central app over real SQLite files."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
import requests

from central.fleet_store import FleetStore, fleet_path_for
from tests.central.conftest import ADMIN, NOW, Central


def hb(seq: int, **kw: Any) -> dict[str, Any]:
    """A valid heartbeat (sent at central's test clock unless told)."""
    body: dict[str, Any] = {
        "seq": seq,
        "sent_at": (NOW + timedelta(seconds=seq)).isoformat(),
        "version": "1.4.0",
        "role": "both",
        "site": "UBND xã Tân Phú",
        "uptime_seconds": 3600.0 + seq,
        "metrics": {"sync_age_seconds": 42, "modem_signal_percent": 71.5, "sms_outbox_queued": 2},
        "checks": [{"name": "modem", "status": "pass", "detail": "ok"}],
    }
    body.update(kw)
    return body


def send(central: Central, key: str, beats: list[dict[str, Any]]) -> requests.Response:
    return central.post(
        "/api/v1/devices/heartbeats", json={"heartbeats": beats}, headers={"Authorization": f"Bearer {key}"}
    )


def enrolled(central: Central, name: str = "kiosk-1") -> tuple[str, str]:
    """(device_id, api_key) of a newly enrolled device."""
    token = central.admin("/api/v1/admin/enrollment-tokens").json()["token"]
    resp = central.post("/api/v1/devices/enroll", json={"token": token, "name": name, "kind": "kiosk"})
    assert resp.status_code == 201, resp.text
    return resp.json()["device_id"], resp.json()["api_key"]


def fleet_of(central: Central) -> FleetStore:
    return FleetStore(fleet_path_for(central.db))


def test_batch_is_stored_once_and_repeats_are_no_ops(central: Central) -> None:
    device_id, key = enrolled(central)
    first = send(central, key, [hb(1), hb(2), hb(3)])
    assert first.status_code == 204 and first.content == b""
    assert send(central, key, [hb(2), hb(3), hb(4)]).status_code == 204  # a retry overlapping new ones
    assert send(central, key, [hb(4)]).status_code == 204
    store = fleet_of(central)
    try:
        history = store.history(device_id)
        assert [h["seq"] for h in history] == [4, 3, 2, 1]
        state = store.state(device_id)
        assert state is not None and state.seq == 4 and state.heartbeats_total == 4
        assert (
            state.site == "UBND xã Tân Phú"
            and state.role == "both"
            and state.metrics["sms_outbox_queued"] == 2
        )
    finally:
        store.close()


def test_central_receive_time_is_the_truth_and_skew_is_kept(central: Central) -> None:
    device_id, key = enrolled(central)
    ahead = (NOW + timedelta(hours=1)).astimezone().isoformat()  # device clock one hour fast, other offset
    assert send(central, key, [hb(1, sent_at=ahead)]).status_code == 204
    store = fleet_of(central)
    try:
        state = store.state(device_id)
        assert state is not None
        assert state.received_at == NOW.timestamp()
        assert state.skew_seconds == pytest.approx(3600.0)
        assert state.sent_at.startswith((NOW + timedelta(hours=1)).astimezone().isoformat()[:16])
    finally:
        store.close()


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ({"heartbeats": []}, 422, "heartbeats"),
        ({"heartbeats": [hb(i + 1) for i in range(101)]}, 422, "heartbeats"),
        ({"heartbeats": [hb(1), {**hb(2), "seq": 0}]}, 422, "heartbeats.1.seq"),
        ({"heartbeats": [hb(1), {**hb(2), "seq": "2"}]}, 422, "seq"),
        ({"heartbeats": [hb(1, sent_at="2024-03-20T10:00:00")]}, 422, "sent_at"),
        ({"heartbeats": [hb(1, role="printer")]}, 422, "role"),
        ({"heartbeats": [hb(1, metrics={"Bad-Name": 1})]}, 422, "metrics"),
        ({"heartbeats": [hb(1, metrics={"x": True})]}, 422, "metrics.x"),
        ({"heartbeats": [hb(1, metrics={"x": "1"})]}, 422, "metrics.x"),
        ({"heartbeats": [hb(1, metrics={f"m{i}": 1 for i in range(201)})]}, 422, "metrics"),
        ({"heartbeats": [hb(1, checks=[{"name": "a", "status": "bad"}])]}, 422, "checks"),
        (
            {"heartbeats": [hb(1, checks=[{"name": "a", "status": "fail", "detail": "x" * 301}])]},
            422,
            "detail",
        ),
        ({"heartbeats": [hb(1, site="a\x00b")]}, 422, "control characters"),
        ({"beats": [hb(1)]}, 422, "heartbeats"),
    ],
)
def test_malformed_batches_are_refused_and_nothing_is_stored(
    central: Central, body: dict[str, Any], status: int, words: str
) -> None:
    device_id, key = enrolled(central)
    resp = central.post(
        "/api/v1/devices/heartbeats", data=json.dumps(body), headers={"Authorization": f"Bearer {key}"}
    )
    assert resp.status_code == status, resp.text
    assert words in resp.json()["error"]["message"]
    store = fleet_of(central)
    try:
        assert store.heartbeat_count() == 0 and store.state(device_id) is None
    finally:
        store.close()


def test_not_json_is_400_and_oversized_is_413(central: Central) -> None:
    _, key = enrolled(central)
    auth = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    resp = central.post("/api/v1/devices/heartbeats", data=b'{"heartbeats": [', headers=auth)
    assert resp.status_code == 400 and "not valid JSON" in resp.json()["error"]["message"]
    huge = b'{"heartbeats": [' + b" " * 5_000_001 + b"]}"
    resp = central.post("/api/v1/devices/heartbeats", data=huge, headers=auth)
    assert resp.status_code == 413 and resp.json()["error"]["code"] == "too_large"

    def chunks() -> Any:  # no Content-Length: the limit holds on the stream too
        yield b'{"heartbeats": ['
        for _ in range(60):
            yield b" " * 100_000
        yield b"]}"

    resp = central.post("/api/v1/devices/heartbeats", data=chunks(), headers=auth)
    assert resp.status_code == 413


def test_heartbeats_need_a_device_key(central: Central) -> None:
    assert central.post("/api/v1/devices/heartbeats", json={"heartbeats": [hb(1)]}).status_code == 401
    assert send(central, "mck_unknown", [hb(1)]).status_code == 401
    assert send(central, ADMIN, [hb(1)]).status_code == 401  # the admin token is not a device


def test_revoked_key_is_refused_and_the_rest_of_the_fleet_is_unaffected(central: Central) -> None:
    bad_id, bad_key = enrolled(central, "stolen")
    good_id, good_key = enrolled(central, "fine")
    assert send(central, bad_key, [hb(1)]).status_code == 204
    path = f"/api/v1/admin/devices/{bad_id}/revoke"
    assert central.post(path).status_code == 401  # admin only
    assert central.post(path, headers={"Authorization": f"Bearer {good_key}"}).status_code == 401
    resp = central.admin(path, json={"reason": "kiosk stolen"})
    assert resp.status_code == 200 and resp.json()["device_id"] == bad_id
    again = central.admin(path)
    assert again.status_code == 200 and again.json()["revoked_at"] == resp.json()["revoked_at"]
    assert central.admin("/api/v1/admin/devices/dev_nope/revoke").status_code == 404

    refused = send(central, bad_key, [hb(2)])
    assert refused.status_code == 401 and "revoked" in refused.json()["error"]["message"]
    old = central.post(
        "/api/v1/devices/heartbeat", json={"status": {}}, headers={"Authorization": f"Bearer {bad_key}"}
    )
    assert old.status_code == 401
    items = {"items": [{"id": 1, "code": "X-1", "cached_version": 2, "central_version": 1, "at": 1.0}]}
    incons = central.post(
        "/api/v1/devices/inconsistencies", json=items, headers={"Authorization": f"Bearer {bad_key}"}
    )
    assert incons.status_code == 401
    assert send(central, good_key, [hb(1)]).status_code == 204
    store = fleet_of(central)
    try:
        assert store.heartbeat_count(bad_id) == 1 and store.heartbeat_count(good_id) == 1
    finally:
        store.close()


def test_old_single_heartbeat_still_works(central: Central) -> None:
    _, key = enrolled(central)
    resp = central.post(
        "/api/v1/devices/heartbeat",
        json={"status": {"modem": "ok"}},
        headers={"Authorization": f"Bearer {key}"},
    )
    assert resp.status_code == 204


def test_inconsistencies_are_stored_once_and_counted(central: Central) -> None:
    device_id, key = enrolled(central)
    auth = {"Authorization": f"Bearer {key}"}
    items = [
        {"id": 1, "code": "000.00.15.H56-240315-0001", "cached_version": 3, "central_version": 2,
         "at": NOW.timestamp(), "channel": "sms"},
        {"id": 2, "code": "000.00.15.H56-240315-0002", "cached_version": 5, "central_version": 4,
         "at": NOW.isoformat(), "channel": "kiosk"},
    ]  # fmt: skip
    assert (
        central.post("/api/v1/devices/inconsistencies", json={"items": items}, headers=auth).status_code
        == 204
    )
    assert (
        central.post("/api/v1/devices/inconsistencies", json={"items": items}, headers=auth).status_code
        == 204
    )
    bad_bodies: list[dict[str, Any]] = [{"items": []}, {"items": [{**items[0], "at": "yesterday"}]},
                                        {"items": [items[0]] * 501}, {"items": [{**items[0], "cached_version": -1}]}]  # fmt: skip
    for bad in bad_bodies:
        resp = central.post("/api/v1/devices/inconsistencies", json=bad, headers=auth)
        assert resp.status_code == 422, resp.text
    store = fleet_of(central)
    try:
        stored = store.inconsistencies(device_id)
        assert sorted(i["item_id"] for i in stored) == ["1", "2"]
        assert {i["channel"] for i in stored} == {"sms", "kiosk"}
        state = store.state(device_id)
        assert state is not None and state.inconsistencies_total == 2 and not state.has_heartbeat
    finally:
        store.close()


def test_a_device_key_opens_neither_the_fleet_page_nor_metrics(make_central: Any) -> None:
    with make_central(scrape_token="scrape-token-0123456789") as central:
        _, key = enrolled(central)
        assert send(central, key, [hb(1)]).status_code == 204
        auth = {"Authorization": f"Bearer {key}"}
        page = central.get("/fleet", headers=auth, allow_redirects=False)
        assert page.status_code == 403 and "api_key" not in page.text
        assert central.get("/fleet/devices/x", headers=auth, allow_redirects=False).status_code == 403
        assert central.get("/metrics", headers=auth).status_code == 401


def test_a_revoked_key_reads_nothing_and_rates_nothing(central: Central) -> None:
    device_id, key = enrolled(central)
    auth = {"Authorization": f"Bearer {key}"}
    assert central.get("/api/v1/agencies", headers=auth).status_code == 200
    assert central.admin(f"/api/v1/admin/devices/{device_id}/revoke").status_code == 200
    read = central.get("/api/v1/agencies", headers=auth)
    assert read.status_code == 401 and "revoked" in read.json()["error"]["message"]
    rating = {"id": "r-1", "agency_id": "000.00.15.H56", "service": 1, "staff": 1}
    assert central.post("/api/v1/ratings", json=rating, headers=auth).status_code == 401


def test_x_api_key_header_works_like_bearer(central: Central) -> None:
    device_id, key = enrolled(central)
    resp = central.post(
        "/api/v1/devices/heartbeats", json={"heartbeats": [hb(1)]}, headers={"X-Api-Key": key}
    )
    assert resp.status_code == 204
    store = fleet_of(central)
    try:
        assert store.heartbeat_count(device_id) == 1
    finally:
        store.close()
