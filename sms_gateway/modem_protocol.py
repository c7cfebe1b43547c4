"""Pure AT-reply parsing for the modem adapter: ``+CMGL`` listings, ``+CMGS`` references, status queries."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from typing import Any, Protocol

from sms_gateway import pdu
from sms_gateway.modem_types import DeliveryReport, Received

log = logging.getLogger("sms_gateway.modem")

# +CMS codes after which the same message will never go through (23.040 / 27.005)
PERMANENT_CMS = frozenset(
    {1, 8, 10, 21, 29, 50, 96, 301, 302, 303, 304, 305, 310, 311, 312, 313, 316, 317, 318, 330}
)
# lines a modem may emit at any moment, also in the middle of a command's reply (boot lines included)
URC_PREFIXES = (
    "+CMTI:", "+CDSI:", "+CDS:", "+CMT:", "RING", "+CIEV:", "^RSSI", "^BOOT", "^MODE", "^SRVST",
    "RDY", "SMS Ready", "Call Ready", "PB DONE", "^SYSSTART",
)  # fmt: skip
# unsolicited lines followed by a PDU line that belongs to them
URC_WITH_PDU = ("+CDS:", "+CMT:")
REGISTRATION = {0: "not registered", 1: "home", 2: "searching", 3: "denied", 4: "unknown", 5: "roaming"}
_CMGL = re.compile(r"^\+CMGL:\s*(\d+)\s*,\s*(\d+)\s*,")
_CMGS = re.compile(r"^\+CMGS:\s*(\d+)")

# (command, reply pattern, reply match → ModemStatus fields)
STATUS_QUERIES: tuple[tuple[str, re.Pattern[str], Callable[[re.Match[str]], dict[str, Any]]], ...] = (
    ("AT+CSQ", re.compile(r"^\+CSQ:\s*(\d+),"), lambda m: {"signal": None if int(m[1]) == 99 else int(m[1])}),
    (
        "AT+CREG?",
        re.compile(r"^\+CREG:\s*\d,\s*(\d)"),
        lambda m: {"registration": REGISTRATION.get(int(m[1]), "unknown")},
    ),
    ("AT+COPS?", re.compile(r'^\+COPS:\s*\d,\d,"([^"]*)"'), lambda m: {"operator": m[1]}),
    (  # the fill of <mem3>, where received SMS go (of <mem1> on a modem that gives only one)
        "AT+CPMS?",
        re.compile(r'^\+CPMS:\s*"\w+",(\d+),(\d+)(?:,"\w+",\d+,\d+,"\w+",(\d+),(\d+))?'),
        lambda m: {"storage_used": int(m[3] or m[1]), "storage_total": int(m[4] or m[2])},
    ),
    ("AT+CSCA?", re.compile(r'^\+CSCA:\s*"([^"]*)"'), lambda m: {"smsc": m[1]}),
)


def parse_cmgl(lines: list[str]) -> list[tuple[int, int, str]]:
    """``+CMGL: <index>,<stat>,[<alpha>],<length>`` then the PDU line → (index, stat, PDU text).

    Whatever line follows a header is taken as its PDU, even garbage: it is then kept raw, not skipped."""
    out: list[tuple[int, int, str]] = []
    pending: tuple[int, int] | None = None
    for line in lines:
        match = _CMGL.match(line)
        if match:
            pending = (int(match.group(1)), int(match.group(2)))
        elif pending is not None and line.strip() not in ("OK", "ERROR"):
            out.append((pending[0], pending[1], line.strip()))
            pending = None
    return out


def parse_cmgs(lines: list[str]) -> int | None:
    """The message reference from a ``+CMGS: <mr>`` reply, or None."""
    match = next((m for m in map(_CMGS.match, lines) if m), None)
    return int(match.group(1)) if match else None


def status_changes(query: re.Pattern[str], apply: Callable[[re.Match[str]], dict[str, Any]],
                   lines: list[str]) -> dict[str, Any]:  # fmt: skip
    """The ``ModemStatus`` fields a status query's reply gives (empty if the reply does not match)."""
    match = next((m for m in map(query.match, lines) if m), None)
    return apply(match) if match else {}


def is_status_report(pdu_hex: str) -> bool:
    """True when a stored PDU is an SMS-STATUS-REPORT (message type indicator 2)."""
    try:
        data = bytes.fromhex(pdu_hex)
        return data[1 + data[0]] & 0x03 == 0x02
    except (ValueError, IndexError):
        return False


def received_from_pdu(pdu_hex: str, index: int, modem: str, memory: str = "") -> Received:
    """Decode a stored SMS-DELIVER with our decoder; anything undecodable is kept raw with the reason."""
    try:
        msg = pdu.decode(pdu_hex)
        if not isinstance(msg, pdu.Deliver):
            raise pdu.PduError(f"unexpected {type(msg).__name__} in the inbox")
    except pdu.PduError as err:
        return Received(pdu_hex, "", "", None, index, None, "", decode_error=str(err), modem=modem,
                        storage_memory=memory)  # fmt: skip
    concat = (msg.concat.ref, msg.concat.total, msg.concat.seq) if msg.concat else None
    return Received(
        pdu_hex,
        msg.sender,
        msg.text,
        msg.timestamp,
        index,
        concat,
        msg.encoding,
        modem=modem,
        concat_ref16=bool(msg.concat and msg.concat.ref16),
        storage_memory=memory,
    )


def report_from_pdu(pdu_hex: str, modem: str) -> DeliveryReport | None:
    """A stored or routed SMS-STATUS-REPORT as a ``DeliveryReport`` (None: the PDU is something else).

    Raises ``pdu.PduError`` when the PDU cannot be decoded."""
    report = pdu.decode(pdu_hex)
    if not isinstance(report, pdu.StatusReport):
        return None
    return DeliveryReport(
        report.message_ref, report.status, report.recipient, report.discharged_at, modem, pdu_hex.strip()
    )


class _Port(Protocol):
    """The part of a ``serial.Serial`` that ``cancel_pending_input`` uses."""

    port: str | None
    timeout: float | None

    def write(self, data: bytes, /) -> int | None: ...

    def read(self, size: int = 1, /) -> bytes: ...


def cancel_pending_input(port: _Port, esc: bytes, *, quiet: float = 0.3, limit: float = 3.0) -> int:
    """Write ESC and drop what the modem still sends until it is quiet for ``quiet`` s (at most ``limit``).

    ESC at the ``> `` prompt of an ``AT+CMGS`` that a dead process left open cancels that send (nothing
    goes out; the modem answers OK); elsewhere modems ignore it. Returns the number of bytes dropped."""
    port.write(esc)
    saved, port.timeout = port.timeout, 0.05
    dropped = 0
    try:
        start = last = time.monotonic()
        while time.monotonic() - last < quiet and time.monotonic() - start < limit:
            data = port.read(4096)
            if data:
                dropped += len(data)
                last = time.monotonic()
    finally:
        port.timeout = saved
    if dropped:
        log.debug("dropped %d stale byte(s) from %s before init", dropped, port.port)
    return dropped


def describe_error(err: BaseException) -> str:
    """One short line for logs and status: the message's first line, or the exception's type name."""
    return (str(err) or type(err).__name__).splitlines()[0][:200]
