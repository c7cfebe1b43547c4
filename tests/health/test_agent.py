"""The heartbeat queue and the agent: offline queueing, in-order forwarding to the real central, limits."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from dossier.cache import Cache
from dossier.errors import CentralUnavailable
from health.agent import HealthAgent
from health.doctor import DoctorRecord
from health.queue import HeartbeatQueue
from health.summary import Identity, Sources
from health.system import SystemProbe
from tests.health.conftest import FakeClock, client, free_port, serve_central


def make_sources(tmp_path: Path, clock: FakeClock, queue: HeartbeatQueue | None = None) -> Sources:
    thermal = tmp_path / "thermal"
    (thermal / "thermal_zone0").mkdir(parents=True, exist_ok=True)
    (thermal / "thermal_zone0" / "temp").write_text("48312\n")
    uptime = tmp_path / "uptime"
    uptime.write_text("12345.67 4000.00\n")
    probe = SystemProbe(tmp_path, thermal_root=thermal, proc_uptime=uptime, vcgencmd="")
    return Sources(
        Identity("dev-1", "sms", "Phủ Lý", version="1.2.3"),
        probe,
        doctor=DoctorRecord(tmp_path / "doctor.json"),
        queue=queue,
        clock=clock.wall,
    )


def make_agent(tmp_path: Path, clock: FakeClock, central: Any, **kw: Any) -> HealthAgent:
    queue = HeartbeatQueue(tmp_path / "health.db", max_items=kw.pop("max_items", 10_080))
    return HealthAgent(
        make_sources(tmp_path, clock, queue),
        queue,
        central,
        interval=60.0,
        clock=clock.wall,
        monotonic=clock.monotonic,
        jitter=lambda: 1.0,
        **kw,
    )


class Recorder:
    """A ``CentralSink`` that fails while ``down`` and records what it accepted otherwise."""

    def __init__(self) -> None:
        self.down = False
        self.batches: list[list[dict[str, Any]]] = []
        self.items: list[dict[str, Any]] = []

    def send_heartbeats(self, batch: list[dict[str, Any]]) -> None:
        if self.down:
            raise CentralUnavailable("central unreachable")
        self.batches.append(batch)

    def report_inconsistencies(self, items: list[dict[str, Any]]) -> None:
        if self.down:
            raise CentralUnavailable("central unreachable")
        self.items.extend(items)


def test_heartbeats_queued_offline_are_forwarded_in_order_to_the_real_central(
    tmp_path: Path, clock: FakeClock
) -> None:
    port = free_port()
    (tmp_path / "doctor.json").write_text(
        '{"at": "2024-03-10T08:00:00+07:00", "worst": "fail", "checks": ['
        '{"name": "modem", "status": "fail", "detail": "no SIM\\ninserted", "fix": "insert"},'
        '{"name": "disk", "status": "pass", "detail": ""}]}'
    )
    with serve_central(tmp_path / "central.db") as live:
        device_id, key = live.enroll()
    # central is down (nothing listens on the port): heartbeats pile up on disk, in order
    agent = make_agent(tmp_path, clock, client(f"http://127.0.0.1:{port}", key), batch_size=7)
    for _ in range(20):
        agent.tick()
        clock.advance(60)
    assert agent.queue.depth() == 20
    assert agent.state == "failing"
    assert agent.next_send_in > 0  # backing off, not retrying hot
    # the network returns (central again, on the same address)
    with serve_central(tmp_path / "central.db", port=port) as live:
        clock.advance(agent.max_backoff)
        agent.tick()
        assert agent.queue.depth() == 0
        assert agent.state == "ok"
        history = live.history(device_id)
    seqs = [h["seq"] for h in history]
    assert seqs == list(range(1, 22))  # 20 offline + the one queued when it came back: no hole
    sent = [h["sent_at"] for h in history]
    assert sent == sorted(sent)
    last = history[-1]
    assert last["role"] == "sms" and last["site"] == "Phủ Lý" and last["version"] == "1.2.3"
    assert last["metrics"]["cpu_temperature_celsius"] == pytest.approx(48.312)
    assert last["metrics"]["uptime_seconds"] == pytest.approx(12345.67)
    assert last["metrics"]["doctor_failures"] == 1
    assert last["failing"] == ["modem"]
    assert history[0]["metrics"]["heartbeat_queue_depth"] == 0
    assert history[5]["metrics"]["heartbeat_queue_depth"] == 5  # read before its own push


def test_a_restarted_agent_continues_the_queue_and_the_sequence(tmp_path: Path, clock: FakeClock) -> None:
    sink = Recorder()
    sink.down = True
    agent = make_agent(tmp_path, clock, sink)
    for _ in range(3):
        agent.tick()
        clock.advance(60)
    agent.queue.close()
    sink.down = False
    again = make_agent(tmp_path, clock, sink)  # a new process over the same health.db
    again.tick()
    assert [h["seq"] for b in sink.batches for h in b] == [1, 2, 3, 4]


def test_backoff_doubles_up_to_the_maximum_and_every_tick_returns_the_wait(
    tmp_path: Path, clock: FakeClock
) -> None:
    sink = Recorder()
    sink.down = True
    agent = make_agent(tmp_path, clock, sink, max_backoff=40.0)
    waits = []
    for _ in range(5):
        agent.tick()
        waits.append(agent.next_send_in)
        clock.advance(agent.next_send_in)
    assert waits == [5.0, 10.0, 20.0, 40.0, 40.0]
    assert agent.tick() <= 40.0


def test_a_revoked_key_is_logged_once_as_error_and_not_retried_hot(
    tmp_path: Path, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    with serve_central(tmp_path / "central.db") as live:
        device_id, key = live.enroll()
        assert live.admin(f"/api/v1/admin/devices/{device_id}/revoke", json={"reason": "stolen"}).ok
        agent = make_agent(tmp_path, clock, client(live.url, key), rejected_retry=3600.0)
        with caplog.at_level(logging.WARNING):
            agent.tick()
            clock.advance(60)
            agent.tick()
    assert agent.state == "rejected"
    assert agent.queue.depth() == 2  # kept for when a technician re-enrols
    assert agent.next_send_in == pytest.approx(3600.0 - 60.0)
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and "refused" in errors[0].getMessage()


def test_a_full_queue_drops_the_oldest_and_counts_them(
    tmp_path: Path, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    sink = Recorder()
    sink.down = True
    agent = make_agent(tmp_path, clock, sink, max_items=10)
    with caplog.at_level(logging.WARNING):
        for _ in range(15):
            agent.beat()
    assert agent.queue.depth() == 10
    assert agent.queue.dropped() == 5
    sink.down = False
    agent.forward()
    assert [h["seq"] for b in sink.batches for h in b] == list(range(6, 16))
    drops = [r for r in caplog.records if "queue full" in r.getMessage()]
    assert len(drops) == 1  # one warning for the episode, not one per minute


def test_inconsistencies_are_marked_reported_only_after_central_accepted_them(
    tmp_path: Path, clock: FakeClock
) -> None:
    class Found:
        def __init__(self) -> None:
            self.rows = [
                {"id": i, "code": f"000.00.15.H56-240301-000{i}", "cached_version": 5, "central_version": 4,
                 "at": 1_710_000_000.0 + i, "channel": "sms"}
                for i in range(1, 4)
            ]  # fmt: skip
            self.reported: set[int] = set()

        def unreported_inconsistencies(self, limit: int = 100) -> list[dict[str, Any]]:
            return [r for r in self.rows if r["id"] not in self.reported][:limit]

        def mark_inconsistencies_reported(self, ids: Any) -> None:
            self.reported.update(ids)

    found = Found()
    sink = Recorder()
    sink.down = True
    agent = make_agent(tmp_path, clock, sink, inconsistencies=found)
    agent.tick()
    assert found.reported == set()  # central did not take them: still unreported
    sink.down = False
    clock.advance(agent.next_send_in)
    agent.tick()
    assert found.reported == {1, 2, 3}
    assert [i["id"] for i in sink.items] == [1, 2, 3]


def test_the_caches_inconsistencies_reach_the_real_central(tmp_path: Path, clock: FakeClock) -> None:
    cache = Cache(tmp_path / "cache.db")
    cache.record_inconsistency("000.00.15.H56-240301-0007", 5, 4, channel="kiosk")
    cache.record_inconsistency("000.00.15.H56-240301-0008", 3, 2, channel="sms")
    with serve_central(tmp_path / "central.db") as live:
        device_id, key = live.enroll()
        agent = make_agent(tmp_path, clock, client(live.url, key), inconsistencies=cache)
        agent.tick()
        stored = live.inconsistencies(device_id)
        assert cache.unreported_inconsistencies() == []
        agent.tick()  # nothing is sent twice
        assert len(live.inconsistencies(device_id)) == 2
    cache.close()
    assert sorted(i["code"] for i in stored) == ["000.00.15.H56-240301-0007", "000.00.15.H56-240301-0008"]


def test_no_central_configured_keeps_heartbeats_and_does_not_spin(tmp_path: Path, clock: FakeClock) -> None:
    agent = make_agent(tmp_path, clock, None)
    assert agent.tick() == pytest.approx(60.0)
    assert agent.queue.depth() == 1


def test_run_stops_promptly_when_told(tmp_path: Path, clock: FakeClock) -> None:
    import threading

    agent = make_agent(tmp_path, clock, Recorder())
    stop = threading.Event()
    thread = threading.Thread(target=agent.run, args=(stop,))
    thread.start()
    stop.set()
    thread.join(timeout=10)
    assert not thread.is_alive()


def test_a_long_backlog_drains_tick_after_tick_without_waiting_a_minute(
    tmp_path: Path, clock: FakeClock
) -> None:
    sink = Recorder()
    agent = make_agent(tmp_path, clock, sink, batch_size=1)
    for _ in range(60):
        agent.queue.push({"sent_at": "2024-03-10T00:00:00+00:00", "metrics": {}})
    assert agent.tick() == 0.0  # 50 batches sent, more waiting: go on at once
    assert agent.queue.depth() == 11  # 60 + the heartbeat of this tick, less 50
    assert agent.tick() == pytest.approx(60.0)  # drained: the next thing due is the next heartbeat
    assert agent.queue.depth() == 0
    assert [h["seq"] for b in sink.batches for h in b] == list(range(1, 62))
