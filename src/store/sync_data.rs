//! Queries for the sync engine: program metadata, org units, tracked entities with their
//! (non-sensitive) attribute values and enrollments, the resumable cursor, run records and the
//! schedule. The engine commits each page together with its cursor through [`Store::in_transaction`].
use super::{now_utc, Store};
use anyhow::{Context, Result};
use rusqlite::{params, OptionalExtension};

/// A program as the store keeps it (the sync engine makes it from DHIS2's model).
#[derive(Debug, Clone, PartialEq)]
pub struct ProgramRow {
    pub uid: String,
    pub name: String,
    pub code: Option<String>,
    pub tracked_entity_type: Option<String>,
    /// In the program's order (stored as `sort_order`).
    pub attributes: Vec<AttributeRow>,
}

/// One attribute of a program, with whether the guardrail blocks its values.
#[derive(Debug, Clone, PartialEq)]
pub struct AttributeRow {
    pub uid: String,
    pub code: Option<String>,
    pub name: String,
    pub display_name: Option<String>,
    pub value_type: String,
    pub mandatory: bool,
    pub option_set: Option<OptionSetRow>,
    /// Values of a sensitive attribute are never stored (and purged when it becomes one).
    pub sensitive: bool,
}

/// An option set with its options as (code, name), in order.
#[derive(Debug, Clone, PartialEq)]
pub struct OptionSetRow {
    pub uid: String,
    pub name: Option<String>,
    pub options: Vec<(String, String)>,
}

/// An org unit as the store keeps it.
#[derive(Debug, Clone, PartialEq)]
pub struct OrgUnitRow {
    pub uid: String,
    pub name: String,
    pub code: Option<String>,
    pub level: Option<u32>,
    /// `/root/child/.../self`
    pub path: Option<String>,
    pub parent_uid: Option<String>,
}

/// A tracked entity as the store writes it, borrowed from what the sync engine received (no
/// copy per record on the hot path).
#[derive(Debug, Clone, PartialEq)]
pub struct TrackedEntityRow<'a> {
    pub uid: &'a str,
    pub tracked_entity_type: Option<&'a str>,
    pub org_unit: Option<&'a str>,
    pub created_at: Option<&'a str>,
    pub updated_at: Option<&'a str>,
    pub deleted: bool,
    pub enrollments: Vec<EnrollmentRow<'a>>,
}

/// One enrollment of a [`TrackedEntityRow`].
#[derive(Debug, Clone, PartialEq)]
pub struct EnrollmentRow<'a> {
    pub uid: &'a str,
    pub program: &'a str,
    pub org_unit: Option<&'a str>,
    pub enrolled_at: Option<&'a str>,
    pub occurred_at: Option<&'a str>,
    pub status: Option<&'a str>,
    pub updated_at: Option<&'a str>,
    pub deleted: bool,
}

/// What writing one tracked entity changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntityChange {
    /// Same UID and `updatedAt` as stored: nothing written (the overlap of incremental runs).
    Unchanged,
    Created,
    Updated,
    /// Newly marked deleted (soft delete from the server or vanished at reconciliation).
    Deleted,
}

/// The resumable position of a program's sync.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncCursor {
    /// Server date (zone-less) read before the first page of the last complete run.
    pub watermark: Option<String>,
    /// Server date of the run in progress (set while a run is unfinished).
    pub run_server_date: Option<String>,
    /// The `updatedAfter` the run in progress uses (so a resumed run asks for the same set).
    pub run_updated_after: Option<String>,
    /// The page size of the run in progress (a resumed run must page the same way).
    pub run_page_size: Option<u32>,
    /// The next page (1-based) the run in progress has to fetch.
    pub next_page: Option<u32>,
    /// Server date of the last UID reconciliation.
    pub reconciled_at: Option<String>,
}

/// Who holds a `running` sync row: a PID means something only within one boot and one process
/// lifetime, so the boot ID and the process start time come with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunHolder {
    pub pid: u32,
    /// `/proc/sys/kernel/random/boot_id` when the run started.
    pub boot_id: Option<String>,
    /// Field 22 of `/proc/PID/stat`: the process start time in clock ticks since boot.
    pub start_time: Option<i64>,
    /// CLOCK_BOOTTIME at the run's start, in milliseconds (ages a run whatever the wall clock did).
    pub started_since_boot_ms: Option<i64>,
}

/// A program's automatic sync schedule.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SyncSchedule {
    pub program_uid: String,
    pub interval_minutes: u32,
    pub enabled: bool,
    pub auto_generate_cards: bool,
    pub next_sync_at: Option<String>,
}

/// One enrollment with its tracked entity's stored attribute values, for (re)mapping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEnrollment {
    pub enrollment_uid: String,
    pub tracked_entity_uid: String,
    pub org_unit_uid: Option<String>,
    pub enrolled_at: Option<String>,
    /// (attribute UID, value)
    pub attributes: Vec<(String, String)>,
}

/// A recent sync run as stored.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SyncRunRow {
    pub id: i64,
    pub program_uid: String,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub status: String,
    pub report: Option<serde_json::Value>,
}

impl Store {
    /// Runs `f` in one transaction on this store's connection: committed when `f` returns `Ok`,
    /// rolled back otherwise (also when the process dies half-way). Inside a write batch
    /// ([`Store::begin_write_batch`]) `f` joins the batch, and the batch's owner must roll the
    /// whole batch back when `f` fails. (Not a savepoint: SQLite keeps a savepoint's undo pages
    /// in a sub-journal, which more than doubled the bytes a sync wrote.)
    pub fn in_transaction<T>(&self, f: impl FnOnce(&Store) -> Result<T>) -> Result<T> {
        if !self.conn().is_autocommit() {
            return f(self);
        }
        let tx = self
            .conn()
            .unchecked_transaction()
            .context("beginning a transaction")?;
        let value = f(self)?;
        tx.commit().context("committing a transaction")?;
        Ok(value)
    }

    /// Opens a write batch: the following [`Store::in_transaction`] calls (sync pages with their
    /// cursor) commit together at [`Store::end_write_batch`]. Each commit rewrites every index
    /// leaf it dirtied into the WAL; pages keyed by random UIDs share few leaves, so four pages per
    /// commit write far fewer bytes to the SD card than one (see docs/durability.md).
    pub fn begin_write_batch(&self) -> Result<()> {
        if self.conn().is_autocommit() {
            self.conn()
                .execute_batch("BEGIN IMMEDIATE")
                .context("beginning a write batch")?;
        }
        Ok(())
    }

    /// True while a write batch is open.
    pub fn in_write_batch(&self) -> bool {
        !self.conn().is_autocommit()
    }

    /// Commits the open write batch (`commit`), or rolls it back; a no-op when none is open.
    pub fn end_write_batch(&self, commit: bool) -> Result<()> {
        if self.conn().is_autocommit() {
            return Ok(());
        }
        if commit {
            self.conn()
                .execute_batch("COMMIT")
                .context("committing a write batch")
        } else {
            self.conn()
                .execute_batch("ROLLBACK")
                .context("rolling a write batch back")
        }
    }

    /// Gives this connection ~24 MB of page cache (SQLite's default is 2 MB) so index pages of a
    /// large sync stay in memory; peak memory stays flat whatever the number of records.
    ///
    /// Also lets the WAL grow to ~256 MB (65,536 pages) before this connection checkpoints it
    /// (SQLite's default is 1,000 pages, ~4 MB). Every commit dirties a few hundred random
    /// index leaves; with the default, nearly every commit checkpointed, writing those leaves a
    /// second time and paying an fsync. With a larger WAL, a leaf dirtied by many commits is
    /// written back once (64 MB to 256 MB: see docs/durability.md for the bytes written). The
    /// WAL is disk, not memory: RSS does not grow with it; `journal_size_limit` truncates it
    /// back to 64 MiB after a checkpoint.
    pub fn prepare_for_bulk_writes(&self) -> Result<()> {
        self.conn().pragma_update(None, "cache_size", -24000)?;
        self.conn()
            .pragma_update(None, "wal_autocheckpoint", 65536)?;
        Ok(())
    }

    /// Stores a program with its attributes, option sets and options. Values already stored of
    /// attributes flagged `sensitive` are deleted (returns how many). Attributes no longer in the
    /// program are removed.
    pub fn upsert_program(&self, program: &ProgramRow) -> Result<u64> {
        let now = now_utc();
        let c = self.conn();
        c.execute(
            "INSERT INTO programs(uid, name, code, tracked_entity_type, fetched_at) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT(uid) DO UPDATE SET name = excluded.name, code = excluded.code,
               tracked_entity_type = excluded.tracked_entity_type, fetched_at = excluded.fetched_at",
            params![program.uid, program.name, program.code, program.tracked_entity_type, now],
        )
        .with_context(|| format!("storing program {}", program.uid))?;
        c.execute(
            "DELETE FROM program_attributes WHERE program_uid = ?1",
            params![program.uid],
        )?;
        let mut attr = c.prepare_cached(
            "INSERT INTO program_attributes(program_uid, attribute_uid, code, name, display_name, value_type,
               option_set_uid, mandatory, sort_order, sensitive) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        )?;
        let mut set = c.prepare_cached(
            "INSERT INTO option_sets(uid, name) VALUES (?1, ?2) ON CONFLICT(uid) DO UPDATE SET name = excluded.name",
        )?;
        let mut del_options = c.prepare_cached("DELETE FROM options WHERE option_set_uid = ?1")?;
        let mut option = c.prepare_cached(
            "INSERT OR REPLACE INTO options(option_set_uid, code, name, sort_order) VALUES (?1, ?2, ?3, ?4)",
        )?;
        for (i, a) in program.attributes.iter().enumerate() {
            if let Some(os) = &a.option_set {
                set.execute(params![os.uid, os.name])?;
                del_options.execute(params![os.uid])?;
                for (j, (code, name)) in os.options.iter().enumerate() {
                    option.execute(params![os.uid, code, name, j as i64])?;
                }
            }
            attr.execute(params![
                program.uid,
                a.uid,
                a.code,
                a.name,
                a.display_name,
                a.value_type,
                a.option_set.as_ref().map(|o| o.uid.as_str()),
                a.mandatory as i64,
                i as i64,
                a.sensitive as i64
            ])
            .with_context(|| format!("storing attribute {} of program {}", a.uid, program.uid))?;
        }
        // An attribute that became sensitive since the last sync loses every value stored before.
        // `instr` skips the JSON parse of rows that cannot hold the attribute's UID. An entity
        // holds an attribute at most once (`attributes_json` merges repeats), so the rows
        // rewritten are the values purged.
        let mut purged = 0u64;
        let mut purge = c.prepare_cached(
            "UPDATE tracked_entities SET attributes_json =
               (SELECT json_group_array(j.value) FROM json_each(attributes_json) j WHERE j.value ->> 0 <> ?1)
             WHERE instr(attributes_json, ?1) > 0
               AND EXISTS (SELECT 1 FROM json_each(attributes_json) j WHERE j.value ->> 0 = ?1)",
        )?;
        for a in program.attributes.iter().filter(|a| a.sensitive) {
            purged += purge
                .execute(params![a.uid])
                .with_context(|| format!("purging values of sensitive attribute {}", a.uid))?
                as u64;
        }
        Ok(purged)
    }

    /// Stores org units (insert or update by UID) and the level names. Returns how many org units
    /// are new or changed (a rename or move changes card fields derived from them).
    pub fn upsert_org_units(&self, units: &[OrgUnitRow], levels: &[(u32, String)]) -> Result<u64> {
        let c = self.conn();
        let mut stmt = c.prepare_cached(
            "INSERT INTO org_units(uid, name, code, level, path, parent_uid) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT(uid) DO UPDATE SET name = excluded.name, code = excluded.code, level = excluded.level,
               path = excluded.path, parent_uid = excluded.parent_uid
             WHERE name IS NOT excluded.name OR level IS NOT excluded.level OR path IS NOT excluded.path",
        )?;
        let mut changed = 0u64;
        for u in units {
            changed +=
                stmt.execute(params![
                    u.uid,
                    u.name,
                    u.code,
                    u.level,
                    u.path,
                    u.parent_uid
                ])
                .with_context(|| format!("storing org unit {}", u.uid))? as u64;
        }
        let mut lvl = c.prepare_cached(
            "INSERT INTO org_unit_levels(level, name) VALUES (?1, ?2) ON CONFLICT(level) DO UPDATE SET name = excluded.name",
        )?;
        for (level, name) in levels {
            lvl.execute(params![level, name])?;
        }
        Ok(changed)
    }

    /// The stored `updatedAt` and deleted flag of a tracked entity, if known.
    pub fn tracked_entity_version(&self, uid: &str) -> Result<Option<(Option<String>, bool)>> {
        let mut stmt = self.conn().prepare_cached(
            "SELECT server_updated_at, deleted FROM tracked_entities WHERE uid = ?1",
        )?;
        Ok(stmt
            .query_row(params![uid], |r| Ok((r.get(0)?, r.get::<_, i64>(1)? != 0)))
            .optional()?)
    }

    /// Writes one tracked entity with the attribute values the guardrail kept and its enrollments
    /// in `program_uid`. A deleted entity (or enrollment) loses its card records. De-duplicates by
    /// UID + `updatedAt`: an entity already stored with the same `updatedAt` is left alone.
    pub fn write_tracked_entity(
        &self,
        program_uid: &str,
        te: &TrackedEntityRow<'_>,
        kept_attributes: &[(&str, &str, Option<&str>)],
    ) -> Result<EntityChange> {
        let stored = self.tracked_entity_version(te.uid)?;
        let change = match &stored {
            Some((updated, deleted))
                if updated.as_deref() == te.updated_at && *deleted == te.deleted =>
            {
                return Ok(EntityChange::Unchanged)
            }
            Some((_, false)) if te.deleted => EntityChange::Deleted,
            Some((_, true)) if te.deleted => return Ok(EntityChange::Unchanged),
            Some(_) => EntityChange::Updated,
            // Never seen and already deleted: nothing to keep, no tombstone (so stores synced
            // from servers with and without soft deletes end up the same).
            None if te.deleted => return Ok(EntityChange::Unchanged),
            None => EntityChange::Created,
        };
        let c = self.conn();
        let now = now_utc();
        // A deleted entity keeps no values.
        let attributes_json = if te.deleted {
            "[]".to_string()
        } else {
            attributes_json(kept_attributes)
        };
        c.prepare_cached(
            "INSERT INTO tracked_entities(uid, tracked_entity_type, org_unit_uid, server_created_at, server_updated_at, deleted, synced_at,
               attributes_json)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
             ON CONFLICT(uid) DO UPDATE SET tracked_entity_type = excluded.tracked_entity_type,
               org_unit_uid = excluded.org_unit_uid, server_created_at = excluded.server_created_at,
               server_updated_at = excluded.server_updated_at, deleted = excluded.deleted, synced_at = excluded.synced_at,
               attributes_json = excluded.attributes_json",
        )?
        .execute(params![te.uid, te.tracked_entity_type, te.org_unit, te.created_at, te.updated_at, te.deleted as i64, now, attributes_json])
        .with_context(|| format!("storing tracked entity {}", te.uid))?;
        if te.deleted {
            self.delete_card_records_of_entity(te.uid)?;
            c.prepare_cached(
                "UPDATE enrollments SET deleted = 1, synced_at = ?2 WHERE tracked_entity_uid = ?1",
            )?
            .execute(params![te.uid, now])?;
            return Ok(change);
        }
        for e in te.enrollments.iter().filter(|e| e.program == program_uid) {
            self.write_enrollment(te.uid, e, &now)?;
        }
        Ok(change)
    }

    fn write_enrollment(&self, te_uid: &str, e: &EnrollmentRow<'_>, now: &str) -> Result<()> {
        self.conn()
            .prepare_cached(
                "INSERT INTO enrollments(uid, tracked_entity_uid, program_uid, org_unit_uid, enrolled_at, occurred_at, status,
                   server_updated_at, deleted, synced_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
                 ON CONFLICT(uid) DO UPDATE SET tracked_entity_uid = excluded.tracked_entity_uid,
                   program_uid = excluded.program_uid, org_unit_uid = excluded.org_unit_uid,
                   enrolled_at = excluded.enrolled_at, occurred_at = excluded.occurred_at, status = excluded.status,
                   server_updated_at = excluded.server_updated_at, deleted = excluded.deleted, synced_at = excluded.synced_at",
            )?
            .execute(params![
                e.uid,
                te_uid,
                e.program,
                e.org_unit,
                e.enrolled_at,
                e.occurred_at,
                e.status,
                e.updated_at,
                e.deleted as i64,
                now
            ])
            .with_context(|| format!("storing enrollment {} of tracked entity {te_uid}", e.uid))?;
        if e.deleted {
            self.conn()
                .prepare_cached("DELETE FROM card_records WHERE enrollment_uid = ?1")?
                .execute(params![e.uid])?;
        }
        Ok(())
    }

    fn delete_card_records_of_entity(&self, te_uid: &str) -> Result<()> {
        self.conn()
            .prepare_cached(
                "DELETE FROM card_records WHERE enrollment_uid IN
                   (SELECT uid FROM enrollments WHERE tracked_entity_uid = ?1)",
            )?
            .execute(params![te_uid])?;
        Ok(())
    }

    /// Marks a tracked entity deleted (it vanished from the server or moved out of scope).
    pub fn mark_tracked_entity_deleted(&self, uid: &str) -> Result<()> {
        let now = now_utc();
        self.delete_card_records_of_entity(uid)?;
        let c = self.conn();
        c.prepare_cached(
            "UPDATE tracked_entities SET deleted = 1, synced_at = ?2, attributes_json = '[]' WHERE uid = ?1",
        )?
        .execute(params![uid, now])?;
        c.prepare_cached(
            "UPDATE enrollments SET deleted = 1, synced_at = ?2 WHERE tracked_entity_uid = ?1",
        )?
        .execute(params![uid, now])?;
        Ok(())
    }

    /// Starts a completeness check: an empty temporary set of what the server listed (UID,
    /// `updatedAt`, deleted flag).
    pub fn reconcile_begin(&self) -> Result<()> {
        self.conn().execute_batch(
            "DROP TABLE IF EXISTS temp.reconcile_seen;
             CREATE TEMP TABLE reconcile_seen(uid TEXT PRIMARY KEY, updated_at TEXT, deleted INTEGER NOT NULL) WITHOUT ROWID;",
        )?;
        Ok(())
    }

    /// Adds what the server listed, as (UID, `updatedAt`, deleted); a UID listed twice (pages
    /// that overlap) keeps its last stamp.
    pub fn reconcile_add(&self, stamps: &[(&str, Option<&str>, bool)]) -> Result<()> {
        let mut stmt = self.conn().prepare_cached(
            "INSERT OR REPLACE INTO temp.reconcile_seen(uid, updated_at, deleted) VALUES (?1, ?2, ?3)",
        )?;
        for (uid, updated_at, deleted) in stamps {
            stmt.execute(params![uid, updated_at, *deleted as i64])?;
        }
        Ok(())
    }

    /// How many distinct UIDs the server listed so far.
    pub fn reconcile_listed(&self) -> Result<u64> {
        Ok(self
            .conn()
            .query_row("SELECT count(*) FROM temp.reconcile_seen", [], |r| {
                r.get::<_, i64>(0)
            })? as u64)
    }

    /// Listed live records the store lacks, holds deleted, or holds at another `updatedAt`:
    /// what a run must fetch by UID to hold what the server holds.
    pub fn reconcile_stale(&self) -> Result<Vec<String>> {
        let mut stmt = self.conn().prepare(
            "SELECT s.uid FROM temp.reconcile_seen s LEFT JOIN tracked_entities t ON t.uid = s.uid
             WHERE s.deleted = 0 AND (t.uid IS NULL OR t.deleted = 1 OR t.server_updated_at IS NOT s.updated_at)
             ORDER BY s.uid",
        )?;
        let rows = stmt.query_map([], |r| r.get(0))?;
        Ok(rows.collect::<rusqlite::Result<Vec<String>>>()?)
    }

    /// Records the server listed as deleted that the store still holds live.
    pub fn reconcile_listed_deleted(&self) -> Result<Vec<String>> {
        let mut stmt = self.conn().prepare(
            "SELECT s.uid FROM temp.reconcile_seen s JOIN tracked_entities t ON t.uid = s.uid
             WHERE s.deleted = 1 AND t.deleted = 0 ORDER BY s.uid",
        )?;
        let rows = stmt.query_map([], |r| r.get(0))?;
        Ok(rows.collect::<rusqlite::Result<Vec<String>>>()?)
    }

    /// Live tracked entities enrolled in `program_uid` that the server did not list (to delete,
    /// after a listing of every UID).
    pub fn reconcile_missing(&self, program_uid: &str) -> Result<Vec<String>> {
        let mut stmt = self.conn().prepare(
            "SELECT DISTINCT t.uid FROM tracked_entities t JOIN enrollments e ON e.tracked_entity_uid = t.uid
             WHERE e.program_uid = ?1 AND t.deleted = 0
               AND NOT EXISTS (SELECT 1 FROM temp.reconcile_seen s WHERE s.uid = t.uid)",
        )?;
        let rows = stmt.query_map(params![program_uid], |r| r.get(0))?;
        Ok(rows.collect::<rusqlite::Result<Vec<String>>>()?)
    }

    /// Puts (or keeps) a record that could not be decoded in quarantine, with the reason.
    pub fn quarantine_put(&self, program_uid: &str, uid: &str, reason: &str) -> Result<()> {
        let now = now_utc();
        self.conn()
            .prepare_cached(
                "INSERT INTO sync_quarantine(program_uid, uid, reason, first_seen_at, last_seen_at) VALUES (?1, ?2, ?3, ?4, ?4)
                 ON CONFLICT(program_uid, uid) DO UPDATE SET reason = excluded.reason,
                   last_seen_at = excluded.last_seen_at, attempts = attempts + 1",
            )?
            .execute(params![program_uid, uid, reason, now])
            .with_context(|| format!("quarantining tracked entity {uid}"))?;
        Ok(())
    }

    /// Takes a record out of quarantine (it decoded); whether it was in.
    pub fn quarantine_release(&self, program_uid: &str, uid: &str) -> Result<bool> {
        Ok(self
            .conn()
            .prepare_cached("DELETE FROM sync_quarantine WHERE program_uid = ?1 AND uid = ?2")?
            .execute(params![program_uid, uid])?
            > 0)
    }

    /// The quarantined records of a program as (UID, reason), by UID.
    pub fn quarantined(&self, program_uid: &str) -> Result<Vec<(String, String)>> {
        let mut stmt = self.conn().prepare(
            "SELECT uid, reason FROM sync_quarantine WHERE program_uid = ?1 ORDER BY uid",
        )?;
        let rows = stmt.query_map(params![program_uid], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Drops the reconciliation set.
    pub fn reconcile_end(&self) -> Result<()> {
        self.conn()
            .execute_batch("DROP TABLE IF EXISTS temp.reconcile_seen;")?;
        Ok(())
    }

    /// Live enrollments of a program after `after_uid` (keyset paging by enrollment UID), with
    /// their tracked entity's stored attribute values: the input of re-mapping.
    pub fn enrollments_for_mapping(
        &self,
        program_uid: &str,
        after_uid: &str,
        limit: u32,
    ) -> Result<Vec<StoredEnrollment>> {
        let mut stmt = self.conn().prepare_cached(
            "SELECT e.uid, e.tracked_entity_uid, e.org_unit_uid, e.enrolled_at, t.attributes_json FROM enrollments e
             JOIN tracked_entities t ON t.uid = e.tracked_entity_uid
             WHERE e.program_uid = ?1 AND e.uid > ?2 AND e.deleted = 0 AND t.deleted = 0
             ORDER BY e.uid LIMIT ?3",
        )?;
        let rows = stmt.query_map(params![program_uid, after_uid, limit], |r| {
            Ok((stored_enrollment(r)?, r.get::<_, String>(4)?))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (mut e, json) = row?;
            e.attributes = attributes_from_json(&json, &e.tracked_entity_uid)?;
            out.push(e);
        }
        Ok(out)
    }

    /// Number of live enrollments of a program enrolled in `[from, to]` (dates `YYYY-MM-DD`) under
    /// `org_unit` (any descendant), as the preview counts them.
    pub fn count_enrollments(
        &self,
        program_uid: &str,
        org_unit: Option<&str>,
        from: Option<&str>,
        to: Option<&str>,
    ) -> Result<u64> {
        let n: i64 = self.conn().query_row(
            &format!("SELECT count(*) FROM enrollments e {PREVIEW_WHERE}"),
            params![program_uid, org_unit, from, to],
            |r| r.get(0),
        )?;
        Ok(n as u64)
    }

    /// The first `limit` such enrollments (newest first) with org unit name and attributes.
    pub fn preview_enrollments(
        &self,
        program_uid: &str,
        org_unit: Option<&str>,
        from: Option<&str>,
        to: Option<&str>,
        limit: u32,
    ) -> Result<Vec<(StoredEnrollment, Option<String>)>> {
        let mut stmt = self.conn().prepare(&format!(
            "SELECT e.uid, e.tracked_entity_uid, e.org_unit_uid, e.enrolled_at,
               (SELECT name FROM org_units o WHERE o.uid = e.org_unit_uid),
               (SELECT attributes_json FROM tracked_entities t WHERE t.uid = e.tracked_entity_uid)
             FROM enrollments e {PREVIEW_WHERE} ORDER BY e.enrolled_at DESC, e.uid LIMIT ?5"
        ))?;
        let rows = stmt.query_map(params![program_uid, org_unit, from, to, limit], |r| {
            Ok((
                stored_enrollment(r)?,
                r.get::<_, Option<String>>(4)?,
                r.get::<_, Option<String>>(5)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (mut e, org_unit_name, json) = row?;
            if let Some(json) = json {
                e.attributes = attributes_from_json(&json, &e.tracked_entity_uid)?;
            }
            out.push((e, org_unit_name));
        }
        Ok(out)
    }

    /// The sync cursor of a program (default when it never synced).
    pub fn sync_cursor(&self, program_uid: &str) -> Result<SyncCursor> {
        Ok(self
            .conn()
            .query_row(
                "SELECT watermark, run_server_date, run_updated_after, next_page, reconciled_at, run_page_size
                 FROM sync_cursors WHERE program_uid = ?1",
                params![program_uid],
                |r| {
                    Ok(SyncCursor {
                        watermark: r.get(0)?,
                        run_server_date: r.get(1)?,
                        run_updated_after: r.get(2)?,
                        next_page: r.get(3)?,
                        reconciled_at: r.get(4)?,
                        run_page_size: r.get(5)?,
                    })
                },
            )
            .optional()?
            .unwrap_or_default())
    }

    /// Writes the sync cursor of a program (inside the page's transaction).
    pub fn set_sync_cursor(&self, program_uid: &str, cursor: &SyncCursor) -> Result<()> {
        self.conn()
            .prepare_cached(
                "INSERT INTO sync_cursors(program_uid, watermark, run_server_date, run_updated_after, next_page, reconciled_at,
                   updated_at, run_page_size)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                 ON CONFLICT(program_uid) DO UPDATE SET watermark = excluded.watermark, run_server_date = excluded.run_server_date,
                   run_updated_after = excluded.run_updated_after, next_page = excluded.next_page,
                   reconciled_at = excluded.reconciled_at, updated_at = excluded.updated_at,
                   run_page_size = excluded.run_page_size",
            )?
            .execute(params![
                program_uid,
                cursor.watermark,
                cursor.run_server_date,
                cursor.run_updated_after,
                cursor.next_page,
                cursor.reconciled_at,
                now_utc(),
                cursor.run_page_size
            ])?;
        Ok(())
    }

    /// Records the start of a run by `holder`, unless a live process (`is_live(holder)`) is
    /// already running one for the program (then `Ok(Err(pid))`). Runs left `running` by a
    /// killed process, or by a process of an earlier boot, become `interrupted`. Returns the run id.
    pub fn begin_sync_run(
        &self,
        program_uid: &str,
        holder: &RunHolder,
        is_live: &dyn Fn(&RunHolder) -> bool,
    ) -> Result<std::result::Result<i64, u32>> {
        let c = self.conn();
        // IMMEDIATE: two processes checking at once must not both see "nobody runs".
        c.execute_batch("BEGIN IMMEDIATE")?;
        let result = (|| -> Result<std::result::Result<i64, u32>> {
            let running: Vec<(Option<RunHolder>, String)> = c
                .prepare(
                    "SELECT pid, boot_id, pid_start_time, started_since_boot_ms, started_at
                     FROM sync_runs WHERE program_uid = ?1 AND status = 'running'",
                )?
                .query_map(params![program_uid], |r| {
                    let pid: Option<u32> = r.get(0)?;
                    let (boot_id, start_time, started_since_boot_ms) =
                        (r.get(1)?, r.get(2)?, r.get(3)?);
                    Ok((
                        pid.map(|pid| RunHolder {
                            pid,
                            boot_id,
                            start_time,
                            started_since_boot_ms,
                        }),
                        r.get(4)?,
                    ))
                })?
                .collect::<rusqlite::Result<_>>()?;
            // Rows written before holders had a boot id keep the old bound: 6 hours of box clock.
            let stale_before =
                crate::clock::format_utc(chrono::Utc::now() - chrono::Duration::hours(6));
            let live = running.iter().find_map(|(h, started)| {
                let h = h.as_ref()?;
                let recent = h.boot_id.is_some() || started.as_str() > stale_before.as_str();
                (recent && is_live(h)).then_some(h.pid)
            });
            if let Some(pid) = live {
                return Ok(Err(pid));
            }
            c.execute(
                "UPDATE sync_runs SET status = 'interrupted', finished_at = ?2 WHERE program_uid = ?1 AND status = 'running'",
                params![program_uid, now_utc()],
            )?;
            c.execute(
                "INSERT INTO sync_runs(program_uid, started_at, status, pid, boot_id, pid_start_time, started_since_boot_ms)
                 VALUES (?1, ?2, 'running', ?3, ?4, ?5, ?6)",
                params![
                    program_uid,
                    now_utc(),
                    holder.pid,
                    holder.boot_id,
                    holder.start_time,
                    holder.started_since_boot_ms
                ],
            )?;
            Ok(Ok(c.last_insert_rowid()))
        })();
        match &result {
            Ok(_) => c.execute_batch("COMMIT")?,
            Err(_) => c.execute_batch("ROLLBACK")?,
        }
        result
    }

    /// Whether a sync of the program ever completed.
    pub fn program_ever_synced(&self, program_uid: &str) -> Result<bool> {
        Ok(self.conn().query_row(
            "SELECT EXISTS(SELECT 1 FROM sync_runs WHERE program_uid = ?1 AND status IN ('ok', 'partial'))",
            params![program_uid],
            |r| r.get(0),
        )?)
    }

    /// Replaces the stored report of a finished run (the scheduler adds what it did after the
    /// sync, e.g. the cards it rendered).
    pub fn amend_sync_run_report(&self, run_id: i64, report_json: &str) -> Result<()> {
        self.conn().execute(
            "UPDATE sync_runs SET report_json = ?2 WHERE id = ?1",
            params![run_id, report_json],
        )?;
        Ok(())
    }

    /// Remembers the date DHIS2 last reported (`serverDate`), with this boot's stamp: the box's
    /// trusted clock for dates printed for good. No audit: it changes at every sync. A server that
    /// sent no readable date leaves the last good one in place.
    pub fn record_server_date(&self, server_date: &str) -> Result<()> {
        let readable = server_date
            .get(..10)
            .is_some_and(|d| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").is_ok());
        if !readable {
            return Ok(());
        }
        let stamp = crate::clock::BootStamp::now();
        self.conn()
            .execute(
                "INSERT INTO dhis2_server_clock(id, server_date, boot_id, since_boot_ms, recorded_at)
                 VALUES (1, ?1, ?2, ?3, ?4)
                 ON CONFLICT(id) DO UPDATE SET server_date = excluded.server_date, boot_id = excluded.boot_id,
                   since_boot_ms = excluded.since_boot_ms, recorded_at = excluded.recorded_at",
                params![
                    server_date,
                    stamp.as_ref().map(|s| s.boot_id.clone()),
                    stamp.as_ref().map(|s| s.since_boot_ms),
                    now_utc()
                ],
            )
            .context("recording the DHIS2 server date")?;
        Ok(())
    }

    /// The date DHIS2 last reported and the boot stamp taken when it was read, if any sync or
    /// probe ever reached it.
    pub fn last_server_date(&self) -> Result<Option<(String, Option<crate::clock::BootStamp>)>> {
        self.conn()
            .query_row(
                "SELECT server_date, boot_id, since_boot_ms FROM dhis2_server_clock WHERE id = 1",
                [],
                |r| {
                    let boot_id: Option<String> = r.get(1)?;
                    let since: Option<i64> = r.get(2)?;
                    Ok((
                        r.get::<_, String>(0)?,
                        boot_id.zip(since).map(|(boot_id, since_boot_ms)| {
                            crate::clock::BootStamp {
                                boot_id,
                                since_boot_ms,
                            }
                        }),
                    ))
                },
            )
            .optional()
            .context("reading the last DHIS2 server date")
    }

    /// Records the end of a run (`ok`, `partial` or `failed`) with its report.
    pub fn finish_sync_run(&self, run_id: i64, status: &str, report_json: &str) -> Result<()> {
        self.conn().execute(
            "UPDATE sync_runs SET finished_at = ?2, status = ?3, report_json = ?4 WHERE id = ?1",
            params![run_id, now_utc(), status, report_json],
        )?;
        Ok(())
    }

    /// The most recent runs, newest first.
    pub fn sync_runs(&self, limit: u32) -> Result<Vec<SyncRunRow>> {
        let mut stmt = self.conn().prepare(
            "SELECT id, program_uid, started_at, finished_at, status, report_json FROM sync_runs ORDER BY id DESC LIMIT ?1",
        )?;
        let rows = stmt.query_map(params![limit], |r| {
            let json: Option<String> = r.get(5)?;
            Ok(SyncRunRow {
                id: r.get(0)?,
                program_uid: r.get(1)?,
                started_at: r.get(2)?,
                finished_at: r.get(3)?,
                status: r.get(4)?,
                report: json.and_then(|j| serde_json::from_str(&j).ok()),
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Sets a program's schedule (and audits it).
    pub fn set_sync_schedule(&self, actor: &str, s: &SyncSchedule) -> Result<()> {
        let before = self
            .sync_schedule(&s.program_uid)?
            .map(|b| serde_json::to_string(&b))
            .transpose()?;
        self.conn().execute(
            "INSERT INTO sync_schedule(program_uid, interval_minutes, enabled, auto_generate_cards, next_sync_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT(program_uid) DO UPDATE SET interval_minutes = excluded.interval_minutes, enabled = excluded.enabled,
               auto_generate_cards = excluded.auto_generate_cards, next_sync_at = excluded.next_sync_at, updated_at = excluded.updated_at",
            params![s.program_uid, s.interval_minutes, s.enabled as i64, s.auto_generate_cards as i64, s.next_sync_at, now_utc()],
        )?;
        let after = serde_json::to_string(s)?;
        self.audit(
            actor,
            "sync.schedule.set",
            Some(&s.program_uid),
            before.as_deref(),
            Some(&after),
        )
    }

    /// Moves a schedule's next run (no audit: the scheduler does this every run).
    pub fn set_next_sync_at(&self, program_uid: &str, next: &str) -> Result<()> {
        self.conn().execute(
            "UPDATE sync_schedule SET next_sync_at = ?2 WHERE program_uid = ?1",
            params![program_uid, next],
        )?;
        Ok(())
    }

    /// A program's schedule, if set.
    pub fn sync_schedule(&self, program_uid: &str) -> Result<Option<SyncSchedule>> {
        Ok(self
            .sync_schedules()?
            .into_iter()
            .find(|s| s.program_uid == program_uid))
    }

    /// Every schedule.
    pub fn sync_schedules(&self) -> Result<Vec<SyncSchedule>> {
        let mut stmt = self.conn().prepare(
            "SELECT program_uid, interval_minutes, enabled, auto_generate_cards, next_sync_at FROM sync_schedule ORDER BY program_uid",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(SyncSchedule {
                program_uid: r.get(0)?,
                interval_minutes: r.get(1)?,
                enabled: r.get::<_, i64>(2)? != 0,
                auto_generate_cards: r.get::<_, i64>(3)? != 0,
                next_sync_at: r.get(4)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}

/// A tracked entity's kept attribute values as stored in `tracked_entities.attributes_json`:
/// `[[attribute_uid, value, server_updated_at], ...]` sorted by attribute UID (the order the
/// `attribute_values` table used to give), one entry per attribute (the last value wins, as the
/// table's upsert did).
fn attributes_json(kept: &[(&str, &str, Option<&str>)]) -> String {
    let mut entries: Vec<(&str, &str, Option<&str>)> = Vec::with_capacity(kept.len());
    for &(attr, value, updated) in kept {
        match entries.iter_mut().find(|(a, _, _)| *a == attr) {
            Some(entry) => entry.1 = value,
            None => entries.push((attr, value, updated)),
        }
    }
    entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
    // Serialising strings and options cannot fail.
    serde_json::to_string(&entries).unwrap_or_else(|_| "[]".to_string())
}

/// Reads `attributes_json` back as (attribute UID, value) pairs.
fn attributes_from_json(json: &str, te_uid: &str) -> Result<Vec<(String, String)>> {
    let entries: Vec<(String, String, Option<String>)> = serde_json::from_str(json)
        .with_context(|| format!("tracked entity {te_uid} has unreadable attribute values"))?;
    Ok(entries.into_iter().map(|(a, v, _)| (a, v)).collect())
}

/// `?1` program, `?2` org unit (ancestor UID, matched on the path), `?3` from, `?4` to.
const PREVIEW_WHERE: &str = "WHERE e.program_uid = ?1 AND e.deleted = 0
   AND (?2 IS NULL OR e.org_unit_uid = ?2 OR EXISTS (SELECT 1 FROM org_units o WHERE o.uid = e.org_unit_uid AND o.path LIKE '%/' || ?2 || '/%'))
   AND (?3 IS NULL OR substr(e.enrolled_at, 1, 10) >= ?3)
   AND (?4 IS NULL OR substr(e.enrolled_at, 1, 10) <= ?4)";

/// An enrollment from a row whose first columns are uid, tracked entity, org unit and enrolment
/// date (attributes are filled by the caller from the entity's JSON).
fn stored_enrollment(r: &rusqlite::Row<'_>) -> rusqlite::Result<StoredEnrollment> {
    Ok(StoredEnrollment {
        enrollment_uid: r.get(0)?,
        tracked_entity_uid: r.get(1)?,
        org_unit_uid: r.get(2)?,
        enrolled_at: r.get(3)?,
        attributes: Vec::new(),
    })
}
