-- Keys issued at run time (POST /v1/keys): the SHA-256 of each key, never the key. Revoking a
-- key deletes its row, so every replica refuses it at its next request; ``grants`` is JSON
-- (a list of {can, accounts, webhooks}).
CREATE TABLE issued_keys (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    digest TEXT NOT NULL UNIQUE,
    team TEXT,
    grants TEXT NOT NULL,
    created_at REAL NOT NULL,
    created_by TEXT NOT NULL,
    expires_at REAL,
    last_used REAL
);
-- The grant that allowed each write (``access.grants[2]``, ``bootstrap key ci (write)``).
ALTER TABLE audit ADD COLUMN grant_label TEXT;
