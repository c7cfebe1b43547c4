"""GSM 03.38 alphabet: which text fits 7-bit SMS, and how many segments a text needs."""

from __future__ import annotations

import math
import unicodedata

BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
EXTENSION = "\f^{}\\[~]|€"
_BASIC_SET = frozenset(BASIC) - {"\x1b"}
_EXT_SET = frozenset(EXTENSION)

SINGLE_GSM7, PART_GSM7 = 160, 153
SINGLE_UCS2, PART_UCS2 = 70, 67


def is_gsm7(text: str) -> bool:
    """Whether every character of ``text`` is in the GSM 7-bit default alphabet or its extension."""
    return all(c in _BASIC_SET or c in _EXT_SET for c in text)


def septets(text: str) -> int:
    """Septets ``text`` takes in GSM-7 (extension characters take two)."""
    return sum(2 if c in _EXT_SET else 1 for c in text)


def ucs2_units(text: str) -> int:
    """UTF-16 code units ``text`` takes in UCS-2/UTF-16 (emoji take two)."""
    return len(text.encode("utf-16-le")) // 2


def segments(text: str, *, unicode: bool | None = None) -> int:
    """SMS parts needed for ``text``; GSM-7 when it fits and ``unicode`` is not forced."""
    if not text:
        return 1
    if unicode is None:
        unicode = not is_gsm7(text)
    if unicode:
        n, single, part = ucs2_units(text), SINGLE_UCS2, PART_UCS2
    else:
        n, single, part = septets(text), SINGLE_GSM7, PART_GSM7
    return 1 if n <= single else math.ceil(n / part)


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
