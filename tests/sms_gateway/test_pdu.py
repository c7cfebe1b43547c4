"""PDU encode/decode: known vectors, round trips (hypothesis), and the library bug we do not share."""

from __future__ import annotations

import contextlib
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dossier import gsm7
from sms_gateway import pdu

VN = timezone(timedelta(hours=7))
TS = datetime(2024, 3, 15, 10, 0, 5, tzinfo=VN)
GSM7_CHARS = sorted(gsm7.iter_gsm7_chars())
VIETNAMESE = "ạảấầẩẫậắằẳẵặẹẻẽếềểễệỉịọỏốồổỗộớờởỡợụủứừửữựỳỵỷỹđĐăâêôơư"
numbers = st.one_of(
    st.from_regex(r"\+84[0-9]{9}", fullmatch=True),
    st.from_regex(r"0[0-9]{9}", fullmatch=True),
    st.from_regex(r"[0-9]{3,6}", fullmatch=True),
)
gsm7_text = st.text(alphabet=st.sampled_from(GSM7_CHARS), min_size=0, max_size=500)
unicode_text = st.text(
    alphabet=st.one_of(st.sampled_from(VIETNAMESE + "abc xyz"), st.sampled_from("😀🙏🇻🇳€")),
    min_size=1,
    max_size=300,
)


def test_known_deliver_vector() -> None:
    # The classic "hellohello" SMS-DELIVER from the GSM 03.40 tutorials.
    msg = pdu.decode("07917283010010F5040BC87238880900F10000993092516195800AE8329BFD4697D9EC37")
    assert isinstance(msg, pdu.Deliver)
    assert msg.text == "hellohello"
    assert msg.sender == "27838890001"
    assert msg.smsc == "+27381000015"
    assert msg.timestamp == datetime(1999, 3, 29, 15, 16, 59, tzinfo=timezone(timedelta(hours=2)))


def test_extension_characters_take_two_septets() -> None:
    assert gsm7.septet_length("{€}") == 6
    assert gsm7.segments("€" * 80) == 1
    assert gsm7.segments("€" * 81) == 2
    assert gsm7.segments("a" * 160) == 1 and gsm7.segments("a" * 161) == 2
    assert gsm7.segments("a" * 306) == 2 and gsm7.segments("a" * 307) == 3
    assert gsm7.segments("ệ" * 70) == 1 and gsm7.segments("ệ" * 71) == 2
    assert gsm7.segments("😀" * 35) == 1 and gsm7.segments("😀" * 36) == 2
    assert gsm7.segments("") == 1


def test_escape_pair_never_split() -> None:
    parts = gsm7.split_gsm7("a" * 152 + "€€", 153)
    assert parts == ["a" * 152, "€€"]


def test_vietnamese_needs_ucs2_and_dd_is_not_gsm7() -> None:
    assert not gsm7.is_gsm7("tra cứu") and not gsm7.is_gsm7("đ")
    assert gsm7.is_gsm7("tra cuu HS 000.00.15.H56-240315-0001")


@settings(max_examples=150, deadline=None)
@given(number=numbers, text=gsm7_text, ref=st.integers(0, 65535), ref16=st.booleans(), report=st.booleans())
def test_submit_round_trip_gsm7(number: str, text: str, ref: int, ref16: bool, report: bool) -> None:
    pdus = pdu.encode_submit(number, text, concat_ref=ref, ref16=ref16, request_report=report, message_ref=9)
    decoded = [pdu.decode(p.hex) for p in pdus]
    assert all(isinstance(d, pdu.Submit) and d.to == number and d.request_report == report for d in decoded)
    assert "".join(d.text for d in decoded) == text
    assert len(pdus) == gsm7.segments(text)
    for p in pdus:
        assert p.tpdu_length == pdu.tpdu_length(p.hex) <= 140
    if len(pdus) > 1:
        assert [d.concat.seq for d in decoded] == list(range(1, len(pdus) + 1))  # type: ignore[union-attr]
        assert {d.concat.ref for d in decoded} == {ref if ref16 else ref % 256}  # type: ignore[union-attr]


@settings(max_examples=150, deadline=None)
@given(number=numbers, text=unicode_text, ref16=st.booleans())
def test_deliver_round_trip_ucs2(number: str, text: str, ref16: bool) -> None:
    pdus = pdu.encode_deliver(number, text, timestamp=TS, concat_ref=77, ref16=ref16, unicode=True)
    decoded = [pdu.decode(p.hex) for p in pdus]
    assert all(isinstance(d, pdu.Deliver) and d.encoding == pdu.UCS2 for d in decoded)
    assert "".join(d.text for d in decoded) == text
    assert all(d.timestamp == TS and d.sender == number for d in decoded)  # type: ignore[union-attr]
    assert all(p.tpdu_length <= 140 + 28 for p in pdus)


@settings(max_examples=150, deadline=None)
@given(text=gsm7_text, ref16=st.booleans())
def test_deliver_round_trip_gsm7_with_concat(text: str, ref16: bool) -> None:
    pdus = pdu.encode_deliver("+84912345678", text, timestamp=TS, concat_ref=300, ref16=ref16)
    assert "".join(pdu.decode(p.hex).text for p in pdus) == text


@given(data=st.binary(min_size=0, max_size=140))
def test_eight_bit_data(data: bytes) -> None:
    (one,) = pdu.encode_deliver("+84912345678", "", timestamp=TS, data=data)
    msg = pdu.decode(one.hex)
    assert isinstance(msg, pdu.Deliver) and msg.encoding == pdu.DATA8 and msg.payload == data


def test_alphanumeric_sender() -> None:
    (one,) = pdu.encode_deliver("VIETTEL", "Khuyen mai", timestamp=TS)
    msg = pdu.decode(one.hex)
    assert isinstance(msg, pdu.Deliver) and msg.sender == "VIETTEL" and msg.text == "Khuyen mai"


def test_status_report_round_trip() -> None:
    done = TS + timedelta(seconds=4)
    encoded = pdu.encode_status_report(42, "+84912345678", sent_at=TS, discharged_at=done, status=0x41)
    report = pdu.decode(encoded.hex)
    assert isinstance(report, pdu.StatusReport)
    assert (report.message_ref, report.recipient, report.status) == (42, "+84912345678", 0x41)
    assert report.discharged_at == done and not report.delivered and report.final


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "zz",
        "0791",
        "07914889200030F0040B914819325476F80000",
        "00",
        "0791448720003023240DD0E474D81C0EBB010000",
    ],
)
def test_malformed_pdus_raise_pdu_error(bad: str) -> None:
    with pytest.raises(pdu.PduError):
        pdu.decode(bad)


@given(blob=st.binary(max_size=200))
def test_decoder_never_raises_anything_but_pdu_error(blob: bytes) -> None:
    with contextlib.suppress(pdu.PduError):
        pdu.decode(blob.hex())


def test_truncated_user_data_is_an_error_not_a_guess() -> None:
    (one,) = pdu.encode_deliver("+84912345678", "x" * 100, timestamp=TS)
    with pytest.raises(pdu.PduError, match="truncated"):
        pdu.decode(one.hex[:-20])


def test_library_loses_first_char_of_16bit_ref_gsm7_but_we_do_not() -> None:
    from gsmmodem.pdu import decodeSmsPdu  # the bug this module exists to avoid

    text = "HS 000.00.15.H56-240315-0001 " + "abcdefghij" * 16
    pdus = pdu.encode_deliver("+84912345678", text, timestamp=TS, concat_ref=4660, ref16=True)
    assert "".join(pdu.decode(p.hex).text for p in pdus) == text
    assert "".join(decodeSmsPdu(p.hex)["text"] for p in pdus) != text
