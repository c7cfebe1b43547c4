"""Plain data of the modem emulator: its identity, its fault switches, what it sent."""

from __future__ import annotations

from dataclasses import dataclass

from sms_gateway import pdu


@dataclass
class Faults:
    """Injectable misbehaviour; one-shot flags reset themselves once they have fired."""

    swallow_cmti_during_command: bool = False  # +CMTI held back and spliced into the next command's reply
    double_cmti: bool = False  # all pending unsolicited lines go out in one write
    non_utf8_byte: bool = False  # one-shot: emit a 0xFF byte line at the next idle moment
    undecodable_pdu: bool = False  # one-shot: the next message part is stored truncated
    cms_error_on_send: tuple[float, int] | None = None  # (count, or probability < 1, code) for AT+CMGS
    slow_replies: float = 0.0  # seconds before every reply
    storage_full: bool = False  # the SIM refuses new messages; the network holds and retries them
    status_report_during_command: bool = False  # +CDSI/+CDS spliced into the next command's reply
    concat_ref16_first_char: bool = False  # injected multipart GSM-7 texts use 16-bit references


@dataclass(frozen=True)
class SentPart:
    """One SMS-SUBMIT the client handed to the emulated network."""

    to: str
    text: str
    encoding: str
    concat: pdu.Concat | None
    message_ref: int
    pdu_hex: str
    request_report: bool


@dataclass(frozen=True)
class SentMessage:
    """A whole outgoing message reassembled from its parts."""

    to: str
    text: str
    parts: int
    message_refs: tuple[int, ...]
    encoding: str


@dataclass
class ModemIdentity:
    """What the emulated modem says about itself and its network."""

    manufacturer: str = "motcua"
    model: str = "EMU-900"
    revision: str = "1.0.0"
    imei: str = "356938035643809"
    imsi: str = "452040123456789"
    own_number: str = "+84900000001"
    smsc: str = "+84980200030"
    operator: str = "Viettel"
    signal: int = 21
    registration: int = 1
    pin: str = ""
    storage_slots: int = 30
    report_delay: float = 0.05  # seconds from an accepted part to its status report
    urc_gap: float = 0.05  # seconds between two unsolicited lines (unless the double_cmti fault is on)
