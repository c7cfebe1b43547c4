"""Small fakes at the gateway's seams: the lookup service, a modem that only sends, change events."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

from dossier.cache import ChangeEvent
from dossier.codes import DossierCode, parse_code
from dossier.errors import HardwareUnavailable, InvalidInput, TemporaryError
from dossier.lookup import LookupResult, Outcome
from dossier.model import Dossier


class FakeLookup:
    """``LookupService.lookup`` over a dict: cached dossiers, codes central cannot answer, a delay."""

    def __init__(
        self,
        dossiers: dict[str, Dossier] | None = None,
        *,
        unavailable: set[str] | None = None,
        delay: float = 0.0,
    ) -> None:
        self.dossiers = dict(dossiers or {})
        self.unavailable = set(unavailable or ())
        self.delay = delay
        self.calls: list[str] = []

    def add(self, dossier: Dossier) -> None:
        """Make ``dossier`` known."""
        self.dossiers[dossier.code] = dossier

    def lookup(self, code: str | DossierCode, *, deadline: float | None = None) -> LookupResult:
        """Same contract as the real one: FOUND / NOT_FOUND / UNAVAILABLE, never past the deadline."""
        value = code.value if isinstance(code, DossierCode) else parse_code(code).value
        self.calls.append(value)
        now = datetime.now(UTC)
        if value in self.dossiers:
            return LookupResult(value, Outcome.FOUND, self.dossiers[value], "cache", now, 0.0)
        if value in self.unavailable:
            if self.delay:
                time.sleep(min(self.delay, deadline if deadline is not None else self.delay))
            return LookupResult(value, Outcome.UNAVAILABLE, None, "none", None, None, "central down")
        return LookupResult(value, Outcome.NOT_FOUND, None, "central", None, 0.0)


@dataclass
class Sent:
    to: str
    text: str
    unicode: bool


@dataclass
class SendResult:
    message_refs: tuple[int, ...]
    parts: int


@dataclass
class ScriptedSender:
    """A modem that records sends; ``script`` holds exceptions to raise on the next sends."""

    script: list[BaseException] = field(default_factory=list)
    sent: list[Sent] = field(default_factory=list)
    next_ref: int = 1
    lock: threading.Lock = field(default_factory=threading.Lock)

    def send(
        self,
        to: str,
        text: str,
        *,
        unicode: bool = False,
        request_report: bool = False,
        timeout: float | None = None,
    ) -> SendResult:
        with self.lock:
            if self.script:
                raise self.script.pop(0)
            self.sent.append(Sent(to, text, unicode))
            ref = self.next_ref
            self.next_ref = (self.next_ref + 1) % 256
            return SendResult((ref,), 1)


ERRORS = {
    "temporary": TemporaryError("CMS ERROR 500"),
    "absent": HardwareUnavailable("modem gone"),
    "invalid": InvalidInput("bad number"),
}


class ListEvents:
    """Change events held in a list (the cache's ``events_after`` contract)."""

    def __init__(self) -> None:
        self.events: list[ChangeEvent] = []

    def add(self, event: ChangeEvent) -> None:
        self.events.append(event)

    def events_after(self, seq: int, limit: int = 500) -> list[ChangeEvent]:
        return [e for e in self.events if e.seq > seq][:limit]


class Clock:
    """A settable clock."""

    def __init__(self, start: float) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
