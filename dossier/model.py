"""The dossier model: what the regulation requires a lookup to show, and its JSON wire form.

States follow the national portal's ``TrangThaiHoSo`` codes (1–10) that provincial one-stop systems
already use. Times are timezone-aware, in Vietnam time (UTC+7, no daylight saving). Overdue is derived
from the due date as the source gives it; it is never recomputed from working days.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from enum import IntEnum
from typing import Any

from dossier.errors import InvalidRecord

VN_TZ = timezone(timedelta(hours=7), "ICT")


class Status(IntEnum):
    """A dossier's state, numbered as the national portal's ``TrangThaiHoSo``."""

    SUBMITTED_ONLINE = 1
    ACCEPTED = 2
    NOT_ACCEPTED = 3
    IN_PROGRESS = 4
    SUPPLEMENT_REQUESTED = 5
    FEES_DUE = 6
    WITHDRAWN = 7
    STOPPED = 8
    FINISHED = 9
    RETURNED = 10

    @property
    def vi(self) -> str:
        """Plain Vietnamese wording for citizens."""
        return _WORDING[self][0]

    @property
    def en(self) -> str:
        """Plain English wording for citizens."""
        return _WORDING[self][1]

    @property
    def portal_name(self) -> str:
        """The national portal's own name of the state."""
        return _WORDING[self][2]

    @property
    def ends_processing(self) -> bool:
        """Whether the agency's processing has ended (Decision 766: finished, returned, stopped, refused)."""
        return self in (Status.NOT_ACCEPTED, Status.STOPPED, Status.FINISHED, Status.RETURNED)

    @property
    def is_closed(self) -> bool:
        """Whether nothing more will happen (result returned, refused, withdrawn, stopped)."""
        return self in (Status.NOT_ACCEPTED, Status.WITHDRAWN, Status.STOPPED, Status.RETURNED)

    @property
    def waits_on_citizen(self) -> bool:
        """Whether the citizen must act (supplement papers, pay fees); that time is not the agency's."""
        return self in (Status.SUPPLEMENT_REQUESTED, Status.FEES_DUE)


_WORDING: dict[Status, tuple[str, str, str]] = {
    Status.SUBMITTED_ONLINE: (
        "Đã nộp trực tuyến, chờ tiếp nhận",
        "Submitted online, waiting to be accepted",
        "Mới đăng ký",
    ),
    Status.ACCEPTED: ("Đã tiếp nhận hồ sơ", "Accepted at the desk", "Được tiếp nhận"),
    Status.NOT_ACCEPTED: ("Hồ sơ không được tiếp nhận", "Not accepted", "Không được tiếp nhận"),
    Status.IN_PROGRESS: ("Đang giải quyết", "Being processed", "Đang xử lý"),
    Status.SUPPLEMENT_REQUESTED: (
        "Cần bổ sung giấy tờ, vui lòng liên hệ bộ phận một cửa",
        "More documents needed: please contact the one-stop desk",
        "Yêu cầu bổ sung giấy tờ",
    ),
    Status.FEES_DUE: (
        "Cần nộp phí, lệ phí hoặc thuế",
        "Fees or taxes to pay",
        "Yêu cầu thực hiện nghĩa vụ tài chính",
    ),
    Status.WITHDRAWN: ("Đã rút hồ sơ theo yêu cầu", "Withdrawn at your request", "Công dân yêu cầu rút hồ sơ"),
    Status.STOPPED: ("Đã dừng xử lý", "Processing stopped", "Dừng xử lý"),
    Status.FINISHED: (
        "Đã có kết quả, mời đến nhận",
        "Result ready: please come to collect it",
        "Đã xử lý xong",
    ),
    Status.RETURNED: ("Đã trả kết quả", "Result handed over", "Đã trả kết quả"),
}


@dataclass(frozen=True, slots=True)
class HistoryStep:
    """One processing step, with the national portal's step fields."""

    at: datetime  # ThoiDiemXuLy
    action: str  # NoiDungXuLy
    officer: str = ""  # NguoiXuLy
    title: str = ""  # ChucDanh
    department: str = ""  # PhongBanXuLy
    state: str = ""  # TrangThai
    started_at: datetime | None = None  # NgayBatDau
    deadline_at: datetime | None = None  # NgayKetThucTheoQuyDinh


@dataclass(frozen=True, slots=True)
class Dossier:
    """A dossier's state as a lookup shows it (003 Art. 12.3, 001 Art. 5.3)."""

    code: str
    version: int
    status: Status
    agency_id: str
    agency_name: str = ""
    procedure_code: str = ""
    procedure_name: str = ""
    applicant_name: str = ""
    organisation: str = ""
    submitted_at: datetime | None = None
    received_at: datetime | None = None
    due_at: datetime | None = None
    finished_at: datetime | None = None
    returned_at: datetime | None = None
    handling_agency: str = ""
    handling_department: str = ""
    handling_officer: str = ""
    note: str = ""
    updated_at: datetime | None = None
    history: tuple[HistoryStep, ...] = field(default_factory=tuple)
    owner_phone_hash: str = ""
    owner_id4_hash: str = ""

    def is_overdue(self, now: datetime) -> bool:
        """Late: processing ended after the due date, or has not ended and the due date has passed."""
        if self.due_at is None:
            return False
        if self.status.ends_processing:
            end = self.finished_at or self.returned_at
            return end is not None and end > self.due_at
        if self.status in (Status.WITHDRAWN, Status.SUBMITTED_ONLINE):
            return False
        return now > self.due_at

    def to_json(self) -> dict[str, Any]:
        """The contract's JSON object for this dossier."""
        return {
            "code": self.code,
            "version": self.version,
            "status": int(self.status),
            "agency_id": self.agency_id,
            "agency_name": self.agency_name,
            "procedure_code": self.procedure_code,
            "procedure_name": self.procedure_name,
            "applicant_name": self.applicant_name,
            "organisation": self.organisation,
            "submitted_at": _iso(self.submitted_at),
            "received_at": _iso(self.received_at),
            "due_at": _iso(self.due_at),
            "finished_at": _iso(self.finished_at),
            "returned_at": _iso(self.returned_at),
            "handling_agency": self.handling_agency,
            "handling_department": self.handling_department,
            "handling_officer": self.handling_officer,
            "note": self.note,
            "updated_at": _iso(self.updated_at),
            "history": [
                {
                    "at": _iso(s.at),
                    "action": s.action,
                    "officer": s.officer,
                    "title": s.title,
                    "department": s.department,
                    "state": s.state,
                    "started_at": _iso(s.started_at),
                    "deadline_at": _iso(s.deadline_at),
                }
                for s in self.history
            ],
            "owner_phone_hash": self.owner_phone_hash,
            "owner_id4_hash": self.owner_id4_hash,
        }

    @classmethod
    def from_json(cls, data: Any) -> Dossier:
        """Validate a contract JSON object; raises ``InvalidRecord`` naming the bad field."""
        if not isinstance(data, dict):
            raise InvalidRecord(f"dossier must be a JSON object, not {type(data).__name__}")
        r = _Reader(data)
        status_raw = r.int("status")
        try:
            status = Status(status_raw)
        except ValueError:
            raise InvalidRecord(f"status: {status_raw} is not a state code 1–10") from None
        history_raw = data.get("history") or []
        if not isinstance(history_raw, list):
            raise InvalidRecord("history must be a list")
        steps = []
        for i, item in enumerate(history_raw):
            if not isinstance(item, dict):
                raise InvalidRecord(f"history[{i}] must be an object")
            s = _Reader(item, f"history[{i}].")
            at = s.time("at")
            if at is None:
                raise InvalidRecord(f"history[{i}].at is required")
            steps.append(
                HistoryStep(
                    at=at,
                    action=s.str("action"),
                    officer=s.str("officer"),
                    title=s.str("title"),
                    department=s.str("department"),
                    state=s.str("state"),
                    started_at=s.time("started_at"),
                    deadline_at=s.time("deadline_at"),
                )
            )
        code = r.str("code")
        if not code:
            raise InvalidRecord("code is required")
        version = r.int("version")
        if version < 0:
            raise InvalidRecord("version must not be negative")
        return cls(
            code=code,
            version=version,
            status=status,
            agency_id=r.str("agency_id"),
            agency_name=r.str("agency_name"),
            procedure_code=r.str("procedure_code"),
            procedure_name=r.str("procedure_name"),
            applicant_name=r.str("applicant_name"),
            organisation=r.str("organisation"),
            submitted_at=r.time("submitted_at"),
            received_at=r.time("received_at"),
            due_at=r.time("due_at"),
            finished_at=r.time("finished_at"),
            returned_at=r.time("returned_at"),
            handling_agency=r.str("handling_agency"),
            handling_department=r.str("handling_department"),
            handling_officer=r.str("handling_officer"),
            note=r.str("note"),
            updated_at=r.time("updated_at"),
            history=tuple(steps),
            owner_phone_hash=r.str("owner_phone_hash"),
            owner_id4_hash=r.str("owner_id4_hash"),
        )


MAX_TEXT = 2000


class _Reader:
    """Typed field access over a JSON object, raising ``InvalidRecord`` with the field name."""

    def __init__(self, data: dict[str, Any], prefix: str = "") -> None:
        self.data = data
        self.prefix = prefix

    def str(self, key: str) -> str:
        value = self.data.get(key)
        if value is None:
            return ""
        if not isinstance(value, str):
            raise InvalidRecord(f"{self.prefix}{key} must be text, not {type(value).__name__}")
        if len(value) > MAX_TEXT:
            raise InvalidRecord(f"{self.prefix}{key} is longer than {MAX_TEXT} characters")
        return value

    def int(self, key: str) -> int:
        value = self.data.get(key)
        if isinstance(value, bool) or not isinstance(value, int):
            raise InvalidRecord(f"{self.prefix}{key} must be an integer, not {type(value).__name__}")
        return value

    def time(self, key: str) -> datetime | None:
        value = self.data.get(key)
        if value is None or value == "":
            return None
        if not isinstance(value, str):
            raise InvalidRecord(f"{self.prefix}{key} must be an ISO 8601 time text")
        return parse_time(value, f"{self.prefix}{key}")


def parse_time(value: str, name: str = "time") -> datetime:
    """ISO 8601 text → aware datetime; a time without offset is Vietnam time."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidRecord(f"{name}: {value[:40]!r} is not an ISO 8601 time") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=VN_TZ)


def parse_portal_time(value: str, name: str = "time") -> datetime:
    """The national portal's ``yyyyMMddHHmmss`` (Vietnam time) → aware datetime."""
    text = value.strip()
    try:
        if len(text) == 14 and text.isdigit():
            return datetime.strptime(text, "%Y%m%d%H%M%S").replace(tzinfo=VN_TZ)
        if len(text) == 8 and text.isdigit():
            return datetime.strptime(text, "%Y%m%d").replace(tzinfo=VN_TZ)
    except ValueError:
        pass
    raise InvalidRecord(f"{name}: {value[:40]!r} is not a yyyyMMddHHmmss time")


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


# --- Second-factor hashes: the model never holds the phone or ID number itself. -------------------


def normalise_phone(raw: str) -> str:
    """Vietnamese phone number in national form (``0912345678``); raises ``InvalidRecord`` if not one."""
    digits = "".join(c for c in raw if c.isdigit())
    if raw.strip().startswith("+84") or (digits.startswith("84") and len(digits) in (11, 12)):
        digits = "0" + digits[2:]
    if not (digits.startswith("0") and len(digits) in (10, 11)):
        raise InvalidRecord("not a Vietnamese phone number")
    return digits


def secret_hash(secret: str, salt: str | None = None) -> str:
    """Salted hash ``sha256$<salt>$<hex>`` of a phone number or ID digits."""
    salt = salt or secrets.token_hex(8)
    digest = hashlib.sha256(f"{salt}:{secret}".encode()).hexdigest()
    return f"sha256${salt}${digest}"


def secret_matches(stored: str, secret: str) -> bool:
    """Whether ``secret`` hashes to ``stored`` (constant-time comparison)."""
    try:
        scheme, salt, _ = stored.split("$", 2)
    except ValueError:
        return False
    if scheme != "sha256":
        return False
    return hmac.compare_digest(secret_hash(secret, salt), stored)
