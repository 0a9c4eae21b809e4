-- Which webhook each manifest key manages (webhook-gateway plan/apply), and the fingerprint of
-- the secret last applied to it (an HMAC under store_meta's audit_key; never the secret).
CREATE TABLE managed (
    account TEXT NOT NULL,
    key TEXT NOT NULL,
    webhook_id TEXT NOT NULL,
    secret_fingerprint TEXT,
    applied_at REAL NOT NULL,
    PRIMARY KEY (account, key)
);
