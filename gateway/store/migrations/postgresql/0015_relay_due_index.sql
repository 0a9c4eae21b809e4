-- The relay's due index holds queued relays alone: a relay leaves it once forwarded or failed
-- (most of the outbox, kept as the replay window), so taking due relays and counting the
-- backlog read a small index, and each settled relay costs one index entry's removal instead
-- of a move within an index of every relay kept.
DROP INDEX relay_outbox_due;
CREATE INDEX relay_outbox_due ON relay_outbox (next_at) WHERE state = 'queued';
