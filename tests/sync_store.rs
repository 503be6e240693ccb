//! The sync engine's page writes on a real SQLite file, without a server: de-duplication, the
//! sensitive-data guardrail, edits and deletions, and the missing-mapping error.
mod support;

use kadi::demo::demo_mapping;
use kadi::mapping::{set_mapping, Guardrail, MappingPlan};
use kadi::store::sync_data::SyncCursor;
use kadi::sync::{store_page, SyncOptions, SyncReport};
use support::*;

fn mapped_store(dir: &std::path::Path) -> kadi::store::Store {
    let store = store_with_metadata(dir);
    set_mapping(&store, &kadi::actor::Actor::Cli, &demo_mapping()).unwrap();
    store
}

fn apply(store: &kadi::store::Store, items: &[kadi::dhis2::model::TrackedEntity]) -> SyncReport {
    let plan = MappingPlan::load(store, PROGRAM).unwrap();
    let mut guardrail = Guardrail::load(store, PROGRAM).unwrap();
    let mut report = SyncReport::default();
    store_page(
        store,
        &plan,
        &mut guardrail,
        items,
        &SyncCursor::default(),
        &mut report,
    )
    .unwrap();
    report.sensitive_blocked = guardrail.blocked_total();
    report
}

fn counts(store: &kadi::store::Store) -> [i64; 4] {
    [
        "tracked_entities",
        "attribute_values",
        "enrollments",
        "card_records",
    ]
    .map(|t| store.count(t).unwrap())
}

#[test]
fn a_second_pass_over_the_same_page_adds_no_duplicate_rows() {
    let dir = tempfile::tempdir().unwrap();
    let store = mapped_store(dir.path());
    let page: Vec<_> = (0..20)
        .map(|i| tracked_entity(&format!("T{i:010}"), "Awa", "2026-03-01T00:00:00.000"))
        .collect();
    let first = apply(&store, &page);
    assert_eq!(
        (first.created, first.updated, first.cards_changed),
        (20, 0, 20)
    );
    let after_first = counts(&store);
    assert_eq!(after_first, [20, 20 * 7, 20, 20]);
    let second = apply(&store, &page);
    assert_eq!(
        (second.created, second.updated, second.cards_changed),
        (0, 0, 0)
    );
    assert_eq!(counts(&store), after_first);
}

#[test]
fn hiv_status_never_reaches_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let store = mapped_store(dir.path());
    let mut te = tracked_entity("Tabcdefghij", "Awa", "2026-03-01T00:00:00.000");
    // Also a sensitive value whose attribute the program does not declare: caught by its code.
    te.attributes.push(kadi::dhis2::model::AttributeValue {
        attribute: "Zz000000001".into(),
        code: Some("HIV_TEST_RESULT".into()),
        display_name: None,
        value_type: None,
        value: "SECRET-RESULT-XYZ".into(),
        updated_at: None,
    });
    let report = apply(&store, &[te]);
    assert_eq!(report.sensitive_blocked, 2);
    assert!(store.card_record("Eabcdefghij").unwrap().is_some());
    let db = store.path().to_path_buf();
    drop(store); // the last connection checkpoints the WAL into the file
    let mut bytes = std::fs::read(&db).unwrap();
    if let Ok(wal) = std::fs::read(db.with_extension("db-wal")) {
        bytes.extend(wal);
    }
    let text = String::from_utf8_lossy(&bytes);
    assert!(
        !text.contains("POSITIVE"),
        "an HIV status value is in the database file"
    );
    assert!(
        !text.contains("SECRET-RESULT-XYZ"),
        "an undeclared sensitive value is in the database file"
    );
}

#[test]
fn an_edit_with_a_newer_updated_at_changes_the_card_and_requeues_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = mapped_store(dir.path());
    apply(
        &store,
        &[tracked_entity(
            "Tabcdefghij",
            "Awa",
            "2026-03-01T00:00:00.000",
        )],
    );
    let r = apply(
        &store,
        &[tracked_entity(
            "Tabcdefghij",
            "Aminata",
            "2026-03-02T00:00:00.000",
        )],
    );
    assert_eq!((r.created, r.updated, r.cards_changed), (0, 1, 1));
    let card = store
        .card_record("Eabcdefghij")
        .unwrap()
        .unwrap()
        .record
        .fields;
    assert_eq!(card.first_name.as_deref(), Some("Aminata"));
    assert_eq!(counts(&store), [1, 7, 1, 1]);
}

#[test]
fn a_soft_deleted_entity_loses_its_card_record_and_values() {
    let dir = tempfile::tempdir().unwrap();
    let store = mapped_store(dir.path());
    apply(
        &store,
        &[tracked_entity(
            "Tabcdefghij",
            "Awa",
            "2026-03-01T00:00:00.000",
        )],
    );
    let mut gone = tracked_entity("Tabcdefghij", "Awa", "2026-03-05T00:00:00.000");
    gone.deleted = true;
    let r = apply(&store, &[gone.clone()]);
    assert_eq!(r.deleted, 1);
    assert!(store.card_record("Eabcdefghij").unwrap().is_none());
    assert_eq!(store.count("attribute_values").unwrap(), 0);
    // Seen again (overlap): nothing more happens.
    assert_eq!(apply(&store, &[gone]).deleted, 0);
    // A deletion of something never synced leaves no tombstone.
    let mut never = tracked_entity("Tzzzzzzzzzz", "X", "2026-03-05T00:00:00.000");
    never.deleted = true;
    apply(&store, &[never]);
    assert_eq!(store.count("tracked_entities").unwrap(), 1);
}

#[test]
fn a_missing_mapping_is_a_clear_error_naming_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_with_metadata(dir.path());
    let err = format!(
        "{:#}",
        kadi::sync::run(&store, PROGRAM, &SyncOptions::default()).unwrap_err()
    );
    assert!(
        err.contains("no card mapping for program P3jJH5Tu5VC"),
        "{err}"
    );
    assert!(
        err.contains("kadi map set --program P3jJH5Tu5VC --file"),
        "{err}"
    );
    let runs = store.sync_runs(1).unwrap();
    assert_eq!(runs[0].status, "failed", "the failed run is recorded");
}

#[test]
fn the_preview_counts_and_lists_synced_enrollments_without_sensitive_values() {
    let dir = tempfile::tempdir().unwrap();
    let store = mapped_store(dir.path());
    let page: Vec<_> = (0..15)
        .map(|i| tracked_entity(&format!("T{i:010}"), "Awa", "2026-03-01T00:00:00.000"))
        .collect();
    apply(&store, &page);
    let p = kadi::sync::preview(
        &store,
        PROGRAM,
        Some("YuQRtpLP10I"),
        Some("2026-01-01"),
        None,
        None,
    )
    .unwrap();
    assert_eq!(p.total_enrollments, 15);
    assert_eq!(p.preview.len(), 10);
    assert_eq!(p.programme_name.as_deref(), Some("Child Programme"));
    let first = &p.preview[0];
    assert_eq!(
        first.org_unit_name.as_deref(),
        Some("Centre de santé Thiaroye")
    );
    assert_eq!(
        first.attributes.get("FIRST_NAME").map(String::as_str),
        Some("Awa")
    );
    assert!(!first.attributes.contains_key("HIV_STATUS"));
    let none =
        kadi::sync::preview(&store, PROGRAM, None, Some("2026-03-01"), None, Some(5)).unwrap();
    assert_eq!(none.total_enrollments, 0);
}

fn holder(pid: u32) -> kadi::store::sync_data::RunHolder {
    kadi::store::sync_data::RunHolder {
        pid,
        boot_id: Some("boot-a".into()),
        start_time: Some(100),
        started_since_boot_ms: Some(0),
    }
}

#[test]
fn a_second_run_of_a_program_is_refused_while_a_live_process_runs_one() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_with_metadata(dir.path());
    let first = store
        .begin_sync_run(PROGRAM, &holder(4242), &|_| true)
        .unwrap();
    assert!(first.is_ok());
    assert_eq!(
        store
            .begin_sync_run(PROGRAM, &holder(4343), &|_| true)
            .unwrap(),
        Err(4242)
    );
    // The holder died (SIGKILL): its run becomes `interrupted` and the new one starts.
    let third = store
        .begin_sync_run(PROGRAM, &holder(4343), &|h| h.pid != 4242)
        .unwrap();
    assert!(third.is_ok());
    let runs = store.sync_runs(5).unwrap();
    assert_eq!(
        runs.iter().map(|r| r.status.as_str()).collect::<Vec<_>>(),
        vec!["running", "interrupted"]
    );
}

#[test]
fn an_attribute_flagged_sensitive_later_loses_its_stored_values() {
    let dir = tempfile::tempdir().unwrap();
    let store = mapped_store(dir.path());
    apply(
        &store,
        &[tracked_entity(
            "Tabcdefghij",
            "Awa",
            "2026-03-01T00:00:00.000",
        )],
    );
    let p = program();
    let code = |i: usize| p.attributes[i].code.clone().unwrap_or_default();
    let purged = store
        .upsert_program(&kadi::sync::program_row(&p, &|i| {
            matches!(code(i).as_str(), "HIV_STATUS" | "NATIONAL_ID")
        }))
        .unwrap();
    assert_eq!(purged, 1);
    assert_eq!(store.count("attribute_values").unwrap(), 6);
}

#[test]
fn only_new_or_changed_org_units_are_counted_as_changes() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_with_metadata(dir.path());
    assert_eq!(
        store
            .upsert_org_units(&kadi::sync::org_unit_rows(&org_units()), &[])
            .unwrap(),
        0
    );
    let mut renamed = org_units();
    renamed[3].name = "CS Thiaroye Gare".into();
    assert_eq!(
        store
            .upsert_org_units(&kadi::sync::org_unit_rows(&renamed), &[])
            .unwrap(),
        1
    );
}

#[test]
fn the_last_server_date_is_kept_with_this_boots_stamp_and_an_unreadable_one_is_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_with_metadata(dir.path());
    assert_eq!(store.last_server_date().unwrap(), None);
    store.record_server_date("2027-03-01T10:00:00.000").unwrap();
    store.record_server_date("").unwrap();
    store.record_server_date("yesterday").unwrap();
    let (date, stamp) = store.last_server_date().unwrap().unwrap();
    assert_eq!(date, "2027-03-01T10:00:00.000");
    let stamp = stamp.expect("Linux has a boot id");
    assert!(stamp.elapsed().is_some(), "the stamp is of this boot");
    // New MPI IDs without an enrollment date take that year, whatever the box clock says.
    let settings = kadi::mpi::MpiSettings::load(&store).unwrap();
    assert_eq!(settings.id_year.year_for(None), 2027);
    let id = kadi::mpi::create_identity(&store, &settings).unwrap();
    assert!(id.starts_with("SN-DKR-27-"), "{id}");
}

#[test]
fn a_running_row_from_before_holders_had_a_boot_id_is_judged_by_its_pid() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_with_metadata(dir.path());
    let me = std::process::id();
    let legacy = kadi::store::sync_data::RunHolder {
        pid: me,
        boot_id: None,
        start_time: None,
        started_since_boot_ms: None,
    };
    assert!(store
        .begin_sync_run(PROGRAM, &legacy, &|_| true)
        .unwrap()
        .is_ok());
    // Its PID is alive: it still blocks (an old kadi may still be syncing during an upgrade).
    assert_eq!(
        store
            .begin_sync_run(PROGRAM, &holder(1), &kadi::sync::holder::is_live)
            .unwrap()
            .unwrap_err(),
        me
    );
    // Once that process is gone, the row gives way.
    let gone = kadi::store::sync_data::RunHolder {
        pid: u32::MAX - 7,
        ..legacy
    };
    let c = rusqlite::Connection::open(dir.path().join("kadi.db")).unwrap();
    c.execute("UPDATE sync_runs SET pid = ?1", [gone.pid])
        .unwrap();
    assert!(store
        .begin_sync_run(PROGRAM, &holder(1), &kadi::sync::holder::is_live)
        .unwrap()
        .is_ok());
}
