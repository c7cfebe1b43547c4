"""Lookup, errors, enrollment, heartbeats, ratings and the fleet page against the real service."""

from __future__ import annotations

from pathlib import Path

from central.testing import seed_bulk
from dossier.model import secret_matches
from tests.central.conftest import ADMIN, NOW, Central, serve

CODE = "000.00.15.H56-240315-0001"


def record(code: str = CODE, status: int = 4, **extra: object) -> dict:
    return {"code": code, "status": status, "procedure_name": "Đăng ký khai sinh",
            "applicant_name": "Nguyễn Văn An", "received_at": "2024-03-15T08:12:00+07:00",
            "due_at": "2024-03-18T17:00:00+07:00", **extra}  # fmt: skip


def test_lookup_found_and_version(central: Central) -> None:
    rep = central.admin("/api/v1/ingest/records", json=[record()]).json()
    assert rep["accepted"] == 1 and rep["rejected"] == []
    resp = central.get(f"/api/v1/dossiers/{CODE}")
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("application/json")
    body = resp.json()
    assert body["code"] == CODE and body["status"] == 4 and body["agency_id"] == "000.00.15.H56"
    assert body["version"] == 1 and body["applicant_name"] == "Nguyễn Văn An"
    central.admin("/api/v1/ingest/records", json=[record(status=9, finished_at="2024-03-18T10:00:00+07:00")])
    assert central.get(f"/api/v1/dossiers/{CODE}").json()["version"] == 2


def test_lookup_mangled_code_is_normalised(central: Central) -> None:
    central.admin("/api/v1/ingest/records", json=[record()])
    for text in (
        "000 00 15 h56 240315 0001",
        "Mã hồ sơ: 000.00.15.H56-24O315-OOO1",
        "000.00.15.h56.240315.0001",
    ):
        resp = central.get("/api/v1/dossiers/" + text)
        assert resp.status_code == 200, (text, resp.text)
        assert resp.json()["code"] == CODE


def test_lookup_not_found_and_invalid(central: Central) -> None:
    resp = central.get("/api/v1/dossiers/000.00.15.H56-240315-0099")
    assert resp.status_code == 404
    assert resp.json()["error"]["code"] == "not_found"
    assert "000.00.15.H56-240315-0099" in resp.json()["error"]["message"]
    resp = central.get("/api/v1/dossiers/000.00.15.H56-241315-0001")
    assert resp.status_code == 400
    assert resp.json()["error"] == {
        "code": "invalid",
        "message": "not a dossier code: 15/13/24 is not a date",
    }


def test_every_error_has_the_contract_body(central: Central) -> None:
    cases = [
        (central.get("/api/v1/nothing-here"), 404, "not_found"),
        (central.http.delete(central.url + "/api/v1/ratings", timeout=30), 405, "invalid"),
        (central.get("/api/v1/changes?limit=0"), 422, "invalid"),
        (
            central.post(
                "/api/v1/devices/enroll", data=b"{not json", headers={"Content-Type": "application/json"}
            ),
            422,
            "invalid",
        ),  # fmt: skip
        (central.post("/api/v1/ratings", json={}), 401, "unauthorized"),
        (central.post("/api/v1/ingest/records", json=[]), 401, "unauthorized"),
        (central.get("/api/v1/stats/000.99.99.H56?year=2024"), 404, "not_found"),
    ]
    for resp, status, code in cases:
        assert resp.status_code == status, resp.text
        err = resp.json()["error"]
        assert err["code"] == code and isinstance(err["message"], str)
        assert "\n" not in err["message"] and err["message"]


def test_validation_error_is_one_line_naming_the_field(central: Central) -> None:
    key = central.enroll()
    resp = central.post("/api/v1/ratings", json={"id": "r1", "code": CODE, "service": 4, "staff": 1},
                        headers={"Authorization": f"Bearer {key}"})  # fmt: skip
    assert resp.status_code == 422
    assert resp.json()["error"]["message"].startswith("service:")


def test_body_over_the_limit_is_413(tmp_path: Path) -> None:
    with serve(tmp_path / "c.db", max_body_bytes=1000) as c:
        resp = c.admin("/api/v1/ingest/records", data=b"[" + b" " * 5000 + b"]",
                       headers={"Content-Type": "application/json"})  # fmt: skip
        assert resp.status_code == 413 and resp.json()["error"]["code"] == "too_large"

        def chunks():  # no Content-Length: chunked transfer
            for _ in range(10):
                yield b" " * 500

        resp = c.admin("/api/v1/ingest/records", data=chunks(), headers={"Content-Type": "application/json"})
        assert resp.status_code == 413
        assert c.admin("/api/v1/ingest/records", json=[]).status_code == 200


def test_openapi_is_published(central: Central) -> None:
    doc = central.get("/openapi.json").json()
    for path in ("/api/v1/dossiers/{code}", "/api/v1/changes", "/api/v1/devices/enroll", "/api/v1/ratings",
                 "/api/v1/stats/{agency_id}", "/api/v1/ingest/dvcqg", "/api/v1/ingest/records"):  # fmt: skip
        assert path in doc["paths"], path


def test_enrollment_token_is_single_use_and_key_works(central: Central) -> None:
    assert central.post("/api/v1/admin/enrollment-tokens").status_code == 401
    bad = central.post("/api/v1/admin/enrollment-tokens", headers={"Authorization": "Bearer wrong"})
    assert bad.status_code == 401
    token = central.admin("/api/v1/admin/enrollment-tokens").json()["token"]
    first = central.post("/api/v1/devices/enroll", json={"token": token, "name": "Kiosk xã", "kind": "kiosk"})
    assert first.status_code == 201
    again = central.post("/api/v1/devices/enroll", json={"token": token, "name": "other", "kind": "kiosk"})
    assert again.status_code == 401 and "already used" in again.json()["error"]["message"]
    unknown = central.post("/api/v1/devices/enroll", json={"token": "enr_nope", "name": "x", "kind": "kiosk"})
    assert unknown.status_code == 401
    key = first.json()["api_key"]
    raw = central.db.read_bytes() + (central.db.with_name(central.db.name + "-wal").read_bytes())
    assert key.encode() not in raw and token.encode() not in raw  # stored hashed only


def test_enrollment_token_expires(central: Central) -> None:
    token = central.admin("/api/v1/admin/enrollment-tokens", json={"valid_hours": 1}).json()["token"]
    central.clock.now = NOW.replace(hour=12)
    resp = central.post("/api/v1/devices/enroll", json={"token": token, "name": "late", "kind": "gateway"})
    assert resp.status_code == 401 and "expired" in resp.json()["error"]["message"]


def test_heartbeat_needs_a_device_key_and_shows_on_fleet_page(central: Central) -> None:
    assert central.post("/api/v1/devices/heartbeat", json={"status": {}}).status_code == 401
    bad = central.post(
        "/api/v1/devices/heartbeat", json={"status": {}}, headers={"Authorization": "Bearer x"}
    )
    assert bad.status_code == 401
    key = central.enroll(name="<script>alert(1)</script>", kind="gateway")
    resp = central.post("/api/v1/devices/heartbeat", json={"status": {"modem": "ok", "queue": 3}},
                        headers={"Authorization": f"Bearer {key}"})  # fmt: skip
    assert resp.status_code == 204 and resp.content == b""
    # The fleet page is behind the staff sign-in now: tests/central/test_fleet_web.py covers it.
    page = central.get("/fleet", allow_redirects=False)
    assert page.status_code == 303 and page.headers["location"] == "/fleet/login"


def test_ratings_are_validated_and_idempotent(central: Central) -> None:
    auth = {"Authorization": f"Bearer {central.enroll()}"}
    rating = {"id": "r-1", "code": "000.00.15.h56 240315 0001", "service": 1, "staff": 2,
              "rated_at": "2024-03-20T09:00:00+07:00"}  # fmt: skip
    first = central.post("/api/v1/ratings", json=rating, headers=auth)
    assert first.status_code == 201
    assert first.json()["agency_id"] == "000.00.15.H56" and first.json()["code"] == CODE
    again = central.post("/api/v1/ratings", json={**rating, "service": 3}, headers=auth)
    assert again.status_code == 200 and again.json()["service"] == 1
    for bad in ({**rating, "id": ""}, {**rating, "staff": 0}, {**rating, "service": "2x"},
                {**rating, "service": True}, {k: v for k, v in rating.items() if k != "id"}):  # fmt: skip
        resp = central.post("/api/v1/ratings", json=bad, headers=auth)
        assert resp.status_code == 422 and resp.json()["error"]["code"] == "invalid", bad
    resp = central.post("/api/v1/ratings", json={**rating, "id": "r-2", "code": "hello"}, headers=auth)
    assert resp.status_code == 400
    resp = central.post("/api/v1/ratings", json={"id": "r-3", "service": 2, "staff": 2}, headers=auth)
    assert resp.status_code == 400 and "agency_id" in resp.json()["error"]["message"]


def test_reads_need_a_key_by_default(central: Central) -> None:
    central.admin("/api/v1/ingest/records", json=[record(owner_phone="0912345678", owner_id="035190001234")])
    for path in (f"/api/v1/dossiers/{CODE}", "/api/v1/changes", "/api/v1/agencies",
                 "/api/v1/stats/000.00.15.H56?year=2024"):  # fmt: skip
        resp = central.get(path, anonymous=True)
        assert resp.status_code == 401 and resp.json()["error"]["code"] == "unauthorized", path
    full = central.get(f"/api/v1/dossiers/{CODE}").json()  # an enrolled device: the full record
    assert full["applicant_name"] == "Nguyễn Văn An" and secret_matches(
        full["owner_phone_hash"], "0912345678"
    )


def test_open_reads_get_the_citizen_view_and_devices_the_full_record(make_central) -> None:
    with make_central(open_read=True) as c:
        c.admin("/api/v1/ingest/records", json=[record(owner_phone="0912345678", owner_id="035190001234")])
        public = c.get(f"/api/v1/dossiers/{CODE}", anonymous=True).json()
        assert public["applicant_name"] == "Nguyễn V. A." and public["status"] == 4
        assert public["owner_phone_hash"] == "" and public["owner_id4_hash"] == ""
        page = c.get("/api/v1/changes", anonymous=True)
        assert [i["applicant_name"] for i in page.json()["items"]] == ["Nguyễn V. A."]
        assert "sha256$" not in page.text
        device_page = c.get("/api/v1/changes")
        assert device_page.json()["items"][0]["applicant_name"] == "Nguyễn Văn An"
        assert device_page.headers["etag"] != page.headers["etag"]  # two representations, two tags
        again = c.get(
            "/api/v1/changes", anonymous=True, headers={"If-None-Match": device_page.headers["etag"]}
        )
        assert again.status_code == 200  # the device's tag does not validate the public view
        full = c.get(f"/api/v1/dossiers/{CODE}").json()
        assert full["applicant_name"] == "Nguyễn Văn An"
        assert secret_matches(full["owner_phone_hash"], "0912345678")
        assert secret_matches(full["owner_id4_hash"], "1234")
        admin = c.get(f"/api/v1/dossiers/{CODE}", headers={"Authorization": f"Bearer {ADMIN}"}).json()
        assert admin["owner_phone_hash"] == "" and admin["applicant_name"] == "Nguyễn V. A."
        unknown = c.get(f"/api/v1/dossiers/{CODE}", headers={"Authorization": "Bearer mck_nobody"})
        assert unknown.status_code == 401


def test_service_opens_a_bulk_seeded_database(tmp_path: Path) -> None:
    seed_bulk(tmp_path / "c.db", 50)
    with serve(tmp_path / "c.db") as c:
        assert c.get("/api/v1/health").json()["dossiers"] == 50
        agencies = c.get("/api/v1/agencies").json()["agencies"]
        assert sum(a["dossiers"] for a in agencies) == 50


def test_openapi_dossier_schema_is_derived_from_the_model(central: Central) -> None:
    """One source: the published dossier schema is the msgspec model's, so the two cannot drift."""
    import msgspec

    from dossier.model import Dossier, HistoryStep

    doc = central.get("/openapi.json").json()
    _, components = msgspec.json.schema_components([Dossier], ref_template="#/components/schemas/{name}")
    derived = msgspec.json.decode(msgspec.json.encode(components))  # as JSON, like the published document
    for name in ("Dossier", "HistoryStep", "Status"):
        assert doc["components"]["schemas"][name] == derived[name], name
    published = doc["components"]["schemas"]["Dossier"]
    assert set(published["properties"]) == set(Dossier.__struct_fields__)
    assert set(published["required"]) == {"code", "version", "status"}
    assert set(doc["components"]["schemas"]["HistoryStep"]["properties"]) == set(
        HistoryStep.__struct_fields__
    )
    lookup = doc["paths"]["/api/v1/dossiers/{code}"]["get"]["responses"]["200"]["content"]
    assert lookup["application/json"]["schema"] == {"$ref": "#/components/schemas/Dossier"}
    page = doc["components"]["schemas"]["ChangesPage"]["properties"]["items"]
    assert page["items"] == {"$ref": "#/components/schemas/Dossier"}
    rows = doc["components"]["schemas"]["DossierIn"]
    assert set(rows["properties"]) == set(Dossier.__struct_fields__) | {"owner_phone", "owner_id"}
    assert "version" not in rows["required"]
