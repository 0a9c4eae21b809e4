-- The first schema: store metadata, idempotency records and the audit log.
CREATE TABLE store_meta (
    name TEXT PRIMARY KEY,
    value BLOB NOT NULL
);

CREATE TABLE idempotency (
    scope TEXT NOT NULL,                -- the API key's name: keys of different callers differ
    key TEXT NOT NULL,
    fingerprint TEXT NOT NULL,          -- a hash of the request the key was first used with
    state TEXT NOT NULL,                -- 'running' or 'done'
    lease_until REAL NOT NULL,
    expires_at REAL,                    -- when a 'done' record may be forgotten
    status INTEGER,
    headers TEXT,
    body BLOB,
    PRIMARY KEY (scope, key)
);
CREATE INDEX idempotency_expires ON idempotency (expires_at);

CREATE TABLE audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    time REAL NOT NULL,
    actor TEXT NOT NULL,
    account TEXT NOT NULL,
    provider TEXT NOT NULL,
    webhook_id TEXT,
    operation TEXT NOT NULL,
    change TEXT NOT NULL,               -- JSON, secrets redacted
    outcome TEXT NOT NULL,
    detail TEXT,
    request_id TEXT,
    duration_ms REAL NOT NULL
);
CREATE INDEX audit_account_webhook ON audit (account, webhook_id, id);
CREATE INDEX audit_time ON audit (time);
