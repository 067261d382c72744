-- citadel_kv_write (0006) again, with two changes:
-- * A write that grows the app's usage takes an app-wide lock before it sums
--   the usage shards. Each writer locked only its key's shard, so growing
--   writes to keys of different shards all passed the quota check at once
--   and together stored past it (sled reserves the bytes atomically).
-- * A counter may carry leading zeros, as on sled: it is refused only past
--   20 significant digits.
CREATE OR REPLACE FUNCTION citadel_kv_write(
    p_app TEXT, p_space TEXT, p_key BYTEA, p_shard SMALLINT, p_key_bytes BIGINT,
    p_op TEXT, p_expected BYTEA, p_value BYTEA, p_by NUMERIC, p_quota BIGINT,
    OUT outcome TEXT, OUT used BIGINT, OUT counter TEXT)
LANGUAGE plpgsql AS $$
DECLARE
    v_current BYTEA;
    v_found   BOOLEAN;
    v_delta   BIGINT;
    v_number  NUMERIC;
    v_max     CONSTANT NUMERIC := 18446744073709551615;
BEGIN
    PERFORM 1 FROM kv_usage WHERE app = p_app AND shard = p_shard FOR UPDATE;
    IF NOT FOUND THEN
        INSERT INTO kv_usage (app, shard, bytes) VALUES (p_app, p_shard, 0)
            ON CONFLICT (app, shard) DO NOTHING;
        PERFORM 1 FROM kv_usage WHERE app = p_app AND shard = p_shard FOR UPDATE;
    END IF;
    -- A statement of its own: it sees what the shard's last holder committed.
    SELECT value INTO v_current FROM kv WHERE app = p_app AND space = p_space AND key = p_key;
    v_found := FOUND;
    IF p_op = 'swap' AND v_current IS DISTINCT FROM p_expected THEN
        outcome := 'mismatch';
        RETURN;
    END IF;
    IF p_op = 'delete' AND NOT v_found THEN
        outcome := 'absent';
        RETURN;
    END IF;
    IF p_op = 'increment' THEN
        v_number := 0;
        IF v_found THEN
            -- Decimal digits only (anything else escapes to a backslash).
            IF length(v_current) = 0
               OR ltrim(encode(v_current, 'escape'), '0123456789') <> ''
               OR length(ltrim(encode(v_current, 'escape'), '0')) > 20 THEN
                outcome := 'not-a-counter';
                RETURN;
            END IF;
            v_number := encode(v_current, 'escape')::NUMERIC;
            IF v_number > v_max THEN
                outcome := 'not-a-counter';
                RETURN;
            END IF;
        END IF;
        v_number := v_number + p_by;
        IF v_number > v_max THEN
            outcome := 'overflow';
            RETURN;
        END IF;
        counter := v_number::TEXT;
        p_value := convert_to(counter, 'UTF8');
    END IF;
    v_delta := CASE WHEN p_op = 'delete' THEN 0 ELSE p_key_bytes + length(p_value) END
             - CASE WHEN v_found THEN p_key_bytes + length(v_current) ELSE 0 END;
    IF v_delta > 0 THEN
        -- Growing writes of one app take turns from here to their commit:
        -- each sums the shards after the last one's bytes are counted.
        PERFORM pg_advisory_xact_lock(hashtext('citadel.kv_quota'), hashtext(p_app));
        SELECT COALESCE(SUM(bytes), 0) INTO used FROM kv_usage WHERE app = p_app;
        IF used + v_delta > p_quota THEN
            outcome := 'quota';
            RETURN;
        END IF;
    END IF;
    IF p_op = 'delete' THEN
        DELETE FROM kv WHERE app = p_app AND space = p_space AND key = p_key;
    ELSE
        INSERT INTO kv (app, space, key, value) VALUES (p_app, p_space, p_key, p_value)
            ON CONFLICT (app, space, key) DO UPDATE SET value = EXCLUDED.value;
    END IF;
    IF v_delta <> 0 THEN
        UPDATE kv_usage SET bytes = bytes + v_delta WHERE app = p_app AND shard = p_shard;
    END IF;
    outcome := 'written';
END;
$$;

