//! The jobs every caller goes through (`kadi sync`, `kadi schedule tick`, the scheduler's pass)
//! keep the identity step that sync itself no longer calls, and `kadi staff add` keeps reserved
//! actor names out of the staff table. The real binary on a real SQLite file against the
//! simulator on 127.0.0.1.
mod support;

use serde_json::Value;
use support::*;

/// The report stored for the newest run of `PROGRAM` (what the sync page and `kadi sync --json`
/// read back).
fn stored_report(db: &std::path::Path) -> Value {
    let c = rusqlite::Connection::open(db).unwrap();
    let json: String = c
        .query_row(
            "SELECT report_json FROM sync_runs WHERE program_uid = ?1 ORDER BY id DESC LIMIT 1",
            [PROGRAM],
            |r| r.get(0),
        )
        .unwrap();
    serde_json::from_str(&json).unwrap()
}

#[test]
fn kadi_sync_resolves_identities_and_stores_the_report_it_prints_but_not_with_no_mpi() {
    let sim = sim("2.41", 25);
    let dir = tempfile::tempdir().unwrap();
    drop(mapped_sim_store(dir.path(), &sim));
    let db = dir.path().join("kadi.db");

    let (ok, out, err) = kadi(&db, &["sync", "--program", PROGRAM, "--json"], None);
    assert!(ok, "{err}");
    let printed: Value = serde_json::from_str(&out).unwrap();
    let identified = printed["mpi_resolved"].as_u64().unwrap()
        + printed["mpi_created"].as_u64().unwrap()
        + printed["mpi_pending_review"].as_u64().unwrap();
    assert!(
        printed["mpi_created"].as_u64().unwrap() > 0,
        "kadi sync resolves: {printed:#}"
    );
    assert!(identified >= 25, "{printed:#}");
    assert_eq!(
        stored_report(&db),
        printed,
        "the stored report is the printed one"
    );

    // --no-mpi: the identity step is skipped (a fresh box, so there is something to resolve).
    let dir2 = tempfile::tempdir().unwrap();
    drop(mapped_sim_store(dir2.path(), &sim));
    let db2 = dir2.path().join("kadi.db");
    let (ok, out, err) = kadi(
        &db2,
        &["sync", "--program", PROGRAM, "--no-mpi", "--json"],
        None,
    );
    assert!(ok, "{err}");
    let r: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(r["pulled"], 25, "{r:#}");
    assert_eq!(
        (r["mpi_resolved"].as_u64(), r["mpi_created"].as_u64()),
        (Some(0), Some(0)),
        "{r:#}"
    );
}

#[test]
fn the_scheduler_pass_resolves_identities_and_is_audited_as_the_scheduler() {
    let sim = sim("2.41", 20);
    let dir = tempfile::tempdir().unwrap();
    drop(mapped_sim_store(dir.path(), &sim));
    let db = dir.path().join("kadi.db");
    let set = [
        "schedule",
        "set",
        "--program",
        PROGRAM,
        "--interval",
        "10",
        "--enabled",
        "true",
        "--auto-generate-cards",
        "false",
        "--json",
    ];
    let (ok, _, err) = kadi(&db, &set, None);
    assert!(ok, "{err}");
    // `kadi schedule tick` is the same pass as `kadi serve`'s scheduler.
    let (ok, out, err) = kadi(&db, &["schedule", "tick", "--json"], None);
    assert!(ok, "{err}");
    let runs: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(runs.as_array().unwrap().len(), 1, "{runs:#}");
    assert!(
        runs[0]["mpi_created"].as_u64().unwrap() > 0,
        "the scheduled run resolves: {runs:#}"
    );
    let c = rusqlite::Connection::open(&db).unwrap();
    let (schedule_actor, run_actor): (String, String) = c
        .query_row(
            "SELECT (SELECT actor FROM audit_log WHERE action LIKE 'sync.schedule%' ORDER BY id LIMIT 1),
                    (SELECT actor FROM audit_log WHERE action = 'sync.run' ORDER BY id DESC LIMIT 1)",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(
        (schedule_actor.as_str(), run_actor.as_str()),
        ("cli", "scheduler")
    );
}

#[test]
fn staff_add_refuses_a_username_reserved_for_an_actor_and_saves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("kadi.db");
    for name in kadi::actor::Actor::RESERVED {
        let out = run(
            &db,
            &["staff", "add", "--username", name, "--pin-stdin"],
            Some("123456\n"),
        );
        assert_eq!(out.status.code(), Some(1), "{name}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("reserved") && err.contains(name), "{err}");
    }
    let (ok, out, err) = kadi(&db, &["staff", "list", "--json"], None);
    assert!(ok, "{err}");
    assert_eq!(out.trim(), "[]", "no account was saved");
    // An ordinary name still works.
    let (ok, _, err) = kadi(
        &db,
        &["staff", "add", "--username", "awa", "--pin-stdin"],
        Some("123456\n"),
    );
    assert!(ok, "{err}");
}

#[test]
fn argument_combinations_are_usage_errors_that_exit_2_and_touch_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("kadi.db");
    for (args, names) in [
        (&["map", "set", "--program", PROGRAM][..], &["--file"][..]),
        (
            &[
                "map",
                "set",
                "--program",
                PROGRAM,
                "--demo",
                "--file",
                "m.json",
            ][..],
            &["--demo", "--file"][..],
        ),
        (
            &["mpi", "eval", "--truth", "t.csv"][..],
            &["--records", "--febrl"][..],
        ),
        (&["cards", "generate"][..], &["--program"][..]),
    ] {
        let out = run(&db, args, None);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        for n in names {
            assert!(err.contains(n), "{args:?}: {err}");
        }
    }
    assert!(!db.exists(), "a usage error opens no database");
}
