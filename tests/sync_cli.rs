//! `kadi map`, `kadi sync` and `kadi schedule` through the built binary against the simulator.
mod support;

use serde_json::Value;
use support::*;

fn json(out: &str) -> Value {
    serde_json::from_str(out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"))
}

#[test]
fn map_set_then_sync_twice_reports_counts_and_adds_no_duplicates() {
    let sim = sim("2.41", 40);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("kadi.db");
    cli_connect(&db, &sim);

    let (ok, _, err) = kadi(&db, &["sync", "--program", PROGRAM, "--json"], None);
    assert!(!ok);
    assert!(
        err.contains("kadi map set --program P3jJH5Tu5VC --file"),
        "{err}"
    );

    let file = dir.path().join("mapping.json");
    std::fs::write(
        &file,
        serde_json::to_string(&kadi::demo::demo_mapping()).unwrap(),
    )
    .unwrap();
    let (ok, out, err) = kadi(
        &db,
        &[
            "map",
            "set",
            "--program",
            PROGRAM,
            "--file",
            file.to_str().unwrap(),
            "--json",
        ],
        None,
    );
    assert!(ok, "{err}");
    let set = json(&out);
    assert_eq!(set["programme_uid"], PROGRAM);
    assert_eq!(set["mappings_configured"], 7);
    assert_eq!(set["unmapped_card_fields"], serde_json::json!([]));

    let (ok, out, err) = kadi(&db, &["sync", "--program", PROGRAM, "--json"], None);
    assert!(ok, "{err}");
    let first = json(&out);
    for key in [
        "pulled",
        "created",
        "updated",
        "deleted",
        "mpi_resolved",
        "mpi_created",
        "mpi_pending_review",
        "sensitive_blocked",
        "pages",
        "bytes",
        "seconds",
        "errors",
    ] {
        assert!(first.get(key).is_some(), "report lacks {key}: {out}");
    }
    assert_eq!(first["pulled"], 40);
    assert_eq!(first["created"], 40);

    let (ok, out, _) = kadi(&db, &["sync", "--json"], None);
    assert!(ok, "the only mapped program is the default");
    let second = json(&out);
    assert_eq!(
        (second["created"].as_u64(), second["updated"].as_u64()),
        (Some(0), Some(0))
    );
    let store = kadi::store::Store::open(&db).unwrap();
    assert_eq!(store.count("tracked_entities").unwrap(), 40);
    assert_eq!(store.count("card_records").unwrap(), 40);

    let (ok, out, _) = kadi(&db, &["map", "show", "--program", PROGRAM, "--json"], None);
    assert!(ok);
    assert_eq!(json(&out)["unmapped_card_fields"], serde_json::json!([]));

    let (ok, out, _) = kadi(
        &db,
        &[
            "sync",
            "preview",
            "--program",
            PROGRAM,
            "--limit",
            "3",
            "--json",
        ],
        None,
    );
    assert!(ok);
    let preview = json(&out);
    assert_eq!(preview["total_enrollments"], 40);
    assert_eq!(preview["preview"].as_array().unwrap().len(), 3);

    // The spec's name for it, `kadi dhis2 preview`, gives the same answer with a default limit of 10.
    let (ok, out, _) = kadi(
        &db,
        &["dhis2", "preview", "--program", PROGRAM, "--json"],
        None,
    );
    assert!(ok);
    let preview = json(&out);
    assert_eq!(preview["programme_uid"], PROGRAM);
    assert_eq!(preview["total_enrollments"], 40);
    let items = preview["preview"].as_array().unwrap();
    assert_eq!(items.len(), 10);
    for key in [
        "enrollment_id",
        "enrollment_date",
        "org_unit_name",
        "attributes",
    ] {
        assert!(
            items[0].get(key).is_some(),
            "preview item lacks {key}: {}",
            items[0]
        );
    }
}

#[test]
fn map_set_with_an_unknown_code_or_card_field_fails_with_a_clear_message() {
    let sim = sim("2.41", 5);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("kadi.db");
    cli_connect(&db, &sim);
    let file = dir.path().join("bad.json");
    std::fs::write(
        &file,
        r#"{"programme_uid":"P3jJH5Tu5VC","mappings":[{"dhis2_attribute_code":"PRENOM","card_field":"first_name"}]}"#,
    )
    .unwrap();
    let (ok, _, err) = kadi(
        &db,
        &[
            "map",
            "set",
            "--program",
            PROGRAM,
            "--file",
            file.to_str().unwrap(),
            "--json",
        ],
        None,
    );
    assert!(!ok);
    assert!(
        err.contains("unknown DHIS2 attribute code 'PRENOM'") && err.contains("FIRST_NAME"),
        "{err}"
    );
    std::fs::write(
        &file,
        r#"{"programme_uid":"P3jJH5Tu5VC","mappings":[{"dhis2_attribute_code":"FIRST_NAME","card_field":"surname"}]}"#,
    )
    .unwrap();
    let (ok, _, err) = kadi(
        &db,
        &[
            "map",
            "set",
            "--program",
            PROGRAM,
            "--file",
            file.to_str().unwrap(),
        ],
        None,
    );
    assert!(!ok);
    assert!(err.contains("unknown card field 'surname'"), "{err}");
    std::fs::write(
        &file,
        r#"{"programme_uid":"P3jJH5Tu5VC","mappings":[{"dhis2_attribute_code":"HIV_STATUS","card_field":"beneficiary_id"}]}"#,
    )
    .unwrap();
    let (ok, _, err) = kadi(
        &db,
        &[
            "map",
            "set",
            "--program",
            PROGRAM,
            "--file",
            file.to_str().unwrap(),
        ],
        None,
    );
    assert!(!ok);
    assert!(err.contains("sensitive"), "{err}");
}

#[test]
fn schedule_set_answers_next_sync_and_refuses_other_intervals() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("kadi.db");
    // A schedule is for a program the box knows (its metadata is in the store).
    drop(store_with_metadata(dir.path()));
    let (ok, out, err) = kadi(
        &db,
        &[
            "schedule",
            "set",
            "--program",
            PROGRAM,
            "--interval",
            "15",
            "--enabled",
            "true",
            "--auto-generate-cards",
            "false",
            "--json",
        ],
        None,
    );
    assert!(ok, "{err}");
    let r = json(&out);
    assert_eq!(r["interval_minutes"], 15);
    assert!(r["next_sync"].as_str().unwrap().ends_with('Z'));
    let (ok, _, err) = kadi(
        &db,
        &[
            "schedule",
            "set",
            "--program",
            PROGRAM,
            "--interval",
            "20",
            "--json",
        ],
        None,
    );
    assert!(!ok);
    assert!(err.contains("10, 15, 30, 60, 180"), "{err}");
}

/// The simulator's truth export runs through `kadi mpi eval`: its records come through the real
/// client, mapping and guardrail into a store (`kadi sync`), and are resolved again from there.
#[test]
fn mpi_eval_measures_a_synced_simulator_export_against_its_truth() {
    let sim = sim("2.41", 600);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("kadi.db");
    let truth = dir.path().join("truth.csv");
    let pairs = sim.write_truth(&truth).unwrap();
    assert!(pairs > 10, "the simulator makes near-duplicates: {pairs}");
    cli_connect(&db, &sim);
    let (ok, _, err) = kadi(&db, &["map", "set", "--program", PROGRAM, "--demo"], None);
    assert!(ok, "{err}");
    let (ok, _, err) = kadi(&db, &["sync", "--program", PROGRAM, "--json"], None);
    assert!(ok, "{err}");
    let before = std::fs::read(&db).unwrap();

    let other = dir.path().join("unused.db");
    let (ok, out, err) = kadi(
        &other,
        &[
            "mpi",
            "eval",
            "--json",
            "--synced",
            db.to_str().unwrap(),
            "--truth",
            truth.to_str().unwrap(),
        ],
        None,
    );
    assert!(ok, "{err}");
    let r = json(&out);
    assert_eq!(r["true_pairs"], pairs);
    assert!(r["records"].as_u64().unwrap() >= 600, "{r}");
    assert!(r["auto"]["precision"].as_f64().unwrap() >= 0.999, "{r}");
    assert!(
        r["auto_plus_review"]["recall"].as_f64().unwrap() >= 0.9,
        "{r}"
    );
    // The box's own database is read, never written.
    assert_eq!(std::fs::read(&db).unwrap(), before);

    // A truth pair naming a record the store lacks is a clear error.
    std::fs::write(&truth, "id_a,id_b\nNOPE0000001,NOPE0000002\n").unwrap();
    let (ok, _, err) = kadi(
        &other,
        &[
            "mpi",
            "eval",
            "--synced",
            db.to_str().unwrap(),
            "--truth",
            truth.to_str().unwrap(),
        ],
        None,
    );
    assert!(!ok);
    assert!(err.contains("unknown record id"), "{err}");
}

/// `kadi sync --no-mpi` pulls and stores only: the records wait, pending, for `kadi mpi resolve`
/// (or the next sync), which resolves every one of them exactly once.
#[test]
fn sync_without_mpi_leaves_records_pending_for_mpi_resolve() {
    let sim = sim("2.41", 60);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("kadi.db");
    cli_connect(&db, &sim);
    let (ok, _, err) = kadi(&db, &["map", "set", "--program", PROGRAM, "--demo"], None);
    assert!(ok, "{err}");
    let (ok, out, err) = kadi(
        &db,
        &["sync", "--program", PROGRAM, "--no-mpi", "--json"],
        None,
    );
    assert!(ok, "{err}");
    let r = json(&out);
    assert_eq!(r["created"], 60);
    assert_eq!(
        (r["mpi_resolved"].as_u64(), r["mpi_created"].as_u64()),
        (Some(0), Some(0))
    );
    let store = kadi::store::Store::open(&db).unwrap();
    let cards = store.count("card_records").unwrap();
    assert!(cards >= 60, "{cards}");
    assert_eq!(store.count("mpi_links").unwrap(), 0);

    let (ok, out, err) = kadi(&db, &["mpi", "resolve", "--json"], None);
    assert!(ok, "{err}");
    let r = json(&out);
    assert_eq!(
        r["resolved"].as_i64().unwrap() + r["created"].as_i64().unwrap(),
        cards
    );
    assert_eq!(store.count("mpi_links").unwrap(), cards);
    // Nothing is left for the next sync to resolve.
    let (ok, out, err) = kadi(&db, &["sync", "--program", PROGRAM, "--json"], None);
    assert!(ok, "{err}");
    let r = json(&out);
    assert_eq!(
        (r["mpi_resolved"].as_u64(), r["mpi_created"].as_u64()),
        (Some(0), Some(0))
    );
}
