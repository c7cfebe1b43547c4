"""The circuit breaker: a central known to be down costs no wait; probes close it when it answers."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from dossier.breaker import CircuitBreaker
from dossier.cache import Cache
from dossier.client import CentralClient
from dossier.errors import CentralUnavailable
from dossier.lookup import LookupService, Outcome
from tests.dossier.factory import make_dossier
from tests.dossier.scripted_central import State, scripted_central
from tests.queues import wait_until


@pytest.fixture
def central() -> Iterator[tuple[str, State]]:
    with scripted_central() as pair:
        for n in range(1, 10):
            pair[1].put(make_dossier(n))
        yield pair


def service(path: Path, url: str, breaker: CircuitBreaker) -> LookupService:
    client = CentralClient(url, connect_timeout=0.5, read_timeout=0.5, retries=0)
    return LookupService(Cache(path), client, central_deadline=0.3, breaker=breaker)


def dossier_requests(state: State) -> int:
    return sum("/dossiers/" in p for p in state.requests)


def test_open_after_consecutive_failures_answers_at_once_then_closes_on_a_probe(
    tmp_path: Path, central: tuple[str, State], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="dossier.breaker")
    url, state = central
    state.faults.delay = 2.0  # central hangs past every deadline
    breaker = CircuitBreaker(failures=3, probe_seconds=0.2)
    svc = service(tmp_path / "c.db", url, breaker)
    for n in range(1, 4):
        assert svc.lookup(make_dossier(n).code).outcome is Outcome.UNAVAILABLE
    wait_until(lambda: svc.breaker_state()["state"] != "closed")
    asked = dossier_requests(state)
    started = time.monotonic()
    burst = [svc.lookup(make_dossier(n).code) for n in range(4, 9)]
    assert time.monotonic() - started < 0.3 * len(burst)  # no deadline waited: each answered at once
    assert all(r.outcome is Outcome.UNAVAILABLE for r in burst)
    assert dossier_requests(state) <= asked + 1  # at most the one background probe
    snapshot = svc.breaker_state()
    assert snapshot["failures"] >= 3 and snapshot["last_error"] and snapshot["since"] <= time.time()
    state.faults.delay = 0.0  # central is back
    wait_until(lambda: svc.breaker_state()["state"] == "closed")
    r = svc.lookup(make_dossier(9).code)
    assert r.outcome is Outcome.FOUND and r.source == "central"
    messages = [(rec.levelno, rec.getMessage()) for rec in caplog.records if rec.name == "dossier.breaker"]
    assert sum(level == logging.WARNING for level, _ in messages) == 1
    assert sum("answers again" in m for _, m in messages) == 1
    svc.close()


def test_one_breaker_shared_by_two_services(tmp_path: Path, central: tuple[str, State]) -> None:
    url, state = central
    breaker = CircuitBreaker(failures=2, probe_seconds=60)
    sms = service(tmp_path / "a.db", url, breaker)
    kiosk = service(tmp_path / "b.db", url, breaker)
    state.faults.delay = 2.0
    sms.lookup(make_dossier(1).code)
    sms.lookup(make_dossier(2).code)
    wait_until(lambda: kiosk.breaker_state()["state"] == "open")
    asked = dossier_requests(state)
    assert kiosk.lookup(make_dossier(3).code).outcome is Outcome.UNAVAILABLE
    assert dossier_requests(state) == asked
    sms.close()
    kiosk.close()


def test_stale_cache_still_answers_while_open(tmp_path: Path, central: tuple[str, State]) -> None:
    url, state = central
    breaker = CircuitBreaker(failures=1, probe_seconds=60)
    svc = service(tmp_path / "c.db", url, breaker)
    svc.fresh_seconds = 0.0
    assert svc.lookup(make_dossier(1).code).source == "central"
    breaker.failure(CentralUnavailable("central did not answer in time"))
    r = svc.lookup(make_dossier(1).code)
    assert r.outcome is Outcome.FOUND and r.source == "stale" and r.dossier == make_dossier(1)
    svc.close()


def test_probes_are_one_at_a_time_and_spaced() -> None:
    now = [100.0]
    breaker = CircuitBreaker(failures=1, probe_seconds=15, clock=lambda: now[0])
    assert breaker.allows() and not breaker.begin_probe()
    breaker.failure(CentralUnavailable("down"))
    assert not breaker.allows() and not breaker.begin_probe()  # not due yet
    now[0] += 15
    assert breaker.begin_probe() and not breaker.begin_probe()  # one at a time
    assert breaker.state == "half_open"
    breaker.failure(CentralUnavailable("still down"))
    assert breaker.state == "open" and breaker.seconds_to_probe() == 15
    now[0] += 15
    assert breaker.begin_probe()
    breaker.success()
    assert breaker.allows() and breaker.snapshot()["failures"] == 0
