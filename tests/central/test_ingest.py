"""Ingestion: national-portal payloads (DongBoHoSoMC, CapNhatTienDoHoSoMC), JSON records and CSV."""

from __future__ import annotations

from dossier.model import secret_matches
from tests.central.conftest import Central

CODE = "000.00.15.H56-240315-0001"


def portal_record(**extra: object) -> dict:
    return {"MaHoSo": CODE, "MaTTHC": "1.001193", "TenTTHC": "Đăng ký khai sinh", "ChuHoSo": "Trần Thị Bình",
            "LoaiDoiTuong": "1", "SoDienThoai": "+84 912 345 678", "SoGiayToChuHoSo": "035190001234",
            "NgayNopHoSo": "20240315071000", "NgayTiepNhan": "20240315081200", "NgayHenTra": "20240318170000",
            "TrangThaiHoSo": "4", "NgayTra": None, "NgayKetThucXuLy": "", "DonViXuLy": "UBND huyện Duy Tiên",
            "GhiChu": "", **extra}  # fmt: skip


def test_dvcqg_dossier_records(central: Central) -> None:
    payload = {"session": "x", "madonvi": "000.00.15.H56", "service": "DongBoHoSoMC", "data": [
        portal_record(),
        portal_record(MaHoSo="000.00.15.H56-240315-0002", TrangThaiHoSo="11"),
        portal_record(MaHoSo="000.00.15.H56-240315-0003", NgayHenTra="2024-03-18"),
        portal_record(MaHoSo="000.00.15.H56-241315-0004"),
        portal_record(MaHoSo="000.00.15.H56-240315-0005", TrangThaiHoSo=10, NgayKetThucXuLy="20240318100000",
                      NgayTra="20240318150000", ChuHoSo="Công ty TNHH Minh Phát", LoaiDoiTuong="2",
                      HoTenNguoiNop="Lê Văn Cường", SoDienThoai="12345"),
        "not an object",
    ]}  # fmt: skip
    resp = central.admin("/api/v1/ingest/dvcqg", json=payload)
    assert resp.status_code == 200, resp.text
    rep = resp.json()
    assert rep["accepted"] == 2
    reasons = {r["index"]: r["reason"] for r in rep["rejected"]}
    assert set(reasons) == {1, 2, 3, 5}
    assert "TrangThaiHoSo" in reasons[1] and "'11'" in reasons[1]
    assert "NgayHenTra" in reasons[2] and "yyyyMMddHHmmss" in reasons[2]
    assert "15/13/24 is not a date" in reasons[3]
    assert rep["warnings"] == [
        {"index": 4, "reason": "owner phone is not a Vietnamese phone number; not stored"}
    ]
    d = central.get(f"/api/v1/dossiers/{CODE}").json()
    assert d["status"] == 4 and d["procedure_code"] == "1.001193" and d["applicant_name"] == "Trần Thị Bình"
    assert d["received_at"] == "2024-03-15T08:12:00+07:00" and d["due_at"] == "2024-03-18T17:00:00+07:00"
    assert d["submitted_at"] == "2024-03-15T07:10:00+07:00" and d["handling_agency"] == "UBND huyện Duy Tiên"
    assert secret_matches(d["owner_phone_hash"], "0912345678")
    assert secret_matches(d["owner_id4_hash"], "1234")
    org = central.get("/api/v1/dossiers/000.00.15.H56-240315-0005").json()
    assert org["status"] == 10 and org["organisation"] == "Công ty TNHH Minh Phát"
    assert org["applicant_name"] == "Lê Văn Cường" and org["finished_at"] == "2024-03-18T10:00:00+07:00"
    assert org["owner_phone_hash"] == ""
    raw = b"".join(p.read_bytes() for p in central.db.parent.glob("central.db*"))
    assert b"0912345678" not in raw and b"035190001234" not in raw and b"912 345 678" not in raw


def test_dvcqg_progress_steps_append_to_history(central: Central) -> None:
    central.admin("/api/v1/ingest/dvcqg", json={"service": "DongBoHoSoMC", "data": [portal_record()]})
    step = {"MaHoSo": CODE, "NguoiXuLy": "Lê Văn Nam", "ChucDanh": "Chuyên viên", "ThoiDiemXuLy": "20240315100000",
            "PhongBanXuLy": "Phòng Tư pháp", "NoiDungXuLy": "Thẩm định hồ sơ", "TrangThai": "1",
            "NgayBatDau": "20240315081200", "NgayKetThucTheoQuyDinh": "20240318170000"}  # fmt: skip
    steps = [step, {**step, "ThoiDiemXuLy": "20240315090000", "NoiDungXuLy": "Tiếp nhận", "NguoiXuLy": "Hoa",
                    "PhongBanXuLy": "Bộ phận Một cửa"},
             {**step, "MaHoSo": "000.00.15.H56-240315-0099"}, {**step, "ThoiDiemXuLy": "hôm qua"}]  # fmt: skip
    rep = central.admin("/api/v1/ingest/dvcqg", json={"service": "CapNhatTienDoHoSoMC", "data": steps}).json()
    assert rep["accepted"] == 2
    assert [r["index"] for r in rep["rejected"]] == [2, 3]
    assert "DongBoHoSoMC" in rep["rejected"][0]["reason"] and "ThoiDiemXuLy" in rep["rejected"][1]["reason"]
    d = central.get(f"/api/v1/dossiers/{CODE}").json()
    assert [s["action"] for s in d["history"]] == ["Tiếp nhận", "Thẩm định hồ sơ"]
    assert d["handling_officer"] == "Lê Văn Nam" and d["handling_department"] == "Phòng Tư pháp"
    assert (
        d["history"][1]["deadline_at"] == "2024-03-18T17:00:00+07:00"
        and d["history"][1]["title"] == "Chuyên viên"
    )
    version = d["version"]
    # re-sending the same step and the same record changes nothing; the record keeps the history
    central.admin("/api/v1/ingest/dvcqg", json={"service": "CapNhatTienDoHoSoMC", "data": [step]})
    rep = central.admin(
        "/api/v1/ingest/dvcqg", json={"service": "DongBoHoSoMC", "data": [portal_record()]}
    ).json()
    assert rep["unchanged"] == 1
    again = central.get(f"/api/v1/dossiers/{CODE}").json()
    assert again["version"] == version and len(again["history"]) == 2


def test_dvcqg_supplement_list_becomes_history(central: Central) -> None:
    rec = portal_record(TrangThaiHoSo="5", NgayHenTra="20240322170000", DanhSachHoSoBoSung=[
        {"NgayBoSung": "20240316090000", "NoiDungBoSung": "thiếu bản sao CCCD", "NguoiYeuCauBoSung": "Lê Văn Nam",
         "NgayHenTraTruoc": "20240318170000", "NgayHenTraMoi": "20240322170000"}])  # fmt: skip
    rep = central.admin("/api/v1/ingest/dvcqg", json={"service": "DongBoHoSoMC", "data": [rec]}).json()
    assert rep["accepted"] == 1, rep
    d = central.get(f"/api/v1/dossiers/{CODE}").json()
    assert d["status"] == 5 and d["due_at"] == "2024-03-22T17:00:00+07:00"  # NgayHenTra as given
    assert d["history"][0]["action"] == "Yêu cầu bổ sung hồ sơ: thiếu bản sao CCCD"
    assert d["history"][0]["deadline_at"] == "2024-03-22T17:00:00+07:00"


def test_dvcqg_bad_payloads(central: Central) -> None:
    for payload, words in (({"service": "TraCuuHoSo", "data": []}, "service"), ({"service": "DongBoHoSoMC"}, "data"),
                           ([], "object")):  # fmt: skip
        resp = central.admin("/api/v1/ingest/dvcqg", json=payload)
        assert resp.status_code == 400 and words in resp.json()["error"]["message"]
    resp = central.admin("/api/v1/ingest/dvcqg", data=b"{oops", headers={"Content-Type": "application/json"})
    assert resp.status_code == 400 and "JSON" in resp.json()["error"]["message"]


CSV_TEXT = """code,status,procedure_name,applicant_name,received_at,due_at,finished_at,owner_phone,owner_id
000.00.15.H56-240315-0001,4,Đăng ký khai sinh,Nguyễn Văn An,15/03/2024 08:12,18/03/2024 17:00,,0912345678,035190001234
000.00.15.H56-240315-0002,9,Đăng ký kết hôn,Lê Thị Hoa,2024-03-15T09:00:00+07:00,20240318170000,20240318100000,,
000.00.15.H56-240315-0003,12,Đăng ký khai tử,Phạm Văn Đức,,,,,
000.00.15.H56-240315-0004,4,Chứng thực,Đỗ Văn Hùng,32/03/2024,,,,
bad code,4,x,y,,,,,
000.00.15.H56-240315-0006,4,x,y,,,,,,extra
"""


def test_csv_rows_are_validated_one_by_one(central: Central) -> None:
    resp = central.admin("/api/v1/ingest/records", data=CSV_TEXT.encode(),
                         headers={"Content-Type": "text/csv; charset=utf-8"})  # fmt: skip
    assert resp.status_code == 200, resp.text
    rep = resp.json()
    assert rep["accepted"] == 2
    reasons = {r["index"]: r["reason"] for r in rep["rejected"]}
    assert set(reasons) == {2, 3, 4, 5}
    assert "status" in reasons[2] and "received_at" in reasons[3] and "code" in reasons[4]
    assert "more fields" in reasons[5]
    one = central.get("/api/v1/dossiers/000.00.15.H56-240315-0001").json()
    assert one["received_at"] == "2024-03-15T08:12:00+07:00" and secret_matches(
        one["owner_phone_hash"], "0912345678"
    )
    two = central.get("/api/v1/dossiers/000.00.15.H56-240315-0002").json()
    assert two["due_at"] == "2024-03-18T17:00:00+07:00" and two["finished_at"] == "2024-03-18T10:00:00+07:00"


def test_csv_header_problems_are_one_line(central: Central) -> None:
    for text, words in (
        ("code,state\nx,1\n", "unknown CSV column 'state'"),
        ("code,note\nx,y\n", "'status'"),
    ):
        resp = central.admin(
            "/api/v1/ingest/records", data=text.encode(), headers={"Content-Type": "text/csv"}
        )
        assert resp.status_code == 400 and words in resp.json()["error"]["message"]


def test_json_records_with_bad_rows(central: Central) -> None:
    rows = [{"code": CODE, "status": 4, "received_at": "2024-03-15T08:12:00"},  # no offset: Vietnam time
            {"code": CODE.replace("0001", "0002"), "status": "four"}, 7,
            {"code": CODE.replace("0001", "0003"), "status": 4, "history": [{"action": "no time"}]}]  # fmt: skip
    rep = central.admin("/api/v1/ingest/records", json=rows).json()
    assert rep["accepted"] == 1 and [r["index"] for r in rep["rejected"]] == [1, 2, 3]
    assert central.get(f"/api/v1/dossiers/{CODE}").json()["received_at"] == "2024-03-15T08:12:00+07:00"


def test_one_transaction_per_request(central: Central) -> None:
    """A request that fails as a whole (not row by row) leaves nothing half-written."""
    rep = central.admin("/api/v1/ingest/records", json=[{"code": CODE, "status": 4}] * 2).json()
    assert rep["accepted"] == 2 and rep["unchanged"] == 1
    assert central.get(f"/api/v1/dossiers/{CODE}").json()["version"] == 1
