"""Fixtures: the reference central service on loopback (real uvicorn, real SQLite), restartable on the
same port; a temporary device root; the modem emulator."""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import requests

from appliance.config import CentralServiceSection
from central.app import create_app
from central.testing import run_server
from dossier.model import VN_TZ

ADMIN = "provisioning-admin-token"


class Clock:
    """A settable clock for central (token expiry)."""

    def __init__(self) -> None:
        self.now = datetime.now(VN_TZ).replace(microsecond=0)

    def __call__(self) -> datetime:
        return self.now


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Central:
    """The reference central service, stoppable and restartable on the same address."""

    db: Path
    port: int = field(default_factory=_free_port)
    clock: Clock = field(default_factory=Clock)
    _stack: ExitStack | None = None

    @property
    def url(self) -> str:
        """Its base URL."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Serve (again) on the same port."""
        settings = CentralServiceSection(admin_token=ADMIN, db_path=str(self.db))
        self._stack = ExitStack()
        self._stack.enter_context(run_server(create_app(settings, now=self.clock), port=self.port))

    def stop(self) -> None:
        """Stop serving (connections are then refused)."""
        if self._stack is not None:
            self._stack.close()
            self._stack = None

    def token(self, hours: float | None = None) -> str:
        """A new single-use enrolment token from the admin API."""
        body: dict[str, Any] = {"valid_hours": hours} if hours else {}
        resp = requests.post(
            self.url + "/api/v1/admin/enrollment-tokens",
            json=body,
            headers={"Authorization": f"Bearer {ADMIN}"},
            timeout=30,
        )
        assert resp.status_code == 201, resp.text
        return str(resp.json()["token"])


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """``main()`` points the root logger at this test's stderr; put it back so later tests' threads do
    not write to a closed capture."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture
def central(tmp_path: Path) -> Iterator[Central]:
    c = Central(tmp_path / "central.db")
    c.start()
    try:
        yield c
    finally:
        c.stop()


@pytest.fixture
def device_root(tmp_path: Path) -> Path:
    """An empty folder standing for a new device's /."""
    root = tmp_path / "device"
    root.mkdir()
    return root


@pytest.fixture
def modem() -> Iterator[Any]:
    from sms_gateway.emulator import ModemEmulator

    emulator = ModemEmulator()
    emulator.start()
    try:
        yield emulator
    finally:
        emulator.stop()


def kiosk_hardware(root: Path) -> None:
    """A display and a touch screen as the kernel shows them (/dev/dri/card0, /proc/bus/input/devices)."""
    (root / "dev" / "dri").mkdir(parents=True, exist_ok=True)
    (root / "dev" / "dri" / "card0").touch()
    proc = root / "proc" / "bus" / "input"
    proc.mkdir(parents=True, exist_ok=True)
    (proc / "devices").write_text(TOUCH_DEVICES, encoding="utf-8")


# A Raspberry Pi 7" touch display and a USB keyboard, as /proc/bus/input/devices shows them (64-bit).
TOUCH_DEVICES = """I: Bus=0000 Vendor=0000 Product=0000 Version=0000
N: Name="raspberrypi-ts"
P: Phys=
S: Sysfs=/devices/platform/soc/soc:firmware/soc:firmware:touchscreen/input/input0
U: Uniq=
H: Handlers=mouse0 event0
B: PROP=2
B: EV=b
B: KEY=400 0 0 0 0 0
B: ABS=260800000000003

I: Bus=0003 Vendor=046d Product=c31c Version=0110
N: Name="Logitech USB Keyboard"
P: Phys=usb-0000:01:00.0-1.3/input0
S: Sysfs=/devices/platform/scb/fd500000.pcie/pci0000:00/0000:00:00.0/0000:01:00.0/usb1/1-1/1-1.3/1-1.3:1.0/0003:046D:C31C.0001/input/input1
U: Uniq=
H: Handlers=sysrq kbd leds event1
B: PROP=0
B: EV=120013
B: KEY=1000000000007 ff9f207ac14057ff febeffdfffefffff fffffffffffffffe
B: MSC=10
B: LED=7
"""
