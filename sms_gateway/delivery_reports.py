"""Delivery reports against the outbox: which sent SMS a report belongs to, and what a crash left behind.

SQL run by ``SmsStore`` inside its own transactions (the store stays the only module that opens the
database). The rules:

- A report names the modem's message reference (0-255, reused) and the recipient. It goes to the latest
  send on that modem that used that reference, for that recipient, and still waits for reports.
- An SMS found in ``sending`` at start-up was in flight when the process died; the modem may have
  accepted it before its reference was read. Such a row waits as ``unconfirmed``; a report for its
  recipient that no recorded send explains proves it went (each modem sends one SMS at a time).
- A report that matches nothing yet is kept as an orphan: the send it belongs to may not be recorded
  yet (the report overtook ``+CMGS``), or a crash interrupted it.
- A report read twice (a crash between committing it and deleting it from the SIM) is applied once: the
  store remembers each report's key.
"""

from __future__ import annotations

import sqlite3

PROVEN = "sent before a restart (delivery report seen)"


def same_number(a: str, b: str) -> bool:
    """True when two phone numbers may be the same subscriber (``+8491…`` = ``091…``); unknown matches."""
    da, db = "".join(c for c in a if c.isdigit()), "".join(c for c in b if c.isdigit())
    if not da or not db:
        return True
    if len(da) >= 9 and len(db) >= 9:
        return da[-9:] == db[-9:]
    return da == db


def seen_before(conn: sqlite3.Connection, key: str, now: float) -> bool:
    """Remember report ``key``; True when it had been applied already."""
    if not key:
        return False
    return (
        conn.execute("INSERT OR IGNORE INTO delivery_seen (key, at) VALUES (?, ?)", (key, now)).rowcount == 0
    )


def apply_report(conn: sqlite3.Connection, modem_id: str, ref: int, recipient: str, *, delivered: bool,
                 final: bool, reason: str, now: float) -> bool:  # fmt: skip
    """Apply one report (see the module docstring); False when it matched no SMS (kept as an orphan)."""
    candidates = conn.execute(
        "SELECT r.outbox_id, o.recipient FROM outbox_refs r JOIN outbox o ON o.id = r.outbox_id"
        " WHERE r.modem_id = ? AND r.ref = ? AND o.state = 'sent' ORDER BY r.at DESC",
        (modem_id, ref),
    ).fetchall()
    out_id = next((i for i, to in candidates if same_number(to, recipient)), None)
    if out_id is None:
        unconfirmed = conn.execute(
            "SELECT id, recipient FROM outbox WHERE state = 'unconfirmed' AND modem_id = ? ORDER BY claimed_at DESC",
            (modem_id,),
        ).fetchall()
        out_id = next((i for i, to in unconfirmed if same_number(to, recipient)), None)
        if out_id is None:
            if final:
                conn.execute(
                    "INSERT INTO delivery_orphans (modem_id, ref, delivered, reason, at, recipient)"
                    " VALUES (?,?,?,?,?,?)",
                    (modem_id, ref, int(delivered), reason[:200], now, recipient),
                )
            return False
        conn.execute(
            "UPDATE outbox SET state = 'sent', sent_at = COALESCE(sent_at, claimed_at), refs = ?,"
            " parts = MAX(parts, 1), reason = ? WHERE id = ?",
            (str(ref), PROVEN, out_id),
        )
        conn.execute(
            "INSERT INTO outbox_refs (modem_id, ref, outbox_id, at) VALUES (?,?,?,?)",
            (modem_id, ref, out_id, now),
        )
    if not final:  # the service centre has it and keeps trying: proof of sending, no outcome yet
        return True
    if delivered:
        conn.execute(
            "UPDATE outbox SET delivered_parts = delivered_parts + 1,"
            " state = CASE WHEN delivered_parts + 1 >= parts THEN 'delivered' ELSE state END,"
            " delivered_at = CASE WHEN delivered_parts + 1 >= parts THEN ? ELSE delivered_at END"
            " WHERE id = ?",
            (now, out_id),
        )
    else:
        conn.execute(
            "UPDATE outbox SET state = 'failed', reason = ? WHERE id = ?",
            (f"not delivered: {reason}"[:200], out_id),
        )
    return True


def take_orphans(conn: sqlite3.Connection, modem_id: str, since: float, recipient: str,
                 refs: tuple[int, ...] | None = None) -> list[tuple[int, bool, str]]:  # fmt: skip
    """Remove and return (ref, delivered, reason) of ``modem_id``'s orphans since ``since`` that may
    belong to an SMS to ``recipient`` (only those with one of ``refs`` when given), oldest first."""
    rows = conn.execute(
        "SELECT rowid, ref, delivered, reason, recipient FROM delivery_orphans WHERE modem_id = ? AND at >= ?"
        " ORDER BY at",
        (modem_id, since),
    ).fetchall()
    taken = [r for r in rows if same_number(r[4], recipient) and (refs is None or r[1] in refs)]
    conn.executemany("DELETE FROM delivery_orphans WHERE rowid = ?", [(r[0],) for r in taken])
    return [(r[1], bool(r[2]), r[3]) for r in taken]


def recover_interrupted(conn: sqlite3.Connection, *, resend: bool, grace: float, now: float) -> list[int]:
    """Rows left in ``sending`` by a crash: proven by an orphan report, else ``unconfirmed`` for ``grace``
    seconds (then queued again), or ``failed`` when ``resend`` is off. Returns their ids."""
    rows = conn.execute(
        "SELECT id, modem_id, claimed_at, recipient FROM outbox WHERE state = 'sending'"
    ).fetchall()
    for out_id, modem_id, claimed_at, recipient in rows:
        proof = take_orphans(conn, modem_id, claimed_at or 0, recipient)[:1]
        if proof:
            ref, delivered, reason = proof[0]
            conn.execute(
                "UPDATE outbox SET state = ?, sent_at = claimed_at, delivered_at = ?, refs = ?, parts = 1,"
                " delivered_parts = ?, reason = ? WHERE id = ?",
                (
                    "delivered" if delivered else "failed",
                    now if delivered else None,
                    str(ref),
                    int(delivered),
                    PROVEN if delivered else f"not delivered: {reason}",
                    out_id,
                ),
            )
        elif not resend:
            conn.execute(
                "UPDATE outbox SET state = 'failed', reason = 'interrupted by a restart (may have been sent)'"
                " WHERE id = ?",
                (out_id,),
            )
        else:
            conn.execute(
                "UPDATE outbox SET state = ?, reason = 'interrupted by a restart', next_attempt_at = ? WHERE id = ?",
                ("unconfirmed" if grace > 0 else "queued", now + max(grace, 0.0), out_id),
            )
    return [r[0] for r in rows]
