"""Dossier code parsing: what people and scanners really produce."""

from __future__ import annotations

import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dossier.codes import CodeParser, DossierCode, parse_code
from dossier.errors import ConfigError, InvalidCode

CANON = "000.00.15.H56-240315-0001"


@pytest.mark.parametrize(
    "text",
    [
        CANON,
        "000.00.15.h56-240315-0001",
        "000 00 15 H56 240315 0001",
        "0000015H562403150001",
        "000_00_15_H56/240315/0001",
        "OOO.OO.15.H56-24O315-OOO1",
        "０００.００.１５.Ｈ５６－２４０３１５－０００１",
        "Tra cứu hồ sơ 000.00.15.H56-240315-0001 giúp tôi với",
        "HS000.00.15.H56-240315-0001",
        "https://dichvucong.hanam.gov.vn/tra-cuu?ma_ho_so=000.00.15.H56-240315-0001&lang=vi",
        "https://dichvucong.hanam.gov.vn/hoso/000.00.15.H56-240315-0001",
        "https://x.vn/tra-cuu?ma=000.00.15.H56%2D240315%2D0001",
        "]Q1https://x.vn/h/000.00.15.H56-240315-0001",
        "]C0000.00.15.H56-240315-0001",
        "000.00.15.H 56 - 240315 - 0001",
    ],
)
def test_accepts_what_people_and_scanners_produce(text: str) -> None:
    assert parse_code(text).value == CANON


def test_parts_of_a_national_code() -> None:
    code = parse_code(CANON)
    assert code.agency == "000.00.15.H56"
    assert code.received is not None and code.received.isoformat() == "2024-03-15"
    assert code.sequence == 1


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("000.00.15.H56-241315-0001", "15/13/24 is not a date"),
        ("000.00.15.H56-240230-0001", "30/02/24 is not a date"),
        ("000.00.15.H56-240315-0000", "sequence number 0000"),
        ("hello", "no dossier code found"),
        ("", "no dossier code found"),
        ("000.00.15.H56-240315-001", "no dossier code found"),
    ],
)
def test_invalid_input_gets_a_reason(text: str, reason: str) -> None:
    with pytest.raises(InvalidCode) as info:
        parse_code(text)
    assert reason in info.value.reason


def test_too_long_text_is_refused_quickly() -> None:
    with pytest.raises(InvalidCode, match="too long"):
        parse_code("x" * 100_000)


def test_extra_patterns_are_configurable() -> None:
    parser = CodeParser([r"\d{5}/\d{4}/\d{5}"])
    code = parser.parse("Mã hồ sơ BHXH: 03706/2026/07906")
    assert code == DossierCode("03706/2026/07906", scheme="custom")
    assert parser.parse(CANON).value == CANON
    with pytest.raises(InvalidCode):
        parse_code("03706/2026/07906")


@pytest.mark.parametrize("bad", ["(", ".*"])
def test_bad_extra_pattern_is_a_config_error(bad: str) -> None:
    with pytest.raises(ConfigError, match="codes.extra_patterns"):
        CodeParser([bad])


def test_find_all_returns_each_code_once() -> None:
    text = f"{CANON} and 000.17.22.H56-210531-0001 and again {CANON.lower()}"
    assert [c.value for c in CodeParser().find_all(text)] == [CANON, "000.17.22.H56-210531-0001"]


# --- property: any valid code survives any allowed mangling ---------------------------------------

digits = st.text(alphabet=string.digits, min_size=1, max_size=1)


@st.composite
def valid_codes(draw: st.DrawFn) -> str:
    a = draw(st.text(alphabet=string.digits, min_size=3, max_size=3))
    b = draw(st.text(alphabet=string.digits, min_size=2, max_size=2))
    c = draw(st.text(alphabet=string.digits, min_size=2, max_size=2))
    letter = draw(st.sampled_from("GHAKX"))
    nn = draw(st.text(alphabet=string.digits, min_size=2, max_size=2))
    day = draw(
        st.dates(
            min_value=__import__("datetime").date(2000, 1, 1),
            max_value=__import__("datetime").date(2099, 12, 31),
        )
    )
    seq = draw(st.integers(min_value=1, max_value=9999))
    return f"{a}.{b}.{c}.{letter}{nn}-{day:%y%m%d}-{seq:04d}"


SEPARATORS = ["", " ", ".", "-", "_", "/", " - ", ". ", ",", "–"]
FULLWIDTH = {chr(c): chr(c + 0xFEE0) for c in range(0x21, 0x7F)}


@st.composite
def mangled(draw: st.DrawFn) -> tuple[str, str]:
    code = draw(valid_codes())
    groups = code.replace("-", ".").split(".")  # a b c Xnn yymmdd nnnn
    seps = [draw(st.sampled_from(SEPARATORS)) for _ in range(len(groups) - 1)]
    text = groups[0] + "".join(s + g for s, g in zip(seps, groups[1:], strict=True))
    if draw(st.booleans()):
        text = text.lower()
    if draw(st.booleans()):  # letter O for zero, only in digit positions
        text = "".join("O" if ch == "0" and draw(st.booleans()) else ch for ch in text)
    if draw(st.booleans()):
        text = "".join(FULLWIDTH.get(ch, ch) for ch in text)
    before = draw(
        st.sampled_from(["", "HS ", "tra cứu ", "Mã hồ sơ: ", "https://dvc.gov.vn/tra-cuu?ma=", "đăng ký "])
    )
    after = draw(st.sampled_from(["", " ", " cảm ơn", "!", " 1234", "&x=1"]))
    return code, before + text + after


@settings(max_examples=400, deadline=None)
@given(mangled())
def test_any_valid_code_survives_any_allowed_mangling(case: tuple[str, str]) -> None:
    code, text = case
    assert parse_code(text).value == code
