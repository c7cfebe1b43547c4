"""Outbox workers: claim, send, retry with backoff, failures, modems that disappear, several modems."""

from __future__ import annotations

from pathlib import Path

import pytest

from sms_gateway.outbox import Doorbell, OutboxWorker, WorkerPolicy
from sms_gateway.store import Outgoing, SmsStore
from tests.queues import wait_until as wait_for
from tests.sms_gateway.gateway_fakes import ERRORS, Clock, ScriptedSender

T0 = 1_790_000_000.0


@pytest.fixture
def store(tmp_path: Path) -> SmsStore:
    s = SmsStore(tmp_path / "sms.db")
    yield s
    s.close()


def test_step_sends_and_records_refs(tmp_path: Path) -> None:
    clock = Clock(T0)
    store = SmsStore(tmp_path / "sms.db", clock=clock)
    modem = ScriptedSender()
    worker = OutboxWorker(store, "m0", modem, Doorbell(), clock=clock)
    store.enqueue([Outgoing("+84912345678", "hello", "reply")])
    assert worker.step()
    assert not worker.step()
    assert [s.text for s in modem.sent] == ["hello"]
    row = store.outbox_row(1)
    assert row["state"] == "sent" and row["refs"] == "1" and row["modem_id"] == "m0"


def test_temporary_failure_retries_with_backoff_then_gives_up(tmp_path: Path) -> None:
    clock = Clock(T0)
    store = SmsStore(tmp_path / "sms.db", clock=clock)
    modem = ScriptedSender(script=[ERRORS["temporary"]] * 3)
    policy = WorkerPolicy(max_attempts=3, retry_backoff=10, retry_max_backoff=15)
    worker = OutboxWorker(store, "m0", modem, Doorbell(), policy, clock=clock)
    store.enqueue([Outgoing("+84912345678", "hello", "reply")])
    assert worker.step()
    row = store.outbox_row(1)
    assert row["state"] == "queued" and row["next_attempt_at"] == T0 + 10 and "CMS ERROR" in row["reason"]
    assert not worker.step()  # not due yet
    clock.advance(10)
    assert worker.step()
    assert store.outbox_row(1)["next_attempt_at"] == T0 + 10 + 15  # doubled, capped
    clock.advance(15)
    assert worker.step()
    row = store.outbox_row(1)
    assert row["state"] == "failed" and "gave up after 3 attempts" in row["reason"]
    assert modem.sent == []


def test_permanent_rejection_fails_at_once(tmp_path: Path) -> None:
    store = SmsStore(tmp_path / "sms.db")
    worker = OutboxWorker(store, "m0", ScriptedSender(script=[ERRORS["invalid"]]), Doorbell())
    store.enqueue([Outgoing("+84912345678", "hello", "reply")])
    worker.step()
    row = store.outbox_row(1)
    assert row["state"] == "failed" and row["reason"] == "bad number" and row["attempts"] == 1


def test_absent_modem_hands_the_sms_to_another(store: SmsStore) -> None:
    gone = ScriptedSender(script=[ERRORS["absent"]] * 100)
    ok = ScriptedSender()
    bell = Doorbell()
    workers = [OutboxWorker(store, "gone", gone, bell), OutboxWorker(store, "ok", ok, bell)]
    store.enqueue([Outgoing(f"+8491234{i:04d}", f"m{i}", "reply") for i in range(5)])
    for w in workers:
        w.start()
    try:
        wait_for(lambda: len(ok.sent) == 5)
    finally:
        for w in workers:
            w.stop()
    assert sorted(s.text for s in ok.sent) == [f"m{i}" for i in range(5)]
    assert all(store.outbox_row(i)["attempts"] <= 1 for i in range(1, 6))  # absence costs no attempt


def test_workers_share_the_queue_without_double_sends(store: SmsStore) -> None:
    modems = [ScriptedSender() for _ in range(4)]
    bell = Doorbell()
    workers = [OutboxWorker(store, f"m{i}", m, bell) for i, m in enumerate(modems)]
    for w in workers:
        w.start()
    try:
        for i in range(100):
            store.enqueue([Outgoing(f"+8491234{i:04d}", f"m{i}", "reply")])
            bell.ring()
        wait_for(lambda: sum(len(m.sent) for m in modems) >= 100)
        wait_for(lambda: store.stats()["outbox"]["sent"] == 100)  # all recorded: nothing left to send
    finally:
        for w in workers:
            w.stop()
    texts = [s.text for m in modems for s in m.sent]
    assert sorted(texts) == sorted(f"m{i}" for i in range(100))
    assert sum(1 for m in modems if m.sent) >= 2  # the work was shared


def test_throttle_spaces_sends(store: SmsStore) -> None:
    modem = ScriptedSender()
    worker = OutboxWorker(store, "m0", modem, Doorbell(), WorkerPolicy(min_part_interval=0.2))
    store.enqueue([Outgoing("+1", "a", "reply"), Outgoing("+2", "b", "reply")])
    waits: list[float] = []

    class Stop:  # records the pause the worker takes instead of timing it
        def wait(self, seconds: float) -> bool:
            waits.append(seconds)
            return False

        def is_set(self) -> bool:
            return False

    worker._stop = Stop()  # type: ignore[assignment]
    worker.step()
    worker.step()
    assert len(waits) == 1 and 0.1 < waits[0] <= 0.2  # the second send waited for the first's interval
    assert len(modem.sent) == 2


def test_doorbell_wakes_idle_worker(store: SmsStore) -> None:
    modem = ScriptedSender()
    bell = Doorbell()
    worker = OutboxWorker(store, "m0", modem, bell)
    worker.start()
    try:
        wait_for(lambda: worker.idle_waits >= 1)  # the worker is idle, waiting up to 5 s
        store.enqueue([Outgoing("+1", "a", "reply")])
        bell.ring()
        wait_for(lambda: len(modem.sent) == 1, timeout=3.0)
    finally:
        worker.stop()
