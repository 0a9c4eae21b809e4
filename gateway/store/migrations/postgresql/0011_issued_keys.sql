-- Keys issued at run time (POST /v1/keys): the SHA-256 of each key, never the key. Revoking a
-- key deletes its row, so every replica refuses it at its next request; ``grants`` is JSON
-- (a list of {can, accounts, webhooks}).
CREATE TABLE issued_keys (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    digest TEXT NOT NULL UNIQUE,
    team TEXT,
    grants TEXT NOT NULL,
    created_at double precision NOT NULL,
    created_by TEXT NOT NULL,
    expires_at double precision,
    last_used double precision
);
-- Times are seconds since 1970: REAL (4 bytes here) kept them to about 128 seconds. Every
-- other time column is double precision already.
ALTER TABLE managed ALTER COLUMN rotated_at TYPE double precision;
ALTER TABLE drift ALTER COLUMN since TYPE double precision;
ALTER TABLE transitions ALTER COLUMN at TYPE double precision;
ALTER TABLE console_sessions ALTER COLUMN created_at TYPE double precision;
ALTER TABLE console_sessions ALTER COLUMN seen_at TYPE double precision;
-- The grant that allowed each write (``access.grants[2]``, ``bootstrap key ci (write)``).
ALTER TABLE audit ADD COLUMN grant_label TEXT;
