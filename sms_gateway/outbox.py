"""Outbox workers: one thread per modem takes SMS from the shared persistent queue and sends them.

Each worker claims one row at a time (an atomic UPDATE … RETURNING, state ``sending``, committed before
the modem is asked), sends it, then records ``sent`` with the message references (or puts it back with
a backoff, or marks it ``failed`` with the reason). A modem that is absent does not burn attempts: the
row goes back to the queue at once for another modem and this worker pauses with its own backoff.

Crash safety (documented choice): a row found in ``sending`` at start-up was in flight when the process
died, and the modem may have accepted it in the milliseconds before ``sent`` was recorded. It waits as
``unconfirmed`` for ``interrupted_grace`` seconds; a delivery report for its recipient that no recorded
send explains proves it went (no resend; the modem stores reports while the gateway is down, see
``sms_gateway.delivery_reports``). Otherwise it is sent again: the modem never took it (a send cut at the
``> `` prompt is cancelled with ESC on reconnect). The only possible duplicate is that one in-flight SMS
per modem, and only when its report does not come back within the grace period.
Replies are never lost: a message is marked handled in the transaction that queues its reply.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from dossier.errors import HardwareUnavailable, InvalidInput, MotcuaError, NeedsTechnician
from sms_gateway.modem_types import MessageRejected, mask_number
from sms_gateway.store import OutRow, SmsStore

log = logging.getLogger(__name__)


class Sender(Protocol):
    """What a worker needs from a modem: send one SMS (all parts) or raise a ``dossier.errors`` type."""

    def send(
        self,
        to: str,
        text: str,
        *,
        unicode: bool = False,
        request_report: bool = False,
        timeout: float | None = None,
    ) -> Any:
        """Send and return an object with ``message_refs`` (one per part) and ``parts``."""
        ...


@dataclass(frozen=True)
class WorkerPolicy:
    """Retry and throttle settings of the outbox workers."""

    max_attempts: int = 5
    retry_backoff: float = 20.0
    retry_max_backoff: float = 900.0
    min_part_interval: float = 0.0
    send_timeout: float | None = None  # None: the modem's own limit (its send_timeout per part)
    request_report: bool = True
    absent_backoff_max: float = 30.0


class Doorbell:
    """Wakes idle workers when something is queued (no polling delay between queue and send)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._rings = 0

    def ring(self) -> None:
        """Something new is due."""
        with self._cond:
            self._rings += 1
            self._cond.notify_all()

    @property
    def rings(self) -> int:
        """Counter that changes on each ring (read before checking the queue)."""
        return self._rings

    def wait(self, seen: int, timeout: float) -> None:
        """Wait until a ring after ``seen``, or ``timeout`` seconds."""
        with self._cond:
            if self._rings == seen:
                self._cond.wait(timeout)


class OutboxWorker:
    """Sends queued SMS through one modem; run it in its own thread (``start``/``stop``)."""

    def __init__(
        self,
        store: SmsStore,
        modem_id: str,
        modem: Sender,
        bell: Doorbell,
        policy: WorkerPolicy | None = None,
        *,
        on_sent: Callable[[str, OutRow, float], None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.modem_id = modem_id
        self.modem = modem
        self.bell = bell
        self.policy = policy or WorkerPolicy()
        self.on_sent = on_sent
        self.clock = clock
        self.sent = 0
        self.failures = 0
        self.last_error = ""
        self.last_sent_at: float | None = None
        self.idle_waits = 0  # times the worker found nothing due and waited for the doorbell
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._absent_pause = 0.0
        self._next_free = 0.0  # monotonic time before which this modem sends nothing (throttle)

    def start(self) -> None:
        """Start the worker thread."""
        self._thread = threading.Thread(target=self._run, name=f"outbox-{self.modem_id}", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Ask the worker to stop after its current send and wait for it."""
        self._stop.set()
        self.bell.ring()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                if not self.step():
                    self._idle()
            except MotcuaError as err:  # storage trouble: log once per kind, pause, keep going
                self.last_error = str(err)
                log.error("outbox %s: %s", self.modem_id, err)
                self._stop.wait(2.0)
            except Exception:  # a bug must not stop the gateway sending
                log.exception("outbox %s: unexpected error", self.modem_id)
                self._stop.wait(2.0)

    def _idle(self) -> None:
        seen = self.bell.rings
        due = self.store.next_due()
        timeout = 5.0 if due is None else min(max(due - self.clock(), 0.01), 5.0)
        self.idle_waits += 1
        self.bell.wait(seen, timeout)

    def step(self) -> bool:
        """Send at most one queued SMS; False when nothing was due."""
        pause = self._next_free - time.monotonic()
        if pause > 0 and self._stop.wait(pause):
            return True
        row = self.store.claim(self.modem_id)
        if row is None:
            return False
        self._send(row)
        return True

    def _send(self, row: OutRow) -> None:
        p = self.policy
        log.debug(
            "outbox %s: sending #%d (%s) to %s", self.modem_id, row.id, row.kind, mask_number(row.recipient)
        )
        try:
            result = self.modem.send(
                row.recipient,
                row.text,
                unicode=row.unicode,
                request_report=p.request_report,
                timeout=p.send_timeout,
            )
        except (HardwareUnavailable, NeedsTechnician) as err:
            self.last_error = str(err)
            self.failures += 1
            self.store.mark_retry(
                row.id, f"modem unavailable: {err}"[:200], self.clock(), count_attempt=False
            )
            self.bell.ring()  # another modem may take it
            self._absent_pause = min(max(self._absent_pause * 2, 1.0), p.absent_backoff_max)
            log.warning(
                "outbox %s: modem unavailable (%s); pausing %.0f s", self.modem_id, err, self._absent_pause
            )
            self._stop.wait(self._absent_pause)
            return
        except (InvalidInput, MessageRejected) as err:
            self.failures += 1
            self.last_error = str(err)
            self.store.mark_failed(row.id, str(err)[:200])
            log.warning("outbox %s: #%d rejected for good: %s", self.modem_id, row.id, err)
            return
        except Exception as err:  # noqa: BLE001 - any send failure is retried with backoff
            self.failures += 1
            self.last_error = str(err)
            reason = f"{type(err).__name__}: {err}"[:200]
            if row.attempts >= p.max_attempts:
                self.store.mark_failed(row.id, f"gave up after {row.attempts} attempts: {reason}")
                log.warning(
                    "outbox %s: #%d failed after %d attempts: %s", self.modem_id, row.id, row.attempts, reason
                )
            else:
                delay = min(p.retry_backoff * 2 ** (row.attempts - 1), p.retry_max_backoff)
                self.store.mark_retry(row.id, reason, self.clock() + delay)
                log.info(
                    "outbox %s: #%d send failed (%s); retry in %.0f s", self.modem_id, row.id, reason, delay
                )
            return
        if self._absent_pause:
            log.info("outbox %s: modem sending again", self.modem_id)
        self._absent_pause = 0.0
        raw_refs = getattr(result, "message_refs", None) or getattr(result, "refs", None) or ()
        refs = [int(r) for r in raw_refs if r is not None]
        parts = int(getattr(result, "parts", 0) or len(refs) or 1)
        self.store.mark_sent(row.id, refs, parts)
        now = self.clock()
        self.sent += 1
        self.last_sent_at = now
        if p.min_part_interval > 0:
            self._next_free = time.monotonic() + p.min_part_interval * parts
        if self.on_sent is not None:
            self.on_sent(self.modem_id, row, now)
