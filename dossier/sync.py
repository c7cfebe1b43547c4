"""Pulling the central changes feed into the cache.

The opaque server cursor is saved in the same transaction as the rows it covers; only newer versions
are stored (idempotent under duplicates and reordering); an expired cursor (410) starts a resnapshot
into a shadow table that is swapped in atomically while the old rows keep serving. Polling has jitter,
uses conditional requests (304), and backs off with full jitter on errors. State changes become
durable events in the cache (``Cache.events_after``) for other parts to consume.
"""

from __future__ import annotations

import hashlib
import logging
import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from dossier.errors import CentralError, CentralRejected, CursorExpired

if TYPE_CHECKING:
    from dossier.cache import Cache
    from dossier.client import ChangesPage

log = logging.getLogger(__name__)


class ChangesSource(Protocol):
    """What sync needs from the central client."""

    def changes(
        self, agencies: Sequence[str], cursor: str | None, *, limit: int = 1000, etag: str = ""
    ) -> ChangesPage:
        """One page of the changes feed."""
        ...


@dataclass(frozen=True)
class SyncReport:
    """What one sync pass did."""

    pages: int
    received: int
    stored: int
    resnapshot: bool
    not_modified: bool
    seconds: float


class Syncer:
    """Keeps the cache in step with central's changes feed for this device's agencies."""

    def __init__(
        self,
        cache: Cache,
        source: ChangesSource,
        *,
        agencies: Sequence[str] = (),
        page_size: int = 1000,
        interval: float = 30.0,
        jitter: float = 0.2,
        max_backoff: float = 300.0,
        retention_days: float = 30.0,
        rng: random.Random | None = None,
    ) -> None:
        self.cache = cache
        self.source = source
        self.agencies = tuple(sorted(agencies))
        self.page_size = page_size
        self.interval = interval
        self.jitter = jitter
        self.max_backoff = max_backoff
        self.rng = rng or random.Random()
        scope = hashlib.sha256(",".join(self.agencies).encode()).hexdigest()[:12]
        self.cursor_key = f"sync.cursor.{scope}"
        self.shadow_key = f"sync.shadow_cursor.{scope}"
        self.failures = 0
        self.retention_days = retention_days
        self._last_purge = 0.0

    def sync_once(self) -> SyncReport:
        """Pull pages until central has nothing more; raises ``CentralError`` subclasses on failure."""
        started = time.monotonic()
        cursor = self.cache.meta(self.cursor_key) or None
        if cursor is None:
            return self._snapshot(started, reason="first sync")
        etag = self.cache.meta(self.cursor_key + ".etag")
        pages = received = stored = 0
        try:
            while True:
                page = self.source.changes(self.agencies, cursor, limit=self.page_size, etag=etag)
                if page.not_modified:
                    return SyncReport(pages, received, stored, False, True, time.monotonic() - started)
                pages += 1
                received += len(page.items)
                stored += self.cache.apply_page(
                    page.items,
                    cursor_key=self.cursor_key,
                    cursor=page.cursor,
                    etag=page.etag,
                    bodies=page.bodies,
                )
                cursor, etag = page.cursor, ""
                if not page.more:
                    break
        except CursorExpired:
            log.warning("sync cursor expired; taking a fresh snapshot while the cache keeps serving")
            return self._snapshot(started, reason="cursor expired")
        self._set_last_sync()
        return SyncReport(pages, received, stored, False, False, time.monotonic() - started)

    def _snapshot(self, started: float, *, reason: str) -> SyncReport:
        """Fetch everything from the start into a shadow table, then swap it in."""
        log.info("sync snapshot started (%s)", reason)
        self.cache.begin_shadow()
        cursor: str | None = None
        pages = received = stored = 0
        while True:
            page = self.source.changes(self.agencies, cursor, limit=self.page_size)
            pages += 1
            received += len(page.items)
            stored += self.cache.apply_page(
                page.items,
                cursor_key=self.shadow_key,
                cursor=page.cursor,
                etag=page.etag,
                shadow=True,
                bodies=page.bodies,
                closed_before=self._retention_cutoff(),
            )
            cursor = page.cursor
            if not page.more:
                break
        rows = self.cache.swap_shadow(
            self.agencies, cursor_key=self.cursor_key, cursor=cursor or "", etag=page.etag
        )
        self._set_last_sync()
        log.info("sync snapshot done: %d dossiers", rows)
        return SyncReport(pages, received, stored, True, False, time.monotonic() - started)

    def _retention_cutoff(self) -> float:
        """Dossiers closed before this time are past retention (epoch seconds)."""
        return self.cache.clock() - self.retention_days * 86400

    def _set_last_sync(self) -> None:
        self.cache.set_meta("sync.last_success", str(time.time()))
        if time.monotonic() - self._last_purge > 86400 or not self._last_purge:
            self.cache.purge(self.retention_days)  # retention: closed dossiers, old events
            self._last_purge = time.monotonic()
        self.cache.checkpoint()

    def next_delay(self, failed: bool) -> float:
        """Seconds to wait before the next pass: jittered interval, or full-jitter backoff after errors."""
        if not failed:
            self.failures = 0
            spread = self.interval * self.jitter
            return max(0.0, self.interval + self.rng.uniform(-spread, spread))
        self.failures += 1
        ceiling = min(self.max_backoff, self.interval * (2 ** min(self.failures, 16)) / 4)
        return self.rng.uniform(0, max(ceiling, 1.0))

    def run(self, stop: threading.Event, *, on_report: Callable[[SyncReport], None] | None = None) -> None:
        """Poll until ``stop`` is set; errors are logged once per outage and retried with backoff."""
        was_failing = False
        while not stop.is_set():
            failed = False
            try:
                report = self.sync_once()
                if was_failing:
                    log.info("sync works again")
                was_failing = False
                if report.stored:
                    log.info("sync stored %d changes in %d pages", report.stored, report.pages)
                if on_report:
                    on_report(report)
            except CentralRejected as err:
                failed = True
                log.error("sync refused by central: %s", err)
            except CentralError as err:
                failed = True
                if not was_failing:
                    log.warning("sync failing, will retry with backoff: %s", err)
                was_failing = True
            stop.wait(self.next_delay(failed))
