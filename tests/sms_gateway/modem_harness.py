"""Helpers for tests that drive a modem (the real library or our adapter) against the emulator."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sms_gateway.emulator import ModemEmulator
from sms_gateway.modem import Modem
from sms_gateway.modem_types import ModemEvent, Received

TIMEOUT = 15.0  # generous: the machine is shared and loaded


class Inbox:
    """A ``store_incoming`` that records what it was given (optionally failing or checking first)."""

    def __init__(self) -> None:
        self.parts: list[Received] = []
        self.calls = 0
        self.fail = False
        self.check: Callable[[list[Received]], None] | None = None
        self._lock = threading.Lock()

    def __call__(self, parts: list[Received]) -> None:
        self.calls += 1
        if self.check is not None:
            self.check(parts)
        if self.fail:
            raise OSError("disk full (test)")
        with self._lock:
            self.parts.extend(parts)

    def texts(self) -> list[str]:
        with self._lock:
            return [p.text for p in self.parts]


@contextmanager
def emulator(**kw: Any) -> Iterator[ModemEmulator]:
    """A started emulator, stopped afterwards."""
    emu = ModemEmulator(**kw)
    emu.start()
    try:
        yield emu
    finally:
        emu.stop()


@contextmanager
def adapter(emu: ModemEmulator, inbox: Inbox, events: queue.Queue[ModemEvent] | None = None,
            **kw: Any) -> Iterator[Modem]:  # fmt: skip
    """Our ``Modem`` on the emulator's port, connected, stopped afterwards."""
    kw.setdefault("reconnect_initial_backoff", 0.1)
    kw.setdefault("reconnect_max_backoff", 1.0)
    kw.setdefault("command_timeout", 5.0)
    modem = Modem(emu.port, store_incoming=inbox, on_event=events, **kw)
    modem.start()
    try:
        assert modem.wait_connected(TIMEOUT), modem.status().last_error
        yield modem
    finally:
        modem.stop()
