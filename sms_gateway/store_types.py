"""What the gateway database holds, as plain values: parts in, messages, SMS to send, claimed rows."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sms_gateway.modem_types import Received

Clock = Callable[[], float]

STATUS_KEY = "status.snapshot"  # meta key of the running gateway's status snapshot (``sms status``)
OUT_STATES = ("queued", "sending", "unconfirmed", "sent", "delivered", "failed")
# a message's states: new → answered | skipped (no reply, by rule) | set_aside (could not be handled)
MESSAGE_STATES = ("new", "answered", "skipped", "set_aside")


@dataclass(frozen=True, slots=True)
class PartIn:
    """One received SMS (or one part of a multipart SMS) as the modem read it, to be stored."""

    modem_id: str
    sender: str
    text: str
    pdu: str = ""  # the raw PDU in hex, kept for audit and re-decoding
    sc_time: str = ""  # the service centre time stamp, as given
    encoding: str = ""  # gsm7 | ucs2 | 8bit | "" (unknown)
    concat_ref: int | None = None
    concat_total: int | None = None
    concat_seq: int | None = None
    error: str = ""  # why the part could not be decoded (then ``text`` is empty)

    @classmethod
    def from_received(cls, modem_id: str, r: Received) -> PartIn:
        """The part as the modem adapter read it (``sms_gateway.modem_types.Received``)."""
        ref, total, seq = r.concat if r.concat else (None, None, None)
        return cls(
            modem_id=modem_id or r.modem,
            sender=r.sender,
            text=r.text,
            pdu=r.raw_pdu_hex.upper(),
            sc_time=r.received_at.isoformat() if r.received_at else "",
            encoding=r.encoding,
            concat_ref=ref,
            concat_total=total,
            concat_seq=seq,
            error=r.decode_error,
        )


@dataclass(frozen=True, slots=True)
class StoredPart:
    """An inbound part waiting for its siblings."""

    id: int
    modem_id: str
    sender: str
    received_at: float
    text: str
    encoding: str
    concat_ref: int | None
    concat_total: int | None
    concat_seq: int | None
    error: str
    pdu: str = ""


@dataclass(frozen=True, slots=True)
class NewMessage:
    """A whole inbound message made of stored parts."""

    part_ids: tuple[int, ...]
    modem_id: str
    sender: str
    phone: str  # the sender in national form for limits and subscriptions ("" if not a phone number)
    text: str
    received_at: float
    incomplete: bool = False
    encoding: str = ""


@dataclass(frozen=True, slots=True)
class Message:
    """A stored inbound message waiting to be handled."""

    id: int
    sender: str
    phone: str
    text: str
    received_at: float
    parts: int
    incomplete: bool
    body_key: str
    encoding: str = ""
    error: str = ""  # why one of its parts could not be decoded ("" when all could)


@dataclass(frozen=True, slots=True)
class Outgoing:
    """An SMS to queue."""

    recipient: str
    text: str
    kind: str  # reply | not_found | invalid | help | unavailable | notify
    phone: str = ""
    unicode: bool = False
    inbound_id: int | None = None
    event_key: str | None = None
    priority: int = 0  # lower first: replies 0, notifications 1
    not_before: float | None = None
    arrived_at: float | None = None


@dataclass(frozen=True, slots=True)
class OutRow:
    """A claimed outbox row, being sent by one modem worker."""

    id: int
    recipient: str
    text: str
    unicode: bool
    kind: str
    attempts: int


def body_key(phone: str, text: str) -> str:
    """Key of (sender, normalised text) for spotting the same message sent twice."""
    folded = " ".join(text.split()).upper()
    return hashlib.sha256(f"{phone}\x00{folded}".encode()).hexdigest()[:32]
