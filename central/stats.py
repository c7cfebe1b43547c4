"""On-time statistics per agency and period, counted the way Decision 766/QĐ-TTg counts them.

Rules (also in CONTRACT.md): a dossier counts in a period when it was received (``received_at``, or
``submitted_at`` when no reception time is known) before the period's end and its processing had not
ended before the period's start — new dossiers of the period plus those carried over. Submitted-online
dossiers not yet accepted (1) and withdrawn dossiers (7) are not counted. The processing end is the
first of finished / returned / stopped / refused (``central.store.processing_end``). Ended within the
period: late when end > due, early when the end's calendar day (Vietnam time) is before the due day,
otherwise on time. Not ended by the period's end (or by now, for the current period): overdue when the
due time has passed by then, otherwise in time. Dossiers without a due time are on time / in time.
The due time is ``NgayHenTra`` as the source gives it (supplement time already reflected there).
"""

from __future__ import annotations

from datetime import datetime

from central.store import CentralStore
from dossier.errors import InvalidInput
from dossier.model import VN_TZ, Status

_NOT_COUNTED = (int(Status.SUBMITTED_ONLINE), int(Status.WITHDRAWN))


def period_bounds(year: int, month: int | None) -> tuple[datetime, datetime]:
    """[start, end) of a month or a year in Vietnam time; raises ``InvalidInput`` for a bad period."""
    if not 2000 <= year <= 2100:
        raise InvalidInput(f"year {year} is out of range (2000–2100)")
    if month is None:
        return datetime(year, 1, 1, tzinfo=VN_TZ), datetime(year + 1, 1, 1, tzinfo=VN_TZ)
    if not 1 <= month <= 12:
        raise InvalidInput(f"month {month} is not 1–12")
    start = datetime(year, month, 1, tzinfo=VN_TZ)
    end = datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=VN_TZ)
    return start, end


def on_time_stats(store: CentralStore, agency_id: str, year: int, month: int | None, now: datetime) -> dict:
    """The contract's statistics object for one agency and period."""
    start, end = period_bounds(year, month)
    as_of = min(end, max(now, start))
    start_ts, as_of_ts = int(start.timestamp()), int(as_of.timestamp())
    early = on_time = late = in_time = overdue = new = carried = 0
    for status, received_ts, due_ts, end_ts in store.stats_rows(agency_id, start_ts, as_of_ts):
        if status in _NOT_COUNTED or received_ts is None:
            continue
        if received_ts >= start_ts:
            new += 1
        else:
            carried += 1
        if end_ts is not None and end_ts < as_of_ts:
            if due_ts is None:
                on_time += 1
            elif end_ts > due_ts:
                late += 1
            elif _day(end_ts) < _day(due_ts):
                early += 1
            else:
                on_time += 1
        elif due_ts is not None and due_ts < as_of_ts:
            overdue += 1
        else:
            in_time += 1
    finished = early + on_time + late
    ratings = store.rating_counts(agency_id, start.isoformat(), end.isoformat())
    return {
        "agency_id": agency_id,
        "period": {"year": year, "month": month} if month else {"year": year},
        "as_of": as_of.isoformat(),
        "received": new + carried,
        "new": new,
        "carried_over": carried,
        "finished": {"early": early, "on_time": on_time, "late": late},
        "unfinished": {"in_time": in_time, "overdue": overdue},
        "on_time_rate": round((early + on_time) / finished, 4) if finished else None,
        "ratings": ratings,
    }


def _day(ts: int) -> tuple[int, int, int]:
    d = datetime.fromtimestamp(ts, VN_TZ)
    return d.year, d.month, d.day
