-- What webhook-gateway watch last saw of each webhook: its health and since when.
CREATE TABLE health (
    account TEXT NOT NULL,
    webhook_id TEXT NOT NULL,
    name TEXT NOT NULL,
    state TEXT NOT NULL,                -- active, disabled, suspended
    diverted INTEGER,                   -- diverted events kept, where the provider has them
    changed_at REAL NOT NULL,
    seen_at REAL NOT NULL,
    PRIMARY KEY (account, webhook_id)
);
