"""The GSM modem adapter: one owner thread per modem over python-gsmmodem-new (``gsmmodem``) and pyserial.

The library is used for what it does well (opening the port, the init sequence, writing a command and
collecting its reply); what loses messages in it is replaced (``modem_library`` repairs its serial layer):

- ``+CMTI`` is only a hint: the memory it names is read (``modem_receive``), and every memory the modem
  offers ("SM", "ME", "MT", "SR") is swept on every (re)connect, after a reset and periodically;
- ``processStoredSms`` deletes before the callback and its decoder drops/garbles PDUs → we read raw PDUs,
  decode them with our ``pdu`` module, hand them to ``store_incoming`` and delete only after it returned;
- delivery reports are stored by the modem (``AT+CNMI=…,2,…``: ``+CDSI: "SR",n``), so one that comes
  while the gateway is down waits in "SR"; they go to ``store_reports`` and are deleted after;
- a modem that reset (brown-out) is back at its power-on settings (another memory, no notices, echo on):
  an echoed command, a boot line (``RDY``, ``+CFUN:``…), a direct ``+CMT`` or ``+CNMI``/``+CPMS`` found
  changed make us re-apply our settings and sweep every memory (``modem_memory``);
- no reconnect after unplug → a watchdog reopens the port with exponential backoff (settings re-applied).

Numbers, bodies and PDUs never reach a log (``redact``). ``send`` and ``status`` are safe from any thread.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from gsmmodem.exceptions import (
    CmeError,
    CmsError,
    CommandError,
    GsmModemException,
    IncorrectPinError,
    PinRequiredError,
    TimeoutException,
)

from dossier.errors import HardwareUnavailable, TemporaryError
from sms_gateway import pdu
from sms_gateway.modem_library import CTRLZ, LibraryModem
from sms_gateway.modem_memory import is_boot_line, parse_notice
from sms_gateway.modem_protocol import (
    PERMANENT_CMS,
    STATUS_QUERIES,
    describe_error,
    parse_cmgs,
    status_changes,
)
from sms_gateway.modem_receive import Receiver
from sms_gateway.modem_settings import SettingsKeeper
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
from sms_gateway.redact import describe_pdu, scrub
from sms_gateway.settings import ModemSection

log = logging.getLogger(__name__)


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
        self._gsm: LibraryModem | None = None
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
        self._configure_wanted = False
        self._was_up = False
        self._up_event: ModemUp | None = None
        self._settings = SettingsKeeper(port, self._cmd)
        self._settings_retry_at = 0.0
        self._settings_retrying = False
        self._receiver = Receiver(
            port,
            cmd=self._cmd,
            store_incoming=store_incoming,
            store_reports=store_reports,
            emit=self._emit,
            count=self._count,
        )

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
        """Ask for a sweep of every memory of the modem as soon as possible."""
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
        if self._configure_wanted:  # run from the serve loop, where a lost port is handled
            self._configure_wanted = False
            self._configure()
        if self._settings.reset_sign:
            self._recover_from_reset()
        if self._receiver.pending:
            self._read(self._receiver.read_pending)
        now = self._clock()
        if now >= self._next_sweep:
            self._settings.check()
            if self._settings.reset_sign:
                self._recover_from_reset()
        if self._sweep_wanted or now >= self._next_sweep:
            self._sweep()
        # configured and swept: announce it (the runtime then gives interrupted SMS their grace)
        if self._up_event is not None and not self._configure_wanted and not self._settings_retrying:
            up, self._up_event = self._up_event, None
            self._emit(up)
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
        self._count(connect_attempts=1)
        if self._pin_refused:
            raise SimLocked(
                f"SIM in {self.port} refused the configured PIN; not retrying (fix sms.modems.pin)"
            )
        if not os.path.exists(self.port):
            raise HardwareUnavailable(f"{self.port} does not exist")
        gsm = LibraryModem(
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
        self._configure_wanted = True
        self._settings.forget()
        self._settings_retrying, self._settings_retry_at = False, 0.0
        self._was_up = True
        self._up_event = ModemUp(self.port, manufacturer, model)  # announced after the first sweep

    # ------------------------------------------------------------ settings and resets

    def _configure(self) -> None:
        """After (re)connecting: learn the memories the modem offers, apply our settings, sweep them all."""
        offer = self._settings.learn_memories()
        self._receiver.configure(offer.sweep if offer else ())
        self._apply_settings("settings not applied yet")

    def _recover_from_reset(self) -> None:
        if self._clock() < self._settings_retry_at:
            return
        if not self._settings_retrying:
            self._count(resets_seen=1)
            log.warning("modem %s seems to have reset (%s): re-applying its settings, reading every memory",
                        self.port, self._settings.reset_sign)  # fmt: skip
        self._apply_settings(self._settings.reset_sign)

    def _apply_settings(self, why: str) -> None:
        """Apply our settings, then sweep every memory; on failure keep ``why`` and retry a little later."""
        try:
            self._settings.apply()
        except (CommandError, TemporaryError) as err:
            self._settings.suspect(why)
            self._settings_retry_at = self._clock() + min(self._sweep_interval, 5.0)
            if not self._settings_retrying:
                log.warning("modem %s: applying its settings failed (%s); trying again", self.port, err)
            self._settings_retrying = True
            return
        self._settings_retrying = False
        self._sweep_wanted = True

    def _disconnect(self, reason: str, *, quiet: bool = False) -> None:
        gsm, self._gsm = self._gsm, None
        if gsm is not None:
            gsm.close()
        was_connected = self._connected.is_set()
        self._connected.clear()
        self._set_status(connected=False, last_error=reason if not quiet else self._status.last_error)
        announced = self._up_event is None  # ModemUp went out: ModemDown follows it (events come in pairs)
        self._up_event = None
        if was_connected and not quiet:
            log.warning("modem %s lost: %s; reconnecting with backoff", self.port, reason)
            if announced:
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

    def _cmd(
        self, command: str, *, timeout: float | None = None, check_echo: bool = True, **kw: Any
    ) -> list[str]:
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
        lines = list(lines)
        if check_echo and lines and lines[0].strip().rstrip(CTRLZ) == command.strip():
            self._settings.suspect("echo is on again")  # we switched it off: the modem restarted
        return lines

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
            log.debug(
                "sending part %d/%d on %s: %s", len(refs) + 1, len(pdus), self.port, describe_pdu(part.hex)
            )
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
        log.debug("unsolicited on %s: %s", self.port, scrub(first))
        notice = parse_notice(first)
        if notice is not None:
            self._receiver.note(notice[1], notice[2])
        elif first.startswith(("+CMTI:", "+CDSI:")):  # a notice we cannot parse: look everywhere
            self._sweep_wanted = True
        elif first.startswith("+CDS:") and len(lines) > 1:  # a modem that refused ds=2 routes them
            self._receiver.direct_report(lines[1])
        elif first.startswith("+CMT:") and len(lines) > 1:  # never asked for: power-on settings
            self._receiver.direct_message(lines[1])
            self._settings.suspect("a message came as +CMT")
        elif is_boot_line(first):
            self._settings.suspect(f"it said {scrub(first)[:20]!r}")

    def _read(self, action: Callable[[], None]) -> None:
        """Run a read of the modem's memories; a failed command or commit is retried soon by a sweep."""
        try:
            action()
        except (CommandError, TemporaryError) as err:
            log.warning("reading the memories of %s failed: %s", self.port, err)
            self._next_sweep = self._clock() + min(self._sweep_interval, 5.0)
            return
        if self._receiver.commit_failed:
            self._next_sweep = self._clock() + min(self._sweep_interval, 5.0)

    def _sweep(self) -> None:
        self._sweep_wanted = False
        self._next_sweep = self._clock() + self._sweep_interval
        self._read(self._receiver.sweep)

    def _count(self, **changes: Any) -> None:
        """Add to status counters (ints), set text fields; ``last_receive_at=True`` stamps the time."""
        with self._status_lock:
            updates: dict[str, Any] = {
                k: self._wall()
                if k == "last_receive_at"
                else (getattr(self._status, k) + v if type(v) is int else v)
                for k, v in changes.items()
            }
            self._status = replace(self._status, **updates)

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
