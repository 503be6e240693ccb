//! Queries for the Master Patient Index (`kadi::mpi`): identities, links, the blocking index,
//! review items, "not the same" memory and merges. Only `mpi` calls these; the logic (what to link,
//! when to merge) lives there, this file only reads and writes rows.
use super::{now_utc, Store};
use anyhow::{Context, Result};
use rusqlite::{params, OptionalExtension};

crate::sql_enum::sql_enum! {
    /// Where a card record stands in identity resolution (`card_records.mpi_state`).
    pub enum MpiState("MPI state") {
        /// New or changed since the last pass: the next pass resolves it.
        Pending = "pending",
        /// Linked to an identity, nothing waiting for a person.
        Resolved = "resolved",
        /// Linked, with a review item waiting for a person.
        Review = "review",
    }
}

crate::sql_enum::sql_enum! {
    /// How an enrollment came to be linked to its identity (`mpi_links.method`).
    pub enum LinkMethod("link method") {
        /// The first record of a new identity.
        New = "new",
        /// Scored at or above the link threshold.
        Auto = "auto",
        /// The best candidate shares the national ID.
        Deterministic = "deterministic",
        /// A person linked it (review, manual link, split, unmerge).
        Human = "human",
    }
}

crate::sql_enum::sql_enum! {
    /// What a review item asks (`review_items.kind`).
    pub enum ReviewKind("review kind") {
        /// Are this record and a candidate of another identity one person? "same" merges.
        Pair = "pair",
        /// This record was linked automatically, and the current scorer would not link it: keep
        /// the link ("same") or split the record out into an identity of its own ("different").
        Split = "split",
    }
}

crate::sql_enum::sql_enum! {
    /// A review item's state (`review_items.status`): waiting, or a person's answer.
    pub enum ReviewStatus("review status") {
        /// Waiting for a person.
        Pending = "pending",
        /// The two records are one person.
        Same = "same",
        /// Different people.
        Different = "different",
    }
}

/// A pending card record as the MPI reads it.
#[derive(Debug, Clone)]
pub struct PendingRecord {
    pub enrollment_uid: String,
    pub fields_json: String,
    /// The identity it was linked to before it changed (None for a new record).
    pub mpi_id: Option<String>,
}

/// One enrollment's link to an identity.
#[derive(Debug, Clone, PartialEq)]
pub struct MpiLink {
    pub enrollment_uid: String,
    pub mpi_id: String,
    pub score: Option<f64>,
    pub method: LinkMethod,
    pub linked_at: String,
}

/// One identity row.
#[derive(Debug, Clone, PartialEq)]
pub struct MpiIdentity {
    pub mpi_id: String,
    pub golden_json: String,
    pub merged_into: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

/// One review item row.
#[derive(Debug, Clone, PartialEq)]
pub struct ReviewItemRow {
    pub id: i64,
    pub enrollment_uid: String,
    pub candidate_enrollment_uid: String,
    pub candidate_mpi_id: String,
    pub score: f64,
    pub explain_json: String,
    pub status: ReviewStatus,
    pub decided_by: Option<String>,
    pub decided_at: Option<String>,
    pub created_at: String,
    pub kind: ReviewKind,
}

/// A member record of an identity, for survivorship.
#[derive(Debug, Clone)]
pub struct MemberRecord {
    pub enrollment_uid: String,
    pub fields_json: String,
    pub mapped_at: String,
}

/// One merge still in force.
#[derive(Debug, Clone, PartialEq)]
pub struct MpiMerge {
    pub merged_mpi_id: String,
    pub survivor_mpi_id: String,
    pub enrollments: Vec<String>,
}

/// Page cache of a resolution pass, KiB (the default is 2 MB). The blocking index of 100,000
/// records is ~25 MB and a batch of 2,000 touches pages all over it, so a larger cache means
/// fewer page reads. 100,000 simulator records (fast build, same machine, same run): 24 MB
/// 30.5 s / 166 MB peak, 36 MB 27.9 s / 183 MB, 48 MB 26.4 s / 195 MB; a pass must stay under
/// 200 MB. Since a first pass stages one row a record instead of one a key (far fewer pages
/// dirtied), the cache buys little: 100,000 household records (CPU seconds, peak of the
/// evaluation, one run) 36 MB 27.2 s / 182 MB, 20 MB 27.4 s / 165 MB, 12 MB 26.5 s / 158 MB.
const MPI_PASS_CACHE_KIB: i64 = 12_000;

/// The connection settings a resolution pass changed, restored when this is dropped.
pub struct MpiPassSettings<'s> {
    store: &'s Store,
    cache_size: i64,
    qpsg: bool,
}

impl Drop for MpiPassSettings<'_> {
    fn drop(&mut self) {
        let conn = self.store.conn();
        // rusqlite's default statement cache capacity.
        conn.set_prepared_statement_cache_capacity(16);
        // Restoring can only fail on a broken connection, which the next statement reports.
        let _ = conn.set_db_config(
            rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
            self.qpsg,
        );
        let _ = conn.pragma_update(None, "cache_size", self.cache_size);
    }
}

/// One enrollment found under a blocking key.
#[derive(Debug, Clone)]
pub struct BlockHit {
    /// Index of the key in the list asked for.
    pub key: usize,
    pub enrollment_uid: String,
}

/// An [`MpiLink`] from `SELECT enrollment_uid, mpi_id, score, method, linked_at`.
fn row_to_link(r: &rusqlite::Row<'_>) -> rusqlite::Result<MpiLink> {
    Ok(MpiLink {
        enrollment_uid: r.get(0)?,
        mpi_id: r.get(1)?,
        score: r.get(2)?,
        method: r.get(3)?,
        linked_at: r.get(4)?,
    })
}

fn row_to_review(r: &rusqlite::Row<'_>) -> rusqlite::Result<ReviewItemRow> {
    Ok(ReviewItemRow {
        id: r.get(0)?,
        enrollment_uid: r.get(1)?,
        candidate_enrollment_uid: r.get(2)?,
        candidate_mpi_id: r.get(3)?,
        score: r.get(4)?,
        explain_json: r.get(5)?,
        status: r.get(6)?,
        decided_by: r.get(7)?,
        decided_at: r.get(8)?,
        created_at: r.get(9)?,
        kind: r.get(10)?,
    })
}

const REVIEW_COLUMNS: &str = "id, enrollment_uid, candidate_enrollment_uid, candidate_mpi_id, score, explain_json, status, decided_by, decided_at, created_at, kind";

/// Most staged rows (records' key arrays) whose keys are sorted in memory when they move
/// ([`Store::mpi_move_staged_block_keys`]): about 400,000 keys, 15 MB; more go through SQLite's
/// sorter, which spills to disk. A first pass's keys move after its prepared records are freed,
/// but at 100,000 household records sorting all 1.5 million keys in memory took the evaluation's
/// peak from 186 to 236 MB.
const KEYS_SORTED_IN_MEMORY_MAX_ROWS: usize = 25_000;

/// Most bytes of staged key arrays sorted in memory (25,000 records' take ~6 MB): a few records
/// with huge arrays go through SQLite's sorter too (and key offsets stay far inside `u32`).
const KEYS_SORTED_IN_MEMORY_MAX_BYTES: usize = 64 << 20;

impl Store {
    /// Runs `f` in one transaction (IMMEDIATE when none is open, else a savepoint), committing on
    /// success and rolling back on error, so a resolution batch is all-or-nothing.
    pub fn mpi_batch<T>(&self, f: impl FnOnce() -> Result<T>) -> Result<T> {
        let outer = self.conn().is_autocommit();
        if outer {
            self.conn().execute_batch("BEGIN IMMEDIATE")?;
        } else {
            self.conn().execute_batch("SAVEPOINT mpi_batch")?;
        }
        match f() {
            Ok(v) => {
                self.conn()
                    .execute_batch(if outer { "COMMIT" } else { "RELEASE mpi_batch" })?;
                Ok(v)
            }
            Err(e) => {
                let undo = if outer {
                    "ROLLBACK"
                } else {
                    "ROLLBACK TO mpi_batch; RELEASE mpi_batch"
                };
                let _ = self.conn().execute_batch(undo);
                Err(e)
            }
        }
    }

    /// Gives the connection room for every statement a resolution pass keeps prepared (the
    /// default cache of 16 would evict and re-prepare them for every record), a bigger page cache
    /// and the query planner stability guarantee: with the bundled SQLite's STAT4, a statement
    /// whose plan could depend on a bound value is otherwise re-prepared at every new binding,
    /// which was a quarter of the resolution time.
    ///
    /// The returned guard puts the connection back as it was when dropped (a sync connection
    /// lives on in `kadi serve`; it must not keep a resolution pass's memory).
    pub fn mpi_prepare_for_pass(&self) -> Result<MpiPassSettings<'_>> {
        let cache_size: i64 = self
            .conn()
            .pragma_query_value(None, "cache_size", |r| r.get(0))?;
        let qpsg = self
            .conn()
            .db_config(rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG)?;
        let guard = MpiPassSettings {
            store: self,
            cache_size,
            qpsg,
        };
        self.conn().set_prepared_statement_cache_capacity(64);
        self.conn().set_db_config(
            rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
            true,
        )?;
        self.conn()
            .pragma_update(None, "cache_size", -MPI_PASS_CACHE_KIB)?;
        Ok(guard)
    }

    /// Card records waiting for resolution, in enrollment order (deterministic passes): the
    /// first `limit`, or the first after enrollment `after` (a first pass reads its next batch
    /// before the one before is decided, while those records are still pending).
    pub fn mpi_pending_records(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<PendingRecord>> {
        const SELECT: &str = "SELECT c.enrollment_uid, c.fields_json, l.mpi_id FROM card_records c
             LEFT JOIN mpi_links l ON l.enrollment_uid = c.enrollment_uid
             WHERE c.mpi_state = 'pending'";
        const ORDER: &str = "ORDER BY c.enrollment_uid LIMIT ?1";
        let mut stmt = match after {
            None => self.conn().prepare_cached(&format!("{SELECT} {ORDER}"))?,
            Some(_) => self
                .conn()
                .prepare_cached(&format!("{SELECT} AND c.enrollment_uid > ?2 {ORDER}"))?,
        };
        stmt.raw_bind_parameter(1, limit as i64)?;
        if let Some(after) = after {
            stmt.raw_bind_parameter(2, after)?;
        }
        let mut rows = stmt.raw_query();
        let mut pending = Vec::new();
        while let Some(r) = rows.next()? {
            pending.push(PendingRecord {
                enrollment_uid: r.get(0)?,
                fields_json: r.get(1)?,
                mpi_id: r.get(2)?,
            });
        }
        Ok(pending)
    }

    /// Calls `f` with every card record's fields JSON, in enrollment order (training reads the
    /// whole store once, without holding its text).
    pub fn for_each_card_fields(&self, mut f: impl FnMut(&str, &str) -> Result<()>) -> Result<()> {
        let mut stmt = self.conn().prepare(
            "SELECT enrollment_uid, fields_json FROM card_records ORDER BY enrollment_uid",
        )?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            f(r.get_ref(0)?.as_str()?, r.get_ref(1)?.as_str()?)?;
        }
        Ok(())
    }

    /// The fields JSON of one card record.
    pub fn mpi_record_fields(&self, enrollment_uid: &str) -> Result<Option<String>> {
        let mut stmt = self
            .conn()
            .prepare_cached("SELECT fields_json FROM card_records WHERE enrollment_uid = ?1")?;
        Ok(stmt
            .query_row(params![enrollment_uid], |r| r.get(0))
            .optional()?)
    }

    /// Sets a card record's resolution state.
    pub fn mpi_set_state(&self, enrollment_uid: &str, state: MpiState) -> Result<()> {
        let mut stmt = self
            .conn()
            .prepare_cached("UPDATE card_records SET mpi_state = ?2 WHERE enrollment_uid = ?1")?;
        stmt.execute(params![enrollment_uid, state])?;
        Ok(())
    }

    /// The candidates under several blocking keys in one statement: for each key, its first
    /// `limit` enrollments in enrollment order. Rows of one key come together, in enrollment
    /// order.
    pub fn mpi_block_hits(&self, keys: &[&str], limit: usize) -> Result<Vec<BlockHit>> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        // One statement text per key count, kept in the statement cache (a record has 0 to ~12
        // keys). ?1 is the limit, ?2.. the keys.
        let mut sql = String::with_capacity(200 + 120 * keys.len());
        sql.push_str("SELECT k, uid FROM (");
        for i in 0..keys.len() {
            if i > 0 {
                sql.push_str(" UNION ALL ");
            }
            sql.push_str(&format!(
                "SELECT {i} AS k, uid FROM (SELECT enrollment_uid AS uid FROM mpi_block_keys WHERE block_key = ?{} ORDER BY enrollment_uid LIMIT ?1)",
                i + 2
            ));
        }
        sql.push(')');
        let mut stmt = self.conn().prepare_cached(&sql)?;
        stmt.raw_bind_parameter(1, limit as i64)?;
        for (i, k) in keys.iter().enumerate() {
            stmt.raw_bind_parameter(i + 2, k)?;
        }
        let mut rows = stmt.raw_query();
        let mut hits = Vec::new();
        while let Some(r) = rows.next()? {
            hits.push(BlockHit {
                key: r.get::<_, i64>(0)? as usize,
                enrollment_uid: r.get(1)?,
            });
        }
        // A compound's row order is not guaranteed: put it back.
        hits.sort_by(|a, b| {
            a.key
                .cmp(&b.key)
                .then_with(|| a.enrollment_uid.cmp(&b.enrollment_uid))
        });
        Ok(hits)
    }

    /// Whether any record has blocking keys (false: no record was resolved yet).
    pub fn mpi_has_block_keys(&self) -> Result<bool> {
        Ok(self
            .conn()
            .prepare_cached("SELECT EXISTS (SELECT 1 FROM mpi_block_keys)")?
            .query_row([], |r| r.get(0))?)
    }

    /// Number of enrollments linked to an identity.
    pub fn mpi_member_count(&self, mpi_id: &str) -> Result<usize> {
        let n: i64 = self
            .conn()
            .prepare_cached("SELECT count(*) FROM mpi_links WHERE mpi_id = ?1")?
            .query_row(params![mpi_id], |r| r.get(0))?;
        Ok(n as usize)
    }

    /// Sets the blocking keys of one enrollment: whatever keys it had (a changed record, or one
    /// deleted and stored again) are replaced. Its old keys are read from `mpi_record_keys`
    /// and removed one primary-key row at a time (`mpi_block_keys` has no index by enrollment;
    /// see `schema_v16.sql`).
    pub fn mpi_set_block_keys(&self, enrollment_uid: &str, keys: &[String]) -> Result<()> {
        let old: Option<String> = self
            .conn()
            .prepare_cached("SELECT keys_json FROM mpi_record_keys WHERE enrollment_uid = ?1")?
            .query_row(params![enrollment_uid], |r| r.get(0))
            .optional()?;
        if let Some(old) = old {
            let old: Vec<String> = serde_json::from_str(&old)
                .with_context(|| format!("reading the blocking keys of {enrollment_uid}"))?;
            let mut del = self.conn().prepare_cached(
                "DELETE FROM mpi_block_keys WHERE block_key = ?1 AND enrollment_uid = ?2",
            )?;
            for k in old.iter().filter(|k| !keys.contains(k)) {
                del.execute(params![k, enrollment_uid])?;
            }
        }
        self.insert_block_keys(
            "INSERT OR IGNORE INTO mpi_block_keys(enrollment_uid, block_key) VALUES (?1, ?2)",
            enrollment_uid,
            keys,
        )
        .with_context(|| format!("storing the blocking keys of {enrollment_uid}"))?;
        self.conn()
            .prepare_cached(
                "INSERT INTO mpi_record_keys(enrollment_uid, keys_json) VALUES (?1, ?2)
                 ON CONFLICT(enrollment_uid) DO UPDATE SET keys_json = excluded.keys_json",
            )?
            .execute(params![enrollment_uid, serde_json::to_string(keys)?])?;
        Ok(())
    }

    /// Runs `insert` (parameters: enrollment, key) once per key. One row per statement: a
    /// multi-row INSERT needs a statement journal (a temporary file written at every record), a
    /// single row does not.
    fn insert_block_keys(&self, insert: &str, enrollment_uid: &str, keys: &[String]) -> Result<()> {
        let mut ins = self.conn().prepare_cached(insert)?;
        for k in keys {
            ins.execute(params![enrollment_uid, k])?;
        }
        Ok(())
    }

    /// Appends the blocking keys of one enrollment resolved by a first pass to
    /// `mpi_block_keys_staged` (see `schema_v5.sql`); [`Store::mpi_move_staged_block_keys`] moves
    /// them into `mpi_block_keys` at the end of the pass.
    ///
    /// All of a record's keys go in one row, as a JSON array in `block_key` (no key starts with
    /// `[`, so the move tells such rows from the one-key rows earlier versions staged): one
    /// statement a record instead of one a key (a dozen), a tenth of a 5,000-record evaluation.
    /// `keys_json` is that array (`serde_json` of the keys, made where the record is prepared).
    pub fn mpi_stage_block_keys(&self, enrollment_uid: &str, keys_json: &str) -> Result<()> {
        if keys_json == "[]" {
            return Ok(());
        }
        debug_assert!(keys_json.starts_with('['));
        self.conn()
            .prepare_cached(
                "INSERT OR IGNORE INTO mpi_block_keys_staged(enrollment_uid, block_key) VALUES (?1, ?2)",
            )?
            .execute(params![enrollment_uid, keys_json])
            .with_context(|| format!("staging the blocking keys of {enrollment_uid}"))?;
        Ok(())
    }

    /// Moves staged blocking keys into `mpi_block_keys` in key order, in one transaction, and
    /// returns how many rows moved (keys of card records deleted meanwhile went with them). Into an
    /// empty table (a first pass) the rows go in sorted, so every B-tree page is written once,
    /// full; each record's JSON array goes to `mpi_record_keys` as it is (the way back from a
    /// record to its keys; until v16 an index of `mpi_block_keys` by enrollment, which the move
    /// had to build by sorting every key again: 40% of the move at 5,000 records).
    ///
    /// Outside a transaction the move runs with foreign keys off and two sorter threads. Every
    /// staged row already names a live card record (the staged table's own foreign key deletes
    /// its rows with the record), so checking each moved row again was a B-tree seek per row, and
    /// with foreign keys on `DELETE FROM` visits every staged row instead of truncating: at 50,000
    /// simulator records the two were half of the move's 4 s. Inside a caller's transaction
    /// SQLite ignores the pragma, so the move is then just slower, never unchecked by surprise.
    pub fn mpi_move_staged_block_keys(&self) -> Result<usize> {
        self.move_staged_block_keys_sorting_at_most(KEYS_SORTED_IN_MEMORY_MAX_ROWS)
    }

    /// [`Store::mpi_move_staged_block_keys`], sorting in memory up to `in_memory_rows` staged
    /// rows (tests take either way).
    fn move_staged_block_keys_sorting_at_most(&self, in_memory_rows: usize) -> Result<usize> {
        let staged: bool = self
            .conn()
            .prepare_cached("SELECT EXISTS (SELECT 1 FROM mpi_block_keys_staged)")?
            .query_row([], |r| r.get(0))?;
        if !staged {
            return Ok(0);
        }
        let fast = self.conn().is_autocommit();
        if fast {
            self.conn()
                .execute_batch("PRAGMA foreign_keys = OFF; PRAGMA threads = 2;")?;
        }
        let moved = self.move_staged_block_keys(in_memory_rows);
        if fast {
            // Restored whatever the move did: every later statement relies on foreign keys.
            self.conn()
                .execute_batch("PRAGMA foreign_keys = ON; PRAGMA threads = 0;")
                .context("turning foreign keys back on after moving blocking keys")?;
        }
        moved.context("moving staged blocking keys into mpi_block_keys")
    }

    fn move_staged_block_keys(&self, in_memory_rows: usize) -> Result<usize> {
        self.mpi_batch(|| {
            let (staged, bytes): (i64, i64) = self
                .conn()
                .prepare_cached(
                    "SELECT count(*), coalesce(sum(octet_length(block_key)), 0) FROM mpi_block_keys_staged",
                )?
                .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))?;
            let (staged, bytes) = (usize::try_from(staged)?, usize::try_from(bytes)?);
            let in_memory = staged <= in_memory_rows && bytes <= KEYS_SORTED_IN_MEMORY_MAX_BYTES;
            let moved = if in_memory {
                self.insert_staged_keys_sorted(staged, bytes)?
            } else {
                self.insert_staged_keys_by_sqlite()?
            };
            // The way back from each record to its keys. The staged rows are in enrollment
            // order, so this appends; a record's JSON array is copied as it is. One-key rows
            // (earlier versions staged those) and a record that already had keys are merged.
            const MERGED: &str = "ON CONFLICT(enrollment_uid) DO UPDATE SET keys_json =
                (SELECT json_group_array(value) FROM (
                   SELECT value FROM json_each(mpi_record_keys.keys_json)
                   UNION SELECT value FROM json_each(excluded.keys_json)))";
            self.conn().execute_batch(&format!(
                "INSERT INTO mpi_record_keys(enrollment_uid, keys_json)
                 SELECT enrollment_uid, block_key FROM mpi_block_keys_staged
                  WHERE substr(block_key, 1, 1) = '[' {MERGED};
                 INSERT INTO mpi_record_keys(enrollment_uid, keys_json)
                 SELECT enrollment_uid, json_group_array(block_key) FROM mpi_block_keys_staged
                  WHERE substr(block_key, 1, 1) <> '[' GROUP BY enrollment_uid {MERGED};
                 DELETE FROM mpi_block_keys_staged;"
            ))?;
            Ok(moved)
        })
    }

    /// Inserts every staged (key, record) into `mpi_block_keys` in the table's order, sorted by
    /// SQLite, whose sorter spills to a temporary file past the connection's page cache: memory
    /// stays flat however many keys there are. A staged row is one key, or (a JSON array) all
    /// keys of its record.
    fn insert_staged_keys_by_sqlite(&self) -> Result<usize> {
        Ok(self.conn().execute(
            "INSERT OR IGNORE INTO mpi_block_keys(block_key, enrollment_uid)
             SELECT k, e FROM (
               SELECT j.value AS k, s.enrollment_uid AS e
                 FROM mpi_block_keys_staged s, json_each(s.block_key) j
                WHERE substr(s.block_key, 1, 1) = '['
               UNION ALL
               SELECT block_key, enrollment_uid FROM mpi_block_keys_staged
                WHERE substr(block_key, 1, 1) <> '[')
             ORDER BY k, e",
            [],
        )?)
    }

    /// As [`Store::insert_staged_keys_by_sqlite`], the rows sorted in memory
    /// ([`super::key_rows`]): at 5,000 household records SQLite's sorter was two thirds of the
    /// move (21 of 32 ms, every comparison decoding two records); read, sorted here and appended
    /// through `kadi_key_rows`, the move took 25 ms instead of 37.
    fn insert_staged_keys_sorted(&self, staged: usize, bytes: usize) -> Result<usize> {
        let mut rows = super::key_rows::KeyRows::with_capacity(staged, bytes);
        {
            let mut stmt = self.conn().prepare_cached(
                "SELECT enrollment_uid, block_key FROM mpi_block_keys_staged ORDER BY enrollment_uid",
            )?;
            let mut q = stmt.query([])?;
            while let Some(r) = q.next()? {
                let uid = r.get_ref(0)?.as_str()?;
                rows.record(uid);
                let key = r.get_ref(1)?.as_str()?;
                if !key.starts_with('[') {
                    rows.key(key);
                } else if !plain_json_strings(key, |k| rows.key(k)) {
                    let keys: Vec<String> = serde_json::from_str(key)
                        .with_context(|| format!("the staged blocking keys of {uid}"))?;
                    keys.iter().for_each(|k| rows.key(k));
                }
            }
        }
        rows.sort();
        let moved = self
            .conn()
            .prepare_cached(
                "INSERT OR IGNORE INTO mpi_block_keys(block_key, enrollment_uid)
                 SELECT block_key, enrollment_uid FROM kadi_key_rows(?1)",
            )?
            .execute([super::key_rows::KeyRowsParam(std::rc::Rc::new(rows))])?;
        Ok(moved)
    }

    /// Creates an identity; false when the ID is already taken (the caller draws another).
    pub fn mpi_insert_identity(&self, mpi_id: &str, golden_json: &str) -> Result<bool> {
        let now = now_utc();
        let n = self
            .conn()
            .prepare_cached(
                "INSERT OR IGNORE INTO mpi_identities(mpi_id, golden_json, created_at, updated_at) VALUES (?1, ?2, ?3, ?3)",
            )?
            .execute(params![mpi_id, golden_json, now])?;
        Ok(n == 1)
    }

    /// One identity by ID (merged ones included).
    pub fn mpi_identity(&self, mpi_id: &str) -> Result<Option<MpiIdentity>> {
        let mut stmt = self.conn().prepare_cached(
            "SELECT mpi_id, golden_json, merged_into, created_at, updated_at FROM mpi_identities WHERE mpi_id = ?1",
        )?;
        Ok(stmt
            .query_row(params![mpi_id], |r| {
                Ok(MpiIdentity {
                    mpi_id: r.get(0)?,
                    golden_json: r.get(1)?,
                    merged_into: r.get(2)?,
                    created_at: r.get(3)?,
                    updated_at: r.get(4)?,
                })
            })
            .optional()?)
    }

    /// Sets or clears the identity an identity was merged into.
    pub fn mpi_set_merged_into(&self, mpi_id: &str, survivor: Option<&str>) -> Result<()> {
        self.conn()
            .prepare_cached(
                "UPDATE mpi_identities SET merged_into = ?2, updated_at = ?3 WHERE mpi_id = ?1",
            )?
            .execute(params![mpi_id, survivor, now_utc()])?;
        Ok(())
    }

    /// Stores an identity's golden record.
    pub fn mpi_set_golden(&self, mpi_id: &str, golden_json: &str) -> Result<()> {
        self.conn()
            .prepare_cached(
                "UPDATE mpi_identities SET golden_json = ?2, updated_at = ?3 WHERE mpi_id = ?1",
            )?
            .execute(params![mpi_id, golden_json, now_utc()])?;
        Ok(())
    }

    /// The link of one enrollment.
    pub fn mpi_link(&self, enrollment_uid: &str) -> Result<Option<MpiLink>> {
        let mut stmt = self.conn().prepare_cached(
            "SELECT enrollment_uid, mpi_id, score, method, linked_at FROM mpi_links WHERE enrollment_uid = ?1",
        )?;
        Ok(stmt
            .query_row(params![enrollment_uid], row_to_link)
            .optional()?)
    }

    /// Links (or re-links) an enrollment to an identity.
    pub fn mpi_set_link(
        &self,
        enrollment_uid: &str,
        mpi_id: &str,
        score: Option<f64>,
        method: LinkMethod,
    ) -> Result<()> {
        self.conn()
            .prepare_cached(
                "INSERT INTO mpi_links(enrollment_uid, mpi_id, score, method, linked_at) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT(enrollment_uid) DO UPDATE SET mpi_id = excluded.mpi_id, score = excluded.score,
                   method = excluded.method, linked_at = excluded.linked_at",
            )?
            .execute(params![enrollment_uid, mpi_id, score, method, now_utc()])
            .with_context(|| format!("linking {enrollment_uid} to {mpi_id}"))?;
        Ok(())
    }

    /// Enrollments linked to an identity, in enrollment order.
    pub fn mpi_members(&self, mpi_id: &str) -> Result<Vec<String>> {
        let mut stmt = self.conn().prepare_cached(
            "SELECT enrollment_uid FROM mpi_links WHERE mpi_id = ?1 ORDER BY enrollment_uid",
        )?;
        let rows = stmt.query_map(params![mpi_id], |r| r.get(0))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Member records with their fields and mapping time, for the golden record.
    pub fn mpi_member_records(&self, mpi_id: &str) -> Result<Vec<MemberRecord>> {
        let mut stmt = self.conn().prepare_cached(
            "SELECT c.enrollment_uid, c.fields_json, c.mapped_at FROM mpi_links l
             JOIN card_records c ON c.enrollment_uid = l.enrollment_uid WHERE l.mpi_id = ?1 ORDER BY c.enrollment_uid",
        )?;
        let rows = stmt.query_map(params![mpi_id], |r| {
            Ok(MemberRecord {
                enrollment_uid: r.get(0)?,
                fields_json: r.get(1)?,
                mapped_at: r.get(2)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Moves every link of `from` to `to`; returns the moved enrollments.
    pub fn mpi_move_links(&self, from: &str, to: &str) -> Result<Vec<String>> {
        let moved = self.mpi_members(from)?;
        self.conn()
            .prepare_cached("UPDATE mpi_links SET mpi_id = ?2 WHERE mpi_id = ?1")?
            .execute(params![from, to])?;
        Ok(moved)
    }

    /// Every link (for evaluation and reports), in enrollment order.
    pub fn mpi_all_links(&self) -> Result<Vec<(String, String)>> {
        let mut stmt = self
            .conn()
            .prepare("SELECT enrollment_uid, mpi_id FROM mpi_links ORDER BY enrollment_uid")?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Records a merge so it can be undone.
    pub fn mpi_record_merge(
        &self,
        merged: &str,
        survivor: &str,
        enrollments: &[String],
        by: &str,
    ) -> Result<()> {
        let json = serde_json::to_string(enrollments)?;
        self.conn().execute(
            "INSERT OR REPLACE INTO mpi_merges(merged_mpi_id, survivor_mpi_id, enrollments_json, merged_by, merged_at)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![merged, survivor, json, by, now_utc()],
        )?;
        // The merged identity's cards carry an MPI ID that no longer stands alone: revoke them
        // (reason `merged`), so every box learns it at its next sync (docs/verify.md).
        self.revoke_cards_of(merged, by)?;
        Ok(())
    }

    /// The merge in force for a merged identity.
    pub fn mpi_merge_of(&self, merged: &str) -> Result<Option<MpiMerge>> {
        let row: Option<(String, String, String)> = self
            .conn()
            .query_row(
                "SELECT merged_mpi_id, survivor_mpi_id, enrollments_json FROM mpi_merges WHERE merged_mpi_id = ?1",
                params![merged],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?;
        row.map(|(m, s, j)| {
            let enrollments = serde_json::from_str(&j)
                .with_context(|| format!("merge record of {m} is unreadable"))?;
            Ok(MpiMerge {
                merged_mpi_id: m,
                survivor_mpi_id: s,
                enrollments,
            })
        })
        .transpose()
    }

    /// Forgets a merge (after it was undone).
    pub fn mpi_delete_merge(&self, merged: &str) -> Result<()> {
        self.conn().execute(
            "DELETE FROM mpi_merges WHERE merged_mpi_id = ?1",
            params![merged],
        )?;
        Ok(())
    }

    /// Adds a review item; returns its ID.
    pub fn mpi_insert_review(
        &self,
        enrollment_uid: &str,
        candidate_uid: &str,
        candidate_mpi_id: &str,
        score: f64,
        explain_json: &str,
    ) -> Result<i64> {
        self.conn()
            .prepare_cached(
                "INSERT INTO review_items(enrollment_uid, candidate_enrollment_uid, candidate_mpi_id, score, explain_json, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![enrollment_uid, candidate_uid, candidate_mpi_id, score, explain_json, now_utc()])?;
        Ok(self.conn().last_insert_rowid())
    }

    /// Adds a split item (see [`ReviewKind::Split`]) for `enrollment_uid`, linked automatically to
    /// `mpi_id`, with the member it was checked against; returns its ID, or `None` when the record
    /// already has a pending split item (a second recheck queues nothing new).
    pub fn mpi_insert_split_review(
        &self,
        enrollment_uid: &str,
        member_uid: &str,
        mpi_id: &str,
        score: f64,
        explain_json: &str,
    ) -> Result<Option<i64>> {
        let n = self
            .conn()
            .prepare_cached(
                "INSERT OR IGNORE INTO review_items(enrollment_uid, candidate_enrollment_uid, candidate_mpi_id, score, explain_json, created_at, kind)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'split')",
            )?
            .execute(params![enrollment_uid, member_uid, mpi_id, score, explain_json, now_utc()])?;
        Ok((n == 1).then(|| self.conn().last_insert_rowid()))
    }

    /// Whether an enrollment has a pending split item.
    pub fn mpi_has_pending_split(&self, enrollment_uid: &str) -> Result<bool> {
        Ok(self.conn().query_row(
            "SELECT EXISTS(SELECT 1 FROM review_items WHERE status = 'pending' AND kind = 'split' AND enrollment_uid = ?1)",
            params![enrollment_uid],
            |r| r.get(0),
        )?)
    }

    /// Links made automatically (`auto`, `deterministic`) into identities of 2+ members:
    /// what `kadi mpi recheck` checks, in identity then enrollment order.
    pub fn mpi_automatic_links(&self) -> Result<Vec<MpiLink>> {
        let mut stmt = self.conn().prepare(
            "SELECT enrollment_uid, mpi_id, score, method, linked_at FROM mpi_links l
             WHERE method IN ('auto', 'deterministic')
               AND (SELECT count(*) FROM mpi_links m WHERE m.mpi_id = l.mpi_id) >= 2
             ORDER BY mpi_id, enrollment_uid",
        )?;
        let rows = stmt.query_map([], row_to_link)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Drops the pending review items of an enrollment (it is being resolved again).
    pub fn mpi_delete_pending_reviews(&self, enrollment_uid: &str) -> Result<usize> {
        Ok(self
            .conn()
            .prepare_cached(
                "DELETE FROM review_items WHERE status = 'pending' AND enrollment_uid = ?1",
            )?
            .execute(params![enrollment_uid])?)
    }

    /// Review items with a given status, oldest first.
    pub fn mpi_review_items(&self, status: ReviewStatus) -> Result<Vec<ReviewItemRow>> {
        let mut stmt = self.conn().prepare(&format!(
            "SELECT {REVIEW_COLUMNS} FROM review_items WHERE status = ?1 ORDER BY id"
        ))?;
        let rows = stmt.query_map(params![status], row_to_review)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// One review item.
    pub fn mpi_review_item(&self, id: i64) -> Result<Option<ReviewItemRow>> {
        Ok(self
            .conn()
            .query_row(
                &format!("SELECT {REVIEW_COLUMNS} FROM review_items WHERE id = ?1"),
                params![id],
                row_to_review,
            )
            .optional()?)
    }

    /// Number of pending review items of an enrollment.
    pub fn mpi_pending_review_count(&self, enrollment_uid: &str) -> Result<i64> {
        Ok(self.conn().query_row(
            "SELECT count(*) FROM review_items WHERE status = 'pending' AND enrollment_uid = ?1",
            params![enrollment_uid],
            |r| r.get(0),
        )?)
    }

    /// Records a person's decision on a review item.
    pub fn mpi_decide_review(&self, id: i64, status: ReviewStatus, by: &str) -> Result<()> {
        self.conn().execute(
            "UPDATE review_items SET status = ?2, decided_by = ?3, decided_at = ?4 WHERE id = ?1",
            params![id, status, by, now_utc()],
        )?;
        Ok(())
    }

    /// True when the question "are identities `a` and `b` one person?" is already with a person
    /// or already answered: a pending review item has its record under one and its candidate
    /// under the other, or a person said a member of one is not a member of the other. Resolution
    /// asks each such question once (see `crate::mpi`): on FEBRL2 without national IDs the
    /// queue held each open question twice on average, one item per later record of the entity.
    /// `CROSS JOIN` keeps SQLite starting from the two identities' members (a few rows) rather
    /// than from every pending item, which it prefers without statistics.
    pub fn mpi_identities_asked(&self, a: &str, b: &str) -> Result<bool> {
        Ok(self
            .conn()
            .prepare_cached(
                "SELECT EXISTS(
                    SELECT 1 FROM mpi_links x
                    CROSS JOIN review_items r ON r.enrollment_uid = x.enrollment_uid AND r.status = 'pending' AND r.kind = 'pair'
                    JOIN mpi_links y ON y.enrollment_uid = r.candidate_enrollment_uid
                    WHERE x.mpi_id IN (?1, ?2) AND y.mpi_id IN (?1, ?2) AND x.mpi_id <> y.mpi_id)
                 OR EXISTS(
                    SELECT 1 FROM mpi_links x
                    CROSS JOIN mpi_not_same n ON n.enrollment_a = x.enrollment_uid
                    JOIN mpi_links y ON y.enrollment_uid = n.enrollment_b
                    WHERE x.mpi_id IN (?1, ?2) AND y.mpi_id IN (?1, ?2) AND x.mpi_id <> y.mpi_id)",
            )?
            .query_row(params![a, b], |r| r.get(0))?)
    }

    /// The identities a pending pair item ties to identity `mpi_id` (its record under one, its
    /// candidate under the other): those a "same" answer would join to it.
    pub fn mpi_identities_in_question(&self, mpi_id: &str) -> Result<Vec<String>> {
        let mut stmt = self.conn().prepare_cached(
            "SELECT y.mpi_id FROM mpi_links x
             CROSS JOIN review_items r ON r.enrollment_uid = x.enrollment_uid AND r.status = 'pending' AND r.kind = 'pair'
             JOIN mpi_links y ON y.enrollment_uid = r.candidate_enrollment_uid
             WHERE x.mpi_id = ?1 AND y.mpi_id <> ?1
             UNION
             SELECT x.mpi_id FROM review_items r
             JOIN mpi_links y ON y.enrollment_uid = r.candidate_enrollment_uid
             JOIN mpi_links x ON x.enrollment_uid = r.enrollment_uid
             WHERE r.status = 'pending' AND r.kind = 'pair' AND y.mpi_id = ?1 AND x.mpi_id <> ?1",
        )?;
        let rows = stmt.query_map(params![mpi_id], |r| r.get(0))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Pending review items `(id, enrollment, candidate)` whose record is under one of the
    /// identities `a`, `b` and whose candidate is under the other (under `a` itself when `a == b`):
    /// the items a person's decision on one of them also answers.
    pub fn mpi_pending_reviews_between(
        &self,
        a: &str,
        b: &str,
    ) -> Result<Vec<(i64, String, String)>> {
        let mut stmt = self.conn().prepare_cached(
            "SELECT r.id, r.enrollment_uid, r.candidate_enrollment_uid FROM mpi_links x
             CROSS JOIN review_items r ON r.enrollment_uid = x.enrollment_uid AND r.status = 'pending' AND r.kind = 'pair'
             JOIN mpi_links y ON y.enrollment_uid = r.candidate_enrollment_uid
             WHERE x.mpi_id IN (?1, ?2) AND y.mpi_id IN (?1, ?2) AND (x.mpi_id <> y.mpi_id OR ?1 = ?2)
             ORDER BY r.id",
        )?;
        let rows = stmt.query_map(params![a, b], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Remembers that two enrollments are different people.
    pub fn mpi_insert_not_same(&self, a: &str, b: &str, by: &str) -> Result<()> {
        let (a, b) = if a < b { (a, b) } else { (b, a) };
        self.conn().execute(
            "INSERT OR IGNORE INTO mpi_not_same(enrollment_a, enrollment_b, decided_by, decided_at) VALUES (?1, ?2, ?3, ?4)",
            params![a, b, by, now_utc()],
        )?;
        Ok(())
    }

    /// Every pair a person said are different people.
    pub fn mpi_all_not_same(&self) -> Result<Vec<(String, String)>> {
        let mut stmt = self
            .conn()
            .prepare("SELECT enrollment_a, enrollment_b FROM mpi_not_same")?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Enrollments a person said are not the same as `enrollment_uid`.
    pub fn mpi_not_same_as(&self, enrollment_uid: &str) -> Result<Vec<String>> {
        let mut stmt = self.conn().prepare_cached(
            "SELECT enrollment_b FROM mpi_not_same WHERE enrollment_a = ?1 UNION SELECT enrollment_a FROM mpi_not_same WHERE enrollment_b = ?1",
        )?;
        let rows = stmt.query_map(params![enrollment_uid], |r| r.get(0))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}

/// One stored parameter table of the MPI scorer.
#[derive(Debug, Clone)]
pub struct MpiParamsRow {
    pub id: i64,
    pub created_at: String,
    pub created_by: String,
    pub records: i64,
    pub params_json: String,
    pub active: bool,
}

impl Store {
    /// The parameter table in force, if any (none: the scorer's a-priori table).
    pub fn mpi_params_in_force(&self) -> Result<Option<MpiParamsRow>> {
        self.mpi_params_where("active = 1")
            .map(|mut v| v.pop())
            .context("reading the MPI parameters in force")
    }

    fn mpi_params_where(&self, filter: &str) -> Result<Vec<MpiParamsRow>> {
        let mut stmt = self.conn().prepare(&format!(
            "SELECT id, created_at, created_by, records, params_json, active FROM mpi_params WHERE {filter} ORDER BY id DESC"
        ))?;
        let rows = stmt.query_map([], |r| {
            Ok(MpiParamsRow {
                id: r.get(0)?,
                created_at: r.get(1)?,
                created_by: r.get(2)?,
                records: r.get(3)?,
                params_json: r.get(4)?,
                active: r.get::<_, i64>(5)? == 1,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    /// Stores a trained parameter table (put in force when `activate`), audited, in one
    /// transaction; returns its ID.
    pub fn mpi_params_insert(
        &self,
        params_json: &str,
        records: i64,
        actor: &str,
        activate: bool,
    ) -> Result<i64> {
        self.in_transaction(|s| {
            s.conn().execute(
                "INSERT INTO mpi_params(created_at, created_by, records, params_json, active) VALUES (?1, ?2, ?3, ?4, 0)",
                params![now_utc(), actor, records, params_json],
            )?;
            let id = s.conn().last_insert_rowid();
            s.audit(
                actor,
                "mpi.params.train",
                Some(&format!("mpi_params:{id}")),
                None,
                Some(&serde_json::json!({ "records": records }).to_string()),
            )?;
            if activate {
                s.mpi_params_activate_in(id, actor)?;
            }
            Ok(id)
        })
    }

    fn mpi_params_activate_in(&self, id: i64, actor: &str) -> Result<()> {
        let before = self.mpi_params_in_force()?.map(|r| r.id);
        self.conn()
            .execute("UPDATE mpi_params SET active = 0 WHERE active = 1", [])?;
        let n = self
            .conn()
            .execute("UPDATE mpi_params SET active = 1 WHERE id = ?1", [id])?;
        anyhow::ensure!(n == 1, "no stored MPI parameters with id {id}");
        self.audit(
            actor,
            "mpi.params.activate",
            Some(&format!("mpi_params:{id}")),
            Some(&serde_json::json!({ "in_force": before }).to_string()),
            Some(&serde_json::json!({ "in_force": id }).to_string()),
        )
    }
}

/// Calls `each` with the strings of a JSON array of strings none of which has an escape
/// (`["ad:1","fn:awa"]`, what serde_json writes for staged keys), as slices of it, without
/// allocating a string per key; false, having called nothing, for anything else (which the
/// caller parses with `serde_json`).
fn plain_json_strings<'a>(json: &'a str, mut each: impl FnMut(&'a str)) -> bool {
    let Some(inner) = json.strip_prefix('[').and_then(|j| j.strip_suffix(']')) else {
        return false;
    };
    if inner.is_empty() {
        return true;
    }
    // An escape, or a control character serde_json would refuse: left to serde_json.
    if inner.bytes().any(|c| c == b'\\' || c < 0x20) {
        return false;
    }
    // Without escapes a string ends at the next quote; between two strings exactly a comma.
    let b = inner.as_bytes();
    let mut at = 0;
    let mut spans = Vec::new();
    loop {
        if b.get(at) != Some(&b'"') {
            return false;
        }
        let Some(len) = b[at + 1..].iter().position(|&c| c == b'"') else {
            return false;
        };
        spans.push((at + 1, at + 1 + len));
        at += len + 2;
        match b.get(at) {
            None => break,
            Some(b',') => at += 1,
            Some(_) => return false,
        }
    }
    for (start, end) in spans {
        each(&inner[start..end]);
    }
    true
}

#[cfg(test)]
mod tests {
    use super::plain_json_strings;
    use crate::store::Store;

    type Pairs = Vec<(String, String)>;

    /// The keys staged as a first pass stages them (a JSON array a record), as earlier versions
    /// did (a row a key), with a key a record holds twice and one with an escape, moved by
    /// `max_rows`' way: the blocking index and the record-to-keys table they leave.
    fn moved_with(max_rows: usize) -> (usize, Pairs, Pairs) {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(&dir.path().join("kadi.db")).unwrap();
        s.conn()
            .execute_batch(
                r#"INSERT INTO card_records(enrollment_uid, tracked_entity_uid, program_uid, fields_json, content_hash, mapped_at)
                   VALUES ('e1', 't', 'p', '{}', 'h', 't'), ('e2', 't', 'p', '{}', 'h', 't'),
                          ('e3', 't', 'p', '{}', 'h', 't'), ('e10', 't', 'p', '{}', 'h', 't');
                   INSERT INTO mpi_block_keys_staged(enrollment_uid, block_key) VALUES
                     ('e2', '["fn:awa","ph:221","fn:awa","ad:1 rue \"x\""]'),
                     ('e1', '["fn:awa","dob:1990"]'),
                     ('e10', '["fn:aw","fn:awab"]'),
                     ('e3', 'fn:awa'), ('e3', 'ln:diop');"#,
            )
            .unwrap();
        let moved = s.move_staged_block_keys_sorting_at_most(max_rows).unwrap();
        let read = |sql: &str| -> Pairs {
            s.conn()
                .prepare(sql)
                .unwrap()
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
                .unwrap()
                .map(|r| r.unwrap())
                .collect()
        };
        let staged: i64 = s
            .conn()
            .query_row("SELECT count(*) FROM mpi_block_keys_staged", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(staged, 0);
        (
            moved,
            read("SELECT block_key, enrollment_uid FROM mpi_block_keys"),
            read("SELECT enrollment_uid, keys_json FROM mpi_record_keys ORDER BY enrollment_uid"),
        )
    }

    /// Sorted in memory (few staged rows) or by SQLite's sorter (many), a move leaves the same
    /// tables, every (key, record) once.
    #[test]
    fn keys_sorted_in_memory_move_as_keys_sorted_by_sqlite() {
        let in_memory = moved_with(usize::MAX);
        let by_sqlite = moved_with(0);
        assert_eq!(in_memory, by_sqlite);
        let (moved, keys, by_record) = in_memory;
        assert_eq!(moved, 9, "{keys:?}");
        assert_eq!(keys.len(), 9);
        assert!(
            keys.contains(&("ad:1 rue \"x\"".to_string(), "e2".to_string())),
            "{keys:?}"
        );
        assert_eq!(by_record.len(), 4, "{by_record:?}");
    }

    fn read(json: &str) -> Option<Vec<String>> {
        let mut out = Vec::new();
        plain_json_strings(json, |k| out.push(k.to_string())).then_some(out)
    }

    /// What serde_json writes for keys without escapes is read as serde_json reads it; anything
    /// else is left to serde_json (None), never misread.
    #[test]
    fn plain_arrays_are_read_as_serde_reads_them_and_anything_else_is_left_to_it() {
        for keys in [
            vec![],
            vec!["fn:awa"],
            vec!["ad:100:g653", "dob:1990-01-01", "fn:amélie", ""],
            vec!["a,b", "c]", "[d"],
        ] {
            let json = serde_json::to_string(&keys).unwrap();
            assert_eq!(
                read(&json),
                Some(keys.iter().map(|k| k.to_string()).collect())
            );
        }
        for json in [
            r#"["a\"b","c"]"#,
            r#"["a\\b"]"#,
            "[\"a\nb\"]",
            "[\"a\tb\"]",
            r#"["a", "b"]"#,
            r#"["a""b"]"#,
            r#"["a","b""#,
            r#"["a",]"#,
            r#"[1]"#,
            "[",
            "",
        ] {
            assert_eq!(read(json), None, "{json}");
        }
    }
}
