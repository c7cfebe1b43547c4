"""Lookup: fresh, stale, miss, not found, unavailable, deadline, inconsistency; never hangs."""

from __future__ import annotations

import json
import logging
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from dossier.cache import Cache
from dossier.client import CentralClient
from dossier.errors import InvalidCode
from dossier.lookup import LookupResult, LookupService, Outcome
from dossier.model import Status
from dossier.sync import Syncer
from tests.dossier.factory import make_dossier
from tests.dossier.scripted_central import State, scripted_central
from tests.queues import wait_until


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
    assert svc.breaker_state()["failures"] >= 1 and svc.breaker_state()["last_error"]
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


def test_closing_never_waits_for_an_abandoned_fetch(tmp_path: Path, central: tuple[str, State]) -> None:
    url, state = central
    state.faults.trickle = 0.1  # the answer would take a minute
    svc = service(tmp_path, url, Clock(), central_deadline=30.0)
    started = time.monotonic()
    r = svc.lookup(make_dossier(1).code, deadline=0.3)
    assert r.outcome is Outcome.UNAVAILABLE
    svc.close()
    assert time.monotonic() - started < 5  # the fetch still trickles on its daemon thread


def test_a_process_exits_without_waiting_for_a_trickling_fetch(
    tmp_path: Path, central: tuple[str, State]
) -> None:
    url, state = central
    state.faults.trickle = 0.1
    script = (
        "import sys; from dossier.cache import Cache; from dossier.client import CentralClient;"
        " from dossier.lookup import LookupService;"
        f" s = LookupService(Cache({str(tmp_path / 'p.db')!r}), CentralClient({url!r}, read_timeout=5),"
        " central_deadline=60);"
        f" r = s.lookup({make_dossier(1).code!r}, deadline=0.3); s.close(); print(r.outcome.value)"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=20,
        cwd=Path(__file__).parents[2],
    )
    assert done.stdout.strip() == "unavailable", done.stderr


def test_observer_sees_every_lookup_and_cannot_break_one(
    tmp_path: Path, central: tuple[str, State], caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[tuple[str, float]] = []

    def observer(result: LookupResult, elapsed: float) -> None:
        seen.append((result.source, elapsed))
        raise RuntimeError("metrics broke")

    svc = service(tmp_path, central[0], Clock(), observer=observer)
    code = make_dossier(1).code
    for _ in range(3):
        assert svc.lookup(code).outcome is Outcome.FOUND
    assert [s for s, _ in seen] == ["central", "cache", "cache"] and all(e >= 0 for _, e in seen)
    assert sum("observer failed" in r.getMessage() for r in caplog.records) == 1
    svc.close()


def test_json_masks_names_like_the_screen_and_never_carries_hashes(
    tmp_path: Path, central: tuple[str, State]
) -> None:
    url, state = central
    state.put(make_dossier(1, version=2, owner_phone_hash="sha256$ab$cd", owner_id4_hash="sha256$ef$01"))
    svc = service(tmp_path, url, Clock())
    for r in (svc.lookup(make_dossier(1).code), svc.lookup(make_dossier(1).code)):  # central, then cache
        masked, full = r.to_json(), r.to_json(unmasked=True)
        assert masked["dossier"]["applicant_name"] == "Nguyễn V. A."  # type: ignore[index]
        assert full["dossier"]["applicant_name"] == "Nguyễn Văn An"  # type: ignore[index]
        for data in (masked, full):
            text = json.dumps(data, ensure_ascii=False)
            assert "owner_" not in text and "sha256" not in text
    svc.close()


def test_central_down_is_one_short_reason_and_one_warning_per_outage(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="dossier")
    client = CentralClient("http://127.0.0.1:9", connect_timeout=0.5, read_timeout=0.5, retries=0)
    svc = LookupService(Cache(tmp_path / "c.db"), client, central_deadline=1.0)
    reasons = {svc.lookup(make_dossier(n).code).reason for n in range(1, 8)}
    assert all(len(r) < 60 and "Pool" not in r and "0x" not in r for r in reasons), reasons
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and "Pool" not in warnings[0].getMessage()
    assert not any("object at 0x" in r.getMessage() for r in caplog.records)
    svc.close()


def test_a_row_that_no_longer_decodes_is_a_counted_miss(
    tmp_path: Path, central: tuple[str, State], caplog: pytest.LogCaptureFixture
) -> None:
    url, state = central
    state.put(make_dossier(2))
    svc = service(tmp_path, url, Clock())
    first, second = make_dossier(1), make_dossier(2)
    svc.cache.put(first)
    svc.cache.put(second)
    conn = sqlite3.connect(svc.cache.path)
    bad_date = first.encode().replace(b"2026-11-15", b"9999-12-31")  # accepted by an older model
    conn.execute("UPDATE dossiers SET body = ?, model = 0 WHERE code = ?", (bad_date, first.code))
    conn.execute("UPDATE dossiers SET body = '{\"code\": 1' WHERE code = ?", (second.code,))  # disk error
    conn.commit()
    conn.close()
    r = svc.lookup(first.code)
    assert r.outcome is Outcome.FOUND and r.source == "central" and r.dossier == first  # a miss, refilled
    r = svc.lookup(second.code)  # written by this model: trusted, decoded on use
    assert r.dossier is None and svc.cache.get(second.code) is None  # dropped: the next lookup refills it
    assert svc.lookup(second.code).dossier == make_dossier(2)
    assert svc.cache.undecodable_rows == 2
    logged = [r.getMessage() for r in caplog.records if "no longer decodes" in r.getMessage()]
    assert len(logged) == 2 and all("Nguy" not in m for m in logged)
    svc.close()


def test_a_dossier_confirmed_by_sync_is_current(tmp_path: Path, central: tuple[str, State]) -> None:
    url, state = central
    other = make_dossier(5, agency="000.00.16.H56")
    state.put(other)
    clock = Clock()
    svc = service(tmp_path, url, clock)
    syncer = Syncer(svc.cache, CentralClient(url, retries=0), agencies=["000.00.15.H56"])
    syncer.sync_once()
    assert svc.lookup(other.code).source == "central"
    clock.t += 3600  # far past fresh_seconds (60) since both were fetched
    syncer.sync_once()  # 304: nothing changed up to now
    asked = len(state.requests)
    r = svc.lookup(make_dossier(1).code)
    assert r.source == "cache" and r.age_seconds == pytest.approx(0, abs=1)
    assert r.as_of is not None and r.as_of.timestamp() == pytest.approx(clock.t)
    r = svc.lookup(other.code)  # an agency this device does not sync: its age is its fetch's
    assert r.source == "stale" and r.age_seconds == pytest.approx(3600)
    wait_until(lambda: len(state.requests) == asked + 1)  # one background refresh: the stale one only
    assert "/dossiers/" in state.requests[-1] and other.code in state.requests[-1]
    svc.close()
