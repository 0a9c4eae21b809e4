-- Each account's event catalog as its provider last listed it (JSON), kept so that replicas and
-- command-line runs share one read; read again once older than [state] catalog_max_age.
-- The key is the account's name and a digest of its settings (another tenant, another key).
CREATE TABLE event_catalogs (
    key TEXT PRIMARY KEY,
    types TEXT NOT NULL,
    read_at REAL NOT NULL
);
-- Each account's rate budget at its provider, shared by every replica: no request before
-- paused_until (learned from 429s and their Retry-After); with a configured rate_limit, the
-- next request's time slot is next_slot (each request takes one, window / requests apart).
CREATE TABLE rate_budgets (
    account TEXT PRIMARY KEY,
    paused_until REAL NOT NULL DEFAULT 0,
    next_slot REAL NOT NULL DEFAULT 0
);
