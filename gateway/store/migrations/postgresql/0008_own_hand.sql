-- Who caused a webhook's last change of health, when the audit log says the gateway did it
-- (the audit actor; NULL: nobody in the audit log, an out-of-band change or a first sight).
ALTER TABLE health ADD COLUMN changed_by TEXT;
-- A rotation through the gateway of a managed webhook: when, by whom, and the new secret's
-- fingerprint (an HMAC under store_meta's audit_key), so that plan shows it as a rotation.
ALTER TABLE managed ADD COLUMN rotated_at REAL;
ALTER TABLE managed ADD COLUMN rotated_by TEXT;
ALTER TABLE managed ADD COLUMN rotated_fingerprint TEXT;
-- What watch's plan of the manifest found drifted (one row a manifest key), since when.
CREATE TABLE drift (
    account TEXT NOT NULL,
    key TEXT NOT NULL,
    webhook_id TEXT,
    summary TEXT NOT NULL,
    since REAL NOT NULL,
    PRIMARY KEY (account, key)
);
