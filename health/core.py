"""The dossier cache's figures for the health agent (the cache is ``dossier``'s; read via its API)."""

from __future__ import annotations

from typing import Any, Protocol

from health.sources import CoreStats

PENDING_CAP = 10_000  # counted up to this many (the agent forwards 500 per request)


class CacheReader(Protocol):
    """What the agent reads from ``dossier.cache.Cache``."""

    def count(self) -> int:
        """Number of cached dossiers."""
        ...

    def sync_status(self) -> dict[str, Any]:
        """Sync's recorded state (``last_success``, ``consecutive_failures``, ...)."""
        ...

    def unreported_inconsistencies(self, limit: int = 100) -> list[dict[str, Any]]:
        """Mismatches not yet accepted by central."""
        ...


def _int(value: Any) -> int | None:
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _float(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


class CacheCore:
    """Adapts the cache to ``CoreSource``.

    Not reported, because no process-external figure exists yet: sync errors in total (the cache keeps
    the consecutive failures only) and undecodable rows (``Cache.undecodable_rows`` counts the rows met
    by the process that reads them, not the agent's).
    """

    def __init__(self, cache: CacheReader, *, pending_cap: int = PENDING_CAP) -> None:
        self.cache = cache
        self.pending_cap = pending_cap

    def core_stats(self) -> CoreStats:
        """Count, sync status and pending inconsistencies."""
        sync = self.cache.sync_status()
        return CoreStats(
            dossiers=self.cache.count(),
            sync_last_success=_float(sync.get("last_success")),
            sync_errors_total=_int(sync.get("errors_total")),
            sync_consecutive_failures=_int(sync.get("consecutive_failures")),
            inconsistencies_pending=len(self.cache.unreported_inconsistencies(limit=self.pending_cap)),
        )
