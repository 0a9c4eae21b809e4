-- A console session names its key by value (a digest of the key's digest), so it ends when
-- the key is removed or replaced, and takes its scope from the key as configured now.
ALTER TABLE console_sessions ADD COLUMN key_ref TEXT NOT NULL DEFAULT '';
