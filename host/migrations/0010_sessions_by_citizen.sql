-- A citizen's sessions, found without a scan: erasing a citizen's data
-- signs out every device they have. Taken from the record, as `expires`
-- is, so every writer of a session keeps it right; adding it changes
-- nothing an older host reads or writes.
ALTER TABLE sessions
    ADD COLUMN citizen TEXT GENERATED ALWAYS AS (record->>'citizen_id') STORED;
CREATE INDEX sessions_by_citizen ON sessions (citizen);
