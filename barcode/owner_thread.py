"""A scanner device owned by one thread: start/stop, and a state logged once each way."""

from __future__ import annotations

import abc
import logging
import threading


class OwnedDevice(abc.ABC):
    """Lifecycle shared by the camera and serial scanners; subclasses implement ``_run``."""

    def __init__(self, label: str, thread_name: str) -> None:
        self._label = label
        self._thread_name = thread_name
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._state = "stopped"
        self._log = logging.getLogger(type(self).__module__)  # records name the device's own module

    @property
    def state(self) -> str:
        """stopped | starting | running | unavailable."""
        return self._state

    def start(self) -> None:
        """Start the owner thread (idempotent)."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._state = "starting"
        self._thread = threading.Thread(target=self._run, name=self._thread_name, daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> bool:
        """Stop and join the thread; False when it did not end within ``timeout`` (stuck in a driver)."""
        self._stop.set()
        thread = self._thread
        if thread is None:
            return True
        thread.join(timeout)
        if thread.is_alive():
            self._log.warning(
                "%s thread did not stop within %.1f s (blocked in the driver?)", self._label, timeout
            )
            return False
        self._thread = None
        return True

    def _set_state(self, state: str, detail: str = "") -> None:
        """Change state; unavailable is logged once (WARNING) and recovery once (INFO)."""
        if state == self._state:
            return
        previous, self._state = self._state, state
        if state == "unavailable":
            self._log.warning("%s unavailable: %s; retrying with backoff", self._label, detail)
        elif state == "running" and previous == "unavailable":
            self._log.info("%s available again", self._label)
        elif state == "running":
            self._log.info("%s running", self._label)

    @abc.abstractmethod
    def _run(self) -> None:
        """The owner thread's loop; returns when ``self._stop`` is set."""
