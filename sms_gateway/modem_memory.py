"""Modem message memories, seen from the gateway: which ones a modem offers, which to use, what a notice
names, and the settings whose loss betrays a reset.

Real USB modems keep received SMS in "SM" (the SIM) and/or "ME" (the modem), status reports in "SR",
and come back from a replug or a brown-out at their power-on settings: another preferred memory, no
notices (or direct ``+CMT``), echo on. So the gateway reads every memory the modem offers, reads from
the memory each notice names, and re-applies its settings when it sees signs of a reset.

Every read or delete names its memory in the same command line (``AT+CPMS="SM";+CMGD=3``): the modem
cannot reset between selecting the memory and deleting from it, and nothing depends on which memory
the modem had selected before.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# the memories a sweep reads, in this order, when offered: status reports first, as they decide whether
# a reply interrupted by a crash went out (before its grace runs out and it is sent again)
READ_ORDER = ("SR", "SM", "ME", "MT")
RECEIVE_PREFERENCE = ("ME", "MT", "SM")  # where we ask the modem to store received SMS
# unsolicited lines a modem sends when it (re)starts; none can be part of a command's reply
BOOT_PREFIXES = ("RDY", "SMS Ready", "Call Ready", "PB DONE", "^SYSSTART", "+CFUN:", "+CPIN:")
_NOTICE = re.compile(r'^\+(CMTI|CDSI):\s*"?([A-Za-z]{2})"?\s*,\s*(\d+)')
_GROUP = re.compile(r"\(([^()]*)\)")
_NAME = re.compile(r'"?([A-Za-z]{2})"?')
_CNMI = re.compile(r"^\+CNMI:\s*([\d,\s]+)$")
_CPMS_FILL = re.compile(r"^\+CPMS:\s*(\d+)\s*,\s*(\d+)")
_CPMS = re.compile(r'^\+CPMS:\s*"(\w+)",\d+,\d+(?:,"(\w+)",\d+,\d+)?(?:,"(\w+)",\d+,\d+)?')


@dataclass(frozen=True)
class Offer:
    """What ``AT+CPMS=?`` says: the memories for reading (<mem1>), writing (<mem2>) and receiving (<mem3>)."""

    read: tuple[str, ...]
    write: tuple[str, ...]
    receive: tuple[str, ...]

    @property
    def sweep(self) -> tuple[str, ...]:
        """The memories a sweep reads (received SMS and status reports), in reading order."""
        return tuple(m for m in READ_ORDER if m in self.read)

    def storage(self) -> tuple[str, str, str]:
        """The <mem1>, <mem2>, <mem3> we ask for: received SMS in the modem's memory when it has one."""
        receive = next((m for m in RECEIVE_PREFERENCE if m in self.receive), self.receive[0])
        write = receive if receive in self.write else self.write[0]
        read = receive if receive in self.read else self.read[0]
        return read, write, receive


def parse_offer(lines: list[str]) -> Offer | None:
    """The ``+CPMS: ("SM","ME","SR"),("SM","ME"),("SM","ME")`` line as an ``Offer`` (None: none or odd)."""
    line = next((ln for ln in lines if ln.startswith("+CPMS:")), "")
    groups = [tuple(n.upper() for n in _NAME.findall(g)) for g in _GROUP.findall(line)]
    groups = [g for g in groups if g]
    if not groups:
        return None
    while len(groups) < 3:
        groups.append(groups[-1])
    return Offer(groups[0], groups[1], groups[2])


def parse_notice(line: str) -> tuple[str, str, int] | None:
    """``+CMTI: "SM",3`` → ("CMTI", "SM", 3); ``+CDSI: "SR",5`` → ("CDSI", "SR", 5); else None."""
    match = _NOTICE.match(line.strip())
    if not match:
        return None
    return match.group(1).upper(), match.group(2).upper(), int(match.group(3))


def in_memory(memory: str, command: str) -> str:
    """``AT+CMGL=4`` run in ``memory``: ``AT+CPMS="SM";+CMGL=4`` ("" memory: the command as it is)."""
    if not memory:
        return command
    return f'AT+CPMS="{memory}";{command[2:]}'


def was_full(lines: list[str]) -> bool:
    """True when the ``+CPMS: <used>,<total>,…`` of an ``AT+CPMS="X";…`` reply shows memory X full (the
    network may then be holding more for it)."""
    match = next((m for m in map(_CPMS_FILL.match, lines) if m), None)
    if match is None:
        return False
    used, total = int(match.group(1)), int(match.group(2))
    return 0 < total <= used


def is_boot_line(line: str) -> bool:
    """True for a line a modem sends when it starts (a sign that it reset behind our back)."""
    return line.strip().startswith(BOOT_PREFIXES)


@dataclass(frozen=True)
class Settings:
    """The modem settings a reset loses and we watch: ``+CNMI`` and the <mem2>/<mem3> of ``+CPMS``."""

    cnmi: tuple[int, ...] | None
    storage: tuple[str, ...] | None  # (<mem2>, <mem3>); <mem1> changes with every read

    def differs_from(self, expected: Settings) -> str:
        """What changed since ``expected`` (""  when nothing did), for the log."""
        changes = []
        if expected.cnmi is not None and self.cnmi != expected.cnmi:
            changes.append(f"+CNMI {_text(self.cnmi)} (set {_text(expected.cnmi)})")
        if expected.storage is not None and self.storage != expected.storage:
            changes.append(f"+CPMS {_text(self.storage)} (set {_text(expected.storage)})")
        return ", ".join(changes)


def parse_settings(cnmi_lines: list[str], cpms_lines: list[str]) -> Settings:
    """``Settings`` from the replies to ``AT+CNMI?`` and ``AT+CPMS?`` (fields None when not understood)."""
    cnmi = None
    match = next((m for m in map(_CNMI.match, (ln.strip() for ln in cnmi_lines)) if m), None)
    if match:
        cnmi = tuple(int(v) for v in match.group(1).replace(" ", "").split(",") if v)
    storage = None
    found = next((m for m in map(_CPMS.match, cpms_lines) if m), None)
    if found and found.group(3):
        storage = (found.group(2).upper(), found.group(3).upper())
    return Settings(cnmi, storage)


def _text(values: tuple[object, ...] | None) -> str:
    return "?" if values is None else ",".join(str(v) for v in values)
