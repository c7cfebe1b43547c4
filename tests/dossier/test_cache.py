"""The SQLite cache: newer versions only, events, cursor atomicity, shadow swap, retention, migrations."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from msgspec.structs import force_setattr

from dossier.cache import Cache
from dossier.errors import StorageError
from dossier.model import Status
from tests.dossier.factory import make_dossier


class Clock:
    def __init__(self, t: float = 1_800_000_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def cache(tmp_path: Path) -> Cache:
    return Cache(tmp_path / "cache.db", clock=Clock())


def test_wal_mode_and_schema_version(cache: Cache) -> None:
    conn = sqlite3.connect(cache.path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("SELECT version FROM _schema WHERE component = 'cache'").fetchone()[0] >= 2
    assert oct(cache.path.stat().st_mode & 0o777) == "0o600"


def test_reopen_keeps_data_and_does_not_remigrate(tmp_path: Path) -> None:
    c = Cache(tmp_path / "c.db")
    c.put(make_dossier(1))
    c.close()
    again = Cache(tmp_path / "c.db")
    assert again.get(make_dossier(1).code) is not None


def test_only_newer_versions_are_stored(cache: Cache) -> None:
    assert cache.put(make_dossier(1, version=2)).stored
    result = cache.put(make_dossier(1, version=1, status=Status.ACCEPTED))
    assert not result.stored and result.cached_version == 2
    entry = cache.get(make_dossier(1).code)
    assert entry is not None and entry.version == 2 and entry.dossier.status is Status.IN_PROGRESS


def test_duplicates_and_reordering_within_a_page(cache: Cache) -> None:
    page = [
        make_dossier(1, version=3, status=Status.FINISHED),
        make_dossier(1, version=1),
        make_dossier(2, version=1),
        make_dossier(1, version=2),
    ]
    cache.apply_page(page, cursor_key="k", cursor="c1")
    cache.apply_page(list(reversed(page)), cursor_key="k", cursor="c2")
    entry = cache.get(make_dossier(1).code)
    assert entry is not None and entry.version == 3 and entry.dossier.status is Status.FINISHED
    assert cache.count() == 2 and cache.meta("k") == "c2"


def test_state_changes_become_events_once(cache: Cache) -> None:
    cache.apply_page([make_dossier(1, version=1)], cursor_key="k", cursor="a")
    assert cache.events_after(0) == []  # first sight of a dossier is not a transition
    cache.apply_page(
        [make_dossier(1, version=2, status=Status.SUPPLEMENT_REQUESTED)], cursor_key="k", cursor="b"
    )
    cache.apply_page(
        [make_dossier(1, version=2, status=Status.SUPPLEMENT_REQUESTED)], cursor_key="k", cursor="b"
    )
    cache.apply_page(
        [make_dossier(1, version=3, status=Status.SUPPLEMENT_REQUESTED, note="x")], cursor_key="k", cursor="c"
    )
    events = cache.events_after(0)
    assert [(e.old_status, e.new_status, e.version) for e in events] == [
        (Status.IN_PROGRESS, Status.SUPPLEMENT_REQUESTED, 2)
    ]
    assert cache.events_after(events[-1].seq) == []


def test_a_failed_page_leaves_rows_and_cursor_unchanged(cache: Cache) -> None:
    cache.apply_page([make_dossier(1)], cursor_key="k", cursor="before")
    bad = make_dossier(2)
    force_setattr(bad, "version", 2**70)  # too big for SQLite: fails inside the transaction
    with pytest.raises(OverflowError):
        cache.apply_page([make_dossier(3), bad], cursor_key="k", cursor="after")
    assert cache.meta("k") == "before"
    assert cache.get(make_dossier(3).code) is None


def test_shadow_swap_replaces_atomically_and_keeps_other_agencies(cache: Cache) -> None:
    other = make_dossier(9, agency="000.00.16.H56")
    cache.apply_page([make_dossier(1), make_dossier(2), other], cursor_key="k", cursor="old")
    cache.begin_shadow()
    cache.apply_page(
        [make_dossier(1, version=5, status=Status.FINISHED)], cursor_key="s", cursor="x", shadow=True
    )
    assert cache.get(make_dossier(2).code) is not None  # live table still serves during the snapshot
    rows = cache.swap_shadow(["000.00.15.H56"], cursor_key="k", cursor="new")
    assert rows == 2
    assert cache.get(make_dossier(2).code) is None  # gone upstream
    assert cache.get(other.code) is not None  # not synced by this device: kept
    assert cache.meta("k") == "new"
    assert [(e.code, e.new_status) for e in cache.events_after(0)] == [
        (make_dossier(1).code, Status.FINISHED)
    ]


def test_retention_purges_closed_dossiers(tmp_path: Path) -> None:
    clock = Clock()
    cache = Cache(tmp_path / "c.db", clock=clock)
    old = make_dossier(1, status=Status.RETURNED, updated_at=None)
    cache.put(old)
    cache.put(make_dossier(2, updated_at=None))
    clock.t += 31 * 86400
    assert cache.purge(30) == 1
    assert cache.get(old.code) is None and cache.get(make_dossier(2).code) is not None


def test_unopenable_cache_is_a_storage_error(tmp_path: Path) -> None:
    (tmp_path / "dir.db").mkdir()
    with pytest.raises(StorageError):
        Cache(tmp_path / "dir.db")


def test_sample_codes_one_per_state(cache: Cache) -> None:
    cache.apply_page(
        [make_dossier(1), make_dossier(2), make_dossier(3, status=Status.FINISHED)],
        cursor_key="k",
        cursor="c",
    )
    assert [s for _, s in cache.sample_codes()] == [Status.IN_PROGRESS, Status.FINISHED]


def test_dossiers_closed_before_retention_are_not_stored_unless_cached(cache: Cache) -> None:
    from datetime import datetime

    from dossier.model import VN_TZ

    long_ago = datetime(2020, 1, 1, tzinfo=VN_TZ)
    cutoff = datetime(2021, 1, 1, tzinfo=VN_TZ).timestamp()
    cache.apply_page([make_dossier(2)], cursor_key="k", cursor="a")
    page = [
        make_dossier(1, status=Status.RETURNED, updated_at=long_ago),  # new to the cache: skipped
        make_dossier(2, version=2, status=Status.RETURNED, updated_at=long_ago),  # cached: updated
        make_dossier(3, status=Status.IN_PROGRESS, updated_at=long_ago),  # open: kept
    ]
    assert cache.apply_page(page, cursor_key="k", cursor="b", closed_before=cutoff) == 2
    assert cache.get(make_dossier(1).code) is None
    entry = cache.get(make_dossier(2).code)
    assert entry is not None and entry.dossier.status is Status.RETURNED
    assert cache.get(make_dossier(3).code) is not None


def test_inconsistencies_are_reported_once(cache: Cache) -> None:
    cache.record_inconsistency("A", 5, 4, channel="sms")
    cache.record_inconsistency("B", 7, 6, channel="kiosk")
    first = cache.unreported_inconsistencies(limit=1)
    assert [(i["code"], i["cached_version"], i["central_version"], i["channel"]) for i in first] == [
        ("A", 5, 4, "sms")
    ]
    assert set(first[0]) == {"id", "code", "cached_version", "central_version", "at", "channel", "reported"}
    cache.mark_inconsistencies_reported([int(first[0]["id"])])  # type: ignore[call-overload]
    assert [i["code"] for i in cache.unreported_inconsistencies()] == ["B"]
    assert len(cache.inconsistencies()) == 2


def test_a_cache_from_the_previous_schema_is_migrated_and_its_rows_checked_again(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    old = sqlite3.connect(path)
    old.executescript(
        "CREATE TABLE dossiers (code TEXT PRIMARY KEY, version INTEGER NOT NULL, status INTEGER NOT NULL,"
        " agency_id TEXT NOT NULL, closed INTEGER NOT NULL, changed_at REAL NOT NULL, fetched_at REAL NOT NULL,"
        " body TEXT NOT NULL);"
        "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT);"
        "CREATE TABLE events (seq INTEGER PRIMARY KEY AUTOINCREMENT, code TEXT NOT NULL, old_status INTEGER,"
        " new_status INTEGER NOT NULL, version INTEGER NOT NULL, at REAL NOT NULL);"
        "CREATE TABLE inconsistencies (id INTEGER PRIMARY KEY, code TEXT, cached_version INTEGER,"
        " central_version INTEGER, at FLOAT);"
        "PRAGMA user_version = 1;"
    )
    good, bad = make_dossier(1), make_dossier(2)
    bad_body = bad.encode().replace(b"2026-11-15", b"9999-12-31")  # what the old model let through
    for d, body in ((good, good.encode()), (bad, bad_body)):
        old.execute("INSERT INTO dossiers VALUES (?, 1, 4, ?, 0, 0, 0, ?)", (d.code, d.agency_id, body))
    old.execute("INSERT INTO meta VALUES ('sync.cursor.x', 'c1')")
    old.commit()
    old.close()
    cache = Cache(path)
    assert cache.meta("sync.cursor.x") == "c1" and cache.count() == 2
    assert cache.get(good.code) is not None
    assert cache.peek(good.code)[3] is False  # type: ignore[index]  # written under an older model
    assert cache.get(bad.code) is None and cache.undecodable_rows == 1 and cache.count() == 1
    cache.put(make_dossier(1, version=2, status=Status.FINISHED))  # the event trigger exists
    assert [e.new_status for e in cache.events_after(0)] == [Status.FINISHED]
    assert cache.peek(good.code)[3] is True  # type: ignore[index]


def test_sync_status_is_recorded(cache: Cache) -> None:
    assert cache.sync_status()["last_success"] is None
    assert cache.record_sync_failure("central is busy") == 1
    assert cache.record_sync_failure("central is busy") == 2
    status = cache.sync_status()
    assert status["consecutive_failures"] == 2 and status["last_error"] == "central is busy"
    cache.record_sync_success(1_800_000_000.0, ["000.00.15.H56"])
    status = cache.sync_status()
    assert status["consecutive_failures"] == 0 and status["confirmed_until"] == 1_800_000_000.0
    assert status["last_success"] is not None and status["last_error_at"] is not None
