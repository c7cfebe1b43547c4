"""GSM 03.38: which texts fit 7-bit SMS, septet coding, splitting into parts, and making text fit."""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Iterator

# Basic character set, indexed by septet value (0x1B is the escape to the extension table).
BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
ESCAPE = 0x1B
# Extension table: character → septet that follows the escape.
EXTENSION = {
    "\f": 0x0A,
    "^": 0x14,
    "{": 0x28,
    "}": 0x29,
    "\\": 0x2F,
    "[": 0x3C,
    "~": 0x3D,
    "]": 0x3E,
    "|": 0x40,
    "€": 0x65,
}
_BASIC_INDEX = {ch: i for i, ch in enumerate(BASIC) if i != ESCAPE}
_EXTENSION_REVERSE = {v: k for k, v in EXTENSION.items()}

SINGLE_GSM7 = 160  # septets in one SMS
PART_GSM7 = 153  # septets per part of a concatenated SMS (6-octet UDH)
SINGLE_UCS2 = 70  # UTF-16 code units in one SMS
PART_UCS2 = 67  # UTF-16 code units per part of a concatenated SMS


def is_gsm7(text: str) -> bool:
    """True when every character of ``text`` is in the GSM-7 basic or extension table."""
    return all(ch in _BASIC_INDEX or ch in EXTENSION for ch in text)


def char_septets(ch: str) -> int:
    """Septets one character takes in GSM-7 (1 or 2); raises ``ValueError`` if it is not GSM-7."""
    if ch in _BASIC_INDEX:
        return 1
    if ch in EXTENSION:
        return 2
    raise ValueError(f"character {ch!r} is not in the GSM 03.38 alphabet")


def septet_length(text: str) -> int:
    """Septets ``text`` takes in GSM-7; raises ``ValueError`` if it is not GSM-7."""
    return sum(char_septets(ch) for ch in text)


def encode_septets(text: str) -> list[int]:
    """Text → septet values (escape pairs for extension characters); ``ValueError`` if not GSM-7."""
    out: list[int] = []
    for ch in text:
        if ch in _BASIC_INDEX:
            out.append(_BASIC_INDEX[ch])
        elif ch in EXTENSION:
            out.extend((ESCAPE, EXTENSION[ch]))
        else:
            raise ValueError(f"character {ch!r} is not in the GSM 03.38 alphabet")
    return out


def decode_septets(septets: list[int]) -> str:
    """Septet values → text; an unknown escape pair yields the basic character, as 03.38 says."""
    out: list[str] = []
    escaped = False
    for s in septets:
        if escaped:
            out.append(_EXTENSION_REVERSE.get(s, BASIC[s] if s != ESCAPE else " "))
            escaped = False
        elif s == ESCAPE:
            escaped = True
        else:
            out.append(BASIC[s])
    if escaped:
        out.append(" ")
    return "".join(out)


def ucs2_units(text: str) -> int:
    """UTF-16 code units ``text`` takes in UCS-2/UTF-16 (characters outside the BMP take two)."""
    return len(text.encode("utf-16-be")) // 2


def _split(text: str, limit: int, cost: Callable[[str], int]) -> list[str]:
    """Split ``text`` into parts whose characters cost at most ``limit`` in all, keeping characters whole."""
    parts: list[str] = []
    current: list[str] = []
    used = 0
    for ch in text:
        n = cost(ch)
        if used + n > limit:
            parts.append("".join(current))
            current, used = [], 0
        current.append(ch)
        used += n
    if current or not parts:
        parts.append("".join(current))
    return parts


def split_gsm7(text: str, limit: int = PART_GSM7) -> list[str]:
    """Split GSM-7 text into parts of at most ``limit`` septets, never splitting an escape pair."""
    return _split(text, limit, char_septets)


def split_ucs2(text: str, limit: int = PART_UCS2) -> list[str]:
    """Split text into parts of at most ``limit`` UTF-16 units, never splitting a surrogate pair."""
    return _split(text, limit, lambda ch: 2 if ord(ch) > 0xFFFF else 1)


def split_text(text: str, *, unicode: bool | None = None) -> tuple[list[str], bool]:
    """Split text into SMS parts; returns (parts, ucs2). ``unicode=None`` picks UCS-2 only if needed."""
    ucs2 = (not is_gsm7(text)) if unicode is None else unicode
    if not ucs2 and not is_gsm7(text):
        raise ValueError("text is not GSM-7; send it as UCS-2")
    if ucs2:
        single = ucs2_units(text) <= SINGLE_UCS2
        return ([text] if single else split_ucs2(text)), True
    single = septet_length(text) <= SINGLE_GSM7
    return ([text] if single else split_gsm7(text)), False


def segments(text: str, *, unicode: bool | None = None) -> int:
    """How many SMS segments ``text`` takes (GSM-7 if it fits, else UCS-2, unless ``unicode`` says)."""
    return len(split_text(text, unicode=unicode)[0])


def iter_gsm7_chars() -> Iterator[str]:
    """Every character GSM-7 can carry (basic and extension), for property tests."""
    yield from _BASIC_INDEX
    yield from EXTENSION


def capacity(parts: int, *, unicode: bool = False) -> int:
    """Septets (or UCS-2 units) that fit in ``parts`` segments."""
    if unicode:
        return SINGLE_UCS2 if parts <= 1 else PART_UCS2 * parts
    return SINGLE_GSM7 if parts <= 1 else PART_GSM7 * parts


def strip_diacritics(text: str) -> str:
    """Vietnamese without diacritics: đ→d, Đ→D, combining marks dropped after NFD."""
    text = text.replace("đ", "d").replace("Đ", "D")
    return "".join(c for c in unicodedata.normalize("NFD", text) if not unicodedata.combining(c))


_REPLACE = {"`": "'", "\t": " ", "–": "-", "—": "-", "“": '"', "”": '"', "‘": "'", "’": "'", "…": "..."}


def to_gsm7(text: str) -> str:
    """Text as pure GSM-7: diacritics stripped, common punctuation mapped, anything else → ``?``."""
    out = []
    for c in strip_diacritics(unicodedata.normalize("NFKC", text)):
        c = _REPLACE.get(c, c)
        out.append(c if is_gsm7(c) else "?")
    return "".join(out)
