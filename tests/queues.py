"""Helpers shared by the tests of threaded parts (scanners, modems, sync): draining queues, and
waiting on a condition with a bound."""

from __future__ import annotations

import queue
import time
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


def drain(events: queue.Queue[T]) -> list[T]:
    """Everything queued so far, without waiting."""
    out = []
    while True:
        try:
            out.append(events.get_nowait())
        except queue.Empty:
            return out


def wait_until(predicate: Callable[[], Any], timeout: float = 30.0, what: str = "condition") -> Any:
    """Poll ``predicate`` until it returns something truthy (returned); fail the test after ``timeout``.

    A bound, not a delay: it returns as soon as the condition holds.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what} ({timeout:.0f} s)")
        time.sleep(0.02)
