-- A kv write a request makes for a signed-in citizen lands only while the
-- session it acts for is live. The session's row is held FOR KEY SHARE from
-- the check to the write's commit, so whatever deletes it (an erasure of
-- the citizen's data, a sign-out) waits for the write, or the write finds
-- the row gone and writes nothing ('session-ended'). An erasure's pass over
-- the apps' storage follows the end of the sessions: it sees every such
-- write, and none lands after it. Only a new function beside
-- citadel_kv_write (0007), which it calls: hosts at 0012 and at 0013 run
-- side by side.
CREATE FUNCTION citadel_kv_write_for_session(
    p_session TEXT,
    p_app TEXT, p_space TEXT, p_key BYTEA, p_shard SMALLINT, p_key_bytes BIGINT,
    p_op TEXT, p_expected BYTEA, p_value BYTEA, p_by NUMERIC, p_quota BIGINT,
    OUT outcome TEXT, OUT used BIGINT, OUT counter TEXT)
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM sessions WHERE token_sha256 = p_session FOR KEY SHARE;
    IF NOT FOUND THEN
        outcome := 'session-ended';
        RETURN;
    END IF;
    SELECT w.outcome, w.used, w.counter INTO outcome, used, counter
        FROM citadel_kv_write(p_app, p_space, p_key, p_shard, p_key_bytes,
                              p_op, p_expected, p_value, p_by, p_quota) AS w;
END;
$$;
