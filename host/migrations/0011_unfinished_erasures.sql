-- Erasures of a citizen's data begun and not finished: the identity records
-- go in one transaction that also writes a row here; what apps keep of the
-- citizen is erased next, and the row goes when that is done. A host that
-- finds a row (after a failure or a crash, on any host) finishes the
-- erasure. Only a new table: hosts at 0010 and at 0011 run side by side.
CREATE TABLE unfinished_erasures (
    citizen TEXT   PRIMARY KEY,
    -- Unix ms the erasure began; a later erasure of the citizen replaces it.
    began   BIGINT NOT NULL
);
