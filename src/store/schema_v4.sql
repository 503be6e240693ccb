-- v4: a tracked entity's (non-sensitive) attribute values live in one JSON column of its row,
-- `[[attribute_uid, value, server_updated_at], ...]` sorted by attribute UID, instead of ~8 rows
-- of `attribute_values` keyed by (random tracked entity UID, attribute UID). That table was the
-- largest B-tree a sync writes in random order: once it outgrew the page cache, every page commit
-- dirtied ~500 random leaves of it (MBs of WAL), so a first sync slowed down as it grew. The row
-- of `tracked_entities` is appended in rowid order and rewritten whole on update.
-- `attribute_values` stays readable (same columns) as a view, for the sqlite3 shell and tests.
ALTER TABLE tracked_entities ADD COLUMN attributes_json TEXT NOT NULL DEFAULT '[]';
UPDATE tracked_entities SET attributes_json = (
    SELECT json_group_array(json_array(a.attribute_uid, a.value, a.server_updated_at))
    FROM (SELECT attribute_uid, value, server_updated_at FROM attribute_values
          WHERE tracked_entity_uid = tracked_entities.uid ORDER BY attribute_uid) a)
WHERE uid IN (SELECT tracked_entity_uid FROM attribute_values);
DROP TABLE attribute_values;
CREATE VIEW attribute_values(tracked_entity_uid, attribute_uid, value, server_updated_at) AS
    SELECT t.uid, j.value ->> 0, j.value ->> 1, j.value ->> 2
    FROM tracked_entities t, json_each(t.attributes_json) j;

-- A deleted tracked entity finds its card records through its enrollments (`enrollments_te`,
-- then the card records' primary key) rather than through a second index keyed by the random
-- tracked entity UID on card_records, one fewer B-tree written in random order per new record.
-- Card records of synced entities always have their enrollment stored first (sync and remapping
-- write them from enrollments); records without one (`kadi mpi eval`) never belong to a synced
-- entity.
DROP INDEX card_records_tracked_entity;
