"""Bad data never crashes central: each bad row is rejected with its reason, the good ones are kept.

Found by fuzzing (issue 7 §3): versions over SQLite's integer, dates far outside any dossier's life,
non-ASCII credentials, deep JSON, a supplement list that is not a list, CSV digits that are not 0–9,
CSV fields over the csv module's limit, and an anonymous upload read in full before its 401.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.central.conftest import Central

CODE = "000.00.15.H56-240315-0001"
CODE2 = "000.00.15.H56-240315-0002"
ROOT = Path(__file__).resolve().parents[2]


def record(code: str = CODE, **extra: object) -> dict:
    return {"code": code, "status": 4, "applicant_name": "Nguyễn Văn An",
            "received_at": "2024-03-15T08:12:00+07:00", **extra}  # fmt: skip


def portal(code: str = CODE, **extra: object) -> dict:
    return {"MaHoSo": code, "TenTTHC": "Đăng ký khai sinh", "ChuHoSo": "Trần Thị Bình",
            "NgayTiepNhan": "20240315081200", "NgayHenTra": "20240318170000", "TrangThaiHoSo": "4",
            **extra}  # fmt: skip


def reasons(report: dict) -> dict[int, str]:
    return {r["index"]: r["reason"] for r in report["rejected"]}


def ingest(central: Central, rows: object, path: str = "/api/v1/ingest/records") -> dict:
    resp = central.admin(path, json=rows)
    assert resp.status_code == 200, resp.text
    return resp.json()


def test_versions_that_do_not_fit_sqlite_are_rejected_per_row(central: Central) -> None:
    rep = ingest(
        central, [record(version=2**63), record(CODE2, version=2**63 - 1), record("x", version=2**70)]
    )
    assert rep["accepted"] == 1
    why = reasons(rep)
    assert set(why) == {0, 2} and "version" in why[0]
    # the stored version is the largest: the next change would not fit either
    rep = ingest(central, [record(CODE2, status=9, finished_at="2024-03-18T10:00:00+07:00"), record()])
    assert rep["accepted"] == 1 and "version" in reasons(rep)[0] and "64-bit" in reasons(rep)[0]
    assert central.get(f"/api/v1/dossiers/{CODE2}").json()["status"] == 4  # nothing half-written
    assert central.get(f"/api/v1/dossiers/{CODE}").status_code == 200


def test_dates_outside_the_sane_window_are_rejected_per_row(central: Central) -> None:
    rep = ingest(central, [record(due_at="9999-12-31T23:59:59-12:00"), record(CODE2),
                           record("000.00.15.H56-240315-0003", received_at="0001-01-01T00:00:00+14:00"),
                           record("000.00.15.H56-240315-0004", history=[{"at": "1899-01-01T00:00:00+07:00"}])])  # fmt: skip
    assert rep["accepted"] == 1 and set(reasons(rep)) == {0, 2, 3}
    assert "due_at" in reasons(rep)[0] and "2100" in reasons(rep)[0]
    rep = ingest(central, {"service": "DongBoHoSoMC", "data": [portal(NgayHenTra="99991231235959"),
                                                                  portal(CODE2)]}, "/api/v1/ingest/dvcqg")  # fmt: skip
    assert rep["accepted"] == 1 and "NgayHenTra" in reasons(rep)[0] and "2100" in reasons(rep)[0]
    csv = "code,status,due_at\n" + f"{CODE},4,31/12/9999\n{CODE2},4,18/03/2024\n"
    resp = central.admin("/api/v1/ingest/records", data=csv.encode(), headers={"Content-Type": "text/csv"})
    assert resp.status_code == 200 and resp.json()["accepted"] == 1 and set(reasons(resp.json())) == {0}


def test_rating_dated_year_one_is_422(central: Central) -> None:
    auth = {"Authorization": f"Bearer {central.enroll()}"}
    for when in ("0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-12:00"):
        resp = central.post("/api/v1/ratings", headers=auth,
                            json={"id": "r-1", "code": CODE, "service": 1, "staff": 1, "rated_at": when})  # fmt: skip
        assert resp.status_code == 422, resp.text
        assert resp.json()["error"]["message"].startswith("rated_at:")
    resp = central.post("/api/v1/ratings", headers=auth, json={"id": "r-\ud800", "code": CODE, "service": 1,
                                                                "staff": 1})  # fmt: skip
    assert resp.status_code in (400, 422), resp.text


@pytest.mark.parametrize(
    "header",
    [
        b"Bearer \xc4\x91\xc3\xa2y-l\xc3\xa0-kh\xc3\xb3a",
        "Bearer đây".encode("latin-1", "replace"),
        b"Bearer \xff\xfe",
    ],
)
def test_non_ascii_credentials_are_401(central: Central, header: bytes) -> None:
    for path in ("/api/v1/admin/enrollment-tokens", "/api/v1/ingest/records", "/api/v1/ratings"):
        resp = central.post(path, json=[], headers={"Authorization": header})
        assert resp.status_code == 401, (path, resp.text)
        assert resp.json()["error"]["code"] == "unauthorized"
    resp = central.get(f"/api/v1/dossiers/{CODE}", headers={"Authorization": header})
    assert resp.status_code == 401
    resp = central.post("/api/v1/ingest/records", json=[], headers={"X-Api-Key": b"kh\xc3\xb3a"})
    assert resp.status_code == 401


@pytest.mark.parametrize("depth", [100, 1000, 100_000])
def test_deeply_nested_json_is_refused_whole(central: Central, depth: int) -> None:
    deep = b"[" * depth + b"]" * depth
    for path, body in (("/api/v1/ingest/records", deep),
                       ("/api/v1/ingest/dvcqg", b'{"service": "DongBoHoSoMC", "data": [' + deep + b"]}"),
                       ("/api/v1/ingest/records", b'[{"code": "' + CODE.encode() + b'", "note": ' + deep + b"}]")):  # fmt: skip
        resp = central.admin(path, data=body, headers={"Content-Type": "application/json"})
        assert resp.status_code == 400, (path, resp.text[:200])
        assert "nested deeper" in resp.json()["error"]["message"]


def test_supplement_list_that_is_not_a_list_rejects_that_row(central: Central) -> None:
    rows = [portal(DanhSachHoSoBoSung=5), portal(CODE2, DanhSachHoSoBoSung="thiếu CCCD"),
            portal("000.00.15.H56-240315-0003", DanhSachHoSoBoSung={"NgayBoSung": "20240316090000"}),
            portal("000.00.15.H56-240315-0004", DanhSachHoSoBoSung=["x"]),
            portal("000.00.15.H56-240315-0005", DanhSachHoSoBoSung=[]),
            portal("000.00.15.H56-240315-0006", TrangThaiHoSo="١")]  # fmt: skip
    rep = ingest(central, {"service": "DongBoHoSoMC", "data": rows}, "/api/v1/ingest/dvcqg")
    assert rep["accepted"] == 1
    why = reasons(rep)
    assert set(why) == {0, 1, 2, 3, 5}
    assert all("DanhSachHoSoBoSung" in why[i] for i in (0, 1, 2, 3)) and "TrangThaiHoSo" in why[5]
    assert central.get("/api/v1/dossiers/000.00.15.H56-240315-0005").status_code == 200


def test_csv_digits_that_are_not_ascii_and_oversized_fields_reject_their_rows(central: Central) -> None:
    big = "x" * 200_000
    text = (f"code,status,note\n{CODE},²,a\n{CODE2},4,ok\n000.00.15.H56-240315-0003,4,{big}\n"
            f'000.00.15.H56-240315-0004,9,"{big}"\n000.00.15.H56-240315-0005,१,b\n'
            "000.00.15.H56-240315-0006,10,fine\n")  # fmt: skip
    resp = central.admin("/api/v1/ingest/records", data=text.encode(), headers={"Content-Type": "text/csv"})
    assert resp.status_code == 200, resp.text
    rep = resp.json()
    assert rep["accepted"] == 2
    why = reasons(rep)
    assert set(why) == {0, 2, 3, 4}
    assert "status" in why[0] and "field limit" in why[2] and "field limit" in why[3] and "status" in why[4]
    assert central.get("/api/v1/dossiers/000.00.15.H56-240315-0006").json()["status"] == 10


def read_answer(sock: socket.socket) -> str:
    """Status line, headers and body of one HTTP answer (each recv bounded by the socket's timeout)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65_536)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                   if line.lower().startswith(b"content-length:")), 0)  # fmt: skip
    while len(body) < length:
        chunk = sock.recv(65_536)
        if not chunk:
            break
        body += chunk
    return (head + b"\r\n\r\n" + body).decode("latin-1")


def test_anonymous_huge_upload_is_401_before_its_body_is_read(central: Central) -> None:
    """Only the headers and 8 KB of a declared 19 MB body are sent: the answer must come anyway."""
    parts = urlsplit(central.url)
    for path, headers in (("/api/v1/ingest/records", ""), ("/api/v1/ratings", ""),
                          ("/api/v1/ingest/dvcqg", "Authorization: Bearer mck_unknown\r\n"),
                          ("/api/v1/admin/enrollment-tokens", f"X-Api-Key: {central.enroll()}\r\n")):  # fmt: skip
        with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
            sock.sendall(
                f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n{headers}"
                f"Content-Length: {19_000_000}\r\n\r\n".encode()
                + b"[" * 8192
            )
            answer = read_answer(sock)
        assert answer.startswith("HTTP/1.1 401"), (path, answer[:200])
        assert '"unauthorized"' in answer


def test_body_limit_counts_while_reading_for_authenticated_callers(make_central) -> None:
    with make_central(max_body_bytes=10_000) as c:
        key = c.enroll()

        def chunks():  # chunked: no Content-Length to check up front
            for _ in range(40):
                yield b" " * 1000

        resp = c.post("/api/v1/ratings", data=chunks(),
                      headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"})  # fmt: skip
        assert resp.status_code == 413 and resp.json()["error"]["code"] == "too_large"
        resp = c.admin("/api/v1/ingest/records", data=chunks(), headers={"Content-Type": "application/json"})
        assert resp.status_code == 413


def test_cli_ingest_prints_the_report_never_a_traceback(tmp_path: Path) -> None:
    db = tmp_path / "c.db"
    bad_csv = tmp_path / "bad.csv"
    bad_csv.write_text(f"code,status,note\n{CODE},²,a\n{CODE2},4,{'x' * 200_000}\n"
                       "000.00.15.H56-240315-0003,4,ok\n", "utf-8")  # fmt: skip
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 5000 + "]" * 5000, "utf-8")
    portal_file = tmp_path / "portal.json"
    portal_file.write_text(json.dumps({"service": "DongBoHoSoMC", "data": [
        portal(DanhSachHoSoBoSung=7), portal(CODE2, NgayHenTra="99991231235959"),
        portal("000.00.15.H56-240315-0004")]}), "utf-8")  # fmt: skip
    for path, code, words in ((bad_csv, 2, ["row 0:", "row 1:", "field limit"]),
                              (deep, 2, ["nested deeper"]),
                              (portal_file, 2, ["row 0:", "DanhSachHoSoBoSung", "row 1:"])):  # fmt: skip
        proc = subprocess.run(
            [sys.executable, "-m", "appliance.cli", "--data-dir", str(tmp_path), "central", "ingest", str(path),
             "--db", str(db)],
            capture_output=True, text=True, timeout=120, cwd=ROOT,
        )  # fmt: skip
        out = proc.stdout + proc.stderr
        assert proc.returncode == code, out
        assert "Traceback" not in out
        assert all(w in out for w in words), out
