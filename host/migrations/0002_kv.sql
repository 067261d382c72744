-- Mini-apps' key-value data. `space` is '' for an app's own keys and the
-- citizen's pairwise id for theirs; keys and values are bytes, ordered
-- bytewise whatever the database's collation.
CREATE TABLE kv (
    app   TEXT  NOT NULL,
    space TEXT  NOT NULL,
    key   BYTEA NOT NULL,
    value BYTEA NOT NULL,
    PRIMARY KEY (app, space, key)
);

-- Bytes each app stores (keys as the host counts them, and values), in
-- shards: a write locks the shard of its key, reads the key, writes it and
-- moves the shard's count in one transaction. Writes to one key queue on
-- that lock; writes to other keys of the app mostly do not. An app's usage
-- is the sum of its shards (one may be negative after deletes).
CREATE TABLE kv_usage (
    app   TEXT     NOT NULL,
    shard SMALLINT NOT NULL,
    bytes BIGINT   NOT NULL,
    PRIMARY KEY (app, shard)
);
