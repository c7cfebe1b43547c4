"""Ratings and statistics in kiosk.db; a rating given on the screen while central is down, forwarded once.

The central service here is the real reference app on loopback (``central.app``), started, stopped and
started again on the same port and database.
"""

from __future__ import annotations

import socket
import sqlite3
import stat
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import msgspec
import pytest
import requests

from appliance.kiosk_wiring import CentralRatings, CentralStats
from central.app import create_app
from central.settings import CentralServiceSection
from central.testing import run_server
from dossier.client import CentralClient
from dossier.errors import CentralUnavailable
from kiosk.app import KioskApp
from kiosk.ratings import RatingBook, RatingForwarder, open_kiosk_store
from kiosk.session import Screen
from kiosk.stats import StatsCache
from tests.kiosk.conftest import find, tap, wait_until
from tests.kiosk.data import AGENCY, NOW, STATS

ADMIN = "kiosk-test-admin"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def central(db: Path, port: int) -> Iterator[str]:
    settings = msgspec.structs.replace(CentralServiceSection(), admin_token=ADMIN, db_path=str(db))
    with run_server(create_app(settings), port=port) as url:
        yield url


def enroll(url: str) -> str:
    with requests.Session() as http:
        auth = {"Authorization": f"Bearer {ADMIN}"}
        token = http.post(url + "/api/v1/admin/enrollment-tokens", headers=auth, timeout=10).json()["token"]
        body = {"token": token, "name": "kiosk-1", "kind": "kiosk"}
        return str(http.post(url + "/api/v1/devices/enroll", json=body, timeout=10).json()["api_key"])


def rating(**kw: Any) -> dict[str, Any]:
    return {"id": str(uuid.uuid4()), "agency_id": AGENCY, "code": "", "service": 1, "staff": 2,
            "rated_at": NOW.isoformat(), **kw}  # fmt: skip


def central_ratings(db: Path) -> list[tuple[str, int, int]]:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT id, service, staff FROM ratings").fetchall()


def test_rating_on_screen_while_central_is_down_is_forwarded_once(
    kiosk: Callable[..., KioskApp], tmp_path: Path
) -> None:
    port = free_port()
    db = tmp_path / "central.db"
    with central(db, port) as url:
        key = enroll(url)
    client = CentralClient(url, api_key=key, connect_timeout=0.5, read_timeout=5.0, retries=0)
    store = open_kiosk_store(tmp_path / "kiosk.db")
    book = RatingBook(store)
    forwarder = RatingForwarder(book, CentralRatings(client), retry_min_s=0.1, retry_max_s=0.2, idle_s=0.2)
    app = kiosk(ratings=book, forwarder=forwarder, on_close=[store.close])
    tap(find(app.root_widget, action="rate"))
    tap(find(app.root_widget, action="choose", text="Hài lòng"))  # the service: 2
    chosen = [w for w in app.screens[Screen.RATING].walk() if getattr(w, "arg", "") == "staff:3"]
    tap(chosen[0])
    tap(find(app.root_widget, action="send_rating"))
    wait_until(lambda: app.session.screen is Screen.THANKS, what="the thank-you screen")
    assert book.pending_count() == 1  # stored at once, central is down
    assert stat.S_IMODE((tmp_path / "kiosk.db").stat().st_mode) == 0o600
    with sqlite3.connect(tmp_path / "kiosk.db") as conn:  # what other processes (health) read
        assert conn.execute(
            "SELECT COUNT(*) FROM ratings WHERE sent_at IS NULL AND rejected IS NULL"
        ).fetchone() == (1,)
    wait_until(lambda: forwarder.sent == 0 and book.store.conn.execute(
        "SELECT attempts FROM ratings").fetchone()[0] >= 1, what="a failed attempt")  # fmt: skip
    with central(db, port):
        forwarder.wake()
        wait_until(lambda: book.pending_count() == 0, what="forwarding")
        rows = central_ratings(db)
        assert len(rows) == 1 and rows[0][1:] == (2, 3)
        # a crash between "posted" and "marked sent": the same rating goes again, central keeps it once
        with store.transaction() as conn:
            conn.execute("UPDATE ratings SET sent_at = NULL")
        forwarder.wake()
        wait_until(lambda: book.pending_count() == 0, what="forwarding again")
        assert central_ratings(db) == rows and forwarder.sent == 2


def test_a_rating_central_refuses_is_kept_and_not_retried(tmp_path: Path) -> None:
    port = free_port()
    db = tmp_path / "central.db"
    store = open_kiosk_store(tmp_path / "kiosk.db")
    book = RatingBook(store)
    with central(db, port) as url:
        client = CentralClient(url, api_key=enroll(url), retries=0)
        forwarder = RatingForwarder(book, CentralRatings(client))
        book.add(rating(agency_id="", code=""))  # central needs an agency: 400
        good = rating()
        book.add(good)
        book.add(good)  # the same id is stored once
        assert book.pending_count() == 2
        assert forwarder.forward_once() is False
        assert book.pending_count() == 0 and [r[0] for r in central_ratings(db)] == [good["id"]]
        assert store.conn.execute("SELECT COUNT(*) FROM ratings WHERE rejected IS NOT NULL").fetchone() == (
            1,
        )
    store.close()


def test_statistics_are_cached_for_offline(tmp_path: Path) -> None:
    class Source:
        def __init__(self) -> None:
            self.answer: Any = STATS
            self.calls = 0

        def stats(self, agency_id: str, year: int, month: int | None) -> dict[str, Any]:
            self.calls += 1
            if isinstance(self.answer, Exception):
                raise self.answer
            return self.answer if month else {**self.answer, "period": {"year": year}}

    now = [1000.0]
    source = Source()
    store = open_kiosk_store(tmp_path / "kiosk.db")
    cache = StatsCache(store, source, AGENCY, refresh_s=60, clock=lambda: now[0])
    first = cache.load()
    assert first.month == STATS and first.year is not None and not first.cached and source.calls == 2
    assert cache.load().month == STATS and source.calls == 2  # fresh enough: no call
    now[0] += 120
    source.answer = CentralUnavailable("central unreachable")
    offline = cache.load()
    assert offline.cached and offline.month == STATS and source.calls == 4
    source.answer = {"finished": "lots"}  # nonsense is not shown, and not saved over good figures
    assert cache.load().month == STATS
    assert StatsCache(store, None, "").load().problem == "no_agency"
    assert StatsCache(store, source, "000.00.99.H56", clock=lambda: now[0]).load().problem == "none"
    store.close()


def test_adapters_use_the_real_client(tmp_path: Path) -> None:
    port = free_port()
    with central(tmp_path / "central.db", port) as url:
        client = CentralClient(url, api_key=enroll(url), retries=0)
        with pytest.raises(Exception, match="no dossiers|404"):
            CentralStats(client).stats(AGENCY, NOW.year, NOW.month)  # no dossiers at all: 404
