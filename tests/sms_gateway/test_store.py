"""The gateway database: durable inbound parts, exactly-once replies, outbox states, subscriptions."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from dossier.errors import StorageError
from sms_gateway.modem_types import DeliveryReport
from sms_gateway.store import NewMessage, Outgoing, OutRow, PartIn, SmsStore
from tests.sms_gateway.gateway_fakes import Clock

T0 = 1_790_000_000.0


@pytest.fixture
def clock() -> Clock:
    return Clock(T0)


@pytest.fixture
def store(tmp_path: Path, clock: Clock) -> SmsStore:
    s = SmsStore(tmp_path / "sms.db", clock=clock)
    yield s
    s.close()


def part(n: int, **kw: object) -> PartIn:
    values: dict[str, object] = {
        "modem_id": "m0",
        "sender": "+84912345678",
        "text": f"HS {n}",
        "pdu": f"07{n:04x}",
    }
    values.update(kw)
    return PartIn(**values)  # type: ignore[arg-type]


def test_pragmas_are_durable(store: SmsStore) -> None:
    conn = sqlite3.connect(store.path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store._conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


def test_parts_are_committed_and_redelivery_is_ignored(store: SmsStore, tmp_path: Path) -> None:
    assert store.add_parts([part(1), part(2)]) == 2
    assert store.add_parts([part(1)]) == 0  # the modem gave the same PDU again after a restart
    other = sqlite3.connect(tmp_path / "sms.db")  # visible to another connection: committed
    assert other.execute("SELECT COUNT(*) FROM inbound_parts").fetchone()[0] == 2
    assert [p.text for p in store.waiting_parts()] == ["HS 1", "HS 2"]


def test_parts_without_pdu_are_all_kept(store: SmsStore) -> None:
    assert store.add_parts([part(1, pdu=""), part(1, pdu="")]) == 2


def test_message_reply_is_queued_exactly_once(store: SmsStore) -> None:
    store.add_parts([part(1)])
    (p,) = store.waiting_parts()
    (mid,) = store.add_messages([NewMessage((p.id,), "m0", p.sender, "0912345678", p.text, p.received_at)])
    (msg,) = store.new_messages()
    reply = Outgoing("+84912345678", "hello", "reply", phone="0912345678", inbound_id=mid)
    assert store.finish_message(msg.id, state="answered", reply=reply)
    assert not store.finish_message(msg.id, state="answered", reply=reply)
    assert store.new_messages() == []
    assert store.stats()["outbox"]["queued"] == 1
    # even a second insert for the same inbound (a bug elsewhere) cannot queue a second reply
    assert store.enqueue([reply]) == 0


def test_claim_is_atomic_across_threads(store: SmsStore) -> None:
    store.enqueue([Outgoing(f"+8491234{i:04d}", f"t{i}", "reply") for i in range(200)])
    claimed: list[int] = []
    lock = threading.Lock()

    def worker(name: str) -> None:
        while (row := store.claim(name)) is not None:
            with lock:
                claimed.append(row.id)

    threads = [threading.Thread(target=worker, args=(f"m{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(claimed) == list(range(1, 201))


def test_priority_and_due_time(store: SmsStore, clock: Clock) -> None:
    store.enqueue(
        [Outgoing("+1", "later", "notify", priority=1), Outgoing("+2", "wait", "reply", not_before=T0 + 60)]
    )
    store.enqueue([Outgoing("+3", "first", "reply")])
    assert store.claim("m").text == "first"
    assert store.claim("m").text == "later"
    assert store.claim("m") is None
    assert store.next_due() == T0 + 60
    clock.advance(60)
    assert store.claim("m").text == "wait"


def test_sent_then_delivery_report(store: SmsStore) -> None:
    store.enqueue([Outgoing("+84912345678", "x" * 200, "reply")])
    row = store.claim("m0")
    store.mark_sent(row.id, [17, 18], 2)
    assert store.record_delivery("m0", 17, True)
    assert store.outbox_row(row.id)["state"] == "sent"  # one part of two
    assert store.record_delivery("m0", 18, True)
    assert store.outbox_row(row.id)["state"] == "delivered"
    assert not store.record_delivery("m1", 17, True)  # another modem's reference


def test_failed_delivery_report(store: SmsStore) -> None:
    store.enqueue([Outgoing("+84912345678", "x", "reply")])
    row = store.claim("m0")
    store.mark_sent(row.id, [5], 1)
    store.record_delivery("m0", 5, False, "status 0x41")
    out = store.outbox_row(row.id)
    assert out["state"] == "failed" and "0x41" in out["reason"]


def test_retry_keeps_or_refunds_attempts(store: SmsStore, clock: Clock) -> None:
    store.enqueue([Outgoing("+1", "x", "reply")])
    row = store.claim("m0")
    store.mark_retry(row.id, "busy", T0 + 10)
    assert store.outbox_row(row.id)["attempts"] == 1
    clock.advance(10)
    row = store.claim("m0")
    store.mark_retry(row.id, "modem gone", T0 + 10, count_attempt=False)
    assert store.outbox_row(row.id)["attempts"] == 1


def test_interrupted_send_waits_for_proof_then_resends(store: SmsStore, clock: Clock) -> None:
    store.enqueue([Outgoing("+1", "a", "reply"), Outgoing("+2", "b", "reply")])
    first = store.claim("m0")
    store.mark_sent(first.id, [1], 1)
    second = store.claim("m0")  # the process dies here, with ``second`` in flight
    assert store.recover_interrupted(resend=True, grace=30) == [second.id]
    assert store.outbox_row(second.id)["state"] == "unconfirmed"
    assert store.claim("m0") is None
    clock.advance(31)
    again = store.claim("m0")
    assert again is not None and again.id == second.id


def test_delivery_report_confirms_an_interrupted_send(store: SmsStore) -> None:
    store.enqueue([Outgoing("+1", "a", "reply"), Outgoing("+2", "b", "reply")])
    first = store.claim("m0")
    store.mark_sent(first.id, [1], 1)
    store.record_delivery("m0", 1, True)
    second = store.claim("m0")
    store.recover_interrupted(resend=True, grace=30)
    assert store.record_delivery("m0", 2, True)  # a reference no recorded send explains
    assert store.outbox_row(second.id)["state"] == "delivered"
    assert store.claim("m0") is None


def test_interrupted_send_given_up_when_configured(store: SmsStore) -> None:
    store.enqueue([Outgoing("+1", "a", "reply")])
    row = store.claim("m0")
    store.recover_interrupted(resend=False)
    assert store.outbox_row(row.id)["state"] == "failed"


def test_counts_for_limits(store: SmsStore, clock: Clock) -> None:
    store.enqueue(
        [Outgoing("+1", "a", "reply", phone="0912"), Outgoing("+1", "b", "not_found", phone="0912")]
    )
    clock.advance(7200)
    store.enqueue(
        [Outgoing("+1", "c", "not_found", phone="0912"), Outgoing("+2", "d", "reply", phone="0913")]
    )
    assert store.count_to_phone("0912", T0 + 3600) == 1
    assert store.count_to_phone("0912", T0) == 3
    assert store.count_to_phone("0912", T0, ("not_found",)) == 2
    assert store.count_since(T0 + 1) == 2


def test_subscriptions(store: SmsStore, clock: Clock) -> None:
    assert store.subscribe("0912", "+84912", "C1", T0 + 100)
    assert not store.subscribe("0912", "+84912", "C1", T0 + 200)  # renewed
    store.subscribe("0913", "+84913", "C1", T0 + 50)
    store.subscribe("0913", "+84913", "C2", T0 + 50)
    assert [s[0] for s in store.subscribers("C1", T0)] == ["0912", "0913"]
    assert [s[0] for s in store.subscribers("C1", T0 + 60)] == ["0912"]
    store.cap_subscriptions("C1", T0 + 10)
    assert store.subscribers("C1", T0 + 20) == []
    assert store.unsubscribe("0913") == 2
    assert store.unsubscribe("0912", "C1") == 1


def test_text_is_data_not_sql(store: SmsStore) -> None:
    evil = "'); DROP TABLE outbox; --"
    store.add_parts([part(1, text=evil, sender=evil)])
    assert store.waiting_parts()[0].text == evil
    assert store.stats()["outbox"]["queued"] == 0


def test_unwritable_database_is_a_storage_error(tmp_path: Path) -> None:
    (tmp_path / "dir.db").mkdir()
    with pytest.raises(StorageError):
        SmsStore(tmp_path / "dir.db")


def test_prune(store: SmsStore, clock: Clock) -> None:
    store.add_parts([part(1)])
    (p,) = store.waiting_parts()
    (mid,) = store.add_messages([NewMessage((p.id,), "m0", p.sender, "0912", p.text, p.received_at)])
    store.finish_message(mid, state="answered", reply=Outgoing("+1", "x", "reply", inbound_id=mid))
    row = store.claim("m")
    store.mark_sent(row.id, [1], 1)
    clock.advance(100)
    assert store.prune(T0 + 50) == 2
    assert store.stats()["messages"] == {}


def test_report_that_overtakes_the_sent_record_is_kept(store: SmsStore) -> None:
    store.enqueue([Outgoing("+1", "a", "reply")])
    row = store.claim("m0")
    assert not store.record_delivery("m0", 9, True)  # the pump was quicker than the worker
    store.mark_sent(row.id, [9], 1)
    assert store.outbox_row(row.id)["state"] == "delivered"


def test_report_seen_before_a_crash_proves_the_interrupted_send(store: SmsStore, clock: Clock) -> None:
    store.enqueue([Outgoing("+1", "a", "reply")])
    row = store.claim("m0")
    clock.advance(0.05)
    store.record_delivery("m0", 42, True)  # accepted and delivered; the process died before mark_sent
    assert store.recover_interrupted(resend=True, grace=30) == [row.id]
    out = store.outbox_row(row.id)
    assert out["state"] == "delivered" and out["refs"] == "42"
    clock.advance(60)
    assert store.claim("m0") is None  # not sent again


def report(ref: int, to: str, status: int = 0, raw: str = "") -> DeliveryReport:
    return DeliveryReport(ref, status, to, None, "m0", raw or f"0006{ref:02X}{to[-4:]}{status:02X}")


def claimed(store: SmsStore) -> OutRow:
    row = store.claim("m0")
    assert row is not None
    return row


def state(store: SmsStore, out_id: int) -> str:
    row = store.outbox_row(out_id)
    assert row is not None
    return str(row["state"])


def test_report_for_another_number_does_not_prove_an_interrupted_send(store: SmsStore, clock: Clock) -> None:
    store.enqueue([Outgoing("+84912345001", "a", "reply")])
    row = claimed(store)
    store.recover_interrupted(resend=True, grace=30)
    assert store.record_reports([report(7, "+84912345999")]) == 0  # kept as an orphan, proves nothing
    assert store.record_reports([report(8, "0912345001")]) == 1  # same subscriber, national form
    out = store.outbox_row(row.id)
    assert out is not None and (out["state"], out["refs"]) == ("delivered", "8")
    clock.advance(60)
    assert store.claim("m0") is None


def test_report_read_again_after_a_crash_is_applied_once(store: SmsStore, clock: Clock) -> None:
    store.enqueue([Outgoing("+84912345001", "a", "reply"), Outgoing("+84912345001", "b", "reply")])
    first = claimed(store)
    store.mark_sent(first.id, [3], 1)
    seen = report(3, "+84912345001")
    assert store.record_reports([seen]) == 1
    second = claimed(store)  # dies in flight; the first report was not yet deleted from the SIM
    store.recover_interrupted(resend=True, grace=30)
    assert store.record_reports([seen]) == 0  # the same report again: no proof for ``second``
    assert state(store, second.id) == "unconfirmed"
    clock.advance(31)
    assert claimed(store).id == second.id  # sent again, as nothing proved it went


def test_pending_report_proves_sending_without_an_outcome(store: SmsStore) -> None:
    store.enqueue([Outgoing("+84912345001", "a", "reply")])
    row = claimed(store)
    store.recover_interrupted(resend=True, grace=30)
    assert store.record_reports([report(4, "+84912345001", status=0x20)]) == 1  # SMSC still trying
    assert state(store, row.id) == "sent"
    assert store.record_reports([report(4, "+84912345001", status=0)]) == 1
    assert state(store, row.id) == "delivered"


# ---------------------------------------------------------------- the store foundation and its migrations

LEGACY = Path(__file__).with_name("legacy_sms_schema.sql")


def test_versioned_schema_private_file(tmp_path: Path) -> None:
    store = SmsStore(tmp_path / "new" / "sms.db")
    try:
        assert store.sql.schema_version("sms") == 2
        assert (tmp_path / "new" / "sms.db").stat().st_mode & 0o777 == 0o600
    finally:
        store.close()
    again = SmsStore(tmp_path / "new" / "sms.db")  # reopening applies nothing twice
    assert again.sql.schema_version("sms") == 2
    again.close()


def test_a_file_from_before_versioned_migrations_opens_with_its_data(tmp_path: Path, clock: Clock) -> None:
    path = tmp_path / "sms.db"
    old = sqlite3.connect(path)
    old.executescript(LEGACY.read_text(encoding="utf-8"))
    old.execute(
        "INSERT INTO outbox (recipient, text, kind, state, next_attempt_at, created_at, modem_id, claimed_at)"
        " VALUES ('+84912345001', 'in flight', 'reply', 'sending', ?, ?, 'm0', ?)",
        (T0, T0, T0),
    )
    old.execute(
        "INSERT INTO delivery_orphans (modem_id, ref, delivered, at) VALUES ('m0', 7, 1, ?)", (T0 + 1,)
    )
    old.execute("INSERT INTO meta (key, value) VALUES ('events.cursor', '42')")
    old.commit()
    old.close()
    store = SmsStore(path, clock=clock)
    try:
        assert store.sql.schema_version("sms") == 2
        assert store.get_meta("events.cursor") == "42"
        # the old orphan has no recipient ("" matches any number): it proves the interrupted send
        (out_id,) = store.recover_interrupted(resend=True, grace=30)
        assert store.outbox_row(out_id)["state"] == "delivered"  # type: ignore[index]
        assert store.record_reports([report(9, "+84912345002")]) == 0  # delivery_seen works too
    finally:
        store.close()
