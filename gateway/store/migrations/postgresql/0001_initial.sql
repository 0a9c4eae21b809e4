-- The first schema: store metadata, idempotency records and the audit log.
CREATE TABLE store_meta (
    name text PRIMARY KEY,
    value bytea NOT NULL
);

CREATE TABLE idempotency (
    scope text NOT NULL,                -- the API key's name: keys of different callers differ
    key text NOT NULL,
    fingerprint text NOT NULL,          -- a hash of the request the key was first used with
    state text NOT NULL,                -- 'running' or 'done'
    lease_until double precision NOT NULL,
    expires_at double precision,        -- when a 'done' record may be forgotten
    status integer,
    headers text,
    body bytea,
    PRIMARY KEY (scope, key)
);
CREATE INDEX idempotency_expires ON idempotency (expires_at);

CREATE TABLE audit (
    id bigserial PRIMARY KEY,
    time double precision NOT NULL,
    actor text NOT NULL,
    account text NOT NULL,
    provider text NOT NULL,
    webhook_id text,
    operation text NOT NULL,
    change text NOT NULL,               -- JSON, secrets redacted
    outcome text NOT NULL,
    detail text,
    request_id text,
    duration_ms double precision NOT NULL
);
CREATE INDEX audit_account_webhook ON audit (account, webhook_id, id);
CREATE INDEX audit_time ON audit (time);
