"""The SMS gateway: stored inbound messages → commands → lookups → replies in the outbox.

It composes the store, the lookup service, the command parser and the limits. Modems hand received
parts to ``store_incoming`` (which commits them before returning, so the modem may then delete them);
one inbound thread joins parts into messages and answers each message exactly once: the reply is queued
in the same transaction that marks the message handled. Outbox workers (``sms_gateway.outbox``) send.

One bad message never holds up the others: whatever goes wrong while handling it (an undecodable PDU,
a lookup that raises, a reply that cannot be rendered) sets it aside with its reason (state
``set_aside``) and the batch goes on. Only a storage failure (``StorageError``) pauses the batch: then
nothing can be recorded, and the inbound thread retries after a pause.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from dossier.codes import CodeParser
from dossier.errors import InvalidRecord, MotcuaError, StorageError
from dossier.gsm7 import is_gsm7
from dossier.lookup import LookupResult, Outcome
from dossier.model import VN_TZ, Dossier, normalise_phone, secret_matches
from dossier.render import render_sms, to_gsm7
from sms_gateway.commands import Command, CommandParser, Kind
from sms_gateway.modem_types import Received
from sms_gateway.outbox import Doorbell
from sms_gateway.reassembly import Part, assemble
from sms_gateway.settings import SmsSection
from sms_gateway.store import Message, NewMessage, Outgoing, PartIn, SmsStore

log = logging.getLogger(__name__)

EXAMPLE = "000.00.15.H56-240315-0001"
HELP_TEXT = (
    "Tra cuu ho so: HS <ma ho so>. Nhan tin khi co ket qua: DK <ma ho so>. Huy: HUY <ma ho so>. "
    f"Vi du: HS {EXAMPLE}"
)
INVALID_TEXT = f"Ma ho so khong dung. Ma ho so in tren giay hen, vi du: {EXAMPLE}. Soan: HS <ma ho so>"
REPLY_KINDS = ("reply", "not_found", "invalid", "help", "unavailable", "subscribe")


class Lookup(Protocol):
    """The one seam to the core: ``dossier.lookup.LookupService.lookup``."""

    def lookup(self, code: Any, *, deadline: float | None = None) -> LookupResult:
        """Answer for a code; never raises for network problems."""
        ...


@dataclass(frozen=True)
class ReplyOptions:
    """How replies are rendered (from ``[render]`` and ``[lookup]``)."""

    segments: int = 2
    unicode: bool = False
    mask_names: bool = True
    lookup_deadline: float = 3.0


def phone_tag(number: str) -> str:
    """A short, stable tag for a phone number in logs (never the number itself)."""
    return "#" + hashlib.sha256(number.encode("utf-8", "replace")).hexdigest()[:8]


def sender_phone(sender: str, min_digits: int) -> tuple[str, str]:
    """(phone key, "") for a number we may answer, or ("", reason) for short codes and names."""
    raw = sender.strip()
    if not raw or any(c.isalpha() for c in raw):
        return "", "alphanumeric sender"
    digits = "".join(c for c in raw if c.isdigit())
    if len(digits) < min_digits or len(digits) > 15:
        return "", "short code" if len(digits) < min_digits else "not a phone number"
    if any(not (c.isdigit() or c in "+ -().") for c in raw):
        return "", "not a phone number"
    try:
        return normalise_phone(raw), ""
    except InvalidRecord:
        return "+" + digits, ""  # a foreign number: answer it as it came


def reply_address(sender: str) -> str:
    """The address to answer: the sender's digits, with '+' when it came in international form."""
    raw = sender.strip()
    digits = "".join(c for c in raw if c.isdigit())
    return ("+" + digits) if raw.startswith("+") else digits


class SmsGateway:
    """Answers stored inbound SMS (see module docstring); thread-safe ``store_incoming`` for modems."""

    def __init__(
        self,
        store: SmsStore,
        lookup: Lookup,
        *,
        settings: SmsSection | None = None,
        replies: ReplyOptions | None = None,
        codes: CodeParser | None = None,
        bell: Doorbell | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.lookup_service = lookup
        self.settings = settings or SmsSection()
        self.replies = replies or ReplyOptions()
        self.commands = CommandParser(codes)
        self.bell = bell or Doorbell()
        self.clock = clock
        self.inbound_bell = Doorbell()
        self.errors = 0
        self.handled = 0
        self.set_aside = 0
        self._cap_warned_day = ""
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- modem side ---------------------------------------------------------------------------------

    def store_incoming(self, parts: Sequence[Received | PartIn]) -> None:
        """Commit received parts durably (raises ``StorageError`` if it cannot: the modem keeps them)."""
        rows = [p if isinstance(p, PartIn) else PartIn.from_received(p.modem, p) for p in parts]
        added = self.store.add_parts(rows)
        if added:
            log.debug("stored %d inbound part(s)", added)
        self.inbound_bell.ring()

    # -- inbound loop -------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the inbound thread."""
        self._thread = threading.Thread(target=self._run, name="sms-inbound", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the inbound thread after the message in hand."""
        self._stop.set()
        self.inbound_bell.ring()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            seen = self.inbound_bell.rings
            try:
                busy = self.process_pending()
            except MotcuaError as err:
                self.errors += 1
                log.error("inbound: %s", err)
                self._stop.wait(2.0)
                continue
            except Exception:  # a bug must not stop the gateway taking messages
                self.errors += 1
                log.exception("inbound: unexpected error")
                self._stop.wait(2.0)
                continue
            if not busy:
                self.inbound_bell.wait(seen, 1.0)

    def process_pending(self, limit: int = 200) -> int:
        """Join waiting parts into messages and answer new messages; returns how many were handled."""
        self.assemble_waiting()
        messages = self.store.new_messages(limit)
        for message in messages:
            try:
                self.handle(message)
            except StorageError:
                raise  # nothing can be recorded: the whole batch waits (see the module docstring)
            except Exception as err:  # one bad message must not hold up the others
                self._set_aside(message, f"{type(err).__name__}: {err}", err)
        return len(messages)

    def _set_aside(self, message: Message, reason: str, err: BaseException | None = None) -> None:
        """Record why ``message`` cannot be handled; it gets no reply and leaves the queue."""
        self.errors += 1
        self.set_aside += 1
        self.store.finish_message(message.id, state="set_aside", reason=reason[:200])
        kind = type(err).__name__ if err is not None else reason.split(":")[0]
        if err is not None and not isinstance(err, MotcuaError):  # a bug: where, never the data it met
            frame = traceback.extract_tb(err.__traceback__)[-1] if err.__traceback__ else None
            where = f" at {Path(frame.filename).name}:{frame.lineno}" if frame else ""
            log.error("inbound message #%d set aside: %s%s", message.id, kind, where)
        else:
            log.warning("inbound message #%d set aside: %s", message.id, kind)

    def assemble_waiting(self) -> int:
        """Turn stored parts into whole messages (multipart ones when complete or timed out)."""
        stored = self.store.waiting_parts()
        if not stored:
            return 0
        by_id = {p.id: p for p in stored}
        parts = [
            Part(
                key=p.id,
                sender=p.sender,
                text="" if p.error else p.text,
                concat=(p.concat_ref, p.concat_total, p.concat_seq)
                if p.concat_total and p.concat_ref is not None and p.concat_seq is not None
                else None,
                arrived=p.received_at,
                encoding=p.encoding,
                raw_pdu_hex=p.pdu,
            )
            for p in stored
        ]
        done, _waiting = assemble(parts, self.clock(), self.settings.reassembly_timeout)
        new = []
        for whole in done:
            members = [by_id[k] for k in whole.part_keys if k in by_id]
            phone, _ = sender_phone(whole.sender, self.settings.min_sender_digits)
            new.append(
                NewMessage(
                    part_ids=tuple(p.id for p in members),
                    modem_id=members[0].modem_id if members else "",
                    sender=whole.sender,
                    phone=phone,
                    text=whole.text,
                    received_at=whole.first_arrived,
                    incomplete=not whole.complete or any(p.error for p in members),
                    encoding=whole.encoding,
                )
            )
        if new:
            self.store.add_messages(new)
        return len(new)

    # -- one message --------------------------------------------------------------------------------

    def handle(self, message: Message) -> None:
        """Answer one message (or record why not), exactly once."""
        s = self.settings
        now = self.clock()
        tag = phone_tag(message.phone or message.sender)
        if message.error and not message.text.strip():
            self._set_aside(message, f"undecodable PDU: {message.error}")
            return
        if message.encoding == "8bit":
            self._skip(message, "binary (8-bit) message", tag)
            return
        if not message.text.strip():
            self._skip(message, "empty or undecodable message", tag)
            return
        phone, why = sender_phone(message.sender, s.min_sender_digits)
        if not phone:
            self._skip(message, why, tag)
            return
        if self.store.seen_recently(message.body_key, now - s.duplicate_window, message.id):
            self._skip(message, "duplicate", tag)
            return
        day_start = _day_start(now)
        if self.store.count_since(day_start) >= s.daily_cap:
            self._warn_cap(now)
            self._skip(message, "daily cap reached", tag)
            return
        if (
            self.store.count_to_phone(phone, now - 3600, REPLY_KINDS) >= s.per_number_hour
            or self.store.count_to_phone(phone, now - 86400, REPLY_KINDS) >= s.per_number_day
        ):
            self._skip(message, "per-number limit", tag)
            return
        command = self.commands.parse(message.text)
        kind, text = self._answer(command, phone, message.sender)
        if kind == "not_found" and (
            self.store.count_to_phone(phone, now - 3600, ("not_found",)) >= s.not_found_hour
            or self.store.count_to_phone(phone, now - 86400, ("not_found",)) >= s.not_found_day
        ):
            self._skip(message, "not-found limit", tag, command)
            return
        reply = Outgoing(
            recipient=reply_address(message.sender),
            text=text,
            kind=kind,
            phone=phone,
            unicode=not is_gsm7(text),
            inbound_id=message.id,
            arrived_at=message.received_at,
        )
        code = command.code.value if command.code else ""
        if self.store.finish_message(
            message.id, state="answered", reason=kind, command=command.kind.value, code=code, reply=reply
        ):
            self.handled += 1
            self.bell.ring()
            log.debug("message #%d from %s: %s → %s reply", message.id, tag, command.kind.value, kind)

    def _skip(self, message: Message, reason: str, tag: str, command: Command | None = None) -> None:
        kind = command.kind.value if command else ""
        self.store.finish_message(message.id, state="skipped", reason=reason, command=kind)
        log.info("message #%d from %s not answered: %s", message.id, tag, reason)

    def _warn_cap(self, now: float) -> None:
        day = datetime.fromtimestamp(now, VN_TZ).strftime("%Y-%m-%d")
        if day != self._cap_warned_day:
            self._cap_warned_day = day
            log.warning("daily SMS cap of %d reached: no more replies today", self.settings.daily_cap)

    def _answer(self, command: Command, phone: str, sender: str) -> tuple[str, str]:
        """(kind, reply text) for a command."""
        if command.kind in (Kind.HELP, Kind.UNKNOWN):
            return "help", HELP_TEXT
        if command.kind is Kind.UNSUBSCRIBE:
            n = self.store.unsubscribe(phone, command.code.value if command.code else None)
            if command.code:
                text = (
                    f"Da huy nhan tin ho so {command.code.value}."
                    if n
                    else "Khong co dang ky nao cho ho so nay."
                )
            else:
                text = f"Da huy {n} dang ky nhan tin." if n else "So nay chua dang ky nhan tin ho so nao."
            return "subscribe", text
        if command.code is None:
            return "invalid", INVALID_TEXT
        result = self.lookup_service.lookup(command.code, deadline=self.replies.lookup_deadline)
        if result.outcome is Outcome.NOT_FOUND:
            return "not_found", self._render(result, full=False)
        if result.outcome is Outcome.UNAVAILABLE or result.dossier is None:
            return "unavailable", self._render(result, full=False)
        dossier = result.dossier
        if command.kind is Kind.SUBSCRIBE:
            return "subscribe", self._subscribe(dossier, phone, sender)
        return "reply", self._render(result, full=self._full_answer(dossier, command, phone))

    def _full_answer(self, dossier: Dossier, command: Command, phone: str) -> bool:
        """Whether the answer may show the applicant (second factor, when the deployment asks for it)."""
        if not self.settings.second_factor:
            return True
        if command.id4 and dossier.owner_id4_hash and secret_matches(dossier.owner_id4_hash, command.id4):
            return True
        return bool(dossier.owner_phone_hash) and secret_matches(dossier.owner_phone_hash, phone)

    def _subscribe(self, dossier: Dossier, phone: str, sender: str) -> str:
        code = dossier.code
        if dossier.owner_phone_hash and not secret_matches(dossier.owner_phone_hash, phone):
            return f"Chi so dien thoai da dang ky voi ho so {code} moi nhan tin duoc. Tra cuu: HS {code}"
        if dossier.status.is_closed:
            return to_gsm7(f"Ho so {code} da ket thuc ({dossier.status.vi}), khong can dang ky.")
        now = self.clock()
        expires = now + self.settings.subscription_max_days * 86400
        self.store.subscribe(phone, reply_address(sender), code, expires)
        return f"Da dang ky nhan tin khi ho so {code} thay doi trang thai. Huy: HUY {code}"

    def _render(self, result: LookupResult, *, full: bool) -> str:
        r = self.replies
        return render_sms(
            result,
            segments=r.segments,
            unicode=r.unicode,
            mask_names=r.mask_names,
            full=full,
            now=datetime.fromtimestamp(self.clock(), VN_TZ),
        )


def _day_start(now: float) -> float:
    """The start of the local (Vietnam) day containing ``now``."""
    local = datetime.fromtimestamp(now, VN_TZ)
    return (
        local
        - timedelta(
            hours=local.hour, minutes=local.minute, seconds=local.second, microseconds=local.microsecond
        )
    ).timestamp()
