//! `kadi::sync::run` against the in-process DHIS2 simulator over real HTTP on 127.0.0.1, into a
//! real SQLite file: full and incremental runs, every DHIS2 version, edits and deletions, faults.
mod support;

use kadi::sync::{run, SyncOptions};
use support::*;

fn opts() -> SyncOptions {
    SyncOptions {
        page_size: 50,
        ..Default::default()
    }
}

#[test]
fn sync_pulls_metadata_org_units_and_every_tracked_entity_with_enrollments() {
    let sim = sim("2.41", 120);
    let dir = tempfile::tempdir().unwrap();
    let store = mapped_sim_store(dir.path(), &sim);
    let r = run(&store, PROGRAM, &opts()).unwrap();
    assert_eq!(r.status, "ok");
    assert_eq!(
        (r.pulled, r.created, r.updated, r.deleted),
        (120, 120, 0, 0)
    );
    assert_eq!(r.pages, 3, "two full pages of 50 and a short one");
    assert!(r.bytes > 0 && r.watermark.is_some());
    assert_eq!(store.count("tracked_entities").unwrap(), 120);
    assert_eq!(
        store.count("card_records").unwrap(),
        store.count("enrollments").unwrap()
    );
    assert!(store.count("org_units").unwrap() > 30);
    assert_eq!(store.org_unit_levels().unwrap().len(), 4);
    assert_eq!(entity_lines(&dump(store.path())), sim_lines(&sim));
    let card = &store.card_records(PROGRAM).unwrap()[0].record.fields;
    assert!(card.first_name.is_some() && card.health_center.is_some() && card.zone.is_some());
    assert!(matches!(card.gender.as_deref(), Some("M" | "F" | "U")));
    let runs = store.sync_runs(1).unwrap();
    assert_eq!(runs[0].status, "ok");
    assert_eq!(runs[0].report.as_ref().unwrap()["pulled"], 120);
}

#[test]
fn a_second_sync_adds_no_duplicate_rows() {
    let sim = sim("2.41", 80);
    let dir = tempfile::tempdir().unwrap();
    let store = mapped_sim_store(dir.path(), &sim);
    run(&store, PROGRAM, &opts()).unwrap();
    let first = dump(store.path());
    let r = run(&store, PROGRAM, &opts()).unwrap();
    assert_eq!(
        (r.created, r.updated, r.deleted, r.cards_changed),
        (0, 0, 0, 0)
    );
    assert_eq!(dump(store.path()), first);
}

#[test]
fn hiv_status_values_are_blocked_counted_and_named_never_stored() {
    let sim = sim("2.41", 60);
    let dir = tempfile::tempdir().unwrap();
    let store = mapped_sim_store(dir.path(), &sim);
    let r = run(&store, PROGRAM, &opts()).unwrap();
    let with_hiv = sim
        .snapshot()
        .iter()
        .flat_map(|t| t.attributes.iter())
        .filter(|a| a.code.as_deref() == Some("HIV_STATUS"))
        .count() as u64;
    assert!(with_hiv > 0, "the simulator sends HIV statuses");
    assert_eq!(r.sensitive_blocked, with_hiv);
    assert_eq!(r.sensitive_attributes.len(), 1);
    assert!(r.sensitive_attributes[0].attribute.contains("HIV_STATUS"));
    let c = rusqlite::Connection::open(store.path()).unwrap();
    let n: i64 = c
        .query_row(
            "SELECT count(*) FROM attribute_values WHERE attribute_uid = 'Bpx0589u8y0'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(n, 0);
}

#[test]
fn syncing_each_dhis2_version_ends_in_the_same_store() {
    let mut dumps = Vec::new();
    for version in ["2.36", "2.37", "2.38", "2.39", "2.40", "2.41", "2.42"] {
        let sim = sim(version, 70);
        let dir = tempfile::tempdir().unwrap();
        let store = mapped_sim_store(dir.path(), &sim);
        let r = run(&store, PROGRAM, &opts()).unwrap();
        assert_eq!(r.created, 70, "{version}");
        assert_eq!(
            entity_lines(&dump(store.path())),
            sim_lines(&sim),
            "{version}"
        );
        // Timestamps differ between simulators started at different moments: compare the rest.
        let stable: Vec<String> = dump(store.path())
            .into_iter()
            .filter(|l| !l.starts_with("te "))
            .collect();
        dumps.push((version, stable));
    }
    for (version, d) in &dumps[1..] {
        assert_eq!(d, &dumps[0].1, "{version} differs from 2.36");
    }
}

#[test]
fn edits_additions_and_deletions_arrive_on_the_next_run_at_every_version() {
    for version in ["2.40", "2.41"] {
        let sim = sim(version, 60);
        let dir = tempfile::tempdir().unwrap();
        let store = mapped_sim_store(dir.path(), &sim);
        run(&store, PROGRAM, &opts()).unwrap();
        let edited = sim.tracked_entity_uid(3);
        let deleted = sim.tracked_entity_uid(5);
        sim.edit_attribute(&edited, "FIRST_NAME", Some("Ndeye"))
            .unwrap();
        sim.delete_tracked_entity(&deleted).unwrap();
        let added = sim.add_records(2);
        let r = run(&store, PROGRAM, &opts()).unwrap();
        assert_eq!(
            (r.created, r.updated, r.deleted),
            (2, 1, 1),
            "{version}: {r:?}"
        );
        assert_eq!(
            r.reconciled,
            version == "2.40",
            "{version}: up to 2.40 deletions need reconciliation"
        );
        assert_eq!(
            entity_lines(&dump(store.path())),
            sim_lines(&sim),
            "{version}"
        );
        let card = store
            .card_records(PROGRAM)
            .unwrap()
            .into_iter()
            .find(|c| c.record.tracked_entity_uid == edited)
            .unwrap();
        assert_eq!(card.record.fields.first_name.as_deref(), Some("Ndeye"));
        assert!(store
            .card_records(PROGRAM)
            .unwrap()
            .iter()
            .all(|c| c.record.tracked_entity_uid != deleted));
        assert!(added
            .iter()
            .all(|uid| store.tracked_entity_version(uid).unwrap().is_some()));
    }
}

#[test]
fn a_run_under_heavy_fault_injection_ends_with_exactly_the_simulators_records() {
    let sim = sim("2.41", 300);
    sim.set_faults(kadi::sim::Faults {
        error_500: 0.15,
        error_503: 0.15,
        truncate: 0.1,
        drop: 0.05,
        max_page_size: Some(40),
        ..Default::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let store = mapped_sim_store(dir.path(), &sim);
    let o = SyncOptions {
        page_size: 50,
        backoff_base_ms: 5,
        backoff_cap_ms: 50,
        max_attempts: 20,
        idle_timeout_secs: 2,
        ..Default::default()
    };
    let r = run(&store, PROGRAM, &o).unwrap();
    assert!(!r.errors.is_empty(), "faults were injected and retried");
    assert_eq!(r.created, 300);
    assert_eq!(entity_lines(&dump(store.path())), sim_lines(&sim));
}

#[test]
fn a_rejected_request_fails_the_run_with_dhis2s_message_and_no_retry() {
    let sim = sim("2.41", 20);
    let dir = tempfile::tempdir().unwrap();
    let store = mapped_sim_store(dir.path(), &sim);
    sim.fail_next(1, kadi::sim::Fault::Status(409));
    let before = sim.request_count();
    let err = format!("{:#}", run(&store, PROGRAM, &opts()).unwrap_err());
    assert!(err.contains("409"), "{err}");
    assert!(sim.request_count() - before <= 5, "a 4xx is not retried");
    assert_eq!(store.sync_runs(1).unwrap()[0].status, "failed");
    // The next run completes.
    assert_eq!(run(&store, PROGRAM, &opts()).unwrap().created, 20);
}

#[test]
fn a_due_schedule_syncs_calls_the_card_hook_and_plans_the_next_run() {
    let sim = sim("2.41", 30);
    let dir = tempfile::tempdir().unwrap();
    let store = mapped_sim_store(dir.path(), &sim);
    kadi::jobs::set_schedule(&store, &kadi::actor::Actor::Cli, PROGRAM, 10, true, true).unwrap();
    let called = std::cell::Cell::new(0);
    let hook = |_: &kadi::store::Store,
                s: &kadi::store::sync_data::SyncSchedule,
                r: &kadi::sync::SyncReport| {
        assert!(s.auto_generate_cards);
        called.set(called.get() + 1);
        Ok(r.created * 2)
    };
    // Never synced: due at once.
    let reports = kadi::jobs::scheduler_tick_with(&store, &hook).unwrap();
    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0].created, 30);
    assert_eq!(reports[0].cards_rendered, Some(60));
    assert_eq!(called.get(), 1);
    // Not due any more: nothing happens.
    assert!(kadi::jobs::scheduler_tick_with(&store, &hook)
        .unwrap()
        .is_empty());
    let next = store
        .sync_schedule(PROGRAM)
        .unwrap()
        .unwrap()
        .next_sync_at
        .unwrap();
    assert!(next.as_str() > kadi::store::now_utc().as_str());
    let stored = store.sync_runs(1).unwrap()[0].report.clone().unwrap();
    assert_eq!(stored["created"], 30);
    assert_eq!(stored["cards_rendered"], 60);
    // Due again: the second run brings nothing new.
    store
        .set_next_sync_at(PROGRAM, "2020-01-01T00:00:00Z")
        .unwrap();
    let reports = kadi::jobs::scheduler_tick_with(&store, &hook).unwrap();
    assert_eq!((reports.len(), reports[0].created), (1, 0));
    assert_eq!(called.get(), 2);
}

#[test]
fn a_failed_run_resumes_at_the_page_it_stopped_on() {
    let sim = sim("2.41", 400);
    sim.set_faults(kadi::sim::Faults {
        error_500: 0.2,
        ..Default::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let store = mapped_sim_store(dir.path(), &sim);
    // No retries: every injected 500 fails the run; the next run continues from the cursor,
    // even when asked for another page size.
    let mut resumed_beyond_first_page = false;
    let mut created = 0;
    for attempt in 0..200 {
        let o = SyncOptions {
            page_size: [20, 50, 7][attempt % 3],
            max_attempts: 1,
            ..Default::default()
        };
        let (r, result) = kadi::sync::run_with_report(&store, PROGRAM, &o);
        created += r.created;
        resumed_beyond_first_page |= r.resumed_from_page.is_some_and(|p| p > 1);
        if result.is_ok() {
            break;
        }
    }
    assert!(resumed_beyond_first_page, "some run resumed mid-way");
    assert_eq!(
        created, 400,
        "every entity created exactly once across the runs"
    );
    assert_eq!(entity_lines(&dump(store.path())), sim_lines(&sim));
}

#[test]
fn a_move_to_another_health_center_changes_health_center_and_zone_on_the_card() {
    let sim = sim("2.42", 40);
    let dir = tempfile::tempdir().unwrap();
    let store = mapped_sim_store(dir.path(), &sim);
    run(&store, PROGRAM, &opts()).unwrap();
    let moved = sim.tracked_entity_uid(2);
    let before = sim
        .snapshot()
        .into_iter()
        .find(|t| t.uid == moved)
        .unwrap()
        .org_unit
        .unwrap();
    let target = sim
        .snapshot()
        .into_iter()
        .filter_map(|t| t.enrollments.first().and_then(|e| e.org_unit.clone()))
        .find(|ou| *ou != before)
        .unwrap();
    sim.move_tracked_entity(&moved, &target).unwrap();
    let r = run(&store, PROGRAM, &opts()).unwrap();
    assert_eq!(r.updated, 1);
    let card = store
        .card_records(PROGRAM)
        .unwrap()
        .into_iter()
        .find(|c| c.record.tracked_entity_uid == moved)
        .unwrap()
        .record
        .fields;
    assert_eq!(card.org_unit.as_deref(), Some(target.as_str()));
    let plan = kadi::mapping::MappingPlan::load(&store, PROGRAM).unwrap();
    assert_eq!(card.health_center.as_deref(), plan.org_units.name(&target));
    assert_eq!(
        card.zone.as_deref(),
        plan.org_units.ancestor_name_at(&target, plan.zone_level)
    );
}

#[test]
fn an_unreachable_server_fails_quickly_with_a_clear_error_and_keeps_the_store() {
    let sim = sim("2.41", 20);
    let dir = tempfile::tempdir().unwrap();
    let store = mapped_sim_store(dir.path(), &sim);
    run(&store, PROGRAM, &opts()).unwrap();
    let before = dump(store.path());
    drop(sim);
    let t = std::time::Instant::now();
    let err = format!("{:#}", run(&store, PROGRAM, &opts()).unwrap_err());
    assert!(err.contains("unreachable"), "{err}");
    assert!(
        t.elapsed() < std::time::Duration::from_secs(10),
        "took {:?}",
        t.elapsed()
    );
    assert_eq!(dump(store.path()), before);
    assert_eq!(store.sync_runs(1).unwrap()[0].status, "failed");
}

#[test]
fn every_synced_phone_reaches_the_cards_in_e164() {
    let sim = sim("2.41", 200);
    let national = sim
        .snapshot()
        .iter()
        .flat_map(|te| te.attributes.iter())
        .filter(|a| a.code.as_deref() == Some("PHONE") && !a.value.starts_with('+'))
        .count();
    assert!(national > 10, "the simulator writes some phones nationally");
    let dir = tempfile::tempdir().unwrap();
    let store = mapped_sim_store(dir.path(), &sim);
    run(&store, PROGRAM, &opts()).unwrap();
    let phones: Vec<String> = store
        .card_records(PROGRAM)
        .unwrap()
        .into_iter()
        .filter_map(|c| c.record.fields.phone_number)
        .collect();
    assert!(phones.len() > 100);
    for p in &phones {
        assert!(
            p.len() == 13 && p.starts_with("+2217") && p[1..].bytes().all(|b| b.is_ascii_digit()),
            "{p}"
        );
    }
}
