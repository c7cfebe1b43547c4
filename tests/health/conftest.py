"""Fixtures: a settable clock, and the real central app served on loopback with an enrolled device."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import msgspec
import pytest
import requests

from appliance.config import CentralServiceSection
from central.app import create_app
from central.fleet_store import FleetStore, fleet_path_for
from central.testing import run_server
from dossier.client import CentralClient
from dossier.model import VN_TZ

ADMIN = "test-admin-token"


class FakeClock:
    """Wall and monotonic time that move only when a test says so."""

    def __init__(self, start: float = 1_710_000_000.0) -> None:
        self.now = start
        self.mono = 1000.0

    def wall(self) -> float:
        return self.now

    def monotonic(self) -> float:
        return self.mono

    def advance(self, seconds: float) -> None:
        self.now += seconds
        self.mono += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def free_port() -> int:
    """A loopback port nobody listens on (for "central is down")."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class LiveCentral:
    """The running reference central: URL, admin session, and its fleet database."""

    url: str
    db: Path
    http: requests.Session

    def admin(self, path: str, **kw: Any) -> requests.Response:
        return self.http.post(self.url + path, headers={"Authorization": f"Bearer {ADMIN}"}, timeout=30, **kw)

    def enroll(self, name: str = "health-1", kind: str = "gateway") -> tuple[str, str]:
        """A new device: (device_id, api_key)."""
        token = self.admin("/api/v1/admin/enrollment-tokens").json()["token"]
        resp = self.http.post(
            self.url + "/api/v1/devices/enroll", json={"token": token, "name": name, "kind": kind}, timeout=30
        )
        assert resp.status_code == 201, resp.text
        body = resp.json()
        return body["device_id"], body["api_key"]

    def history(self, device_id: str) -> list[dict[str, Any]]:
        """Stored heartbeats of the device, oldest first (read from the fleet file)."""
        fleet = FleetStore(fleet_path_for(self.db))
        try:
            return list(reversed(fleet.history(device_id, limit=10_000)))
        finally:
            fleet.close()

    def inconsistencies(self, device_id: str) -> list[dict[str, Any]]:
        fleet = FleetStore(fleet_path_for(self.db))
        try:
            return fleet.inconsistencies(device_id, limit=10_000)
        finally:
            fleet.close()


@contextmanager
def serve_central(db: Path, port: int = 0) -> Iterator[LiveCentral]:
    """The real central app over ``db`` on loopback (``port`` 0: any)."""
    base = CentralServiceSection()
    if isinstance(base, msgspec.Struct):
        settings = msgspec.structs.replace(base, admin_token=ADMIN, db_path=str(db))
    else:
        settings = replace(base, admin_token=ADMIN, db_path=str(db))
    app = create_app(settings, now=lambda: datetime.now(VN_TZ))
    with run_server(app, port=port) as url, requests.Session() as http:
        yield LiveCentral(url, db, http)


def client(url: str, api_key: str) -> CentralClient:
    """The device's real client, with short timeouts and no retries."""
    return CentralClient(url, api_key=api_key, connect_timeout=2.0, read_timeout=10.0, retries=0)
