"""The fleet database on a real SQLite file: idempotency, restarts, retention, file modes."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from central import fleet_store
from central.fleet_store import FleetStore, Heartbeat
from dossier.errors import TemporaryError

T0 = 1_710_900_000.0  # 2024-03-20 02:00 UTC


def beat(seq: int, at: float, **kw: object) -> Heartbeat:
    fields: dict[str, object] = {
        "seq": seq, "sent_at": datetime.fromtimestamp(at, UTC), "version": "1", "role": "kiosk", "site": "S",
        "uptime_seconds": 1.0, "metrics": {"sync_age_seconds": float(seq)}, "checks": [],
    }  # fmt: skip
    fields.update(kw)
    return Heartbeat(**fields)  # type: ignore[arg-type]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[FleetStore]:
    s = FleetStore(tmp_path / "db" / "central.fleet.db", retention_days=14, full_hours=48)
    yield s
    s.close()


def test_file_is_private(store: FleetStore) -> None:
    assert os.stat(store.path).st_mode & 0o777 == 0o600
    assert os.stat(store.path.parent).st_mode & 0o777 == 0o700


def test_repeat_is_a_no_op_and_restarted_numbering_replaces(store: FleetStore) -> None:
    r = store.add_heartbeats("d1", [beat(1, T0), beat(2, T0 + 60)], T0 + 61)
    assert (r.stored, r.duplicates) == (2, 0)
    r = store.add_heartbeats("d1", [beat(1, T0), beat(2, T0 + 60)], T0 + 62)
    assert (r.stored, r.duplicates) == (0, 2)
    state = store.state("d1")
    assert state is not None and state.received_at == T0 + 61 and state.heartbeats_total == 2
    # the device lost its queue and numbers from 1 again: same seq, another sent_at
    r = store.add_heartbeats("d1", [beat(1, T0 + 3600, version="2")], T0 + 3601)
    assert (r.stored, r.duplicates) == (1, 0)
    state = store.state("d1")
    assert state is not None and state.seq == 1 and state.version == "2" and state.received_at == T0 + 3601
    assert store.heartbeat_count("d1") == 2


def test_a_failed_batch_leaves_nothing(store: FleetStore) -> None:
    bad = beat(2, T0, metrics={"x": object()})  # not JSON-serialisable: fails mid-transaction
    with pytest.raises(TypeError):
        store.add_heartbeats("d1", [beat(1, T0), bad], T0)
    assert store.heartbeat_count() == 0 and store.state("d1") is None


def test_retention_thins_then_drops(store: FleetStore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fleet_store, "CHUNK_ROWS", 50)  # several small chunks
    now = T0 + 20 * 86400
    # 20 days of one heartbeat every 10 minutes for two devices; seq counts minutes (seq % 60 == 0 kept)
    # (in time order, as central's clock receives them; maintenance also runs along the way)
    for day in range(20):
        beats = [beat(day * 1440 + m + 10, T0 + day * 86400 + m * 60) for m in range(0, 1440, 10)]
        for i in range(0, len(beats), 100):
            chunk = beats[i : i + 100]
            for device in ("d1", "d2"):
                store.add_heartbeats(device, chunk, chunk[-1].sent_at.timestamp())
    before = store.heartbeat_count()
    rounds = 0
    while store.maintain(now, force=True):
        rounds += 1
        assert rounds < 1000
    assert rounds > 2
    with store.reader.reading() as conn:
        rows = conn.execute("SELECT received_at, seq FROM heartbeats").fetchall()
    assert len(rows) < before
    assert min(at for at, _ in rows) >= now - 14 * 86400  # nothing older than the retention
    old = [(at, seq) for at, seq in rows if at < now - 48 * 3600]
    assert old and all(seq % fleet_store.THIN_EVERY == 0 for _, seq in old)  # thinned to hourly
    recent = [seq for at, seq in rows if at >= now - 48 * 3600 + 600]
    assert any(seq % fleet_store.THIN_EVERY for seq in recent)  # the last 48 h untouched
    # the newest two days are complete: 144 per device per day
    assert len([1 for at, _ in rows if at >= now - 48 * 3600]) == 2 * 2 * 144


def test_maintenance_waits_until_due(store: FleetStore) -> None:
    store.add_heartbeats("d1", [beat(1, T0)], T0)
    store.maintain(T0 + 100 * 86400, force=True)
    assert store.heartbeat_count() == 0
    store.add_heartbeats("d1", [beat(2, T0)], T0)  # maintenance ran just now: not due again yet
    assert store.maintain(T0 + 100 * 86400 + 1) == 0 and store.heartbeat_count() == 1


def test_revocation_is_idempotent(store: FleetStore) -> None:
    assert store.revoked_at("d1") is None
    first = store.revoke("d1", T0, "stolen")
    assert store.revoke("d1", T0 + 5, "again") == first == T0
    assert store.revoked_at("d1") == T0


def test_sessions_expire_with_maintenance(store: FleetStore) -> None:
    from central.staff import StaffAuth

    auth = StaffAuth(store, "x" * 20, session_hours=1)
    token, _ = auth.start("admin", T0)
    assert auth.session(token, T0 + 10) is not None
    assert auth.session(token, T0 + 3601) is None
    store.maintain(T0 + 3601, force=True)
    with store.reader.reading() as conn:
        assert conn.execute("SELECT count(*) FROM sessions").fetchone()[0] == 0


def test_group_commit_shares_transactions(store: FleetStore) -> None:
    from central.fleet_writer import HeartbeatWriter

    writer = HeartbeatWriter(store)
    try:
        with store.writer.lock:  # hold the writer back so that the batches queue up
            futures = [writer.submit(f"d{i}", [beat(1, T0), beat(2, T0 + 60)], T0 + 61) for i in range(50)]
        assert all(f.result(timeout=30).stored == 2 for f in futures)
        assert writer.groups <= 2  # 50 batches in one or two transactions, not 50
        assert store.heartbeat_count() == 100
    finally:
        writer.close()
    with pytest.raises(TemporaryError):
        writer.submit("d1", [beat(3, T0)], T0)


def test_a_bad_batch_fails_alone_in_its_group(store: FleetStore) -> None:
    from central.fleet_writer import HeartbeatWriter

    writer = HeartbeatWriter(store)
    try:
        with store.writer.lock:
            good = [writer.submit(f"d{i}", [beat(1, T0)], T0) for i in range(5)]
            bad = writer.submit("d-bad", [beat(1, T0, metrics={"x": object()})], T0)
            good += [writer.submit(f"e{i}", [beat(1, T0)], T0) for i in range(5)]
        assert all(f.result(timeout=30).stored == 1 for f in good)
        with pytest.raises(TypeError):
            bad.result(timeout=30)
        assert store.heartbeat_count() == 10 and store.state("d-bad") is None
    finally:
        writer.close()
