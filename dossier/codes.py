"""Dossier codes: find, validate and normalise them in what people and scanners really produce.

The national format (Thông tư 01/2018/TT-VPCP, Art. 19) is ``<agency>-<YYMMDD>-<NNNN>`` where the agency
identifier follows QCVN 102:2016 (``000.00.15.H56``). Input may be lower case, use other separators or
none, be full-width, put the letter O for a zero, carry words and diacritics around the code, or be a
URL (receipt QR codes) with the code in its path or query. Other agencies' formats are configurable as
extra regular expressions.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Iterator
from datetime import date
from urllib.parse import parse_qsl, unquote_plus, urlsplit

import msgspec

from dossier.errors import ConfigError, InvalidCode

EXAMPLE = "000.00.15.H56-240315-0001"
MAX_INPUT_CHARS = 4096

_SEP = r"[^0-9A-Z]{0,3}"  # separators people and scanners put between groups (or none)
_D = "[0-9O]"
_NATIONAL = re.compile(
    rf"(?<![0-9])({_D}{{3}}){_SEP}({_D}{{2}}){_SEP}({_D}{{2}}){_SEP}([A-Z])[^0-9A-Z]?({_D}{{2}})"
    rf"{_SEP}({_D}{{6}}){_SEP}({_D}{{4}})(?![0-9])"
)
_CANONICAL = re.compile(
    r"[0-9]{3}\.[0-9]{2}\.[0-9]{2}\.[A-Z][0-9]{2}-([0-9]{2})([0-9]{2})([0-9]{2})-([0-9]{4})"
)
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://|^www\.", re.IGNORECASE)


class DossierCode(msgspec.Struct, frozen=True):
    """A valid dossier code in canonical form (``value``), with its parts when it is national."""

    value: str
    scheme: str = "national"

    def __str__(self) -> str:
        return self.value

    @property
    def agency(self) -> str:
        """The agency identifier (``000.00.15.H56``); empty for non-national schemes."""
        return self.value.rsplit("-", 2)[0] if self.scheme == "national" else ""

    @property
    def received(self) -> date | None:
        """The date the dossier was received, from the code (national scheme only)."""
        if self.scheme != "national":
            return None
        yymmdd = self.value.rsplit("-", 2)[1]
        return date(2000 + int(yymmdd[:2]), int(yymmdd[2:4]), int(yymmdd[4:]))

    @property
    def sequence(self) -> int | None:
        """The sequence number of that day (national scheme only)."""
        return int(self.value.rsplit("-", 1)[1]) if self.scheme == "national" else None


def fold_text(text: str) -> str:
    """Upper-case ASCII skeleton of ``text``: full-width folded, diacritics dropped, đ→D."""
    text = unicodedata.normalize("NFKC", text).replace("đ", "d").replace("Đ", "D")
    decomposed = unicodedata.normalize("NFD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).upper()


def _digits(group: str) -> str:
    return group.replace("O", "0")


def _check_national(groups: tuple[str, ...]) -> tuple[str | None, str]:
    """Return (canonical code, "") or (None, reason) for one regex match of the national pattern."""
    a, b, c, letter, nn, yymmdd, seq = (g if i == 3 else _digits(g) for i, g in enumerate(groups))
    yy, mm, dd = int(yymmdd[:2]), int(yymmdd[2:4]), int(yymmdd[4:])
    try:
        date(2000 + yy, mm, dd)
    except ValueError:
        return None, f"{dd:02d}/{mm:02d}/{yy:02d} is not a date"
    if seq == "0000":
        return None, "sequence number 0000 is not valid (numbering starts at 0001)"
    return f"{a}.{b}.{c}.{letter}{nn}-{yymmdd}-{seq}", ""


class CodeParser:
    """Finds dossier codes in text; the national format always, extra agency formats by config."""

    def __init__(self, extra_patterns: Iterable[str] = ()) -> None:
        self._extra: list[re.Pattern[str]] = []
        for pattern in extra_patterns:
            try:
                compiled = re.compile(pattern)
            except re.error as err:
                raise ConfigError(
                    f"codes.extra_patterns: {pattern!r} is not a valid regular expression ({err})",
                    hint="fix or remove the pattern",
                ) from None
            if compiled.match(""):
                raise ConfigError(
                    f"codes.extra_patterns: {pattern!r} matches empty text",
                    hint="a pattern must require at least one character",
                )
            self._extra.append(compiled)

    def parse(self, text: str) -> DossierCode:
        """The first valid dossier code in ``text``; raises ``InvalidCode`` with a reason otherwise."""
        if not isinstance(text, str):
            raise InvalidCode("not text", text=repr(text)[:80])
        if len(text) > MAX_INPUT_CHARS:
            raise InvalidCode(f"text is too long to be a dossier code ({len(text)} characters)")
        canonical = _CANONICAL.fullmatch(text)  # fast path: already canonical (lookups from the cache)
        if canonical:
            yy, mm, dd, seq = canonical.groups()
            day = int(dd)
            if seq != "0000" and 1 <= day <= 28 and "01" <= mm <= "12":  # a date whatever the month
                return DossierCode(text)
            try:
                if seq != "0000":
                    date(2000 + int(yy), int(mm), day)
                    return DossierCode(text)
            except ValueError:
                pass  # the slow path gives the reason
        first_reason = ""
        for candidate in _candidates(text):
            code, reason = self._parse_one(candidate)
            if code is not None:
                return code
            first_reason = first_reason or reason
        raise InvalidCode(
            first_reason or f"no dossier code found; a code looks like {EXAMPLE}", text=text[:200]
        )

    def find_all(self, text: str) -> list[DossierCode]:
        """Every distinct valid code in ``text``, in order of appearance."""
        found: list[DossierCode] = []
        for candidate in _candidates(text[:MAX_INPUT_CHARS]):
            folded = fold_text(candidate)
            for match in _NATIONAL.finditer(folded):
                value, _ = _check_national(match.groups())
                if value and all(f.value != value for f in found):
                    found.append(DossierCode(value))
        return found

    def _parse_one(self, text: str) -> tuple[DossierCode | None, str]:
        folded = fold_text(text)
        reason = ""
        for match in _NATIONAL.finditer(folded):
            value, why = _check_national(match.groups())
            if value:
                return DossierCode(value), ""
            reason = reason or why
        normalised = unicodedata.normalize("NFKC", text).strip().upper()
        for pattern in self._extra:
            m = pattern.search(normalised)
            if m:
                return DossierCode(m.group(0), scheme="custom"), ""
        return None, reason


def _candidates(text: str) -> Iterator[str]:
    """Pieces of ``text`` to search, most specific first: URL query values and path segments."""
    stripped = text.strip().strip("\x00")
    stripped = re.sub(r"^\][A-Za-z][0-9]", "", stripped)  # AIM symbology identifier (]C0, ]Q1)
    if _URL.match(stripped):
        try:
            parts = urlsplit(stripped if "://" in stripped else "http://" + stripped)
            for _, value in parse_qsl(parts.query, keep_blank_values=False):
                yield value
            for segment in reversed(parts.path.split("/")):
                if segment:
                    yield unquote_plus(segment)
            if parts.fragment:
                yield unquote_plus(parts.fragment)
        except ValueError:
            pass
        yield unquote_plus(stripped)
    else:
        yield stripped


_DEFAULT = CodeParser()


def parse_code(text: str) -> DossierCode:
    """Parse with the national format only; raises ``InvalidCode`` with a reason."""
    return _DEFAULT.parse(text)
