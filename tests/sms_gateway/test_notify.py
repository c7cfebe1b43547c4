"""Notifications: one SMS per transition per subscriber, quiet hours, expiry, crash-safe cursor."""

from __future__ import annotations

from datetime import UTC, datetime, time
from pathlib import Path

import pytest

from dossier.cache import ChangeEvent
from dossier.errors import ConfigError
from dossier.gsm7 import is_gsm7
from dossier.model import VN_TZ, Status
from sms_gateway.notify import CURSOR_KEY, Notifier, notification_text, quiet_until
from sms_gateway.settings import SmsSection
from sms_gateway.store import Outgoing, SmsStore
from tests.sms_gateway.gateway_fakes import Clock, ListEvents

NOON = datetime(2026, 11, 12, 12, 0, tzinfo=VN_TZ).timestamp()
NIGHT = datetime(2026, 11, 12, 22, 30, tzinfo=VN_TZ).timestamp()
CODE = "000.00.15.H56-261110-0001"


def event(seq: int, new: Status, old: Status | None = Status.IN_PROGRESS, code: str = CODE) -> ChangeEvent:
    return ChangeEvent(seq, code, old, new, seq, datetime.fromtimestamp(NOON, UTC))


@pytest.fixture
def rig(tmp_path: Path) -> tuple[SmsStore, ListEvents, Notifier, Clock]:
    clock = Clock(NOON)
    store = SmsStore(tmp_path / "sms.db", clock=clock)
    events = ListEvents()
    return store, events, Notifier(store, events, settings=SmsSection(), clock=clock), clock


def test_one_sms_per_transition_per_subscriber(rig) -> None:
    store, events, notifier, _ = rig
    store.subscribe("0912345678", "+84912345678", CODE, NOON + 86400)
    store.subscribe("0911111111", "0911111111", CODE, NOON + 86400)
    events.add(event(1, Status.SUPPLEMENT_REQUESTED))
    events.add(event(2, Status.IN_PROGRESS, code="000.00.15.H56-261110-0002"))  # nobody subscribed
    events.add(event(3, Status.FINISHED))
    assert notifier.tick() == 4
    assert notifier.tick() == 0  # cursor advanced
    assert store.get_meta(CURSOR_KEY) == "3"
    rows = store._query("SELECT recipient, text, kind, priority FROM outbox ORDER BY id")
    assert [r[0] for r in rows] == ["0911111111", "+84912345678"] * 2
    assert "Can bo sung giay to" in rows[0][1] and "Da co ket qua" in rows[2][1]
    assert all(r[2] == "notify" and r[3] == 1 and is_gsm7(r[1]) and len(r[1]) <= 160 for r in rows)


def test_crash_after_queueing_repeats_nothing(rig, tmp_path: Path) -> None:
    store, events, notifier, clock = rig
    store.subscribe("0912345678", "+84912345678", CODE, NOON + 86400)
    events.add(event(1, Status.FINISHED))
    notifier.tick()
    store.set_meta(CURSOR_KEY, "0")  # as if the cursor had not been saved
    assert Notifier(store, events, clock=clock).tick() == 0  # event_key is unique
    assert store.stats()["outbox"]["queued"] == 1


def test_quiet_hours_defer(rig) -> None:
    store, events, notifier, clock = rig
    clock.now = NIGHT
    store.subscribe("0912345678", "+84912345678", CODE, NIGHT + 86400)
    events.add(event(1, Status.FINISHED))
    notifier.tick()
    due = store._scalar("SELECT next_attempt_at FROM outbox")
    assert datetime.fromtimestamp(due, VN_TZ) == datetime(2026, 11, 13, 7, 0, tzinfo=VN_TZ)
    assert store.claim("m0") is None


def test_returned_result_ends_subscriptions_later(rig) -> None:
    store, events, notifier, clock = rig
    store.subscribe("0912345678", "+84912345678", CODE, NOON + 365 * 86400)
    events.add(event(1, Status.RETURNED, old=Status.FINISHED))
    notifier.tick()
    assert store.subscribers(CODE, NOON + 29 * 86400)
    assert store.subscribers(CODE, NOON + 31 * 86400) == []


def test_unchanged_status_is_not_notified(rig) -> None:
    store, events, notifier, _ = rig
    store.subscribe("0912345678", "+84912345678", CODE, NOON + 86400)
    events.add(event(1, Status.IN_PROGRESS, old=Status.IN_PROGRESS))
    assert notifier.tick() == 0


@pytest.mark.parametrize(
    ("local", "expected"),
    [
        ((20, 59), None),
        ((21, 0), (1, 7, 0)),
        ((23, 30), (1, 7, 0)),
        ((3, 0), (0, 7, 0)),
        ((7, 0), None),
    ],
)
def test_quiet_until(local: tuple[int, int], expected: tuple[int, int, int] | None) -> None:
    now = datetime(2026, 11, 12, *local, tzinfo=VN_TZ)
    got = quiet_until(now, time(21, 0), time(7, 0))
    if expected is None:
        assert got is None
    else:
        days, h, m = expected
        assert got == datetime(2026, 11, 12 + days, h, m, tzinfo=VN_TZ)


def test_bad_quiet_hours_config(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="quiet_start"):
        Notifier(SmsStore(tmp_path / "s.db"), ListEvents(), settings=SmsSection(quiet_start="9pm"))


@pytest.mark.parametrize("status", list(Status))
def test_every_state_fits_one_gsm7_segment(status: Status) -> None:
    text = notification_text(event(1, status))
    assert is_gsm7(text) and len(text) <= 160 and CODE in text


def test_daily_cap_defers_notifications_to_tomorrow(tmp_path: Path) -> None:
    clock = Clock(NOON)
    store = SmsStore(tmp_path / "sms.db", clock=clock)
    events = ListEvents()
    notifier = Notifier(store, events, settings=SmsSection(daily_cap=1), clock=clock)
    store.subscribe("0912345678", "+84912345678", CODE, NOON + 86400)
    store.subscribe("0911111111", "0911111111", CODE, NOON + 86400)
    events.add(event(1, Status.FINISHED))
    store.enqueue([Outgoing("+1", "earlier reply", "reply")])
    notifier.tick()
    due = {r[0] for r in store._query("SELECT next_attempt_at FROM outbox WHERE kind = 'notify'")}
    assert due == {datetime(2026, 11, 13, 7, 0, tzinfo=VN_TZ).timestamp()}
