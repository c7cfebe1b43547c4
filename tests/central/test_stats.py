"""On-time statistics (Decision 766) on a small hand-made data set with known answers."""

from __future__ import annotations

from datetime import datetime

from dossier.model import VN_TZ
from tests.central.conftest import Central

A = "000.00.15.H56"


def t(text: str) -> str:
    return text + ":00+07:00"


def d(
    n: int, status: int, received: str | None, due: str | None, finished: str | None = None, **extra
) -> dict:
    rec = {"code": f"{A}-240301-{n:04d}", "status": status, "received_at": received and t(received),
           "due_at": due and t(due), "finished_at": finished and t(finished), **extra}  # fmt: skip
    return rec


DATA = [
    d(1, 10, "2024-03-04T08:00", "2024-03-08T17:00", "2024-03-06T10:00", returned_at=t("2024-03-07T09:00")),
    d(2, 9, "2024-03-05T08:00", "2024-03-11T17:00", "2024-03-11T09:00"),  # same day as due: on time
    d(3, 9, "2024-03-05T09:00", "2024-03-12T17:00", "2024-03-12T17:00"),  # exactly at due: on time
    d(4, 10, "2024-03-06T08:00", "2024-03-13T17:00", "2024-03-14T08:00"),  # late
    d(5, 4, "2024-03-25T08:00", "2024-04-05T17:00"),  # unfinished, due after March
    d(6, 5, "2024-03-10T08:00", "2024-03-20T17:00"),  # unfinished, overdue (due as given)
    d(7, 9, "2024-03-20T08:00", "2024-03-28T17:00", "2024-04-03T10:00"),  # finished in April, late
    d(8, 10, "2024-02-25T08:00", "2024-03-05T17:00", "2024-03-04T10:00"),  # carried over into March, early
    d(9, 10, "2024-02-01T08:00", "2024-02-05T17:00", "2024-02-10T10:00"),  # ended in February, late
    d(10, 4, "2024-04-02T08:00", "2024-04-20T17:00"),  # received in April
    d(11, 7, "2024-03-05T08:00", "2024-03-08T17:00"),  # withdrawn: not counted
    d(12, 1, None, None, submitted_at=t("2024-03-06T08:00")),  # not yet accepted: not counted
    d(13, 8, "2024-03-01T08:00", "2024-03-10T17:00", updated_at=t("2024-03-15T10:00")),  # stopped after due
    d(14, 3, None, None, submitted_at=t("2024-03-02T08:00"), updated_at=t("2024-03-02T09:00")),  # refused
]


def load(c: Central) -> None:
    rep = c.admin("/api/v1/ingest/records", json=DATA).json()
    assert rep["accepted"] == len(DATA) and rep["rejected"] == [], rep


def test_month_counts_follow_decision_766(central: Central) -> None:
    central.clock.now = datetime(2024, 4, 10, 10, 0, tzinfo=VN_TZ)
    load(central)
    s = central.get(f"/api/v1/stats/{A}", params={"year": 2024, "month": 3}).json()
    assert s["agency_id"] == A and s["period"] == {"year": 2024, "month": 3}
    assert (s["received"], s["new"], s["carried_over"]) == (10, 9, 1)
    assert s["finished"] == {"early": 2, "on_time": 3, "late": 2}
    assert s["unfinished"] == {"in_time": 1, "overdue": 2}
    assert s["on_time_rate"] == round(5 / 7, 4)


def test_year_and_current_period_use_now(central: Central) -> None:
    central.clock.now = datetime(2024, 4, 10, 10, 0, tzinfo=VN_TZ)
    load(central)
    y = central.get(f"/api/v1/stats/{A}", params={"year": 2024}).json()
    assert y["period"] == {"year": 2024} and y["as_of"].startswith("2024-04-10T10:00")
    assert (y["received"], y["carried_over"]) == (12, 0)
    assert y["finished"] == {"early": 2, "on_time": 3, "late": 4}
    assert y["unfinished"] == {"in_time": 1, "overdue": 2}
    april = central.get(f"/api/v1/stats/{A}", params={"year": 2024, "month": 4}).json()
    assert (april["received"], april["new"], april["carried_over"]) == (4, 1, 3)
    assert april["finished"] == {"early": 0, "on_time": 0, "late": 1}
    assert april["unfinished"] == {"in_time": 1, "overdue": 2}
    empty = central.get(f"/api/v1/stats/{A}", params={"year": 2023, "month": 1}).json()
    assert empty["received"] == 0 and empty["on_time_rate"] is None


def test_ratings_are_published_with_the_stats(central: Central) -> None:
    central.clock.now = datetime(2024, 4, 10, 10, 0, tzinfo=VN_TZ)
    load(central)
    auth = {"Authorization": f"Bearer {central.enroll()}"}
    for i, (service, staff, day) in enumerate([(1, 1, "03-05"), (1, 2, "03-20"), (3, 3, "04-01")]):
        rating = {"id": f"r{i}", "agency_id": A, "service": service, "staff": staff,
                  "rated_at": f"2024-{day}T09:00:00+07:00"}  # fmt: skip
        assert central.post("/api/v1/ratings", json=rating, headers=auth).status_code == 201
    s = central.get(f"/api/v1/stats/{A}", params={"year": 2024, "month": 3}).json()
    assert s["ratings"] == {"service": {"1": 2, "2": 0, "3": 0}, "staff": {"1": 1, "2": 1, "3": 0}}


def test_bad_period_is_invalid(central: Central) -> None:
    load(central)
    for params in ({"year": 2024, "month": 13}, {"year": 1999}, {"year": "abc"}):
        resp = central.get(f"/api/v1/stats/{A}", params=params)
        assert resp.status_code == 422 and resp.json()["error"]["code"] == "invalid", params
