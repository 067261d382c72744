-- Sessions expire: the expiry sweep removes them by this column, taken
-- from the record (so every writer of a session keeps it right), and its
-- index. A session a citizen never ended kept what an OpenID provider said
-- of them for good.
ALTER TABLE sessions
    ADD COLUMN expires BIGINT GENERATED ALWAYS AS ((record->>'expires')::BIGINT) STORED;
CREATE INDEX sessions_by_expiry ON sessions (expires);
