-- A console session of a person signed in with the company's identity provider: who (subject,
-- email, name, groups, as JSON); NULL for a session opened with an API key.
ALTER TABLE console_sessions ADD COLUMN person TEXT;
