-- Secrets the gateway set (webhook-gateway rotate), encrypted with [state] secrets_key (Fernet):
-- the current one, and previous ones until their grace period ends. Never plain text.
CREATE TABLE kept_secrets (
    account TEXT NOT NULL,
    webhook_id TEXT NOT NULL,
    ciphertext BLOB NOT NULL,
    kept_at REAL NOT NULL,
    not_after REAL             -- NULL: the current secret
);
CREATE INDEX kept_secrets_webhook ON kept_secrets (account, webhook_id);
