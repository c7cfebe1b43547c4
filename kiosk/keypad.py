"""The dossier-code keypad's logic: separators inserted as the citizen types, and reasons in plain words.

The citizen types only digits and letters; while the input follows the national format
(``000.00.15.H56-240315-0001``, Thông tư 01/2018 Art. 19) the dots and dashes are placed for them and
the rest of the code is shown as a pattern to fill. Other formats (configured extra patterns) are shown
as typed. The code parser decides what is valid; its reasons become short sentences a citizen can read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from dossier.codes import EXAMPLE, CodeParser, DossierCode
from dossier.errors import InvalidCode

# D: a digit, L: a letter; anything else is a separator inserted for the citizen
TEMPLATE = "DDD.DD.DD.LDD-DDDDDD-DDDD"
SLOTS = [kind for kind in TEMPLATE if kind in "DL"]
NATIONAL_LENGTH = len(SLOTS)  # 20 characters without separators
MAX_KEYS = 40


@dataclass(frozen=True)
class Reason:
    """Why the input is not a code: a text key of ``kiosk.i18n`` and its parameters."""

    key: str
    params: dict[str, Any] = field(default_factory=dict)


def follows_national(raw: str) -> bool:
    """Whether ``raw`` (digits and letters, no separators) is a prefix of the national shape."""
    if len(raw) > NATIONAL_LENGTH:
        return False
    return all((c.isdigit() if kind == "D" else c.isalpha()) for c, kind in zip(raw, SLOTS, strict=False))


def display(raw: str) -> tuple[str, str]:
    """(typed part with separators, pattern still to fill) for the code display."""
    if not follows_national(raw):
        return raw, ""
    out: list[str] = []
    index = 0
    for pos, kind in enumerate(TEMPLATE):
        if index == len(raw):
            return "".join(out), "".join("_" if k in "DL" else k for k in TEMPLATE[pos:])
        if kind in "DL":
            out.append(raw[index])
            index += 1
        else:
            out.append(kind)
    return "".join(out), ""


def next_slot(raw: str) -> str:
    """ "D" (digit), "L" (letter) or "" (complete or not national) for the next character."""
    if not follows_national(raw) or len(raw) >= NATIONAL_LENGTH:
        return ""
    return SLOTS[len(raw)]


def check(raw: str, parser: CodeParser) -> DossierCode | Reason:
    """The code the keypad input stands for, or the reason it is not one (in plain words)."""
    if not raw:
        return Reason("keypad_empty")
    if follows_national(raw):
        if len(raw) < NATIONAL_LENGTH:
            try:
                return parser.parse(raw)  # a configured agency format may accept it
            except InvalidCode:
                return Reason("why_incomplete", {"n": NATIONAL_LENGTH - len(raw), "example": EXAMPLE})
        try:
            return parser.parse(display(raw)[0])
        except InvalidCode as err:
            return explain(err.reason)
    try:
        return parser.parse(raw)
    except InvalidCode as err:
        mismatch = next(
            (i for i, (c, k) in enumerate(zip(raw, SLOTS, strict=False)) if c.isdigit() != (k == "D")), None
        )
        if mismatch is not None and SLOTS[mismatch] == "L":
            return Reason("why_letter_expected", {"pos": _position(mismatch), "example": EXAMPLE})
        return explain(err.reason)


def _position(slot: int) -> int:
    """1-based position in the displayed code (with separators) of slot ``slot``."""
    seen = -1
    for pos, kind in enumerate(TEMPLATE):
        if kind in "DL":
            seen += 1
            if seen == slot:
                return pos + 1
    return slot + 1


_BAD_DATE = re.compile(r"(\d\d)/(\d\d)/(\d\d) is not a date")


def explain(reason: str) -> Reason:
    """A parser's reason (``dossier.codes``; scanner reasons may carry "not a dossier code: ") → plain words."""
    reason = reason.removeprefix("not a dossier code: ")
    m = _BAD_DATE.search(reason)
    if m:
        return Reason("why_bad_date", {"day": m.group(1), "month": m.group(2), "year": m.group(3)})
    if "0000" in reason and "sequence" in reason:
        return Reason("why_zero_sequence")
    if "too long" in reason:
        return Reason("why_too_long")
    return Reason("why_not_code", {"example": EXAMPLE})
