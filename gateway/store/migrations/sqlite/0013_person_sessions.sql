-- A console session of a person signed in with the company's identity provider: who (subject,
-- email, name, groups, as JSON); NULL for a session opened with an API key.
ALTER TABLE console_sessions ADD COLUMN person TEXT;
-- The command line's sign-ins (webhook-gateway login, the device flow): a short-lived access
-- token and a refresh token for a person, each kept as its SHA-256, never the token.
CREATE TABLE person_tokens (
    digest TEXT PRIMARY KEY,
    refresh_digest TEXT NOT NULL UNIQUE,
    person TEXT NOT NULL,
    expires_at REAL NOT NULL,
    refresh_expires_at REAL NOT NULL
);
