//! The analyst's path: the box's own database, opened read-only in the stock `/usr/bin/sqlite3`
//! shell with kadi's loadable extension, answers `mpi_score` over its card records with the very
//! values the box computes.
mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use support::*;

/// Builds the loadable extension (its own workspace, see DESIGN.md) and returns the .so path.
fn build_extension() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let manifest = root.join("sqlext/loadable/Cargo.toml");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args(["build", "--release", "--quiet", "--manifest-path"])
        .arg(&manifest)
        // Not the outer test build's settings: this is a separate build with its own features.
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("RUSTFLAGS")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "building the extension failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let so = root.join("sqlext/loadable/target/release/libkadi_sqlext.so");
    assert!(so.exists(), "{} was not built", so.display());
    so
}

#[test]
fn the_box_database_answers_mpi_score_in_the_sqlite3_shell() {
    let Some(shell) = require_tool("sqlite3") else {
        return;
    };
    let b = TestBox::new();
    let summary = b.kadi_json(&["demo", "--once", "--json", "--records", "40"]);
    assert_eq!(summary["records"], 40);
    let so = build_extension();
    // `.load` takes the path without its suffix; SQLite adds `.so` and derives the entry point.
    let load = so.with_extension("");
    let sql = format!(
        ".load {}\n.mode csv\n\
         SELECT a.enrollment_uid, b.enrollment_uid, printf('%.9f', mpi_score(a.fields_json, b.fields_json)), \
                mpi_band(mpi_score(a.fields_json, b.fields_json)) \
         FROM card_records a JOIN card_records b ON a.enrollment_uid <= b.enrollment_uid \
         ORDER BY 1, 2;\n",
        load.display()
    );
    let stdout = run_shell(
        &shell,
        &["-readonly".as_ref(), "-bail".as_ref(), b.db.as_os_str()],
        &sql,
    );

    // The box's own numbers for the same pairs, with the same Rust code the box links.
    let store = kadi::store::Store::open(&b.db).unwrap();
    let fields: std::collections::HashMap<String, String> = store
        .card_records(kadi::sim::PROGRAM_UID)
        .unwrap()
        .into_iter()
        .map(|c| {
            (
                c.record.enrollment_uid.clone(),
                serde_json::to_string(&c.record.fields).unwrap(),
            )
        })
        .collect();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 40 * 41 / 2, "one answer per pair");
    let mut self_pairs = 0;
    for line in lines {
        let cols: Vec<&str> = line.split(',').collect();
        let [a, b, score, band] = cols.as_slice() else {
            panic!("unexpected line {line}")
        };
        let score: f64 = score.parse().unwrap();
        assert!((0.0..=1.0).contains(&score), "{line}");
        assert!(["link", "review", "new"].contains(band), "{line}");
        // The stored JSON and the typed fields re-serialised are the same record.
        let expected = kadi_sqlext::mpi::score_json(&fields[*a], &fields[*b]).unwrap();
        assert!(
            (score - expected).abs() < 1e-6,
            "{a} {b}: shell {score}, box {expected}"
        );
        if a == b {
            self_pairs += 1;
            assert!(score > 0.99, "a record scores 1 against itself: {line}");
        }
    }
    assert_eq!(self_pairs, 40);
}

/// Runs SQL in the stock `sqlite3` shell on an in-memory database with the extension loaded;
/// returns its standard output.
fn shell_with_extension(shell: &str, sql: &str) -> String {
    let load = build_extension().with_extension("");
    let script = format!(".load {}\n{sql}\n", load.display());
    run_shell(shell, &["-bail".as_ref(), ":memory:".as_ref()], &script)
}

/// Runs a script in the stock `sqlite3` shell with these arguments; fails the test unless the
/// shell succeeds, and returns its standard output.
fn run_shell(shell: &str, args: &[&std::ffi::OsStr], script: &str) -> String {
    let out = Command::new(shell)
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child.stdin.take().unwrap().write_all(script.as_bytes())?;
            child.wait_with_output()
        })
        .unwrap();
    assert!(
        out.status.success(),
        "sqlite3 failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn a_father_and_son_of_one_household_are_no_link_in_the_sqlite3_shell() {
    let Some(shell) = require_tool("sqlite3") else {
        return;
    };
    let demba = r#"{"first_name":"Demba","last_name":"Traoré","date_of_birth":"1951-02-05","gender":"M","phone_number":"+221770000001","address":"137 Médina"}"#;
    let mamadou = r#"{"first_name":"Mamadou","last_name":"Traoré","date_of_birth":"1984-07-02","gender":"M","phone_number":"+221770000001","address":"137 Médina"}"#;
    let mamadu = mamadou.replace("\"Mamadou\"", "\"Mamadu\"");
    let sql = format!(
        ".mode list\n\
         SELECT mpi_band(mpi_score('{demba}', '{mamadou}')), \
                json_extract(mpi_explain('{demba}', '{mamadou}'), '$.veto'), \
                mpi_band(mpi_score('{mamadou}', '{mamadu}')), \
                json_type(mpi_explain('{mamadou}', '{mamadu}'), '$.veto');"
    );
    let out = shell_with_extension(&shell, &sql);
    assert_eq!(
        out.trim(),
        "new|birth dates 33 years apart; first names differ|link|null",
        "the household pair stays apart with its reason, the respelled re-registration links"
    );
}

#[test]
fn the_box_trained_parameters_drive_mpi_score_in_the_sqlite3_shell() {
    let Some(shell) = require_tool("sqlite3") else {
        return;
    };
    let b = TestBox::new();
    let summary = b.kadi_json(&["demo", "--once", "--json", "--records", "300"]);
    assert_eq!(summary["records"], 300);
    let trained = b.kadi_json(&["mpi", "train", "--apply", "--json"]);
    assert_eq!(trained["in_force"], true, "{trained}");
    let load = build_extension().with_extension("");
    // The parameters in force, read by SQL itself from the box's table; and NULL (no table in
    // force) scoring as the two-argument form.
    let sql = format!(
        ".load {}\n.mode csv\n\
         WITH r AS (SELECT enrollment_uid u, fields_json j FROM card_records ORDER BY 1 LIMIT 30) \
         SELECT a.u, b.u, \
                printf('%.9f', mpi_score(a.j, b.j, (SELECT params_json FROM mpi_params WHERE active = 1))), \
                mpi_score(a.j, b.j, NULL) = mpi_score(a.j, b.j) \
         FROM r a JOIN r b ON a.u < b.u ORDER BY 1, 2;\n",
        load.display()
    );
    let stdout = run_shell(
        &shell,
        &["-readonly".as_ref(), "-bail".as_ref(), b.db.as_os_str()],
        &sql,
    );
    let store = kadi::store::Store::open(&b.db).unwrap();
    let params = kadi::mpi::params_in_force(&store).unwrap();
    assert!(params.trained.is_some(), "the trained table is in force");
    let mut differ = 0;
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 30 * 29 / 2, "one answer per pair");
    for line in lines {
        let cols: Vec<&str> = line.split(',').collect();
        let [a, b, score, same_as_two_args] = cols.as_slice() else {
            panic!("unexpected line {line}")
        };
        assert_eq!(*same_as_two_args, "1", "{line}");
        let json = |uid: &str| store.mpi_record_fields(uid).unwrap().unwrap();
        let (ja, jb) = (json(a), json(b));
        let box_score = kadi_sqlext::mpi::score_json_with(&params, &ja, &jb).unwrap();
        let score: f64 = score.parse().unwrap();
        assert!((score - box_score).abs() < 1e-6, "{line}: box {box_score}");
        if (box_score - kadi_sqlext::mpi::score_json(&ja, &jb).unwrap()).abs() > 1e-9 {
            differ += 1;
        }
    }
    assert!(
        differ > 0,
        "the learned table scores differently from the a-priori one"
    );
}

#[test]
fn mpi_explain_in_the_sqlite3_shell_gives_the_review_screens_reasons_in_plain_words() {
    let Some(shell) = require_tool("sqlite3") else {
        return;
    };
    let demba = r#"{"first_name":"Demba","last_name":"Traoré","date_of_birth":"1951-02-05","gender":"M","phone_number":"+221770000001","address":"137 Médina"}"#;
    let son = r#"{"first_name":"Mamadou","last_name":"Traoré","date_of_birth":"1984-07-02","gender":"M","phone_number":"+221770000001","address":"137 Médina","national_id":"1234567890123"}"#;
    let sql = format!(
        ".mode list\n\
         SELECT json_extract(mpi_explain('{demba}', '{son}'), '$.reasons');"
    );
    let out = shell_with_extension(&shell, &sql);
    let shell_reasons: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    // The same reasons as the box's own scorer (the review list shows these).
    let box_explain: serde_json::Value =
        serde_json::from_str(&kadi_sqlext::mpi::explain_json(demba, son).unwrap()).unwrap();
    assert_eq!(shell_reasons, box_explain["reasons"]);
    let list = |k: &str| shell_reasons[k].as_array().unwrap().clone();
    assert!(
        list("agree").contains(&"family name (same)".into()),
        "{out}"
    );
    assert!(list("disagree").contains(&"first name".into()), "{out}");
    assert!(list("disagree").contains(&"birth date".into()), "{out}");
    assert_eq!(
        list("missing"),
        ["national ID", "clinic", "district"].map(serde_json::Value::from)
    );
    let summary = shell_reasons["summary"].as_str().unwrap();
    assert!(
        summary.contains("Not linked automatically: birth dates 33 years apart"),
        "{summary}"
    );
}

/// s11-v: an analyst verifies the box's card payloads with `kadi_verify` in the stock shell,
/// read-only, from the keys and revocations in the box's own tables: the same answers the box
/// gives; NULL and garbage answer `unreadable`, never an error.
#[test]
fn kadi_verify_answers_from_the_box_tables_in_the_sqlite3_shell() {
    let Some(shell) = require_tool("sqlite3") else {
        return;
    };
    let b = TestBox::new();
    let store = kadi::store::Store::open(&b.db).unwrap();
    let holder = |id: &str| kadi::verify::sign::Holder {
        subject: id.into(),
        name: "Awa Ndiaye".into(),
        ..Default::default()
    };
    let valid = kadi::verify::sign::payload(&store, &holder("SN-DKR-26-AAAAAAAA-A")).unwrap();
    let revoked = kadi::verify::sign::payload(&store, &holder("SN-DKR-26-BBBBBBBB-B")).unwrap();
    kadi::verify::revoke::reissue(&store, "SN-DKR-26-BBBBBBBB-B", &kadi::actor::Actor::Cli)
        .unwrap();
    drop(store);
    let load = build_extension().with_extension("");
    let sql = format!(
        ".load {}\n.mode list\n\
         SELECT json_extract(kadi_verify('{valid}'), '$.status'), \
                json_extract(kadi_verify('{valid}'), '$.claims.mpi_id'), \
                json_extract(kadi_verify('{revoked}'), '$.status'), \
                json_extract(kadi_verify(NULL), '$.status'), \
                json_extract(kadi_verify(x'00ff'), '$.status'), \
                json_extract(kadi_verify('K1:SN-DKR-26-7KQ4MX9P-Z:ABCDEFGH'), '$.reason') LIKE 'old format%';\n",
        load.display()
    );
    let out = run_shell(
        &shell,
        &["-readonly".as_ref(), "-bail".as_ref(), b.db.as_os_str()],
        &sql,
    );
    assert_eq!(
        out.trim(),
        "valid|SN-DKR-26-AAAAAAAA-A|revoked|unreadable|unreadable|1"
    );

    // The box's whole key revoked (leaked): the shell refuses every card it signed, naming why.
    let store = kadi::store::Store::open(&b.db).unwrap();
    let kid = kadi::verify::verify(&store, &valid)
        .unwrap()
        .claims
        .unwrap()
        .kid;
    kadi::verify::revoke::revoke_key(&store, &kid, "compromised", &kadi::actor::Actor::Cli)
        .unwrap();
    drop(store);
    let sql = format!(
        ".load {}\n.mode list\n\
         SELECT json_extract(kadi_verify('{valid}'), '$.status'), \
                json_extract(kadi_verify('{valid}'), '$.reason') LIKE '%key {kid}%compromised%';\n",
        load.display()
    );
    let out = run_shell(
        &shell,
        &["-readonly".as_ref(), "-bail".as_ref(), b.db.as_os_str()],
        &sql,
    );
    assert_eq!(out.trim(), "revoked|1");
}
