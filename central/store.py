"""The central service's SQLite store: dossiers, change log, devices, enrollment tokens, ratings.

The only module of ``central`` (with the fleet store) that talks to ``sqlite3``. It opens its file
through ``dossier.sqlstore`` (component ``central``, ``durable``: ratings and enrolments cannot be
fetched again) with two handles: ``writes`` for transactions and ``reads``, a read-only connection, so
that lookups and the changes feed are served from the WAL snapshot while an ingestion transaction runs.
Each dossier row carries the sequence number of its newest change, so the changes feed is one prepared,
index-ordered query over ``dossiers``; the ``changes`` table is the append-only log of every upsert,
compacted to the newest row per code and at most ``change_log_retention`` rows.

Databases written before the versioned migrations (a ``meta.schema_version`` row, no ``_schema`` table)
are adopted by migration 1, which only creates what is missing.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from msgspec.structs import replace

from central.errors import Unauthorized
from dossier.errors import InvalidRecord, StorageError
from dossier.model import MAX_VERSION, Dossier
from dossier.sqlstore import Migration, SqliteStore

log = logging.getLogger(__name__)

COMPONENT = "central"

_SCHEMA_1 = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS dossiers (
    code TEXT PRIMARY KEY,
    seq INTEGER NOT NULL,
    version INTEGER NOT NULL,
    agency_id TEXT NOT NULL,
    agency_name TEXT NOT NULL DEFAULT '',
    status INTEGER NOT NULL,
    received_ts INTEGER,
    due_ts INTEGER,
    end_ts INTEGER,
    updated_at TEXT NOT NULL,
    body BLOB NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS dossiers_seq ON dossiers(seq);
CREATE INDEX IF NOT EXISTS dossiers_agency_seq ON dossiers(agency_id, seq);
CREATE TABLE IF NOT EXISTS changes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    code TEXT NOT NULL,
    version INTEGER NOT NULL,
    at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS devices (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    key_hash TEXT NOT NULL UNIQUE,
    enrolled_at TEXT NOT NULL,
    last_heartbeat TEXT,
    last_status TEXT
);
CREATE TABLE IF NOT EXISTS enrollment_tokens (
    token_hash TEXT PRIMARY KEY,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    used_at TEXT,
    device_id TEXT
);
CREATE TABLE IF NOT EXISTS ratings (
    id TEXT PRIMARY KEY,
    agency_id TEXT NOT NULL,
    code TEXT NOT NULL,
    service INTEGER NOT NULL,
    staff INTEGER NOT NULL,
    rated_at TEXT NOT NULL,
    device_id TEXT NOT NULL,
    stored_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS ratings_agency ON ratings(agency_id, rated_at);
"""


def _schema_1(conn: sqlite3.Connection) -> None:
    """Create the tables (or adopt a database from before ``_schema``) and the per-database secrets."""
    for statement in _SCHEMA_1.split(";"):
        if statement.strip():
            conn.execute(statement)
    for key, value in (
        ("epoch", secrets.token_hex(8)),
        ("cursor_key", secrets.token_hex(32)),
        ("horizon", "0"),
    ):
        conn.execute("INSERT OR IGNORE INTO meta (key, value) VALUES (?,?)", (key, value))
    conn.execute("DELETE FROM meta WHERE key = 'schema_version'")  # now kept in _schema


MIGRATIONS = (Migration(1, _schema_1),)

_INSERT_DOSSIER = (
    "INSERT INTO dossiers (code, seq, version, agency_id, agency_name, status, received_ts, due_ts, end_ts,"
    " updated_at, body) VALUES (?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT(code) DO UPDATE SET seq=excluded.seq,"
    " version=excluded.version, agency_id=excluded.agency_id, agency_name=excluded.agency_name,"
    " status=excluded.status, received_ts=excluded.received_ts, due_ts=excluded.due_ts,"
    " end_ts=excluded.end_ts, updated_at=excluded.updated_at, body=excluded.body"
)


def dump_body(d: Dossier) -> bytes:
    """The dossier's contract JSON as compact UTF-8, stored ready to emit."""
    return d.encode()


def _ts(value: datetime | None) -> int | None:
    return int(value.timestamp()) if value else None


def processing_end(d: Dossier) -> datetime | None:
    """When the agency's processing ended (Decision 766): first of finished, returned, stopped, refused."""
    ends = [t for t in (d.finished_at, d.returned_at) if t is not None]
    if ends:
        return min(ends)
    if d.status.ends_processing:
        return d.updated_at  # stopped / refused with no end time given: when the state was recorded
    return None


def _row(d: Dossier, seq: int, now: datetime) -> tuple[Any, ...]:
    """The ``dossiers`` row of ``d`` at change ``seq``."""
    return (
        d.code,
        seq,
        d.version,
        d.agency_id,
        d.agency_name,
        int(d.status),
        _ts(d.received_at or d.submitted_at),
        _ts(d.due_at),
        _ts(processing_end(d)),
        (d.updated_at or now).isoformat(),
        dump_body(d),
    )


def hash_key(key: str) -> str:
    """Hex SHA-256 of a high-entropy credential (API key, enrollment token); looked up by equality."""
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


class Writer:
    """Dossier writes inside one transaction (see ``CentralStore.writer``)."""

    def __init__(self, conn: sqlite3.Connection, now: datetime) -> None:
        self.conn = conn
        self.now = now
        self.changed = 0

    def get(self, code: str) -> Dossier | None:
        """The stored dossier, as of this transaction."""
        row = self.conn.execute("SELECT body FROM dossiers WHERE code = ?", (code,)).fetchone()
        return Dossier.decode(row[0]) if row else None

    def put(self, d: Dossier) -> bool:
        """Insert or update; bumps the version; returns False when nothing but version/time differs.

        Raises ``InvalidRecord`` (nothing written) when the next version would not fit SQLite's integer.
        """
        row = self.conn.execute("SELECT version, body FROM dossiers WHERE code = ?", (d.code,)).fetchone()
        if row is not None:
            old = Dossier.decode(row[1])
            if replace(old, version=0, updated_at=None) == replace(d, version=0, updated_at=None):
                return False
            version = max(row[0] + 1, d.version)
        else:
            version = max(d.version, 1)
        if version > MAX_VERSION:
            raise InvalidRecord(f"version: {version} does not fit a signed 64-bit integer")
        d = replace(d, version=version, updated_at=d.updated_at or self.now)
        values = _row(d, 0, self.now)  # everything computed before the first write of this row
        seq = self.conn.execute(
            "INSERT INTO changes (code, version, at) VALUES (?,?,?)", (d.code, version, self.now.isoformat())
        ).lastrowid
        assert seq is not None
        self.conn.execute(_INSERT_DOSSIER, (values[0], seq, *values[2:]))
        self.changed += 1
        return True


class CentralStore:
    """The central database; safe to share between threads."""

    def __init__(self, path: str | Path, *, change_log_retention: int = 200_000) -> None:
        self.path = Path(path)
        self.retention = change_log_retention
        self.writes = SqliteStore.open(self.path, component=COMPONENT, migrations=MIGRATIONS, durable=True)
        try:
            applied = self.writes.schema_version(COMPONENT)
            if applied > len(MIGRATIONS):
                raise StorageError(f"{self.path} was written by a newer version (schema {applied})")
            self.reads = SqliteStore.open(self.path, component=COMPONENT, readonly=True)
        except BaseException:
            self.writes.close()
            raise
        meta = dict(self._read("SELECT key, value FROM meta"))
        self.epoch: str = meta["epoch"]
        self.cursor_key: bytes = bytes.fromhex(meta["cursor_key"])

    # --- transactions and reads ---------------------------------------------------------------------

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self.writes.transaction() as conn:
            yield conn

    def _read(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self.reads.reading() as conn:
            return conn.execute(sql, params).fetchall()

    def close(self) -> None:
        """Close both connections."""
        self.reads.close()
        self.writes.close()

    @contextmanager
    def writer(self, now: datetime) -> Iterator[Writer]:
        """One transaction of dossier writes; committed when the block ends without an exception."""
        with self._tx() as conn:
            yield Writer(conn, now)

    def bulk_insert(self, dossiers: Sequence[Dossier], now: datetime) -> None:
        """Insert many new dossiers in one transaction with ``executemany`` (benchmarks, seeding)."""
        at = now.isoformat()
        with self._tx() as conn:
            first = int(conn.execute("SELECT coalesce(max(seq), 0) FROM changes").fetchone()[0]) + 1
            first = max(
                first, int(conn.execute("SELECT coalesce(max(seq), 0) FROM dossiers").fetchone()[0]) + 1
            )
            conn.executemany(
                "INSERT INTO changes (seq, code, version, at) VALUES (?,?,?,?)",
                ((first + i, d.code, d.version, at) for i, d in enumerate(dossiers)),
            )
            conn.executemany(
                _INSERT_DOSSIER,
                (_row(d, first + i, now) for i, d in enumerate(dossiers)),
            )

    # --- dossiers and the changes feed --------------------------------------------------------------

    def get_body(self, code: str) -> bytes | None:
        """The stored contract JSON (UTF-8 bytes) of a dossier, or None."""
        rows = self._read("SELECT body FROM dossiers WHERE code = ?", (code,))
        return rows[0][0] if rows else None

    def get(self, code: str) -> Dossier | None:
        """The stored dossier, or None."""
        body = self.get_body(code)
        return Dossier.decode(body) if body else None

    def count(self) -> int:
        """How many dossiers are stored."""
        return int(self._read("SELECT count(*) FROM dossiers")[0][0])

    def page(self, after: int, agencies: Sequence[str], limit: int) -> list[tuple[int, bytes]]:
        """Up to ``limit`` (seq, body) with seq > ``after`` in seq order, for ``agencies`` (empty: all)."""
        if not agencies:
            return self._read(
                "SELECT seq, body FROM dossiers WHERE seq > ? ORDER BY seq LIMIT ?", (after, limit)
            )
        if len(agencies) == 1:
            return self._read(
                "SELECT seq, body FROM dossiers WHERE agency_id = ? AND seq > ? ORDER BY seq LIMIT ?",
                (agencies[0], after, limit),
            )
        marks = ",".join("?" * len(agencies))
        # Seqs come from the covering (agency_id, seq) index, sorted as integers; then bodies in seq order.
        return self._read(
            "SELECT seq, body FROM dossiers WHERE seq IN (SELECT seq FROM dossiers WHERE agency_id IN"
            f" ({marks}) AND seq > ? ORDER BY seq LIMIT ?) ORDER BY seq",
            (*agencies, after, limit),
        )

    def latest_seq(self, agencies: Sequence[str]) -> int:
        """The newest change sequence among ``agencies`` (empty: all), 0 when there is none."""
        if not agencies:
            return int(self._read("SELECT coalesce(max(seq), 0) FROM dossiers")[0][0])
        return max(
            int(self._read("SELECT coalesce(max(seq), 0) FROM dossiers WHERE agency_id = ?", (a,))[0][0])
            for a in agencies
        )

    @property
    def horizon(self) -> int:
        """Incremental cursors below this sequence are expired (the change log no longer reaches back)."""
        return int(self._read("SELECT value FROM meta WHERE key = 'horizon'")[0][0])

    def compact(self, retention: int | None = None) -> int:
        """Keep only the newest log row per code and at most ``retention`` rows; returns rows removed."""
        keep = self.retention if retention is None else retention
        with self._tx() as conn:
            removed = conn.execute("DELETE FROM changes WHERE seq NOT IN (SELECT seq FROM dossiers)").rowcount
            cut = conn.execute(
                "SELECT seq FROM changes ORDER BY seq DESC LIMIT 1 OFFSET ?", (keep,)
            ).fetchone()
            if cut is not None:
                removed += conn.execute("DELETE FROM changes WHERE seq <= ?", (cut[0],)).rowcount
                conn.execute(
                    "UPDATE meta SET value = max(CAST(value AS INTEGER), ?) WHERE key = 'horizon'", (cut[0],)
                )
        if removed:
            log.info("change log compacted: %d rows removed, horizon %d", removed, self.horizon)
        return removed

    def log_size(self) -> int:
        """Rows in the change log."""
        return int(self._read("SELECT count(*) FROM changes")[0][0])

    def agencies(self) -> list[dict[str, Any]]:
        """Known agencies with their name and dossier count."""
        rows = self._read(
            "SELECT agency_id, max(agency_name), count(*) FROM dossiers GROUP BY agency_id ORDER BY agency_id"
        )
        return [{"agency_id": a, "agency_name": n, "dossiers": c} for a, n, c in rows]

    def stats_rows(
        self, agency_id: str, start_ts: int, end_ts: int
    ) -> list[tuple[int, int | None, int | None, int | None]]:
        """(status, received_ts, due_ts, end_ts) of dossiers received before ``end_ts`` not ended before ``start_ts``."""
        return self._read(
            "SELECT status, received_ts, due_ts, end_ts FROM dossiers WHERE agency_id = ? AND received_ts < ?"
            " AND (end_ts IS NULL OR end_ts >= ?)",
            (agency_id, end_ts, start_ts),
        )

    def agency_known(self, agency_id: str) -> bool:
        """Whether any dossier of this agency is stored."""
        return bool(self._read("SELECT 1 FROM dossiers WHERE agency_id = ? LIMIT 1", (agency_id,)))

    def codes(self, limit: int = 100_000) -> list[tuple[str, int]]:
        """(code, status) pairs, newest change first."""
        return [
            (c, int(s))
            for c, s in self._read("SELECT code, status FROM dossiers ORDER BY seq DESC LIMIT ?", (limit,))
        ]

    def sample_codes(self, statuses: Sequence[int], n: int) -> list[str]:
        """Up to ``n`` random codes of dossiers in one of ``statuses`` (demo activity)."""
        marks = ",".join("?" * len(statuses))
        rows = self._read(
            f"SELECT code FROM dossiers WHERE status IN ({marks}) ORDER BY random() LIMIT ?", (*statuses, n)
        )
        return [r[0] for r in rows]

    # --- devices and enrollment ---------------------------------------------------------------------

    def create_enrollment_token(self, now: datetime, valid_for: timedelta) -> str:
        """A new single-use enrollment token (stored hashed); returns the clear token once."""
        token = "enr_" + secrets.token_urlsafe(24)
        with self._tx() as conn:
            conn.execute(
                "INSERT INTO enrollment_tokens (token_hash, created_at, expires_at) VALUES (?,?,?)",
                (hash_key(token), now.isoformat(), (now + valid_for).isoformat()),
            )
        log.info("enrollment token created, valid until %s", (now + valid_for).isoformat())
        return token

    def enroll(self, token: str, name: str, kind: str, now: datetime) -> tuple[str, str]:
        """Consume a token and register a device; returns (device_id, api_key). Raises ``Unauthorized``."""
        device_id = "dev_" + secrets.token_hex(6)
        api_key = "mck_" + secrets.token_urlsafe(32)
        with self._tx() as conn:
            row = conn.execute(
                "SELECT used_at, expires_at FROM enrollment_tokens WHERE token_hash = ?", (hash_key(token),)
            ).fetchone()
            if row is None:
                raise Unauthorized("unknown enrollment token", hint="ask the ICT office for a new one")
            if row[0] is not None:
                raise Unauthorized("this enrollment token was already used", hint="ask for a new one")
            if datetime.fromisoformat(row[1]) <= now:
                raise Unauthorized("this enrollment token has expired", hint="ask for a new one")
            conn.execute(
                "UPDATE enrollment_tokens SET used_at = ?, device_id = ? WHERE token_hash = ?",
                (now.isoformat(), device_id, hash_key(token)),
            )
            conn.execute(
                "INSERT INTO devices (id, name, kind, key_hash, enrolled_at) VALUES (?,?,?,?,?)",
                (device_id, name, kind, hash_key(api_key), now.isoformat()),
            )
        log.info("device %s enrolled (kind %s)", device_id, kind)
        return device_id, api_key

    def enroll_local(self, name: str, kind: str, now: datetime) -> tuple[str, str]:
        """Enroll a device without HTTP (``make run``'s own device, tests); returns (device_id, api_key)."""
        return self.enroll(self.create_enrollment_token(now, timedelta(minutes=5)), name, kind, now)

    def device_for_key(self, api_key: str) -> str | None:
        """The device id owning this API key, or None."""
        rows = self._read("SELECT id FROM devices WHERE key_hash = ?", (hash_key(api_key),))
        return rows[0][0] if rows else None

    def heartbeat(self, device_id: str, status: dict[str, Any], now: datetime) -> None:
        """Record a device's heartbeat and its last reported status."""
        with self._tx() as conn:
            conn.execute(
                "UPDATE devices SET last_heartbeat = ?, last_status = ? WHERE id = ?",
                (now.isoformat(), json.dumps(status, ensure_ascii=False), device_id),
            )

    def devices(self) -> list[dict[str, Any]]:
        """Every enrolled device with its last heartbeat and status."""
        rows = self._read(
            "SELECT id, name, kind, enrolled_at, last_heartbeat, last_status FROM devices ORDER BY name, id"
        )
        return [
            {
                "id": r[0],
                "name": r[1],
                "kind": r[2],
                "enrolled_at": r[3],
                "last_heartbeat": r[4],
                "last_status": json.loads(r[5]) if r[5] else None,
            }
            for r in rows
        ]

    # --- ratings ------------------------------------------------------------------------------------

    def add_rating(
        self, rating: dict[str, Any], device_id: str, now: datetime
    ) -> tuple[bool, dict[str, Any]]:
        """Store a rating unless its id is known; returns (created, the stored rating)."""
        fields = ("id", "agency_id", "code", "service", "staff", "rated_at")
        with self._tx() as conn:
            row = conn.execute(
                f"SELECT {', '.join(fields)} FROM ratings WHERE id = ?", (rating["id"],)
            ).fetchone()
            if row is not None:
                return False, dict(zip(fields, row, strict=True))
            conn.execute(
                "INSERT INTO ratings (id, agency_id, code, service, staff, rated_at, device_id, stored_at)"
                " VALUES (?,?,?,?,?,?,?,?)",
                (*(rating[f] for f in fields), device_id, now.isoformat()),
            )
        return True, {f: rating[f] for f in fields}

    def rating_counts(self, agency_id: str, start: str, end: str) -> dict[str, dict[str, int]]:
        """Counts of each level (1–3) of both questions for ratings given in [start, end) (ISO texts)."""
        out = {"service": {"1": 0, "2": 0, "3": 0}, "staff": {"1": 0, "2": 0, "3": 0}}
        for question in ("service", "staff"):
            for level, n in self._read(
                f"SELECT {question}, count(*) FROM ratings WHERE agency_id = ? AND rated_at >= ? AND rated_at < ?"
                f" GROUP BY {question}",
                (agency_id, start, end),
            ):
                out[question][str(level)] = n
        return out
