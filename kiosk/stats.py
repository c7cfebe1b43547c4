"""Public on-time statistics (003 Art. 14) from central, cached in ``kiosk.db`` for when central is away.

``StatsCache.load()`` blocks (network, SQLite): the app calls it on a worker thread. Figures younger than
``refresh_s`` are served from the cache; otherwise central is asked and, if it does not answer sensibly,
the saved figures are shown with their date.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from dossier.errors import MotcuaError
from dossier.model import VN_TZ
from dossier.sqlstore import SqliteStore
from kiosk.ports import StatsSource
from kiosk.session import StatsAnswer

log = logging.getLogger(__name__)


def plausible(data: Any) -> bool:
    """Whether ``data`` has the contract's statistics shape (counts as non-negative integers)."""
    if not isinstance(data, dict):
        return False
    finished, unfinished = data.get("finished"), data.get("unfinished")
    if not isinstance(finished, dict) or not isinstance(unfinished, dict):
        return False
    counts = [data.get("received"), *(finished.get(k) for k in ("early", "on_time", "late"))]
    counts += [unfinished.get(k) for k in ("in_time", "overdue")]
    return all(isinstance(c, int) and not isinstance(c, bool) and c >= 0 for c in counts)


class StatsCache:
    """This month's and this year's figures of one agency, fetched and cached."""

    def __init__(
        self,
        store: SqliteStore,
        source: StatsSource | None,
        agency_id: str,
        *,
        refresh_s: float = 900.0,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.source = source
        self.agency_id = agency_id
        self.refresh_s = refresh_s
        self.now = now
        self.clock = clock
        self._warned = False

    def load(self) -> StatsAnswer:
        """The figures: fresh from central, or the saved ones (``cached=True``), or none."""
        if not self.agency_id:
            return StatsAnswer(None, None, problem="no_agency")
        today = self.now().astimezone(VN_TZ)
        periods = ((f"{today.year}-{today.month:02d}", today.month), (f"{today.year}", None))
        answers: list[dict[str, Any] | None] = []
        times: list[float] = []
        cached = False
        for key, month in periods:
            body, fetched, from_cache = self._period(key, today.year, month)
            answers.append(body)
            if body is not None:
                times.append(fetched)
                cached = cached or from_cache
        if not times:
            return StatsAnswer(None, None, problem="none")
        fetched_at = datetime.fromtimestamp(min(times), UTC)
        return StatsAnswer(answers[0], answers[1], fetched_at=fetched_at, cached=cached)

    def _period(self, key: str, year: int, month: int | None) -> tuple[dict[str, Any] | None, float, bool]:
        saved = self._saved(key)
        if saved is not None and self.clock() - saved[1] < self.refresh_s:
            return saved[0], saved[1], False
        if self.source is not None:
            try:
                data = self.source.stats(self.agency_id, year, month)
                if not plausible(data):
                    raise ValueError("central's statistics do not have the contract's shape")
                fetched = self.clock()
                self._save(key, data, fetched)
                self._warned = False
                return data, fetched, False
            except (MotcuaError, ValueError) as err:
                if not self._warned:
                    log.warning("statistics not available from central, showing saved figures: %s", err)
                    self._warned = True
        if saved is not None:
            return saved[0], saved[1], True
        return None, 0.0, False

    def _saved(self, key: str) -> tuple[dict[str, Any], float] | None:
        try:
            with self.store.reading() as conn:
                row = conn.execute(
                    "SELECT body, fetched_at FROM stats_cache WHERE agency_id = ? AND period = ?",
                    (self.agency_id, key),
                ).fetchone()
        except MotcuaError as err:
            log.warning("saved statistics unreadable: %s", err)
            return None
        if row is None:
            return None
        try:
            data = json.loads(row[0])
        except ValueError:
            return None
        return (data, float(row[1])) if plausible(data) else None

    def _save(self, key: str, data: dict[str, Any], fetched: float) -> None:
        try:
            with self.store.transaction() as conn:
                conn.execute(
                    "INSERT INTO stats_cache (agency_id, period, body, fetched_at) VALUES (?, ?, ?, ?)"
                    " ON CONFLICT(agency_id, period) DO UPDATE SET body = excluded.body,"
                    " fetched_at = excluded.fetched_at",
                    (self.agency_id, key, json.dumps(data, ensure_ascii=False), fetched),
                )
        except MotcuaError as err:
            log.warning("statistics could not be saved for offline use: %s", err)
