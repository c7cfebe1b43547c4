"""The GSM modem adapter: the one module that imports python-gsmmodem-new (``gsmmodem``) and pyserial.

The library is used for what it does well (opening the port, the init sequence, writing a command and
collecting its reply); everything that loses messages in it is replaced:

- its reader thread dies on a non-UTF-8 byte → our reader decodes with ``errors="replace"`` and reports
  any death to the watchdog;
- unsolicited lines (``+CMTI``, ``+CDSI``, ``+CDS`` + PDU, ``+CMT``) arriving inside a command's reply were
  taken as part of the reply → our line handler routes them to the owner thread instead;
- two ``+CMTI`` in one notification, or one lost → ``+CMTI`` is only a hint: we sweep ``AT+CMGL=4``,
  on every hint and periodically;
- ``processStoredSms`` deletes before the callback and its decoder drops/garbles PDUs → we read raw PDUs,
  decode them with our ``pdu`` module, hand them to ``store_incoming`` and delete only after it returned;
- delivery reports are stored by the modem (``AT+CNMI=…,2,…``: ``+CDSI``), so one that comes while the
  gateway is down waits on the SIM; the sweep hands them to ``store_reports`` and deletes them after;
- no reconnect after unplug → a watchdog reopens the port with exponential backoff;
- a process killed inside ``AT+CMGS`` leaves the modem waiting for the PDU at its ``> `` prompt → every
  (re)connect first writes ESC (cancels the send: nothing goes out) and drains the port, so the
  library's init never meets a modem in data mode or stale replies.

One owner thread per modem does all the talking; ``send`` and ``status`` are safe from any thread.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import serial
from gsmmodem.exceptions import (
    CmeError,
    CmsError,
    CommandError,
    GsmModemException,
    IncorrectPinError,
    PinRequiredError,
    TimeoutException,
)
from gsmmodem.modem import GsmModem
from gsmmodem.serial_comms import SerialComms

from dossier.errors import HardwareUnavailable, TemporaryError
from sms_gateway import pdu
from sms_gateway.modem_protocol import (
    PERMANENT_CMS,
    STATUS_QUERIES,
    URC_PREFIXES,
    URC_WITH_PDU,
    cancel_pending_input,
    describe_error,
    is_status_report,
    parse_cmgl,
    parse_cmgs,
    received_from_pdu,
    report_from_pdu,
    status_changes,
)
from sms_gateway.modem_types import (
    DeliveryReport,
    MessageRejected,
    ModemDown,
    ModemEvent,
    ModemStatus,
    ModemUp,
    Received,
    SendFailed,
    SendResult,
    SendTimeout,
    SimLocked,
    mask_number,
)
from sms_gateway.settings import ModemSection

log = logging.getLogger(__name__)
_LIBRARY_LOG = logging.getLogger(__name__ + ".library")

CTRLZ = "\x1a"
ESC = b"\x1b"
# CNMI: new SMS stored + "+CMTI"; status reports stored + "+CDSI" (ds=2): none is lost while we are down
AT_CNMI = "2,1,0,2,0"


# ------------------------------------------------------------------ the library, repaired by subclassing


class _SafeSerialComms(SerialComms):
    """The library's serial layer with configurable flow control, a reader that survives any byte,
    and unsolicited lines kept out of command replies."""

    log = _LIBRARY_LOG
    _rtscts = False
    _urc_sink: Callable[[list[str]], None] = staticmethod(lambda lines: None)
    _urc_first: str | None = None

    def connect(self) -> None:  # replaces SerialComms.connect (which forces rtscts=True, dsrdtr=True)
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

    def close(self) -> None:  # bounded join: never hang on a wedged port
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


class _LibraryModem(GsmModem, _SafeSerialComms):
    """``GsmModem`` over the repaired serial layer; notifications go to our sink, never to new threads."""

    log = _LIBRARY_LOG

    def __init__(self, port: str, baudrate: int, *, rtscts: bool, urc_sink: Callable[[list[str]], None],
                 fatal_sink: Callable[[Exception], None]) -> None:  # fmt: skip
        self._rtscts = rtscts
        self._urc_sink = urc_sink
        super().__init__(
            port, baudrate, requestDelivery=False, AT_CNMI=AT_CNMI, fatalErrorCallbackFunc=fatal_sink
        )

    def _handleModemNotification(self, lines: list[str]) -> None:
        self._urc_sink(lines)


# ------------------------------------------------------------------ the adapter


class _Lost(Exception):
    """The modem must be closed and reopened."""


@dataclass
class _Request:
    kind: str  # send | sweep | urc | fatal
    payload: Any = None
    done: threading.Event | None = None
    result: Any = None
    error: BaseException | None = None


class Modem:
    """One GSM modem, driven by its own owner thread; see the module docstring for the guarantees."""

    def __init__(
        self,
        port: str,
        *,
        store_incoming: Callable[[list[Received]], None],
        on_event: Callable[[ModemEvent], None] | queue.Queue[ModemEvent] | None = None,
        store_reports: Callable[[list[DeliveryReport]], None] | None = None,
        baud: int = 115200,
        pin: str = "",
        smsc: str = "",
        rtscts: bool = False,
        sweep_interval: float = 30.0,
        command_timeout: float = 10.0,
        send_timeout: float = 60.0,
        reconnect_max_backoff: float = 60.0,
        reconnect_initial_backoff: float = 0.5,
        max_command_failures: int = 3,
        status_interval: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], datetime] = lambda: datetime.now().astimezone(),
    ) -> None:
        self.port = port
        self._store_incoming = store_incoming
        self._store_reports = store_reports  # None: reports go to on_event (and are deleted at once)
        self._on_event = on_event
        self._baud, self._pin, self._smsc, self._rtscts = baud, pin, smsc, rtscts
        self._sweep_interval, self._command_timeout, self._send_timeout = (
            sweep_interval,
            command_timeout,
            send_timeout,
        )
        self._max_backoff, self._initial_backoff = reconnect_max_backoff, reconnect_initial_backoff
        self._max_failures, self._status_interval = max_command_failures, status_interval
        self._clock, self._wall = clock, wall_clock
        self._requests: queue.Queue[_Request] = queue.Queue()
        self._gsm: _LibraryModem | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._connected = threading.Event()
        self._status_lock = threading.Lock()
        self._status = ModemStatus(port=port, connected=False)
        self._failures = 0
        self._concat_ref = int(clock() * 1000) % 256
        self._sweep_wanted = True
        self._next_sweep = 0.0
        self._next_status = 0.0
        self._pin_refused = False
        self._warned_report_storage = False
        self._report_check_wanted = False
        self._was_up = False

    @classmethod
    def from_settings(
        cls,
        section: ModemSection,
        *,
        store_incoming: Callable[[list[Received]], None],
        on_event: Callable[[ModemEvent], None] | queue.Queue[ModemEvent] | None = None,
        store_reports: Callable[[list[DeliveryReport]], None] | None = None,
    ) -> Modem:
        """A modem configured by one ``[[sms.modems]]`` section."""
        return cls(
            section.port,
            store_incoming=store_incoming,
            on_event=on_event,
            store_reports=store_reports,
            baud=section.baud,
            pin=section.pin,
            smsc=section.smsc,
            rtscts=section.rtscts,
            sweep_interval=section.sweep_interval,
            command_timeout=section.command_timeout,
            send_timeout=section.send_timeout,
            reconnect_max_backoff=section.reconnect_max_backoff,
            max_command_failures=section.max_command_failures,
        )

    # ------------------------------------------------------------ public API (any thread)

    def start(self) -> None:
        """Start the owner thread; it connects (and reconnects) by itself."""
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name=f"modem {self.port}", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the owner thread and close the port."""
        self._stopping.set()
        self._requests.put(_Request("wake"))
        if self._thread is not None:
            self._thread.join(timeout)

    def wait_connected(self, timeout: float) -> bool:
        """Block until the modem is up (True) or ``timeout`` passes (False)."""
        return self._connected.wait(timeout)

    @property
    def connected(self) -> bool:
        """True while the modem is open and initialised."""
        return self._connected.is_set()

    def request_sweep(self) -> None:
        """Ask for an ``AT+CMGL`` sweep of SIM storage as soon as possible."""
        self._requests.put(_Request("sweep"))

    def send(self, to: str, text: str, *, unicode: bool = False, request_report: bool = False,
             timeout: float | None = None) -> SendResult:  # fmt: skip
        """Send one SMS (split into parts as needed); raises SendFailed/SendTimeout/MessageRejected or
        HardwareUnavailable. ``unicode=True`` forces UCS-2; otherwise GSM-7 when the text fits it."""
        if not self._connected.is_set():
            raise HardwareUnavailable(f"modem {self.port} is not connected")
        try:
            parts = len(pdu.encode_submit(to, text, unicode=True if unicode else None))
        except ValueError as err:
            raise MessageRejected(f"cannot encode the message: {err}") from None
        request = _Request("send", (to, text, unicode, request_report), threading.Event())
        self._requests.put(request)
        wait = timeout if timeout is not None else self._send_timeout * parts + self._command_timeout * 2
        assert request.done is not None
        if not request.done.wait(wait):
            raise SendTimeout(f"modem {self.port} did not finish sending within {wait:.0f} s")
        if request.error is not None:
            raise request.error
        return request.result

    def status(self) -> ModemStatus:
        """The latest health snapshot (refreshed every ``status_interval`` seconds by the owner thread)."""
        with self._status_lock:
            return self._status

    # ------------------------------------------------------------ owner thread

    def _run(self) -> None:
        backoff = self._initial_backoff
        while not self._stopping.is_set():
            if self._gsm is None:
                try:
                    self._connect()
                    backoff = self._initial_backoff
                except SimLocked as err:
                    self._note_down(str(err))
                    self._idle(self._max_backoff)
                    continue
                except Exception as err:
                    self._note_down(describe_error(err))
                    self._idle(backoff)
                    backoff = min(backoff * 2, self._max_backoff)
                    continue
            try:
                self._serve_once()
            except _Lost as err:
                self._disconnect(str(err))
            except Exception as err:  # never let the owner thread die: reopen instead
                log.exception("modem %s: unexpected error", self.port)
                self._disconnect(describe_error(err))
        self._disconnect("stopped", quiet=True)

    def _idle(self, seconds: float) -> None:
        """Wait while disconnected, failing sends at once and ignoring hints."""
        deadline = self._clock() + seconds
        while not self._stopping.is_set():
            left = deadline - self._clock()
            if left <= 0:
                return
            try:
                request = self._requests.get(timeout=min(left, 0.5))
            except queue.Empty:
                continue
            if request.kind == "send":
                self._finish(request, error=HardwareUnavailable(f"modem {self.port} is not connected"))

    def _serve_once(self) -> None:
        now = self._clock()
        wait = max(0.0, min(self._next_sweep, self._next_status, now + 1.0) - now)
        try:
            request: _Request | None = self._requests.get(timeout=wait)
        except queue.Empty:
            request = None
        while request is not None:
            self._handle(request)
            try:
                request = self._requests.get_nowait()
            except queue.Empty:
                request = None
        if self._report_check_wanted:
            self._report_check_wanted = False
            self._check_report_storage()
        now = self._clock()
        if self._sweep_wanted or now >= self._next_sweep:
            self._sweep()
        if now >= self._next_status:
            self._poll_status()
        self._watchdog()

    def _handle(self, request: _Request) -> None:
        if request.kind == "send":
            try:
                self._finish(request, result=self._send(*request.payload))
            except _Lost as err:
                self._finish(
                    request, error=HardwareUnavailable(f"modem {self.port} lost while sending: {err}")
                )
                raise
            except Exception as err:
                self._finish(request, error=err)
        elif request.kind == "sweep":
            self._sweep_wanted = True
        elif request.kind == "urc":
            self._on_urc(request.payload)
        elif request.kind == "fatal":
            raise _Lost(f"reader stopped: {describe_error(request.payload)}")

    @staticmethod
    def _finish(request: _Request, *, result: Any = None, error: BaseException | None = None) -> None:
        request.result, request.error = result, error
        if request.done is not None:
            request.done.set()

    # ------------------------------------------------------------ connecting

    def _connect(self) -> None:
        if self._pin_refused:
            raise SimLocked(
                f"SIM in {self.port} refused the configured PIN; not retrying (fix sms.modems.pin)"
            )
        if not os.path.exists(self.port):
            raise HardwareUnavailable(f"{self.port} does not exist")
        _LIBRARY_LOG.setLevel(logging.DEBUG if log.isEnabledFor(logging.DEBUG) else logging.WARNING)
        gsm = _LibraryModem(
            self.port,
            self._baud,
            rtscts=self._rtscts,
            urc_sink=lambda lines: self._requests.put(_Request("urc", lines)),
            fatal_sink=lambda err: self._requests.put(_Request("fatal", err)),
        )
        if self._smsc:
            gsm.smsc = self._smsc  # not connected yet: written as AT+CSCA during connect()
        try:
            gsm.connect(pin=self._pin or None)  # type: ignore[call-arg]  # GsmModem.connect
            manufacturer, model = gsm.manufacturer, gsm.model
        except IncorrectPinError:
            self._pin_refused = True
            gsm.close()
            self._set_status(sim_state="PIN wrong")
            log.error(
                "SIM in %s refused the configured PIN; not retrying it (a SIM locks after 3 tries)", self.port
            )
            raise SimLocked(f"SIM in {self.port} refused the configured PIN") from None
        except PinRequiredError:
            gsm.close()
            self._set_status(sim_state="SIM PIN")
            raise SimLocked(f"SIM in {self.port} needs a PIN: set sms.modems.pin") from None
        except BaseException:
            gsm.close()
            raise
        self._gsm = gsm
        self._failures = 0
        self._sweep_wanted = True
        self._next_status = 0.0
        self._connected.set()
        reconnects = self._status.reconnects + (1 if self._was_up else 0)
        self._set_status(connected=True, manufacturer=manufacturer, model=model, sim_state="READY",
                         reconnects=reconnects)  # fmt: skip
        log.info("modem %s connected (%s %s)", self.port, manufacturer, model)
        self._report_check_wanted = True  # run from the serve loop, where a lost port is handled
        self._was_up = True
        self._emit(ModemUp(self.port, manufacturer, model))

    def _check_report_storage(self) -> None:
        """Warn once if the modem refused to store delivery reports (the library falls back silently)."""
        try:
            lines = self._cmd("AT+CNMI?")
        except TemporaryError:
            return
        fields = next((ln.split(":", 1)[1].split(",") for ln in lines if ln.startswith("+CNMI:")), [])
        stored = len(fields) > 3 and fields[3].strip() == "2"
        if not stored and not self._warned_report_storage:
            self._warned_report_storage = True
            log.warning(
                "modem %s does not store delivery reports (AT+CNMI ds=2 refused): a reply in flight when "
                "the gateway dies may be sent twice",
                self.port,
            )

    def _disconnect(self, reason: str, *, quiet: bool = False) -> None:
        gsm, self._gsm = self._gsm, None
        if gsm is not None:
            gsm.close()
        was_connected = self._connected.is_set()
        self._connected.clear()
        self._set_status(connected=False, last_error=reason if not quiet else self._status.last_error)
        if was_connected and not quiet:
            log.warning("modem %s lost: %s; reconnecting with backoff", self.port, reason)
            self._emit(ModemDown(self.port, reason))

    def _note_down(self, reason: str) -> None:
        if self._status.last_error != reason:
            log.debug("modem %s not available: %s", self.port, reason)
        self._set_status(connected=False, last_error=reason)

    def _watchdog(self) -> None:
        gsm = self._gsm
        if gsm is None:
            return
        if not gsm.alive or not gsm.rxThread.is_alive():
            raise _Lost("reader thread stopped")
        if not os.path.exists(self.port):
            raise _Lost(f"{self.port} vanished")

    # ------------------------------------------------------------ commands

    def _cmd(self, command: str, *, timeout: float | None = None, **kw: Any) -> list[str]:
        gsm = self._gsm
        if gsm is None:
            raise _Lost("not connected")
        try:
            lines = gsm.write(command, timeout=timeout or self._command_timeout, **kw)
        except TimeoutException:
            self._failures += 1
            self._set_status(command_timeouts=self._status.command_timeouts + 1)
            if self._failures >= self._max_failures:
                raise _Lost(f"{self._failures} commands in a row timed out") from None
            raise TemporaryError(f"modem {self.port}: no reply to {command.split('=')[0]}") from None
        except GsmModemException:
            self._failures = 0
            raise
        except Exception as err:  # the port went away under the write (closed, vanished, fd gone)
            raise _Lost(describe_error(err)) from None
        self._failures = 0
        return list(lines)

    def _send(self, to: str, text: str, unicode: bool, request_report: bool) -> SendResult:
        self._concat_ref = (self._concat_ref + 1) % 256
        pdus = pdu.encode_submit(
            to,
            text,
            unicode=True if unicode else None,
            concat_ref=self._concat_ref,
            request_report=request_report,
        )
        refs: list[int] = []
        for part in pdus:
            try:
                self._cmd(f"AT+CMGS={part.tpdu_length}", expectedResponseTermSeq="> ")
                lines = self._cmd(part.hex, timeout=self._send_timeout, writeTerm=CTRLZ)
            except CmsError as err:
                self._set_status(send_errors=self._status.send_errors + 1)
                kind = MessageRejected if err.code in PERMANENT_CMS else SendFailed
                raise kind(f"+CMS ERROR {err.code} sending part {len(refs) + 1}/{len(pdus)}", code=err.code,
                           parts_sent=len(refs)) from None  # fmt: skip
            except (CmeError, CommandError) as err:
                self._set_status(send_errors=self._status.send_errors + 1)
                raise SendFailed(
                    f"modem refused part {len(refs) + 1}/{len(pdus)}: {err}", parts_sent=len(refs)
                ) from None
            except TemporaryError as err:
                self._set_status(send_errors=self._status.send_errors + 1)
                raise SendTimeout(str(err), parts_sent=len(refs)) from None
            ref = parse_cmgs(lines)
            if ref is None:
                raise SendFailed("modem accepted a part without a +CMGS reference", parts_sent=len(refs))
            refs.append(ref)
        self._set_status(sent_parts=self._status.sent_parts + len(refs), last_send_at=self._wall())
        log.info("sent %d part(s) to %s", len(refs), mask_number(to))
        return SendResult(tuple(refs), len(refs))

    # ------------------------------------------------------------ receiving

    def _on_urc(self, lines: list[str]) -> None:
        first = lines[0]
        log.debug("unsolicited: %s", first[:40])
        if first.startswith(("+CMTI:", "+CDSI:")):
            self._sweep_wanted = True
        elif first.startswith("+CDS:") and len(lines) > 1:  # a modem that refused ds=2 routes them
            report = self._decode_report(lines[1])
            if report is not None:
                self._deliver_reports([report], delete=[])
        elif first.startswith("+CMT:") and len(lines) > 1:
            self._store([self._decode(lines[1], -1)], delete=[])

    def _decode_report(self, pdu_hex: str) -> DeliveryReport | None:
        try:
            return report_from_pdu(pdu_hex, self.port)
        except pdu.PduError as err:
            log.warning("undecodable status report from %s: %s", self.port, err)
            return None

    def _deliver_reports(self, reports: list[DeliveryReport], *, delete: list[int]) -> None:
        """Persist before delete: ``store_reports`` commits them, then they leave the SIM."""
        if self._store_reports is None:
            for report in reports:
                self._emit(report)
        else:
            try:
                self._store_reports(reports)
            except Exception as err:  # nothing is deleted: the next sweep offers them again
                self._set_status(
                    store_failures=self._status.store_failures + 1, last_error=f"store failed: {err}"
                )
                log.error("storing %d delivery report(s) failed, kept on the SIM: %s", len(reports), err)
                self._next_sweep = self._clock() + min(self._sweep_interval, 5.0)
                return
        for index in delete:
            self._delete(index)

    def _decode(self, pdu_hex: str, index: int) -> Received:
        received = received_from_pdu(pdu_hex, index, self.port)
        if received.decode_error:
            self._set_status(decode_errors=self._status.decode_errors + 1)
            log.warning(
                "undecodable PDU at %s index %d kept raw: %s", self.port, index, received.decode_error
            )
        return received

    def _sweep(self) -> None:
        self._sweep_wanted = False
        self._next_sweep = self._clock() + self._sweep_interval
        try:
            lines = self._cmd("AT+CMGL=4")
        except (CommandError, TemporaryError) as err:
            log.warning("sweep of %s failed: %s", self.port, err)
            self._next_sweep = self._clock() + min(self._sweep_interval, 5.0)
            return
        received: list[Received] = []
        reports: list[DeliveryReport] = []
        report_indexes: list[int] = []
        for index, stat, pdu_hex in parse_cmgl(lines):
            if stat in (2, 3):  # stored outgoing messages: not ours to touch
                continue
            report = self._decode_report(pdu_hex) if is_status_report(pdu_hex) else None
            if report is not None:
                reports.append(report)
                report_indexes.append(index)
                continue
            received.append(self._decode(pdu_hex, index))  # undecodable reports too: kept raw
        if received:
            self._store(received, delete=[r.storage_index for r in received])
        if reports:
            self._deliver_reports(reports, delete=report_indexes)

    def _store(self, received: list[Received], *, delete: list[int]) -> None:
        try:
            self._store_incoming(received)
        except Exception as err:  # nothing is deleted: the next sweep offers the parts again
            self._set_status(
                store_failures=self._status.store_failures + 1, last_error=f"store failed: {err}"
            )
            log.error("storing %d received part(s) failed, kept on the SIM: %s", len(received), err)
            self._next_sweep = self._clock() + min(self._sweep_interval, 5.0)
            return
        self._set_status(
            received_parts=self._status.received_parts + len(received), last_receive_at=self._wall()
        )
        log.info("received %d part(s) on %s", len(received), self.port)
        for index in delete:
            self._delete(index)

    def _delete(self, index: int) -> None:
        try:
            self._cmd(f"AT+CMGD={index}")
        except (CommandError, TemporaryError) as err:
            log.warning("could not delete SIM message %d on %s: %s", index, self.port, err)

    # ------------------------------------------------------------ status

    def _poll_status(self) -> None:
        self._next_status = self._clock() + self._status_interval
        changes: dict[str, Any] = {}
        for command, pattern, apply in STATUS_QUERIES:
            try:
                changes.update(status_changes(pattern, apply, self._cmd(command)))
            except (CommandError, TemporaryError):
                continue
        self._set_status(**changes)

    def _set_status(self, **changes: Any) -> None:
        with self._status_lock:
            self._status = replace(self._status, **changes)

    def _emit(self, event: ModemEvent) -> None:
        sink = self._on_event
        if sink is None:
            return
        try:
            if isinstance(sink, queue.Queue):
                sink.put_nowait(event)
            else:
                sink(event)
        except Exception:
            log.exception("event consumer failed on %s", type(event).__name__)
