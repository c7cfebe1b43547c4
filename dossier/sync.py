"""Pulling the central changes feed into the cache.

The opaque server cursor is saved in the same transaction as the rows it covers; only newer versions
are stored (idempotent under duplicates and reordering); an expired cursor (410) starts a resnapshot
into a shadow table that is swapped in atomically while the old rows keep serving; an interrupted
resnapshot resumes from the shadow's own cursor. Polling has jitter, uses conditional requests (304),
and backs off with full jitter on errors, at least as long as central's ``Retry-After`` (capped by the
client), always interruptible by the stop event. Storage errors are backed off and retried too: the loop
never dies, and records its state in the cache (``Cache.sync_status``) for the doctor and metrics.
Each successful pass confirms the feed of this device's agencies up to the time its last request was
sent, which makes their cached dossiers current as of then. State changes become durable events in the
cache (``Cache.events_after``) for other parts to consume.
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

from dossier.errors import CentralError, CentralRejected, CentralUnavailable, CursorExpired, StorageError

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
        self.last_delay = 0.0
        self._last_purge = 0.0

    def sync_once(self) -> SyncReport:
        """Pull pages until central has nothing more; raises ``CentralError`` or ``StorageError``."""
        started = time.monotonic()
        if self.cache.meta(self.shadow_key) and self.cache.shadow_in_progress():
            return self._snapshot(started, reason="resuming an interrupted snapshot", resume=True)
        cursor = self.cache.meta(self.cursor_key) or None
        if cursor is None:
            return self._snapshot(started, reason="first sync")
        etag = self.cache.meta(self.cursor_key + ".etag")
        pages = received = stored = 0
        try:
            while True:
                asked_at = self.cache.clock()
                page = self.source.changes(self.agencies, cursor, limit=self.page_size, etag=etag)
                if page.not_modified:
                    self._set_last_sync(asked_at)
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
        self._set_last_sync(asked_at)
        return SyncReport(pages, received, stored, False, False, time.monotonic() - started)

    def _snapshot(self, started: float, *, reason: str, resume: bool = False) -> SyncReport:
        """Fetch everything from the start (or the shadow's cursor) into a shadow table, then swap it in."""
        log.info("sync snapshot started (%s)", reason)
        cursor: str | None = None
        if resume:
            cursor = self.cache.meta(self.shadow_key) or None
        else:
            self.cache.begin_shadow(cursor_key=self.shadow_key)
        pages = received = stored = 0
        while True:
            asked_at = self.cache.clock()
            try:
                page = self.source.changes(self.agencies, cursor, limit=self.page_size)
            except CursorExpired:
                if cursor is None:
                    raise
                log.warning("the interrupted snapshot's cursor expired; starting the snapshot again")
                self.cache.begin_shadow(cursor_key=self.shadow_key)
                cursor = None
                continue
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
            self.agencies,
            cursor_key=self.cursor_key,
            cursor=cursor or "",
            etag=page.etag,
            shadow_key=self.shadow_key,
        )
        self._set_last_sync(asked_at)
        log.info("sync snapshot done: %d dossiers", rows)
        return SyncReport(pages, received, stored, True, False, time.monotonic() - started)

    def _retention_cutoff(self) -> float:
        """Dossiers closed before this time are past retention (epoch seconds)."""
        return self.cache.clock() - self.retention_days * 86400

    def _set_last_sync(self, confirmed_until: float) -> None:
        """The feed is confirmed up to ``confirmed_until`` (when the pass's last request was sent)."""
        self.cache.record_sync_success(confirmed_until, self.agencies)
        if time.monotonic() - self._last_purge > 86400 or not self._last_purge:
            self.cache.purge(self.retention_days)  # retention: closed dossiers, old events
            self._last_purge = time.monotonic()
        self.cache.checkpoint()

    def next_delay(self, failed: bool, retry_after: float | None = None) -> float:
        """Seconds to wait before the next pass: jittered interval, or full-jitter backoff after errors,
        never shorter than central's (already capped) ``retry_after``."""
        if not failed:
            self.failures = 0
            spread = self.interval * self.jitter
            return max(0.0, self.interval + self.rng.uniform(-spread, spread))
        self.failures += 1
        ceiling = min(self.max_backoff, self.interval * (2 ** min(self.failures, 16)) / 4)
        backoff = self.rng.uniform(0, max(ceiling, 1.0))
        return max(backoff, retry_after or 0.0)

    def run(self, stop: threading.Event, *, on_report: Callable[[SyncReport], None] | None = None) -> None:
        """Poll until ``stop`` is set; every failure is recorded, logged once per outage, and retried."""
        failing = ""
        while not stop.is_set():
            error: BaseException | None = None
            try:
                report = self.sync_once()
                if failing:
                    log.info("sync works again")
                failing = ""
                if report.stored:
                    log.info("sync stored %d changes in %d pages", report.stored, report.pages)
                if on_report:
                    on_report(report)
            except CentralRejected as err:
                error = err
                log.error("sync refused by central: %s", err)
            except (CentralError, StorageError) as err:
                error = err
                kind = type(err).__name__
                if failing != kind:
                    level = logging.ERROR if isinstance(err, StorageError) else logging.WARNING
                    log.log(level, "sync failing, will retry with backoff: %s", err)
                    if isinstance(err, CentralUnavailable) and err.detail:
                        log.info("sync failure detail: %s", err.detail)
                failing = kind
            except Exception as err:  # a bug: say so loudly once, and keep the device syncing
                error = err
                if failing != "bug":
                    log.exception("sync failed unexpectedly, will retry with backoff")
                failing = "bug"
            if error is not None:
                self._record_failure(error)
            retry_after = error.retry_after if isinstance(error, CentralUnavailable) else None
            self.last_delay = self.next_delay(error is not None, retry_after)
            stop.wait(self.last_delay)

    def _record_failure(self, err: BaseException) -> None:
        text = (
            str(err)
            if isinstance(err, CentralError | StorageError)
            else f"internal error ({type(err).__name__})"
        )
        try:
            self.cache.record_sync_failure(text)
        except StorageError as storage:
            log.debug("cannot record the sync failure: %s", storage)
