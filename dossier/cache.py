"""The local SQLite cache of dossier states, opened through ``dossier.sqlstore`` like every store.

WAL mode with ``synchronous=NORMAL`` (everything here can be fetched again from central). Each row keeps
the dossier's version, when it was fetched, and the model revision it was validated under. Upserts keep
only newer versions, so duplicated and reordered changes are harmless. The sync cursor is saved in the
same transaction as the rows it covers. Changes of state become rows of a durable ``events`` table (a
trigger writes them, inside the upsert) that consumers (SMS notifications) read with their own cursor.
A resnapshot fills a shadow table, resumable from its own cursor, and swaps it in atomically while the
old rows serve. Every ``sqlite3.Error`` becomes a ``StorageError`` through ``sqlstore``'s translation.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec

from dossier.errors import InvalidRecord, StorageError
from dossier.model import MODEL_REVISION, Dossier, Status
from dossier.sqlstore import Migration, SqliteStore, translate

log = logging.getLogger(__name__)

COMPONENT = "cache"
_COLUMNS = "code, version, status, agency_id, closed, changed_at, fetched_at, body, model"
_SCHEMA_TABLE = """CREATE TABLE IF NOT EXISTS {name} (
    code TEXT PRIMARY KEY, version INTEGER NOT NULL, status INTEGER NOT NULL, agency_id TEXT NOT NULL,
    closed INTEGER NOT NULL, changed_at REAL NOT NULL, fetched_at REAL NOT NULL, body TEXT NOT NULL,
    model INTEGER NOT NULL DEFAULT 0
)"""  # a rowid table: WITHOUT ROWID was 4x slower to fill with ~1.3 KB rows (measured)
_UPSERT = """INSERT INTO {name} (code, version, status, agency_id, closed, changed_at, fetched_at, body, model)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT(code) DO UPDATE SET version = excluded.version, status = excluded.status,
    agency_id = excluded.agency_id, closed = excluded.closed, changed_at = excluded.changed_at,
    fetched_at = excluded.fetched_at, body = excluded.body, model = excluded.model
WHERE excluded.version > {name}.version OR excluded.version = 0"""
# A change of state learnt by an upsert of the live table is an event (not a dossier's first sight).
_EVENT_TRIGGER = """CREATE TRIGGER IF NOT EXISTS dossiers_state_event AFTER UPDATE OF status ON dossiers
WHEN old.status != new.status BEGIN
    INSERT INTO events (code, old_status, new_status, version, at)
    VALUES (new.code, old.status, new.status, new.version, new.fetched_at);
END"""
_CLOSED_INDEX = "CREATE INDEX IF NOT EXISTS dossiers_closed ON dossiers (closed, changed_at)"
PEEK_SQL = "SELECT version, fetched_at, agency_id, model, body FROM dossiers WHERE code = ?"
_CLOSED = frozenset(int(s) for s in Status if s.is_closed)
_CONFIRMED = "sync.confirmed."  # + agency (or "*": every agency) → epoch up to which the feed is confirmed
_CONFIRMED_TTL = 1.0  # seconds a process trusts its copy of the confirmations (another process syncs)

_TABLE_V1 = _SCHEMA_TABLE.format(name="dossiers").replace(",\n    model INTEGER NOT NULL DEFAULT 0", "")
_MIGRATION_1 = f"""
{_TABLE_V1};
{_CLOSED_INDEX};
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS events (seq INTEGER PRIMARY KEY AUTOINCREMENT, code TEXT NOT NULL,
    old_status INTEGER, new_status INTEGER NOT NULL, version INTEGER NOT NULL, at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS inconsistencies (id INTEGER PRIMARY KEY, code TEXT, cached_version INTEGER,
    central_version INTEGER, at FLOAT);
"""


def _migration_2(conn: sqlite3.Connection) -> None:
    """Model revision per row; channel and reported flag of inconsistencies; events by trigger."""
    columns = {row[1] for row in conn.execute("PRAGMA table_info(dossiers)")}
    if "model" not in columns:
        conn.execute("ALTER TABLE dossiers ADD COLUMN model INTEGER NOT NULL DEFAULT 0")
    columns = {row[1] for row in conn.execute("PRAGMA table_info(inconsistencies)")}
    if "channel" not in columns:
        conn.execute("ALTER TABLE inconsistencies ADD COLUMN channel TEXT NOT NULL DEFAULT ''")
    if "reported" not in columns:
        conn.execute("ALTER TABLE inconsistencies ADD COLUMN reported INTEGER NOT NULL DEFAULT 0")
    conn.execute("CREATE INDEX IF NOT EXISTS inconsistencies_unreported ON inconsistencies (reported, id)")
    conn.execute(_EVENT_TRIGGER)


MIGRATIONS = [Migration(1, _MIGRATION_1), Migration(2, _migration_2)]
PRAGMAS = (
    # Sync writes pages of thousands of rows: let the WAL grow during a burst and checkpoint once at the
    # end (``checkpoint``) instead of fsyncing a checkpoint inside every commit.
    "wal_autocheckpoint=20000",
    # Lookups read through a memory map (up to the file's size; SQLite falls back to read() where the
    # address space is short, as on 32-bit systems) and a 16 MB page cache (bench/core_bench.py).
    "mmap_size=2147483648",
    "cache_size=-16000",
)


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
        self.store = SqliteStore.open(self.path, component=COMPONENT, migrations=MIGRATIONS, pragmas=PRAGMAS)
        self._conn = self.store.conn
        self._lock = self.store.lock
        self._undecodable = 0
        self._logged_undecodable: set[str] = set()
        self._confirmed: dict[str, float] = {}
        self._confirmed_read = -_CONFIRMED_TTL

    @property
    def undecodable_rows(self) -> int:
        """Cached rows found undecodable by this process (each then served as a miss and dropped)."""
        return self._undecodable

    def checkpoint(self) -> None:
        """Copy the WAL into the database file (after a sync burst); never blocks readers."""
        with self.store.reading() as conn:
            conn.execute("PRAGMA wal_checkpoint(PASSIVE)")

    def close(self) -> None:
        """Close the database."""
        self.store.close()

    # --- reads ---------------------------------------------------------------------------------

    def get(self, code: str) -> CachedEntry | None:
        """The cached entry for ``code``, or ``None`` when not cached or no longer decodable (a miss)."""
        with self.store.reading() as conn:
            row = conn.execute(
                "SELECT version, fetched_at, body FROM dossiers WHERE code = ?", (code,)
            ).fetchone()
        if row is None:
            return None
        try:
            return CachedEntry(Dossier.decode(row[2]), row[0], row[1])
        except InvalidRecord:
            self.drop_undecodable(code)
            return None

    def peek(self, code: str) -> tuple[int, float, str | bytes, bool] | None:
        """The lookup's fast read: ``(version, as_of, body, trusted)`` or ``None``; the body is not decoded.

        ``as_of`` is when the row was last known current: fetched, or later confirmed by sync for its
        agency. ``trusted``: validated under the current model revision (decode lazily); otherwise the
        caller must decode now and call ``drop_undecodable`` if that fails.
        """
        try:
            with self._lock:
                row = self._conn.execute(PEEK_SQL, (code,)).fetchone()
        except sqlite3.Error as err:
            raise translate(err, "cache read failed") from None
        if row is None:
            return None
        version, fetched_at, agency, model, body = row
        confirmed = self._confirmations()
        if confirmed:
            fetched_at = max(fetched_at, confirmed.get(agency, 0.0), confirmed.get("*", 0.0))
        return version, fetched_at, body, model == MODEL_REVISION

    def drop_undecodable(self, code: str) -> None:
        """A cached row no longer decodes: count it, log it once (its code only), and delete it."""
        self._undecodable += 1
        if code not in self._logged_undecodable and len(self._logged_undecodable) < 10_000:
            self._logged_undecodable.add(code)
            log.warning("cached dossier %s no longer decodes: served as a miss and dropped", code)
        try:
            with self.store.transaction() as conn:
                conn.execute("DELETE FROM dossiers WHERE code = ?", (code,))
        except StorageError as err:
            log.warning("cannot drop the undecodable cached row: %s", err)

    def count(self) -> int:
        """Number of cached dossiers."""
        with self.store.reading() as conn:
            return int(conn.execute("SELECT count(*) FROM dossiers").fetchone()[0])

    def meta(self, key: str, default: str = "") -> str:
        """A saved setting (cursor, etag, last sync time)."""
        with self.store.reading() as conn:
            row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return str(row[0]) if row else default

    def set_meta(self, key: str, value: str) -> None:
        """Save a setting."""
        with self.store.transaction() as conn:
            _set_meta(conn, key, value)

    def events_after(self, seq: int, limit: int = 500) -> list[ChangeEvent]:
        """Change events with a sequence number above ``seq``, oldest first."""
        with self.store.reading() as conn:
            rows = conn.execute(
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
        with self.store.reading() as conn:
            rows = conn.execute(
                "SELECT code, status FROM (SELECT code, status, row_number() OVER"
                " (PARTITION BY status ORDER BY code) AS n FROM dossiers) WHERE n <= ? ORDER BY status, code",
                (per_status,),
            ).fetchall()
        return [(code, Status(status)) for code, status in rows]

    # --- sync state ----------------------------------------------------------------------------

    def sync_status(self) -> dict[str, Any]:
        """Sync's recorded state: ``last_success``, ``last_error``, ``last_error_at``,
        ``consecutive_failures``, ``confirmed_until`` (epochs or ``None``)."""
        with self.store.reading() as conn:
            rows = dict(conn.execute("SELECT key, value FROM meta WHERE key LIKE 'sync.status.%'").fetchall())

        def epoch(name: str) -> float | None:
            value = rows.get("sync.status." + name, "")
            return float(value) if value else None

        return {
            "last_success": epoch("last_success"),
            "last_error": rows.get("sync.status.last_error", ""),
            "last_error_at": epoch("last_error_at"),
            "consecutive_failures": int(rows.get("sync.status.consecutive_failures", "0") or 0),
            "confirmed_until": epoch("confirmed_until"),
        }

    def record_sync_success(self, confirmed_until: float, agencies: Sequence[str]) -> None:
        """Sync confirmed the feed of ``agencies`` (empty: all) up to ``confirmed_until`` (epoch)."""
        at = str(confirmed_until)
        with self.store.transaction() as conn:
            for agency in agencies or ("*",):
                _set_meta(conn, _CONFIRMED + agency, at)
            _set_meta(conn, "sync.status.last_success", str(self.clock()))
            _set_meta(conn, "sync.status.confirmed_until", at)
            _set_meta(conn, "sync.status.consecutive_failures", "0")
        self._confirmed_read = -_CONFIRMED_TTL

    def record_sync_failure(self, error: str) -> int:
        """Sync failed with ``error`` (short text); returns the consecutive failures so far."""
        with self.store.transaction() as conn:
            row = conn.execute(
                "SELECT value FROM meta WHERE key = 'sync.status.consecutive_failures'"
            ).fetchone()
            failures = int(row[0] or 0) + 1 if row else 1
            _set_meta(conn, "sync.status.last_error", error[:200])
            _set_meta(conn, "sync.status.last_error_at", str(self.clock()))
            _set_meta(conn, "sync.status.consecutive_failures", str(failures))
        return failures

    def _confirmations(self) -> dict[str, float]:
        now = time.monotonic()
        if now - self._confirmed_read < _CONFIRMED_TTL:
            return self._confirmed
        with self.store.reading() as conn:
            rows = conn.execute("SELECT key, value FROM meta WHERE key LIKE 'sync.confirmed.%'").fetchall()
        self._confirmed = {key[len(_CONFIRMED) :]: float(value) for key, value in rows if value}
        self._confirmed_read = now
        return self._confirmed

    # --- inconsistencies (001 Art. 8.4) --------------------------------------------------------

    def inconsistencies(self) -> list[dict[str, object]]:
        """Every recorded mismatch between central's answer and a newer cached version."""
        return self._inconsistencies("", ())

    def unreported_inconsistencies(self, limit: int = 100) -> list[dict[str, object]]:
        """Mismatches not yet reported to central, oldest first (id, code, versions, at, channel)."""
        return self._inconsistencies("WHERE reported = 0", (), limit)

    def mark_inconsistencies_reported(self, ids: Iterable[int]) -> None:
        """Central has these mismatches: they are not sent again."""
        with self.store.transaction() as conn:
            conn.executemany("UPDATE inconsistencies SET reported = 1 WHERE id = ?", [(int(i),) for i in ids])

    def record_inconsistency(
        self, code: str, cached_version: int, central_version: int, *, channel: str = ""
    ) -> None:
        """Remember that central answered an older version than the cache holds."""
        with self.store.transaction() as conn:
            conn.execute(
                "INSERT INTO inconsistencies (code, cached_version, central_version, at, channel, reported)"
                " VALUES (?, ?, ?, ?, ?, 0)",
                (code, cached_version, central_version, self.clock(), channel),
            )

    def _inconsistencies(
        self, where: str, args: tuple[object, ...], limit: int = -1
    ) -> list[dict[str, object]]:
        with self.store.reading() as conn:
            cur = conn.execute(
                "SELECT id, code, cached_version, central_version, at, channel, reported FROM inconsistencies"
                f" {where} ORDER BY id LIMIT ?",
                (*args, limit),
            )
            names = [c[0] for c in cur.description]
            return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]

    # --- writes --------------------------------------------------------------------------------

    def put(self, dossier: Dossier) -> PutResult:
        """Store a dossier fetched by a lookup unless the cache already holds a newer version."""
        with self.store.transaction() as conn:
            stored = self._apply(conn, "dossiers", [dossier], self.clock())
            row = conn.execute("SELECT version FROM dossiers WHERE code = ?", (dossier.code,)).fetchone()
        return PutResult(stored > 0, int(row[0]) if row else dossier.version)

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
        with self.store.transaction() as conn:
            stored = self._apply(conn, table, items, self.clock(), bodies=bodies, closed_before=closed_before)
            _set_meta(conn, cursor_key, cursor)
            _set_meta(conn, cursor_key + ".etag", etag)
        return stored

    def begin_shadow(self, *, cursor_key: str = "") -> None:
        """Start a resnapshot into an empty shadow table (the live table keeps serving).

        ``cursor_key`` names the shadow's own cursor, cleared here so that a resumed snapshot never
        continues a cursor that belongs to an older shadow.
        """
        with self.store.transaction() as conn:
            conn.execute("DROP TABLE IF EXISTS dossiers_shadow")
            conn.execute(_SCHEMA_TABLE.format(name="dossiers_shadow"))
            if cursor_key:
                conn.execute("DELETE FROM meta WHERE key IN (?, ?)", (cursor_key, cursor_key + ".etag"))

    def shadow_in_progress(self) -> bool:
        """Whether an unfinished resnapshot's shadow table exists (it can be resumed)."""
        with self.store.reading() as conn:
            row = conn.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'dossiers_shadow'"
            )
            return row.fetchone() is not None

    def swap_shadow(
        self,
        synced_agencies: Sequence[str] = (),
        *,
        cursor_key: str,
        cursor: str,
        etag: str = "",
        shadow_key: str = "",
    ) -> int:
        """Atomically replace the live table by the shadow and save the cursor; emits state changes.

        Rows of agencies this device does not sync (looked up one by one) are carried over; with no
        ``synced_agencies`` (a device syncing every agency) nothing is. ``shadow_key``, the shadow's
        cursor, is cleared. Returns the number of rows in the new table.
        """
        with self.store.transaction() as conn:
            conn.execute(
                "INSERT INTO events (code, old_status, new_status, version, at)"
                " SELECT s.code, d.status, s.status, s.version, ? FROM dossiers_shadow s"
                " JOIN dossiers d ON d.code = s.code WHERE d.status != s.status AND s.version > d.version",
                (self.clock(),),
            )
            if synced_agencies:
                marks = ",".join("?" * len(synced_agencies))
                conn.execute(
                    f"INSERT OR IGNORE INTO dossiers_shadow ({_COLUMNS}) SELECT {_COLUMNS} FROM dossiers"
                    f" WHERE agency_id NOT IN ({marks})",
                    tuple(synced_agencies),
                )
            conn.execute("DROP TABLE dossiers")
            conn.execute("ALTER TABLE dossiers_shadow RENAME TO dossiers")
            conn.execute(_CLOSED_INDEX)
            conn.execute(_EVENT_TRIGGER)
            _set_meta(conn, cursor_key, cursor)
            _set_meta(conn, cursor_key + ".etag", etag)
            if shadow_key:
                conn.execute("DELETE FROM meta WHERE key IN (?, ?)", (shadow_key, shadow_key + ".etag"))
            return int(conn.execute("SELECT count(*) FROM dossiers").fetchone()[0])

    def purge(self, retention_days: float, *, events_days: float = 14.0) -> int:
        """Delete closed dossiers unchanged for ``retention_days`` and old events; returns rows deleted."""
        now = self.clock()
        with self.store.transaction() as conn:
            deleted = conn.execute(
                "DELETE FROM dossiers WHERE closed = 1 AND changed_at < ?", (now - retention_days * 86400,)
            ).rowcount
            conn.execute("DELETE FROM events WHERE at < ?", (now - events_days * 86400,))
        if deleted:
            log.info("cache purged %d closed dossiers", deleted)
        return int(deleted)

    # --- internals -----------------------------------------------------------------------------

    def _apply(
        self,
        conn: sqlite3.Connection,
        table: str,
        items: Sequence[Dossier],
        now: float,
        *,
        bodies: Sequence[bytes] = (),
        closed_before: float = 0.0,
    ) -> int:
        """Upsert ``items`` (newer versions win in SQL; the trigger records changes of state)."""
        closed = _CLOSED
        rows = [
            (
                d.code,
                d.version,
                int(d.status),
                d.agency_id,
                int(d.status) in closed,
                d.updated_at.timestamp() if d.updated_at is not None else now,
                now,
                body,
                MODEL_REVISION,
            )
            for d, body in zip(items, bodies or [d.encode() for d in items], strict=True)
        ]
        if len({r[0] for r in rows}) != len(rows):
            rows = _newest_per_code(rows)  # a page may repeat a dossier: only its newest change counts
        if closed_before:
            rows = self._skip_past_retention(conn, table, rows, closed_before)
        return int(conn.executemany(_UPSERT.format(name=table), rows).rowcount)

    @staticmethod
    def _skip_past_retention(
        conn: sqlite3.Connection, table: str, rows: list[tuple[Any, ...]], closed_before: float
    ) -> list[tuple[Any, ...]]:
        """Drop rows of dossiers closed before the cutoff that the table does not hold already."""
        old = [r[0] for r in rows if r[4] and r[5] < closed_before]
        if not old:
            return rows
        held: set[str] = set()
        for i in range(0, len(old), 500):
            chunk = old[i : i + 500]
            marks = ",".join("?" * len(chunk))
            held.update(
                c for (c,) in conn.execute(f"SELECT code FROM {table} WHERE code IN ({marks})", chunk)
            )
        skip = set(old) - held
        return [r for r in rows if r[0] not in skip]


def _newest_per_code(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    newest: dict[str, tuple[Any, ...]] = {}
    for row in rows:
        held = newest.get(row[0])
        if held is None or row[1] > held[1] or row[1] == 0:
            newest[row[0]] = row
    return list(newest.values())


def _set_meta(conn: sqlite3.Connection, key: str, value: str) -> None:
    conn.execute(
        "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        (key, value),
    )
