"""Central's store on the shared SQLite foundation: old databases still open, errors are translated."""

from __future__ import annotations

import sqlite3
import stat
from datetime import datetime
from pathlib import Path

import pytest

from central.store import COMPONENT, MIGRATIONS, CentralStore, hash_key
from dossier.errors import StorageError
from dossier.model import VN_TZ, Dossier, Status

NOW = datetime(2024, 3, 20, 10, 0, tzinfo=VN_TZ)

# The layout written before versioned migrations (schema_version in meta, no _schema table).
LEGACY_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE dossiers (code TEXT PRIMARY KEY, seq INTEGER NOT NULL, version INTEGER NOT NULL,
    agency_id TEXT NOT NULL, agency_name TEXT NOT NULL DEFAULT '', status INTEGER NOT NULL,
    received_ts INTEGER, due_ts INTEGER, end_ts INTEGER, updated_at TEXT NOT NULL, body BLOB NOT NULL);
CREATE UNIQUE INDEX dossiers_seq ON dossiers(seq);
CREATE INDEX dossiers_agency_seq ON dossiers(agency_id, seq);
CREATE TABLE changes (seq INTEGER PRIMARY KEY AUTOINCREMENT, code TEXT NOT NULL, version INTEGER NOT NULL,
    at TEXT NOT NULL);
CREATE TABLE devices (id TEXT PRIMARY KEY, name TEXT NOT NULL, kind TEXT NOT NULL,
    key_hash TEXT NOT NULL UNIQUE, enrolled_at TEXT NOT NULL, last_heartbeat TEXT, last_status TEXT);
CREATE TABLE enrollment_tokens (token_hash TEXT PRIMARY KEY, created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL, used_at TEXT, device_id TEXT);
CREATE TABLE ratings (id TEXT PRIMARY KEY, agency_id TEXT NOT NULL, code TEXT NOT NULL,
    service INTEGER NOT NULL, staff INTEGER NOT NULL, rated_at TEXT NOT NULL, device_id TEXT NOT NULL,
    stored_at TEXT NOT NULL);
CREATE INDEX ratings_agency ON ratings(agency_id, rated_at);
"""
CODE = "000.00.15.H56-240315-0001"


def legacy_database(path: Path) -> None:
    d = Dossier(code=CODE, version=3, status=Status.IN_PROGRESS, agency_id="000.00.15.H56",
                applicant_name="Nguyễn Văn An", updated_at=NOW)  # fmt: skip
    conn = sqlite3.connect(path)
    conn.executescript(LEGACY_SCHEMA)
    conn.executemany("INSERT INTO meta VALUES (?, ?)", [("schema_version", "1"), ("epoch", "0123456789abcdef"),
                                                        ("cursor_key", "ab" * 32), ("horizon", "7")])  # fmt: skip
    conn.execute("INSERT INTO changes (seq, code, version, at) VALUES (9, ?, 3, ?)", (CODE, NOW.isoformat()))
    conn.execute(
        "INSERT INTO dossiers VALUES (?, 9, 3, '000.00.15.H56', '', 4, NULL, NULL, NULL, ?, ?)",
        (CODE, NOW.isoformat(), d.encode()),
    )
    conn.execute("INSERT INTO devices (id, name, kind, key_hash, enrolled_at) VALUES ('dev_1', 'k', 'kiosk', ?, ?)",
                 (hash_key("mck_old"), NOW.isoformat()))  # fmt: skip
    conn.commit()
    conn.close()


def test_a_database_from_before_versioned_migrations_opens_with_its_data(tmp_path: Path) -> None:
    path = tmp_path / "central.db"
    legacy_database(path)
    store = CentralStore(path)
    try:
        assert store.epoch == "0123456789abcdef" and store.cursor_key == bytes.fromhex("ab" * 32)
        assert store.horizon == 7  # cursors handed out before the upgrade keep their meaning
        got = store.get(CODE)
        assert got is not None and got.version == 3 and got.applicant_name == "Nguyễn Văn An"
        assert store.device_for_key("mck_old") == "dev_1"
        assert store.writes.schema_version(COMPONENT) == len(MIGRATIONS)
        with store.writer(NOW) as w:  # and it takes writes: the next change follows the old sequence
            assert w.put(Dossier(code=CODE, version=0, status=Status.FINISHED, agency_id="000.00.15.H56"))
        assert store.get(CODE).version == 4 and store.latest_seq([]) == 10  # type: ignore[union-attr]
    finally:
        store.close()
    assert not stat.S_IMODE(path.stat().st_mode) & 0o077  # the foundation restricts the file to its owner
    reopened = CentralStore(path)  # migrations are not applied twice
    try:
        assert reopened.epoch == "0123456789abcdef" and reopened.count() == 1
    finally:
        reopened.close()


def test_a_new_database_is_private_and_gets_its_own_secrets(tmp_path: Path) -> None:
    a, b = CentralStore(tmp_path / "data" / "a.db"), CentralStore(tmp_path / "b.db")
    try:
        assert a.epoch != b.epoch and a.cursor_key != b.cursor_key
        assert stat.S_IMODE((tmp_path / "data").stat().st_mode) == 0o700
        assert stat.S_IMODE((tmp_path / "b.db").stat().st_mode) == 0o600
    finally:
        a.close()
        b.close()


def test_a_database_from_a_newer_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "central.db"
    CentralStore(path).close()
    conn = sqlite3.connect(path)
    conn.execute("UPDATE _schema SET version = 99 WHERE component = ?", (COMPONENT,))
    conn.commit()
    conn.close()
    with pytest.raises(StorageError, match="newer version"):
        CentralStore(path)


def test_storage_failures_are_storage_errors(tmp_path: Path) -> None:
    path = tmp_path / "central.db"
    path.write_bytes(b"this is not a database, just some text" * 100)
    with pytest.raises(StorageError):
        CentralStore(path)
