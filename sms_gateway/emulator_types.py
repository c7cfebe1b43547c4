"""Plain data of the modem emulator: its identity, its fault switches, what it sent."""

from __future__ import annotations

from dataclasses import dataclass, field

from sms_gateway import pdu

MEMORIES = ("SM", "ME", "MT", "SR")


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
    reset_at_command: str = ""  # one-shot: the modem resets on the next command starting with this text


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
    at: float = 0.0  # the emulator's clock when the network took the part (busy for seconds_per_part)


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
    report_delay: float = 0.05  # seconds from an accepted part to its status report
    urc_gap: float = 0.05  # seconds between two unsolicited lines (unless the double_cmti fault is on)


@dataclass
class ModemProfile:
    """How one model of modem behaves at power-on (after a replug or a reset) and which memories it has.

    Real USB modems differ: most come up storing received SMS on the SIM ("SM") with no notices at all,
    some deliver them directly (``+CMT``); some announce themselves (``RDY``), most say nothing. Each
    memory has its own capacity; "MT" (if offered) is the view of "SM" followed by "ME".
    """

    capacity: dict[str, int] = field(default_factory=lambda: {"SM": 30, "ME": 100, "SR": 20})
    read_memories: tuple[str, ...] = ("SM", "ME", "SR")  # <mem1>: list, read, delete
    write_memories: tuple[str, ...] = ("SM", "ME")  # <mem2>: write and send from storage
    receive_memories: tuple[str, ...] = ("SM", "ME")  # <mem3>: where received SMS are stored
    preferred: tuple[str, str, str] = ("SM", "SM", "SM")  # power-on <mem1>, <mem2>, <mem3>
    cnmi: tuple[int, int, int, int, int] = (0, 0, 0, 0, 0)  # power-on +CNMI: no notices at all
    echo: bool = True  # power-on echo (ATE1)
    report_memory: str = "SR"  # where stored status reports go ("" = with received SMS, in <mem3>)
    boot_urcs: tuple[str, ...] = ()  # lines sent at power-on, e.g. ("RDY", "+CFUN: 1", "SMS Ready")

    def __post_init__(self) -> None:
        known = set(self.capacity) | {"MT"}
        for name in (*self.read_memories, *self.write_memories, *self.receive_memories, *self.preferred):
            if name not in MEMORIES or name not in known:
                raise ValueError(f"memory {name!r} is not one this modem has")
        if "MT" in (*self.read_memories, *self.receive_memories) and not {"SM", "ME"} <= set(self.capacity):
            raise ValueError('"MT" needs both "SM" and "ME"')
        if self.report_memory and self.report_memory not in self.capacity:
            raise ValueError(f"report memory {self.report_memory!r} has no capacity")
