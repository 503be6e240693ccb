//! Backups of the box's database and their restore. Everything a box knows (MPI IDs, merge and
//! review decisions, staff, audit trail, the card QR signing secret in `settings`) lives in the
//! one SQLite file; the DHIS2 secret sealed in it opens only with the key file beside it. A
//! backup is therefore the database, copied through SQLite's online backup API (a consistent
//! snapshot even while `kadi serve` writes), plus the key file's 32 bytes in a table of the copy
//! (`kadi_backup_key`). A backup is as secret as the box: it opens the DHIS2 credentials.
//!
//! Restore checks the file first (integrity check, a kadi database, a schema this binary
//! understands) and refuses anything else before touching the box; it then replaces the database
//! by rename while holding an exclusive lock on the old one, which also detects a running
//! `kadi serve` (its connection holds a shared lock for as long as it runs).
use super::{Store, SCHEMA_VERSION};
use crate::actor::Actor;
use crate::secret::SecretKey;
use anyhow::{bail, Context, Result};
use rusqlite::{Connection, OpenFlags, OptionalExtension};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The table of a backup copy that carries the key file.
const KEY_TABLE: &str = "kadi_backup_key";

/// What `kadi backup` did.
#[derive(Debug, Clone, Serialize)]
pub struct BackupReport {
    /// The backup file written.
    pub file: String,
    /// Its size in bytes.
    pub bytes: u64,
    /// The schema version inside it.
    pub schema_version: i64,
    /// Whether the key file (which opens the sealed DHIS2 secret) is inside.
    pub includes_key: bool,
    /// Older backups removed by `--keep`.
    pub pruned: Vec<String>,
}

/// What `kadi restore` did.
#[derive(Debug, Clone, Serialize)]
pub struct RestoreReport {
    /// The database replaced.
    pub database: String,
    /// The backup it came from.
    pub from: String,
    /// Schema version of the backup (the restored database is upgraded to this binary's).
    pub backup_schema_version: i64,
    /// Whether the key file was restored too.
    pub key_restored: bool,
    /// MPI identities in the restored database.
    pub mpi_identities: i64,
    /// Staff accounts in the restored database.
    pub staff: i64,
}

/// Backs the database at `db` up into `dir` as `kadi-<UTC stamp>.db` (0600, written through a
/// temporary file and a rename), then keeps only the newest `keep` backups there.
pub fn backup(db: &Path, dir: &Path, keep: Option<usize>) -> Result<BackupReport> {
    if !db.is_file() {
        bail!("no database at {} to back up", db.display());
    }
    if keep == Some(0) {
        bail!("--keep 0 would remove the backup just made; keep at least 1");
    }
    // A plain connection, not `Store::open`: a backup must copy the database as it is, never
    // migrate it first (install.sh backs up with the new binary before an upgrade, so that the
    // backup still opens with the previous one).
    let source = Connection::open_with_flags(
        db,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .with_context(|| format!("opening database {}", db.display()))?;
    source.busy_timeout(Duration::from_secs(10))?;
    let key = SecretKey::read_file(db)?.filter(|k| SecretKey::from_bytes(k).is_some());
    crate::fsx::create_dir_private(dir)?;
    crate::fsx::remove_stale_temps(dir, Duration::from_secs(3600))?;
    let existing = backups_in(dir)?;
    let target = dir.join(format!(
        "kadi-{}.db",
        next_stamp(existing.last().map(|(name, _)| name.as_str()))
    ));
    let tmp = crate::fsx::temp_path_for(&target)?;
    let made = (|| -> Result<i64> {
        let mut copy = Connection::open(&tmp)
            .with_context(|| format!("creating backup file {}", tmp.display()))?;
        {
            let b = rusqlite::backup::Backup::new(&source, &mut copy)?;
            // One step of all pages: one read transaction, a consistent snapshot that writers in
            // WAL mode never restart or block.
            loop {
                match b.step(-1).context("copying the database")? {
                    rusqlite::backup::StepResult::Done => break,
                    _ => std::thread::sleep(Duration::from_millis(50)),
                }
            }
        }
        // One self-contained file, no WAL beside it.
        copy.pragma_update(None, "journal_mode", "DELETE")?;
        copy.execute_batch(&format!(
            "CREATE TABLE {KEY_TABLE}(id INTEGER PRIMARY KEY CHECK (id = 1), key BLOB NOT NULL, kadi_version TEXT NOT NULL)"
        ))?;
        if let Some(k) = &key {
            copy.execute(
                &format!("INSERT INTO {KEY_TABLE}(id, key, kadi_version) VALUES (1, ?1, ?2)"),
                rusqlite::params![k, crate::VERSION],
            )?;
        }
        let v: i64 = copy.pragma_query_value(None, "user_version", |r| r.get(0))?;
        copy.close().map_err(|(_, e)| e)?;
        crate::fsx::commit_temp(&tmp, &target)?;
        Ok(v)
    })();
    let schema_version = match made {
        Ok(v) => v,
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            return Err(e.context(format!("backing up into {}", dir.display())));
        }
    };
    let mut pruned = Vec::new();
    if let Some(keep) = keep {
        let all = backups_in(dir)?;
        for (_, path) in all.iter().take(all.len().saturating_sub(keep)) {
            std::fs::remove_file(path)
                .with_context(|| format!("removing old backup {}", path.display()))?;
            pruned.push(path.display().to_string());
        }
        if !pruned.is_empty() {
            crate::fsx::sync_dir(dir)?;
        }
    }
    Ok(BackupReport {
        file: target.display().to_string(),
        bytes: std::fs::metadata(&target).map(|m| m.len()).unwrap_or(0),
        schema_version,
        includes_key: key.is_some(),
        pruned,
    })
}

/// Replaces the database at `db` (and its key file) with the backup `from`, after checking it.
/// Refuses while another process (a running `kadi serve`) has the database open. Audited as
/// `actor`.
pub fn restore(db: &Path, from: &Path, actor: &Actor) -> Result<RestoreReport> {
    let checked = check_backup(from)?;
    if let Some(dir) = db.parent().filter(|d| !d.as_os_str().is_empty()) {
        if !dir.is_dir() {
            bail!(
                "the database's directory {} does not exist (create it first)",
                dir.display()
            );
        }
    }
    // Hold the old database exclusively: leaving WAL mode checkpoints and removes its WAL (a
    // stale WAL must never meet the new file) and fails while any other connection is open.
    let lock = if db.exists() {
        Some(lock_exclusively(db)?)
    } else {
        None
    };
    let tmp = crate::fsx::temp_path_for(db)?;
    let copied = (|| -> Result<()> {
        let src = Connection::open_with_flags(from, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
        let mut copy =
            Connection::open(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
        rusqlite::backup::Backup::new(&src, &mut copy)?.step(-1)?;
        copy.pragma_update(None, "journal_mode", "DELETE")?;
        copy.execute_batch(&format!("DROP TABLE IF EXISTS {KEY_TABLE}"))?;
        copy.close().map_err(|(_, e)| e)?;
        crate::fsx::commit_temp(&tmp, db)
    })();
    if let Err(e) = copied {
        let _ = std::fs::remove_file(&tmp);
        return Err(e.context(format!(
            "restoring {} from {}",
            db.display(),
            from.display()
        )));
    }
    drop(lock);
    let key_restored = match &checked.key {
        Some(k) => {
            crate::fsx::write_atomic(&SecretKey::path_for(db), k)
                .context("restoring the key file")?;
            true
        }
        None => false,
    };
    let store = Store::open(db)?;
    store.audit(
        actor.as_str(),
        "backup.restore",
        Some(&from.display().to_string()),
        None,
        Some(
            &serde_json::json!({ "schema_version": checked.schema_version, "key_restored": key_restored })
                .to_string(),
        ),
    )?;
    Ok(RestoreReport {
        database: db.display().to_string(),
        from: from.display().to_string(),
        backup_schema_version: checked.schema_version,
        key_restored,
        mpi_identities: store.count("mpi_identities")?,
        staff: store.count("staff")?,
    })
}

/// A backup that passed the checks.
struct CheckedBackup {
    schema_version: i64,
    key: Option<Vec<u8>>,
}

/// Refuses a file that is damaged, not a kadi database, or newer than this binary.
fn check_backup(from: &Path) -> Result<CheckedBackup> {
    let meta =
        std::fs::metadata(from).with_context(|| format!("reading backup {}", from.display()))?;
    if !meta.is_file() {
        bail!("backup {} is not a file", from.display());
    }
    let refuse = |why: String| anyhow::anyhow!("refusing backup {}: {why}", from.display());
    let conn = Connection::open_with_flags(
        from,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| refuse(format!("it does not open as a database ({e})")))?;
    let problems: Vec<String> = conn
        .prepare("PRAGMA integrity_check")
        .and_then(|mut s| {
            s.query_map([], |r| r.get::<_, String>(0))?
                .collect::<rusqlite::Result<Vec<_>>>()
        })
        .map_err(|e| refuse(format!("it is damaged ({e})")))?;
    if problems != ["ok"] {
        let first: Vec<&str> = problems.iter().take(3).map(String::as_str).collect();
        return Err(refuse(format!(
            "it is damaged (integrity check: {})",
            first.join("; ")
        )));
    }
    let version: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .map_err(|e| refuse(format!("it is damaged ({e})")))?;
    let tables: i64 = conn
        .query_row(
            "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name IN ('settings', 'audit_log', 'staff', 'mpi_identities')",
            [],
            |r| r.get(0),
        )
        .map_err(|e| refuse(format!("it is damaged ({e})")))?;
    if version < 1 || tables < 4 {
        return Err(refuse("it is not a kadi database".into()));
    }
    if version > SCHEMA_VERSION {
        return Err(refuse(format!(
            "its schema version {version} is newer than this kadi understands ({SCHEMA_VERSION}); restore it with a newer kadi"
        )));
    }
    let has_key_table: bool = conn
        .query_row(
            "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = ?1",
            [KEY_TABLE],
            |r| r.get::<_, i64>(0),
        )
        .map(|n| n > 0)?;
    let key: Option<Vec<u8>> = if has_key_table {
        conn.query_row(
            &format!("SELECT key FROM {KEY_TABLE} WHERE id = 1"),
            [],
            |r| r.get(0),
        )
        .optional()?
    } else {
        None
    };
    if let Some(k) = &key {
        if SecretKey::from_bytes(k).is_none() {
            return Err(refuse(format!(
                "the key inside is damaged ({} bytes)",
                k.len()
            )));
        }
    }
    Ok(CheckedBackup {
        schema_version: version,
        key,
    })
}

/// An exclusive hold on the database at `db`, or an error naming the likely holder.
fn lock_exclusively(db: &Path) -> Result<Connection> {
    let conn =
        Connection::open(db).with_context(|| format!("opening database {}", db.display()))?;
    conn.busy_timeout(Duration::from_millis(500))?;
    let held = (|| -> rusqlite::Result<()> {
        conn.pragma_update(None, "locking_mode", "EXCLUSIVE")?;
        let _: String =
            conn.pragma_update_and_check(None, "journal_mode", "DELETE", |r| r.get(0))?;
        conn.execute_batch("BEGIN EXCLUSIVE")?;
        Ok(())
    })();
    if let Err(e) = held {
        bail!(
            "database {} is in use by another process ({e}); stop `kadi serve` first (`sudo systemctl stop kadi`), then restore",
            db.display()
        );
    }
    Ok(conn)
}

/// The backups in `dir`, oldest first: `(file name, path)` of every `kadi-*.db`.
fn backups_in(dir: &Path) -> Result<Vec<(String, PathBuf)>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))? {
        let entry = entry.with_context(|| format!("listing {}", dir.display()))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with("kadi-") && name.ends_with(".db") && entry.path().is_file() {
            out.push((name, entry.path()));
        }
    }
    out.sort();
    Ok(out)
}

/// The stamp of a new backup: now (UTC), but always after the newest existing backup, so names
/// sort in the order backups were made even when the box clock (no RTC) went backwards, and
/// `--keep` never prunes the newest.
fn next_stamp(newest: Option<&str>) -> String {
    const FMT: &str = "%Y%m%dT%H%M%SZ";
    let now = chrono::Utc::now().naive_utc();
    let after_newest = newest
        .and_then(|n| {
            n.strip_prefix("kadi-")?
                .strip_suffix(".db")
                .map(str::to_string)
        })
        .and_then(|s| chrono::NaiveDateTime::parse_from_str(&s, FMT).ok())
        .map(|t| t + chrono::Duration::seconds(1));
    let stamp = match after_newest {
        Some(t) if t > now => t,
        _ => now,
    };
    stamp.format(FMT).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_always_sort_after_the_newest_backup() {
        let later = next_stamp(Some("kadi-29990101T000000Z.db"));
        assert_eq!(later, "29990101T000001Z");
        let now = next_stamp(Some("kadi-20000101T000000Z.db"));
        assert!(now.as_str() > "20000101T000000Z");
        assert_eq!(next_stamp(None).len(), "20261204T020000Z".len());
    }
}
