//! Jobs: what kadi does above its capabilities, in one place. "Sync a program, resolve
//! identities, make cards" is a job: `sync` pulls and maps, `mpi` resolves, `cards` renders, and
//! none of them calls the others. Every caller (`kadi sync`, the scheduler of `kadi serve`, the
//! page's "Sync now", `kadi demo`) goes through here, so each run has the same steps.
pub mod card_tasks;
pub mod schedule;

pub use card_tasks::{run_queued_tasks, CardTaskWorker};

pub use schedule::{
    apply_schedule, schedule_program, scheduler_loop, scheduler_loop_with, scheduler_tick,
    scheduler_tick_at, scheduler_tick_with, set_schedule, AfterSync, OwnedAfterSync,
    ScheduleReport, ScheduleRequest, Scheduler, INTERVALS,
};

use crate::actor::Actor;
use crate::mapping::{AssignCodesBody, MapSetReport};
use crate::store::sync_data::SyncSchedule;
use crate::store::Store;
use crate::sync::{ResolveCounts, SyncOptions, SyncReport};
use anyhow::{Context, Result};

/// The identity step of a sync: resolves every pending card record in the Master Patient Index.
pub fn resolve_identities(store: &Store) -> Result<ResolveCounts> {
    let r = crate::mpi::resolve_pending(store)?;
    Ok(ResolveCounts {
        resolved: r.resolved,
        created: r.created,
        pending_review: r.pending_review,
    })
}

/// Syncs a program, resolves identities (unless `opts.resolve_mpi` is off) and folds the changes
/// into the search index; returns the report
/// also when the run failed (for `--json` output). A resolver already in `opts` is kept.
pub fn sync_program(
    store: &Store,
    program_uid: &str,
    opts: &SyncOptions,
) -> (SyncReport, Result<()>) {
    let opts = SyncOptions {
        resolver: opts
            .resolver
            .or(Some(resolve_identities as crate::sync::Resolver)),
        ..opts.clone()
    };
    let mut outcome = crate::sync::run_with_report(store, program_uid, &opts);
    if outcome.1.is_ok() {
        outcome.0.card_keys = Some(exchange_card_keys(store));
        // The stored report is the one printed: it includes the exchange.
        if let (Some(run_id), Ok(json)) = (outcome.0.run_id, serde_json::to_string(&outcome.0)) {
            if let Err(e) = store.finish_sync_run(run_id, outcome.0.status.as_sql(), &json) {
                eprintln!(
                    "kadi: warning: the sync report was not updated with the card-key step ({e:#})"
                );
            }
        }
    }
    // Fold what the run wrote into the search index now (a 100,000-record first sync takes
    // seconds), so the first search of a staff member after it does not. A failure here costs
    // only that: the next search folds the same records.
    if let Err(e) = store.refresh_search_index() {
        eprintln!(
            "kadi: warning: the search index was not updated after the sync ({e:#}); the next search will"
        );
    }
    outcome
}

/// The card-key step of a sync (s11-v): publishes this box's card keys and revocations to DHIS2's
/// dataStore and pulls every other box's ([`crate::verify::exchange`]). Records are synced
/// already: a failure here is reported (`card_keys.error`) and fails nothing; the next sync tries
/// again.
fn exchange_card_keys(store: &Store) -> serde_json::Value {
    match crate::verify::exchange::exchange(store) {
        Ok(r) => serde_json::to_value(&r).unwrap_or_default(),
        Err(e) => {
            eprintln!("kadi: warning: card keys were not exchanged with DHIS2 ({e:#}); the next sync tries again");
            serde_json::json!({ "error": format!("{e:#}") })
        }
    }
}

/// [`sync_program`], answering the report only when the run succeeded.
pub fn sync(store: &Store, program_uid: &str, opts: &SyncOptions) -> Result<SyncReport> {
    let (report, result) = sync_program(store, program_uid, opts);
    result.map(|()| report)
}

/// The card step after a scheduled sync (for [`Scheduler::spawn`] and `kadi schedule tick`):
/// renders the program's new and changed cards; answers how many.
pub fn cards_after_sync(
    store: &Store,
    schedule: &SyncSchedule,
    _report: &SyncReport,
) -> Result<u64> {
    crate::cards::generate::auto_generate(store, &schedule.program_uid)
}

/// Maps a program's attributes to card fields (`kadi map set`, `kadi demo`): pulls the program's
/// metadata from DHIS2 first when the store does not have it, then validates and stores the
/// mapping ([`crate::mapping::set_mapping`] works on what the store has).
pub fn map_program(store: &Store, actor: &Actor, body: &AssignCodesBody) -> Result<MapSetReport> {
    let program = body.programme_uid.trim();
    if store.program_name(program)?.is_none() {
        crate::sync::refresh_metadata(store, program).with_context(|| {
            format!("program {program} is not in the store and its metadata could not be pulled from DHIS2 (configure it with `kadi dhis2 config`)")
        })?;
    }
    crate::mapping::set_mapping(store, actor, body)
}
