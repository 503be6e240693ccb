-- v13: the beneficiary search index (docs/search.md). Staff search by name (any case, any
-- accent, either order), beneficiary / national / MPI ID (with or without dashes) and phone.
-- Every searchable word of a record is one row of `search_terms`, folded by kadi's own
-- `kadi_normalize` (Unicode decomposition, marks dropped), so a query is a few prefix range
-- lookups in one B-tree instead of a scan of every record's JSON.
--
-- Terms are computed in Rust (`store::search`), not by triggers: a trigger calling
-- `kadi_normalize` would fail in a plain sqlite3 shell without the extension. The triggers here
-- use built-in SQL only and just mark what changed; the store folds the marked records before
-- every search and after this migration (so the index is filled when the file is upgraded).
CREATE TABLE search_terms (
    term           TEXT NOT NULL,
    enrollment_uid TEXT NOT NULL,
    PRIMARY KEY (term, enrollment_uid)
) WITHOUT ROWID;
CREATE INDEX search_terms_enrollment ON search_terms(enrollment_uid);

-- The order of the list (folded last name, then first name) and the person (the MPI ID, or `~`
-- and the enrollment UID of a record not resolved yet) of each indexed record: the page groups
-- and orders people without reading the links or the records' JSON.
CREATE TABLE search_records (
    enrollment_uid TEXT PRIMARY KEY,
    sort_key       TEXT NOT NULL,
    group_key      TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX search_records_sort ON search_records(sort_key, enrollment_uid, group_key);
CREATE INDEX search_records_group ON search_records(group_key);

-- Records whose terms must be (re)computed: written, relinked to another MPI ID, or new.
-- The triggers test before inserting instead of `INSERT OR IGNORE`: an upsert that fires them
-- (`ON CONFLICT DO UPDATE`) imposes its own conflict handling on the trigger's statements.
CREATE TABLE search_stale (
    enrollment_uid TEXT PRIMARY KEY
) WITHOUT ROWID;

CREATE TRIGGER search_card_inserted AFTER INSERT ON card_records BEGIN
    INSERT INTO search_stale(enrollment_uid) SELECT new.enrollment_uid
        WHERE NOT EXISTS (SELECT 1 FROM search_stale WHERE enrollment_uid = new.enrollment_uid);
END;
CREATE TRIGGER search_card_updated AFTER UPDATE OF fields_json ON card_records
WHEN old.fields_json IS NOT new.fields_json BEGIN
    INSERT INTO search_stale(enrollment_uid) SELECT new.enrollment_uid
        WHERE NOT EXISTS (SELECT 1 FROM search_stale WHERE enrollment_uid = new.enrollment_uid);
END;
CREATE TRIGGER search_card_deleted AFTER DELETE ON card_records BEGIN
    DELETE FROM search_terms WHERE enrollment_uid = old.enrollment_uid;
    DELETE FROM search_records WHERE enrollment_uid = old.enrollment_uid;
    DELETE FROM search_stale WHERE enrollment_uid = old.enrollment_uid;
END;
-- The MPI ID is a search term too: a new or moved link marks its record.
CREATE TRIGGER search_link_inserted AFTER INSERT ON mpi_links BEGIN
    INSERT INTO search_stale(enrollment_uid) SELECT new.enrollment_uid
        WHERE NOT EXISTS (SELECT 1 FROM search_stale WHERE enrollment_uid = new.enrollment_uid);
END;
CREATE TRIGGER search_link_updated AFTER UPDATE OF mpi_id ON mpi_links
WHEN old.mpi_id IS NOT new.mpi_id BEGIN
    INSERT INTO search_stale(enrollment_uid) SELECT new.enrollment_uid
        WHERE NOT EXISTS (SELECT 1 FROM search_stale WHERE enrollment_uid = new.enrollment_uid);
END;
CREATE TRIGGER search_link_deleted AFTER DELETE ON mpi_links BEGIN
    INSERT INTO search_stale(enrollment_uid) SELECT old.enrollment_uid
        WHERE NOT EXISTS (SELECT 1 FROM search_stale WHERE enrollment_uid = old.enrollment_uid);
END;

INSERT OR IGNORE INTO search_stale(enrollment_uid) SELECT enrollment_uid FROM card_records;
