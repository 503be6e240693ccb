-- kadi-migration: foreign_keys off
-- v16: no temporary B-tree for every record written or linked.
--
-- SQLite checks `x IN (a, b, c)` with three or more constants by building a temporary index of
-- the list: one temporary database opened, a page zeroed and closed at every execution of a
-- statement that evaluates it. Two such CHECKs sat on the MPI's hottest rows (`card_records.
-- mpi_state`, `mpi_links.method`), and the search triggers used `INSERT ... SELECT ... WHERE NOT
-- EXISTS (SELECT ... FROM search_stale ...)`, which reads the table it writes and so is staged in
-- a temporary table too: 25,000 temporary databases to resolve 5,000 records, about a tenth of
-- the pass's instructions. The CHECKs become chains of `=` (the same rule; SQLite cannot change
-- a CHECK, so both tables are rebuilt, with foreign keys off so that dropping the old table does
-- not cascade, and checked with `PRAGMA foreign_key_check` before the commit), and the triggers
-- an upsert: `ON CONFLICT DO NOTHING` is honoured even when the statement that fires the trigger
-- is itself an upsert, which `INSERT OR IGNORE` is not (v13's note). All built-in SQL: the stock
-- sqlite3 shell still runs every trigger.

CREATE TABLE card_records_v16 (
    enrollment_uid     TEXT PRIMARY KEY,
    tracked_entity_uid TEXT NOT NULL,
    program_uid        TEXT NOT NULL,
    fields_json        TEXT NOT NULL,
    content_hash       TEXT NOT NULL,
    mapped_at          TEXT NOT NULL,
    mpi_state          TEXT NOT NULL DEFAULT 'pending'
                       CHECK (mpi_state = 'pending' OR mpi_state = 'resolved' OR mpi_state = 'review')
);
INSERT INTO card_records_v16(enrollment_uid, tracked_entity_uid, program_uid, fields_json,
    content_hash, mapped_at, mpi_state)
  SELECT enrollment_uid, tracked_entity_uid, program_uid, fields_json, content_hash, mapped_at,
    mpi_state FROM card_records;
DROP TABLE card_records;
ALTER TABLE card_records_v16 RENAME TO card_records;
CREATE INDEX card_records_program ON card_records(program_uid);
CREATE INDEX card_records_mpi_state ON card_records(mpi_state, enrollment_uid);

CREATE TABLE mpi_links_v16 (
    enrollment_uid TEXT PRIMARY KEY REFERENCES card_records(enrollment_uid) ON DELETE CASCADE,
    mpi_id         TEXT NOT NULL REFERENCES mpi_identities(mpi_id),
    score          REAL,
    method         TEXT NOT NULL
                   CHECK (method = 'new' OR method = 'auto' OR method = 'human' OR method = 'deterministic'),
    linked_at      TEXT NOT NULL
);
INSERT INTO mpi_links_v16(enrollment_uid, mpi_id, score, method, linked_at)
  SELECT enrollment_uid, mpi_id, score, method, linked_at FROM mpi_links;
DROP TABLE mpi_links;
ALTER TABLE mpi_links_v16 RENAME TO mpi_links;
CREATE INDEX mpi_links_mpi ON mpi_links(mpi_id);

-- The search triggers (v13), dropped with their tables, made again as upserts.
CREATE TRIGGER search_card_inserted AFTER INSERT ON card_records BEGIN
    INSERT INTO search_stale(enrollment_uid) VALUES (new.enrollment_uid)
        ON CONFLICT(enrollment_uid) DO NOTHING;
END;
CREATE TRIGGER search_card_updated AFTER UPDATE OF fields_json ON card_records
WHEN old.fields_json IS NOT new.fields_json BEGIN
    INSERT INTO search_stale(enrollment_uid) VALUES (new.enrollment_uid)
        ON CONFLICT(enrollment_uid) DO NOTHING;
END;
CREATE TRIGGER search_card_deleted AFTER DELETE ON card_records BEGIN
    DELETE FROM search_terms WHERE enrollment_uid = old.enrollment_uid;
    DELETE FROM search_records WHERE enrollment_uid = old.enrollment_uid;
    DELETE FROM search_stale WHERE enrollment_uid = old.enrollment_uid;
END;
CREATE TRIGGER search_link_inserted AFTER INSERT ON mpi_links BEGIN
    INSERT INTO search_stale(enrollment_uid) VALUES (new.enrollment_uid)
        ON CONFLICT(enrollment_uid) DO NOTHING;
END;
CREATE TRIGGER search_link_updated AFTER UPDATE OF mpi_id ON mpi_links
WHEN old.mpi_id IS NOT new.mpi_id BEGIN
    INSERT INTO search_stale(enrollment_uid) VALUES (new.enrollment_uid)
        ON CONFLICT(enrollment_uid) DO NOTHING;
END;
CREATE TRIGGER search_link_deleted AFTER DELETE ON mpi_links BEGIN
    INSERT INTO search_stale(enrollment_uid) VALUES (old.enrollment_uid)
        ON CONFLICT(enrollment_uid) DO NOTHING;
END;

-- The blocking index keeps one B-tree. Until now `mpi_block_keys` also had an index by
-- enrollment (to delete a record's keys, and for its foreign key's cascade): a second B-tree
-- written for every key, which a first pass built at its end by sorting all keys again (70 ms
-- of the 180 ms move at 5,000 records). The way back from a record to its keys is now one row
-- per record, its keys as a JSON array (what a first pass stages anyway, copied as it is):
-- deleting a record deletes that row (cascade), whose trigger deletes its keys by primary key.
CREATE TABLE mpi_record_keys (
    enrollment_uid TEXT PRIMARY KEY REFERENCES card_records(enrollment_uid) ON DELETE CASCADE,
    keys_json      TEXT NOT NULL
) WITHOUT ROWID;
INSERT INTO mpi_record_keys(enrollment_uid, keys_json)
  SELECT enrollment_uid, json_group_array(block_key)
    FROM (SELECT enrollment_uid, block_key FROM mpi_block_keys ORDER BY enrollment_uid, block_key)
   GROUP BY enrollment_uid;

CREATE TABLE mpi_block_keys_v16 (
    block_key      TEXT NOT NULL,
    enrollment_uid TEXT NOT NULL,
    PRIMARY KEY (block_key, enrollment_uid)
) WITHOUT ROWID;
INSERT INTO mpi_block_keys_v16(block_key, enrollment_uid)
  SELECT block_key, enrollment_uid FROM mpi_block_keys ORDER BY block_key, enrollment_uid;
DROP TABLE mpi_block_keys;
ALTER TABLE mpi_block_keys_v16 RENAME TO mpi_block_keys;

CREATE TRIGGER mpi_record_keys_deleted AFTER DELETE ON mpi_record_keys BEGIN
    DELETE FROM mpi_block_keys
     WHERE enrollment_uid = old.enrollment_uid
       AND block_key IN (SELECT value FROM json_each(old.keys_json));
END;
