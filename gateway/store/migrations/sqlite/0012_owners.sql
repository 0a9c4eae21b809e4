-- Manifests belong to an owner (a team): each records the webhooks it manages under its own
-- name, so two teams' manifests on one account never take each other's. '' is the owner of
-- a manifest that names none (every record before owners).
CREATE TABLE managed_owned (
    account TEXT NOT NULL,
    owner TEXT NOT NULL DEFAULT '',
    key TEXT NOT NULL,
    webhook_id TEXT NOT NULL,
    secret_fingerprint TEXT,
    applied_at REAL NOT NULL,
    alert_secret_fingerprint TEXT,
    rotated_at REAL,
    rotated_by TEXT,
    rotated_fingerprint TEXT,
    PRIMARY KEY (account, owner, key)
);
INSERT INTO managed_owned (account, owner, key, webhook_id, secret_fingerprint, applied_at,
                           alert_secret_fingerprint, rotated_at, rotated_by, rotated_fingerprint)
    SELECT account, '', key, webhook_id, secret_fingerprint, applied_at,
           alert_secret_fingerprint, rotated_at, rotated_by, rotated_fingerprint FROM managed;
DROP TABLE managed;
ALTER TABLE managed_owned RENAME TO managed;
