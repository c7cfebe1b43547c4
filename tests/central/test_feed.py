"""The changes feed: paging, cursors, ETag/304, expiry (410) and damaged cursors."""

from __future__ import annotations

from pathlib import Path

from central.store import CentralStore
from central.testing import seed_bulk
from tests.central.conftest import Central, serve

AGENCIES = ("000.00.15.H56", "000.00.14.H56", "000.17.15.H56")


def pull(c: Central, agencies=(), cursor=None, limit=None, etag=""):
    params: list[tuple[str, object]] = [("agency", a) for a in agencies]
    if cursor:
        params.append(("cursor", cursor))
    if limit:
        params.append(("limit", limit))
    return c.get("/api/v1/changes", params=params, headers={"If-None-Match": etag} if etag else {})


def drain(c: Central, agencies=(), cursor=None, limit=None) -> tuple[list[dict], str, int, str]:
    """Page until ``more`` is false; returns items, last cursor, pages, last ETag."""
    items: list[dict] = []
    pages = 0
    while True:
        resp = pull(c, agencies, cursor, limit)
        assert resp.status_code == 200, resp.text
        body = resp.json()
        items += body["items"]
        cursor, pages = body["cursor"], pages + 1
        if not body["more"]:
            return items, cursor, pages, resp.headers["etag"]


def change(c: Central, code: str, status: int) -> None:
    rep = c.admin("/api/v1/ingest/records", json=[{"code": code, "status": status}]).json()
    assert rep["accepted"] == 1, rep


def test_snapshot_pages_cover_every_dossier_once(tmp_path: Path) -> None:
    seed_bulk(tmp_path / "c.db", 1200, AGENCIES)
    with serve(tmp_path / "c.db") as c:
        items, _, pages, _ = drain(c, limit=500)
        assert pages == 3
        codes = [i["code"] for i in items]
        assert len(codes) == len(set(codes)) == 1200
        one, _, _, _ = drain(c, ["000.00.14.H56"], limit=150)
        assert len(one) == 400 and {i["agency_id"] for i in one} == {"000.00.14.H56"}
        two, _, _, _ = drain(c, ["000.17.15.H56", "000.00.14.H56"], limit=333)
        assert len(two) == 800 and {i["agency_id"] for i in two} == {"000.17.15.H56", "000.00.14.H56"}


def test_default_and_maximum_limit(tmp_path: Path) -> None:
    seed_bulk(tmp_path / "c.db", 5200, ("000.00.15.H56",))
    with serve(tmp_path / "c.db") as c:
        assert len(pull(c).json()["items"]) == 500
        page = pull(c, limit=100_000).json()
        assert len(page["items"]) == 5000 and page["more"] is True


def test_incremental_changes_after_cursor_and_304(tmp_path: Path) -> None:
    seed_bulk(tmp_path / "c.db", 30, AGENCIES)
    with serve(tmp_path / "c.db") as c:
        items, cursor, _, etag = drain(c, ["000.00.15.H56"])
        assert len(items) == 10
        assert pull(c, ["000.00.15.H56"], cursor, etag=etag).status_code == 304
        empty = pull(c, ["000.00.15.H56"], cursor)
        assert empty.status_code == 200 and empty.json() == {"items": [], "cursor": cursor, "more": False}
        code = items[3]["code"]
        old_version = items[3]["version"]
        change(c, code, 9)
        change(c, "000.00.14.H56-240101-0001", 2)  # another agency: not in this feed
        resp = pull(c, ["000.00.15.H56"], cursor, etag=etag)
        assert resp.status_code == 200
        page = resp.json()
        assert [i["code"] for i in page["items"]] == [code]
        assert page["items"][0]["status"] == 9 and page["items"][0]["version"] > old_version
        assert pull(c, ["000.00.15.H56"], page["cursor"], etag=resp.headers["etag"]).status_code == 304
        # a client that re-sends the old cursor with the old tag gets the change, not a 304
        assert pull(c, ["000.00.15.H56"], cursor, etag=etag).status_code == 200


def test_unchanged_reingest_is_not_a_change(central: Central) -> None:
    change(central, "000.00.15.H56-240101-0001", 4)
    _, cursor, _, etag = drain(central)
    rep = central.admin(
        "/api/v1/ingest/records", json=[{"code": "000.00.15.H56-240101-0001", "status": 4}]
    ).json()
    assert rep["accepted"] == 1 and rep["unchanged"] == 1
    assert pull(central, cursor=cursor, etag=etag).status_code == 304


def test_cursor_below_compacted_horizon_is_410(tmp_path: Path) -> None:
    seed_bulk(tmp_path / "c.db", 20, ("000.00.15.H56",))
    with serve(tmp_path / "c.db") as c:
        first = pull(c, limit=5).json()
        snapshot_cursor = first["cursor"]
        _, caught_up, _, _ = drain(c)
        for n in range(1, 16):
            change(c, f"000.00.15.H56-240101-{n:04d}", 4)
        store = CentralStore(tmp_path / "c.db")
        try:
            assert store.log_size() == 35
            removed = store.compact(retention=10)
            assert store.log_size() == 10 and removed == 25
        finally:
            store.close()
        resp = pull(c, cursor=caught_up)
        assert resp.status_code == 410 and resp.json()["error"]["code"] == "cursor_expired"
        # a snapshot in progress reads the current table, so it stays valid and completes
        rest, _, _, _ = drain(c, cursor=snapshot_cursor)
        assert len({i["code"] for i in first["items"]} | {i["code"] for i in rest}) == 35
        again, _, _, _ = drain(c)  # restarting without a cursor always works
        assert len(again) == 35


def test_cursor_from_reset_database_or_other_agencies_is_410(tmp_path: Path) -> None:
    seed_bulk(tmp_path / "a.db", 5, ("000.00.15.H56",))
    seed_bulk(tmp_path / "b.db", 5, ("000.00.15.H56",))
    with serve(tmp_path / "a.db") as a:
        _, cursor, _, _ = drain(a, ["000.00.15.H56"])
        other = pull(a, ["000.00.14.H56"], cursor)
        assert other.status_code == 410 and "agencies" in other.json()["error"]["message"]
    with serve(tmp_path / "b.db") as b:
        resp = pull(b, ["000.00.15.H56"], cursor)
        assert resp.status_code == 410 and resp.json()["error"]["code"] == "cursor_expired"


def test_forged_or_damaged_cursor_is_400(central: Central) -> None:
    change(central, "000.00.15.H56-240101-0001", 4)
    _, cursor, _, _ = drain(central)
    tampered = cursor[:-3] + ("AAA" if cursor[-3:] != "AAA" else "BBB")
    for bad in (tampered, "hello", "!!!", cursor + "xx"):
        resp = pull(central, cursor=bad)
        assert resp.status_code == 400 and resp.json()["error"]["code"] == "invalid", bad
