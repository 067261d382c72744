-- A citizen's download of their data lists the audit records that name
-- them (by the id each app knows them by). An index on the record's own
-- field: no column is added and the table is not rewritten, so hosts at
-- 0011 and at 0012 run side by side. Appends wait while the index is built
-- (one pass over the log).
CREATE INDEX audit_by_pairwise ON audit ((record->>'pairwise_id'), seq)
    WHERE record->>'pairwise_id' IS NOT NULL;
