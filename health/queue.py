"""The on-disk heartbeat queue (``<data_dir>/health.db``, ``synchronous=FULL``).

Heartbeats are committed here first and deleted only after central acknowledged them, so an outage
leaves no hole in the history. ``seq`` is SQLite's AUTOINCREMENT row id: monotonic, never reused, even
after rows are deleted. The queue is bounded: past ``max_items`` the oldest are dropped and counted.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from dossier.sqlstore import Migration, SqliteStore

log = logging.getLogger(__name__)

COMPONENT = "health"
MIGRATIONS = [
    Migration(
        1,
        """
        CREATE TABLE IF NOT EXISTS heartbeats (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            body TEXT NOT NULL
        );
        CREATE TABLE IF NOT EXISTS health_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        """,
    )
]


class HeartbeatQueue:
    """Heartbeats waiting for central, oldest first."""

    def __init__(self, path: str | Path, *, max_items: int = 10_080) -> None:
        self.max_items = max_items
        self.store = SqliteStore.open(path, component=COMPONENT, migrations=MIGRATIONS, durable=True)

    def push(self, body: dict[str, Any]) -> tuple[int, int]:
        """Commit one heartbeat (without ``seq``); returns its ``seq`` and how many old ones were dropped."""
        text = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
        with self.store.transaction() as conn:
            seq = int(conn.execute("INSERT INTO heartbeats (body) VALUES (?)", (text,)).lastrowid or 0)
            excess = int(conn.execute("SELECT COUNT(*) FROM heartbeats").fetchone()[0]) - self.max_items
            if excess > 0:
                conn.execute(
                    "DELETE FROM heartbeats WHERE seq IN (SELECT seq FROM heartbeats ORDER BY seq LIMIT ?)",
                    (excess,),
                )
                conn.execute(
                    "INSERT INTO health_meta (key, value) VALUES ('dropped', ?) ON CONFLICT (key)"
                    " DO UPDATE SET value = CAST(value AS INTEGER) + CAST(excluded.value AS INTEGER)",
                    (str(excess),),
                )
        return seq, max(excess, 0)

    def peek(self, limit: int) -> list[dict[str, Any]]:
        """The oldest ``limit`` heartbeats, each with its ``seq`` first."""
        with self.store.reading() as conn:
            rows = conn.execute("SELECT seq, body FROM heartbeats ORDER BY seq LIMIT ?", (limit,)).fetchall()
        return [{"seq": int(seq), **json.loads(body)} for seq, body in rows]

    def ack(self, last_seq: int) -> int:
        """Central accepted every heartbeat up to ``last_seq``: delete them; returns how many."""
        with self.store.transaction() as conn:
            return int(conn.execute("DELETE FROM heartbeats WHERE seq <= ?", (last_seq,)).rowcount)

    def depth(self) -> int:
        """Heartbeats waiting."""
        with self.store.reading() as conn:
            return int(conn.execute("SELECT COUNT(*) FROM heartbeats").fetchone()[0])

    def dropped(self) -> int:
        """Heartbeats dropped because the queue was full, since the file was created."""
        with self.store.reading() as conn:
            row = conn.execute("SELECT value FROM health_meta WHERE key = 'dropped'").fetchone()
        return int(row[0]) if row else 0

    def last_seq(self) -> int:
        """The highest ``seq`` ever given (0: none)."""
        with self.store.reading() as conn:
            row = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'heartbeats'").fetchone()
        return int(row[0]) if row else 0

    def raise_seq(self, floor: int) -> None:
        """Make the next ``seq`` larger than ``floor`` (after a restore, central already has those)."""
        if floor <= self.last_seq():
            return
        with self.store.transaction() as conn:
            updated = conn.execute(
                "UPDATE sqlite_sequence SET seq = ? WHERE name = 'heartbeats'", (floor,)
            ).rowcount
            if not updated:
                conn.execute("INSERT INTO sqlite_sequence (name, seq) VALUES ('heartbeats', ?)", (floor,))

    def close(self) -> None:
        """Close the file."""
        self.store.close()
