-- Citizens' and operators' records: operator credentials, sessions and
-- frame tokens by the sha256 of their tokens, host secrets, consents,
-- pairwise ids, inboxes and last locations. Records are whole JSONB beside
-- the columns they are found, ordered or expired by.
CREATE TABLE operators (
    token_sha256 TEXT  PRIMARY KEY,
    record       JSONB NOT NULL
);

-- The first value stored under a name is every host's, for good.
CREATE TABLE host_secrets (
    name   TEXT  PRIMARY KEY,
    secret BYTEA NOT NULL
);

CREATE TABLE sessions (
    token_sha256 TEXT  PRIMARY KEY,
    record       JSONB NOT NULL
);

CREATE TABLE consents (
    citizen TEXT  NOT NULL,
    app     TEXT  NOT NULL,
    scope   TEXT  NOT NULL,
    record  JSONB NOT NULL,
    PRIMARY KEY (citizen, app, scope)
);

CREATE TABLE pairwise_ids (
    app      TEXT NOT NULL,
    pairwise TEXT NOT NULL,
    citizen  TEXT NOT NULL,
    PRIMARY KEY (app, pairwise)
);

-- A citizen's messages by time (unix ms), then by arrival.
CREATE TABLE inbox (
    citizen TEXT   NOT NULL,
    at      BIGINT NOT NULL,
    arrival BIGINT GENERATED ALWAYS AS IDENTITY,
    record  JSONB  NOT NULL,
    PRIMARY KEY (citizen, at, arrival)
);

-- Frame tokens' issue order across every host (a record's `order`).
CREATE SEQUENCE frame_order;

-- `expires` in unix seconds; `issue_order` ranks a citizen's tokens oldest
-- first for the per-citizen bound.
CREATE TABLE frames (
    token_sha256 TEXT   PRIMARY KEY,
    citizen      TEXT   NOT NULL,
    parent       TEXT   NOT NULL,
    issue_order  BIGINT NOT NULL,
    expires      BIGINT NOT NULL,
    record       JSONB  NOT NULL
);
CREATE INDEX frames_by_citizen ON frames (citizen, issue_order);
CREATE INDEX frames_by_expiry ON frames (expires);

-- `expires` in unix milliseconds.
CREATE TABLE locations (
    citizen TEXT   PRIMARY KEY,
    expires BIGINT NOT NULL,
    record  JSONB  NOT NULL
);
CREATE INDEX locations_by_expiry ON locations (expires);
