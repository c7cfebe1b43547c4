"""Answering "what is the state of dossier X?": cache first, central within a deadline, never hang.

current cache → answer; stale cache → answer now and refresh in the background; miss → ask central within
a short deadline; central unreachable → the cached answer marked "as of", or "cannot check right now".
A row is current when it was fetched, or sync confirmed its agency's feed, within ``fresh_seconds``.
Each answer carries its source (``cache``, ``central``, ``stale``, ``none``) and the time it is true as of.

Central calls run on daemon threads, each bounded by the transport's wall-clock deadline, so neither a
lookup nor ``close`` (nor the process's exit) ever waits for an abandoned fetch. A circuit breaker
(``dossier.breaker``), which several services may share, stops waiting on a central known to be down.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from datetime import UTC, datetime
from enum import Enum
from typing import TYPE_CHECKING, Any, Protocol

from dossier.breaker import CLOSED, CircuitBreaker
from dossier.codes import CodeParser, DossierCode
from dossier.errors import CentralError, CentralUnavailable, DossierNotFound, InvalidRecord, MotcuaError
from dossier.model import Dossier, mask_name

if TYPE_CHECKING:
    from dossier.cache import Cache

log = logging.getLogger(__name__)

_HASHES = ("owner_phone_hash", "owner_id4_hash")
UNAVAILABLE_REASON = "central cannot be reached right now"


class Outcome(Enum):
    """How a lookup ended."""

    FOUND = "found"
    NOT_FOUND = "not_found"
    UNAVAILABLE = "unavailable"


class LookupResult:
    """One answer, with where it came from and how old it is.

    A cache hit keeps the row's JSON text and decodes it on first use of ``dossier``. Should that text no
    longer decode (a disk error), ``dossier`` is ``None`` (shown as "cannot check right now"), and the
    row is counted, logged once and dropped from the cache.
    """

    __slots__ = ("code", "outcome", "source", "age_seconds", "reason", "_dossier", "_body", "_as_of", "_bad")

    def __init__(
        self,
        code: str,
        outcome: Outcome,
        dossier: Dossier | None,
        source: str,  # cache | central | stale | none
        as_of: datetime | float | None,
        age_seconds: float | None,
        reason: str = "",
    ) -> None:
        self.code = code
        self.outcome = outcome
        self.source = source
        self.age_seconds = age_seconds
        self.reason = reason
        self._dossier = dossier
        self._body: str | bytes | None = None
        self._as_of = as_of
        self._bad: Callable[[str], None] | None = None

    @classmethod
    def from_cached_body(
        cls, code: str, body: str | bytes, source: str, as_of: float, age: float, bad: Callable[[str], None]
    ) -> LookupResult:
        """A cache hit whose trusted body is decoded only when ``dossier`` is first used."""
        result = cls.__new__(cls)
        result.code, result.outcome, result.source, result.age_seconds, result.reason = (
            code,
            Outcome.FOUND,
            source,
            age,
            "",
        )
        result._dossier, result._body, result._as_of, result._bad = None, body, as_of, bad
        return result

    @property
    def dossier(self) -> Dossier | None:
        """The dossier (``None`` unless found)."""
        if self._body is not None:
            body, self._body = self._body, None
            try:
                self._dossier = Dossier.decode(body)
            except InvalidRecord:
                if self._bad is not None:
                    self._bad(self.code)
        return self._dossier

    @property
    def as_of(self) -> datetime | None:
        """When the answer was known to be true (UTC), ``None`` for no answer."""
        if isinstance(self._as_of, float | int):
            self._as_of = datetime.fromtimestamp(self._as_of, UTC)
        return self._as_of

    def to_json(self, *, unmasked: bool = False) -> dict[str, object]:
        """The answer as JSON: names masked as on screen unless ``unmasked``; owner hashes never."""
        data: dict[str, Any] | None = None
        if self.dossier is not None:
            data = self.dossier.to_json()
            for key in _HASHES:
                data.pop(key, None)
            if not unmasked:
                data["applicant_name"] = mask_name(data.get("applicant_name", ""))
        as_of = self.as_of
        return {
            "code": self.code,
            "outcome": self.outcome.value,
            "source": self.source,
            "as_of": as_of.isoformat() if as_of else None,
            "age_seconds": None if self.age_seconds is None else round(self.age_seconds, 1),
            "reason": self.reason,
            "dossier": data,
        }

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, LookupResult):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash((self.code, self.outcome, self.source))

    def _key(self) -> tuple[object, ...]:
        return (self.code, self.outcome, self.dossier, self.source, self.as_of, self.age_seconds, self.reason)

    def __repr__(self) -> str:
        return (
            f"LookupResult(code={self.code!r}, outcome={self.outcome}, source={self.source!r},"
            f" as_of={self.as_of}, age_seconds={self.age_seconds}, reason={self.reason!r})"
        )


class DossierSource(Protocol):
    """What the lookup needs from the central client."""

    def get_dossier(self, code: str, *, deadline: float | None = None) -> Dossier:
        """Fetch one dossier or raise ``DossierNotFound`` / ``CentralError``."""
        ...


Observer = Callable[[LookupResult, float], None]


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
        breaker: CircuitBreaker | None = None,
        observer: Observer | None = None,
        channel: str = "",
        workers: int = 4,
    ) -> None:
        self.cache = cache
        self.source = source
        self.fresh_seconds = fresh_seconds
        self.central_deadline = central_deadline
        self.not_found_ttl = not_found_ttl
        self.parser = parser or CodeParser()
        self.clock = clock
        self.breaker = breaker or CircuitBreaker()
        self.observer = observer
        self.channel = channel
        self._slots = threading.BoundedSemaphore(max(1, workers))
        self._inflight: dict[str, Future[Dossier]] = {}
        self._not_found: dict[str, float] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._prober: threading.Thread | None = None
        self._probe_code = ""
        self._observer_failed = False

    def close(self) -> None:
        """Stop probing and starting fetches; never waits for a fetch already running (daemon threads)."""
        self._stop.set()

    def breaker_state(self) -> dict[str, Any]:
        """The circuit breaker: ``{"state": closed|open|half_open, "failures", "since", "last_error"}``."""
        return self.breaker.snapshot()

    def lookup(self, code: str | DossierCode, *, deadline: float | None = None) -> LookupResult:
        """Answer for ``code`` (raises ``InvalidCode`` for text that is not a code)."""
        if self.observer is None:
            return self._lookup(code, deadline)
        started = time.perf_counter()
        result = self._lookup(code, deadline)
        self._observe(result, time.perf_counter() - started)
        return result

    def _lookup(self, code: str | DossierCode, deadline: float | None) -> LookupResult:
        value = code.value if isinstance(code, DossierCode) else self.parser.parse(code).value
        now = self.clock()
        row = self.cache.peek(value)
        if row is not None:
            _version, as_of, body, trusted = row
            age = now - as_of
            fresh = 0 <= age <= self.fresh_seconds
            result: LookupResult | None
            if trusted:
                source = "cache" if fresh else "stale"
                result = LookupResult.from_cached_body(
                    value, body, source, as_of, max(age, 0.0), self._bad_row
                )
            else:
                result = self._checked(value, body, "cache" if fresh else "stale", as_of, max(age, 0.0))
            if result is not None:
                if not fresh:
                    self._refresh(value)  # answer now; refresh in the background
                return result
        with self._lock:
            seen = self._not_found.get(value)
        if seen is not None and now - seen < self.not_found_ttl:
            return LookupResult(value, Outcome.NOT_FOUND, None, "central", None, now - seen)
        if not self.breaker.allows():
            self._ensure_prober(value)
            return LookupResult(value, Outcome.UNAVAILABLE, None, "none", None, None, UNAVAILABLE_REASON)
        return self._ask_central(value, self.central_deadline if deadline is None else deadline)

    def _checked(
        self, code: str, body: str | bytes, source: str, as_of: float, age: float
    ) -> LookupResult | None:
        """A row written under an older model: decode it now; one that no longer decodes is a miss."""
        try:
            dossier = Dossier.decode(body)
        except InvalidRecord:
            self.cache.drop_undecodable(code)
            return None
        return LookupResult(code, Outcome.FOUND, dossier, source, as_of, age)

    def _bad_row(self, code: str) -> None:
        self.cache.drop_undecodable(code)

    def _ask_central(self, code: str, deadline: float) -> LookupResult:
        future = self._fetch(code)
        try:
            dossier = future.result(timeout=max(deadline, 0.0))
        except FutureTimeout:
            return self._unavailable(code, "central did not answer in time")
        except DossierNotFound:
            return LookupResult(code, Outcome.NOT_FOUND, None, "central", None, 0.0)
        except MotcuaError as err:
            return self._unavailable(code, str(err))
        stored = self.cache.get(code)
        chosen = stored.dossier if stored is not None else dossier
        return LookupResult(code, Outcome.FOUND, chosen, "central", self.clock(), 0.0)

    def _unavailable(self, code: str, reason: str) -> LookupResult:
        # The fetch may have filled the cache meanwhile; if so, that answer is better than none.
        entry = self.cache.get(code)
        if entry is not None:
            age = max(self.clock() - entry.fetched_at, 0.0)
            return LookupResult(code, Outcome.FOUND, entry.dossier, "stale", entry.fetched_at, age, reason)
        return LookupResult(code, Outcome.UNAVAILABLE, None, "none", None, None, reason)

    def _observe(self, result: LookupResult, elapsed: float) -> None:
        try:
            self.observer(result, elapsed)  # type: ignore[misc]
        except Exception:
            if not self._observer_failed:
                self._observer_failed = True
                log.exception("lookup observer failed (reported once; lookups go on)")

    # --- central, in the background -----------------------------------------------------------

    def _refresh(self, code: str) -> None:
        if self.breaker.allows():
            self._fetch(code)
        else:
            self._ensure_prober(code)

    def _fetch(self, code: str) -> Future[Dossier]:
        """Start (or join) one fetch of ``code`` from central; the result is stored in the cache."""
        with self._lock:
            running = self._inflight.get(code)
            if running is not None:
                return running
            future: Future[Dossier] = Future()
            if self._stop.is_set():
                future.set_exception(CentralUnavailable("the lookup service is closing"))
                return future
            self._inflight[code] = future
        thread = threading.Thread(
            target=self._run_fetch, args=(code, future), name="lookup-fetch", daemon=True
        )
        thread.start()
        return future

    def _run_fetch(self, code: str, future: Future[Dossier]) -> None:
        try:
            if not self._slots.acquire(timeout=self.central_deadline):
                raise CentralUnavailable("too many lookups are waiting on central")
            try:
                future.set_result(self._fetch_and_store(code))
            finally:
                self._slots.release()
        except Exception as err:  # delivered to the waiting lookup, which answers "unavailable"
            future.set_exception(err)
        finally:
            with self._lock:
                self._inflight.pop(code, None)

    def _fetch_and_store(self, code: str) -> Dossier:
        try:
            dossier = self.source.get_dossier(code, deadline=self.central_deadline)
        except DossierNotFound:
            self.breaker.success()
            with self._lock:
                self._not_found[code] = self.clock()
                if len(self._not_found) > 10_000:
                    self._not_found.clear()
            raise
        except CentralError as err:
            log.debug("central did not answer a lookup: %s", err)
            self.breaker.failure(err)
            raise
        except Exception as err:
            log.exception("unexpected failure asking central")
            self.breaker.failure(err)
            raise CentralUnavailable("unexpected failure asking central") from None
        self.breaker.success()
        result = self.cache.put(dossier)
        if not result.stored and dossier.version and result.cached_version > dossier.version:
            log.warning(
                "central answered version %d of %s, older than cached version %d: recorded for resync",
                dossier.version,
                code,
                result.cached_version,
            )
            self.cache.record_inconsistency(
                code, result.cached_version, dossier.version, channel=self.channel
            )
        return dossier

    def _ensure_prober(self, code: str) -> None:
        """While the breaker is open, one daemon thread probes central every ``probe_seconds``."""
        with self._lock:
            self._probe_code = code
            if self._stop.is_set() or (self._prober is not None and self._prober.is_alive()):
                return
            self._prober = threading.Thread(target=self._probe_loop, name="lookup-probe", daemon=True)
            self._prober.start()

    def _probe_loop(self) -> None:
        while not self._stop.is_set() and self.breaker.state != CLOSED:
            wait = self.breaker.seconds_to_probe()
            if wait > 0 or not self.breaker.begin_probe():
                self._stop.wait(max(wait, 0.05) if wait > 0 else min(self.breaker.probe_seconds, 1.0))
                continue
            try:
                self._fetch_and_store(self._probe_code)
            except DossierNotFound:
                pass  # central answered: the breaker is closed
            except MotcuaError as err:
                log.debug("central probe failed: %s", err)
