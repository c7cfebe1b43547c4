"""Group commit for heartbeats: batches from concurrent requests share one transaction and one fsync.

Central receives one heartbeat per device per minute; committed one by one with ``synchronous=FULL``
each costs an fsync (about 3 ms here), which caps a single SQLite writer near 350 heartbeats/s and,
worse, ties up a server thread per waiting request. One writer thread drains the queue instead and
commits everything waiting in one transaction; each request waits (asynchronously, holding no thread)
for the commit that holds its batch, so a 204 still means "on disk". When a group fails, its batches
are retried one by one, so one bad batch fails alone and the rest of the fleet is unaffected.
Retention work runs on the same thread between commits.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass

from central.fleet_store import FleetStore, Heartbeat, StoreResult, apply_heartbeats
from dossier.errors import TemporaryError

log = logging.getLogger(__name__)

MAX_GROUP = 256  # batches per transaction (each at most 100 heartbeats)
STOP_TIMEOUT = 15.0


@dataclass
class _Job:
    device_id: str
    batch: Sequence[Heartbeat]
    received_at: float
    done: Future[StoreResult]


class HeartbeatWriter:
    """One thread committing queued heartbeat batches in groups; started on first use."""

    def __init__(self, store: FleetStore, *, max_group: int = MAX_GROUP) -> None:
        self.store = store
        self.max_group = max_group
        self.groups = 0  # transactions committed (for tests and figures)
        self._queue: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._closed = False

    def submit(self, device_id: str, batch: Sequence[Heartbeat], received_at: float) -> Future[StoreResult]:
        """Queue a batch; the future completes once it is committed (or fails with its error)."""
        done: Future[StoreResult] = Future()
        with self._lock:
            if self._closed:
                raise TemporaryError("central is stopping; send the heartbeats again later")
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="fleet-heartbeat-writer", daemon=True)
                self._thread.start()
            self._queue.put(_Job(device_id, batch, received_at, done))
        return done

    def close(self) -> None:
        """Commit what is queued, then stop the thread (bounded wait)."""
        with self._lock:
            self._closed = True
            thread = self._thread
            if thread is not None:
                self._queue.put(None)
        if thread is not None:
            thread.join(STOP_TIMEOUT)
            if thread.is_alive():
                log.warning("the heartbeat writer did not stop within %.0f s", STOP_TIMEOUT)

    def _run(self) -> None:
        stop = False
        while not stop:
            first = self._queue.get()
            if first is None:
                return
            jobs = [first]
            while len(jobs) < self.max_group:
                try:
                    job = self._queue.get_nowait()
                except queue.Empty:
                    break
                if job is None:
                    stop = True
                    break
                jobs.append(job)
            self._commit(jobs)
            try:
                self.store.maintain(jobs[-1].received_at)
            except Exception:  # retention must never stop the writer; it is retried when next due
                log.exception("fleet retention work failed")

    def _commit(self, jobs: list[_Job]) -> None:
        try:
            with self.store.writer.transaction() as conn:
                results = [apply_heartbeats(conn, j.device_id, j.batch, j.received_at) for j in jobs]
        except Exception as err:
            if len(jobs) == 1:
                if not jobs[0].done.done():
                    jobs[0].done.set_exception(err)
                return
            log.warning(
                "a group of %d heartbeat batches failed (%s); committing them one by one", len(jobs), err
            )
            for job in jobs:
                self._commit([job])
            return
        self.groups += 1
        for job, result in zip(jobs, results, strict=True):
            if not job.done.done():  # a request that gave up waiting: stored all the same (idempotent)
                job.done.set_result(result)
