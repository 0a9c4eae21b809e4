-- Secrets the gateway set (webhook-gateway rotate), encrypted with [state] secrets_key (Fernet):
-- the current one, and previous ones until their grace period ends. Never plain text.
CREATE TABLE kept_secrets (
    account text NOT NULL,
    webhook_id text NOT NULL,
    ciphertext bytea NOT NULL,
    kept_at double precision NOT NULL,
    not_after double precision             -- NULL: the current secret
);
CREATE INDEX kept_secrets_webhook ON kept_secrets (account, webhook_id);
