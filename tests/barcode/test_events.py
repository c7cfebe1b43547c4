"""Code extraction into ScanEvents: good payloads give a code, bad ones a reason, nothing raises."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from barcode.events import NOT_A_CODE, CodeExtractor, aim_symbology
from dossier.codes import CodeParser

CODE = "000.00.15.H56-240315-0001"
AT = datetime(2024, 3, 15, 8, 0, tzinfo=UTC)


@pytest.fixture
def extractor() -> CodeExtractor:
    return CodeExtractor(clock=lambda: AT)


@pytest.mark.parametrize(
    "payload",
    [
        CODE,
        f"https://dichvucong.hanam.gov.vn/tra-cuu-ho-so/{CODE}",
        f"http://dvc.tiengiang.gov.vn/TraCuuHoSo.aspx?ma={CODE}&lang=vi",
        f"]Q1https://x.vn/{CODE}",
        f"]C0{CODE}",
        f"Giấy tiếp nhận hồ sơ — Mã hồ sơ: {CODE}",
        f"\x1d{CODE}\x1d",  # GS1 group separators around the code
        f"{CODE}\r\n",
        CODE.encode("utf-8"),
    ],
)
def test_payloads_with_a_code(extractor: CodeExtractor, payload: str | bytes) -> None:
    event = extractor.event(payload, source="camera", symbology="qr")
    assert event.ok and event.code is not None and event.code.value == CODE
    assert event.reason == "" and event.source == "camera" and event.at == AT
    assert event.key == CODE


@pytest.mark.parametrize(
    ("payload", "words"),
    [
        ("https://zalo.me/g/123456789", "no dossier code found"),
        ("000.00.15.H56-241399-0001", "not a date"),
        ("000.00.15.H56-240230-0001", "not a date"),
        ("", "empty payload"),
        ("   \x00\x00 ", "empty payload"),
        ("x" * 5000, "too long"),
        (b"\xff\xfe\x00\x81" + CODE.encode(), "binary"),
        ("8934567890120", "no dossier code found"),
    ],
)
def test_payloads_without_a_code_get_a_reason(
    extractor: CodeExtractor, payload: str | bytes, words: str
) -> None:
    event = extractor.event(payload, source="serial")
    assert event.code is None and not event.ok
    assert event.reason.startswith(NOT_A_CODE) and words in event.reason
    assert len(event.text) <= 520  # a huge payload is not carried around whole


def test_binary_flag_from_the_decoder_wins(extractor: CodeExtractor) -> None:
    event = extractor.event("ÿ\x00" + CODE, source="image", binary=True)
    assert event.code is None and "binary" in event.reason


def test_extra_patterns_from_config() -> None:
    extractor = CodeExtractor(CodeParser([r"\d{5}/\d{4}/\d{5}"]))
    assert extractor.event("03706/2026/07906", source="keyboard").code is not None


def test_aim_identifier_names_the_symbology(extractor: CodeExtractor) -> None:
    assert aim_symbology("]C0abc") == ("code128", "abc")
    assert aim_symbology("]Q1abc") == ("qr", "abc")
    assert aim_symbology("abc") == ("", "abc")
    assert extractor.event(f"]C0{CODE}", source="keyboard").symbology == "code128"


def test_describe_and_to_dict(extractor: CodeExtractor) -> None:
    event = extractor.event(CODE, source="keyboard", symbology="code128")
    assert CODE in event.describe() and "keyboard/code128" in event.describe()
    doc = event.to_dict()
    assert doc["code"] == CODE and doc["at"] == AT.isoformat() and doc["reason"] == ""


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=300), st.binary(max_size=300)))
def test_no_payload_raises(payload: str | bytes) -> None:
    event = CodeExtractor().event(payload, source="camera")
    assert (event.code is None) == bool(event.reason)
    if event.code is None:
        assert event.reason.startswith(NOT_A_CODE)


def test_long_payloads_are_kept_whole_and_only_the_screen_line_shortens() -> None:
    from barcode.events import CodeExtractor

    text = "https://dvc.example.vn/tra-cuu?" + "x" * 1500
    event = CodeExtractor().event(text, source="camera", symbology="qr")
    assert event.text == text and event.to_dict()["text"] == text
    line = event.describe()
    assert text not in line and f"({len(text)} characters)" in line
