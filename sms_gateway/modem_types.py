"""What the modem adapter hands to the gateway: received parts, events, send results, status, errors."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime

from dossier.errors import HardwareUnavailable, MotcuaError, NeedsTechnician, TemporaryError

__all__ = [
    "DeliveryReport",
    "HardwareUnavailable",
    "MessageRejected",
    "ModemDown",
    "ModemEvent",
    "ModemStatus",
    "ModemUp",
    "Received",
    "SendFailed",
    "SendResult",
    "SendTimeout",
    "SimLocked",
    "mask_number",
]


def mask_number(number: str) -> str:
    """A phone number fit for logs: its last 3 digits only (``***678``); short numbers fully masked."""
    if len(number) <= 6:
        return "*" * len(number)
    return "***" + number[-3:]


@dataclass(frozen=True)
class Received:
    """One received SMS part, read from the SIM; undecodable PDUs come with ``decode_error`` set."""

    raw_pdu_hex: str
    sender: str
    text: str
    received_at: datetime | None  # the service centre's timestamp
    storage_index: int
    concat: tuple[int, int, int] | None  # (reference, total parts, this part's number)
    encoding: str  # gsm7 | ucs2 | 8bit | "" when undecodable
    decode_error: str = ""
    modem: str = ""  # port of the modem that received it
    concat_ref16: bool = False
    storage_memory: str = ""  # the modem memory it was read from ("SM", "ME", …; "" direct or unknown)

    @property
    def dedup_key(self) -> str:
        """Stable identity of this part (a re-read after a crash before deletion gives the same key)."""
        return hashlib.sha256(self.raw_pdu_hex.upper().encode()).hexdigest()[:32]


@dataclass(frozen=True)
class DeliveryReport:
    """The network's report on a part we sent: ``status`` 0 = delivered, >= 0x40 = failed for good."""

    message_ref: int
    status: int
    to: str
    at: datetime | None  # when the service centre finished with it
    modem: str = ""
    raw_pdu_hex: str = ""  # the report as the modem stored it ("" when it came as a text-mode line)

    @property
    def delivered(self) -> bool:
        """True when the part reached the phone."""
        return self.status == 0

    @property
    def final(self) -> bool:
        """True when no further report will follow for this part."""
        return self.status < 0x20 or self.status >= 0x40

    @property
    def dedup_key(self) -> str:
        """Stable identity of this report (re-read after a crash before deletion: same key); "" if raw unknown."""
        if not self.raw_pdu_hex:
            return ""
        return hashlib.sha256(f"{self.modem}\x00{self.raw_pdu_hex.upper()}".encode()).hexdigest()[:32]


@dataclass(frozen=True)
class ModemUp:
    """The modem was opened, initialised and its memories read once (first time or after a reconnect)."""

    modem: str
    manufacturer: str = ""
    model: str = ""


@dataclass(frozen=True)
class ModemDown:
    """The modem was lost (unplugged, reader dead, commands timing out); a reconnect is under way."""

    modem: str
    reason: str


ModemEvent = Received | DeliveryReport | ModemUp | ModemDown


@dataclass(frozen=True)
class SendResult:
    """Accepted by the network: one message reference per part, in order."""

    message_refs: tuple[int, ...]
    parts: int


@dataclass(frozen=True)
class ModemStatus:
    """A snapshot of one modem's health for ``motcua sms status`` and the health exporter."""

    port: str
    connected: bool
    manufacturer: str = ""
    model: str = ""
    signal: int | None = None  # +CSQ 0..31, None unknown
    registration: str = "unknown"  # home | roaming | searching | denied | not registered | unknown
    operator: str = ""
    sim_state: str = "unknown"  # READY | SIM PIN | SIM PUK | PIN wrong | unknown
    smsc: str = ""  # SMS centre number the modem uses (+CSCA), "" unknown
    storage_used: int | None = None
    storage_total: int | None = None
    last_send_at: datetime | None = None
    last_receive_at: datetime | None = None
    sent_parts: int = 0
    received_parts: int = 0
    send_errors: int = 0
    decode_errors: int = 0
    store_failures: int = 0
    command_timeouts: int = 0
    reconnects: int = 0
    connect_attempts: int = 0  # times the port was (to be) opened, successful or not
    resets_seen: int = 0  # times the modem showed signs of a reset and its settings were re-applied
    last_error: str = ""
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def signal_percent(self) -> int | None:
        """Signal as 0-100 (None when unknown)."""
        return None if self.signal is None or self.signal > 31 else round(self.signal * 100 / 31)


class SendFailed(TemporaryError):
    """The modem or network refused a part (``+CMS ERROR``) for a reason that may pass; retry later."""

    def __init__(self, message: str, *, code: int | None = None, parts_sent: int = 0) -> None:
        super().__init__(message)
        self.code = code
        self.parts_sent = parts_sent


class SendTimeout(SendFailed):
    """No answer in time while sending; the part MAY have gone out (retrying can duplicate it)."""


class MessageRejected(MotcuaError):
    """The message can never be sent as it is (bad number, unencodable text, barred); do not retry."""

    def __init__(self, message: str, *, code: int | None = None, parts_sent: int = 0) -> None:
        super().__init__(message)
        self.code = code
        self.parts_sent = parts_sent


class SimLocked(NeedsTechnician):
    """The SIM wants a PIN/PUK we do not have, or refused the configured PIN (never retried)."""
