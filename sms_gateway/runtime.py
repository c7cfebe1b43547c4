"""The running gateway process: modems, outbox workers, the inbound thread, notifications and status.

Threads: one owner thread per modem (``sms_gateway.modem``), one outbox worker per modem, one inbound
thread (parts → messages → replies), one notifier, and one event pump that applies delivery reports and
modem up/down events and writes a status snapshot to the database every few seconds (``sms status``
reads it from another process). The runtime drives the modems it is given by port; emulated modems are
started by the composition root (``appliance.sms_wiring``) or by tests, never here.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from dossier.codes import CodeParser
from dossier.errors import InvalidInput
from sms_gateway.modem import Modem
from sms_gateway.modem_types import DeliveryReport, ModemDown, ModemEvent, ModemUp
from sms_gateway.notify import EventSource, Notifier
from sms_gateway.outbox import Doorbell, OutboxWorker, WorkerPolicy
from sms_gateway.service import Lookup, ReplyOptions, SmsGateway
from sms_gateway.settings import ModemSection, SmsSection
from sms_gateway.store import SmsStore
from sms_gateway.store_types import STATUS_KEY

log = logging.getLogger(__name__)

__all__ = ["STATUS_KEY", "GatewayRuntime", "RuntimeParts"]


@dataclass
class RuntimeParts:
    """What the runtime is built from (the CLI builds these from the configuration)."""

    db_path: Path
    settings: SmsSection
    lookup: Lookup
    events: EventSource | None = None
    replies: ReplyOptions = field(default_factory=ReplyOptions)
    codes: CodeParser | None = None
    modems: tuple[ModemSection, ...] = ()
    status_interval: float = 5.0


class GatewayRuntime:
    """Builds, starts and stops every thread of the gateway."""

    def __init__(self, parts: RuntimeParts) -> None:
        self.parts = parts
        s = parts.settings
        self.store = SmsStore(parts.db_path)
        self.bell = Doorbell()
        self.gateway = SmsGateway(
            self.store, parts.lookup, settings=s, replies=parts.replies, codes=parts.codes, bell=self.bell
        )
        self.notifier = (
            Notifier(self.store, parts.events, settings=s, bell=self.bell) if parts.events else None
        )
        self.events: queue.Queue[ModemEvent] = queue.Queue()
        self.modems: list[Modem] = []
        self.workers: list[OutboxWorker] = []
        self.started_at = time.time()
        self.delivery_reports = 0
        self._stop = threading.Event()
        self._pump: threading.Thread | None = None
        self._status_written = 0.0  # monotonic time of the last status the pump committed
        policy = WorkerPolicy(
            max_attempts=s.max_attempts,
            retry_backoff=s.retry_backoff,
            retry_max_backoff=s.retry_max_backoff,
            min_part_interval=s.min_part_interval,
        )
        for section in parts.modems:
            if section.emulated:
                self.store.close()
                raise InvalidInput(
                    "an emulated modem must be started by the caller and given by its port",
                    hint="appliance.sms_wiring starts emulators for `emulated = true` entries",
                )
            modem = Modem.from_settings(
                section,
                store_incoming=self.gateway.store_incoming,
                on_event=self.events,
                store_reports=self._store_reports,
            )
            self.modems.append(modem)
            self.workers.append(OutboxWorker(self.store, modem.port, modem, self.bell, policy))

    def start(self) -> None:
        """Recover from a crash, then start everything."""
        s = self.parts.settings
        interrupted = self.store.recover_interrupted(resend=s.resend_interrupted, grace=s.interrupted_grace)
        if interrupted:
            log.warning(
                "%d SMS were being sent when the gateway stopped: %s",
                len(interrupted),
                "waiting for their delivery reports before resending"
                if s.resend_interrupted
                else "marked failed",
            )
        self.gateway.start()
        for modem in self.modems:
            modem.start()
        for worker in self.workers:
            worker.start()
        if self.notifier is not None:
            self.notifier.start()
        self._pump = threading.Thread(target=self._run_pump, name="sms-events", daemon=True)
        self._pump.start()
        log.info("SMS gateway started with %d modem(s)", len(self.modems))

    def stop(self) -> None:
        """Stop every thread (each finishes what it holds), then close the database."""
        self._stop.set()
        for worker in self.workers:
            worker.stop()
        if self.notifier is not None:
            self.notifier.stop()
        self.gateway.stop()
        for modem in self.modems:
            modem.stop()
        if self._pump is not None:
            self._pump.join(10)
        self.write_status(stopped=True)
        self.store.close()
        log.info("SMS gateway stopped")

    def run_until(self, stop: threading.Event) -> None:
        """Run until ``stop`` is set."""
        self.start()
        try:
            stop.wait()
        finally:
            self.stop()

    # -- events and status --------------------------------------------------------------------------

    def _run_pump(self) -> None:
        next_status = 0.0
        next_prune = time.monotonic() + 60
        while not self._stop.is_set():
            try:
                event = self.events.get(timeout=0.5)
            except queue.Empty:
                event = None
            try:
                if event is not None:
                    self._apply(event)
                if time.monotonic() >= next_status:
                    next_status = time.monotonic() + self.parts.status_interval
                    self.write_status()
                if time.monotonic() >= next_prune:
                    next_prune = time.monotonic() + 3600
                    self.store.prune(time.time() - self.parts.settings.keep_days * 86400)
            except Exception:  # keep pumping: delivery reports are bookkeeping, not replies
                log.exception("SMS event handling failed")

    def _store_reports(self, reports: list[DeliveryReport]) -> None:
        """Commit delivery reports read from a modem (its thread); the modem deletes them afterwards."""
        self.store.record_reports(reports)
        self.delivery_reports += sum(1 for r in reports if r.final)

    def _apply(self, event: ModemEvent) -> None:
        if isinstance(event, DeliveryReport):
            if event.final:
                self.delivery_reports += 1
                self.store.record_delivery(
                    event.modem,
                    event.message_ref,
                    event.delivered,
                    f"status {event.status:#x}",
                    recipient=event.to,
                )
        elif isinstance(event, ModemUp):
            grace = self.parts.settings.interrupted_grace
            if grace > 0 and self.store.defer_unconfirmed(event.modem, time.time() + grace):
                log.info(
                    "modem %s up: waiting %.0f s for delivery reports of interrupted SMS", event.modem, grace
                )
            self.bell.ring()  # queued SMS may go now
        elif isinstance(event, ModemDown):
            pass  # the modem adapter logs it; its worker pauses on HardwareUnavailable

    def snapshot(self) -> dict[str, Any]:
        """Everything ``sms status`` shows: modems, workers, queue depths, counters."""
        modems = []
        for modem, worker in zip(self.modems, self.workers, strict=True):
            st = modem.status()
            data = {k: _plain(v) for k, v in asdict(st).items()}
            data["signal_percent"] = st.signal_percent
            data["worker"] = {
                "sent": worker.sent,
                "failures": worker.failures,
                "last_error": worker.last_error,
            }
            modems.append(data)
        return {
            "updated_at": time.time(),
            "started_at": self.started_at,
            "lookup": {"breaker": self._breaker()},
            "modems": modems,
            "inbound": {
                "handled": self.gateway.handled,
                "errors": self.gateway.errors,
                "set_aside": self.gateway.set_aside,
            },
            "notifications": {
                "queued": self.notifier.queued if self.notifier else 0,
                "errors": self.notifier.errors if self.notifier else 0,
            },
            "delivery_reports": self.delivery_reports,
        }

    def _breaker(self) -> dict[str, Any] | None:
        """The lookup's circuit breaker (``LookupService.breaker_state``; None for a lookup without one)."""
        state: Callable[[], dict[str, Any]] | None = getattr(self.parts.lookup, "breaker_state", None)
        if state is None:
            return None
        try:
            return dict(state())
        except Exception:  # the status must be written even if the lookup misbehaves
            log.exception("reading the lookup's breaker state failed")
            return None

    def write_status(self, *, stopped: bool = False) -> None:
        """Save the snapshot for ``sms status`` (another process)."""
        self.store.set_meta(STATUS_KEY, json.dumps({**self.snapshot(), "stopped": stopped}))
        self._status_written = time.monotonic()

    def healthy(self) -> bool:
        """Whether the serve loop is alive and committing: what feeds systemd's watchdog.

        The event pump must be running and must have written the status (a database commit) within
        three status intervals; a wedged loop or a store that no longer commits stops the feeding.
        """
        pump = self._pump
        if pump is None or not pump.is_alive() or self._stop.is_set():
            return False
        return time.monotonic() - self._status_written < 3 * self.parts.status_interval


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    return value
