-- v8: review items of two kinds. `pair` (every item so far): a record and a candidate of another
-- identity that may be one person. `split`: a record linked automatically to an identity that the
-- current scorer would not link (`kadi mpi recheck`): a person keeps the link or splits the record
-- out. Nothing is unlinked automatically, so new scorer parameters never silently change an
-- identity. One pending split item per record at most: a second recheck queues no duplicate.
ALTER TABLE review_items ADD COLUMN kind TEXT NOT NULL DEFAULT 'pair' CHECK (kind IN ('pair', 'split'));
CREATE UNIQUE INDEX review_items_pending_split ON review_items(enrollment_uid)
    WHERE status = 'pending' AND kind = 'split';
