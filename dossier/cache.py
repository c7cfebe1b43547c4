"""The local SQLite cache of dossier states: the only module that opens the cache database.

WAL mode with ``synchronous=NORMAL`` (everything here can be fetched again from central). Each row keeps
the dossier's version and when it was fetched. Upserts keep only newer versions, so duplicated and
reordered changes are harmless. The sync cursor is saved in the same transaction as the rows it covers.
Changes of state are written to a durable ``events`` table that consumers (SMS notifications) read with
their own cursor. A resnapshot fills a shadow table and swaps it in atomically while the old rows serve.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import msgspec
import sqlite_utils

from dossier.errors import StorageError
from dossier.model import Dossier, Status

log = logging.getLogger(__name__)

_COLUMNS = "code, version, status, agency_id, closed, changed_at, fetched_at, body"
_SCHEMA_TABLE = """CREATE TABLE IF NOT EXISTS {name} (
    code TEXT PRIMARY KEY, version INTEGER NOT NULL, status INTEGER NOT NULL, agency_id TEXT NOT NULL,
    closed INTEGER NOT NULL, changed_at REAL NOT NULL, fetched_at REAL NOT NULL, body TEXT NOT NULL
)"""  # a rowid table: WITHOUT ROWID was 4x slower to fill with ~1.3 KB rows (measured)
_UPSERT = """INSERT INTO {name} (code, version, status, agency_id, closed, changed_at, fetched_at, body)
VALUES (?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT(code) DO UPDATE SET version = excluded.version, status = excluded.status,
    agency_id = excluded.agency_id, closed = excluded.closed, changed_at = excluded.changed_at,
    fetched_at = excluded.fetched_at, body = excluded.body
WHERE excluded.version > {name}.version OR excluded.version = 0"""
_GET = "SELECT version, fetched_at, body FROM dossiers WHERE code = ?"


def _migration_1(db: sqlite_utils.Database) -> None:
    db.execute(_SCHEMA_TABLE.format(name="dossiers"))
    db.execute("CREATE INDEX IF NOT EXISTS dossiers_closed ON dossiers (closed, changed_at)")
    db.table("meta").create({"key": str, "value": str}, pk="key", if_not_exists=True)
    db.execute(
        "CREATE TABLE IF NOT EXISTS events (seq INTEGER PRIMARY KEY AUTOINCREMENT, code TEXT NOT NULL,"
        " old_status INTEGER, new_status INTEGER NOT NULL, version INTEGER NOT NULL, at REAL NOT NULL)"
    )
    db.table("inconsistencies").create(
        {"id": int, "code": str, "cached_version": int, "central_version": int, "at": float},
        pk="id",
        if_not_exists=True,
    )


MIGRATIONS: list[Callable[[sqlite_utils.Database], None]] = [_migration_1]


class CachedEntry(msgspec.Struct, frozen=True):
    """A cached dossier with its version and when it was fetched (epoch seconds)."""

    dossier: Dossier
    version: int
    fetched_at: float


@dataclass(frozen=True, slots=True)
class ChangeEvent:
    """A dossier's state changed (as learnt by sync or lookup)."""

    seq: int
    code: str
    old_status: Status | None
    new_status: Status
    version: int
    at: datetime


@dataclass(frozen=True, slots=True)
class PutResult:
    """What an upsert did: ``stored`` (newer or new), or kept the cached ``cached_version``."""

    stored: bool
    cached_version: int


class Cache:
    """The dossier cache on one SQLite file; safe to share between threads of one process."""

    def __init__(self, path: str | Path, *, clock: Callable[[], float] = time.time) -> None:
        self.path = Path(path)
        self.clock = clock
        self._lock = threading.RLock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(
                str(self.path), timeout=10.0, check_same_thread=False, isolation_level=None
            )
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA busy_timeout=10000")
            # Sync writes pages of thousands of rows: let the WAL grow during a burst and checkpoint
            # once at the end (``checkpoint``) instead of fsyncing a checkpoint inside every commit.
            conn.execute("PRAGMA wal_autocheckpoint=20000")
            # Lookups read through a memory map (up to the file's size; SQLite falls back to read() where
            # the address space is short, as on 32-bit systems) and a 16 MB page cache. At 1M dossiers
            # a 256 MB map gave 43-51% of a raw read's rate, a 2 GB one 60% (bench/core_bench.py).
            conn.execute("PRAGMA mmap_size=2147483648")
            conn.execute("PRAGMA cache_size=-16000")
            self._conn = conn
            self._db = sqlite_utils.Database(conn)
            self._migrate()
        except sqlite3.Error as err:
            raise StorageError(f"cannot open the cache {self.path}: {err}") from None

    def _migrate(self) -> None:
        current = self._conn.execute("PRAGMA user_version").fetchone()[0]
        for number, migration in enumerate(MIGRATIONS, start=1):
            if number > current:
                with self._transaction():
                    migration(self._db)
                    self._conn.execute(f"PRAGMA user_version = {number}")
                log.log(logging.INFO if current else logging.DEBUG, "cache schema at version %d", number)

    def checkpoint(self) -> None:
        """Copy the WAL into the database file (after a sync burst); never blocks readers."""
        try:
            with self._lock:
                self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
        except sqlite3.Error as err:
            raise StorageError(f"cache checkpoint failed: {err}") from None

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._conn.close()

    # --- reads ---------------------------------------------------------------------------------

    def get(self, code: str) -> CachedEntry | None:
        """The cached entry for ``code``, or ``None`` when it is not cached (a miss, not a failure)."""
        try:
            with self._lock:
                row = self._conn.execute(_GET, (code,)).fetchone()
        except sqlite3.Error as err:
            raise StorageError(f"cache read failed: {err}") from None
        if row is None:
            return None
        return CachedEntry(Dossier.decode(row[2]), row[0], row[1])

    def count(self) -> int:
        """Number of cached dossiers."""
        with self._lock:
            return int(self._conn.execute("SELECT count(*) FROM dossiers").fetchone()[0])

    def meta(self, key: str, default: str = "") -> str:
        """A saved setting (cursor, etag, last sync time)."""
        with self._lock:
            row = self._conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else default

    def set_meta(self, key: str, value: str) -> None:
        """Save a setting."""
        with self._lock, self._transaction():
            self._set_meta(key, value)

    def events_after(self, seq: int, limit: int = 500) -> list[ChangeEvent]:
        """Change events with a sequence number above ``seq``, oldest first."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT seq, code, old_status, new_status, version, at FROM events WHERE seq > ?"
                " ORDER BY seq LIMIT ?",
                (seq, limit),
            ).fetchall()
        return [
            ChangeEvent(
                s,
                c,
                Status(o) if o is not None else None,
                Status(n),
                v,
                datetime.fromtimestamp(a, UTC),
            )
            for s, c, o, n, v, a in rows
        ]

    def sample_codes(self, *, per_status: int = 1) -> list[tuple[str, Status]]:
        """A few cached codes for each state (for demos and self-tests)."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT code, status FROM (SELECT code, status, row_number() OVER"
                " (PARTITION BY status ORDER BY code) AS n FROM dossiers) WHERE n <= ? ORDER BY status, code",
                (per_status,),
            ).fetchall()
        return [(code, Status(status)) for code, status in rows]

    def inconsistencies(self) -> list[dict[str, object]]:
        """Recorded mismatches between central's answer and a newer cached version (001 Art. 8.4)."""
        with self._lock:
            return list(self._db.table("inconsistencies").rows)

    # --- writes --------------------------------------------------------------------------------

    def put(self, dossier: Dossier) -> PutResult:
        """Store a dossier fetched by a lookup unless the cache already holds a newer version."""
        with self._lock, self._transaction():
            stored = self._apply(
                "dossiers", [dossier], self.clock(), emit_events=True, skip_events_for_new=True
            )
            row = self._conn.execute(
                "SELECT version FROM dossiers WHERE code = ?", (dossier.code,)
            ).fetchone()
        return PutResult(stored > 0, int(row[0]) if row else dossier.version)

    def record_inconsistency(self, code: str, cached_version: int, central_version: int) -> None:
        """Remember that central answered an older version than the cache holds."""
        with self._lock, self._transaction():
            self._db.table("inconsistencies").insert(
                {
                    "code": code,
                    "cached_version": cached_version,
                    "central_version": central_version,
                    "at": self.clock(),
                }
            )

    def apply_page(
        self,
        items: Sequence[Dossier],
        *,
        cursor_key: str,
        cursor: str,
        etag: str = "",
        shadow: bool = False,
        bodies: Sequence[bytes] = (),
        closed_before: float = 0.0,
    ) -> int:
        """Upsert a changes page and save its cursor in the same transaction; returns rows stored.

        ``bodies``, when given, are the items' JSON text as received (already validated into
        ``items``): stored as they are instead of encoding each item again. Dossiers closed before
        ``closed_before`` (epoch seconds) that the cache does not hold are not stored: retention
        would only purge them again.
        """
        table = "dossiers_shadow" if shadow else "dossiers"
        with self._lock, self._transaction():
            stored = self._apply(
                table, items, self.clock(), emit_events=not shadow, bodies=bodies, closed_before=closed_before
            )
            self._set_meta(cursor_key, cursor)
            self._set_meta(cursor_key + ".etag", etag)
        return stored

    def begin_shadow(self) -> None:
        """Start a resnapshot into an empty shadow table (the live table keeps serving)."""
        with self._lock, self._transaction():
            self._conn.execute("DROP TABLE IF EXISTS dossiers_shadow")
            self._conn.execute(_SCHEMA_TABLE.format(name="dossiers_shadow"))

    def swap_shadow(
        self, synced_agencies: Sequence[str] = (), *, cursor_key: str, cursor: str, etag: str = ""
    ) -> int:
        """Atomically replace the live table by the shadow and save the cursor; emits state changes.

        Rows of agencies this device does not sync (looked up one by one) are carried over.
        Returns the number of rows in the new table.
        """
        keep_agencies_other_than = synced_agencies
        with self._lock, self._transaction():
            now = self.clock()
            self._conn.execute(
                "INSERT INTO events (code, old_status, new_status, version, at)"
                " SELECT s.code, d.status, s.status, s.version, ? FROM dossiers_shadow s"
                " JOIN dossiers d ON d.code = s.code WHERE d.status != s.status AND s.version > d.version",
                (now,),
            )
            if keep_agencies_other_than:
                marks = ",".join("?" * len(keep_agencies_other_than))
                self._conn.execute(
                    f"INSERT OR IGNORE INTO dossiers_shadow SELECT {_COLUMNS} FROM dossiers"
                    f" WHERE agency_id NOT IN ({marks})",
                    tuple(keep_agencies_other_than),
                )
            self._conn.execute("DROP TABLE dossiers")
            self._conn.execute("ALTER TABLE dossiers_shadow RENAME TO dossiers")
            self._conn.execute("CREATE INDEX IF NOT EXISTS dossiers_closed ON dossiers (closed, changed_at)")
            self._set_meta(cursor_key, cursor)
            self._set_meta(cursor_key + ".etag", etag)
            return int(self._conn.execute("SELECT count(*) FROM dossiers").fetchone()[0])

    def purge(self, retention_days: float, *, events_days: float = 14.0) -> int:
        """Delete closed dossiers unchanged for ``retention_days`` and old events; returns rows deleted."""
        now = self.clock()
        with self._lock, self._transaction():
            deleted = self._conn.execute(
                "DELETE FROM dossiers WHERE closed = 1 AND changed_at < ?", (now - retention_days * 86400,)
            ).rowcount
            self._conn.execute("DELETE FROM events WHERE at < ?", (now - events_days * 86400,))
        if deleted:
            log.info("cache purged %d closed dossiers", deleted)
        return int(deleted)

    # --- internals -----------------------------------------------------------------------------

    def _apply(
        self,
        table: str,
        items: Iterable[Dossier],
        now: float,
        *,
        emit_events: bool,
        skip_events_for_new: bool = True,
        bodies: Sequence[bytes] = (),
        closed_before: float = 0.0,
    ) -> int:
        newest: dict[str, tuple[Dossier, bytes | None]] = {}
        for i, d in enumerate(items):
            held = newest.get(d.code)
            if held is None or d.version > held[0].version or d.version == 0:
                newest[d.code] = (d, bodies[i] if bodies else None)
        if not newest:
            return 0
        previous: dict[str, tuple[int, int]] = {}
        codes = list(newest)
        for i in range(0, len(codes), 500):
            chunk = codes[i : i + 500]
            marks = ",".join("?" * len(chunk))
            for code, version, status in self._conn.execute(
                f"SELECT code, version, status FROM {table} WHERE code IN ({marks})", chunk
            ):
                previous[code] = (version, status)
        rows = []
        events: list[tuple[str, int | None, int, int, float]] = []
        for code, (d, body) in newest.items():
            prev = previous.get(code)
            if prev is not None and not (d.version > prev[0] or d.version == 0):
                continue
            changed = d.updated_at.timestamp() if d.updated_at else now
            if prev is None and d.status.is_closed and changed < closed_before:
                continue
            rows.append(
                (
                    code,
                    d.version,
                    int(d.status),
                    d.agency_id,
                    int(d.status.is_closed),
                    changed,
                    now,
                    body if body is not None else d.encode(),
                )
            )
            if emit_events and prev is not None and prev[1] != int(d.status):
                events.append((code, prev[1], int(d.status), d.version, now))
            elif emit_events and prev is None and not skip_events_for_new:
                events.append((code, None, int(d.status), d.version, now))
        try:
            self._conn.executemany(_UPSERT.format(name=table), rows)
            if events:
                self._conn.executemany(
                    "INSERT INTO events (code, old_status, new_status, version, at) VALUES (?, ?, ?, ?, ?)",
                    events,
                )
        except sqlite3.Error as err:
            raise StorageError(f"cache write failed: {err}") from None
        return len(rows)

    def _set_meta(self, key: str, value: str) -> None:
        self._conn.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    def _transaction(self) -> _Transaction:
        return _Transaction(self._conn)


class _Transaction:
    """BEGIN IMMEDIATE … COMMIT, rolled back on any exception; nests by doing nothing inside."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.outer = False

    def __enter__(self) -> None:
        if not self.conn.in_transaction:
            self.conn.execute("BEGIN IMMEDIATE")
            self.outer = True

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if not self.outer:
            return
        if exc_type is None:
            self.conn.execute("COMMIT")
        else:
            self.conn.execute("ROLLBACK")
