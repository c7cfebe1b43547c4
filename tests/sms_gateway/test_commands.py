"""Command parsing: keywords, codes in any mangling, second factor digits, and text that is not a command."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dossier.codes import CodeParser
from sms_gateway.commands import MAX_COMMAND_CHARS, CommandParser, Kind, parse_command

CODE = "000.00.15.H56-240315-0001"

KEYWORDS = {
    Kind.LOOKUP: [
        "HS",
        "hs",
        "Hs",
        "TC",
        "tc",
        "TRACUU",
        "tracuu",
        "tra cứu",
        "Tra Cứu",
        "TRA-CUU",
        "tra  cuu",
    ],
    Kind.SUBSCRIBE: ["DK", "dk", "đk", "ĐK", "đăng ký", "Dang ky", "DANGKY", "đăng-ký"],
    Kind.UNSUBSCRIBE: ["HUY", "huy", "hủy", "Hủy", "HỦY"],
}


@pytest.mark.parametrize(
    ("text", "kind", "code", "id4"),
    [
        (f"HS {CODE}", Kind.LOOKUP, CODE, ""),
        (f"hs{CODE.lower()}", Kind.LOOKUP, CODE, ""),
        ("Tra cứu: 000 00 15 H56 240315 0001", Kind.LOOKUP, CODE, ""),
        ("TC 000.00.15.H56-240315-0001 1234", Kind.LOOKUP, CODE, "1234"),
        ("HS 000.00.15.H56-240315-0001 0001", Kind.LOOKUP, CODE, "0001"),
        ("HS 000.00.15.H56-240315-0001 012345678901", Kind.LOOKUP, CODE, "8901"),
        (f"Cho hoi ho so {CODE} da xong chua?", Kind.LOOKUP, CODE, ""),
        (f"  {CODE}  ", Kind.LOOKUP, CODE, ""),
        (f"đăng ký {CODE}", Kind.SUBSCRIBE, CODE, ""),
        (f"ĐK,{CODE}", Kind.SUBSCRIBE, CODE, ""),
        (f"hủy {CODE}", Kind.UNSUBSCRIBE, CODE, ""),
        ("HUY", Kind.UNSUBSCRIBE, None, ""),
        ("Hủy.", Kind.UNSUBSCRIBE, None, ""),
        ("HD", Kind.HELP, None, ""),
        ("help", Kind.HELP, None, ""),
        ("?", Kind.HELP, None, ""),
        ("Hướng dẫn", Kind.HELP, None, ""),
        (f"HD {CODE}", Kind.LOOKUP, CODE, ""),
        ("xin chao", Kind.UNKNOWN, None, ""),
        ("HSO 123", Kind.UNKNOWN, None, ""),
        ("", Kind.UNKNOWN, None, ""),
    ],
)
def test_examples(text: str, kind: Kind, code: str | None, id4: str) -> None:
    cmd = parse_command(text)
    assert cmd.kind is kind
    assert (cmd.code.value if cmd.code else None) == code
    assert cmd.id4 == id4


def test_keyword_with_bad_code_keeps_kind_and_reason() -> None:
    cmd = parse_command("HS 000.00.15.H56-241315-0001")
    assert cmd.kind is Kind.LOOKUP and cmd.code is None
    assert "not a date" in cmd.reason
    cmd = parse_command("DK")
    assert cmd.kind is Kind.SUBSCRIBE and cmd.code is None and cmd.reason


def test_code_spread_over_spaces_is_not_taken_for_id_digits() -> None:
    cmd = parse_command("HS 000 00 15 H56 240315 0001")
    assert cmd.code is not None and cmd.code.value == CODE
    assert cmd.id4 == ""


def test_extra_pattern_codes() -> None:
    parser = CommandParser(CodeParser([r"[0-9]{5}/20[0-9]{2}/[0-9]{5}"]))
    cmd = parser.parse("HS 03706/2026/07906")
    assert cmd.kind is Kind.LOOKUP and cmd.code is not None
    assert cmd.code.value == "03706/2026/07906" and cmd.code.scheme == "custom"


def test_json_form() -> None:
    data = parse_command(f"DK {CODE} 4321").to_json()
    assert data == {
        "command": "subscribe",
        "code": CODE,
        "scheme": "national",
        "reason": None,
        "id_last4_given": True,
        "keyword": "DK",
    }


def test_hostile_text_never_raises() -> None:
    for text in [
        "'; DROP TABLE outbox;--",
        "\x00\x01\x02\xff",
        "😀" * 500,
        "HS " + "9" * 5000,
        "A" * (MAX_COMMAND_CHARS * 3),
        "\ud800",  # a lone surrogate, as a broken UCS-2 decode could give
    ]:
        cmd = parse_command(text)
        assert cmd.kind in Kind


# --- properties -------------------------------------------------------------------------------------

gap = st.sampled_from([".", "-", " ", "", "/", "_", " . ", "  "])
small_gap = st.sampled_from(["", ".", " ", "-"])


@st.composite
def mangled_codes(draw: st.DrawFn) -> tuple[str, str]:
    """(canonical code, the code as a person or phone might type it)."""
    a, b, c = draw(st.integers(0, 999)), draw(st.integers(0, 99)), draw(st.integers(0, 99))
    letter = draw(st.sampled_from("ABCDEFGHKLMNPQRSTUVXYZ"))
    nn = draw(st.integers(0, 99))
    day = draw(st.dates(min_value=date(2000, 1, 1), max_value=date(2099, 12, 31)))
    seq = draw(st.integers(1, 9999))
    canonical = f"{a:03d}.{b:02d}.{c:02d}.{letter}{nn:02d}-{day:%y%m%d}-{seq:04d}"
    lower = draw(st.booleans())
    typed = (
        f"{a:03d}{draw(gap)}{b:02d}{draw(gap)}{c:02d}{draw(gap)}{letter.lower() if lower else letter}"
        f"{draw(small_gap)}{nn:02d}{draw(gap)}{day:%y%m%d}{draw(gap)}{seq:04d}"
    )
    return canonical, typed


@settings(max_examples=300, deadline=None)
@given(
    code=mangled_codes(),
    kind=st.sampled_from([Kind.LOOKUP, Kind.SUBSCRIBE, Kind.UNSUBSCRIBE, None]),
    keyword_index=st.integers(0, 20),
    between=st.sampled_from([" ", ": ", ", ", "\n", "  ", "-", ". "]),
    lead=st.sampled_from(["", " ", '"', "*"]),
    tail=st.sampled_from(["", ".", "!", " cam on", "?"]),
    id_digits=st.one_of(st.just(""), st.from_regex(r"\A[0-9]{4}\Z")),
)
def test_any_keyword_any_mangling_parses_to_the_code(
    code: tuple[str, str],
    kind: Kind | None,
    keyword_index: int,
    between: str,
    lead: str,
    tail: str,
    id_digits: str,
) -> None:
    canonical, typed = code
    if kind is None:
        text = f"{lead}{typed}"
    else:
        words = KEYWORDS[kind]
        text = f"{lead}{words[keyword_index % len(words)]}{between}{typed}"
    if id_digits:
        text += f" {id_digits}"
    text += tail
    cmd = parse_command(text)
    assert cmd.kind is (kind or Kind.LOOKUP), text
    assert cmd.code is not None and cmd.code.value == canonical, text
    assert cmd.id4 == id_digits, text


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=400))
def test_any_text_parses_without_raising(text: str) -> None:
    cmd = parse_command(text)
    if cmd.kind in (Kind.LOOKUP, Kind.SUBSCRIBE) and cmd.code is None:
        assert cmd.reason
