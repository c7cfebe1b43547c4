"""`motcua sms run` under systemd: READY once serving, WATCHDOG only while the loop is healthy."""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from appliance.commands.sms import serve_with_watchdog


@pytest.fixture
def notify_socket(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[socket.socket]:
    path = tmp_path / "notify"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(10)  # a bound on every wait below
    monkeypatch.setenv("NOTIFY_SOCKET", str(path))
    monkeypatch.setenv("WATCHDOG_USEC", "20000")  # feed every 10 ms
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))
    yield sock
    sock.close()


def test_ready_then_the_watchdog_is_fed_only_while_healthy(notify_socket: socket.socket) -> None:
    stop = threading.Event()
    healthy = threading.Event()
    healthy.set()
    checks = threading.Semaphore(0)

    def is_healthy() -> bool:
        checks.release()
        return healthy.is_set()

    thread = threading.Thread(target=serve_with_watchdog, args=(is_healthy, stop), daemon=True)
    thread.start()
    try:
        assert notify_socket.recv(64) == b"READY=1"
        assert notify_socket.recv(64) == b"WATCHDOG=1"
        healthy.clear()
        while checks.acquire(blocking=False):  # forget the checks made before
            pass
        # A check that starts now sees the gateway unhealthy; once it has started, the loop's previous
        # pass (and any feeding it did) is over, since the loop is sequential.
        assert checks.acquire(timeout=10)
        notify_socket.settimeout(0)
        while True:  # drain what was fed before it turned unhealthy
            try:
                notify_socket.recv(64)
            except BlockingIOError:
                break
        for _ in range(5):
            assert checks.acquire(timeout=10)
        with pytest.raises(BlockingIOError):
            notify_socket.recv(64)  # nothing fed while unhealthy
        healthy.set()
        notify_socket.settimeout(10)
        assert notify_socket.recv(64) == b"WATCHDOG=1"
    finally:
        stop.set()
        thread.join(10)
    assert not thread.is_alive()
