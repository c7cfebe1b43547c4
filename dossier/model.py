"""The dossier model: what the regulation requires a lookup to show, and its JSON wire form.

States follow the national portal's ``TrangThaiHoSo`` codes (1–10) that provincial one-stop systems
already use. Times are timezone-aware, in Vietnam time (UTC+7, no daylight saving). Overdue is derived
from the due date as the source gives it; it is never recomputed from working days.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta, timezone
from enum import IntEnum
from typing import Annotated, Any

import msgspec

from dossier.errors import InvalidRecord

VN_TZ = timezone(timedelta(hours=7), "ICT")
MAX_TEXT = 2000
MAX_CODE = 200
MAX_HASH = 200
MAX_HISTORY = 200
MAX_VERSION = 2**63 - 1  # SQLite's INTEGER is a signed 64-bit number
FIRST_YEAR, LAST_YEAR = 2000, 2100  # a time's own year (in its offset): no conversion can overflow then
# Bumped whenever validation gets stricter: cached rows written under an older revision are checked
# again when read (a row that no longer decodes is a cache miss), newer ones are trusted and decoded lazily.
MODEL_REVISION = 2


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
    Status.WITHDRAWN: (
        "Đã rút hồ sơ theo yêu cầu",
        "Withdrawn at your request",
        "Công dân yêu cầu rút hồ sơ",
    ),
    Status.STOPPED: ("Đã dừng xử lý", "Processing stopped", "Dừng xử lý"),
    Status.FINISHED: (
        "Đã có kết quả, mời đến nhận",
        "Result ready: please come to collect it",
        "Đã xử lý xong",
    ),
    Status.RETURNED: ("Đã trả kết quả", "Result handed over", "Đã trả kết quả"),
}


Text = Annotated[str, msgspec.Meta(max_length=MAX_TEXT)]
Hash = Annotated[str, msgspec.Meta(max_length=MAX_HASH)]
Version = Annotated[int, msgspec.Meta(ge=0, le=MAX_VERSION)]
When = Annotated[datetime, msgspec.Meta(tz=True)]


def _out_of_window(name: str, value: datetime) -> ValueError:
    return ValueError(f"{name}: {value.isoformat()[:40]} is outside the years 2000 to 2100")


class HistoryStep(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """One processing step, with the national portal's step fields (times bounded by ``Dossier``)."""

    at: When  # ThoiDiemXuLy
    action: Text = ""  # NoiDungXuLy
    officer: Text = ""  # NguoiXuLy
    title: Text = ""  # ChucDanh
    department: Text = ""  # PhongBanXuLy
    state: Text = ""  # TrangThai
    started_at: When | None = None  # NgayBatDau
    deadline_at: When | None = None  # NgayKetThucTheoQuyDinh


class Dossier(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """A dossier's state as a lookup shows it (003 Art. 12.3, 001 Art. 5.3).

    It is a msgspec ``Struct``: decoding and validating the wire form happens in C, several times
    faster than ``json`` plus hand validation on this hardware (``bench/model_bench.py``). Every value
    is bounded so that storing (SQLite's 64-bit integers) and rendering can never fail on it. It holds
    no reference cycles, so the garbage collector need not track it (``gc=False``).
    """

    code: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_CODE)]
    version: Version
    status: Status
    agency_id: Text = ""
    agency_name: Text = ""
    procedure_code: Text = ""
    procedure_name: Text = ""
    applicant_name: Text = ""
    organisation: Text = ""
    submitted_at: When | None = None
    received_at: When | None = None
    due_at: When | None = None
    finished_at: When | None = None
    returned_at: When | None = None
    handling_agency: Text = ""
    handling_department: Text = ""
    handling_officer: Text = ""
    note: Text = ""
    updated_at: When | None = None
    history: Annotated[tuple[HistoryStep, ...], msgspec.Meta(max_length=MAX_HISTORY)] = ()
    owner_phone_hash: Hash = ""
    owner_id4_hash: Hash = ""

    def __post_init__(self) -> None:
        """Times within years 2000..2100, so that no conversion can overflow (rendering, SQLite's REAL)."""
        for value in (
            self.submitted_at,
            self.received_at,
            self.due_at,
            self.finished_at,
            self.returned_at,
            self.updated_at,
        ):
            if value is not None and not FIRST_YEAR <= value.year <= LAST_YEAR:
                raise _out_of_window(_time_name(self, value), value)
        for i, step in enumerate(self.history):  # checked here: one call per dossier, not per step
            if not FIRST_YEAR <= step.at.year <= LAST_YEAR:
                raise _out_of_window(f"history[{i}].at", step.at)
            for name, value in (("started_at", step.started_at), ("deadline_at", step.deadline_at)):
                if value is not None and not FIRST_YEAR <= value.year <= LAST_YEAR:
                    raise _out_of_window(f"history[{i}].{name}", value)

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
        """The contract's JSON object for this dossier (times as ISO 8601 text)."""
        return msgspec.to_builtins(self)  # type: ignore[no-any-return, unused-ignore]

    def encode(self) -> bytes:
        """The contract's JSON text for this dossier."""
        return _ENCODER.encode(self)

    @classmethod
    def from_json(cls, data: Any) -> Dossier:
        """Validate a contract JSON object (parsed); raises ``InvalidRecord`` naming the bad field."""
        try:
            dossier = msgspec.convert(data, cls, strict=False)
            dossier.encode()  # text parsed by json.loads may hold lone surrogates: not storable, not sendable
        except msgspec.ValidationError as err:
            raise InvalidRecord(explain_validation(err)) from None
        except UnicodeEncodeError:
            raise InvalidRecord("text holds characters that are not valid Unicode") from None
        return dossier

    @classmethod
    def decode(cls, body: bytes | str) -> Dossier:
        """Validate contract JSON text; raises ``InvalidRecord`` naming the bad field."""
        try:
            return _DECODER.decode(body)
        except msgspec.ValidationError as err:
            raise InvalidRecord(explain_validation(err)) from None
        except msgspec.DecodeError as err:
            raise InvalidRecord(f"not valid JSON: {err}") from None
        except RecursionError:
            raise InvalidRecord("not valid JSON: nested too deeply") from None


def mask_name(name: str) -> str:
    """Family name kept, other names as initials: "Nguyễn Văn An" → "Nguyễn V. A."."""
    words = name.split()
    if not words:
        return ""
    if len(words) == 1:
        return words[0][0] + "."
    return " ".join([words[0]] + [w[0].upper() + "." for w in words[1:]])


def _time_name(dossier: Dossier, value: datetime) -> str:
    for name in ("submitted_at", "received_at", "due_at", "finished_at", "returned_at", "updated_at"):
        if getattr(dossier, name) is value:
            return name
    return "time"


def explain_validation(err: msgspec.ValidationError) -> str:
    """msgspec's "Expected `int` >= 0 - at `$.version`" → "version: expected `int` >= 0"."""
    text = str(err)
    message, _, where = text.rpartition(" - at `")
    if not message:
        return text
    field = where.rstrip("`").removeprefix("$").lstrip(".") or "dossier"
    return f"{field}: {message[0].lower()}{message[1:]}"


_ENCODER = msgspec.json.Encoder()
_DECODER = msgspec.json.Decoder(Dossier)


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
