"""Rendering a lookup result: Vietnamese and English text for screens, unaccented GSM-7 for SMS."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from dossier.gsm7 import capacity, septet_length, to_gsm7, ucs2_units
from dossier.gsm7 import segments as sms_segments
from dossier.lookup import LookupResult, Outcome
from dossier.model import VN_TZ, Dossier, mask_name

__all__ = ["mask_name", "render_text", "render_sms", "sms_segments", "to_gsm7", "format_date"]


def format_date(value: datetime | None, *, with_time: bool = False) -> str:
    """dd/mm/yyyy (and HH:MM) in Vietnam time; "" for no date."""
    if value is None:
        return ""
    local = value.astimezone(VN_TZ)
    return local.strftime("%H:%M %d/%m/%Y" if with_time else "%d/%m/%Y")


@dataclass(frozen=True)
class _Labels:
    code: str
    procedure: str
    applicant: str
    organisation: str
    submitted: str
    received: str
    due: str
    result: str
    state: str
    handler: str
    overdue: str
    as_of: str
    not_found: str
    unavailable: str


_VI = _Labels(
    "Mã hồ sơ",
    "Thủ tục",
    "Người nộp",
    "Tổ chức",
    "Ngày nộp",
    "Ngày tiếp nhận",
    "Ngày hẹn trả",
    "Ngày có kết quả",
    "Trạng thái",
    "Đơn vị xử lý",
    "Quá hạn",
    "Dữ liệu lúc",
    "Không tìm thấy hồ sơ {code}. Vui lòng kiểm tra lại mã trên giấy hẹn.",
    "Chưa tra cứu được hồ sơ {code} lúc này. Vui lòng thử lại sau.",
)
_EN = _Labels(
    "Dossier code",
    "Procedure",
    "Applicant",
    "Organisation",
    "Submitted",
    "Received",
    "Due",
    "Result",
    "State",
    "Handled by",
    "Overdue",
    "Data as of",
    "No dossier {code}. Please check the code on your receipt.",
    "Cannot check dossier {code} right now. Please try again later.",
)


def render_text(
    result: LookupResult, *, lang: str = "vi", mask_names: bool = True, now: datetime | None = None
) -> str:
    """Multi-line text for a screen or terminal, in Vietnamese (``vi``) or English (``en``)."""
    labels = _VI if lang == "vi" else _EN
    if result.outcome is Outcome.NOT_FOUND:
        return labels.not_found.format(code=result.code)
    if result.outcome is Outcome.UNAVAILABLE or result.dossier is None:
        return labels.unavailable.format(code=result.code)
    d = result.dossier
    now = now or datetime.now(VN_TZ)
    state = d.status.vi if lang == "vi" else d.status.en
    if d.is_overdue(now):
        state += f" ({labels.overdue})"
    name = mask_name(d.applicant_name) if mask_names else d.applicant_name
    handler = " / ".join(x for x in (d.handling_officer, d.handling_department, d.handling_agency) if x)
    rows = [
        (labels.code, d.code),
        (labels.state, state),
        (labels.procedure, d.procedure_name),
        (labels.applicant, name),
        (labels.organisation, d.organisation),
        (labels.submitted, format_date(d.submitted_at)),
        (labels.received, format_date(d.received_at)),
        (labels.due, format_date(d.due_at)),
        (labels.result, format_date(d.finished_at or d.returned_at)),
        (labels.handler, handler),
    ]
    lines = [f"{k}: {v}" for k, v in rows if v]
    if result.source == "stale" and result.as_of is not None:
        lines.append(f"({labels.as_of} {format_date(result.as_of, with_time=True)})")
    return "\n".join(lines)


def _sms_fields(d: Dossier, *, full: bool, mask_names: bool, now: datetime) -> list[tuple[int, str]]:
    """(priority, text) pieces of an SMS answer in display order; lower priority number = kept longer."""
    state = d.status.vi + (" - QUÁ HẠN" if d.is_overdue(now) else "")
    pieces = [(0, _sentence(f"HS {d.code}: {state}"))]
    if d.due_at and not d.status.is_closed:
        pieces.append((1, _sentence(f"Hẹn trả {format_date(d.due_at)}")))
    end = d.finished_at or d.returned_at
    if end:
        pieces.append((2, _sentence(f"Kết quả {format_date(end)}")))
    if d.procedure_name:
        pieces.append((3, _sentence(f"TTHC: {d.procedure_name}")))
    if full and d.applicant_name:
        name = mask_name(d.applicant_name) if mask_names else d.applicant_name
        pieces.append((4, _sentence(f"Người nộp: {name}")))
    if d.handling_agency or d.agency_name:
        pieces.append((5, _sentence(f"Đơn vị: {d.handling_agency or d.agency_name}")))
    return pieces


def _sentence(text: str) -> str:
    return text if text.endswith((".", "!", "?")) else text + "."


def render_sms(
    result: LookupResult,
    *,
    segments: int = 2,
    unicode: bool = False,
    mask_names: bool = True,
    full: bool = True,
    now: datetime | None = None,
) -> str:
    """SMS answer within ``segments`` parts: unaccented GSM-7 unless ``unicode`` (then with diacritics)."""
    budget = capacity(max(1, segments), unicode=unicode)
    size = ucs2_units if unicode else septet_length

    def finish(text: str) -> str:
        return text if unicode else to_gsm7(text)

    if result.outcome is Outcome.NOT_FOUND or result.dossier is None:
        template = _VI.not_found if result.outcome is Outcome.NOT_FOUND else _VI.unavailable
        return _fit(finish(template.format(code=result.code)), budget, size)
    now = now or datetime.now(VN_TZ)
    pieces = _sms_fields(result.dossier, full=full, mask_names=mask_names, now=now)
    suffix = ""
    if result.source == "stale" and result.as_of is not None:
        suffix = f" (Dữ liệu lúc {format_date(result.as_of, with_time=True)})"
    suffix = finish(suffix)
    kept = [(p, finish(t)) for p, t in pieces]
    while True:
        text = " ".join(t for _, t in kept) + suffix
        if size(text) <= budget or len(kept) == 1:
            break
        kept.remove(max(kept, key=lambda pt: pt[0]))
    return _fit(text, budget, size)


def _fit(text: str, budget: int, size: object) -> str:
    """Cut ``text`` to ``budget`` units, ending with "..." when cut."""
    measure = size if callable(size) else len
    if measure(text) <= budget:
        return text
    cut = text
    while cut and measure(cut + "...") > budget:
        cut = cut[:-1]
    return cut.rstrip() + "..."
