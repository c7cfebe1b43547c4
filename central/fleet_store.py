"""Central's fleet database: heartbeat history, each device's latest state, inconsistencies, revocations.

A file of its own next to central's database (``central.db`` → ``central.fleet.db``), opened through
``dossier.sqlstore`` as component ``fleet``. Heartbeats are the busiest writes of central (one per
device per minute); in their own file they have their own WAL and write lock, so dossier ingestion and
ratings never queue behind them, and the retention deletes never bloat ``central.db`` or its backups.

Two handles on the file: ``writer`` (``synchronous=FULL``: a heartbeat is on disk before the 204) and
``reader`` (read-only), so the fleet page and ``/metrics`` do not wait behind a heartbeat's fsync.

Retention: every heartbeat for ``full_hours``; older ones are thinned to one in ``THIN_EVERY`` (hourly
at the one-minute interval) and dropped after ``retention_days``. Maintenance runs in small chunks,
at most every ``MAINTENANCE_SECONDS``, on the heartbeat path (no thread to stop).
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from dossier.sqlstore import Migration, SqliteStore

log = logging.getLogger(__name__)

COMPONENT = "fleet"
THIN_EVERY = 60
CHUNK_ROWS = 2000
MAINTENANCE_SECONDS = 600.0

_SCHEMA_1 = """
CREATE TABLE fleet_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE heartbeats (
    id INTEGER PRIMARY KEY,
    device_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    received_at REAL NOT NULL,
    sent_at TEXT NOT NULL,
    skew_seconds REAL,
    version TEXT NOT NULL,
    role TEXT NOT NULL,
    site TEXT NOT NULL,
    uptime_seconds REAL NOT NULL,
    metrics TEXT NOT NULL,
    failing TEXT NOT NULL
);
CREATE UNIQUE INDEX heartbeats_device_seq ON heartbeats(device_id, seq);
CREATE INDEX heartbeats_received ON heartbeats(received_at);
CREATE TABLE device_state (
    device_id TEXT PRIMARY KEY,
    seq INTEGER NOT NULL,
    received_at REAL NOT NULL,
    sent_at TEXT NOT NULL,
    skew_seconds REAL,
    version TEXT NOT NULL,
    role TEXT NOT NULL,
    site TEXT NOT NULL,
    uptime_seconds REAL NOT NULL,
    metrics TEXT NOT NULL,
    checks TEXT NOT NULL,
    heartbeats_total INTEGER NOT NULL DEFAULT 0,
    inconsistencies_total INTEGER NOT NULL DEFAULT 0,
    last_inconsistency_at REAL
);
CREATE TABLE inconsistencies (
    device_id TEXT NOT NULL,
    item_id TEXT NOT NULL,
    code TEXT NOT NULL,
    cached_version INTEGER,
    central_version INTEGER,
    at TEXT NOT NULL,
    channel TEXT NOT NULL,
    received_at REAL NOT NULL,
    PRIMARY KEY (device_id, item_id)
);
CREATE INDEX inconsistencies_received ON inconsistencies(received_at);
CREATE TABLE revocations (device_id TEXT PRIMARY KEY, revoked_at REAL NOT NULL, reason TEXT NOT NULL);
CREATE TABLE staff (
    user TEXT PRIMARY KEY,
    password TEXT NOT NULL,
    created_at REAL NOT NULL,
    disabled INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,
    user TEXT NOT NULL,
    csrf TEXT NOT NULL,
    created_at REAL NOT NULL,
    expires_at REAL NOT NULL
);
CREATE INDEX sessions_expiry ON sessions(expires_at);
"""

MIGRATIONS = (Migration(1, _SCHEMA_1),)


def fleet_path_for(central_db: str | Path) -> Path:
    """Where the fleet database of the central database ``central_db`` lives (same folder)."""
    p = Path(central_db)
    return p.with_name(f"{p.stem}.fleet.db")


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


@dataclass(frozen=True)
class Heartbeat:
    """One validated heartbeat, as stored (``received_at`` is central's clock, epoch seconds)."""

    seq: int
    sent_at: datetime
    version: str
    role: str
    site: str
    uptime_seconds: float
    metrics: dict[str, float]
    checks: list[dict[str, str]]

    def failing(self) -> list[str]:
        """Names of the checks whose status is ``fail``."""
        return [c["name"] for c in self.checks if c.get("status") == "fail"]


@dataclass(frozen=True)
class StoreResult:
    """What a heartbeat batch did: how many were new, how many were repeats already stored."""

    stored: int
    duplicates: int


@dataclass
class DeviceState:
    """A device's newest heartbeat and counters (one row of ``device_state``)."""

    device_id: str
    seq: int
    received_at: float
    sent_at: str
    skew_seconds: float | None
    version: str
    role: str
    site: str
    uptime_seconds: float
    metrics: dict[str, float]
    checks: list[dict[str, str]]
    heartbeats_total: int
    inconsistencies_total: int
    last_inconsistency_at: float | None
    revoked_at: float | None = None

    @property
    def has_heartbeat(self) -> bool:
        """Whether a heartbeat was received (a row may exist for inconsistencies only)."""
        return self.seq > 0

    def failing(self) -> list[str]:
        """Names of the checks whose status is ``fail``."""
        return [c["name"] for c in self.checks if c.get("status") == "fail"]


_STATE_COLUMNS = (
    "device_id, seq, received_at, sent_at, skew_seconds, version, role, site, uptime_seconds, metrics,"
    " checks, heartbeats_total, inconsistencies_total, last_inconsistency_at"
)


def _state(row: Sequence[Any], revoked_at: float | None = None) -> DeviceState:
    return DeviceState(
        device_id=row[0],
        seq=int(row[1]),
        received_at=float(row[2]),
        sent_at=row[3],
        skew_seconds=row[4],
        version=row[5],
        role=row[6],
        site=row[7],
        uptime_seconds=float(row[8]),
        metrics=json.loads(row[9]),
        checks=json.loads(row[10]),
        heartbeats_total=int(row[11]),
        inconsistencies_total=int(row[12]),
        last_inconsistency_at=row[13],
        revoked_at=revoked_at,
    )


@dataclass
class _Maintenance:
    due: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)


class FleetStore:
    """The fleet database; thread-safe (``dossier.sqlstore`` locks)."""

    def __init__(
        self,
        path: str | Path,
        *,
        retention_days: float = 14.0,
        full_hours: float = 48.0,
        inconsistency_days: float = 90.0,
    ) -> None:
        self.path = Path(path)
        self.retention_seconds = retention_days * 86400
        self.full_seconds = full_hours * 3600
        self.inconsistency_seconds = inconsistency_days * 86400
        self.writer = SqliteStore.open(self.path, component=COMPONENT, migrations=MIGRATIONS, durable=True)
        self.reader = SqliteStore.open(self.path, component=COMPONENT, readonly=True)
        self._maintenance = _Maintenance()

    def close(self) -> None:
        """Close both handles."""
        self.reader.close()
        self.writer.close()

    # --- heartbeats ---------------------------------------------------------------------------------

    def add_heartbeats(self, device_id: str, batch: Sequence[Heartbeat], received_at: float) -> StoreResult:
        """Store a batch in one transaction (see ``apply_heartbeats``), then do retention work when due."""
        with self.writer.transaction() as conn:
            result = apply_heartbeats(conn, device_id, batch, received_at)
        self.maintain(received_at)
        return result

    def states(self) -> list[DeviceState]:
        """Every device that sent a heartbeat: its latest state, with its revocation time if revoked."""
        with self.reader.reading() as conn:
            revoked = dict(conn.execute("SELECT device_id, revoked_at FROM revocations").fetchall())
            rows = conn.execute(f"SELECT {_STATE_COLUMNS} FROM device_state").fetchall()
        return [_state(r, revoked.get(r[0])) for r in rows]

    def state(self, device_id: str) -> DeviceState | None:
        """One device's latest state, or None when it never sent a heartbeat."""
        with self.reader.reading() as conn:
            row = conn.execute(
                f"SELECT {_STATE_COLUMNS} FROM device_state WHERE device_id = ?", (device_id,)
            ).fetchone()
            rev = conn.execute(
                "SELECT revoked_at FROM revocations WHERE device_id = ?", (device_id,)
            ).fetchone()
        return _state(row, rev[0] if rev else None) if row else None

    def history(self, device_id: str, limit: int = 200) -> list[dict[str, Any]]:
        """The device's newest ``limit`` stored heartbeats, newest first."""
        with self.reader.reading() as conn:
            rows = conn.execute(
                "SELECT seq, received_at, sent_at, skew_seconds, version, role, site, uptime_seconds, metrics,"
                " failing FROM heartbeats WHERE device_id = ? ORDER BY seq DESC LIMIT ?",
                (device_id, limit),
            ).fetchall()
        keys = ("seq", "received_at", "sent_at", "skew_seconds", "version", "role", "site", "uptime_seconds")
        return [
            {**dict(zip(keys, r[:8], strict=True)), "metrics": json.loads(r[8]), "failing": json.loads(r[9])}
            for r in rows
        ]

    def heartbeat_count(self, device_id: str | None = None) -> int:
        """Stored heartbeats (of one device, or all)."""
        with self.reader.reading() as conn:
            if device_id is None:
                return int(conn.execute("SELECT count(*) FROM heartbeats").fetchone()[0])
            return int(
                conn.execute("SELECT count(*) FROM heartbeats WHERE device_id = ?", (device_id,)).fetchone()[
                    0
                ]
            )

    # --- inconsistencies ----------------------------------------------------------------------------

    def add_inconsistencies(self, device_id: str, items: Sequence[dict[str, Any]], received_at: float) -> int:
        """Store reported inconsistencies (idempotent by the device's item id); returns how many were new."""
        new = 0
        with self.writer.transaction() as conn:
            for item in items:
                new += conn.execute(
                    "INSERT INTO inconsistencies (device_id, item_id, code, cached_version, central_version, at,"
                    " channel, received_at) VALUES (?,?,?,?,?,?,?,?) ON CONFLICT DO NOTHING",
                    (device_id, str(item["id"]), item["code"], item["cached_version"],
                     item["central_version"], item["at"], item["channel"], received_at),
                ).rowcount  # fmt: skip
            if new:
                conn.execute(
                    "INSERT INTO device_state (device_id, seq, received_at, sent_at, version, role, site,"
                    " uptime_seconds, metrics, checks, inconsistencies_total, last_inconsistency_at)"
                    " VALUES (?, 0, 0, '', '', '', '', 0, '{}', '[]', ?, ?) ON CONFLICT(device_id) DO UPDATE"
                    " SET inconsistencies_total = inconsistencies_total + excluded.inconsistencies_total,"
                    " last_inconsistency_at = excluded.last_inconsistency_at",
                    (device_id, new, received_at),
                )
        return new

    def inconsistencies(self, device_id: str, limit: int = 100) -> list[dict[str, Any]]:
        """The device's newest reported inconsistencies."""
        keys = ("item_id", "code", "cached_version", "central_version", "at", "channel", "received_at")
        with self.reader.reading() as conn:
            rows = conn.execute(
                f"SELECT {', '.join(keys)} FROM inconsistencies WHERE device_id = ?"
                " ORDER BY received_at DESC, at DESC LIMIT ?",
                (device_id, limit),
            ).fetchall()
        return [dict(zip(keys, r, strict=True)) for r in rows]

    # --- revocation ---------------------------------------------------------------------------------

    def revoke(self, device_id: str, at: float, reason: str = "") -> float:
        """Revoke the device's key (idempotent); returns when it was first revoked."""
        with self.writer.transaction() as conn:
            conn.execute(
                "INSERT INTO revocations (device_id, revoked_at, reason) VALUES (?,?,?) ON CONFLICT DO NOTHING",
                (device_id, at, reason),
            )
            first = conn.execute(
                "SELECT revoked_at FROM revocations WHERE device_id = ?", (device_id,)
            ).fetchone()[0]
        if first == at:
            log.info("device %s revoked", device_id)
        return float(first)

    def revoked_at(self, device_id: str) -> float | None:
        """When the device's key was revoked, or None."""
        with self.reader.reading() as conn:
            row = conn.execute(
                "SELECT revoked_at FROM revocations WHERE device_id = ?", (device_id,)
            ).fetchone()
        return float(row[0]) if row else None

    # --- retention ----------------------------------------------------------------------------------

    def maintain(self, now: float, *, force: bool = False) -> int:
        """One bounded chunk of retention work when due; returns the rows removed."""
        m = self._maintenance
        if not force and now < m.due:
            return 0
        if not m.lock.acquire(blocking=False):
            return 0
        try:
            removed = self._prune_chunk(now)
            # More to do: come back soon (next heartbeat after a second); else in MAINTENANCE_SECONDS.
            m.due = now + (1.0 if removed >= CHUNK_ROWS else MAINTENANCE_SECONDS)
            return removed
        finally:
            m.lock.release()

    def _prune_chunk(self, now: float) -> int:
        started = time.monotonic()
        drop_before = now - self.retention_seconds
        thin_before = now - self.full_seconds
        with self.writer.transaction() as conn:
            mark = float(_meta(conn, "thinned_until", "0"))
            removed = conn.execute(
                "DELETE FROM heartbeats WHERE id IN (SELECT id FROM heartbeats WHERE received_at < ? LIMIT ?)",
                (drop_before, CHUNK_ROWS),
            ).rowcount
            budget = CHUNK_ROWS - removed
            if budget > 0 and thin_before > mark:
                ids = conn.execute(
                    "SELECT id, received_at, seq FROM heartbeats WHERE received_at >= ? AND received_at < ?"
                    " ORDER BY received_at LIMIT ?",
                    (max(mark, drop_before), thin_before, budget * 4),
                ).fetchall()
                doomed = [(i,) for i, _, seq in ids if seq % THIN_EVERY]
                conn.executemany("DELETE FROM heartbeats WHERE id = ?", doomed)
                removed += len(doomed)
                # Rows at the newest scanned instant may continue past the LIMIT: rescan that instant.
                new_mark = thin_before if len(ids) < budget * 4 else ids[-1][1]
                _set_meta(conn, "thinned_until", repr(max(mark, new_mark)))
            removed += conn.execute(
                "DELETE FROM inconsistencies WHERE rowid IN"
                " (SELECT rowid FROM inconsistencies WHERE received_at < ? LIMIT ?)",
                (now - self.inconsistency_seconds, CHUNK_ROWS),
            ).rowcount
            conn.execute("DELETE FROM sessions WHERE expires_at < ?", (now,))
        if removed:
            log.debug("fleet retention removed %d rows in %.3f s", removed, time.monotonic() - started)
        return removed


def apply_heartbeats(
    conn: sqlite3.Connection, device_id: str, batch: Sequence[Heartbeat], received_at: float
) -> StoreResult:
    """Store a batch inside the caller's transaction; a (device, seq) already stored is not stored again.

    A repeated seq with a different ``sent_at`` means the device restarted its numbering (its queue
    was lost): the new heartbeat replaces the old one. The newest new heartbeat (highest seq) becomes
    the device's latest state, with its clock skew (``sent_at`` − central's receive time).
    """
    stored, duplicates, newest = 0, 0, None
    for hb in sorted({h.seq: h for h in batch}.values(), key=lambda h: h.seq):
        sent = hb.sent_at.isoformat()
        old = conn.execute(
            "SELECT sent_at FROM heartbeats WHERE device_id = ? AND seq = ?", (device_id, hb.seq)
        ).fetchone()
        if old is not None and old[0] == sent:
            duplicates += 1
            continue
        skew = round(hb.sent_at.timestamp() - received_at, 3)
        conn.execute(
            "INSERT INTO heartbeats (device_id, seq, received_at, sent_at, skew_seconds, version, role,"
            " site, uptime_seconds, metrics, failing) VALUES (?,?,?,?,?,?,?,?,?,?,?)"
            " ON CONFLICT(device_id, seq) DO UPDATE SET received_at = excluded.received_at,"
            " sent_at = excluded.sent_at, skew_seconds = excluded.skew_seconds,"
            " version = excluded.version, role = excluded.role, site = excluded.site,"
            " uptime_seconds = excluded.uptime_seconds, metrics = excluded.metrics,"
            " failing = excluded.failing",
            (device_id, hb.seq, received_at, sent, skew, hb.version, hb.role, hb.site,
             hb.uptime_seconds, _dumps(hb.metrics), _dumps(hb.failing())),
        )  # fmt: skip
        stored += 1
        newest = (hb, skew)
    if newest is not None:
        hb, skew = newest
        conn.execute(
            f"INSERT INTO device_state ({_STATE_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,0,NULL)"
            " ON CONFLICT(device_id) DO UPDATE SET seq = excluded.seq,"
            " received_at = excluded.received_at, sent_at = excluded.sent_at,"
            " skew_seconds = excluded.skew_seconds, version = excluded.version, role = excluded.role,"
            " site = excluded.site, uptime_seconds = excluded.uptime_seconds,"
            " metrics = excluded.metrics, checks = excluded.checks,"
            " heartbeats_total = heartbeats_total + excluded.heartbeats_total",
            (device_id, hb.seq, received_at, hb.sent_at.isoformat(), skew, hb.version, hb.role,
             hb.site, hb.uptime_seconds, _dumps(hb.metrics), _dumps(hb.checks), stored),
        )  # fmt: skip
    return StoreResult(stored, duplicates)


def _meta(conn: sqlite3.Connection, key: str, default: str) -> str:
    row = conn.execute("SELECT value FROM fleet_meta WHERE key = ?", (key,)).fetchone()
    return str(row[0]) if row else default


def _set_meta(conn: sqlite3.Connection, key: str, value: str) -> None:
    conn.execute(
        "INSERT INTO fleet_meta (key, value) VALUES (?,?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        (key, value),
    )
