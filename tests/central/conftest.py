"""Fixtures: the real central app over a real SQLite file, served by uvicorn on loopback."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import requests
from msgspec.structs import replace

from central.app import create_app
from central.settings import CentralServiceSection
from central.testing import run_server
from dossier.model import VN_TZ

ADMIN = "test-admin-token"
NOW = datetime(2024, 3, 20, 10, 0, tzinfo=VN_TZ)


class Clock:
    """A settable clock for the app under test."""

    def __init__(self, now: datetime = NOW) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


READS = ("/api/v1/dossiers/", "/api/v1/changes", "/api/v1/stats/", "/api/v1/agencies")


@dataclass
class Central:
    """A running service: base URL, DB path, clock and an HTTP session."""

    url: str
    db: Path
    clock: Clock
    http: requests.Session
    reader_key: str = field(default="", init=False)

    def get(self, path: str, *, anonymous: bool = False, **kw: Any) -> requests.Response:
        """GET; reads go as an enrolled device (enrolled on first use) unless ``anonymous`` or headers say."""
        headers = dict(kw.pop("headers", None) or {})
        if path.startswith(READS) and not anonymous and "Authorization" not in headers:
            if not self.reader_key:
                self.reader_key = self.enroll(name="test-reader")
            headers["Authorization"] = f"Bearer {self.reader_key}"
        return self.http.get(self.url + path, timeout=30, headers=headers, **kw)

    def post(self, path: str, **kw: Any) -> requests.Response:
        return self.http.post(self.url + path, timeout=30, **kw)

    def admin(self, path: str, **kw: Any) -> requests.Response:
        headers = {"Authorization": f"Bearer {ADMIN}", **kw.pop("headers", {})}
        return self.post(path, headers=headers, **kw)

    def enroll(self, name: str = "kiosk-1", kind: str = "kiosk") -> str:
        """Enroll a device; returns its API key."""
        token = self.admin("/api/v1/admin/enrollment-tokens").json()["token"]
        resp = self.post("/api/v1/devices/enroll", json={"token": token, "name": name, "kind": kind})
        assert resp.status_code == 201, resp.text
        return resp.json()["api_key"]


@contextmanager
def serve(db: Path, clock: Clock | None = None, **overrides: Any) -> Iterator[Central]:
    """Run the real app over ``db`` on a free loopback port."""
    clock = clock or Clock()
    settings = replace(CentralServiceSection(), admin_token=ADMIN, db_path=str(db), **overrides)
    app = create_app(settings, now=clock)
    with run_server(app) as url, requests.Session() as http:
        yield Central(url, db, clock, http)


@pytest.fixture
def central(tmp_path: Path) -> Iterator[Central]:
    with serve(tmp_path / "central.db") as c:
        yield c


@pytest.fixture
def make_central(tmp_path: Path) -> Callable[..., Any]:
    """Factory: ``with make_central(**settings) as c:`` over this test's DB file."""

    def factory(**overrides: Any) -> Any:
        return serve(tmp_path / "central.db", **overrides)

    return factory
