-- The audit log and the rate limits' windows.

-- Records numbered 1, 2, … in commit order (appends take a table lock, so
-- a reader following the log never sees a number after a higher one).
-- Each filter field has an index by sequence, read either way.
CREATE TABLE audit (
    seq        BIGINT PRIMARY KEY,
    kind       TEXT   NOT NULL,
    app        TEXT,
    capability TEXT,
    record     JSONB  NOT NULL
);
CREATE INDEX audit_by_kind ON audit (kind, seq);
CREATE INDEX audit_by_app ON audit (app, seq);
CREATE INDEX audit_by_capability ON audit (capability, seq);

-- Per key, the times (Unix ms) of the slots taken in its current window.
CREATE TABLE rate_limits (
    key   TEXT     PRIMARY KEY,
    taken BIGINT[] NOT NULL
);
