//! `kadi backup` and `kadi restore` on a real box: a backup taken while `kadi serve` runs,
//! restored into a fresh directory, holds the same identities, merge decision, staff (who can
//! still log in), card QR key and an openable DHIS2 secret; damaged or newer backups are refused
//! and change nothing.
mod support;

use rusqlite::Connection;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use support::TestBox;

fn rows(db: &Path, sql: &str) -> Vec<String> {
    let c = Connection::open(db).unwrap();
    let mut stmt = c.prepare(sql).unwrap();
    let n = stmt.column_count();
    stmt.query_map([], |r| {
        Ok((0..n)
            .map(|i| format!("{:?}", r.get::<_, rusqlite::types::Value>(i).unwrap()))
            .collect::<Vec<_>>()
            .join("|"))
    })
    .unwrap()
    .map(|r| r.unwrap())
    .collect()
}

/// What must survive a restore, as comparable rows.
fn box_state(db: &Path) -> Vec<Vec<String>> {
    [
        "SELECT * FROM mpi_identities ORDER BY mpi_id",
        "SELECT * FROM mpi_links ORDER BY enrollment_uid",
        "SELECT * FROM mpi_merges ORDER BY 1",
        "SELECT username, role, pin_hash FROM staff ORDER BY username",
        "SELECT * FROM settings ORDER BY key",
        "SELECT base_url, auth_kind, username, secret_sealed FROM dhis2_connection",
        "SELECT kid, public_key, box_id, valid_from, valid_to, source, private_sealed FROM card_keys ORDER BY kid",
        "SELECT * FROM card_revocations ORDER BY serial",
        "SELECT id, actor, action, entity FROM audit_log WHERE action != 'backup.restore' ORDER BY id",
    ]
    .iter()
    .map(|sql| rows(db, sql))
    .collect()
}

fn backup(b: &TestBox, to: &Path, keep: &str) -> serde_json::Value {
    b.kadi_json(&[
        "backup",
        "--to",
        to.to_str().unwrap(),
        "--keep",
        keep,
        "--json",
    ])
}

fn restore(db: &Path, from: &str) -> std::process::Output {
    std::process::Command::new(support::KADI)
        .arg("--db")
        .arg(db)
        .args(["restore", "--from", from, "--json"])
        .output()
        .unwrap()
}

#[test]
fn a_backup_taken_while_serving_restores_into_a_fresh_box_with_everything_a_box_knows() {
    let b = TestBox::new();
    b.kadi_json(&["demo", "--once", "--json", "--records", "40"]);
    b.add_staff("awa", "482913");
    let ids = rows(
        &b.db,
        "SELECT mpi_id FROM mpi_identities WHERE merged_into IS NULL ORDER BY mpi_id LIMIT 2",
    );
    let unquote = |s: &str| {
        s.trim_start_matches("Text(\"")
            .trim_end_matches("\")")
            .to_string()
    };
    let (a, m) = (unquote(&ids[0]), unquote(&ids[1]));
    b.kadi_json(&["mpi", "--json", "merge", &a, &m, "--by", "awa"]);
    // The card signing key (s11-v) lives in card_keys, sealed under the key file a backup
    // carries; the old HMAC secret in clear is gone.
    b.kadi_json(&["keys", "list", "--json"]);
    let signing = rows(
        &b.db,
        "SELECT kid FROM card_keys WHERE source = 'local' AND private_sealed IS NOT NULL",
    );
    assert_eq!(signing.len(), 1, "one sealed card signing key");
    assert!(rows(&b.db, "SELECT value FROM settings WHERE key LIKE '%qr%'").is_empty());

    let served = b.serve();
    let backups = b.dir.path().join("backups");
    let mut made: Vec<PathBuf> = Vec::new();
    for _ in 0..3 {
        let r = backup(&b, &backups, "2");
        assert_eq!(r["includes_key"], true);
        made.push(PathBuf::from(r["file"].as_str().unwrap()));
    }
    // --keep 2: the oldest is gone, the two newest remain, names sort in the order made.
    assert!(!made[0].exists() && made[1].exists() && made[2].exists());
    assert!(made[1] < made[2]);
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&made[2]), 0o600);
    assert_eq!(mode(&backups), 0o700);
    // Restoring over the database a running serve holds is refused, and changes nothing.
    let before = box_state(&b.db);
    let out = restore(&b.db, made[2].to_str().unwrap());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("in use"),
        "{stderr}"
    );
    drop(served);

    let fresh = tempfile::tempdir().unwrap();
    let db2 = fresh.path().join("kadi.db");
    let out = restore(&db2, made[2].to_str().unwrap());
    support::assert_success(&out);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["key_restored"], true);
    assert_eq!(box_state(&db2), before);
    assert_eq!(mode(&db2), 0o600);

    // The sealed DHIS2 secret opens with the restored key file.
    let store = kadi::store::Store::open(&db2).unwrap();
    let conn = store.dhis2_connection().unwrap().unwrap();
    let key = kadi::secret::SecretKey::load(&db2).unwrap();
    assert_eq!(key.open(&conn.secret_sealed).unwrap(), "district");
    assert_eq!(
        std::fs::read(kadi::secret::SecretKey::path_for(&db2)).unwrap(),
        std::fs::read(kadi::secret::SecretKey::path_for(&b.db)).unwrap()
    );
    // Staff log in with their PIN on the restored box; the merge decision stands.
    let hash = store.staff_pin_hash("awa").unwrap().unwrap();
    assert!(kadi::web::auth::verify_pin("482913", &hash));
    assert!(!kadi::web::auth::verify_pin("000000", &hash));
    let merged = rows(
        &db2,
        &format!("SELECT merged_into FROM mpi_identities WHERE mpi_id = '{m}'"),
    );
    assert_eq!(merged, vec![format!("Text(\"{a}\")")]);
    // The restore is in the audit trail; no backup table is left in the database.
    assert_eq!(
        rows(
            &db2,
            "SELECT action FROM audit_log WHERE action = 'backup.restore'"
        )
        .len(),
        1
    );
    assert!(rows(
        &db2,
        "SELECT name FROM sqlite_schema WHERE name = 'kadi_backup_key'"
    )
    .is_empty());
}

#[test]
fn a_damaged_or_newer_backup_is_refused_and_the_box_is_left_as_it_was() {
    let b = TestBox::new();
    b.add_staff("awa", "482913");
    let backups = b.dir.path().join("backups");
    let good = PathBuf::from(backup(&b, &backups, "5")["file"].as_str().unwrap());
    let bytes = std::fs::read(&good).unwrap();

    let target = tempfile::tempdir().unwrap();
    let db = target.path().join("kadi.db");
    let t = TestBox {
        dir: tempfile::tempdir().unwrap(),
        db: db.clone(),
    };
    t.add_staff("moussa", "135790");
    let before = box_state(&db);

    let bad = b.dir.path().join("bad.db");
    let mut cases: Vec<(&str, Vec<u8>)> = vec![
        ("truncated", bytes[..bytes.len() / 2].to_vec()),
        ("not a database", b"hello, this is not SQLite".to_vec()),
        ("empty", Vec::new()),
    ];
    // A page in the middle overwritten (a failing SD card).
    let mut corrupt = bytes.clone();
    let page = 4096 * 3;
    for byte in corrupt.iter_mut().skip(page).take(4096) {
        *byte = 0xA5;
    }
    cases.push(("corrupt", corrupt));
    for (what, content) in cases {
        std::fs::write(&bad, content).unwrap();
        let out = restore(&db, bad.to_str().unwrap());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{what}: restored");
        assert!(
            stderr.contains("refusing backup") || stderr.contains("not a database"),
            "{what}: {stderr}"
        );
        assert_eq!(box_state(&db), before, "{what}: the box changed");
    }
    // A backup from a newer kadi (schema version beyond this binary's).
    std::fs::copy(&good, &bad).unwrap();
    Connection::open(&bad)
        .unwrap()
        .pragma_update(None, "user_version", 99)
        .unwrap();
    let out = restore(&db, bad.to_str().unwrap());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("newer"),
        "{stderr}"
    );
    assert_eq!(box_state(&db), before);
    // The good one restores over the stopped box.
    let out = restore(&db, good.to_str().unwrap());
    support::assert_success(&out);
    assert_eq!(
        rows(&db, "SELECT username FROM staff"),
        vec!["Text(\"awa\")"]
    );
}
