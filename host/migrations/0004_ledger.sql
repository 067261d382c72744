-- Money: payment intents (each kept whole as JSONB beside the columns that
-- find it), account balances, the postings that move them, one-time keys
-- and the outbox of events for apps' payment hooks. Ids and keys that are
-- listed in order compare bytewise ("C"), whatever the database's collation.

CREATE TABLE intents (
    id         TEXT COLLATE "C" PRIMARY KEY,
    app        TEXT    NOT NULL,
    citizen    TEXT    NOT NULL,
    -- The app's idempotency key, unique per (app, citizen).
    reference  TEXT    NOT NULL,
    created_at BIGINT  NOT NULL,
    expires_at BIGINT  NOT NULL,
    -- Counts toward the citizen's bound of pending intents in the app
    -- (until it expires).
    pending    BOOLEAN NOT NULL,
    record     JSONB   NOT NULL,
    UNIQUE (app, citizen, reference)
);
-- A citizen's history, read newest first.
CREATE INDEX intents_by_citizen ON intents (citizen, created_at, id);
-- The pending intents one citizen holds in one app.
CREATE INDEX intents_pending ON intents (app, citizen, expires_at) WHERE pending;

-- Balances, changed only under their row locks; the check is the last
-- guard of what the ledger refuses before writing.
CREATE TABLE accounts (
    name    TEXT COLLATE "C" PRIMARY KEY,
    balance BIGINT NOT NULL,
    CONSTRAINT wallets_never_overdrawn
        CHECK (balance >= 0 OR NOT starts_with(name, 'wallet:'))
);

-- Names ledger transactions (`tx-` and 16 hex digits).
CREATE SEQUENCE ledger_transactions;

CREATE TABLE postings (
    seq     BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tx      TEXT   NOT NULL,
    intent  TEXT,
    account TEXT   NOT NULL,
    amount  BIGINT NOT NULL,
    at      BIGINT NOT NULL
);

-- Providers' payment references, each used by one step.
CREATE TABLE once_keys (
    key    TEXT PRIMARY KEY,
    intent TEXT NOT NULL
);

-- Numbers outbox keys (`<intent>:` and 16 hex digits).
CREATE SEQUENCE outbox_keys;

CREATE TABLE outbox (
    key     TEXT COLLATE "C" PRIMARY KEY,
    next_at BIGINT NOT NULL,
    entry   JSONB  NOT NULL
);
CREATE INDEX outbox_by_due ON outbox (next_at, key);
