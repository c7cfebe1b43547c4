"""Notifications: one SMS per change of state to each subscriber of the dossier (000 Art. 3.3, 004 Art. 8.2).

Change events come from the dossier cache (written by sync); the notifier keeps its own cursor in the
gateway database and advances it in the same transaction that queues the notifications, so a crash
neither skips nor repeats one (``event_key`` = event sequence + phone is UNIQUE in the outbox).
Notifications due in quiet hours (default 21:00–07:00 local time) wait until the quiet hours end.
When a dossier is closed (result returned, refused, withdrawn, stopped), its subscriptions end
``subscription_days`` later.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from datetime import time as dtime
from typing import Protocol

from dossier.cache import ChangeEvent
from dossier.errors import ConfigError, MotcuaError
from dossier.model import VN_TZ
from dossier.render import format_date, to_gsm7
from sms_gateway.outbox import Doorbell
from sms_gateway.settings import SmsSection
from sms_gateway.store import Outgoing, SmsStore

log = logging.getLogger(__name__)

CURSOR_KEY = "notify.cursor"


class EventSource(Protocol):
    """Where change events come from (``dossier.cache.Cache``)."""

    def events_after(self, seq: int, limit: int = 500) -> list[ChangeEvent]:
        """Events with a sequence number above ``seq``, oldest first."""
        ...


def parse_hhmm(value: str, name: str) -> dtime:
    """ "21:00" → time(21, 0); raises ``ConfigError`` naming the key."""
    try:
        hours, minutes = value.strip().split(":")
        return dtime(int(hours), int(minutes))
    except ValueError:
        raise ConfigError(f"sms.{name}: {value!r} is not a time like 21:00") from None


def quiet_until(now: datetime, start: dtime, end: dtime) -> datetime | None:
    """The end of the quiet hours ``now`` falls in (local time), or None outside them."""
    local = now.astimezone(VN_TZ)
    t = local.time()
    if start == end:
        return None
    inside = (start <= t < end) if start < end else (t >= start or t < end)
    if not inside:
        return None
    until = local.replace(hour=end.hour, minute=end.minute, second=0, microsecond=0)
    if until <= local:
        until += timedelta(days=1)
    return until


def notification_text(event: ChangeEvent) -> str:
    """The SMS for one change of state: unaccented GSM-7, one segment."""
    when = format_date(event.at)
    text = f"Ho so {event.code}: {event.new_status.vi} ({when}). Huy nhan tin: HUY {event.code}"
    text = to_gsm7(text)
    if len(text) > 160:  # the longest state wording with the national code still fits; others are cut
        text = to_gsm7(f"Ho so {event.code}: {event.new_status.vi} ({when}).")[:160]
    return text


class Notifier:
    """Turns change events into queued notifications (``tick``), in a thread (``start``/``stop``)."""

    def __init__(
        self,
        store: SmsStore,
        events: EventSource,
        *,
        settings: SmsSection | None = None,
        bell: Doorbell | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.events = events
        self.settings = settings or SmsSection()
        self.bell = bell or Doorbell()
        self.clock = clock
        self.quiet_start = parse_hhmm(self.settings.quiet_start, "quiet_start")
        self.quiet_end = parse_hhmm(self.settings.quiet_end, "quiet_end")
        self.queued = 0
        self.errors = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def tick(self, batch: int = 500) -> int:
        """Queue notifications for events after the cursor; returns how many SMS were queued."""
        total = 0
        while True:
            cursor = int(self.store.get_meta(CURSOR_KEY, "0") or 0)
            events = self.events.events_after(cursor, batch)
            if not events:
                return total
            total += self._queue(events)
            if len(events) < batch:
                return total

    def _queue(self, events: Sequence[ChangeEvent]) -> int:
        s = self.settings
        now = self.clock()
        now_dt = datetime.fromtimestamp(now, VN_TZ)
        until = quiet_until(now_dt, self.quiet_start, self.quiet_end)
        day_start = now_dt.replace(hour=0, minute=0, second=0, microsecond=0)
        if until is None and self.store.count_since(day_start.timestamp()) >= s.daily_cap:
            until = (day_start + timedelta(days=1)).replace(
                hour=self.quiet_end.hour, minute=self.quiet_end.minute
            )
            log.warning("daily SMS cap reached: notifications wait until %s", until.strftime("%d/%m %H:%M"))
        not_before = until.timestamp() if until else None
        items: list[Outgoing] = []
        for event in events:
            if event.old_status == event.new_status:
                continue
            subscribers = self.store.subscribers(event.code, now)
            if event.new_status.is_closed:
                self.store.cap_subscriptions(event.code, event.at.timestamp() + s.subscription_days * 86400)
            text = notification_text(event)
            for phone, recipient, _expires in subscribers:
                items.append(
                    Outgoing(
                        recipient=recipient,
                        text=text,
                        kind="notify",
                        phone=phone,
                        event_key=f"{event.seq}:{phone}",
                        priority=1,
                        not_before=not_before,
                    )
                )
        added = self.store.enqueue(items, meta={CURSOR_KEY: str(events[-1].seq)})
        if added:
            self.queued += added
            log.info("queued %d notification(s)%s", added, " for after the quiet hours" if until else "")
            if not until:
                self.bell.ring()
        return added

    def start(self) -> None:
        """Start reading events every ``notify_interval`` seconds."""
        self._thread = threading.Thread(target=self._run, name="sms-notify", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the thread."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.tick()
            except MotcuaError as err:
                self.errors += 1
                log.error("notifications: %s", err)
            except Exception:
                self.errors += 1
                log.exception("notifications: unexpected error")
            self._stop.wait(self.settings.notify_interval)
