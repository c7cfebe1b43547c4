"""Reading what a modem received: SMS and status reports, from every memory, persisted before deletion.

``Receiver`` runs on the modem's owner thread with the owner's command function. A notice
(``+CMTI: "SM",3``, ``+CDSI: "SR",5``) makes us read that memory; a sweep reads every memory the modem
offers (``modem_memory.Offer.sweep``). Messages go to ``store_incoming`` and reports to ``store_reports``;
only after that returned are they deleted from the modem (``AT+CPMS="SM";+CMGD=3``). A commit that fails
deletes nothing: the next sweep offers them again. Direct deliveries (``+CMT``, ``+CDS``) are handed on at
once (they are not stored on the modem).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from gsmmodem.exceptions import CommandError

from dossier.errors import TemporaryError
from sms_gateway import pdu
from sms_gateway.modem_memory import READ_ORDER, in_memory, was_full
from sms_gateway.modem_protocol import is_status_report, parse_cmgl, received_from_pdu, report_from_pdu
from sms_gateway.modem_types import DeliveryReport, ModemEvent, Received
from sms_gateway.redact import describe_pdu

log = logging.getLogger("sms_gateway.modem")

FULL_ROUNDS = 10  # a memory found full is read again (the network holds what did not fit) this many times


class Receiver:
    """Reads, commits, then deletes (see the module docstring); one per modem, on its owner thread."""

    def __init__(
        self,
        port: str,
        *,
        cmd: Callable[[str], list[str]],
        store_incoming: Callable[[list[Received]], None],
        store_reports: Callable[[list[DeliveryReport]], None] | None,
        emit: Callable[[ModemEvent], None],
        count: Callable[..., None],
    ) -> None:
        self.port = port
        self._cmd = cmd
        self._store_incoming = store_incoming
        self._store_reports = store_reports  # None: reports go to ``emit`` (and are deleted at once)
        self._emit = emit
        self._count = count  # count(counter=n) adds, count(last_error=text) sets, last_receive_at=True stamps
        self.memories: tuple[str, ...] = ()  # what a sweep reads; () = the modem's current memory
        self.pending: set[str] = set()  # memories named by notices, not read since
        self.commit_failed = False  # the last commit failed: the owner retries soon

    def configure(self, memories: tuple[str, ...]) -> None:
        """The memories the modem offers for reading (``()`` when it cannot select one)."""
        self.memories = memories

    def note(self, memory: str, index: int) -> None:
        """A notice named ``memory`` (and ``index``): read that memory at the next chance."""
        self.pending.add(memory if memory in self.memories else "")

    def read_pending(self) -> None:
        """Read the memories notices named: one listing each, however many notices came (a listing costs
        what one ``+CMGR`` costs, and takes along what arrived meanwhile in that memory)."""
        pending, self.pending = self.pending, set()
        for memory in sorted(pending, key=lambda m: READ_ORDER.index(m) if m in READ_ORDER else -1):
            self.read_memory(memory)

    def sweep(self) -> None:
        """Read every memory the modem offers (the safety net for lost notices and for what a reset or a
        replug left in another memory)."""
        self.pending.clear()
        for memory in self.memories or ("",):
            self.read_memory(memory)

    def read_memory(self, memory: str) -> None:
        """List ``memory`` (``AT+CMGL=4``), commit what is there, delete it; again while it was full, as
        the network holds what did not fit and delivers it as slots free up."""
        for _ in range(FULL_ROUNDS):
            lines = self._cmd(in_memory(memory, "AT+CMGL=4"))
            listing = [(i, p) for i, stat, p in parse_cmgl(lines) if stat not in (2, 3)]  # 2, 3: outgoing
            if not self._take(memory, listing) or not memory or not was_full(lines):
                return

    def _take(self, memory: str, entries: list[tuple[int, str]]) -> bool:
        """Commit then delete ``entries``; False when a commit failed (they stay on the modem)."""
        self.commit_failed = False
        received: list[Received] = []
        reports: list[tuple[int, DeliveryReport]] = []
        for index, pdu_hex in entries:
            log.debug("read %s #%d on %s: %s", memory or "memory", index, self.port, describe_pdu(pdu_hex))
            report = self._decode_report(pdu_hex) if is_status_report(pdu_hex) else None
            if report is not None:
                reports.append((index, report))
            else:  # undecodable reports too: kept raw
                received.append(self._decode(pdu_hex, index, memory))
        if received and self._commit_messages(received):
            for r in received:
                self._delete(memory, r.storage_index)
        if reports and self._commit_reports([r for _, r in reports]):
            for index, _ in reports:
                self._delete(memory, index)
        return bool(entries) and not self.commit_failed

    def direct_message(self, pdu_hex: str) -> None:
        """A message delivered as ``+CMT`` (not stored on the modem): commit it now."""
        log.debug("direct message on %s: %s", self.port, describe_pdu(pdu_hex))
        if not self._commit_messages([self._decode(pdu_hex, -1, "")]):
            log.error("a message delivered directly by %s could not be stored and is lost", self.port)

    def direct_report(self, pdu_hex: str) -> None:
        """A status report delivered as ``+CDS`` (not stored on the modem): commit it now."""
        report = self._decode_report(pdu_hex)
        if report is not None:
            self._commit_reports([report])

    def _decode_report(self, pdu_hex: str) -> DeliveryReport | None:
        try:
            return report_from_pdu(pdu_hex, self.port)
        except pdu.PduError as err:
            log.warning("undecodable status report from %s: %s", self.port, err)
            return None

    def _decode(self, pdu_hex: str, index: int, memory: str) -> Received:
        received = received_from_pdu(pdu_hex, index, self.port, memory)
        if received.decode_error:
            self._count(decode_errors=1)
            log.warning("undecodable PDU at %s %s #%d kept raw: %s", self.port, memory, index,
                        received.decode_error)  # fmt: skip
        return received

    def _commit_messages(self, received: list[Received]) -> bool:
        try:
            self._store_incoming(received)
        except Exception as err:  # nothing is deleted: the next sweep offers the parts again
            self._count(store_failures=1, last_error=f"store failed: {err}")
            log.error("storing %d received part(s) failed, kept on the modem: %s", len(received), err)
            self.commit_failed = True
            return False
        self._count(received_parts=len(received), last_receive_at=True)
        log.info("received %d part(s) on %s", len(received), self.port)
        return True

    def _commit_reports(self, reports: list[DeliveryReport]) -> bool:
        """Persist before delete: ``store_reports`` commits them, then they leave the modem."""
        if self._store_reports is None:
            for report in reports:
                self._emit(report)
            return True
        try:
            self._store_reports(reports)
        except Exception as err:  # nothing is deleted: the next sweep offers them again
            self._count(store_failures=1, last_error=f"store failed: {err}")
            log.error("storing %d delivery report(s) failed, kept on the modem: %s", len(reports), err)
            self.commit_failed = True
            return False
        return True

    def _delete(self, memory: str, index: int) -> None:
        try:
            self._cmd(in_memory(memory, f"AT+CMGD={index}"))
        except (CommandError, TemporaryError) as err:
            log.warning("could not delete message %s #%d on %s: %s", memory, index, self.port, err)
