-- The state a webhook was in before its last change (NULL: first seen in this state), so that
-- the auto-unsuspend policy re-enables only webhooks it saw go from active to disabled.
ALTER TABLE health ADD COLUMN previous TEXT;
