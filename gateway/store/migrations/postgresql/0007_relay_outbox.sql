-- The inbound relay's outbox: each verified delivery, once per destination, until forwarded
-- (state 'queued' -> 'forwarded' or 'failed'). The event id is derived from the provider's own
-- event id, so a replay within the window meets its row and is not forwarded again; rows are
-- pruned when the window is over.
CREATE TABLE relay_outbox (
    event_id TEXT NOT NULL,
    destination TEXT NOT NULL,
    account TEXT NOT NULL,
    event BYTEA NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    next_at DOUBLE PRECISION NOT NULL,
    received_at DOUBLE PRECISION NOT NULL,
    keep_until DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (event_id, destination)
);
CREATE INDEX relay_outbox_due ON relay_outbox (state, next_at);
