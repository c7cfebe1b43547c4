"""What a lookup answer looks like on the kiosk: every regulated field, the timeline, next steps, flags.

Pure functions from ``LookupResult`` to plain view data; the screens only copy these texts into widgets,
and "Đọc to" speaks the same texts. Dates are shown as the source gives them, in Vietnam time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from dossier.lookup import LookupResult, Outcome
from dossier.model import VN_TZ, Dossier, Status
from dossier.render import format_date, mask_name
from kiosk.i18n import t


@dataclass(frozen=True)
class Step:
    """One timeline entry."""

    when: str
    action: str
    who: str


@dataclass(frozen=True)
class ResultView:
    """Everything the result screen shows."""

    code: str
    state: str
    state_kind: str  # wait | action | done | closed (decides the state card's symbol, with words)
    flag: str  # "QUÁ HẠN" / "BẠN CẦN LÀM" / ""
    flag_text: str
    fields: tuple[tuple[str, str], ...]
    timeline: tuple[Step, ...]
    next_steps: tuple[str, ...]
    banner: str  # "as of" text when the answer is not current
    qr_url: str
    agency_id: str

    def spoken(self, lang: str) -> str:
        """What "Đọc to" says: the state first, then the fields and what to do next."""
        parts = [f"{t(lang, 'f_state')}: {self.state}."]
        if self.flag:
            parts.append(f"{self.flag.capitalize()}. {self.flag_text}")
        if self.banner:
            parts.append(self.banner)
        parts += [f"{label}: {value}." for label, value in self.fields if value]
        parts += list(self.next_steps)
        return " ".join(parts)


def _kind(status: Status) -> str:
    if status.waits_on_citizen:
        return "action"
    if status is Status.FINISHED:
        return "action"  # come and collect
    if status.is_closed:
        return "closed"
    return "wait"


def _when(value: datetime | None, lang: str, *, with_time: bool = False) -> str:
    return format_date(value, with_time=with_time) if value else t(lang, "not_yet")


def short_time(value: datetime) -> str:
    """HH:MM dd/mm in Vietnam time (the "as of" banner)."""
    return value.astimezone(VN_TZ).strftime("%H:%M %d/%m")


def qr_url(template: str, code: str) -> str:
    """The public lookup page of ``code`` ("" when no template is configured)."""
    if not template:
        return ""
    from urllib.parse import quote

    return template.replace("{code}", quote(code, safe=""))


def result_view(
    result: LookupResult,
    lang: str,
    now: datetime,
    *,
    mask_names: bool = True,
    url_template: str = "",
) -> ResultView:
    """The result screen's content for a FOUND answer."""
    d = result.dossier
    if result.outcome is not Outcome.FOUND or d is None:
        raise ValueError("result_view needs a found dossier")
    overdue = d.is_overdue(now)
    kind = _kind(d.status)
    state = d.status.vi if lang == "vi" else d.status.en
    flag, flag_text = "", ""
    if overdue:
        flag = t(lang, "overdue")
        flag_text = t(lang, "late_text" if d.status.ends_processing else "overdue_text")
    elif kind == "action":
        flag = t(lang, "your_turn")
    applicant = mask_name(d.applicant_name) if mask_names else d.applicant_name
    fields: tuple[tuple[str, str], ...] = (
        (t(lang, "f_code"), d.code),
        (t(lang, "f_procedure"), d.procedure_name or t(lang, "none_value")),
        (t(lang, "f_applicant"), applicant or t(lang, "none_value")),
        (t(lang, "f_organisation"), d.organisation or t(lang, "none_value")),
        (t(lang, "f_submitted"), _when(d.submitted_at, lang)),
        (t(lang, "f_received"), _when(d.received_at, lang)),
        (t(lang, "f_due"), _when(d.due_at, lang, with_time=True)),
        (t(lang, "f_result"), _when(d.finished_at, lang)),
        (t(lang, "f_returned"), _when(d.returned_at, lang)),
        (t(lang, "f_agency"), d.handling_agency or d.agency_name or t(lang, "none_value")),
        (t(lang, "f_department"), d.handling_department or t(lang, "none_value")),
        (t(lang, "f_officer"), d.handling_officer or t(lang, "none_value")),
    )
    if d.note:
        fields += ((t(lang, "f_note"), d.note),)
    banner = ""
    if result.source == "stale" and result.as_of is not None:
        banner = t(lang, "as_of", when=short_time(result.as_of))
    return ResultView(
        code=d.code,
        state=state,
        state_kind=kind,
        flag=flag,
        flag_text=flag_text,
        fields=fields,
        timeline=timeline(d),
        next_steps=next_steps(d, lang, overdue),
        banner=banner,
        qr_url=qr_url(url_template, d.code),
        agency_id=d.agency_id,
    )


def timeline(d: Dossier) -> tuple[Step, ...]:
    """The processing history, oldest first (as the source recorded it)."""
    steps = sorted(d.history, key=lambda s: s.at)
    out = []
    for s in steps:
        who = " – ".join(x for x in (s.officer, s.title, s.department) if x)
        out.append(Step(format_date(s.at, with_time=True), s.action or s.state, who))
    return tuple(out)


def next_steps(d: Dossier, lang: str, overdue: bool) -> tuple[str, ...]:
    """What the citizen should do now, in plain words."""
    out: list[str] = []
    if d.status is Status.SUPPLEMENT_REQUESTED:
        note = f" ({d.note})" if d.note else ""
        out.append(t(lang, "next_supplement", note=note))
    elif d.status is Status.FEES_DUE:
        out.append(t(lang, "next_fees"))
    elif d.status is Status.FINISHED:
        out.append(t(lang, "next_collect"))
    elif d.status is Status.SUBMITTED_ONLINE:
        out.append(t(lang, "next_online"))
    elif d.status.is_closed:
        out.append(t(lang, "next_closed"))
    else:
        out.append(t(lang, "next_wait"))
    if overdue and not d.status.ends_processing:
        out.append(t(lang, "next_overdue"))
    return tuple(out)


@dataclass(frozen=True)
class PeriodView:
    """One statistics card (a month or a year)."""

    title: str
    rows: tuple[tuple[str, str], ...]
    rate: str
    on_time: int
    late: int
    unfinished: int


def _int(data: dict[str, Any], *path: str) -> int:
    value: Any = data
    for key in path:
        value = value.get(key, 0) if isinstance(value, dict) else 0
    return int(value) if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


def period_view(data: dict[str, Any], lang: str) -> PeriodView:
    """A statistics object of the contract (``CONTRACT.md``, Statistics) as a card; tolerant of gaps."""
    period = data.get("period") if isinstance(data.get("period"), dict) else {}
    year = period.get("year", "") if period else ""
    month = period.get("month") if period else None
    title = t(lang, "this_month", month=month, year=year) if month else t(lang, "this_year", year=year)
    early, on_time, late = (_int(data, "finished", k) for k in ("early", "on_time", "late"))
    in_time, overdue = (_int(data, "unfinished", k) for k in ("in_time", "overdue"))
    finished = early + on_time + late
    rate_value = data.get("on_time_rate")
    if isinstance(rate_value, (int, float)) and not isinstance(rate_value, bool) and 0 <= rate_value <= 1:
        rate = t(lang, "st_rate", rate=f"{rate_value * 100:.0f}%".replace(".", ","))
    else:
        rate = t(lang, "st_rate_none")
    rows = (
        (t(lang, "st_received"), str(_int(data, "received"))),
        (t(lang, "st_finished"), str(finished)),
        (t(lang, "st_on_time"), str(early + on_time)),
        (t(lang, "st_late"), str(late)),
        (t(lang, "st_unfinished"), str(in_time + overdue)),
        (t(lang, "st_overdue"), str(overdue)),
    )
    return PeriodView(title, rows, rate, early + on_time, late, in_time + overdue)
