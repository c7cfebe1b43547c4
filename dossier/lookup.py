"""Answering "what is the state of dossier X?": cache first, central within a deadline, never hang.

fresh cache → answer; stale cache → answer now and refresh in the background; miss → ask central within
a short deadline; central unreachable → the cached answer marked "as of", or "cannot check right now".
Each answer carries its source (``cache``, ``central``, ``stale``, ``none``) and age.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from datetime import UTC, datetime
from enum import Enum
from typing import TYPE_CHECKING, Protocol

import msgspec

from dossier.codes import CodeParser, DossierCode
from dossier.errors import CentralError, DossierNotFound, MotcuaError
from dossier.model import Dossier

if TYPE_CHECKING:
    from dossier.cache import Cache

log = logging.getLogger(__name__)


class Outcome(Enum):
    """How a lookup ended."""

    FOUND = "found"
    NOT_FOUND = "not_found"
    UNAVAILABLE = "unavailable"


class LookupResult(msgspec.Struct, frozen=True):
    """One answer, with where it came from and how old it is."""

    code: str
    outcome: Outcome
    dossier: Dossier | None
    source: str  # cache | central | stale | none
    as_of: datetime | None
    age_seconds: float | None
    reason: str = ""

    def to_json(self) -> dict[str, object]:
        """Every dossier field plus ``outcome``, ``source``, ``as_of`` and ``age_seconds``."""
        return {
            "code": self.code,
            "outcome": self.outcome.value,
            "source": self.source,
            "as_of": self.as_of.isoformat() if self.as_of else None,
            "age_seconds": None if self.age_seconds is None else round(self.age_seconds, 1),
            "reason": self.reason,
            "dossier": self.dossier.to_json() if self.dossier else None,
        }


class DossierSource(Protocol):
    """What the lookup needs from the central client."""

    def get_dossier(self, code: str, *, deadline: float | None = None) -> Dossier:
        """Fetch one dossier or raise ``DossierNotFound`` / ``CentralError``."""
        ...


class CentralAvailability:
    """Tracks whether central answers; logs once when lost and once when back."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.up = True
        self.last_error = ""

    def ok(self) -> None:
        """Central answered."""
        with self._lock:
            if not self.up:
                log.info("central answers again")
            self.up, self.last_error = True, ""

    def failed(self, err: BaseException) -> None:
        """Central did not answer (in time, or sensibly)."""
        with self._lock:
            if self.up:
                log.warning("central unavailable, serving the cache: %s", err)
            self.up, self.last_error = False, str(err)


class LookupService:
    """The one lookup every channel uses (kiosk, SMS, CLI)."""

    def __init__(
        self,
        cache: Cache,
        source: DossierSource,
        *,
        fresh_seconds: float = 300.0,
        central_deadline: float = 3.0,
        not_found_ttl: float = 60.0,
        parser: CodeParser | None = None,
        clock: Callable[[], float] = time.time,
        availability: CentralAvailability | None = None,
        workers: int = 2,
    ) -> None:
        self.cache = cache
        self.source = source
        self.fresh_seconds = fresh_seconds
        self.central_deadline = central_deadline
        self.not_found_ttl = not_found_ttl
        self.parser = parser or CodeParser()
        self.clock = clock
        self.availability = availability or CentralAvailability()
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="lookup")
        self._inflight: dict[str, Future[Dossier]] = {}
        self._not_found: dict[str, float] = {}
        self._lock = threading.Lock()

    def close(self) -> None:
        """Stop background refreshes (waits for running ones, bounded by their timeouts)."""
        self._pool.shutdown(wait=True, cancel_futures=True)

    def lookup(self, code: str | DossierCode, *, deadline: float | None = None) -> LookupResult:
        """Answer for ``code`` (raises ``InvalidCode`` for text that is not a code)."""
        value = code.value if isinstance(code, DossierCode) else self.parser.parse(code).value
        deadline = self.central_deadline if deadline is None else deadline
        now = self.clock()
        entry = self.cache.get(value)
        if entry is not None:
            age = now - entry.fetched_at
            as_of = datetime.fromtimestamp(entry.fetched_at, UTC)
            if 0 <= age <= self.fresh_seconds:
                return LookupResult(value, Outcome.FOUND, entry.dossier, "cache", as_of, age)
            self._fetch(value)  # refresh in the background; answer now
            return LookupResult(value, Outcome.FOUND, entry.dossier, "stale", as_of, max(age, 0.0))
        with self._lock:
            seen = self._not_found.get(value)
        if seen is not None and now - seen < self.not_found_ttl:
            return LookupResult(value, Outcome.NOT_FOUND, None, "central", None, now - seen)
        future = self._fetch(value)
        try:
            dossier = future.result(timeout=deadline)
        except FutureTimeout:
            return self._unavailable(value, "central did not answer in time")
        except DossierNotFound:
            return LookupResult(value, Outcome.NOT_FOUND, None, "central", None, 0.0)
        except MotcuaError as err:
            return self._unavailable(value, str(err))
        stored = self.cache.get(value)
        chosen = stored.dossier if stored is not None else dossier
        return LookupResult(value, Outcome.FOUND, chosen, "central", datetime.now(UTC), 0.0)

    def _unavailable(self, code: str, reason: str) -> LookupResult:
        # The fetch may have filled the cache meanwhile; if so, that answer is better than none.
        entry = self.cache.get(code)
        if entry is not None:
            as_of = datetime.fromtimestamp(entry.fetched_at, UTC)
            age = max(self.clock() - entry.fetched_at, 0.0)
            return LookupResult(code, Outcome.FOUND, entry.dossier, "stale", as_of, age, reason)
        return LookupResult(code, Outcome.UNAVAILABLE, None, "none", None, None, reason)

    def _fetch(self, code: str) -> Future[Dossier]:
        """Start (or join) one fetch of ``code`` from central; the result is stored in the cache."""
        with self._lock:
            running = self._inflight.get(code)
            if running is not None:
                return running
            future = self._pool.submit(self._fetch_and_store, code)
            self._inflight[code] = future
        future.add_done_callback(lambda _f: self._done(code))
        return future

    def _done(self, code: str) -> None:
        with self._lock:
            self._inflight.pop(code, None)

    def _fetch_and_store(self, code: str) -> Dossier:
        try:
            dossier = self.source.get_dossier(code, deadline=self.central_deadline)
        except DossierNotFound:
            self.availability.ok()
            with self._lock:
                self._not_found[code] = self.clock()
                if len(self._not_found) > 10_000:
                    self._not_found.clear()
            raise
        except CentralError as err:
            self.availability.failed(err)
            raise
        self.availability.ok()
        result = self.cache.put(dossier)
        if not result.stored and dossier.version and result.cached_version > dossier.version:
            log.warning(
                "central answered version %d of %s, older than cached version %d: recorded for resync",
                dossier.version,
                code,
                result.cached_version,
            )
            self.cache.record_inconsistency(code, result.cached_version, dossier.version)
        return dossier
