"""Exclusive reading of a USB keyboard-wedge scanner through Linux evdev, so scans never reach the UI.

``evdev.InputDevice.grab()`` keeps the scanner's keys away from every other program, but delivers key
codes, not characters: ``KeyTranslator`` maps them with a US layout, Shift and Caps Lock. The optional
package ``evdev`` (``pip install 'motcua-edge[evdev]'``) is imported lazily, only here; without it the
feature says so with ``FeatureUnavailable``.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import select
import threading
import time
from typing import Any

from barcode.errors import FeatureUnavailable, ScannerUnavailable
from barcode.events import CodeExtractor, ScanEvent
from barcode.settings import BarcodeSection
from barcode.wedge import ENTER, TAB, WedgeDetector, WedgeScan

log = logging.getLogger(__name__)

EV_KEY = 1
KEY_LEFTSHIFT, KEY_RIGHTSHIFT, KEY_CAPSLOCK = 42, 54, 58
# (first key code, characters, with Shift) for runs of consecutive key codes on a US layout
_RUNS = (
    (2, "1234567890-=", "!@#$%^&*()_+"),
    (16, "qwertyuiop[]", "QWERTYUIOP{}"),
    (30, "asdfghjkl;'`", 'ASDFGHJKL:"~'),
    (43, "\\zxcvbnm,./", "|ZXCVBNM<>?"),
    (71, "789-456+1230.", "789-456+1230."),  # keypad (scanners set to "keypad emulation" type digits here)
    (55, "*", "*"),
    (57, " ", " "),
    (98, "/", "/"),
)
KEYMAP: dict[int, tuple[str, str]] = {
    first + i: (normal[i], shifted[i]) for first, normal, shifted in _RUNS for i in range(len(normal))
}
KEYMAP.update({28: (ENTER, ENTER), 96: (ENTER, ENTER), 15: (TAB, TAB)})  # Enter, keypad Enter, Tab


class KeyTranslator:
    """Key codes and up/down values → characters, tracking Shift and Caps Lock (US layout)."""

    def __init__(self) -> None:
        self._shift: set[int] = set()
        self._caps = False

    def feed(self, code: int, value: int) -> str | None:
        """The character a key press produces; None for releases, repeats, modifiers and unknown keys."""
        if code in (KEY_LEFTSHIFT, KEY_RIGHTSHIFT):
            if value == 1:
                self._shift.add(code)
            elif value == 0:
                self._shift.discard(code)
            return None
        if code == KEY_CAPSLOCK:
            if value == 1:
                self._caps = not self._caps
            return None
        if value != 1 or code not in KEYMAP:
            return None
        normal, shifted = KEYMAP[code]
        upper = bool(self._shift)
        if self._caps and normal.isalpha():
            upper = not upper
        return shifted if upper else normal


def _import_evdev() -> Any:
    try:
        import evdev
    except ImportError:
        raise FeatureUnavailable(
            "exclusive scanner reading needs the Python package evdev, which is not installed",
            hint="pip install 'motcua-edge[evdev]' or leave barcode.wedge_evdev_device empty",
        ) from None
    return evdev


class EvdevScanner:
    """Reads one grabbed input device on its own thread; bursts become ``ScanEvent``s on ``events``."""

    def __init__(
        self,
        device_path: str,
        events: queue.Queue[ScanEvent],
        *,
        settings: BarcodeSection | None = None,
        extractor: CodeExtractor | None = None,
    ) -> None:
        self._evdev = _import_evdev()
        self._path = device_path
        self._events = events
        self._s = settings or BarcodeSection()
        self._extractor = extractor or CodeExtractor()
        self._detector = WedgeDetector.from_settings(self._s)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.state = "stopped"

    def start(self) -> None:
        """Start the owner thread."""
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="evdev-scanner", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 3.0) -> bool:
        """Stop and join; False if the thread did not end in time."""
        self._stop.set()
        if self._thread is None:
            return True
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _open(self) -> Any:
        try:
            device = self._evdev.InputDevice(self._path)
            device.grab()
        except OSError as err:
            raise ScannerUnavailable(f"keyboard scanner {self._path}: {err.strerror or err}") from None
        return device

    def _run(self) -> None:
        backoff = 0.5
        while not self._stop.is_set():
            try:
                device = self._open()
            except ScannerUnavailable as err:
                if self.state != "unavailable":
                    log.warning("%s; retrying with backoff", err)
                self.state = "unavailable"
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 30.0)
                continue
            if self.state == "unavailable":
                log.info("keyboard scanner %s available again", self._path)
            self.state, backoff = "running", 0.5
            try:
                self._read(device)
            except OSError as err:  # ENODEV when unplugged
                log.warning("keyboard scanner %s vanished (%s)", self._path, err.strerror or err)
                self.state = "unavailable"
            finally:
                with contextlib.suppress(OSError):
                    device.ungrab()
                device.close()
        self.state = "stopped"

    def _read(self, device: Any) -> None:
        translator = KeyTranslator()
        # event timestamps are wall-clock; the detector runs on the monotonic clock
        offset = time.time() - time.monotonic()
        while not self._stop.is_set():
            deadline = self._detector.deadline()
            wait = 0.2 if deadline is None else max(0.0, min(0.2, deadline - time.monotonic()))
            ready, _, _ = select.select([device.fd], [], [], wait)
            outputs = self._detector.poll(time.monotonic())
            if ready:
                for event in device.read():
                    if event.type != EV_KEY:
                        continue
                    char = translator.feed(event.code, event.value)
                    if char is not None:
                        outputs += self._detector.feed(char, event.timestamp() - offset)
            for output in outputs:
                if isinstance(output, WedgeScan):
                    self._emit(output)
                else:
                    log.debug("ignored %d slow keys from the grabbed scanner", len(output.keys))

    def _emit(self, scan: WedgeScan) -> None:
        event = self._extractor.event(scan.text, source="keyboard", symbology=scan.symbology)
        try:
            self._events.put_nowait(event)
        except queue.Full:
            log.warning("scan event queue full; dropped a keyboard scan")
