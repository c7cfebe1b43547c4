"""The serial scanner through a real pseudo-terminal, including unplug and replug."""

from __future__ import annotations

import logging
import os
import queue
import time
import tty
from collections.abc import Iterator
from pathlib import Path

import pytest

from barcode.events import ScanEvent
from barcode.serial_scanner import SerialScanner
from barcode.settings import BarcodeSection
from tests.queues import wait_until as wait_for

CODE = "000.00.15.H56-240315-0001"


class Pty:
    """A pseudo-terminal whose slave is reachable through a stable symlink, like /dev/serial/by-id."""

    def __init__(self, link: Path) -> None:
        self.link = link
        self.master = -1
        self.slave = -1
        self.plug()

    def plug(self) -> None:
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)
        self.link.unlink(missing_ok=True)
        self.link.symlink_to(os.ttyname(self.slave))

    def unplug(self) -> None:
        self.link.unlink(missing_ok=True)
        for fd in (self.master, self.slave):
            if fd >= 0:
                os.close(fd)
        self.master = self.slave = -1

    def write(self, data: bytes) -> None:
        os.write(self.master, data)


@pytest.fixture
def pty(tmp_path: Path) -> Iterator[Pty]:
    p = Pty(tmp_path / "scanner")
    yield p
    p.unplug()


@pytest.fixture
def events() -> queue.Queue[ScanEvent]:
    return queue.Queue()


def start(port: str, events: queue.Queue[ScanEvent], **kwargs: object) -> SerialScanner:
    scanner = SerialScanner(port, events, **kwargs)  # type: ignore[arg-type]
    scanner.start()
    wait_for(lambda: scanner.state == "running")
    return scanner


def test_lines_become_events(pty: Pty, events: queue.Queue[ScanEvent]) -> None:
    scanner = start(str(pty.link), events, idle_flush_ms=0)
    try:
        pty.write(f"https://dvc.x.vn/tra-cuu/{CODE}\r".encode())
        pty.write(b"https://zalo.me/g/1\r\x81\xfe\xff\r")  # two lines in one write; the second is not text
        pty.write(f"]C0{CODE[:10]}".encode())
        pty.write(f"{CODE[10:]}\r".encode())  # a line split over two writes
        got = [events.get(timeout=5) for _ in range(4)]
    finally:
        assert scanner.stop()
    assert got[0].code is not None and got[0].code.value == CODE and got[0].source == "serial"
    assert got[1].code is None and got[1].reason.startswith("not a dossier code")
    assert got[2].code is None and "binary" in got[2].reason
    assert got[3].code is not None and got[3].symbology == "code128"
    assert scanner.state == "stopped"


def test_crlf_terminator_and_idle_flush(pty: Pty, events: queue.Queue[ScanEvent]) -> None:
    scanner = start(str(pty.link), events, terminator="\r\n", idle_flush_ms=150)
    try:
        pty.write(f"{CODE}\r\n".encode())
        first = events.get(timeout=5)
        pty.write(CODE.replace("0001", "0002").encode())  # no terminator: flushed after silence
        second = events.get(timeout=5)
    finally:
        scanner.stop()
    assert first.text == CODE
    assert second.code is not None and second.code.value.endswith("0002")


def test_unplug_and_replug(
    pty: Pty, events: queue.Queue[ScanEvent], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="barcode.serial_scanner")
    scanner = start(str(pty.link), events, idle_flush_ms=0, retry_max_s=0.2)
    try:
        pty.write(f"{CODE}\r".encode())
        assert events.get(timeout=5).ok
        pty.unplug()
        wait_for(lambda: scanner.state == "unavailable")
        time.sleep(0.8)  # several reopen attempts fail meanwhile
        pty.plug()
        wait_for(lambda: scanner.state == "running")
        pty.write(f"{CODE}\r".encode())
        assert events.get(timeout=5).ok
    finally:
        assert scanner.stop()
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    back = [r for r in caplog.records if "available again" in r.getMessage()]
    assert len(warnings) == 1 and len(back) == 1  # logged once each way, not per retry
    assert scanner.opened == 2


def test_missing_port_is_unavailable_not_an_exception(tmp_path: Path, events: queue.Queue[ScanEvent]) -> None:
    scanner = SerialScanner(str(tmp_path / "nothing"), events, retry_max_s=0.1)
    scanner.start()
    try:
        wait_for(lambda: scanner.state == "unavailable")
    finally:
        assert scanner.stop()


def test_from_settings(tmp_path: Path, events: queue.Queue[ScanEvent]) -> None:
    s = BarcodeSection(serial_port=str(tmp_path / "p"), serial_baud=115200, serial_terminator="\n")
    scanner = SerialScanner.from_settings(s, events)
    assert scanner.port == str(tmp_path / "p")
