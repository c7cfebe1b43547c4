"""Lookup: fresh, stale, miss, not found, unavailable, deadline, inconsistency; never hangs."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from dossier.cache import Cache
from dossier.client import CentralClient
from dossier.errors import InvalidCode
from dossier.lookup import LookupService, Outcome
from dossier.model import Status
from tests.dossier.factory import make_dossier
from tests.dossier.scripted_central import State, scripted_central


class Clock:
    def __init__(self) -> None:
        self.t = 1_800_000_000.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def central() -> Iterator[tuple[str, State]]:
    with scripted_central() as pair:
        pair[1].put(make_dossier(1))
        yield pair


def service(tmp_path: Path, url: str, clock: Clock, **kw: object) -> LookupService:
    client = CentralClient(url, connect_timeout=0.5, read_timeout=0.5, retries=0)
    opts: dict[str, object] = {"fresh_seconds": 60.0, "central_deadline": 1.0, "clock": clock}
    opts.update(kw)
    return LookupService(Cache(tmp_path / "c.db", clock=clock), client, **opts)  # type: ignore[arg-type]


def wait_until(cond, timeout: float = 5.0) -> None:  # type: ignore[no-untyped-def]
    end = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < end, "condition not reached"
        time.sleep(0.02)


def test_miss_then_fresh_then_stale_with_background_refresh(
    tmp_path: Path, central: tuple[str, State]
) -> None:
    url, state = central
    clock = Clock()
    svc = service(tmp_path, url, clock)
    code = make_dossier(1).code
    r = svc.lookup(code)
    assert (r.outcome, r.source, r.age_seconds) == (Outcome.FOUND, "central", 0.0)
    r = svc.lookup(code.lower().replace(".", " "))
    assert r.source == "cache" and r.dossier is not None
    state.put(make_dossier(1, version=2, status=Status.FINISHED))
    clock.t += 120
    r = svc.lookup(code)
    assert r.source == "stale" and r.dossier is not None and r.dossier.status is Status.IN_PROGRESS
    assert r.age_seconds == pytest.approx(120)

    def refreshed() -> bool:
        entry = svc.cache.get(code)
        return entry is not None and entry.version == 2

    wait_until(refreshed)
    r = svc.lookup(code)
    assert r.source == "cache" and r.dossier is not None and r.dossier.status is Status.FINISHED
    svc.close()


def test_not_found_is_remembered_briefly(tmp_path: Path, central: tuple[str, State]) -> None:
    url, state = central
    svc = service(tmp_path, url, Clock())
    code = "000.00.15.H56-261110-0999"
    assert svc.lookup(code).outcome is Outcome.NOT_FOUND
    n = len(state.requests)
    assert svc.lookup(code).outcome is Outcome.NOT_FOUND
    assert len(state.requests) == n
    svc.close()


def test_central_down_serves_cache_marked_as_of(tmp_path: Path) -> None:
    clock = Clock()
    with scripted_central() as (url, state):
        state.put(make_dossier(1))
        svc = service(tmp_path, url, clock)
        assert svc.lookup(make_dossier(1).code).source == "central"
        svc.close()
    clock.t += 3600
    svc = service(tmp_path, url, clock)  # the server is gone
    r = svc.lookup(make_dossier(1).code)
    assert r.outcome is Outcome.FOUND and r.source == "stale" and r.age_seconds == pytest.approx(3600)
    r = svc.lookup(make_dossier(2).code)
    assert r.outcome is Outcome.UNAVAILABLE and r.source == "none" and r.reason
    assert not svc.availability.up
    svc.close()


def test_slow_central_never_hangs_past_the_deadline(tmp_path: Path, central: tuple[str, State]) -> None:
    url, state = central
    state.faults.delay = 3.0
    svc = service(tmp_path, url, Clock(), central_deadline=0.3)
    started = time.monotonic()
    r = svc.lookup(make_dossier(1).code, deadline=0.3)
    assert r.outcome is Outcome.UNAVAILABLE
    assert time.monotonic() - started < 2.5
    svc.close()


def test_bad_central_answer_serves_unavailable_not_crash(tmp_path: Path, central: tuple[str, State]) -> None:
    url, state = central
    state.faults.malformed = True
    svc = service(tmp_path, url, Clock())
    assert svc.lookup(make_dossier(1).code).outcome is Outcome.UNAVAILABLE
    svc.close()


def test_older_central_answer_is_recorded_as_inconsistency(
    tmp_path: Path, central: tuple[str, State]
) -> None:
    url, state = central
    clock = Clock()
    svc = service(tmp_path, url, clock)
    svc.cache.put(make_dossier(1, version=5, status=Status.FINISHED))
    clock.t += 600
    r = svc.lookup(make_dossier(1).code)  # stale → background refresh gets version 1
    assert r.source == "stale"
    wait_until(lambda: bool(svc.cache.inconsistencies()))
    row = svc.cache.inconsistencies()[0]
    assert (row["cached_version"], row["central_version"]) == (5, 1)
    entry = svc.cache.get(make_dossier(1).code)
    assert entry is not None and entry.version == 5
    svc.close()


def test_concurrent_misses_share_one_central_call(tmp_path: Path, central: tuple[str, State]) -> None:
    url, state = central
    state.faults.delay = 0.3
    svc = service(tmp_path, url, Clock())
    results = []
    threads = [
        threading.Thread(target=lambda: results.append(svc.lookup(make_dossier(1).code))) for _ in range(5)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(5)
    assert [r.outcome for r in results] == [Outcome.FOUND] * 5
    assert sum("/dossiers/" in p for p in state.requests) == 1
    svc.close()


def test_invalid_code_is_the_callers_mistake(tmp_path: Path, central: tuple[str, State]) -> None:
    svc = service(tmp_path, central[0], Clock())
    with pytest.raises(InvalidCode, match="not a date"):
        svc.lookup("000.00.15.H56-241315-0001")
    svc.close()
