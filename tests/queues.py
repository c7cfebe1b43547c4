"""Queue helpers shared by the tests of threaded parts (scanners, modems)."""

from __future__ import annotations

import queue
from typing import TypeVar

T = TypeVar("T")


def drain(events: queue.Queue[T]) -> list[T]:
    """Everything queued so far, without waiting."""
    out = []
    while True:
        try:
            out.append(events.get_nowait())
        except queue.Empty:
            return out
