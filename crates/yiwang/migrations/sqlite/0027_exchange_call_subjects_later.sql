-- Whose records a call returned is written with the call, in the call's own row, and moved into
-- exchange_call_subjects (keyed by the resident's pseudonym, so every entry lands on a page of its
-- own) a few seconds later, many at a time, by the `exchange.index_subjects` job. Until then a
-- resident's lookups are also read from the pending calls, which the partial index finds.
ALTER TABLE exchange_calls ADD COLUMN pending_subjects TEXT;
CREATE INDEX exchange_calls_pending_subjects ON exchange_calls (id) WHERE pending_subjects IS NOT NULL;
