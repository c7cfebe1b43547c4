"""``motcua central demo-codes|token|ingest`` (moved from tests/central with the CLI)."""

from __future__ import annotations

import argparse
import json
from datetime import datetime
from pathlib import Path

import pytest

from appliance.commands import central as commands
from appliance.config import config_from_dict
from central.demo import demo_secrets, load_demo
from central.store import CentralStore
from dossier.codes import parse_code
from dossier.model import VN_TZ

NOW = datetime(2024, 3, 20, 10, 30, tzinfo=VN_TZ)
CODE = "000.00.15.H56-240315-0001"
CSV_TEXT = (
    "code,status,procedure_name,applicant_name,received_at,due_at,finished_at,owner_phone,owner_id\n"
    "000.00.15.H56-240315-0002,9,Đăng ký kết hôn,Lê Thị Hoa,2024-03-15T09:00:00+07:00,20240318170000,"
    "20240318100000,,\n"
)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser()
    commands.register(p.add_subparsers())
    return p


def test_demo_codes_and_token_commands(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    config = config_from_dict({"central_service": {"db_path": str(tmp_path / "c.db")}})
    args = parser().parse_args(["central", "demo-codes", "-n", "10"])
    store = CentralStore(tmp_path / "c.db")
    try:
        load_demo(store, 400, NOW)
    finally:
        store.close()
    assert args.handler(args, config) == 0
    out = capsys.readouterr().out
    lines = [line.split() for line in out.splitlines() if line.startswith("  ")]
    assert len(lines) == 10
    assert {int(parts[1].strip("[]")) for parts in lines} == set(range(1, 11))
    first = lines[0][0]
    assert parse_code(first).value == first
    assert demo_secrets(first)["phone"] in out and "demo data" in out
    args = parser().parse_args(["central", "token", "--db", str(tmp_path / "c.db")])
    assert args.handler(args, config) == 0
    assert capsys.readouterr().out.strip().startswith("enr_")


def portal_record() -> dict[str, object]:
    return {"MaHoSo": CODE, "MaTTHC": "1.001193", "TenTTHC": "Đăng ký khai sinh", "ChuHoSo": "Trần Thị Bình",
            "LoaiDoiTuong": "1", "SoDienThoai": "+84 912 345 678", "SoGiayToChuHoSo": "035190001234",
            "NgayNopHoSo": "20240315071000", "NgayTiepNhan": "20240315081200", "NgayHenTra": "20240318170000",
            "TrangThaiHoSo": "4", "NgayTra": None, "NgayKetThucXuLy": "", "DonViXuLy": "UBND huyện Duy Tiên",
            "GhiChu": ""}  # fmt: skip


def test_cli_ingest_file(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    db = tmp_path / "c.db"
    config = config_from_dict({"central_service": {"db_path": str(db)}})
    payload = tmp_path / "portal.json"
    payload.write_text(
        json.dumps({"service": "DongBoHoSoMC", "data": [portal_record(), {"MaHoSo": "x"}]}), "utf-8"
    )
    args = parser().parse_args(["central", "ingest", str(payload), "--json"])
    assert args.handler(args, config) == 2
    report = json.loads(capsys.readouterr().out)
    assert report["accepted"] == 1 and report["rejected"][0]["index"] == 1
    csv_file = tmp_path / "export.csv"
    csv_file.write_text(CSV_TEXT, "utf-8")
    args = parser().parse_args(["central", "ingest", str(csv_file), "--db", str(db)])
    assert args.handler(args, config) == 0
    store = CentralStore(db)
    try:
        assert store.count() == 2
    finally:
        store.close()


def test_staff_add_reads_the_password_from_stdin_and_never_prints_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import io

    from appliance.cli import main
    from central.fleet_store import FleetStore, fleet_path_for
    from central.staff import list_staff

    db = tmp_path / "central.db"
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert main(["central", "staff", "add", "ana", "--db", str(db)]) == 2  # too short: one clear line
    monkeypatch.setattr("sys.stdin", io.StringIO("correct horse battery\n"))
    assert main(["central", "staff", "add", "ana", "--db", str(db)]) == 0
    monkeypatch.setattr("sys.stdin", io.StringIO("correct horse battery\n"))
    assert main(["central", "staff", "add", "ana", "--db", str(db)]) == 2  # exists: --replace needed
    out, err = capsys.readouterr()
    assert "correct horse" not in out + err and "characters" in err and "already exists" in err
    store = FleetStore(fleet_path_for(db))
    try:
        assert list_staff(store) == ["ana"]
    finally:
        store.close()
