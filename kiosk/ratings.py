"""Satisfaction ratings: stored durably at once in ``<data_dir>/kiosk.db``, forwarded to central later.

A rating gets a client-made ``id`` (uuid) when the citizen sends it; it is committed with
``synchronous=FULL`` before the thank-you screen appears. The forwarder thread posts pending ratings
oldest first; central stores each ``id`` once (CONTRACT.md: 201 new, 200 known id), so a rating sent
again after a crash between "posted" and "marked sent" is still counted once. Offline, ratings wait
(backoff up to ``retry_max_s``); a rating central refuses as invalid is kept, marked ``rejected``, and
not retried. Other processes read the backlog with::

    SELECT COUNT(*) FROM ratings WHERE sent_at IS NULL AND rejected IS NULL
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dossier.errors import CentralRejected, InvalidInput, MotcuaError
from dossier.sqlstore import Migration, SqliteStore
from kiosk.ports import RatingUploader

log = logging.getLogger(__name__)

COMPONENT = "kiosk"
MIGRATIONS = [
    Migration(
        1,
        """
        CREATE TABLE ratings (
            id TEXT PRIMARY KEY,
            agency_id TEXT NOT NULL,
            code TEXT NOT NULL,
            service INTEGER NOT NULL CHECK (service BETWEEN 1 AND 3),
            staff INTEGER NOT NULL CHECK (staff BETWEEN 1 AND 3),
            rated_at TEXT NOT NULL,
            stored_at REAL NOT NULL,
            sent_at REAL,
            rejected TEXT,
            attempts INTEGER NOT NULL DEFAULT 0
        );
        CREATE INDEX ratings_pending ON ratings(stored_at) WHERE sent_at IS NULL AND rejected IS NULL;
        CREATE TABLE stats_cache (
            agency_id TEXT NOT NULL,
            period TEXT NOT NULL,
            body TEXT NOT NULL,
            fetched_at REAL NOT NULL,
            PRIMARY KEY (agency_id, period)
        );
        """,
    )
]
FIELDS = ("id", "agency_id", "code", "service", "staff", "rated_at")


def open_kiosk_store(path: str | Path) -> SqliteStore:
    """The kiosk's own database (ratings and cached statistics), durable."""
    return SqliteStore.open(path, component=COMPONENT, migrations=MIGRATIONS, durable=True)


class RatingBook:
    """The ratings table: add (durably), list pending, mark sent or rejected."""

    def __init__(self, store: SqliteStore, *, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.clock = clock

    def add(self, rating: dict[str, Any]) -> None:
        """Store one rating (committed with synchronous=FULL before returning); the same id is kept once."""
        row = {k: rating[k] for k in FIELDS}
        for key in ("service", "staff"):
            if row[key] not in (1, 2, 3):
                raise InvalidInput(f"rating {key} must be 1, 2 or 3")
        with self.store.transaction() as conn:
            conn.execute(
                "INSERT INTO ratings (id, agency_id, code, service, staff, rated_at, stored_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO NOTHING",
                (*[row[k] for k in FIELDS], self.clock()),
            )

    def pending(self, limit: int = 50) -> list[dict[str, Any]]:
        """Ratings not yet accepted by central, oldest first, as central's request bodies."""
        with self.store.reading() as conn:
            rows = conn.execute(
                f"SELECT {', '.join(FIELDS)} FROM ratings WHERE sent_at IS NULL AND rejected IS NULL"
                " ORDER BY stored_at, id LIMIT ?",
                (limit,),
            ).fetchall()
        return [dict(zip(FIELDS, r, strict=True)) for r in rows]

    def pending_count(self) -> int:
        """How many ratings wait to be forwarded."""
        with self.store.reading() as conn:
            row = conn.execute(
                "SELECT COUNT(*) FROM ratings WHERE sent_at IS NULL AND rejected IS NULL"
            ).fetchone()
        return int(row[0])

    def mark_sent(self, rating_id: str) -> None:
        """Central accepted ``rating_id``."""
        with self.store.transaction() as conn:
            conn.execute(
                "UPDATE ratings SET sent_at = ?, attempts = attempts + 1 WHERE id = ?",
                (self.clock(), rating_id),
            )

    def mark_failed(self, rating_id: str) -> None:
        """One more unsuccessful attempt."""
        with self.store.transaction() as conn:
            conn.execute("UPDATE ratings SET attempts = attempts + 1 WHERE id = ?", (rating_id,))

    def mark_rejected(self, rating_id: str, reason: str) -> None:
        """Central refused the rating itself: keep it, never retry it."""
        with self.store.transaction() as conn:
            conn.execute(
                "UPDATE ratings SET rejected = ?, attempts = attempts + 1 WHERE id = ?",
                (reason[:300], rating_id),
            )


class RatingForwarder:
    """A background thread that forwards pending ratings to central, with backoff while it is away."""

    def __init__(
        self,
        book: RatingBook,
        uploader: RatingUploader,
        *,
        retry_min_s: float = 5.0,
        retry_max_s: float = 300.0,
        idle_s: float = 600.0,
    ) -> None:
        self.book = book
        self.uploader = uploader
        self.retry_min_s = retry_min_s
        self.retry_max_s = retry_max_s
        self.idle_s = idle_s
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._delay = 0.0
        self._down = False
        self.sent = 0

    def start(self) -> None:
        """Start the thread (idempotent)."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="kiosk-ratings", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the thread (an upload in flight is bounded by the client's timeouts)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def wake(self) -> None:
        """A new rating was stored, or central may be back: try now."""
        self._delay = 0.0
        self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                more = self.forward_once()
            except MotcuaError as err:  # the local store failed: retry later
                log.error("ratings cannot be read from the kiosk store: %s", err)
                more = False
                self._backoff()
            wait = 0.0 if more else (self._delay or self.idle_s)
            self._wake.wait(wait)
            self._wake.clear()

    def _backoff(self) -> None:
        self._delay = min(self.retry_max_s, max(self.retry_min_s, self._delay * 2))

    def forward_once(self, batch: int = 50) -> bool:
        """Send up to ``batch`` pending ratings; True when more are waiting and central answers."""
        pending = self.book.pending(batch)
        for rating in pending:
            if self._stop.is_set():
                return False
            try:
                self.uploader.post_rating(rating)
            except InvalidInput as err:
                log.warning("central refused a rating as invalid (kept, not retried): %s", err)
                self.book.mark_rejected(rating["id"], str(err))
                continue
            except CentralRejected as err:
                log.error("central refused this device while forwarding ratings: %s", err)
                self._delay = self.retry_max_s
                return False
            except MotcuaError as err:
                if not self._down:
                    log.warning("central unavailable; ratings wait locally: %s", err)
                    self._down = True
                self.book.mark_failed(rating["id"])
                self._backoff()
                return False
            self.book.mark_sent(rating["id"])
            self.sent += 1
            if self._down:
                log.info("central reachable again; forwarding waiting ratings")
                self._down = False
            self._delay = 0.0
        return len(pending) == batch
