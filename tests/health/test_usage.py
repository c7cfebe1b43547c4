"""Usage counters: buffered in memory, added to usage.db by every process, kept when the file fails."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from dossier.lookup import LookupResult, Outcome
from dossier.usage import BUCKET_LABELS, UsageRecorder, open_usage, read_usage


def totals(path: Path) -> dict[tuple[str, str, str], int]:
    store = open_usage(path)
    try:
        return {(c.channel, c.source, c.result): c.count for c in read_usage(store).lookups}
    finally:
        store.close()


def test_recording_does_no_io_until_a_flush(tmp_path: Path) -> None:
    path = tmp_path / "usage.db"
    rec = UsageRecorder(path, background=False)
    rec.record_lookup("kiosk", "cache", "found", 0.003)
    rec.record_event("kiosk_scan")
    assert not path.exists()
    assert rec.flush()
    assert totals(path) == {("kiosk", "cache", "found"): 1}
    rec.close()


def test_latency_lands_in_the_right_bucket(tmp_path: Path) -> None:
    path = tmp_path / "usage.db"
    rec = UsageRecorder(path, background=False)
    for seconds in (0.004, 0.005, 0.3, 42.0):
        rec.record_lookup("sms", "central", "found", seconds)
    rec.close()
    store = open_usage(path)
    (count,) = read_usage(store).lookups
    store.close()
    by_label = dict(zip(BUCKET_LABELS, count.buckets, strict=True))
    assert by_label["0.005"] == 2  # le is inclusive
    assert by_label["0.5"] == 1
    assert by_label["+Inf"] == 1
    assert count.seconds_sum == pytest.approx(42.309)


def test_the_observer_counts_lookups_on_its_channel(tmp_path: Path) -> None:
    rec = UsageRecorder(tmp_path / "usage.db", background=False)
    observe = rec.observer("cli")
    observe(LookupResult("X", Outcome.UNAVAILABLE, None, "none", None, None), 3.0)
    observe(LookupResult("X", Outcome.NOT_FOUND, None, "central", None, 0.0), 0.2)
    rec.close()
    assert totals(tmp_path / "usage.db") == {
        ("cli", "none", "unavailable"): 1,
        ("cli", "central", "not_found"): 1,
    }
    with pytest.raises(ValueError):
        rec.observer("Kiosk; DROP")


def test_processes_sharing_the_file_add_up(tmp_path: Path) -> None:
    path = tmp_path / "usage.db"
    script = (
        "import sys\nfrom dossier.usage import UsageRecorder\n"
        "r = UsageRecorder(sys.argv[1], background=False)\n"
        "for i in range(300):\n    r.record_lookup('sms', 'cache', 'found', 0.001)\n"
        "    r.flush() if i % 7 == 0 else None\n"
        "r.close()\n"
    )
    child = subprocess.Popen([sys.executable, "-c", script, str(path)], cwd=Path(__file__).parents[2])
    mine = UsageRecorder(path, background=False)
    for i in range(300):
        mine.record_lookup("sms", "cache", "found", 0.001)
        if i % 5 == 0:
            mine.flush()
    mine.close()
    assert child.wait(timeout=60) == 0
    assert totals(path) == {("sms", "cache", "found"): 600}


def test_a_failing_file_keeps_the_counts_in_memory(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    rec = UsageRecorder(blocker / "usage.db", background=False)
    rec.record_lookup("kiosk", "stale", "found", 0.01)
    assert not rec.flush()
    rec.record_lookup("kiosk", "stale", "found", 0.01)
    rec.path = tmp_path / "usage.db"  # the disk is back
    assert rec.flush()
    rec.close()
    assert totals(tmp_path / "usage.db") == {("kiosk", "stale", "found"): 2}


def test_the_background_thread_flushes_and_close_writes_the_rest(tmp_path: Path) -> None:
    path = tmp_path / "usage.db"
    rec = UsageRecorder(path, flush_seconds=0.05)
    rec.record_lookup("kiosk", "cache", "found", 0.001)
    deadline = time.monotonic() + 10
    done = threading.Event()
    while not path.exists() or not totals(path):
        assert time.monotonic() < deadline, "the background flush did not happen within 10 s"
        done.wait(0.02)
    rec.record_lookup("kiosk", "cache", "found", 0.001)
    rec.close()
    assert totals(path) == {("kiosk", "cache", "found"): 2}


def test_states_are_published_with_their_time_and_removed_when_the_process_closes(tmp_path: Path) -> None:
    path = tmp_path / "usage.db"
    now = [1000.0]
    state = {"state": "closed", "failures": 0}
    rec = UsageRecorder(path, background=False, clock=lambda: now[0])
    rec.track("breaker.sms", lambda: dict(state))
    assert rec.flush()  # no counts, but the state is written
    state.update(state="open", failures=3)
    now[0] = 1005.0
    rec.flush()
    reader = open_usage(path)
    assert read_usage(reader).states == {"breaker.sms": ({"state": "open", "failures": 3}, 1005.0)}
    rec.close()
    assert read_usage(reader).states == {}
    reader.close()
