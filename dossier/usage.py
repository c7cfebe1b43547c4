"""Durable usage counters shared by a device's processes: lookups by channel, source and result.

Each process (SMS gateway, kiosk, CLI) records into an in-memory buffer (no I/O on the lookup's path)
that a background thread adds to ``<data_dir>/usage.db`` at most every few seconds, and once more at
``close()``. Rows are *added* (``count = count + delta``) in one transaction, so processes sharing the
file never overwrite each other's counts. The health agent reads the totals with :func:`read_usage`.

Lookup latency is kept as Prometheus-style buckets (non-cumulative counts per upper bound, ``+Inf``
last) with the sum of seconds, per (channel, source, result). A process may also publish small states
(``track``: e.g. its lookup breaker's snapshot) that are rewritten with their time at each flush and
removed when it closes, so the agent in another process can see them.
"""

from __future__ import annotations

import bisect
import json
import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dossier.errors import StorageError
from dossier.sqlstore import Migration, SqliteStore

if TYPE_CHECKING:
    from dossier.lookup import LookupResult

log = logging.getLogger(__name__)

COMPONENT = "usage"
BUCKETS: tuple[float, ...] = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BUCKET_LABELS: tuple[str, ...] = (*(repr(b) for b in BUCKETS), "+Inf")
SOURCES = ("cache", "stale", "central", "none")
RESULTS = ("found", "not_found", "unavailable")
_NAME = re.compile(r"[a-z][a-z0-9_]{0,31}")

MIGRATIONS = [
    Migration(
        1,
        """
        CREATE TABLE IF NOT EXISTS usage_lookups (
            channel TEXT NOT NULL, source TEXT NOT NULL, result TEXT NOT NULL,
            count INTEGER NOT NULL, seconds_sum REAL NOT NULL,
            PRIMARY KEY (channel, source, result)
        );
        CREATE TABLE IF NOT EXISTS usage_buckets (
            channel TEXT NOT NULL, source TEXT NOT NULL, result TEXT NOT NULL, le TEXT NOT NULL,
            count INTEGER NOT NULL,
            PRIMARY KEY (channel, source, result, le)
        );
        CREATE TABLE IF NOT EXISTS usage_events (name TEXT PRIMARY KEY, count INTEGER NOT NULL);
        """,
    ),
    Migration(
        2,
        "CREATE TABLE IF NOT EXISTS usage_states (name TEXT PRIMARY KEY, value TEXT NOT NULL, at REAL NOT NULL);",
    ),
]

_Key = tuple[str, str, str]


def check_name(kind: str, name: str) -> str:
    """``name`` if it is a valid channel or event name (``[a-z][a-z0-9_]{0,31}``), else ``ValueError``."""
    if not _NAME.fullmatch(name):
        raise ValueError(f"invalid {kind} name {name!r}: use [a-z][a-z0-9_]{{0,31}}")
    return name


@dataclass
class _Pending:
    """Counts recorded since the last flush."""

    lookups: dict[_Key, list[float]] = field(default_factory=dict)  # key -> [count, seconds_sum]
    buckets: dict[tuple[str, str, str, str], int] = field(default_factory=dict)
    events: dict[str, int] = field(default_factory=dict)

    def empty(self) -> bool:
        """Nothing was recorded."""
        return not (self.lookups or self.events)

    def merge(self, other: _Pending) -> None:
        """Add ``other``'s counts to these."""
        for key, (count, seconds) in other.lookups.items():
            acc = self.lookups.setdefault(key, [0, 0.0])
            acc[0] += count
            acc[1] += seconds
        for bkey, n in other.buckets.items():
            self.buckets[bkey] = self.buckets.get(bkey, 0) + n
        for name, n in other.events.items():
            self.events[name] = self.events.get(name, 0) + n


@dataclass(frozen=True)
class LookupCount:
    """Totals of one (channel, source, result): count, seconds, and latency buckets (non-cumulative)."""

    channel: str
    source: str
    result: str
    count: int
    seconds_sum: float
    buckets: tuple[int, ...]  # aligned with BUCKET_LABELS


@dataclass(frozen=True)
class UsageSnapshot:
    """Every process's totals as stored in usage.db."""

    lookups: tuple[LookupCount, ...] = ()
    events: dict[str, int] = field(default_factory=dict)
    states: dict[str, tuple[dict[str, Any], float]] = field(default_factory=dict)  # name -> (value, at)

    def total(self, *, result: str | None = None, sources: tuple[str, ...] | None = None) -> int:
        """Lookups counted, optionally only those with ``result`` and/or one of ``sources``."""
        return sum(
            c.count
            for c in self.lookups
            if (result is None or c.result == result) and (sources is None or c.source in sources)
        )


def open_usage(path: str | Path) -> SqliteStore:
    """Open (creating, 0600) the usage file and migrate it."""
    return SqliteStore.open(path, component=COMPONENT, migrations=MIGRATIONS)


def read_usage(store: SqliteStore) -> UsageSnapshot:
    """The stored totals of every process."""
    with store.reading() as conn:
        rows = conn.execute(
            "SELECT channel, source, result, count, seconds_sum FROM usage_lookups"
            " ORDER BY channel, source, result"
        ).fetchall()
        bucket_rows = conn.execute("SELECT channel, source, result, le, count FROM usage_buckets").fetchall()
        events = dict(conn.execute("SELECT name, count FROM usage_events ORDER BY name").fetchall())
        state_rows = conn.execute("SELECT name, value, at FROM usage_states").fetchall()
    per_key: dict[_Key, list[int]] = {}
    index = {label: i for i, label in enumerate(BUCKET_LABELS)}
    for channel, source, result, le, count in bucket_rows:
        i = index.get(le)
        if i is not None:
            per_key.setdefault((channel, source, result), [0] * len(BUCKET_LABELS))[i] += int(count)
    lookups = tuple(
        LookupCount(
            ch,
            src,
            res,
            int(n),
            float(s),
            tuple(per_key.get((ch, src, res), [0] * len(BUCKET_LABELS))),
        )
        for ch, src, res, n, s in rows
    )
    states: dict[str, tuple[dict[str, Any], float]] = {}
    for name, text, at in state_rows:
        try:
            value = json.loads(text)
        except ValueError:
            continue
        if isinstance(value, dict):
            states[str(name)] = (value, float(at))
    return UsageSnapshot(lookups, {str(k): int(v) for k, v in events.items()}, states)


def _write(store: SqliteStore, pending: _Pending, states: list[tuple[str, str, float]]) -> None:
    with store.transaction() as conn:
        conn.executemany(
            "INSERT INTO usage_states (name, value, at) VALUES (?, ?, ?)"
            " ON CONFLICT (name) DO UPDATE SET value = excluded.value, at = excluded.at",
            states,
        )
        conn.executemany(
            "INSERT INTO usage_lookups (channel, source, result, count, seconds_sum) VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT (channel, source, result) DO UPDATE SET count = count + excluded.count,"
            " seconds_sum = seconds_sum + excluded.seconds_sum",
            [(*key, int(v[0]), v[1]) for key, v in pending.lookups.items()],
        )
        conn.executemany(
            "INSERT INTO usage_buckets (channel, source, result, le, count) VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT (channel, source, result, le) DO UPDATE SET count = count + excluded.count",
            [(*key, n) for key, n in pending.buckets.items()],
        )
        conn.executemany(
            "INSERT INTO usage_events (name, count) VALUES (?, ?)"
            " ON CONFLICT (name) DO UPDATE SET count = count + excluded.count",
            list(pending.events.items()),
        )


class UsageRecorder:
    """Buffers one process's usage in memory and adds it to usage.db every ``flush_seconds``."""

    def __init__(
        self,
        path: str | Path,
        *,
        flush_seconds: float = 5.0,
        background: bool = True,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = Path(path)
        self.flush_seconds = flush_seconds
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._pending = _Pending()
        self._store: SqliteStore | None = None
        self._failing = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._tracked: dict[str, Callable[[], dict[str, Any]]] = {}
        self.clock = clock
        if background:
            self._thread = threading.Thread(target=self._run, name="usage-flush", daemon=True)
            self._thread.start()

    # --- the hot path (memory only) ----------------------------------------------------------------

    def record_lookup(self, channel: str, source: str, result: str, seconds: float) -> None:
        """Count one lookup answered on ``channel`` from ``source`` with ``result`` in ``seconds``."""
        seconds = max(float(seconds), 0.0)
        le = BUCKET_LABELS[bisect.bisect_left(BUCKETS, seconds)]
        key = (channel, source, result)
        with self._lock:
            acc = self._pending.lookups.setdefault(key, [0, 0.0])
            acc[0] += 1
            acc[1] += seconds
            bkey = (channel, source, result, le)
            self._pending.buckets[bkey] = self._pending.buckets.get(bkey, 0) + 1

    def record_event(self, name: str, n: int = 1) -> None:
        """Count ``n`` occurrences of a named event (e.g. ``kiosk_scan``)."""
        check_name("event", name)
        with self._lock:
            self._pending.events[name] = self._pending.events.get(name, 0) + n

    def observer(self, channel: str) -> Callable[[LookupResult, float], None]:
        """A ``LookupService`` observer that counts every lookup as made on ``channel``."""
        check_name("channel", channel)

        def observe(result: LookupResult, seconds: float) -> None:
            """Count one lookup."""
            self.record_lookup(channel, result.source, result.outcome.value, seconds)

        return observe

    def track(self, name: str, read: Callable[[], dict[str, Any]]) -> None:
        """Write ``read()`` (a JSON-able dict, e.g. a lookup breaker's snapshot) under ``name`` at each flush.

        Other processes (the health agent) read it with its time, so a state whose process stopped is
        recognisably old.
        """
        check_name("state", name.replace(".", "_"))
        with self._lock:
            self._tracked[name] = read

    def _states(self) -> list[tuple[str, str, float]]:
        with self._lock:
            tracked = list(self._tracked.items())
        out = []
        now = self.clock()
        for name, read in tracked:
            try:
                out.append((name, json.dumps(read(), separators=(",", ":")), now))
            except (TypeError, ValueError):
                log.debug("state %s is not JSON", name, exc_info=True)
        return out

    # --- flushing ----------------------------------------------------------------------------------

    def open(self) -> bool:
        """Open (and migrate) the file now rather than at the first flush; ``False`` if it cannot be."""
        with self._flush_lock:
            if self._store is None:
                try:
                    self._store = open_usage(self.path)
                except StorageError as err:
                    log.warning("usage counters kept in memory: %s", err)
                    self._failing = True
                    return False
            return True

    def flush(self) -> bool:
        """Add what was recorded since the last flush to the file; ``False`` (kept for later) on failure."""
        with self._flush_lock:
            with self._lock:
                pending, self._pending = self._pending, _Pending()
            states = self._states()
            if pending.empty() and not states:
                return True
            try:
                if self._store is None:
                    self._store = open_usage(self.path)
                _write(self._store, pending, states)
            except StorageError as err:
                with self._lock:
                    pending.merge(self._pending)
                    self._pending = pending
                if not self._failing:
                    log.warning("usage counters kept in memory: %s", err)
                    self._failing = True
                return False
            if self._failing:
                log.info("usage counters written again")
                self._failing = False
            return True

    def _run(self) -> None:
        while not self._stop.wait(self.flush_seconds):
            self.flush()

    def close(self) -> None:
        """Stop the background thread, write what is left, close the file."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30.0)
        self.flush()
        with self._lock:
            names, self._tracked = list(self._tracked), {}
        with self._flush_lock:
            if self._store is not None and names:
                try:  # this process's states end with it
                    with self._store.transaction() as conn:
                        conn.executemany("DELETE FROM usage_states WHERE name = ?", [(n,) for n in names])
                except StorageError as err:
                    log.warning("usage states of a stopping process are left behind: %s", err)
            if self._store is not None:
                self._store.close()
                self._store = None
