"""Dossier factory for tests."""

from __future__ import annotations

from datetime import datetime, timedelta

from msgspec.structs import replace

from dossier.model import VN_TZ, Dossier, HistoryStep, Status

BASE = datetime(2026, 11, 10, 8, 30, tzinfo=VN_TZ)


def make_dossier(
    n: int = 1,
    *,
    version: int = 1,
    status: Status = Status.IN_PROGRESS,
    agency: str = "000.00.15.H56",
    **kw: object,
) -> Dossier:
    """A valid dossier numbered ``n`` (sequence number of the code)."""
    d = Dossier(
        code=f"{agency}-261110-{n:04d}",
        version=version,
        status=status,
        agency_id=agency,
        agency_name="UBND huyện Duy Tiên",
        procedure_code="1.001193",
        procedure_name="Đăng ký khai sinh",
        applicant_name="Nguyễn Văn An",
        submitted_at=BASE,
        received_at=BASE,
        due_at=BASE + timedelta(days=5),
        handling_agency="Phòng Tư pháp",
        handling_department="Bộ phận hộ tịch",
        handling_officer="Trần Thị Bình",
        updated_at=BASE + timedelta(minutes=version),
        history=(HistoryStep(at=BASE, action="Tiếp nhận hồ sơ", officer="Lê Văn C", department="Một cửa"),),
    )
    return replace(d, **kw)
