-- Which webhook each manifest key manages (webhook-gateway plan/apply), and the fingerprint of
-- the secret last applied to it (an HMAC under store_meta's audit_key; never the secret).
CREATE TABLE managed (
    account text NOT NULL,
    key text NOT NULL,
    webhook_id text NOT NULL,
    secret_fingerprint text,
    applied_at double precision NOT NULL,
    PRIMARY KEY (account, key)
);
