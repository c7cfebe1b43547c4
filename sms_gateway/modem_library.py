"""python-gsmmodem-new (``gsmmodem``), repaired by subclassing: the only module that subclasses it.

- its reader thread dies on a non-UTF-8 byte → our reader decodes with ``errors="replace"`` and reports
  any death to the owner thread;
- unsolicited lines (``+CMTI``, ``+CDSI``, ``+CDS`` + PDU, ``+CMT`` + PDU, boot lines) arriving inside a
  command's reply were taken as part of the reply → they go to the owner thread instead;
- it forces RTS/CTS and DSR/DTR → flow control is configurable;
- a process killed inside ``AT+CMGS`` leaves the modem at its ``> `` prompt → every connect first writes
  ESC (cancels the send) and drains stale bytes;
- it logs raw serial traffic (numbers, bodies, PDUs) at DEBUG → its loggers stay at WARNING, scrubbed.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable

import serial
from gsmmodem.modem import GsmModem
from gsmmodem.serial_comms import SerialComms

from sms_gateway.modem_protocol import URC_PREFIXES, URC_WITH_PDU, cancel_pending_input
from sms_gateway.redact import quiet_library_logs

LIBRARY_LOG = logging.getLogger("sms_gateway.modem.library")

CTRLZ = "\x1a"
ESC = b"\x1b"
# CNMI: new SMS stored + "+CMTI"; status reports stored + "+CDSI" (ds=2): none is lost while we are down
AT_CNMI = "2,1,0,2,0"
AT_CNMI_FALLBACK = "2,1,0,1,0"  # a modem that cannot store reports routes them as +CDS


class _SafeSerialComms(SerialComms):
    """The library's serial layer with configurable flow control, a reader that survives any byte,
    and unsolicited lines kept out of command replies."""

    log = LIBRARY_LOG
    _rtscts = False
    _urc_sink: Callable[[list[str]], None] = staticmethod(lambda lines: None)
    _urc_first: str | None = None

    def connect(self) -> None:
        """Open the port (our flow control; the library forces RTS/CTS), cancel a half-sent PDU, read."""
        self.serial = serial.Serial(
            port=self.port, baudrate=self.baudrate, timeout=self.timeout, rtscts=self._rtscts, write_timeout=5
        )
        try:
            cancel_pending_input(self.serial, ESC)
        except Exception:
            with contextlib.suppress(Exception):
                self.serial.close()
            raise
        self.alive = True
        self.rxThread = threading.Thread(target=self._readLoop, name=f"modem-reader {self.port}", daemon=True)
        self.rxThread.start()

    def close(self) -> None:
        """Stop the reader (a bounded join: never hang on a wedged port) and close the port."""
        self.alive = False
        rx = getattr(self, "rxThread", None)
        if rx is not None and rx is not threading.current_thread():
            rx.join(timeout=3)
        with contextlib.suppress(Exception):
            self.serial.close()

    def _readLoop(self) -> None:
        try:
            buf = bytearray()
            while self.alive:
                data = self.serial.read(self.serial.in_waiting or 1)
                for byte in data:
                    buf.append(byte)
                    if buf.endswith(b"\r\n"):
                        line = bytes(buf[:-2]).decode("utf-8", errors="replace")
                        buf.clear()
                        if line:
                            self._handleLineRead(line)
                    elif self._expectResponseTermSeq and buf.endswith(self._expectResponseTermSeq):
                        line = bytes(buf).decode("utf-8", errors="replace")
                        buf.clear()
                        self._handleLineRead(line, checkForResponseTerm=False)
        except Exception as err:  # any death is reported, never silent
            self.alive = False
            with contextlib.suppress(Exception):
                self.serial.close()
            self.fatalErrorCallback(err)

    def _handleLineRead(self, line: str, checkForResponseTerm: bool = True) -> None:
        if self._urc_first is not None:  # the PDU line that follows +CDS: / +CMT:
            first, self._urc_first = self._urc_first, None
            self._urc_sink([first, line])
            return
        if checkForResponseTerm and line.startswith(URC_PREFIXES):
            if line.startswith(URC_WITH_PDU):
                self._urc_first = line
            else:
                self._urc_sink([line])
            return
        if self._responseEvent and not self._responseEvent.is_set():
            super()._handleLineRead(line, checkForResponseTerm)
        else:
            self._urc_sink([line])


class LibraryModem(GsmModem, _SafeSerialComms):
    """``GsmModem`` over the repaired serial layer; notifications go to our sink, never to new threads."""

    log = LIBRARY_LOG

    def __init__(self, port: str, baudrate: int, *, rtscts: bool, urc_sink: Callable[[list[str]], None],
                 fatal_sink: Callable[[Exception], None]) -> None:  # fmt: skip
        quiet_library_logs()
        self._rtscts = rtscts
        self._urc_sink = urc_sink
        super().__init__(
            port, baudrate, requestDelivery=False, AT_CNMI=AT_CNMI, fatalErrorCallbackFunc=fatal_sink
        )

    def _handleModemNotification(self, lines: list[str]) -> None:
        self._urc_sink(lines)
