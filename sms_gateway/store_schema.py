"""The SMS gateway database schema, as versioned migrations of the component "sms" (``dossier.sqlstore``).

Version 1 is the layout the gateway has always written; a file from before versioned migrations (no
``_schema`` row) already has most of it, so every statement of version 1 tolerates existing tables, and
version 2 brings such a file level: the ``recipient`` column of ``delivery_orphans`` and the
``delivery_seen`` table, which older gateways added on the fly. Add new versions at the end; never edit
an applied one.
"""

from __future__ import annotations

import sqlite3

from dossier.sqlstore import Migration

COMPONENT = "sms"

SCHEMA_V1 = """
CREATE TABLE IF NOT EXISTS inbound_parts (
    id INTEGER PRIMARY KEY,
    modem_id TEXT NOT NULL,
    sender TEXT NOT NULL,
    received_at REAL NOT NULL,
    sc_time TEXT NOT NULL DEFAULT '',
    pdu TEXT NOT NULL DEFAULT '',
    pdu_key TEXT UNIQUE,
    text TEXT NOT NULL DEFAULT '',
    encoding TEXT NOT NULL DEFAULT '',
    concat_ref INTEGER,
    concat_total INTEGER,
    concat_seq INTEGER,
    error TEXT NOT NULL DEFAULT '',
    message_id INTEGER
);
CREATE INDEX IF NOT EXISTS inbound_parts_waiting ON inbound_parts(id) WHERE message_id IS NULL;
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY,
    modem_id TEXT NOT NULL DEFAULT '',
    sender TEXT NOT NULL,
    phone TEXT NOT NULL,
    text TEXT NOT NULL,
    received_at REAL NOT NULL,
    parts INTEGER NOT NULL DEFAULT 1,
    incomplete INTEGER NOT NULL DEFAULT 0,
    encoding TEXT NOT NULL DEFAULT '',
    body_key TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'new',
    reason TEXT NOT NULL DEFAULT '',
    command TEXT NOT NULL DEFAULT '',
    code TEXT NOT NULL DEFAULT '',
    handled_at REAL
);
CREATE INDEX IF NOT EXISTS messages_new ON messages(id) WHERE state = 'new';
CREATE INDEX IF NOT EXISTS messages_body ON messages(body_key, received_at);
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY,
    recipient TEXT NOT NULL,
    phone TEXT NOT NULL DEFAULT '',
    text TEXT NOT NULL,
    unicode INTEGER NOT NULL DEFAULT 0,
    kind TEXT NOT NULL,
    inbound_id INTEGER UNIQUE,
    event_key TEXT UNIQUE,
    priority INTEGER NOT NULL DEFAULT 0,
    state TEXT NOT NULL DEFAULT 'queued',
    reason TEXT NOT NULL DEFAULT '',
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL,
    modem_id TEXT NOT NULL DEFAULT '',
    refs TEXT NOT NULL DEFAULT '',
    parts INTEGER NOT NULL DEFAULT 0,
    delivered_parts INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL,
    arrived_at REAL,
    claimed_at REAL,
    sent_at REAL,
    delivered_at REAL
);
CREATE INDEX IF NOT EXISTS outbox_queue ON outbox(priority, next_attempt_at, id) WHERE state = 'queued';
CREATE INDEX IF NOT EXISTS outbox_phone ON outbox(phone, created_at);
CREATE INDEX IF NOT EXISTS outbox_created ON outbox(created_at);
CREATE TABLE IF NOT EXISTS outbox_refs (
    modem_id TEXT NOT NULL,
    ref INTEGER NOT NULL,
    outbox_id INTEGER NOT NULL,
    at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS outbox_refs_lookup ON outbox_refs(modem_id, ref, at);
CREATE TABLE IF NOT EXISTS delivery_orphans (
    modem_id TEXT NOT NULL,
    ref INTEGER NOT NULL,
    delivered INTEGER NOT NULL,
    reason TEXT NOT NULL DEFAULT '',
    at REAL NOT NULL,
    recipient TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS delivery_seen (
    key TEXT PRIMARY KEY,
    at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS subscriptions (
    phone TEXT NOT NULL,
    recipient TEXT NOT NULL,
    code TEXT NOT NULL,
    created_at REAL NOT NULL,
    expires_at REAL NOT NULL,
    PRIMARY KEY (phone, code)
);
CREATE INDEX IF NOT EXISTS subscriptions_code ON subscriptions(code);
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""


def _level_older_files(conn: sqlite3.Connection) -> None:
    """A file written before versioned migrations: add what older gateways added on the fly."""
    columns = {row[1] for row in conn.execute("PRAGMA table_info(delivery_orphans)")}
    if "recipient" not in columns:
        conn.execute("ALTER TABLE delivery_orphans ADD COLUMN recipient TEXT NOT NULL DEFAULT ''")
    conn.execute("CREATE TABLE IF NOT EXISTS delivery_seen (key TEXT PRIMARY KEY, at REAL NOT NULL)")


MIGRATIONS = (
    Migration(1, SCHEMA_V1),
    Migration(2, _level_older_files),
)
