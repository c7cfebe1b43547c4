"""Reassembly of concatenated parts: complete, out of order, duplicates, timeout, split surrogates."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from sms_gateway import pdu
from sms_gateway.modem_types import Received
from sms_gateway.reassembly import MISSING_MARK, Part, assemble

TS = datetime(2024, 3, 15, 10, 0, tzinfo=UTC)


def parts_of(
    sender: str, text: str, *, ref: int = 5, unicode: bool | None = None, t0: float = 0.0
) -> list[Part]:
    out = []
    for i, encoded in enumerate(
        pdu.encode_deliver(sender, text, timestamp=TS, concat_ref=ref, unicode=unicode)
    ):
        d = pdu.decode(encoded.hex)
        assert isinstance(d, pdu.Deliver)
        concat = (d.concat.ref, d.concat.total, d.concat.seq) if d.concat else None
        received = Received(encoded.hex, d.sender, d.text, d.timestamp, i, concat, d.encoding)
        out.append(Part.from_received(received, key=(sender, ref, i), arrived=t0 + i))
    return out


def test_single_part_is_complete_at_once() -> None:
    done, waiting = assemble(parts_of("0912345678", "HS 1"), now=0, timeout=60)
    assert [(a.text, a.complete, a.total) for a in done] == [("HS 1", True, 1)] and waiting == []


@settings(max_examples=60, deadline=None)
@given(text=st.text(alphabet="abc đệ😀 ", min_size=71, max_size=400), order=st.randoms())
def test_out_of_order_parts_join(text: str, order: object) -> None:
    parts = parts_of("+84912345678", text, unicode=True)
    order.shuffle(parts)  # type: ignore[attr-defined]
    done, waiting = assemble(parts, now=1, timeout=60)
    assert waiting == [] and [a.text for a in done] == [text] and done[0].complete


def test_incomplete_waits_then_is_released_with_marks() -> None:
    parts = parts_of("0912345678", "x" * 400)  # 3 parts
    assert len(parts) == 3
    partial = [parts[0], parts[2]]
    done, waiting = assemble(partial, now=10, timeout=60)
    assert done == [] and waiting == partial
    done, waiting = assemble(partial, now=61, timeout=60)
    assert waiting == [] and len(done) == 1
    assert done[0].missing == (2,) and not done[0].complete
    assert done[0].text == "x" * 153 + MISSING_MARK + "x" * (400 - 306)
    assert set(done[0].part_keys) == {p.key for p in partial}


def test_same_reference_from_two_senders_does_not_mix() -> None:
    a = parts_of("0911111111", "a" * 200, ref=9)
    b = parts_of("0922222222", "b" * 200, ref=9)
    done, waiting = assemble(a + b, now=5, timeout=60)
    assert sorted(x.text for x in done) == ["a" * 200, "b" * 200] and waiting == []


def test_duplicate_part_is_consumed_once() -> None:
    parts = parts_of("0912345678", "z" * 200)
    dup = Part("dup", parts[0].sender, parts[0].text, parts[0].concat, 3.0, parts[0].encoding)
    done, _ = assemble(parts + [dup], now=5, timeout=60)
    assert done[0].text == "z" * 200 and "dup" in done[0].part_keys


def test_surrogate_pair_split_by_a_sender_survives() -> None:
    # Some phones split UCS-2 by octets, cutting an emoji's surrogate pair in two parts.
    data = ("a" * 66 + "😀" + "b").encode("utf-16-be")
    halves = [data[:134], data[134:]]
    parts = []
    for seq, half in enumerate(halves, start=1):
        udh = bytes([5, 0, 3, 1, 2, seq])
        tpdu = bytes([0x44]) + pdu.encode_address("+84912345678") + bytes([0, 8]) + pdu.encode_timestamp(TS)
        tpdu += bytes([len(udh) + len(half)]) + udh + half
        hex_ = "00" + tpdu.hex()
        d = pdu.decode(hex_)
        assert isinstance(d, pdu.Deliver) and d.concat is not None
        parts.append(Part(seq, d.sender, d.text, (1, 2, seq), float(seq), d.encoding, hex_))
    done, _ = assemble(parts, now=3, timeout=60)
    assert done[0].text == "a" * 66 + "😀" + "b"
