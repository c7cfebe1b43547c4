"""Serial barcode scanner: pyserial reader on its own thread, lines → ``ScanEvent``s, reconnect on unplug.

Port, baud rate and terminator come from ``[barcode]``; data followed by silence (``serial_idle_flush_ms``)
also counts as one scan, for scanners configured without a terminator. pyserial is imported here only
(for this package), and its exceptions are translated here.
"""

from __future__ import annotations

import logging
import queue
import time
from collections.abc import Callable

import serial

from barcode.errors import ScannerUnavailable
from barcode.events import CodeExtractor, ScanEvent
from barcode.owner_thread import OwnedDevice
from barcode.settings import BarcodeSection

log = logging.getLogger(__name__)

MAX_LINE_BYTES = 8192
READ_TIMEOUT_S = 0.1
STABLE_AFTER_S = 5.0  # a port that fails sooner after opening keeps its growing backoff


class SerialScanner(OwnedDevice):
    """Owns one serial port; each terminated line (or burst followed by silence) becomes an event."""

    def __init__(
        self,
        port: str,
        events: queue.Queue[ScanEvent],
        *,
        baud: int = 9600,
        terminator: str = "\r",
        idle_flush_ms: float = 300.0,
        retry_max_s: float = 30.0,
        extractor: CodeExtractor | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.port = port
        self._events = events
        self._baud = baud
        self._terminator = terminator.encode("ascii")
        self._idle = idle_flush_ms / 1000
        self._retry_max = retry_max_s
        self._extractor = extractor or CodeExtractor()
        self._clock = clock
        super().__init__(f"serial scanner {port}", "serial-scanner")
        self.opened = 0

    @classmethod
    def from_settings(
        cls, s: BarcodeSection, events: queue.Queue[ScanEvent], extractor: CodeExtractor | None = None
    ) -> SerialScanner:
        """A scanner configured by the ``[barcode]`` section."""
        return cls(
            s.serial_port,
            events,
            baud=s.serial_baud,
            terminator=s.serial_terminator,
            idle_flush_ms=s.serial_idle_flush_ms,
            retry_max_s=s.serial_retry_max_s,
            extractor=extractor,
        )

    def _open(self) -> serial.Serial:
        try:
            port = serial.Serial(self.port, self._baud, timeout=READ_TIMEOUT_S, write_timeout=1.0)
        except (serial.SerialException, OSError, ValueError) as err:
            raise ScannerUnavailable(f"serial scanner {self.port} cannot be opened ({err})") from None
        self.opened += 1
        return port

    def _read(self, port: serial.Serial) -> bytes:
        try:
            return bytes(port.read(max(1, port.in_waiting)))
        except (serial.SerialException, OSError, TypeError) as err:  # TypeError: pyserial on a vanished fd
            raise ScannerUnavailable(f"serial scanner {self.port} vanished ({err})") from None

    def _run(self) -> None:
        backoff = 0.5
        try:
            while not self._stop.is_set():
                try:
                    port = self._open()
                except ScannerUnavailable as err:
                    self._set_state("unavailable", str(err))
                    self._stop.wait(backoff)
                    backoff = min(backoff * 2, max(self._retry_max, 0.1))
                    continue
                self._set_state("running")
                opened_at = self._clock()
                try:
                    self._pump(port)
                except ScannerUnavailable as err:
                    self._set_state("unavailable", str(err))
                    if self._clock() - opened_at > STABLE_AFTER_S:  # it worked for a while: retry soon
                        backoff = 0.5
                    self._stop.wait(backoff)
                    backoff = min(backoff * 2, max(self._retry_max, 0.1))
                finally:
                    port.close()
        finally:
            self._state = "stopped"

    def _pump(self, port: serial.Serial) -> None:
        buffer = bytearray()
        last_data = self._clock()
        while not self._stop.is_set():
            data = self._read(port)
            now = self._clock()
            if data:
                buffer += data
                last_data = now
                while self._terminator in buffer:
                    line, _, rest = bytes(buffer).partition(self._terminator)
                    buffer = bytearray(rest)
                    self._emit(line)
                if len(buffer) > MAX_LINE_BYTES:
                    self._emit(bytes(buffer))
                    buffer.clear()
            elif buffer and self._idle > 0 and now - last_data >= self._idle:
                self._emit(bytes(buffer))
                buffer.clear()

    def _emit(self, line: bytes) -> None:
        line = line.strip(b"\r\n")
        if not line:
            return
        log.debug("serial scanner %s: %d bytes", self.port, len(line))
        event = self._extractor.event(line, source="serial")
        try:
            self._events.put_nowait(event)
        except queue.Full:
            log.warning("scan event queue full; dropped a serial scan")
