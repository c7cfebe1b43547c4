"""One event stream for every scanner: ``ScanEvent`` (text, dossier code or reason, source, time).

``CodeExtractor`` turns any payload (camera decode, keyboard burst, serial line) into an event through the
core's ``CodeParser``. Garbage, huge, binary and non-UTF-8 payloads and impossible dates become an event
whose ``reason`` starts with "not a dossier code: "; nothing raises into the kiosk.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from dossier.codes import CodeParser, DossierCode
from dossier.errors import InvalidInput

log = logging.getLogger(__name__)

SOURCES = ("camera", "keyboard", "serial", "image")
MAX_PAYLOAD_CHARS = 4096  # longer payloads are rejected without parsing
MAX_KEPT_CHARS = 512  # what an event keeps of a payload too long to parse (longer ones are kept whole)
NOT_A_CODE = "not a dossier code: "
_AIM = re.compile(r"^\]([A-Za-z])([0-9A-Za-z])")
_AIM_SYMBOLOGY = {"Q": "qr", "C": "code128", "d": "datamatrix", "L": "pdf417", "E": "ean", "A": "code39"}
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


@dataclass(frozen=True)
class ScanEvent:
    """A scan from any source: the payload, the dossier code found or the reason why not, and when."""

    text: str
    code: DossierCode | None
    reason: str
    source: str
    at: datetime
    symbology: str = ""

    @property
    def ok(self) -> bool:
        """True when the payload holds a dossier code."""
        return self.code is not None

    @property
    def key(self) -> str:
        """What makes two scans "the same" for de-duplication: the code, else the payload."""
        return self.code.value if self.code else self.text

    def describe(self) -> str:
        """One line for a technician: symbology, payload and the code or the reason."""
        shown = (
            repr(self.text)
            if len(self.text) <= 100
            else f"{self.text[:97]!r}... ({len(self.text)} characters)"
        )
        result = f"code {self.code.value}" if self.code else self.reason
        return f"[{self.source}{'/' + self.symbology if self.symbology else ''}] {shown} -> {result}"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary."""
        return {
            "text": self.text,
            "symbology": self.symbology,
            "code": self.code.value if self.code else None,
            "reason": self.reason,
            "source": self.source,
            "at": self.at.isoformat(),
        }


def aim_symbology(text: str) -> tuple[str, str]:
    """(symbology, text without the AIM identifier) for ``]Q1...``-style payloads; ("", text) otherwise."""
    m = _AIM.match(text)
    if not m:
        return "", text
    return _AIM_SYMBOLOGY.get(m.group(1), f"aim-{m.group(1)}"), text[m.end() :]


class CodeExtractor:
    """Makes ``ScanEvent``s from payloads with the configured ``CodeParser``; never raises."""

    def __init__(
        self, parser: CodeParser | None = None, *, clock: Callable[[], datetime] | None = None
    ) -> None:
        self._parser = parser or CodeParser()
        self._clock = clock or (lambda: datetime.now(UTC))

    def event(
        self,
        payload: str | bytes,
        *,
        source: str,
        symbology: str = "",
        binary: bool = False,
        at: datetime | None = None,
    ) -> ScanEvent:
        """The event for one payload; a payload without a dossier code gets a reason instead."""
        when = at or self._clock()
        if isinstance(payload, (bytes, bytearray)):
            raw = bytes(payload)
            try:
                payload = raw.decode("utf-8")
            except UnicodeDecodeError:
                payload, binary = raw.decode("latin-1"), True
        if not isinstance(payload, str):
            return ScanEvent(
                repr(payload)[:80], None, NOT_A_CODE + "payload is not text", source, when, symbology
            )
        kept = payload if len(payload) <= MAX_PAYLOAD_CHARS else payload[:MAX_KEPT_CHARS] + "..."
        if not symbology:
            symbology = aim_symbology(payload)[0]
        if len(payload) > MAX_PAYLOAD_CHARS:
            reason = f"payload too long ({len(payload)} characters)"
            return ScanEvent(kept, None, NOT_A_CODE + reason, source, when, symbology)
        if binary:
            return ScanEvent(kept, None, NOT_A_CODE + "binary data, not text", source, when, symbology)
        cleaned = _CONTROL.sub(" ", payload)  # GS1 separators, NULs, ESC: never part of a code
        if not cleaned.strip():
            return ScanEvent(kept, None, NOT_A_CODE + "empty payload", source, when, symbology)
        try:
            code = self._parser.parse(cleaned)
        except InvalidInput as err:
            reason = getattr(err, "reason", str(err))
            return ScanEvent(kept, None, NOT_A_CODE + reason, source, when, symbology)
        except Exception as err:  # a parser bug must not take the kiosk down; it is logged loudly
            log.exception("code parser failed on a %s payload (%d characters)", source, len(payload))
            return ScanEvent(
                kept, None, NOT_A_CODE + f"parser error ({type(err).__name__})", source, when, symbology
            )
        return ScanEvent(kept, code, "", source, when, symbology)
