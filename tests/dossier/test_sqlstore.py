"""The shared store foundation: modes, per-component migrations, transactions, error translation."""

from __future__ import annotations

import sqlite3
import stat
from pathlib import Path

import pytest

from dossier.errors import StorageError
from dossier.sqlstore import Migration, SqliteStore, StorageBusy, translate


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_new_file_and_directory_are_private(tmp_path: Path) -> None:
    path = tmp_path / "state" / "x.db"
    store = SqliteStore.open(path, component="x", migrations=[Migration(1, "CREATE TABLE t (a INTEGER)")])
    with store.transaction() as conn:
        conn.execute("INSERT INTO t VALUES (1)")
    assert _mode(path) == 0o600
    assert _mode(path.parent) == 0o700
    for name in ("x.db-wal", "x.db-shm"):
        sibling = path.with_name(name)
        if sibling.exists():
            assert _mode(sibling) & 0o077 == 0
    store.close()


def test_components_migrate_independently_in_one_file(tmp_path: Path) -> None:
    path = tmp_path / "shared.db"
    calls: list[int] = []

    def second(conn: sqlite3.Connection) -> None:
        calls.append(2)
        conn.execute("ALTER TABLE a ADD COLUMN extra TEXT")

    store = SqliteStore.open(path, component="a", migrations=[Migration(1, "CREATE TABLE a (x INTEGER);")])
    assert store.schema_version("a") == 1
    store.migrate("b", [Migration(1, "CREATE TABLE b (y INTEGER);\nCREATE INDEX b_y ON b (y);")])
    store.close()

    store = SqliteStore.open(
        path, component="a", migrations=[Migration(1, "CREATE TABLE a (x INTEGER)"), Migration(2, second)]
    )
    assert calls == [2]
    assert store.schema_version("a") == 2 and store.schema_version("b") == 1
    store.close()
    # Reopening applies nothing again.
    store = SqliteStore.open(
        path, component="a", migrations=[Migration(1, "CREATE TABLE a (x INTEGER)"), Migration(2, second)]
    )
    assert calls == [2]
    store.close()


def test_failed_migration_leaves_the_previous_version(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    bad = [Migration(1, "CREATE TABLE a (x INTEGER)"), Migration(2, "CREATE TABLE b (y); SELECT nope FROM a")]
    with pytest.raises(StorageError):
        SqliteStore.open(path, component="a", migrations=bad)
    store = SqliteStore.open(path, component="a", migrations=bad[:1])
    assert store.schema_version("a") == 1
    with store.reading() as conn:
        assert not conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'b'").fetchone()
    store.close()


def test_transaction_rolls_back_and_translates(tmp_path: Path) -> None:
    store = SqliteStore.open(
        tmp_path / "t.db", component="t", migrations=[Migration(1, "CREATE TABLE t (a INTEGER PRIMARY KEY)")]
    )
    with store.transaction() as conn:
        conn.execute("INSERT INTO t VALUES (1)")
    with pytest.raises(StorageError), store.transaction() as conn:
        conn.execute("INSERT INTO t VALUES (2)")
        conn.execute("INSERT INTO t VALUES (1)")  # primary key clash
    with pytest.raises(RuntimeError), store.transaction() as conn:
        conn.execute("INSERT INTO t VALUES (3)")
        raise RuntimeError("caller failed")
    with store.reading() as conn:
        assert [r[0] for r in conn.execute("SELECT a FROM t")] == [1]
    with pytest.raises(StorageError), store.reading() as conn:
        conn.execute("SELECT * FROM missing")
    store.close()


def test_busy_database_is_a_retryable_storage_error() -> None:
    err = translate(sqlite3.OperationalError("database is locked"), "write")
    assert isinstance(err, StorageBusy) and isinstance(err, StorageError)


def test_unopenable_path_is_a_storage_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(StorageError, match="cannot open"):
        SqliteStore.open(blocker / "x.db", component="x")
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StorageError):
        SqliteStore.open(garbage, component="x", migrations=[Migration(1, "CREATE TABLE a (x)")])


def test_readonly_open_runs_no_migration(tmp_path: Path) -> None:
    path = tmp_path / "r.db"
    with pytest.raises(StorageError, match="does not exist"):
        SqliteStore.open(path, component="r", readonly=True)
    SqliteStore.open(path, component="r", migrations=[Migration(1, "CREATE TABLE r (x)")]).close()
    store = SqliteStore.open(path, component="r", readonly=True)
    with pytest.raises(StorageError), store.transaction() as conn:
        conn.execute("INSERT INTO r VALUES (1)")
    store.close()


def test_quick_check_and_backup(tmp_path: Path) -> None:
    store = SqliteStore.open(
        tmp_path / "b.db", component="b", migrations=[Migration(1, "CREATE TABLE b (x)")], durable=True
    )
    with store.transaction() as conn:
        conn.executemany("INSERT INTO b VALUES (?)", [(i,) for i in range(100)])
    assert store.quick_check() == []
    dest = store.backup_to(tmp_path / "backups" / "b-copy.db")
    assert _mode(dest) == 0o600
    assert not list(dest.parent.glob(".*tmp"))
    copy = sqlite3.connect(dest)
    assert copy.execute("SELECT count(*) FROM b").fetchone()[0] == 100
    copy.close()
    store.close()


def test_backup_failure_leaves_no_partial_file(tmp_path: Path) -> None:
    store = SqliteStore.open(
        tmp_path / "c.db", component="c", migrations=[Migration(1, "CREATE TABLE c (x)")]
    )
    target = tmp_path / "c.db" / "copy.db"  # a path below a file: fails for root too
    with pytest.raises(StorageError, match="backup"):
        store.backup_to(target)
    assert not target.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.db", "c.db-shm", "c.db-wal"]
    store.close()
