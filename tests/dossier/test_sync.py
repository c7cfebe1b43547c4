"""Sync against a real HTTP server: snapshot, incremental, 304, duplicates, 410 resnapshot, crash safety."""

from __future__ import annotations

import random
import sqlite3
import threading
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from msgspec.structs import force_setattr

from dossier.cache import Cache
from dossier.client import CentralClient
from dossier.errors import CentralBadResponse, CentralUnavailable, StorageError
from dossier.model import VN_TZ, Status
from dossier.sync import Syncer, SyncReport
from tests.dossier.factory import make_dossier
from tests.dossier.scripted_central import State, scripted_central
from tests.queues import wait_until


@pytest.fixture
def central() -> Iterator[tuple[str, State]]:
    with scripted_central() as pair:
        for n in range(1, 26):
            pair[1].put(make_dossier(n))
        yield pair


def syncer(tmp_path: Path, url: str, **kw: object) -> Syncer:
    client = CentralClient(url, connect_timeout=1, read_timeout=2, retries=0)
    opts: dict[str, object] = {"page_size": 10, "rng": random.Random(1)}
    opts.update(kw)
    return Syncer(Cache(tmp_path / "c.db"), client, **opts)  # type: ignore[arg-type]


def test_first_sync_snapshots_then_incremental(tmp_path: Path, central: tuple[str, State]) -> None:
    url, state = central
    s = syncer(tmp_path, url)
    report = s.sync_once()
    assert report.resnapshot and report.pages == 3 and s.cache.count() == 25
    again = s.sync_once()
    assert again.not_modified and again.pages == 0
    state.put(make_dossier(3, version=2, status=Status.SUPPLEMENT_REQUESTED))
    report = s.sync_once()
    assert report.stored == 1 and not report.resnapshot
    assert [(e.code, e.new_status) for e in s.cache.events_after(0)] == [
        (make_dossier(3).code, Status.SUPPLEMENT_REQUESTED)
    ]


def test_duplicated_and_reordered_changes_are_idempotent(tmp_path: Path, central: tuple[str, State]) -> None:
    url, state = central
    state.duplicate_pages = True
    s = syncer(tmp_path, url)
    s.sync_once()
    state.put(make_dossier(4, version=3, status=Status.FINISHED))
    state.put(make_dossier(4, version=2, status=Status.FEES_DUE))  # arrives after a newer one
    s.sync_once()
    entry = s.cache.get(make_dossier(4).code)
    assert entry is not None and entry.version == 3 and entry.dossier.status is Status.FINISHED
    assert len(s.cache.events_after(0)) == 1


def test_expired_cursor_resnapshots_while_old_data_serves(tmp_path: Path, central: tuple[str, State]) -> None:
    url, state = central
    s = syncer(tmp_path, url)
    s.sync_once()
    state.put(make_dossier(7, version=2, status=Status.RETURNED))
    del state.dossiers[make_dossier(9).code]
    state.compact()
    report = s.sync_once()
    assert report.resnapshot
    assert s.cache.count() == 24 and s.cache.get(make_dossier(9).code) is None
    assert [e.new_status for e in s.cache.events_after(0)] == [Status.RETURNED]
    assert s.sync_once().not_modified


def test_crash_between_fetching_and_committing_a_page(tmp_path: Path, central: tuple[str, State]) -> None:
    url, state = central
    s = syncer(tmp_path, url)
    s.sync_once()
    cursor = s.cache.meta(s.cursor_key)
    for n in range(1, 4):
        state.put(make_dossier(n, version=2, status=Status.FINISHED))

    real_apply = s.cache.apply_page

    def crash(*a: object, **k: object) -> int:
        raise StorageError("disk vanished")

    s.cache.apply_page = crash  # type: ignore[method-assign]
    with pytest.raises(StorageError):
        s.sync_once()
    assert s.cache.meta(s.cursor_key) == cursor  # nothing half-written
    s.cache.apply_page = real_apply  # type: ignore[method-assign]
    report = s.sync_once()
    assert report.stored == 3 and len(s.cache.events_after(0)) == 3


def test_killed_process_mid_sync_resumes_from_the_committed_cursor(
    tmp_path: Path, central: tuple[str, State]
) -> None:
    url, state = central
    s = syncer(tmp_path, url)
    s.sync_once()
    for n in range(1, 21):
        state.put(make_dossier(n, version=2, status=Status.FINISHED))
    client = s.source
    pages = 0

    class DiesAfterOnePage:
        def changes(self, *a: object, **k: object):  # type: ignore[no-untyped-def]
            nonlocal pages
            pages += 1
            if pages > 1:
                raise CentralUnavailable("connection lost")
            return client.changes(*a, **k)  # type: ignore[arg-type]

    s.source = DiesAfterOnePage()
    with pytest.raises(CentralUnavailable):
        s.sync_once()
    assert sum(1 for e in s.cache.events_after(0)) == 10
    s2 = Syncer(Cache(tmp_path / "c.db"), client, page_size=10)  # a fresh process
    s2.sync_once()
    assert len(s2.cache.events_after(0)) == 20


def test_backoff_is_full_jitter_and_bounded(tmp_path: Path, central: tuple[str, State]) -> None:
    s = syncer(tmp_path, central[0], interval=10, max_backoff=60)
    delays = [s.next_delay(True) for _ in range(20)]
    assert all(0 <= d <= 60 for d in delays) and len(set(delays)) > 10
    assert 8 <= s.next_delay(False) <= 12 and s.failures == 0


def test_run_loop_survives_central_outage(tmp_path: Path) -> None:
    with scripted_central() as (url, state):
        state.put(make_dossier(1))
        state.faults.status_5xx = 2
        s = syncer(tmp_path, url, interval=0.05, max_backoff=0.1)
        stop = threading.Event()
        reports = []

        def on_report(r: object) -> None:
            reports.append(r)
            stop.set()

        t = threading.Thread(target=s.run, args=(stop,), kwargs={"on_report": on_report})
        t.start()
        t.join(10)
        assert not t.is_alive() and reports and s.cache.count() == 1


def test_sync_applies_retention(tmp_path: Path) -> None:
    with scripted_central() as (url, state):
        old = make_dossier(1, status=Status.RETURNED, updated_at=datetime(2020, 1, 1, tzinfo=VN_TZ))
        state.put(old)
        state.put(make_dossier(2))
        s = syncer(tmp_path, url, retention_days=30)
        s.sync_once()
        assert s.cache.get(old.code) is None and s.cache.get(make_dossier(2).code) is not None


def test_retry_after_is_capped_and_the_wait_is_interruptible(tmp_path: Path) -> None:
    with scripted_central() as (url, state):
        state.faults.status_5xx = 1000
        state.faults.retry_after = "3600"
        client = CentralClient(url, connect_timeout=1, read_timeout=2, retries=2, max_retry_after=60)
        s = Syncer(Cache(tmp_path / "c.db"), client, interval=0.05, max_backoff=0.1)
        stop = threading.Event()
        t = threading.Thread(target=s.run, args=(stop,), daemon=True)
        t.start()
        wait_until(lambda: s.cache.sync_status()["consecutive_failures"] >= 1)
        wait_until(lambda: s.last_delay > 0)
        assert 60 <= s.last_delay <= 61  # central's hour, capped; the loop's backoff owns the wait
        status = s.cache.sync_status()
        assert status["last_error"] == "central is busy" and status["last_error_at"] is not None
        assert status["last_success"] is None
        stop.set()
        t.join(5)
        assert not t.is_alive()


def test_storage_errors_are_retried_and_recorded_never_fatal(tmp_path: Path) -> None:
    with scripted_central() as (url, state):
        state.put(make_dossier(1))
        s = syncer(tmp_path, url, interval=0.05, max_backoff=0.1)
        s.cache.store.conn.execute("PRAGMA busy_timeout=50")
        locker = sqlite3.connect(tmp_path / "c.db", isolation_level=None)
        locker.execute("BEGIN IMMEDIATE")  # another process holds the write lock: "database is locked"
        stop = threading.Event()
        reports: list[SyncReport] = []
        t = threading.Thread(target=s.run, args=(stop,), kwargs={"on_report": reports.append}, daemon=True)
        t.start()
        wait_until(lambda: s.failures >= 2)
        assert t.is_alive() and not reports
        locker.execute("ROLLBACK")
        locker.close()
        wait_until(lambda: bool(reports))
        stop.set()
        t.join(5)
        status = s.cache.sync_status()
        assert s.cache.count() == 1 and status["last_success"] is not None
        assert status["consecutive_failures"] == 0 and status["confirmed_until"] is not None


@pytest.mark.parametrize(
    "call",
    [
        lambda c: c.count(),
        lambda c: c.meta("k"),
        lambda c: c.purge(30),
        lambda c: c.swap_shadow(cursor_key="k", cursor="c"),
        lambda c: c.get("x"),
        lambda c: c.peek("x"),
        lambda c: c.sync_status(),
        lambda c: c.checkpoint(),
        lambda c: c.unreported_inconsistencies(),
    ],
)
def test_every_storage_failure_is_a_storage_error(tmp_path: Path, call) -> None:  # type: ignore[no-untyped-def]
    cache = Cache(tmp_path / "c.db")
    cache.close()
    with pytest.raises(StorageError):
        call(cache)


def test_an_interrupted_resnapshot_resumes_from_its_shadow_cursor(
    tmp_path: Path, central: tuple[str, State]
) -> None:
    url, state = central
    s = syncer(tmp_path, url)
    s.sync_once()
    state.put(make_dossier(7, version=2, status=Status.RETURNED))
    state.compact()  # the device's cursor is now expired: a resnapshot of 25 dossiers, 3 pages
    client = s.source
    pages = 0

    class DiesAfterTwoPages:
        def changes(self, *a: object, **k: object):  # type: ignore[no-untyped-def]
            nonlocal pages
            pages += 1
            if pages > 3:  # the 410, then two snapshot pages
                raise CentralUnavailable("connection lost")
            return client.changes(*a, **k)  # type: ignore[arg-type]

    s.source = DiesAfterTwoPages()
    with pytest.raises(CentralUnavailable):
        s.sync_once()
    shadow_cursor = s.cache.meta(s.shadow_key)
    assert shadow_cursor and s.cache.get(make_dossier(7).code).version == 1  # type: ignore[union-attr]
    state.requests.clear()
    s2 = Syncer(Cache(tmp_path / "c.db"), client, page_size=10)  # a fresh process
    report = s2.sync_once()
    assert report.resnapshot and report.pages == 1  # only the page that was missing
    assert f"cursor={shadow_cursor}" in state.requests[0].replace("%3D", "=")
    assert s2.cache.count() == 25 and s2.cache.get(make_dossier(7).code).version == 2  # type: ignore[union-attr]
    assert [e.new_status for e in s2.cache.events_after(0)] == [Status.RETURNED]
    assert not s2.cache.meta(s2.shadow_key) and not s2.cache.shadow_in_progress()
    assert s2.sync_once().not_modified


def test_an_expired_shadow_cursor_restarts_the_snapshot(tmp_path: Path, central: tuple[str, State]) -> None:
    url, state = central
    s = syncer(tmp_path, url)
    s.cache.begin_shadow(cursor_key=s.shadow_key)
    s.cache.set_meta(s.shadow_key, "MDox")  # epoch 0, seq 1
    state.compact()  # epoch 1: that cursor is gone
    report = s.sync_once()
    assert report.resnapshot and s.cache.count() == 25


def test_a_version_beyond_sqlite_is_an_invalid_change_not_a_crash(
    tmp_path: Path, central: tuple[str, State]
) -> None:
    url, state = central
    bad = make_dossier(30)
    force_setattr(bad, "version", 2**63)
    state.log.append(bad)
    s = syncer(tmp_path, url)
    with pytest.raises(CentralBadResponse, match="version"):
        s.sync_once()
    assert s.cache.count() == 0 and not s.cache.meta(s.cursor_key)  # nothing half-written
