-- The registry: publishers and their API keys, apps, versions and grants,
-- each record whole as JSONB beside the columns it is found by, and the
-- content-addressed component blobs with how many versions reference each.
CREATE TABLE publishers (
    id     TEXT  PRIMARY KEY,
    record JSONB NOT NULL
);

-- API keys by the sha256 of the key; the publisher need not be registered.
CREATE TABLE publisher_keys (
    key_sha256 TEXT PRIMARY KEY,
    publisher  TEXT NOT NULL
);
CREATE INDEX publisher_keys_by_publisher ON publisher_keys (publisher);

CREATE TABLE apps (
    id     TEXT  PRIMARY KEY,
    record JSONB NOT NULL
);

-- A blob lives exactly as long as a version references it: `refs` moves in
-- the transaction that adds or deletes a version, and the last one out
-- deletes the row.
CREATE TABLE blobs (
    sha256 TEXT   PRIMARY KEY,
    bytes  BYTEA  NOT NULL,
    refs   BIGINT NOT NULL CHECK (refs > 0)
);

-- Checked at commit: a version is written before the reference it takes.
CREATE TABLE versions (
    app              TEXT  NOT NULL,
    version          TEXT  NOT NULL,
    component_sha256 TEXT  NOT NULL
        REFERENCES blobs (sha256) DEFERRABLE INITIALLY DEFERRED,
    record           JSONB NOT NULL,
    PRIMARY KEY (app, version)
);
CREATE INDEX versions_by_component ON versions (component_sha256);

CREATE TABLE grants (
    app    TEXT  PRIMARY KEY,
    record JSONB NOT NULL
);
