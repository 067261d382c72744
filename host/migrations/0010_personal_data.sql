-- A citizen's records found without a scan, for the erasure of their data
-- and the sweep of idle rate-limit windows. Both columns are generated from
-- what every host already writes, so hosts at 0009 and at 0010 run side by
-- side. Adding a stored column rewrites each table once, under its lock.

-- Erasing a citizen's data signs out every device they have.
ALTER TABLE sessions
    ADD COLUMN citizen TEXT GENERATED ALWAYS AS (record->>'citizen_id') STORED;
CREATE INDEX sessions_by_citizen ON sessions (citizen);

-- The newest slot of a window (`taken` is kept in order): a window with
-- none for a day is idle and swept.
ALTER TABLE rate_limits
    ADD COLUMN newest BIGINT GENERATED ALWAYS AS (taken[array_upper(taken, 1)]) STORED;
CREATE INDEX rate_limits_by_newest ON rate_limits (newest);
