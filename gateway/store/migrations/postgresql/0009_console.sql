-- The transitions watch saw, kept as a history (who caused each, when the gateway did).
CREATE TABLE transitions (
    account TEXT NOT NULL,
    webhook_id TEXT NOT NULL,
    name TEXT NOT NULL,
    change TEXT NOT NULL,
    before TEXT,
    after TEXT,
    by_actor TEXT,
    at REAL NOT NULL
);
CREATE INDEX transitions_by_webhook ON transitions (account, webhook_id, at);
CREATE INDEX transitions_by_time ON transitions (at);
-- The console's sessions (an API key logged in): a hash of the session id, never the id or
-- the key; any replica serves them.
CREATE TABLE console_sessions (
    id_hash TEXT PRIMARY KEY,
    key_name TEXT NOT NULL,
    scope TEXT NOT NULL,
    csrf TEXT NOT NULL,
    created_at REAL NOT NULL,
    seen_at REAL NOT NULL
);
