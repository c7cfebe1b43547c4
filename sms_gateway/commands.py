"""What a citizen's SMS asks for: lookup, subscribe, unsubscribe or help, with the dossier code.

Keywords follow local practice (short, no diacritics, any case): ``HS``/``TC``/``TRACUU``/"tra cứu"
(lookup), ``DK``/"đăng ký" (subscribe), ``HUY``/"hủy" (unsubscribe), ``HD``/``HELP``/``?`` (help).
A message without a keyword that contains a valid code is a lookup. The code itself is found by the
core's ``CodeParser`` (tolerant of case, separators, a code spread over spaces); digits after the code
(the last 4 of the owner's ID number, or the whole 9/12-digit number) are the optional second factor.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

from dossier.codes import CodeParser, DossierCode, fold_text
from dossier.errors import InvalidCode

MAX_COMMAND_CHARS = 1600  # longer texts are cut before parsing (a 10-part SMS is ~1530 characters)


class Kind(Enum):
    """What the message asks for."""

    LOOKUP = "lookup"
    SUBSCRIBE = "subscribe"
    UNSUBSCRIBE = "unsubscribe"
    HELP = "help"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class Command:
    """A parsed message: its kind, the code (or why there is none) and the optional ID digits."""

    kind: Kind
    code: DossierCode | None = None
    reason: str = ""  # why ``code`` is None when the kind needs one
    id4: str = ""  # last four digits of the owner's ID number, when given
    keyword: str = ""  # the keyword as recognised (folded), "" when none

    def to_json(self) -> dict[str, object]:
        """The command as printed by ``motcua sms parse --json``."""
        return {
            "command": self.kind.value,
            "code": self.code.value if self.code else None,
            "scheme": self.code.scheme if self.code else None,
            "reason": self.reason or None,
            "id_last4_given": bool(self.id4),
            "keyword": self.keyword or None,
        }


_KEYWORDS: tuple[tuple[str, Kind], ...] = (
    (r"TRA[^0-9A-Z]{0,3}CUU", Kind.LOOKUP),
    (r"HS", Kind.LOOKUP),
    (r"TC", Kind.LOOKUP),
    (r"DANG[^0-9A-Z]{0,3}KY", Kind.SUBSCRIBE),
    (r"DK", Kind.SUBSCRIBE),
    (r"HUY", Kind.UNSUBSCRIBE),
    (r"HD", Kind.HELP),
    (r"HELP", Kind.HELP),
    (r"HUONG[^0-9A-Z]{0,3}DAN", Kind.HELP),
)
# A keyword is the first word; it may be glued to the code's digits ("HS000.00...") but not to letters.
_KEYWORD_RE = re.compile(
    r"^[^0-9A-Z?]*(?:(" + "|".join(f"(?:{p})" for p, _ in _KEYWORDS) + r")(?![A-Z])|(\?+))"
)
_KIND_BY_WORD = [(re.compile(rf"^{p}$"), kind) for p, kind in _KEYWORDS]
_ID_TOKEN = re.compile(r"(?<![0-9A-Z])([0-9]{4}|[0-9]{9}|[0-9]{12})(?![0-9A-Z])")


class CommandParser:
    """Parses inbound SMS text into a ``Command`` using the core's dossier code parser."""

    def __init__(self, codes: CodeParser | None = None) -> None:
        self._codes = codes or CodeParser()

    def parse(self, text: str) -> Command:
        """The command in ``text``; never raises (bad text gives ``UNKNOWN`` or a ``reason``)."""
        if not isinstance(text, str):
            return Command(Kind.UNKNOWN, reason="not text")
        text = text[:MAX_COMMAND_CHARS].replace("\x00", " ")
        folded = fold_text(text)
        kind, keyword, rest = _split_keyword(folded, text)
        code, reason = self._find_code(rest)
        if code is None and kind is None:
            return Command(Kind.UNKNOWN, reason=reason)
        if kind is None:
            kind = Kind.LOOKUP
        if kind in (Kind.HELP, Kind.UNSUBSCRIBE) and code is None:
            return Command(kind, keyword=keyword)
        if kind is Kind.HELP:  # "HD <code>" — someone who knows the code wants its state
            kind = Kind.LOOKUP
        if code is None:
            return Command(kind, reason=reason, keyword=keyword)
        return Command(kind, code=code, id4=self._find_id4(rest, code), keyword=keyword)

    def _find_code(self, text: str) -> tuple[DossierCode | None, str]:
        try:
            return self._codes.parse(text), ""
        except InvalidCode as err:
            return None, err.reason

    def _find_id4(self, text: str, code: DossierCode) -> str:
        """Digits given besides the code: the last 4 of a 4-, 9- or 12-digit group that is not the code's."""
        folded = fold_text(text)
        for match in reversed(list(_ID_TOKEN.finditer(folded))):
            without = folded[: match.start()] + " " + folded[match.end() :]
            found, _ = self._find_code(without)
            if found is not None and found.value == code.value:
                return match.group(1)[-4:]
        return ""


def _split_keyword(folded: str, original: str) -> tuple[Kind | None, str, str]:
    """(kind, keyword, rest of the text) when the message starts with a keyword, else (None, "", text)."""
    match = _KEYWORD_RE.match(folded)
    if not match:
        return None, "", original
    if match.group(2):
        return Kind.HELP, "?", folded[match.end() :]
    word = match.group(1)
    for pattern, kind in _KIND_BY_WORD:
        if pattern.match(word):
            return kind, re.sub(r"[^0-9A-Z]", " ", word).replace("  ", " "), folded[match.end() :]
    return None, "", original  # pragma: no cover - every alternative of the regex is in the table


_DEFAULT = CommandParser()


def parse_command(text: str) -> Command:
    """Parse with the national code format only."""
    return _DEFAULT.parse(text)
