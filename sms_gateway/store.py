"""The gateway's own SQLite database: inbound parts and messages, outbox, subscriptions, cursors.

The only module that opens this database, through the project's store foundation
(``dossier.sqlstore``: versioned migrations of the component "sms", errors translated to
``StorageError``). ``durable=True`` (``synchronous=FULL``): a committed inbound part or outbox change
survives a power cut, because an SMS cannot be fetched again. One connection shared by the gateway's
threads behind the foundation's lock; every write is one short transaction. Times are Unix seconds
(``float``); the clock is injectable for tests. Plain SQL throughout: every statement here is a
conditional update or a claim (``UPDATE … RETURNING``) that sqlite-utils' table helpers do not express.

Exactly-once replies: a message is marked handled in the same transaction that queues its reply
(``outbox.inbound_id`` is UNIQUE), so a restart re-handles only messages that have no reply yet.
"""

from __future__ import annotations

import hashlib
import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dossier.sqlstore import SqliteStore
from sms_gateway import delivery_reports as reports
from sms_gateway.store_schema import COMPONENT, MIGRATIONS
from sms_gateway.store_types import (
    MESSAGE_STATES,
    OUT_STATES,
    Clock,
    Message,
    NewMessage,
    Outgoing,
    OutRow,
    PartIn,
    StoredPart,
    body_key,
)

if TYPE_CHECKING:
    from sms_gateway.modem_types import DeliveryReport

__all__ = [
    "MESSAGE_STATES",
    "OUT_STATES",
    "Message",
    "NewMessage",
    "OutRow",
    "Outgoing",
    "PartIn",
    "SmsStore",
    "StoredPart",
    "body_key",
]


class SmsStore:
    """The gateway database (see module docstring)."""

    def __init__(self, path: str | Path, *, clock: Clock = time.time) -> None:
        self.path = Path(path)
        self.clock = clock
        self.sql = SqliteStore.open(self.path, component=COMPONENT, migrations=MIGRATIONS, durable=True)
        self._conn = self.sql.conn

    def close(self) -> None:
        """Close the connection."""
        self.sql.close()

    # -- plumbing -----------------------------------------------------------------------------------

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (BEGIN IMMEDIATE … COMMIT), errors translated to ``StorageError``."""
        with self.sql.transaction() as conn:
            yield conn

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self.sql.reading() as conn:
            return conn.execute(sql, params).fetchall()

    def _scalar(self, sql: str, params: Sequence[Any] = ()) -> Any:
        rows = self._query(sql, params)
        return rows[0][0] if rows else None

    # -- inbound ------------------------------------------------------------------------------------

    def add_parts(self, parts: Iterable[PartIn]) -> int:
        """Commit received parts (durably) before the modem deletes them; returns how many were new.

        A part whose PDU was stored already (the modem delivered it again after a crash) is ignored.
        """
        now = self.clock()
        added = 0
        with self._tx() as conn:
            for p in parts:
                key = (
                    hashlib.sha256(f"{p.modem_id}\x00{p.pdu.upper()}".encode()).hexdigest() if p.pdu else None
                )
                cur = conn.execute(
                    "INSERT OR IGNORE INTO inbound_parts (modem_id, sender, received_at, sc_time, pdu, pdu_key,"
                    " text, encoding, concat_ref, concat_total, concat_seq, error)"
                    " VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                    (
                        p.modem_id,
                        p.sender,
                        now,
                        p.sc_time,
                        p.pdu,
                        key,
                        p.text,
                        p.encoding,
                        p.concat_ref,
                        p.concat_total,
                        p.concat_seq,
                        p.error,
                    ),
                )
                added += cur.rowcount
        return added

    def waiting_parts(self) -> list[StoredPart]:
        """Parts not yet joined into a message, oldest first."""
        rows = self._query(
            "SELECT id, modem_id, sender, received_at, text, encoding, concat_ref, concat_total, concat_seq,"
            " error, pdu FROM inbound_parts WHERE message_id IS NULL ORDER BY id"
        )
        return [StoredPart(*r) for r in rows]

    def add_messages(self, messages: Iterable[NewMessage]) -> list[int]:
        """Store whole messages and attach their parts, in one transaction; returns the new ids."""
        ids: list[int] = []
        with self._tx() as conn:
            for m in messages:
                cur = conn.execute(
                    "INSERT INTO messages (modem_id, sender, phone, text, received_at, parts, incomplete, encoding,"
                    " body_key) VALUES (?,?,?,?,?,?,?,?,?)",
                    (
                        m.modem_id,
                        m.sender,
                        m.phone,
                        m.text,
                        m.received_at,
                        len(m.part_ids),
                        int(m.incomplete),
                        m.encoding,
                        body_key(m.phone or m.sender, m.text),
                    ),
                )
                mid = int(cur.lastrowid or 0)
                conn.executemany(
                    "UPDATE inbound_parts SET message_id = ? WHERE id = ?", [(mid, pid) for pid in m.part_ids]
                )
                ids.append(mid)
        return ids

    def new_messages(self, limit: int = 100) -> list[Message]:
        """Messages not handled yet, oldest first."""
        rows = self._query(
            "SELECT id, sender, phone, text, received_at, parts, incomplete, body_key, encoding,"
            " (SELECT error FROM inbound_parts p WHERE p.message_id = m.id AND p.error != '' LIMIT 1)"
            " FROM messages m WHERE state = 'new' ORDER BY id LIMIT ?",
            (limit,),
        )
        return [Message(r[0], r[1], r[2], r[3], r[4], r[5], bool(r[6]), r[7], r[8], r[9] or "") for r in rows]

    def seen_recently(self, key: str, since: float, before_id: int) -> bool:
        """Whether an earlier message with the same body key arrived since ``since``."""
        return (
            self._scalar(
                "SELECT 1 FROM messages WHERE body_key = ? AND received_at >= ? AND id < ? LIMIT 1",
                (key, since, before_id),
            )
            is not None
        )

    def finish_message(
        self,
        message_id: int,
        *,
        state: str,
        reason: str = "",
        command: str = "",
        code: str = "",
        reply: Outgoing | None = None,
    ) -> bool:
        """Mark a message handled (``MESSAGE_STATES``) and queue its reply in one transaction; False if it
        was handled already. ``set_aside`` with its reason: the message could not be handled."""
        now = self.clock()
        with self._tx() as conn:
            cur = conn.execute(
                "UPDATE messages SET state = ?, reason = ?, command = ?, code = ?, handled_at = ?"
                " WHERE id = ? AND state = 'new'",
                (state, reason, command, code, now, message_id),
            )
            if cur.rowcount == 0:
                return False
            if reply is not None:
                self._insert_out(conn, reply, now)
        return True

    # -- outbox -------------------------------------------------------------------------------------

    @staticmethod
    def _insert_out(conn: sqlite3.Connection, o: Outgoing, now: float) -> int:
        cur = conn.execute(
            "INSERT OR IGNORE INTO outbox (recipient, phone, text, unicode, kind, inbound_id, event_key, priority,"
            " next_attempt_at, created_at, arrived_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            (
                o.recipient,
                o.phone,
                o.text,
                int(o.unicode),
                o.kind,
                o.inbound_id,
                o.event_key,
                o.priority,
                o.not_before if o.not_before is not None else now,
                now,
                o.arrived_at,
            ),
        )
        return cur.rowcount

    def enqueue(self, items: Iterable[Outgoing], *, meta: dict[str, str] | None = None) -> int:
        """Queue SMS (duplicates by ``inbound_id``/``event_key`` ignored) and update ``meta`` atomically."""
        now = self.clock()
        added = 0
        with self._tx() as conn:
            for o in items:
                added += self._insert_out(conn, o, now)
            for key, value in (meta or {}).items():
                conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))
        return added

    def claim(self, modem_id: str) -> OutRow | None:
        """Atomically take the next due queued SMS for ``modem_id`` (state → sending), or None."""
        now = self.clock()
        with self._tx() as conn:
            self._release_unconfirmed(conn, now)
            row = conn.execute(
                "UPDATE outbox SET state = 'sending', modem_id = ?, claimed_at = ?, attempts = attempts + 1"
                " WHERE id = (SELECT id FROM outbox WHERE state = 'queued' AND next_attempt_at <= ?"
                " ORDER BY priority, next_attempt_at, id LIMIT 1)"
                " RETURNING id, recipient, text, unicode, kind, attempts",
                (modem_id, now, now),
            ).fetchone()
        if row is None:
            return None
        return OutRow(row[0], row[1], row[2], bool(row[3]), row[4], row[5])

    def next_due(self) -> float | None:
        """When the earliest queued SMS becomes due (None: the queue is empty)."""
        return self._scalar(
            "SELECT MIN(next_attempt_at) FROM outbox WHERE state IN ('queued', 'unconfirmed')"
        )

    def mark_sent(self, out_id: int, refs: Sequence[int], parts: int) -> None:
        """The modem accepted all parts of the SMS; remember their references for delivery reports."""
        now = self.clock()
        with self._tx() as conn:
            conn.execute(
                "UPDATE outbox SET state = 'sent', sent_at = ?, refs = ?, parts = ?,"
                " reason = CASE WHEN reason LIKE '%restart%' THEN reason || '; sent again' ELSE '' END"
                " WHERE id = ? AND state = 'sending'",
                (now, ",".join(str(r) for r in refs), parts, out_id),
            )
            row = conn.execute(
                "SELECT modem_id, claimed_at, recipient FROM outbox WHERE id = ?", (out_id,)
            ).fetchone()
            if row is None:
                return
            conn.executemany(
                "INSERT INTO outbox_refs (modem_id, ref, outbox_id, at) VALUES (?,?,?,?)",
                [(row[0], int(r), out_id, now) for r in refs],
            )
            early = reports.take_orphans(conn, row[0], row[1] or 0, row[2], tuple(int(r) for r in refs))
            for ref, delivered, reason in early:  # reports that overtook this record
                reports.apply_report(conn, row[0], ref, row[2], delivered=delivered, final=True,
                                     reason=reason, now=now)  # fmt: skip

    def mark_retry(self, out_id: int, reason: str, next_at: float, *, count_attempt: bool = True) -> None:
        """A send failed but may work later: back to the queue, due at ``next_at``."""
        with self._tx() as conn:
            conn.execute(
                "UPDATE outbox SET state = 'queued', reason = ?, next_attempt_at = ?,"
                " attempts = attempts - ? WHERE id = ? AND state = 'sending'",
                (reason, next_at, 0 if count_attempt else 1, out_id),
            )

    def mark_failed(self, out_id: int, reason: str) -> None:
        """A send failed for good."""
        with self._tx() as conn:
            conn.execute(
                "UPDATE outbox SET state = 'failed', reason = ? WHERE id = ? AND state IN ('sending', 'queued')",
                (reason, out_id),
            )

    def record_delivery(self, modem_id: str, ref: int, delivered: bool, reason: str = "", *,
                        recipient: str = "", final: bool = True) -> bool:  # fmt: skip
        """Apply a delivery report for message reference ``ref``; False when no SMS matches it (it is then
        kept, see ``sms_gateway.delivery_reports``). ``recipient`` "" matches any number."""
        with self._tx() as conn:
            return reports.apply_report(conn, modem_id, ref, recipient, delivered=delivered, final=final,
                                        reason=reason, now=self.clock())  # fmt: skip

    def record_reports(self, items: Iterable[DeliveryReport]) -> int:
        """Commit reports read from a modem in one transaction, before the modem deletes them; a report
        read again after a crash (same key) is skipped. Returns how many matched an SMS."""
        now = self.clock()
        matched = 0
        with self._tx() as conn:
            for r in items:
                if reports.seen_before(conn, r.dedup_key, now):
                    continue
                matched += reports.apply_report(
                    conn, r.modem, r.message_ref, r.to, delivered=r.delivered, final=r.final,
                    reason=f"status {r.status:#x}", now=now,
                )  # fmt: skip
        return matched

    def recover_interrupted(self, *, resend: bool, grace: float = 0.0) -> list[int]:
        """Rows left in 'sending' by a crash; returns their ids.

        The modem may or may not have accepted such an SMS before the process died. A delivery report
        for its recipient that no recorded send explains proves it went: the row is marked so. Otherwise,
        with ``grace`` > 0 the row waits that long as 'unconfirmed' for such a report, then is queued
        again. ``resend=False`` marks them failed instead (at most once: may lose one reply).
        """
        with self._tx() as conn:
            return reports.recover_interrupted(conn, resend=resend, grace=grace, now=self.clock())

    def defer_unconfirmed(self, modem_id: str, until: float) -> int:
        """Give ``modem_id``'s unconfirmed SMS until ``until`` (its modem just came up: reports may follow)."""
        with self._tx() as conn:
            return conn.execute(
                "UPDATE outbox SET next_attempt_at = MAX(next_attempt_at, ?) WHERE state = 'unconfirmed' AND modem_id = ?",
                (until, modem_id),
            ).rowcount

    @staticmethod
    def _release_unconfirmed(conn: sqlite3.Connection, now: float) -> None:
        conn.execute(
            "UPDATE outbox SET state = 'queued', reason = 'interrupted by a restart; no delivery report came'"
            " WHERE state = 'unconfirmed' AND next_attempt_at <= ?",
            (now,),
        )

    def outbox_row(self, out_id: int) -> dict[str, Any] | None:
        """One outbox row as a dict (tests, status)."""
        with self.sql.reading() as conn:
            cur = conn.execute("SELECT * FROM outbox WHERE id = ?", (out_id,))
            row = cur.fetchone()
            return dict(zip([d[0] for d in cur.description], row, strict=True)) if row else None

    # -- limits -------------------------------------------------------------------------------------

    def count_to_phone(self, phone: str, since: float, kinds: Sequence[str] | None = None) -> int:
        """SMS queued to ``phone`` since ``since`` (optionally only these kinds)."""
        if kinds:
            marks = ",".join("?" * len(kinds))
            return int(
                self._scalar(
                    f"SELECT COUNT(*) FROM outbox WHERE phone = ? AND created_at >= ? AND kind IN ({marks})",
                    (phone, since, *kinds),
                )
            )
        return int(
            self._scalar("SELECT COUNT(*) FROM outbox WHERE phone = ? AND created_at >= ?", (phone, since))
        )

    def count_since(self, since: float) -> int:
        """SMS queued in all since ``since`` (for the global daily cap)."""
        return int(self._scalar("SELECT COUNT(*) FROM outbox WHERE created_at >= ?", (since,)))

    # -- subscriptions ------------------------------------------------------------------------------

    def subscribe(self, phone: str, recipient: str, code: str, expires_at: float) -> bool:
        """Add or renew a subscription; True when it is new."""
        now = self.clock()
        with self._tx() as conn:
            existed = conn.execute(
                "SELECT 1 FROM subscriptions WHERE phone = ? AND code = ? AND expires_at > ?",
                (phone, code, now),
            ).fetchone()
            conn.execute(
                "INSERT OR REPLACE INTO subscriptions (phone, recipient, code, created_at, expires_at)"
                " VALUES (?,?,?,?,?)",
                (phone, recipient, code, now, expires_at),
            )
        return existed is None

    def unsubscribe(self, phone: str, code: str | None = None) -> int:
        """Remove one subscription, or all of this phone's; returns how many."""
        with self._tx() as conn:
            if code is None:
                cur = conn.execute("DELETE FROM subscriptions WHERE phone = ?", (phone,))
            else:
                cur = conn.execute("DELETE FROM subscriptions WHERE phone = ? AND code = ?", (phone, code))
            return cur.rowcount

    def subscribers(self, code: str, at: float) -> list[tuple[str, str, float]]:
        """(phone, recipient, expires_at) of live subscriptions to ``code`` at time ``at``."""
        rows = self._query(
            "SELECT phone, recipient, expires_at FROM subscriptions WHERE code = ? AND expires_at > ? ORDER BY phone",
            (code, at),
        )
        return [(r[0], r[1], r[2]) for r in rows]

    def cap_subscriptions(self, code: str, expires_at: float) -> None:
        """Make every subscription to ``code`` end no later than ``expires_at`` (result returned)."""
        with self._tx() as conn:
            conn.execute(
                "UPDATE subscriptions SET expires_at = MIN(expires_at, ?) WHERE code = ?", (expires_at, code)
            )

    def subscription_count(self, phone: str) -> int:
        """Live subscriptions of one phone."""
        return int(
            self._scalar(
                "SELECT COUNT(*) FROM subscriptions WHERE phone = ? AND expires_at > ?", (phone, self.clock())
            )
        )

    # -- meta, status, housekeeping -----------------------------------------------------------------

    def get_meta(self, key: str, default: str = "") -> str:
        """A stored setting (cursor, counters)."""
        value = self._scalar("SELECT value FROM meta WHERE key = ?", (key,))
        return default if value is None else str(value)

    def set_meta(self, key: str, value: str) -> None:
        """Store a setting."""
        with self._tx() as conn:
            conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    def stats(self) -> dict[str, Any]:
        """Queue depths, message counts and last activity, for ``sms status`` and health."""
        out = {s: 0 for s in OUT_STATES}
        for state, n in self._query("SELECT state, COUNT(*) FROM outbox GROUP BY state"):
            out[state] = n
        inbound = dict(self._query("SELECT state, COUNT(*) FROM messages GROUP BY state"))
        day_ago = self.clock() - 86400
        return {
            "outbox": out,
            "messages": inbound,
            "parts_waiting": self._scalar("SELECT COUNT(*) FROM inbound_parts WHERE message_id IS NULL"),
            "parts_undecodable": self._scalar("SELECT COUNT(*) FROM inbound_parts WHERE error != ''"),
            "sent_24h": self._scalar("SELECT COUNT(*) FROM outbox WHERE sent_at >= ?", (day_ago,)),
            "failed_24h": self._scalar(
                "SELECT COUNT(*) FROM outbox WHERE state = 'failed' AND created_at >= ?", (day_ago,)
            ),
            "received_24h": self._scalar("SELECT COUNT(*) FROM messages WHERE received_at >= ?", (day_ago,)),
            "last_received_at": self._scalar("SELECT MAX(received_at) FROM inbound_parts"),
            "last_sent_at": self._scalar("SELECT MAX(sent_at) FROM outbox"),
            "subscriptions": self._scalar(
                "SELECT COUNT(*) FROM subscriptions WHERE expires_at > ?", (self.clock(),)
            ),
            "mean_reply_seconds_24h": self._scalar(
                "SELECT AVG(sent_at - arrived_at) FROM outbox WHERE arrived_at IS NOT NULL AND sent_at >= ?",
                (day_ago,),
            ),
        }

    def prune(self, older_than: float) -> int:
        """Delete handled messages, their parts and finished outbox rows older than ``older_than``."""
        with self._tx() as conn:
            n = conn.execute(
                "DELETE FROM outbox WHERE state IN ('sent', 'delivered', 'failed') AND created_at < ?",
                (older_than,),
            ).rowcount
            conn.execute("DELETE FROM outbox_refs WHERE at < ?", (older_than,))
            conn.execute("DELETE FROM delivery_orphans WHERE at < ?", (older_than,))
            conn.execute("DELETE FROM delivery_seen WHERE at < ?", (older_than,))
            conn.execute(
                "DELETE FROM inbound_parts WHERE message_id IN"
                " (SELECT id FROM messages WHERE state != 'new' AND received_at < ?)",
                (older_than,),
            )
            n += conn.execute(
                "DELETE FROM messages WHERE state != 'new' AND received_at < ?", (older_than,)
            ).rowcount
            conn.execute("DELETE FROM subscriptions WHERE expires_at < ?", (older_than,))
        return n
