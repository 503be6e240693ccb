-- v5: blocking keys of a first resolution pass (nothing resolved yet: a first sync of a big
-- program, an evaluation) are appended here in pass order and moved into `mpi_block_keys` sorted,
-- once, at the end of the pass. Written one record at a time, the (random) key order of
-- `mpi_block_keys` dirtied pages all over its B-tree at every batch commit: at 100,000 records a
-- fifth of the pass and most of its write-ahead log. Such a pass finds its candidates in memory,
-- not in the table, so nothing reads the keys before they move. Keyed by enrollment, in the order
-- a pass resolves records, the staged rows are appended, never inserted in the middle. A pass
-- killed before the move leaves them here; the next pass moves them before it looks at anything.
CREATE TABLE mpi_block_keys_staged (
    enrollment_uid TEXT NOT NULL REFERENCES card_records(enrollment_uid) ON DELETE CASCADE,
    block_key      TEXT NOT NULL,
    PRIMARY KEY (enrollment_uid, block_key)
) WITHOUT ROWID;
