"""The emulated modem's AT command engine: bytes in, bytes out, message memories and a pretend network.

Pure state machine (no threads, no file descriptors): ``ModemEmulator`` feeds it the bytes a client
wrote, calls ``step(now)`` and writes back the chunks it returns. Memories (``emulator_memory``): "SM",
"ME" and "SR" each with its own capacity; ``AT+CPMS`` selects <mem1> (list/read/delete), <mem2> and
<mem3> (where received SMS go). Routing follows ``+CNMI``: <mt> 0 stores silently, 1 (and 3) stores
and announces ``+CMTI: "<mem3>",<index>``, 2 delivers directly as ``+CMT`` while a client has the port
open (stored otherwise); <ds> 0 stores status reports silently in "SR", 1 routes them as ``+CDS`` while
a client listens, 2 stores them with ``+CDSI: "SR",<index>``. A full memory makes the network hold and
retry (reports ahead of messages). Power-on (replug, spontaneous reset) brings back the profile's
defaults (``emulator_types.ModemProfile``). ESC at the ``> `` prompt cancels the send (OK, nothing
sent); elsewhere ESC is ignored, as real modems do.
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
from sms_gateway.emulator_info import CmeError, CmsError, InfoCommands, PlainError, to_int
from sms_gateway.emulator_memory import Memories
from sms_gateway.emulator_types import MEMORIES, Faults, ModemIdentity, ModemProfile, SentPart

log = logging.getLogger(__name__)

STAT_NAMES = {0: "REC UNREAD", 1: "REC READ", 2: "STO UNSENT", 3: "STO SENT"}
TEXT_STAT = {v: k for k, v in STAT_NAMES.items()} | {"ALL": 4}


@dataclass
class _Urc:
    kind: str  # cmti | cmt | report | other
    text: str


@dataclass
class AtEngine(InfoCommands):
    """AT command interpreter with SIM storage, a network outbox and fault injection."""

    identity: ModemIdentity = field(default_factory=ModemIdentity)
    faults: Faults = field(default_factory=Faults)
    seconds_per_part: float = 0.0
    on_sent: Callable[[SentPart], None] | None = None
    on_prompt: Callable[[], None] | None = None  # called when AT+CMGS is about to answer "> "
    profile: ModemProfile = field(default_factory=ModemProfile)

    def __post_init__(self) -> None:
        self.mem = Memories(self.profile.capacity)
        self.held: deque[str] = deque()  # messages the network holds (modem off or memory full)
        self.held_reports: deque[str] = deque()  # status reports the network holds
        self.timers: list[tuple[float, Callable[[], None]]] = []  # network side: survive power cycles
        self.sent_parts: list[SentPart] = []
        self._rng = random.Random(7)
        self.powered = True
        self.listening = True  # a client has the port open (``ModemEmulator`` keeps this up to date)
        self.pin_attempts = 0
        self.resets = 0
        self.urc_hold = 0  # > 0: notices wait (``ModemEmulator.together``)
        self.clock_now = 0.0
        self.power_on()

    # ------------------------------------------------------------ lifecycle

    def power_on(self) -> None:
        """Back to the profile's power-on settings, as after a replug or a reset (memories survive)."""
        p = self.profile
        self.echo = p.echo
        self.cmee = 0
        self.text_mode = False
        self.cscs = "IRA"
        self.cnmi = list(p.cnmi)
        self.cpms = list(p.preferred)
        self.csmp_fo = 17
        self.pin_ok = not self.identity.pin
        self.mr = 0
        self.inbuf = bytearray()
        self.data_mode: tuple[str, str] | None = None  # ("pdu", length) or ("text", number)
        self.busy_until = 0.0
        self.pending_reply: bytes | None = None
        self.urcs: list[_Urc] = [_Urc("other", line) for line in p.boot_urcs]
        self.last_urc_at = -1e9

    def reset(self) -> None:
        """A spontaneous reset (brown-out): the command in progress is lost, power-on settings return."""
        self.resets += 1
        self.power_on()
        self.flush_held()

    # ------------------------------------------------------------ network side

    def network_deliver(self, pdu_hex: str) -> None:
        """The network hands the modem one SMS-DELIVER; routed per ``+CNMI``, held while off or full."""
        if self.faults.undecodable_pdu:
            self.faults.undecodable_pdu = False
            pdu_hex = pdu_hex[: max(40, len(pdu_hex) // 2)]
        self.held.append(pdu_hex)
        self.flush_held()

    def flush_held(self) -> None:
        """Hand held status reports, then held messages, to the modem while it has room for them."""
        if not self.powered:
            return
        report_memory = self.profile.report_memory or self.cpms[2]
        while self.held_reports:
            index = None if self.faults.storage_full else self.mem.store(report_memory, self.held_reports[0])
            if index is None:
                break
            self.held_reports.popleft()
            if self.cnmi[3] == 2:
                self.urcs.append(_Urc("report", f'+CDSI: "{report_memory}",{index}'))
        while self.held:
            if self.cnmi[1] == 2 and self.listening:  # direct delivery: nothing stored
                pdu_hex = self.held.popleft()
                self.urcs.append(_Urc("cmt", self._cmt_text(pdu_hex)))
                continue
            index = None if self.faults.storage_full else self.mem.store(self.cpms[2], self.held[0])
            if index is None:
                break
            self.held.popleft()
            if self.cnmi[1] in (1, 3):
                self.urcs.append(_Urc("cmti", f'+CMTI: "{self.cpms[2]}",{index}'))

    def _cmt_text(self, pdu_hex: str) -> str:
        if not self.text_mode:
            return f"+CMT: ,{_length(pdu_hex)}\r\n{pdu_hex}"
        header, text = self._text_entry(0, pdu_hex)
        number, _, when = header.split(",", 1)[1].partition(",,")
        return f"+CMT: {number},,{when}\r\n{text}"

    def _status_report(self, part: SentPart, now_dt: datetime) -> None:
        report = pdu.encode_status_report(
            part.message_ref, part.to, sent_at=now_dt, discharged_at=now_dt, smsc=self.identity.smsc
        )
        if self.powered and self.cnmi[3] == 1 and self.listening:
            if self.text_mode:
                ts = _text_time(now_dt)
                self.urcs.append(
                    _Urc("report", f'+CDS: 6,{part.message_ref},"{part.to}",145,"{ts}","{ts}",0')
                )
            else:
                self.urcs.append(_Urc("report", f"+CDS: {report.tpdu_length}\r\n{report.hex}"))
            return
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
        if self.powered and not self.urc_hold and any(not self._held_for_command(u) for u in self.urcs):
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
        if not self.powered:  # only the network side runs: it holds what it cannot deliver
            return out
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
        if not ready or self.urc_hold:
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
        prefix = self.faults.reset_at_command
        if prefix and command.upper().startswith(prefix.upper()):
            self.faults.reset_at_command = ""
            self.reset()
            return b"", 0.0
        log.debug("emulator AT: %s", command.split("=", 1)[0][:20])
        delay = 0.0
        lines: list[str] = []
        try:
            for cmd in _split_commands(command[2:]):
                result = self._dispatch(cmd)
                if isinstance(result, bytes):  # prompt for CMGS data
                    return result, 0.0
                lines.extend(result)
        except CmsError as err:
            return self._format(
                lines, f"+CMS ERROR: {err.code}" if self.cmee else "ERROR", self._splice()
            ), delay
        except CmeError as err:
            return self._format(
                lines, f"+CME ERROR: {err.code}" if self.cmee else "ERROR", self._splice()
            ), delay
        except PlainError:
            return self._format(lines, "ERROR", self._splice()), delay
        return self._format(lines, "OK", self._splice()), delay

    # ------------------------------------------------------------ commands

    def _dispatch(self, cmd: str) -> list[str] | bytes:
        upper = cmd.upper()
        if not upper.startswith(("+", "^")):
            return self._basic(upper)
        m = re.match(r"^([+^][A-Z]+)(=\?|\?|=)?(.*)$", cmd, re.IGNORECASE | re.DOTALL)
        if not m:
            raise PlainError()
        name, op, arg = m.group(1).upper(), m.group(2) or "", m.group(3)
        handler = getattr(self, "_cmd_" + name[1:].lower(), None) if name.startswith("+") else None
        if handler is None:
            raise CmeError(4) if self.cmee else PlainError()
        if name in ("+CMGS", "+CMGR", "+CMGL", "+CMGD", "+CIMI", "+CPMS", "+CSCA") and not self.pin_ok:
            raise CmeError(11)
        return handler(op, arg)

    def _basic(self, cmd: str) -> list[str]:
        lines: list[str] = []
        for letter, value in re.findall(r"(&?[A-Z])(\d*)", cmd):
            if letter == "E":
                self.echo = value != "0"
            elif letter in ("Z", "&F"):
                self.echo, self.cmee, self.text_mode = self.profile.echo, 0, False
                self.cnmi = list(self.profile.cnmi)
            elif letter == "I":
                lines += [
                    self.identity.manufacturer,
                    self.identity.model,
                    f"Revision: {self.identity.revision}",
                ]
            elif letter not in ("V", "Q", "&C", "&D", "&W", "X", "S"):
                raise PlainError()
        return lines

    def _cmd_cmgf(self, op: str, arg: str) -> list[str]:
        if op == "=":
            value = to_int(arg)
            if value not in (0, 1):
                raise CmsError(302)
            self.text_mode = value == 1
        return [f"+CMGF: {int(self.text_mode)}"] if op == "?" else (["+CMGF: (0,1)"] if op == "=?" else [])

    def _cmd_cpms(self, op: str, arg: str) -> list[str]:
        p = self.profile
        offered = (p.read_memories, p.write_memories, p.receive_memories)
        if op == "=?":
            return ["+CPMS: " + ",".join("(" + ",".join(f'"{m}"' for m in group) + ")" for group in offered)]
        if op == "?":
            return ["+CPMS: " + ",".join(f'"{m}",{self.mem.used(m)},{self.mem.total(m)}' for m in self.cpms)]
        names = [n.strip().strip('"').upper() for n in arg.split(",")]
        if op != "=" or not names[0] or len(names) > 3:
            raise CmsError(302)
        for i, name in enumerate(names):
            if name and (name not in MEMORIES or name not in offered[i]):
                raise CmsError(302)
        for i, name in enumerate(names):
            if name:
                self.cpms[i] = name
        self.flush_held()  # the new <mem3> may have room for what the network holds
        return ["+CPMS: " + ",".join(f"{self.mem.used(m)},{self.mem.total(m)}" for m in self.cpms)]

    def _cmd_cnmi(self, op: str, arg: str) -> list[str]:
        if op == "=":
            values = [to_int(v) if v.strip() else 0 for v in arg.split(",")]
            if len(values) > 5 or any(v < 0 or v > 3 for v in values):
                raise CmsError(303)
            self.cnmi = (values + [0] * 5)[:5]
            self.flush_held()
        if op == "?":
            return ["+CNMI: " + ",".join(str(v) for v in self.cnmi)]
        return ["+CNMI: (0-2),(0-3),(0,2),(0-2),(0,1)"] if op == "=?" else []

    def _cmd_cmgd(self, op: str, arg: str) -> list[str]:
        memory = self.cpms[0]
        if op == "=?":
            return [f"+CMGD: (1-{self.mem.total(memory)}),(0-4)"]
        parts = [p.strip() for p in arg.split(",")]
        flag = to_int(parts[1]) if len(parts) > 1 and parts[1] else 0
        if flag == 0:
            self.mem.delete(memory, to_int(parts[0]))
        else:
            keep = {1: (0, 2, 3), 2: (0, 3), 3: (0,), 4: ()}.get(flag, (0, 1, 2, 3))
            self.mem.delete_unless(memory, keep)
        self.flush_held()
        return []

    def _cmd_cmgr(self, op: str, arg: str) -> list[str]:
        memory, index = self.cpms[0], to_int(arg)
        entry = self.mem.get(memory, index)
        if entry is None:
            raise CmsError(321)
        stat, pdu_hex = entry
        if stat == 0:
            self.mem.put(memory, index, (1, pdu_hex))
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
        want = (TEXT_STAT.get(arg.strip('"').upper(), -1) if self.text_mode else to_int(arg)) if arg else 0
        if want not in (0, 1, 2, 3, 4):
            raise CmsError(302)
        lines = []
        memory = self.cpms[0]
        for index, (stat, pdu_hex) in self.mem.entries(memory):
            if want != 4 and stat != want:
                continue
            if stat == 0:
                self.mem.put(memory, index, (1, pdu_hex))
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
            raise CmsError(302)
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
        for k, submit in enumerate(parts):
            ref = self.mr
            self.mr = (self.mr + 1) % 256
            part = SentPart(
                submit.to,
                submit.text,
                submit.encoding,
                submit.concat,
                ref,
                body,
                submit.request_report,
                at=self.clock_now + k * self.seconds_per_part,
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
