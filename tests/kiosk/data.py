"""Dossiers for the kiosk tests: one per state, with history, in Vietnamese."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from dossier.lookup import LookupResult, Outcome
from dossier.model import VN_TZ, Dossier, HistoryStep, Status

NOW = datetime.now(VN_TZ).replace(microsecond=0)
AGENCY = "000.00.15.H56"


def code_for(status: Status, seq: int = 0) -> str:
    """A national code, distinct per state."""
    day = (NOW - timedelta(days=3)).strftime("%y%m%d")
    return f"{AGENCY}-{day}-{int(status) + seq * 20:04d}"


def dossier(status: Status, *, overdue: bool = False, seq: int = 0) -> Dossier:
    """A plausible dossier in ``status``; ``overdue`` puts the due date in the past."""
    received = NOW - timedelta(days=3, hours=2)
    due = NOW - timedelta(days=1) if overdue else NOW + timedelta(days=4)
    finished = NOW - timedelta(hours=5) if status in (Status.FINISHED, Status.RETURNED) else None
    steps = (
        HistoryStep(at=received, action="Tiếp nhận hồ sơ, hẹn trả kết quả", officer="Trần Thị Hoa",
                    title="Công chức tiếp nhận", department="Bộ phận Một cửa", state="2"),
        HistoryStep(at=received + timedelta(hours=3), action="Thẩm định hồ sơ", officer="Lê Văn Nam",
                    title="Chuyên viên", department="Phòng Tư pháp", state="4"),
    )  # fmt: skip
    return Dossier(
        code=code_for(status, seq),
        version=1,
        status=status,
        agency_id=AGENCY,
        agency_name="UBND huyện Duy Tiên",
        procedure_code="1.001193",
        procedure_name="Đăng ký khai sinh",
        applicant_name="Nguyễn Văn Ánh",
        submitted_at=received,
        received_at=received,
        due_at=due,
        finished_at=finished,
        returned_at=finished if status is Status.RETURNED else None,
        handling_agency="UBND huyện Duy Tiên",
        handling_department="Phòng Tư pháp",
        handling_officer="Lê Văn Nam",
        note="thiếu bản sao Giấy khai sinh" if status is Status.SUPPLEMENT_REQUESTED else "",
        updated_at=received + timedelta(hours=3),
        history=steps,
    )


def found(d: Dossier, source: str = "cache", age: float = 5.0) -> LookupResult:
    """A FOUND answer for ``d``."""
    return LookupResult(d.code, Outcome.FOUND, d, source, datetime.now(UTC) - timedelta(seconds=age), age)


STATS = {
    "agency_id": AGENCY, "period": {"year": NOW.year, "month": NOW.month}, "received": 40, "new": 30,
    "carried_over": 10, "finished": {"early": 10, "on_time": 15, "late": 5},
    "unfinished": {"in_time": 8, "overdue": 2}, "on_time_rate": 0.8333,
}  # fmt: skip
