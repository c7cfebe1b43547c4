"""Joining concatenated SMS parts: a pure function over stored parts and the current time."""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass

from sms_gateway import pdu
from sms_gateway.modem_types import Received

MISSING_MARK = "[...]"  # stands in for each part that never arrived


@dataclass(frozen=True)
class Part:
    """One stored part: ``key`` is the caller's identifier (e.g. its row id), ``arrived`` a local time."""

    key: Hashable
    sender: str
    text: str
    concat: tuple[int, int, int] | None  # (reference, total, sequence) or None for a single SMS
    arrived: float
    encoding: str = ""
    raw_pdu_hex: str = ""

    @classmethod
    def from_received(cls, received: Received, *, key: Hashable, arrived: float) -> Part:
        """A part from what the modem adapter handed over (``arrived``: when it was stored locally)."""
        return cls(
            key,
            received.sender,
            received.text,
            received.concat,
            arrived,
            received.encoding,
            received.raw_pdu_hex,
        )


@dataclass(frozen=True)
class Assembled:
    """A whole message (or what arrived of it before the timeout)."""

    sender: str
    text: str
    part_keys: tuple[Hashable, ...]  # every stored part consumed, duplicates included
    total: int
    missing: tuple[int, ...]  # sequence numbers that never arrived (empty when complete)
    first_arrived: float
    encoding: str

    @property
    def complete(self) -> bool:
        """True when every part arrived."""
        return not self.missing


def assemble(parts: Sequence[Part], now: float, timeout: float) -> tuple[list[Assembled], list[Part]]:
    """Group parts by (sender, reference, total); return whole or timed-out messages and parts still waiting."""
    groups: dict[tuple[str, int, int], list[Part]] = {}
    done: list[Assembled] = []
    for part in parts:
        if part.concat is None or part.concat[1] <= 1:
            done.append(
                Assembled(part.sender, part.text, (part.key,), 1, (), part.arrived, part.encoding),
            )
            continue
        ref, total, _seq = part.concat
        groups.setdefault((part.sender, ref, total), []).append(part)
    waiting: list[Part] = []
    for (sender, _ref, total), members in groups.items():
        by_seq: dict[int, Part] = {}
        for member in sorted(members, key=lambda p: p.arrived):
            assert member.concat is not None
            by_seq.setdefault(member.concat[2], member)
        missing = tuple(i for i in range(1, total + 1) if i not in by_seq)
        first = min(p.arrived for p in members)
        if missing and now - first < timeout:
            waiting.extend(members)
            continue
        ordered = [by_seq.get(i) for i in range(1, total + 1)]
        done.append(
            Assembled(
                sender=sender,
                text=_join(ordered),
                part_keys=tuple(p.key for p in members),
                total=total,
                missing=missing,
                first_arrived=first,
                encoding=next(p.encoding for p in ordered if p is not None),
            )
        )
    done.sort(key=lambda a: a.first_arrived)
    return done, waiting


def _join(ordered: list[Part | None]) -> str:
    """Join part texts; UCS-2 parts are joined as octets first so a surrogate pair split by a sender survives."""
    present = [p for p in ordered if p is not None]
    if (
        present
        and all(p.encoding == pdu.UCS2 and p.raw_pdu_hex for p in present)
        and len(present) == len(ordered)
    ):
        try:
            payloads = []
            for p in present:
                decoded = pdu.decode(p.raw_pdu_hex)
                if not isinstance(decoded, pdu.Deliver):
                    raise pdu.PduError("not a deliver")
                payloads.append(decoded.payload)
            return pdu.decode_ucs2(b"".join(payloads))
        except pdu.PduError:
            pass
    return "".join(MISSING_MARK if p is None else p.text for p in ordered)
