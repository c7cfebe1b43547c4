-- The SMS store's layout before versioned migrations (commit 7d397c5), for the migration test.
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
