"""The emulated modem's AT command engine: bytes in, bytes out, a SIM store and a pretend network.

Pure state machine (no threads, no file descriptors): ``ModemEmulator`` feeds it the bytes a client
wrote, calls ``step(now)`` and writes back the chunks it returns. One storage ("SM") serves every memory
name (SM, ME, MT, SR). ``+CNMI`` modes 2 and 3 behave as mode 1 (``+CMTI`` after storing); ``<ds>`` 1
routes status reports as ``+CDS``, 2 stores them (``+CDSI``; while the SIM is full the network holds
them, ahead of held messages). ESC at the ``> `` prompt cancels the send (OK, nothing sent); elsewhere
ESC is ignored, as real modems do.
"""

from __future__ import annotations

import functools
import logging
import random
import re
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sms_gateway import pdu
from sms_gateway.emulator_types import Faults, ModemIdentity, SentPart

log = logging.getLogger(__name__)

STAT_NAMES = {0: "REC UNREAD", 1: "REC READ", 2: "STO UNSENT", 3: "STO SENT"}
TEXT_STAT = {v: k for k, v in STAT_NAMES.items()} | {"ALL": 4}
SUPPORTED_COMMANDS = (  # noqa: SIM905 (a one-line-per-command list would take 30 lines)
    "+CGMI +CGMM +CGMR +CGSN +CIMI +CFUN +CMEE +CPIN +CLAC +COPS +CMGF +CSCA +CSMP +CPMS +CNMI +CLIP "
    "+CRC +CVHU +CSQ +CREG +CSCS +CMGS +CMGR +CMGL +CMGD +CNMA +CSMS +CMMS +CSDH +CNUM"
).split()
MEMORIES = ("SM", "ME", "MT", "SR")


class _CmsError(Exception):
    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


class _CmeError(Exception):
    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


@dataclass
class _Urc:
    kind: str  # cmti | report | other
    text: str


@dataclass
class AtEngine:
    """AT command interpreter with SIM storage, a network outbox and fault injection."""

    identity: ModemIdentity = field(default_factory=ModemIdentity)
    faults: Faults = field(default_factory=Faults)
    seconds_per_part: float = 0.0
    on_sent: Callable[[SentPart], None] | None = None
    on_prompt: Callable[[], None] | None = None  # called when AT+CMGS is about to answer "> "

    def __post_init__(self) -> None:
        self.storage: dict[int, tuple[int, str]] = {}
        self.held: deque[str] = deque()
        self.held_reports: deque[str] = deque()  # status reports waiting for a free slot (ds=2)
        self.sent_parts: list[SentPart] = []
        self._rng = random.Random(7)
        self.powered = True
        self.pin_attempts = 0
        self.power_on()

    # ------------------------------------------------------------ lifecycle

    def power_on(self) -> None:
        """Reset the volatile state as a modem does when it powers up (storage survives: it is the SIM)."""
        self.echo = True
        self.cmee = 0
        self.text_mode = False
        self.cscs = "IRA"
        self.cnmi = [0, 0, 0, 0, 0]
        self.csmp_fo = 17
        self.pin_ok = not self.identity.pin
        self.mr = 0
        self.inbuf = bytearray()
        self.data_mode: tuple[str, str] | None = None  # ("pdu", length) or ("text", number)
        self.busy_until = 0.0
        self.pending_reply: bytes | None = None
        self.urcs: list[_Urc] = []
        self.timers: list[tuple[float, Callable[[], None]]] = []
        self.clock_now = 0.0
        self.last_urc_at = -1e9

    # ------------------------------------------------------------ network side

    def network_deliver(self, pdu_hex: str) -> None:
        """The network hands the modem one SMS-DELIVER; stored with ``+CMTI``, or held while full."""
        if self.faults.undecodable_pdu:
            self.faults.undecodable_pdu = False
            pdu_hex = pdu_hex[: max(40, len(pdu_hex) // 2)]
        self.held.append(pdu_hex)
        self.flush_held()

    def flush_held(self) -> None:
        """Store held status reports, then held messages, while the SIM has free slots."""
        if not self.powered:
            return
        while (self.held_reports or self.held) and (index := self._free_slot()) is not None:
            if self.held_reports:
                self.storage[index] = (0, self.held_reports.popleft())
                self.urcs.append(_Urc("report", f'+CDSI: "SM",{index}'))
                continue
            self.storage[index] = (0, self.held.popleft())
            if self.cnmi[1] >= 1:
                self.urcs.append(_Urc("cmti", f'+CMTI: "SM",{index}'))

    def _free_slot(self) -> int | None:
        if self.faults.storage_full:
            return None
        for i in range(1, self.identity.storage_slots + 1):
            if i not in self.storage:
                return i
        return None

    def _status_report(self, part: SentPart, now_dt: datetime) -> None:
        report = pdu.encode_status_report(
            part.message_ref, part.to, sent_at=now_dt, discharged_at=now_dt, smsc=self.identity.smsc
        )
        ds = self.cnmi[3]
        if ds == 1:
            if self.text_mode:
                ts = _text_time(now_dt)
                self.urcs.append(
                    _Urc("report", f'+CDS: 6,{part.message_ref},"{part.to}",145,"{ts}","{ts}",0')
                )
            else:
                self.urcs.append(_Urc("report", f"+CDS: {report.tpdu_length}\r\n{report.hex}"))
        elif ds == 2:
            self.held_reports.append(report.hex)
            self.flush_held()

    # ------------------------------------------------------------ byte pump

    def receive(self, data: bytes) -> bytes:
        """Take bytes from the client; returns the echo to write back (if echo is on)."""
        self.inbuf.extend(data)
        return data if self.echo else b""

    def next_deadline(self) -> float | None:
        """The earliest moment ``step`` has something timed to do."""
        times = [t for t, _ in self.timers]
        if self.urcs:
            times.append(self.last_urc_at + self.identity.urc_gap)
        if self.pending_reply is not None:
            times.append(self.busy_until)
        return min(times) if times else None

    def step(self, now: float, now_dt: datetime) -> list[bytes]:
        """Advance: fire timers, finish a delayed reply, run complete commands, emit idle URCs."""
        out: list[bytes] = []
        self.clock_now = now
        due = [t for t in self.timers if t[0] <= now]
        self.timers = [t for t in self.timers if t[0] > now]
        for _, fire in due:
            fire()
        while True:
            if self.pending_reply is not None:
                if now < self.busy_until:
                    break
                out.append(self.pending_reply)
                self.pending_reply = None
            command = self._take_command()
            if command is None:
                break
            reply, delay = self._run(command, now_dt)
            delay += self.faults.slow_replies
            if delay > 0:
                self.pending_reply, self.busy_until = reply, now + delay
            elif reply:
                out.append(reply)
        if self.pending_reply is None and self.data_mode is None:
            out.extend(self._idle_urcs())
        return out

    def _idle_urcs(self) -> list[bytes]:
        out: list[bytes] = []
        if self.faults.non_utf8_byte:
            self.faults.non_utf8_byte = False
            out.append(b"\r\n\xff\xfeNOISE\r\n")
        ready = [u for u in self.urcs if not self._held_for_command(u)]
        if not ready:
            return out
        if self.faults.double_cmti:
            self.urcs = [u for u in self.urcs if self._held_for_command(u)]
            return out + [b"".join(f"\r\n{u.text}\r\n".encode() for u in ready)]
        if self.clock_now < self.last_urc_at + self.identity.urc_gap:
            return out
        self.urcs.remove(ready[0])
        self.last_urc_at = self.clock_now
        return out + [f"\r\n{ready[0].text}\r\n".encode()]

    def _held_for_command(self, urc: _Urc) -> bool:
        return (urc.kind == "cmti" and self.faults.swallow_cmti_during_command) or (
            urc.kind == "report" and self.faults.status_report_during_command
        )

    def _take_command(self) -> str | None:
        if self.data_mode is not None:
            for i, b in enumerate(self.inbuf):
                if b in (0x1A, 0x1B):
                    body = self.inbuf[:i].decode("latin-1")
                    del self.inbuf[: i + 1]
                    return ("\x1a" if b == 0x1A else "\x1b") + body
            return None
        i = self.inbuf.find(b"\r")
        if i < 0:
            return None
        line = self.inbuf[:i].replace(b"\x1b", b"").decode("latin-1").strip("\n ")
        del self.inbuf[: i + 1]
        return line

    # ------------------------------------------------------------ replies

    def _format(self, lines: list[str], final: str, spliced: list[_Urc] | None = None) -> bytes:
        body = "".join(f"\r\n{line}\r\n" for line in lines)
        body += "".join(f"\r\n{u.text}\r\n" for u in spliced or [])
        return (body + f"\r\n{final}\r\n").encode("latin-1", errors="replace")

    def _splice(self) -> list[_Urc]:
        taken = [u for u in self.urcs if self._held_for_command(u)]
        self.urcs = [u for u in self.urcs if not self._held_for_command(u)]
        return taken

    def _run(self, command: str, now_dt: datetime) -> tuple[bytes, float]:
        if self.data_mode is not None:
            return self._finish_send(command, now_dt)
        if not command:
            return b"", 0.0
        if not command.upper().startswith("AT"):
            return self._format([], "ERROR"), 0.0
        log.debug("emulator AT: %s", command[:60])
        delay = 0.0
        lines: list[str] = []
        try:
            for cmd in _split_commands(command[2:]):
                result = self._dispatch(cmd)
                if isinstance(result, bytes):  # prompt for CMGS data
                    return result, 0.0
                lines.extend(result)
        except _CmsError as err:
            return self._format(
                lines, f"+CMS ERROR: {err.code}" if self.cmee else "ERROR", self._splice()
            ), delay
        except _CmeError as err:
            return self._format(
                lines, f"+CME ERROR: {err.code}" if self.cmee else "ERROR", self._splice()
            ), delay
        except _PlainError:
            return self._format(lines, "ERROR", self._splice()), delay
        return self._format(lines, "OK", self._splice()), delay

    # ------------------------------------------------------------ commands

    def _dispatch(self, cmd: str) -> list[str] | bytes:
        upper = cmd.upper()
        if not upper.startswith(("+", "^")):
            return self._basic(upper)
        m = re.match(r"^([+^][A-Z]+)(=\?|\?|=)?(.*)$", cmd, re.IGNORECASE | re.DOTALL)
        if not m:
            raise _PlainError()
        name, op, arg = m.group(1).upper(), m.group(2) or "", m.group(3)
        handler = getattr(self, "_cmd_" + name[1:].lower(), None) if name.startswith("+") else None
        if handler is None:
            raise _CmeError(4) if self.cmee else _PlainError()
        if name in ("+CMGS", "+CMGR", "+CMGL", "+CMGD", "+CIMI", "+CPMS", "+CSCA") and not self.pin_ok:
            raise _CmeError(11)
        return handler(op, arg)

    def _basic(self, cmd: str) -> list[str]:
        lines: list[str] = []
        for letter, value in re.findall(r"(&?[A-Z])(\d*)", cmd):
            if letter == "E":
                self.echo = value != "0"
            elif letter in ("Z", "&F"):
                self.echo, self.cmee, self.text_mode, self.cnmi = True, 0, False, [0, 0, 0, 0, 0]
            elif letter == "I":
                lines += [
                    self.identity.manufacturer,
                    self.identity.model,
                    f"Revision: {self.identity.revision}",
                ]
            elif letter not in ("V", "Q", "&C", "&D", "&W", "X", "S"):
                raise _PlainError()
        return lines

    def _cmd_cgmi(self, op: str, arg: str) -> list[str]:
        return [] if op == "=?" else [self.identity.manufacturer]

    def _cmd_cgmm(self, op: str, arg: str) -> list[str]:
        return [] if op == "=?" else [self.identity.model]

    def _cmd_cgmr(self, op: str, arg: str) -> list[str]:
        return [] if op == "=?" else [self.identity.revision]

    def _cmd_cgsn(self, op: str, arg: str) -> list[str]:
        return [] if op == "=?" else [self.identity.imei]

    def _cmd_cimi(self, op: str, arg: str) -> list[str]:
        return [] if op == "=?" else [self.identity.imsi]

    def _cmd_cnum(self, op: str, arg: str) -> list[str]:
        return [f'+CNUM: "","{self.identity.own_number}",145']

    def _cmd_cfun(self, op: str, arg: str) -> list[str]:
        return ["+CFUN: 1"] if op == "?" else (["+CFUN: (0,1,4),(0,1)"] if op == "=?" else [])

    def _cmd_cmee(self, op: str, arg: str) -> list[str]:
        if op == "=":
            self.cmee = _int(arg)
        return [f"+CMEE: {self.cmee}"] if op == "?" else (["+CMEE: (0-2)"] if op == "=?" else [])

    def _cmd_cpin(self, op: str, arg: str) -> list[str]:
        if op == "?":
            return ["+CPIN: READY" if self.pin_ok else "+CPIN: SIM PIN"]
        if op == "=":
            self.pin_attempts += 1
            if arg.strip('"') != self.identity.pin:
                raise _CmeError(16)
            self.pin_ok = True
        return []

    def _cmd_clac(self, op: str, arg: str) -> list[str]:
        return list(SUPPORTED_COMMANDS)

    def _cmd_cops(self, op: str, arg: str) -> list[str]:
        if op == "?":
            return [f'+COPS: 0,0,"{self.identity.operator}",7']
        if op == "=?":
            return [
                f'+COPS: (2,"{self.identity.operator}","{self.identity.operator[:6]}","45204",7),,(0-4),(0-2)'
            ]
        return []

    def _cmd_cmgf(self, op: str, arg: str) -> list[str]:
        if op == "=":
            value = _int(arg)
            if value not in (0, 1):
                raise _CmsError(302)
            self.text_mode = value == 1
        return [f"+CMGF: {int(self.text_mode)}"] if op == "?" else (["+CMGF: (0,1)"] if op == "=?" else [])

    def _cmd_csca(self, op: str, arg: str) -> list[str]:
        if op == "=":
            self.identity.smsc = arg.split(",")[0].strip('"')
        return [f'+CSCA: "{self.identity.smsc}",145'] if op == "?" else []

    def _cmd_csmp(self, op: str, arg: str) -> list[str]:
        if op == "=" and arg:
            self.csmp_fo = _int(arg.split(",")[0])
        return [f"+CSMP: {self.csmp_fo},167,0,0"] if op == "?" else []

    def _cmd_cpms(self, op: str, arg: str) -> list[str]:
        used, total = len(self.storage), self.identity.storage_slots
        if op == "=?":
            return ['+CPMS: ("SM"),("SM"),("SM")']
        if op == "?":
            return [f'+CPMS: "SM",{used},{total},"SM",{used},{total},"SM",{used},{total}']
        names = [n.strip().strip('"').upper() for n in arg.split(",") if n.strip()]
        if not names or any(n not in MEMORIES for n in names):
            raise _CmsError(302)
        return [",".join([f"{used},{total}"] * 3).join(["+CPMS: ", ""])]

    def _cmd_cnmi(self, op: str, arg: str) -> list[str]:
        if op == "=":
            values = [_int(v) if v.strip() else 0 for v in arg.split(",")]
            if len(values) > 5 or any(v < 0 or v > 3 for v in values):
                raise _CmsError(303)
            self.cnmi = (values + [0] * 5)[:5]
        if op == "?":
            return ["+CNMI: " + ",".join(str(v) for v in self.cnmi)]
        return ["+CNMI: (0-2),(0-3),(0,2),(0-2),(0,1)"] if op == "=?" else []

    def _cmd_csq(self, op: str, arg: str) -> list[str]:
        return [f"+CSQ: {self.identity.signal},99"] if op != "=?" else ["+CSQ: (0-31,99),(0-7,99)"]

    def _cmd_creg(self, op: str, arg: str) -> list[str]:
        return [f"+CREG: 0,{self.identity.registration}"] if op == "?" else []

    def _cmd_cscs(self, op: str, arg: str) -> list[str]:
        if op == "=":
            name = arg.strip('"').upper()
            if name not in ("GSM", "IRA", "UCS2"):
                raise _CmeError(4)
            self.cscs = name
        if op == "?":
            return [f'+CSCS: "{self.cscs}"']
        return ['+CSCS: ("GSM","IRA","UCS2")'] if op == "=?" else []

    def _ok(self, op: str, arg: str) -> list[str]:
        return []

    _cmd_clip = _cmd_crc = _cmd_cvhu = _cmd_cnma = _cmd_cmms = _cmd_csdh = _ok

    def _cmd_csms(self, op: str, arg: str) -> list[str]:
        return ["+CSMS: 0,1,1,1"] if op in ("?", "=") else (["+CSMS: (0)"] if op == "=?" else [])

    def _cmd_cmgd(self, op: str, arg: str) -> list[str]:
        if op == "=?":
            return [f"+CMGD: (1-{self.identity.storage_slots}),(0-4)"]
        parts = [p.strip() for p in arg.split(",")]
        flag = _int(parts[1]) if len(parts) > 1 and parts[1] else 0
        if flag == 0:
            self.storage.pop(_int(parts[0]), None)
        else:
            keep = {1: (0, 2, 3), 2: (0, 3), 3: (0,), 4: ()}.get(flag, (0, 1, 2, 3))
            self.storage = {i: v for i, v in self.storage.items() if v[0] in keep}
        self.flush_held()
        return []

    def _cmd_cmgr(self, op: str, arg: str) -> list[str]:
        index = _int(arg)
        if index not in self.storage:
            raise _CmsError(321)
        stat, pdu_hex = self.storage[index]
        if stat == 0:
            self.storage[index] = (1, pdu_hex)
        if self.text_mode:
            header, text = self._text_entry(stat, pdu_hex)
            return [f"+CMGR: {header}", text]
        return [f"+CMGR: {stat},,{_length(pdu_hex)}", pdu_hex]

    def _cmd_cmgl(self, op: str, arg: str) -> list[str]:
        if op == "=?":
            return [
                '+CMGL: ("REC UNREAD","REC READ","STO UNSENT","STO SENT","ALL")'
                if self.text_mode
                else "+CMGL: (0-4)"
            ]
        want = (TEXT_STAT.get(arg.strip('"').upper(), -1) if self.text_mode else _int(arg)) if arg else 0
        if want not in (0, 1, 2, 3, 4):
            raise _CmsError(302)
        lines = []
        for index in sorted(self.storage):
            stat, pdu_hex = self.storage[index]
            if want != 4 and stat != want:
                continue
            if stat == 0:
                self.storage[index] = (1, pdu_hex)
            if self.text_mode:
                header, text = self._text_entry(stat, pdu_hex)
                lines += [f"+CMGL: {index},{header}", text]
            else:
                lines += [f"+CMGL: {index},{stat},,{_length(pdu_hex)}", pdu_hex]
        return lines

    def _text_entry(self, stat: int, pdu_hex: str) -> tuple[str, str]:
        try:
            msg = pdu.decode(pdu_hex)
        except pdu.PduError:
            return f'"{STAT_NAMES[stat]}","",,""', pdu_hex
        if isinstance(msg, pdu.StatusReport):
            sent, done = _text_time(msg.sent_at), _text_time(msg.discharged_at)
            return (
                f'"{STAT_NAMES[stat]}",6,{msg.message_ref},"{msg.recipient}",145,"{sent}","{done}",{msg.status}',
                "",
            )
        number = msg.sender if isinstance(msg, pdu.Deliver) else msg.to
        when = _text_time(msg.timestamp) if isinstance(msg, pdu.Deliver) else ""
        text = msg.text if self.cscs != "UCS2" else msg.text.encode("utf-16-be").hex().upper()
        return f'"{STAT_NAMES[stat]}","{number}",,"{when}"', text

    def _cmd_cmgs(self, op: str, arg: str) -> bytes:
        if op != "=" or not arg:
            raise _CmsError(302)
        if self.text_mode:
            number = arg.split(",")[0].strip('"')
            if self.cscs == "UCS2":
                number = bytes.fromhex(number).decode("utf-16-be")
            self.data_mode = ("text", number)
        else:
            self.data_mode = ("pdu", arg.strip())
        if self.on_prompt is not None:
            self.on_prompt()
        return b"\r\n> "

    def _finish_send(self, command: str, now_dt: datetime) -> tuple[bytes, float]:
        mode, value = self.data_mode or ("", "")
        self.data_mode = None
        if command.startswith("\x1b"):
            return self._format([], "OK"), 0.0
        body = command[1:].strip()
        try:
            parts = self._submits(mode, value, body)
        except (pdu.PduError, ValueError):
            return self._format([], "+CMS ERROR: 304" if self.cmee else "ERROR", self._splice()), 0.0
        fault = self.faults.cms_error_on_send
        if fault is not None:
            amount, code = fault
            fire = self._rng.random() < amount if amount < 1 else True
            if amount >= 1:
                self.faults.cms_error_on_send = (amount - 1, code) if amount > 1 else None
            if fire:
                return self._format([], f"+CMS ERROR: {code}", self._splice()), self.seconds_per_part / 2
        refs = []
        for submit in parts:
            ref = self.mr
            self.mr = (self.mr + 1) % 256
            part = SentPart(
                submit.to, submit.text, submit.encoding, submit.concat, ref, body, submit.request_report
            )
            self.sent_parts.append(part)
            if self.on_sent is not None:
                self.on_sent(part)
            if submit.request_report:
                due = self.seconds_per_part + self.identity.report_delay
                self.timers.append(
                    (self.clock_now + due, functools.partial(self._status_report, part, now_dt))
                )
            refs.append(ref)
        return self._format([f"+CMGS: {refs[-1]}"], "OK", self._splice()), self.seconds_per_part * len(parts)

    def _submits(self, mode: str, value: str, body: str) -> list[pdu.Submit]:
        if mode == "pdu":
            if pdu.tpdu_length(body) != int(value):
                raise pdu.PduError(f"PDU length {pdu.tpdu_length(body)} does not match {value}")
            submit = pdu.decode(body)
            if not isinstance(submit, pdu.Submit):
                raise pdu.PduError("not an SMS-SUBMIT")
            return [submit]
        text = bytes.fromhex(body).decode("utf-16-be") if self.cscs == "UCS2" else body
        report = bool(self.csmp_fo & 0x20)
        return [
            pdu.decode(p.hex)  # type: ignore[misc]
            for p in pdu.encode_submit(value, text, request_report=report, message_ref=self.mr)
        ]


class _PlainError(Exception):
    pass


def _int(text: str) -> int:
    try:
        return int(text.strip().strip('"'))
    except ValueError:
        raise _CmsError(302) from None


def _length(pdu_hex: str) -> int:
    try:
        return pdu.tpdu_length(pdu_hex)
    except pdu.PduError:
        return max(0, len(pdu_hex) // 2 - 1)


def _split_commands(rest: str) -> list[str]:
    if not rest:
        return []
    if rest[0] in "+^":
        return [c for c in rest.split(";") if c]
    return [rest]


def _text_time(when: datetime) -> str:
    offset = when.utcoffset()
    quarters = int((offset.total_seconds() if offset else 0) // 900)
    return when.strftime("%y/%m/%d,%H:%M:%S") + f"{quarters:+03d}"
