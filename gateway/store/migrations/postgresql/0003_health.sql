-- What webhook-gateway watch last saw of each webhook: its health and since when.
CREATE TABLE health (
    account text NOT NULL,
    webhook_id text NOT NULL,
    name text NOT NULL,
    state text NOT NULL,                -- active, disabled, suspended
    diverted integer,                   -- diverted events kept, where the provider has them
    changed_at double precision NOT NULL,
    seen_at double precision NOT NULL,
    PRIMARY KEY (account, webhook_id)
);
