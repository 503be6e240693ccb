//! The box's one SQLite file: schema, migrations and typed queries. This is the only module that
//! writes SQL for kadi's tables; others call its functions. Submodules group queries by the
//! capability they serve (`dhis2_data`, `mpi_data`, `card_data`, `web_data`, ...).
//!
//! The database runs in WAL mode with foreign keys on and a busy timeout, so the web server, the
//! sync scheduler and the outbox worker (threads of one `kadi serve`) can share it through short
//! transactions. Migrations are keyed on `PRAGMA user_version` and run at every open.

pub mod backup;
pub mod card_data;
pub mod connection;
pub mod desk_data;
mod key_rows;
pub mod mapping_data;
pub mod mpi_data;
pub mod outbox_data;
pub mod programs;
pub mod records;
pub mod search;
pub mod sync_data;
pub mod token_data;
pub mod verify_data;
pub mod web_data;

use anyhow::{Context, Result};
use rusqlite::{params, Connection, OptionalExtension};
use std::path::{Path, PathBuf};

/// Migrations in order; entry `i` moves the schema from version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[
    include_str!("schema_v1.sql"),
    include_str!("schema_v2.sql"),
    include_str!("schema_v3.sql"),
    include_str!("schema_v4.sql"),
    include_str!("schema_v5.sql"),
    include_str!("schema_v6.sql"),
    // Sync run holder (boot id, process start time) and the last DHIS2 server date.
    include_str!("schema_v7.sql"),
    // Review item kinds: `split` items from `kadi mpi recheck`.
    include_str!("schema_v8.sql"),
    include_str!("schema_v9.sql"),
    // Sync runs may end `partial`; undecodable records wait in `sync_quarantine`.
    include_str!("schema_v10.sql"),
    // API tokens; the DHIS2 connection's programme and creation time (s10-a).
    include_str!("schema_v11.sql"),
    // Card tasks queued for `kadi serve`'s worker (`tasks.queued_by`).
    include_str!("schema_v12.sql"),
    // The beneficiary search index (`search`): terms, list order, and what changed since.
    include_str!("schema_v13.sql"),
    // The outbox: messages, WhatsApp media cache, last inbound per number.
    include_str!("schema_v14.sql"),
    // Signed cards: keys, revocations, issued serials; the K1 HMAC secret deleted.
    include_str!("schema_v15.sql"),
    // No temporary B-tree per record written or linked: CHECKs as `=` chains (card_records and
    // mpi_links rebuilt), search triggers as upserts.
    include_str!("schema_v16.sql"),
    // Whole signing keys revoked (a stolen box): `card_key_revocations`.
    include_str!("schema_v17.sql"),
];

/// The schema [`MIGRATIONS`] build from nothing, made at once for a new database
/// (`Store::migrate`); `tests::a_new_database_gets_the_schema_its_migrations_build` keeps the two
/// the same.
const SCHEMA_FRESH: &str = include_str!("schema_fresh.sql");

/// The first line of a migration that must run with foreign keys off (see `Store::migrate`).
const FOREIGN_KEYS_OFF: &str = "-- kadi-migration: foreign_keys off";

/// The schema version this build expects.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// An open kadi database.
pub struct Store {
    conn: Connection,
    path: PathBuf,
}

impl Store {
    /// Opens (creating the file if needed) and upgrades the database at `path`. Its directory
    /// must exist: a mistyped `--db /no/such/dir/k.db` must not quietly serve an empty database
    /// (only `kadi init`, through [`Store::create`], makes directories).
    pub fn open(path: &Path) -> Result<Store> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            if !dir.is_dir() {
                anyhow::bail!(
                    "the database's directory {} does not exist (a mistyped --db or KADI_DB?); create it with `kadi --db {} init`",
                    dir.display(),
                    path.display()
                );
            }
        }
        let conn = Connection::open(path)
            .with_context(|| format!("opening database {}", path.display()))?;
        let store = Store {
            conn,
            path: path.to_path_buf(),
        };
        store
            .configure()
            .with_context(|| format!("configuring database {}", path.display()))?;
        store
            .migrate()
            .with_context(|| format!("migrating database {}", path.display()))?;
        Ok(store)
    }

    /// As [`Store::open`], first creating the database's missing directories (0700): `kadi init`.
    pub fn create(path: &Path) -> Result<Store> {
        if let Some(dir) = path.parent() {
            crate::fsx::create_dir_private(dir)?;
        }
        Store::open(path)
    }

    fn configure(&self) -> Result<()> {
        self.conn.busy_timeout(std::time::Duration::from_secs(10))?;
        self.conn.pragma_update(None, "journal_mode", "WAL")?;
        self.conn.pragma_update(None, "foreign_keys", "ON")?;
        // FULL: a commit is on disk when it returns. Staff decisions (review, merge, link,
        // staff, sessions) must survive a power cut right after the page said "done"; NORMAL in
        // WAL mode may lose the last commits. A sync commits a few hundred times per 100,000
        // records, so FULL costs it little (docs/durability.md).
        self.conn.pragma_update(None, "synchronous", "FULL")?;
        // After a checkpoint, truncate a WAL that a bulk sync grew beyond 64 MiB.
        self.conn
            .pragma_update(None, "journal_size_limit", 64 * 1024 * 1024)?;
        kadi_sqlext::register(&self.conn).context("registering kadi SQL functions")?;
        key_rows::load_module(&self.conn).context("registering kadi_key_rows")?;
        Ok(())
    }

    /// Applies `MIGRATIONS[range]` in one transaction and sets `user_version` to its end.
    ///
    /// A migration that rebuilds a table other tables point at (SQLite cannot change a CHECK in
    /// place) runs with foreign keys off (`fk_off`), as SQLite's own procedure for table changes
    /// says: dropping the old table would otherwise cascade into its children. The pragma is a
    /// no-op inside a transaction, so it is set around it, and the keys are checked before the
    /// commit instead.
    fn apply_migrations(&self, range: std::ops::Range<usize>, fk_off: bool) -> Result<()> {
        if fk_off {
            self.conn.pragma_update(None, "foreign_keys", "OFF")?;
        }
        let applied = (|| -> Result<()> {
            let tx = self.conn.unchecked_transaction()?;
            for i in range.clone() {
                tx.execute_batch(MIGRATIONS[i])
                    .with_context(|| format!("applying migration {}", i + 1))?;
            }
            if fk_off {
                let broken: i64 =
                    tx.query_row("SELECT count(*) FROM pragma_foreign_key_check", [], |r| {
                        r.get(0)
                    })?;
                if broken > 0 {
                    anyhow::bail!(
                        "migration {} would leave {broken} rows pointing at nothing; nothing was changed",
                        range.end
                    );
                }
            }
            tx.pragma_update(None, "user_version", range.end as i64)?;
            tx.commit()?;
            Ok(())
        })();
        if fk_off {
            self.conn.pragma_update(None, "foreign_keys", "ON")?;
        }
        applied
    }

    /// Applies every migration newer than the file's `user_version`, each in its own transaction.
    /// A new database gets them all in one transaction instead: there is nothing to keep safe
    /// between them, and each commit is an fsync (a new evaluation store: 36 -> 20 fsyncs; on an
    /// SD card each costs milliseconds).
    fn migrate(&self) -> Result<()> {
        let current: i64 = self
            .conn
            .pragma_query_value(None, "user_version", |r| r.get(0))?;
        if current > SCHEMA_VERSION {
            anyhow::bail!(
                "database schema version {current} is newer than this kadi understands ({SCHEMA_VERSION}); upgrade kadi"
            );
        }
        if current == 0 && self.is_empty()? {
            self.create_fresh_schema()?;
        } else if current == 0 {
            self.apply_migrations(0..MIGRATIONS.len(), true)?;
        } else {
            for (i, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
                self.apply_migrations(i..i + 1, sql.starts_with(FOREIGN_KEYS_OFF))?;
            }
        }
        // The index's migration marks every record; fold them now, not at the first search (a
        // new database has none).
        if current > 0
            && current < search::SEARCH_SCHEMA_VERSION
            && SCHEMA_VERSION >= search::SEARCH_SCHEMA_VERSION
        {
            self.refresh_search_index()
                .context("filling the search index")?;
        }
        Ok(())
    }

    /// True when the file holds no table, index, view or trigger (a new database).
    fn is_empty(&self) -> Result<bool> {
        Ok(self
            .conn
            .query_row("SELECT NOT EXISTS (SELECT 1 FROM sqlite_master)", [], |r| {
                r.get(0)
            })?)
    }

    /// Makes the newest schema in a new database in one transaction ([`SCHEMA_FRESH`]).
    fn create_fresh_schema(&self) -> Result<()> {
        let tx = self.conn.unchecked_transaction()?;
        tx.execute_batch(SCHEMA_FRESH)
            .context("creating the schema of a new database")?;
        tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
        tx.commit()?;
        Ok(())
    }

    /// The underlying connection, for this module's submodules and tests.
    pub(crate) fn conn(&self) -> &Connection {
        &self.conn
    }

    /// Where this database lives.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The schema version of the open file.
    pub fn schema_version(&self) -> Result<i64> {
        Ok(self
            .conn
            .pragma_query_value(None, "user_version", |r| r.get(0))?)
    }

    /// Reads a setting.
    pub fn setting(&self, key: &str) -> Result<Option<String>> {
        Ok(self
            .conn
            .query_row(
                "SELECT value FROM settings WHERE key = ?1",
                params![key],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// Writes a setting (and audits it).
    pub fn set_setting(&self, actor: &str, key: &str, value: &str) -> Result<()> {
        let before = self.setting(key)?;
        self.conn.execute(
            "INSERT INTO settings(key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            params![key, value],
        )?;
        self.audit(
            actor,
            "setting.set",
            Some(key),
            before.as_deref(),
            Some(value),
        )
    }

    /// Appends one line to the audit trail.
    pub fn audit(
        &self,
        actor: &str,
        action: &str,
        entity: Option<&str>,
        before: Option<&str>,
        after: Option<&str>,
    ) -> Result<()> {
        // Cached: resolution audits every automatic link, thousands per pass.
        self.conn
            .prepare_cached(
                "INSERT INTO audit_log(at, actor, action, entity, before_json, after_json) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![now_utc(), actor, action, entity, before, after])?;
        Ok(())
    }

    /// Number of rows in a kadi table (for reports and tests). `table` must be a known table name.
    pub fn count(&self, table: &str) -> Result<i64> {
        anyhow::ensure!(
            table.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
            "not a table name: {table}"
        );
        Ok(self
            .conn
            .query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))?)
    }
}

/// Now, UTC, ISO 8601 with seconds (`2026-11-23T09:00:00Z`).
pub fn now_utc() -> String {
    // Formatted once per second and thread: a sync stamps every row it writes, and chrono's
    // formatter showed in its profile.
    thread_local! {
        static LAST: std::cell::RefCell<(i64, String)> = const { std::cell::RefCell::new((i64::MIN, String::new())) };
    }
    let now = chrono::Utc::now();
    let secs = now.timestamp();
    LAST.with(|last| {
        let mut last = last.borrow_mut();
        if last.0 != secs {
            *last = (secs, crate::clock::format_utc(now));
        }
        last.1.clone()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The per-record statements of a sync must use an index: a full scan per record makes a
    /// 100,000-record store quadratic.
    #[test]
    fn per_record_sync_and_mpi_statements_never_scan_a_table() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(&dir.path().join("kadi.db")).unwrap();
        for sql in [
            "DELETE FROM card_records WHERE enrollment_uid IN (SELECT uid FROM enrollments WHERE tracked_entity_uid = 'x')",
            "DELETE FROM card_records WHERE enrollment_uid = 'x'",
            "SELECT content_hash FROM card_records WHERE enrollment_uid = 'x'",
            "UPDATE tracked_entities SET deleted = 1, synced_at = 'x', attributes_json = '[]' WHERE uid = 'x'",
            "SELECT attribute_uid, value FROM attribute_values WHERE tracked_entity_uid = 'x'",
            "SELECT attributes_json FROM tracked_entities t WHERE t.uid = 'x'",
            "UPDATE enrollments SET deleted = 1 WHERE tracked_entity_uid = 'x'",
            "SELECT server_updated_at, deleted FROM tracked_entities WHERE uid = 'x'",
            "SELECT enrollment_uid FROM card_records WHERE mpi_state = 'pending' ORDER BY enrollment_uid LIMIT 500",
        ] {
            let mut stmt = s.conn().prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
            let plan: Vec<String> = stmt
                .query_map([], |r| r.get::<_, String>(3))
                .unwrap()
                .map(|r| r.unwrap())
                .collect();
            assert!(
                // `SCAN j VIRTUAL TABLE` is json_each walking one row's attribute values.
                plan.iter().all(|d| (!d.starts_with("SCAN") || d.contains("VIRTUAL TABLE"))
                    && !d.contains("TEMP B-TREE")),
                "{sql}: {plan:?}"
            );
        }
    }

    /// The statements run once per record resolved or written never build a temporary B-tree
    /// (`OpenEphemeral`): a CHECK with `IN (three or more constants)` or a trigger that reads
    /// the table it writes did, once per execution (v16). Triggers are compiled into the
    /// statement's program, so `EXPLAIN` shows theirs too.
    #[test]
    fn per_record_mpi_writes_open_no_temporary_b_tree() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(&dir.path().join("kadi.db")).unwrap();
        for sql in [
            "INSERT INTO card_records(enrollment_uid, tracked_entity_uid, program_uid, fields_json, content_hash, mapped_at, mpi_state)
             VALUES ('a', 'b', 'c', '{}', 'h', 't', 'pending')
             ON CONFLICT(enrollment_uid) DO UPDATE SET fields_json = excluded.fields_json, mpi_state = 'pending'
             WHERE content_hash IS NOT excluded.content_hash",
            "UPDATE card_records SET mpi_state = 'resolved' WHERE enrollment_uid = 'a'",
            "INSERT INTO mpi_links(enrollment_uid, mpi_id, score, method, linked_at) VALUES ('a', 'm', 1.0, 'auto', 't')
             ON CONFLICT(enrollment_uid) DO UPDATE SET mpi_id = excluded.mpi_id, method = excluded.method",
            "INSERT INTO mpi_block_keys_staged(enrollment_uid, block_key) VALUES ('a', '[]')",
            "INSERT OR IGNORE INTO mpi_block_keys(enrollment_uid, block_key) VALUES ('a', 'k')",
            "DELETE FROM mpi_block_keys WHERE block_key = 'k' AND enrollment_uid = 'a'",
            "INSERT INTO mpi_record_keys(enrollment_uid, keys_json) VALUES ('a', '[]')
             ON CONFLICT(enrollment_uid) DO UPDATE SET keys_json = excluded.keys_json",
        ] {
            let mut stmt = s.conn().prepare(&format!("EXPLAIN {sql}")).unwrap();
            let ops: Vec<String> = stmt
                .query_map([], |r| r.get::<_, String>(1))
                .unwrap()
                .map(|r| r.unwrap())
                .collect();
            assert!(!ops.is_empty(), "{sql}");
            assert!(!ops.iter().any(|o| o == "OpenEphemeral"), "{sql}: {ops:?}");
        }
    }

    /// A v15 store (CHECKs as `IN` lists, an index of blocking keys by enrollment) upgrades in
    /// place: records, links and keys kept, each record's keys listed in `mpi_record_keys`, the
    /// CHECKs and foreign keys still enforced, and deleting a record still takes its keys.
    #[test]
    fn a_v15_store_keeps_its_records_links_and_keys() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kadi.db");
        let c = Connection::open(&path).unwrap();
        for sql in &MIGRATIONS[..15] {
            c.execute_batch(sql).unwrap();
        }
        c.pragma_update(None, "user_version", 15).unwrap();
        c.execute_batch(
            "PRAGMA foreign_keys = ON;
             INSERT INTO card_records(enrollment_uid, tracked_entity_uid, program_uid, fields_json, content_hash, mapped_at, mpi_state)
               VALUES ('e1', 't1', 'P', '{\"first_name\":\"Awa\"}', 'h1', 'x', 'resolved'),
                      ('e2', 't2', 'P', '{\"first_name\":\"Awa\"}', 'h2', 'x', 'review');
             INSERT INTO mpi_identities(mpi_id, created_at, updated_at) VALUES ('M1', 'x', 'x');
             INSERT INTO mpi_links VALUES ('e1', 'M1', 1.0, 'new', 'x'), ('e2', 'M1', 0.97, 'auto', 'x');
             INSERT INTO mpi_block_keys(block_key, enrollment_uid) VALUES ('fn:awa', 'e1'), ('ph:1', 'e1'), ('fn:awa', 'e2');
             INSERT INTO review_items(enrollment_uid, candidate_enrollment_uid, candidate_mpi_id, score, explain_json, created_at)
               VALUES ('e2', 'e1', 'M1', 0.9, '{}', 'x');",
        )
        .unwrap();
        drop(c);
        let s = Store::open(&path).unwrap();
        assert_eq!(s.schema_version().unwrap(), SCHEMA_VERSION);
        let q = |sql: &str| -> Vec<String> {
            let mut stmt = s.conn().prepare(sql).unwrap();
            let rows = stmt
                .query_map([], |r| r.get::<_, String>(0))
                .unwrap()
                .map(|r| r.unwrap())
                .collect();
            rows
        };
        assert_eq!(
            q("SELECT enrollment_uid || ':' || mpi_state FROM card_records ORDER BY 1"),
            ["e1:resolved", "e2:review"]
        );
        assert_eq!(
            q("SELECT enrollment_uid || ':' || mpi_id || ':' || method FROM mpi_links ORDER BY 1"),
            ["e1:M1:new", "e2:M1:auto"]
        );
        assert_eq!(
            q("SELECT enrollment_uid || ' ' || keys_json FROM mpi_record_keys ORDER BY 1"),
            ["e1 [\"fn:awa\",\"ph:1\"]", "e2 [\"fn:awa\"]"]
        );
        assert_eq!(q("SELECT count(*) || '' FROM review_items"), ["1"]);
        // The rules still hold.
        let bad_state = s.conn().execute(
            "UPDATE card_records SET mpi_state = 'linked' WHERE enrollment_uid = 'e1'",
            [],
        );
        assert!(bad_state.is_err());
        let bad_method = s.conn().execute(
            "UPDATE mpi_links SET method = 'guess' WHERE enrollment_uid = 'e1'",
            [],
        );
        assert!(bad_method.is_err());
        let orphan = s.conn().execute(
            "INSERT INTO mpi_links VALUES ('nobody', 'M1', NULL, 'new', 'x')",
            [],
        );
        assert!(orphan.is_err(), "a link to no card record was accepted");
        // Deleting a record takes its link, keys and key list (e2's review item is e2's).
        s.conn()
            .execute("DELETE FROM card_records WHERE enrollment_uid = 'e1'", [])
            .unwrap();
        assert_eq!(
            q("SELECT block_key || ' ' || enrollment_uid FROM mpi_block_keys"),
            ["fn:awa e2"]
        );
        assert_eq!(q("SELECT enrollment_uid FROM mpi_record_keys"), ["e2"]);
        assert_eq!(q("SELECT enrollment_uid FROM mpi_links"), ["e2"]);
        assert_eq!(q("SELECT enrollment_uid FROM review_items"), ["e2"]);
        assert!(s
            .conn()
            .pragma_query_value(None, "foreign_keys", |r| r.get::<_, bool>(0))
            .unwrap());
    }

    /// A store written by kadi before v4 (attribute values as rows) upgrades in place: the
    /// values move into `tracked_entities.attributes_json` and still read through the
    /// `attribute_values` view, in attribute order.
    #[test]
    fn a_v3_store_upgrades_with_its_attribute_values_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kadi.db");
        let c = Connection::open(&path).unwrap();
        for sql in &MIGRATIONS[..3] {
            c.execute_batch(sql).unwrap();
        }
        c.pragma_update(None, "user_version", 3).unwrap();
        c.execute_batch(
            "INSERT INTO tracked_entities(uid, synced_at) VALUES ('Tone0000001', 'x'), ('Ttwo0000002', 'x');
             INSERT INTO attribute_values(tracked_entity_uid, attribute_uid, value, server_updated_at) VALUES
               ('Tone0000001', 'Bbbbbbbbbbb', 'Diop', '2026-03-01T00:00:00.000'),
               ('Tone0000001', 'Aaaaaaaaaaa', 'Awa \"Aïssatou\"', NULL),
               ('Ttwo0000002', 'Aaaaaaaaaaa', 'Moussa', NULL);
             INSERT INTO tracked_entities(uid, synced_at) VALUES ('Tnone000003', 'x');",
        )
        .unwrap();
        drop(c);
        let s = Store::open(&path).unwrap();
        assert_eq!(s.schema_version().unwrap(), SCHEMA_VERSION);
        let rows: Vec<(String, String, String, Option<String>)> = s
            .conn()
            .prepare("SELECT * FROM attribute_values")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .unwrap()
            .map(|r| r.unwrap())
            .collect();
        let row = |t: &str, a: &str, v: &str, u: Option<&str>| {
            (
                t.to_string(),
                a.to_string(),
                v.to_string(),
                u.map(str::to_string),
            )
        };
        assert_eq!(
            rows,
            vec![
                row("Tone0000001", "Aaaaaaaaaaa", "Awa \"Aïssatou\"", None),
                row(
                    "Tone0000001",
                    "Bbbbbbbbbbb",
                    "Diop",
                    Some("2026-03-01T00:00:00.000")
                ),
                row("Ttwo0000002", "Aaaaaaaaaaa", "Moussa", None),
            ]
        );
        let empty: String = s
            .conn()
            .query_row(
                "SELECT attributes_json FROM tracked_entities WHERE uid = 'Tnone000003'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(empty, "[]");
    }

    /// v10 rebuilds `sync_runs` to allow `partial`: the runs stored before keep every column.
    #[test]
    fn a_v9_store_keeps_its_sync_runs_and_accepts_partial_runs() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kadi.db");
        let c = Connection::open(&path).unwrap();
        for sql in &MIGRATIONS[..9] {
            c.execute_batch(sql).unwrap();
        }
        c.pragma_update(None, "user_version", 9).unwrap();
        assert!(c
            .execute(
                "INSERT INTO sync_runs(program_uid, started_at, status) VALUES ('P', 'x', 'partial')",
                [],
            )
            .is_err());
        c.execute_batch(
            "INSERT INTO sync_runs(id, program_uid, started_at, finished_at, status, pid, report_json, boot_id, pid_start_time, started_since_boot_ms)
             VALUES (7, 'P3jJH5Tu5VC', '2026-01-01T00:00:00Z', '2026-01-01T00:01:00Z', 'ok', 42, '{\"pulled\":3}', 'b', 99, 1000);",
        )
        .unwrap();
        drop(c);
        let s = Store::open(&path).unwrap();
        let runs = s.sync_runs(5).unwrap();
        assert_eq!(runs.len(), 1);
        assert_eq!((runs[0].id, runs[0].status.as_str()), (7, "ok"));
        assert_eq!(runs[0].report.as_ref().unwrap()["pulled"], 3);
        let holder: (i64, String, i64, i64) = s
            .conn()
            .query_row(
                "SELECT pid, boot_id, pid_start_time, started_since_boot_ms FROM sync_runs WHERE id = 7",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .unwrap();
        assert_eq!(holder, (42, "b".into(), 99, 1000));
        s.finish_sync_run(7, "partial", "{}").unwrap();
        assert_eq!(s.sync_runs(1).unwrap()[0].status, "partial");
        s.quarantine_put("P", "Aaaaaaaaaa1", "invalid UTF-8")
            .unwrap();
        s.quarantine_put("P", "Aaaaaaaaaa1", "still invalid")
            .unwrap();
        assert_eq!(
            s.quarantined("P").unwrap(),
            vec![("Aaaaaaaaaa1".to_string(), "still invalid".to_string())]
        );
        assert!(s.quarantine_release("P", "Aaaaaaaaaa1").unwrap());
        assert!(s.quarantined("P").unwrap().is_empty());
    }

    /// A `sqlite_master` row: type, name, table, SQL.
    type SchemaRow = (String, String, String, Option<String>);

    /// `sqlite_master` as rows, and the user version.
    fn schema_of(conn: &Connection) -> (Vec<SchemaRow>, i64) {
        let rows = conn
            .prepare("SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .unwrap()
            .map(|r| r.unwrap())
            .collect();
        let version = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        (rows, version)
    }

    /// A new database is made from `schema_fresh.sql` at once; it must be exactly what the
    /// migrations build from nothing (every table, index, trigger and view, word for word, and
    /// no rows in any table), or an upgraded box and a new one would differ. After a new
    /// migration, `KADI_BLESS_SCHEMA=1` writes the file anew from the migrations.
    #[test]
    fn a_new_database_gets_the_schema_its_migrations_build() {
        let dir = tempfile::tempdir().unwrap();
        let fresh = Store::open(&dir.path().join("fresh.db")).unwrap();
        // The migrations, from nothing: a store whose file already holds an object (dropped in
        // the same transaction as the migrations run) takes that path.
        let migrated_path = dir.path().join("migrated.db");
        let migrated = {
            let c = Connection::open(&migrated_path).unwrap();
            c.execute_batch("CREATE TABLE placeholder(x)").unwrap();
            drop(c);
            let s = Store::open(&migrated_path).unwrap();
            s.conn().execute_batch("DROP TABLE placeholder").unwrap();
            s
        };
        let expected = schema_of(migrated.conn());
        assert_eq!(expected.1, SCHEMA_VERSION);
        assert!(expected.0.len() > 50, "{expected:?}");
        if std::env::var_os("KADI_BLESS_SCHEMA").is_some() {
            let header: String = SCHEMA_FRESH
                .lines()
                .take_while(|l| l.starts_with("--"))
                .map(|l| format!("{l}\n"))
                .collect();
            let body: String = migrated
                .conn()
                .prepare("SELECT sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY rowid")
                .unwrap()
                .query_map([], |r| r.get::<_, String>(0))
                .unwrap()
                .map(|r| format!("{};\n", r.unwrap()))
                .collect();
            let path = concat!(env!("CARGO_MANIFEST_DIR"), "/src/store/schema_fresh.sql");
            std::fs::write(path, header + &body).unwrap();
        }
        assert_eq!(
            schema_of(fresh.conn()),
            expected,
            "schema_fresh.sql is not what the migrations build: regenerate it with \
             KADI_BLESS_SCHEMA=1 cargo test --lib a_new_database_gets_the_schema"
        );
        for (kind, name, _, _) in &expected.0 {
            if kind == "table" {
                assert_eq!(
                    fresh.count(name).unwrap(),
                    migrated.count(name).unwrap(),
                    "{name}"
                );
            }
        }
    }

    #[test]
    fn opening_twice_is_idempotent_and_sets_wal_and_version() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kadi.db");
        let s = Store::open(&path).unwrap();
        assert_eq!(s.schema_version().unwrap(), SCHEMA_VERSION);
        drop(s);
        let s = Store::open(&path).unwrap();
        assert_eq!(s.schema_version().unwrap(), SCHEMA_VERSION);
        let mode: String = s
            .conn()
            .pragma_query_value(None, "journal_mode", |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
        let fk: i64 = s
            .conn()
            .pragma_query_value(None, "foreign_keys", |r| r.get(0))
            .unwrap();
        assert_eq!(fk, 1);
        let sync: i64 = s
            .conn()
            .pragma_query_value(None, "synchronous", |r| r.get(0))
            .unwrap();
        assert_eq!(sync, 2, "synchronous=FULL");
        let limit: i64 = s
            .conn()
            .pragma_query_value(None, "journal_size_limit", |r| r.get(0))
            .unwrap();
        assert_eq!(limit, 64 * 1024 * 1024);
    }

    #[test]
    fn a_newer_schema_is_refused_with_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kadi.db");
        drop(Store::open(&path).unwrap());
        let c = Connection::open(&path).unwrap();
        c.pragma_update(None, "user_version", 99).unwrap();
        drop(c);
        let err = format!("{:#}", Store::open(&path).err().unwrap());
        assert!(err.contains("newer than this kadi"), "{err}");
    }

    #[test]
    fn settings_changes_are_audited() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(&dir.path().join("kadi.db")).unwrap();
        s.set_setting("test", "mpi.link_threshold", "0.95").unwrap();
        assert_eq!(
            s.setting("mpi.link_threshold").unwrap().as_deref(),
            Some("0.95")
        );
        assert_eq!(s.count("audit_log").unwrap(), 1);
    }
}
