//! The sync engine: pulls a program's metadata, org units and tracked entities from DHIS2 into the
//! store, page by page (one transaction per page with its cursor), incrementally by the server's
//! own `updatedAfter` watermark; maps what arrived and runs the identity step its caller supplies.
//!
//! Invariants:
//! - The watermark is the server's zone-less `serverDate` read *before* the first page, never the
//!   box clock; the next run asks `updatedAfter = watermark - overlap` and de-duplicates by UID +
//!   `updatedAt`.
//! - Pages come in creation order (`order=createdAt:asc[,trackedEntity:asc]`, which an edit
//!   never changes), so records edited while a run pages cannot shift a record out of reach.
//!   Paging stops on an empty page: a short page may be a server capping the page size without
//!   saying so ([`PagePlan`]), never the end by itself.
//! - A run ends by checking what it holds against the server (a listing of UID + `updatedAt`,
//!   its pager total when the server gives one), fetching by UID what is missing or stale. On
//!   servers up to 2.40 the listing covers every UID (deletions are not exported there), so it
//!   also reconciles deletions. A run that cannot prove completeness ends `partial`, never `ok`,
//!   and keeps its watermark so the next run asks for the same window again.
//! - A record that cannot be decoded is quarantined (UID and reason), the rest of its page is
//!   stored, and it is fetched again by UID at every run until it decodes.
//! - A page, its card records and the cursor commit in one transaction: a process killed at any
//!   moment resumes at the page it was on, without loss or duplicates.
//! - Sensitive attribute values never reach the store ([`crate::mapping::Guardrail`]).
//! - Retries respect the server: a `Retry-After` is waited out as asked (counted from the
//!   server's `Date`, never the box clock), a server silent for `dead_after_secs` fails the run
//!   instead of using up its attempts, and a page that times out is asked again smaller at the
//!   same offset (`docs/sync.md`).
//!
//! Called by `kadi sync`, the scheduler (`kadi serve`), `kadi demo` and the web page, through
//! [`crate::jobs`]. Sync knows neither the MPI nor the cards: the caller hands it the identity
//! step as a [`Resolver`].
#[cfg(feature = "demo")]
pub mod fake;
pub mod history;
pub mod holder;
mod source;

pub use source::Dhis2Source;

use crate::actor::Actor;
use crate::dhis2::model::{OrgUnit, Page, Program, RejectedRecord, SystemInfo, TrackedEntity};
use crate::dhis2::{Dhis2Error, TrackedEntityQuery};
use crate::mapping::{attribute_is_sensitive, EnrollmentFacts, Guardrail, MappingPlan};
use crate::store::sync_data::{
    AttributeRow, EnrollmentRow, EntityChange, OptionSetRow, OrgUnitRow, ProgramRow, SyncCursor,
    TrackedEntityRow,
};
use crate::store::Store;
use anyhow::{anyhow, Context, Result};
use serde::Serialize;
use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How a sync run behaves; `Default` is what `kadi sync` uses.
#[derive(Debug, Clone)]
pub struct SyncOptions {
    /// Tracked entities per page.
    pub page_size: u32,
    /// How far before the watermark an incremental run starts (clock skew, late commits).
    pub overlap_seconds: i64,
    /// Force a listing of every UID (finds deletions on servers without soft deletes).
    pub reconcile: bool,
    /// On servers up to 2.40, list every UID when the last full listing is older than this
    /// (0, the default: at every run, so deletions and gaps close on the next run; measured at
    /// 100,000 records in docs/sync.md; at least 24 on 2.36/2.37, where a listing is a full
    /// download). Otherwise a run lists only its own window.
    pub reconcile_every_hours: i64,
    /// Restrict the export to these org units (and descendants); empty = the user's scope.
    pub org_units: Vec<String>,
    /// Pull program metadata and org units only.
    pub metadata_only: bool,
    /// Attempts per DHIS2 call before the run fails (retryable errors only; the waits a server
    /// asks for with 429/`Retry-After` are bounded by `rate_limit_budget_secs` instead).
    pub max_attempts: u32,
    /// First backoff delay; doubles each attempt, with jitter, up to `backoff_cap_ms`.
    pub backoff_base_ms: u64,
    pub backoff_cap_ms: u64,
    /// The longest `Retry-After` kadi honours: a server asking for more fails the call at once
    /// (coming back earlier than asked would not respect it; the next run tries again).
    pub retry_after_cap_secs: u64,
    /// How long one call may wait in total for a server that rate-limits it (429, or 503 with
    /// `Retry-After`): long enough to span a typical rate-limit window.
    pub rate_limit_budget_secs: u64,
    /// A server that gives no byte at all (refused, no route, connect or first-byte timeout)
    /// for this long, over consecutive attempts of one call, is taken for dead: the run fails
    /// instead of using up its attempts.
    pub dead_after_secs: u64,
    /// The smallest page the run falls back to after timeouts (each timeout on a page halves it).
    pub min_page_size: u32,
    /// Run the identity step ([`SyncOptions::resolver`]) after mapping.
    pub resolve_mpi: bool,
    /// The identity step the caller supplies (none: the run ends after mapping). A hook rather
    /// than a call so that sync depends on nothing above it; its counts go into the report.
    pub resolver: Option<Resolver>,
    /// Idle timeout of each DHIS2 call: the longest silence before an answer starts or inside
    /// its body (a slow link that keeps sending is never cut off; a closed connection fails at
    /// once).
    pub idle_timeout_secs: u64,
    /// How long connecting (DNS, TCP, TLS) may take.
    pub connect_timeout_secs: u64,
    /// Who started the run (audit trail).
    pub actor: Actor,
    /// Told after each stored page: tracked entities pulled so far, and the server's total when
    /// it reported one (for a bar on a terminal, a percentage on the page).
    pub progress: Progress,
}

/// The identity step run at the end of a sync, on the records it left pending.
pub type Resolver = fn(&Store) -> Result<ResolveCounts>;

/// What the identity step did (the report's `mpi_*` fields).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ResolveCounts {
    /// Records linked to an existing identity.
    pub resolved: u64,
    /// Records that became a new identity.
    pub created: u64,
    /// Records waiting for a person's review.
    pub pending_review: u64,
}

/// Tracked entities pulled so far, and the server's total when known.
pub type ProgressFn = dyn Fn(u64, Option<u64>) + Send + Sync;

/// A progress callback for [`SyncOptions`] (none by default).
#[derive(Clone, Default)]
pub struct Progress(pub Option<std::sync::Arc<ProgressFn>>);

impl std::fmt::Debug for Progress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "Progress(callback)"
        } else {
            "Progress(none)"
        })
    }
}

impl Default for SyncOptions {
    fn default() -> Self {
        SyncOptions {
            page_size: 500,
            overlap_seconds: 300,
            reconcile: false,
            reconcile_every_hours: 0,
            org_units: Vec::new(),
            metadata_only: false,
            max_attempts: 8,
            backoff_base_ms: 200,
            backoff_cap_ms: 10_000,
            retry_after_cap_secs: 120,
            rate_limit_budget_secs: 180,
            dead_after_secs: 60,
            min_page_size: 50,
            resolve_mpi: true,
            resolver: None,
            idle_timeout_secs: 30,
            connect_timeout_secs: 10,
            actor: Actor::Cli,
            progress: Progress::default(),
        }
    }
}

/// One sensitive attribute the guardrail blocked in a run (its name, never a value).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BlockedAttribute {
    pub attribute: String,
    pub values_blocked: u64,
}

/// Where a sync run is (`sync_runs.status`, the report's `status`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    /// Started and not finished (or its process died: the next run marks it `interrupted`).
    #[default]
    Running,
    Ok,
    /// Finished, but could not prove it holds every record (one missing after the check, one
    /// quarantined, a listing shorter than the server's count): see the report's
    /// `partial_reasons`. The next run closes the gap.
    Partial,
    Failed,
    /// Left `running` by a process that is gone (set by the store when a new run begins).
    Interrupted,
}

impl RunStatus {
    /// The form stored in `sync_runs.status` and written in the report's JSON.
    pub fn as_sql(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Ok => "ok",
            RunStatus::Partial => "partial",
            RunStatus::Failed => "failed",
            RunStatus::Interrupted => "interrupted",
        }
    }
}

impl std::fmt::Display for RunStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_sql())
    }
}

/// Lets callers and tests compare with the stored form (`report.status == "ok"`).
impl PartialEq<&str> for RunStatus {
    fn eq(&self, other: &&str) -> bool {
        self.as_sql() == *other
    }
}

/// What one sync run did (`kadi sync --json`; also stored in `sync_runs`).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SyncReport {
    pub program_uid: String,
    /// `ok`, `partial` (finished without proof of completeness) or `failed` (`running` while it
    /// runs).
    pub status: RunStatus,
    pub server_version: Option<String>,
    /// Tracked entities received (including the overlap that turned out unchanged).
    pub pulled: u64,
    /// Tracked entities new to the store.
    pub created: u64,
    /// Tracked entities whose `updatedAt` changed.
    pub updated: u64,
    /// Tracked entities deleted on the server (soft delete or reconciliation).
    pub deleted: u64,
    /// Card records new or changed (queued for the MPI).
    pub cards_changed: u64,
    pub mpi_resolved: u64,
    pub mpi_created: u64,
    pub mpi_pending_review: u64,
    /// Sensitive attribute values dropped before the store.
    pub sensitive_blocked: u64,
    pub sensitive_attributes: Vec<BlockedAttribute>,
    pub pages: u64,
    /// JSON bytes of the tracker pages as decoded (after gzip, which `ureq` undoes on the fly),
    /// not the bytes on the wire: a gzipped sync moves several times fewer.
    pub bytes: u64,
    pub seconds: f64,
    /// Of `seconds`, the part spent in MPI resolution.
    pub mpi_seconds: f64,
    /// The page an interrupted run resumed at.
    pub resumed_from_page: Option<u32>,
    /// Whether a listing of every UID ran (deletions reconciled).
    pub reconciled: bool,
    /// Distinct tracked entities the completeness listing named.
    pub listed: u64,
    /// Requests the completeness listing made.
    pub listing_pages: u64,
    /// Of `seconds`, the part spent listing, comparing and fetching by UID.
    pub listing_seconds: f64,
    /// Tracked entities fetched by UID after the listing (missing, stale or quarantined).
    pub fetched_by_uid: u64,
    /// Listed records the store still lacks after fetching them by UID.
    pub missing: u64,
    /// Records in quarantine at the end of the run (they could not be decoded).
    pub quarantined: u64,
    /// The first quarantined records with the reason (at most 20).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub quarantine: Vec<RejectedRecord>,
    /// The page size a server capped to without saying so (detected and adopted), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub page_size_cap: Option<u32>,
    /// Why the run is `partial` (empty otherwise).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub partial_reasons: Vec<String>,
    /// The watermark the next run starts from (server date).
    pub watermark: Option<String>,
    /// Errors: retried ones (the run went on, each with what it waited) and the one that
    /// failed the run.
    pub errors: Vec<String>,
    /// HTTP requests sent to DHIS2 (retries included; 0 for a source that does not count).
    pub requests: u64,
    /// DHIS2 calls tried again after a failure.
    pub retries: u64,
    /// Seconds slept before those retries (backoff and `Retry-After`), so a slow run says why.
    pub retry_wait_seconds: f64,
    /// Of `retry_wait_seconds`, what the server asked for (429/503 with `Retry-After`).
    pub rate_limit_wait_seconds: f64,
    /// Seconds spent in attempts that failed (timeouts included).
    pub failed_attempt_seconds: f64,
    /// The page size the run fell back to after timeouts (absent: it never had to).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub page_size_reduced_to: Option<u32>,
    /// Cards rendered after a scheduled run whose schedule has `auto_generate_cards` on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cards_rendered: Option<u64>,
    /// What the card-key exchange after the run did (`jobs`: published and pulled keys and
    /// revocations, or its error); absent when it did not run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub card_keys: Option<serde_json::Value>,
    /// The run's row in `sync_runs` (not part of the report's JSON).
    #[serde(skip)]
    pub run_id: Option<i64>,
}

/// Runs one sync of `program_uid` against the DHIS2 connection configured in the store
/// ([`crate::link::client_from_store`]): metadata, org units, tracked entities (incremental and
/// resumable), mapping, reconciliation when due, MPI resolution. Stores and audits the report.
pub fn run(store: &Store, program_uid: &str, opts: &SyncOptions) -> Result<SyncReport> {
    let (report, result) = run_with_report(store, program_uid, opts);
    result.map(|()| report)
}

/// Like [`run`], but returns the report also when the run failed (for `--json` output).
pub fn run_with_report(
    store: &Store,
    program_uid: &str,
    opts: &SyncOptions,
) -> (SyncReport, Result<()>) {
    run_reported(store, Source::Stored, program_uid, opts)
}

/// Runs one sync of `program_uid` from `source` (any [`Dhis2Source`]: the HTTP client, or the
/// in-process fake of the tests) instead of the stored connection. Same steps, rows and audit.
pub fn run_from(
    store: &Store,
    source: &dyn Dhis2Source,
    program_uid: &str,
    opts: &SyncOptions,
) -> Result<SyncReport> {
    let (report, result) = run_from_with_report(store, source, program_uid, opts);
    result.map(|()| report)
}

/// Like [`run_from`], but returns the report also when the run failed.
pub fn run_from_with_report(
    store: &Store,
    source: &dyn Dhis2Source,
    program_uid: &str,
    opts: &SyncOptions,
) -> (SyncReport, Result<()>) {
    run_reported(store, Source::Given(source), program_uid, opts)
}

/// Where a run's DHIS2 calls go. The stored connection is opened inside the run (after the
/// mapping check), so a missing or unreadable connection fails a recorded run as before.
#[derive(Clone, Copy)]
enum Source<'a> {
    Stored,
    Given(&'a dyn Dhis2Source),
}

fn run_reported(
    store: &Store,
    source: Source<'_>,
    program_uid: &str,
    opts: &SyncOptions,
) -> (SyncReport, Result<()>) {
    let started = Instant::now();
    let mut report = SyncReport {
        program_uid: program_uid.to_string(),
        status: RunStatus::Running,
        ..Default::default()
    };
    let run_id = match store.begin_sync_run(program_uid, &holder::this_process(), &holder::is_live)
    {
        Ok(Ok(id)) => id,
        Ok(Err(pid)) => {
            report.status = RunStatus::Failed;
            let msg = format!("a sync of program {program_uid} is already running (process {pid}): wait for it to finish");
            report.errors.push(msg.clone());
            return (report, Err(anyhow!(msg)));
        }
        Err(e) => return (report, Err(e)),
    };
    report.run_id = Some(run_id);
    // A panic must not leave the run `running` (that would block this process's next runs).
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        run_inner(store, source, program_uid, opts, &mut report)
    }))
    .unwrap_or_else(|_| {
        Err(anyhow!(
            "internal error: the sync of {program_uid} panicked"
        ))
    });
    report.seconds = (started.elapsed().as_secs_f64() * 1000.0).round() / 1000.0;
    report.status = match &result {
        Ok(()) if report.partial_reasons.is_empty() => RunStatus::Ok,
        Ok(()) => RunStatus::Partial,
        Err(_) => RunStatus::Failed,
    };
    if let Err(e) = &result {
        report.errors.push(format!("{e:#}"));
    }
    let json = serde_json::to_string(&report).unwrap_or_default();
    let stored = store
        .finish_sync_run(run_id, report.status.as_sql(), &json)
        .and_then(|()| {
            store.audit(
                opts.actor.as_str(),
                "sync.run",
                Some(program_uid),
                None,
                Some(&json),
            )
        });
    (report, result.and(stored))
}

/// What every step of one run shares: where it stores, where it reads, how it retries, and the
/// run's options. (It replaced the same five parameters threaded through every function.)
#[derive(Clone, Copy)]
struct Run<'a> {
    store: &'a Store,
    source: &'a dyn Dhis2Source,
    retry: Retry<'a>,
    opts: &'a SyncOptions,
    program_uid: &'a str,
}

fn run_inner(
    store: &Store,
    source: Source<'_>,
    program_uid: &str,
    opts: &SyncOptions,
    report: &mut SyncReport,
) -> Result<()> {
    if !opts.metadata_only && store.mapping_rows(program_uid)?.is_empty() {
        // Fail before any network: without a mapping nothing can become a card.
        MappingPlan::load(store, program_uid)?;
    }
    let stored;
    let source: &dyn Dhis2Source = match source {
        Source::Given(s) => s,
        Source::Stored => {
            stored = crate::link::client_from_store(store)?.with_timeouts(
                Duration::from_secs(opts.connect_timeout_secs.max(1)),
                Duration::from_secs(opts.idle_timeout_secs.max(1)),
            );
            &stored
        }
    };
    let tally = RetryTally::default();
    let run = Run {
        store,
        source,
        retry: Retry::new(opts, &tally),
        opts,
        program_uid,
    };
    let result = run_steps(&run, report);
    report.requests = source.requests_sent();
    tally.write_to(report);
    result
}

/// The steps of one run: probe, metadata, tracked entities, reconciliation, identities.
fn run_steps(run: &Run<'_>, report: &mut SyncReport) -> Result<()> {
    let (store, source, opts, program_uid) = (run.store, run.source, run.opts, run.program_uid);
    // Read the server clock before anything else: it becomes the next watermark. It doubles as
    // the connectivity probe, so an offline box gives up after a few quick tries.
    let probe = Retry {
        max_attempts: run.retry.max_attempts.min(3),
        ..run.retry
    };
    let info: SystemInfo = probe.call(&mut report.errors, "reading /api/system/info", || {
        source.system_info()
    })?;
    report.server_version = Some(info.version.clone());
    // The box has no real-time clock: the server's date is what MPI IDs take their year from.
    store.record_server_date(&info.server_date)?;
    let org_units_changed = run.pull_metadata(report)?;
    remap_if_org_units_changed(store, program_uid, org_units_changed, report)?;
    if opts.metadata_only {
        return Ok(());
    }
    let plan = MappingPlan::load(store, program_uid)?;
    let mut guardrail = Guardrail::load(store, program_uid)?;
    store.prepare_for_bulk_writes()?;
    let cursor = store.sync_cursor(program_uid)?;
    run.pull_tracked_entities(report, &plan, &mut guardrail, &info, cursor)?;
    report.sensitive_blocked = guardrail.blocked_total();
    report.sensitive_attributes = guardrail
        .blocked
        .iter()
        .map(|(attribute, n)| BlockedAttribute {
            attribute: attribute.clone(),
            values_blocked: *n,
        })
        .collect();

    if let Some(resolver) = opts.resolver.filter(|_| opts.resolve_mpi) {
        let started = Instant::now();
        let resolved = resolver(store);
        report.mpi_seconds = (started.elapsed().as_secs_f64() * 1000.0).round() / 1000.0;
        match resolved {
            Ok(r) => {
                report.mpi_resolved = r.resolved;
                report.mpi_created = r.created;
                report.mpi_pending_review = r.pending_review;
            }
            // The data is synced; the next run resolves what stayed pending.
            Err(e) => report.errors.push(format!("MPI resolution: {e:#}")),
        }
    }
    Ok(())
}

/// Pulls the program (attributes, option sets) and org units into the store.
pub fn refresh_metadata(store: &Store, program_uid: &str) -> Result<()> {
    let client = crate::link::client_from_store(store)?;
    refresh_metadata_from(store, &client, program_uid)
}

/// Like [`refresh_metadata`], from `source` instead of the stored connection.
pub fn refresh_metadata_from(
    store: &Store,
    source: &dyn Dhis2Source,
    program_uid: &str,
) -> Result<()> {
    let opts = SyncOptions::default();
    let tally = RetryTally::default();
    let run = Run {
        store,
        source,
        retry: Retry::new(&opts, &tally),
        opts: &opts,
        program_uid,
    };
    let mut report = SyncReport::default();
    run.pull_metadata(&mut report).map(|_| ())
}

/// The store's row of a DHIS2 program (the store knows no DHIS2 type); `sensitive(i)` flags the
/// `i`-th attribute for the guardrail.
pub fn program_row(program: &Program, sensitive: &dyn Fn(usize) -> bool) -> ProgramRow {
    ProgramRow {
        uid: program.uid.clone(),
        name: program.name.clone(),
        code: program.code.clone(),
        tracked_entity_type: program.tracked_entity_type.clone(),
        attributes: program
            .attributes
            .iter()
            .enumerate()
            .map(|(i, a)| AttributeRow {
                uid: a.uid.clone(),
                code: a.code.clone(),
                name: a.name.clone(),
                display_name: a.display_name.clone(),
                value_type: a.value_type.clone(),
                mandatory: a.mandatory,
                option_set: a.option_set.as_ref().map(|o| OptionSetRow {
                    uid: o.uid.clone(),
                    name: o.name.clone(),
                    options: o
                        .options
                        .iter()
                        .map(|x| (x.code.clone(), x.name.clone()))
                        .collect(),
                }),
                sensitive: sensitive(i),
            })
            .collect(),
    }
}

/// The store's rows of DHIS2 org units.
pub fn org_unit_rows(units: &[OrgUnit]) -> Vec<OrgUnitRow> {
    units
        .iter()
        .map(|u| OrgUnitRow {
            uid: u.uid.clone(),
            name: u.name.clone(),
            code: u.code.clone(),
            level: u.level,
            path: u.path.clone(),
            parent_uid: u.parent_uid.clone(),
        })
        .collect()
}

/// The store's row of a DHIS2 tracked entity (borrowed: one per record on the hot path).
pub fn entity_row(te: &TrackedEntity) -> TrackedEntityRow<'_> {
    TrackedEntityRow {
        uid: &te.uid,
        tracked_entity_type: te.tracked_entity_type.as_deref(),
        org_unit: te.org_unit.as_deref(),
        created_at: te.created_at.as_deref(),
        updated_at: te.updated_at.as_deref(),
        deleted: te.deleted,
        enrollments: te
            .enrollments
            .iter()
            .map(|e| EnrollmentRow {
                uid: &e.uid,
                program: &e.program,
                org_unit: e.org_unit.as_deref(),
                enrolled_at: e.enrolled_at.as_deref(),
                occurred_at: e.occurred_at.as_deref(),
                status: e.status.as_deref(),
                updated_at: e.updated_at.as_deref(),
                deleted: e.deleted,
            })
            .collect(),
    }
}

impl Run<'_> {
    fn pull_metadata(&self, report: &mut SyncReport) -> Result<u64> {
        let (program_uid, source) = (self.program_uid, self.source);
        let program: Program = self.retry.call(&mut report.errors, &format!("reading program {program_uid}"), || source.program(program_uid))
            .with_context(|| {
                format!("program {program_uid} is not readable on the configured DHIS2 server: check the UID and the user's program access")
            })?;
        let org_units = self
            .retry
            .call(&mut report.errors, "reading org units", || {
                source.org_units()
            })?;
        let named_levels =
            self.retry
                .call(&mut report.errors, "reading org unit levels", || {
                    source.org_unit_levels()
                })?;
        let mut levels: BTreeMap<u32, String> = named_levels
            .into_iter()
            .map(|l| (l.level, l.name))
            .collect();
        for u in &org_units {
            if let Some(l) = u.level {
                levels.entry(l).or_insert_with(|| format!("Level {l}"));
            }
        }
        let levels: Vec<(u32, String)> = levels.into_iter().collect();
        let program = program_row(&program, &|i| {
            let a = &program.attributes[i];
            attribute_is_sensitive(
                a.code.as_deref(),
                &a.name,
                a.display_name.as_deref(),
                a.option_set.as_ref().and_then(|o| o.name.as_deref()),
            )
        });
        let org_units = org_unit_rows(&org_units);
        self.store
            .in_transaction(|s| {
                s.upsert_program(&program)?;
                s.upsert_org_units(&org_units, &levels)
            })
            .with_context(|| format!("storing metadata of program {program_uid}"))
    }
}
/// Re-derives the program's cards when org units changed (renamed health center, moved unit):
/// `health_center` and `zone` come from them.
fn remap_if_org_units_changed(
    store: &Store,
    program_uid: &str,
    changed: u64,
    report: &mut SyncReport,
) -> Result<()> {
    if changed > 0 && !store.mapping_rows(program_uid)?.is_empty() {
        report.cards_changed += crate::mapping::remap_program(store, program_uid)?;
    }
    Ok(())
}

/// One fetched page as the fetcher thread hands it over: its number, the page or the error that
/// ended the run, the retried errors on the way, and what the fetcher asks next (`None`: the
/// end), which the storing side writes into the cursor with the page.
struct Fetched {
    page: u32,
    next: Option<(u32, u32)>,
    cap: Option<u32>,
    /// The page size timeouts brought the run down to, if they did.
    reduced: Option<u32>,
    result: Result<Page<TrackedEntity>>,
    errors: Vec<String>,
}

/// Which page to ask next, from what the pages gave. The end is an empty page: a page shorter
/// than asked may be the last one, or a server that caps the page size without saying so (its
/// pager echoing the size asked); the page after it tells which. A short page followed by more
/// records is a silent cap: from then on the run asks the cap's size, at the page that follows
/// what it holds. A smaller size in the pager (an honest cap) is adopted at once.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PagePlan {
    /// The page (1-based) to ask next.
    pub page: u32,
    /// The page size to ask.
    pub size: u32,
    /// The cap detected, if any.
    pub cap: Option<u32>,
    /// The size timeouts brought the paging down to ([`PagePlan::shrink`]), if they did.
    pub reduced: Option<u32>,
    /// Records received from offset 0 (as if contiguous): where a resized run goes on.
    covered: u64,
    /// The length of the last page when it was short.
    short: Option<u32>,
}

impl PagePlan {
    /// Paging from `page` at `size` (a resumed run: the pages before were full).
    pub fn new(page: u32, size: u32) -> PagePlan {
        let size = size.max(1);
        PagePlan {
            page: page.max(1),
            size,
            cap: None,
            reduced: None,
            covered: u64::from(page.max(1) - 1) * u64::from(size),
            short: None,
        }
    }

    /// After a page of `got` records (decoded or not) whose pager said `server_size`: the next
    /// page and size to ask, or `None` at the end.
    pub fn after(&mut self, got: usize, server_size: u32) -> Option<(u32, u32)> {
        if got == 0 {
            return None;
        }
        let got = u32::try_from(got).unwrap_or(u32::MAX);
        let mut resized = false;
        if server_size > 0 && server_size < self.size {
            self.size = server_size;
            resized = true;
        }
        if let Some(short) = self.short.take() {
            if short < self.size {
                self.size = short;
                resized = true;
            }
        }
        if resized {
            self.cap = Some(self.size);
        }
        self.covered += u64::from(got);
        if got < self.size {
            self.short = Some(got);
        }
        self.page = if resized {
            u32::try_from(self.covered / u64::from(self.size)).unwrap_or(u32::MAX - 1) + 1
        } else {
            self.page + 1
        };
        Some((self.page, self.size))
    }

    /// After a timeout on the page it asked: the same records again as a smaller page (about
    /// half, never below `floor`), at the same offset (a server too slow to compute, or a link
    /// too slow to carry, 500 records may manage 250). False when no smaller size fits.
    pub fn shrink(&mut self, floor: u32) -> bool {
        match smaller_page(self.page, self.size, floor) {
            Some((page, size)) => {
                self.covered = u64::from(page - 1) * u64::from(size);
                (self.page, self.size, self.reduced) = (page, size, Some(size));
                true
            }
            None => false,
        }
    }
}

impl Run<'_> {
    /// Pulls the program's tracked entities page by page into the store (resuming an
    /// interrupted run where it stopped), checks what the store holds against the server, then
    /// moves the watermark (unless a record is still missing).
    fn pull_tracked_entities(
        &self,
        report: &mut SyncReport,
        plan: &MappingPlan,
        guardrail: &mut Guardrail,
        info: &SystemInfo,
        cursor: SyncCursor,
    ) -> Result<()> {
        let mut cursor = cursor;
        let first_page = self.start_or_resume(report, info, &mut cursor)?;
        let query = TrackedEntityQuery {
            program: self.program_uid.to_string(),
            org_units: self.opts.org_units.clone(),
            updated_after: cursor.run_updated_after.clone(),
            include_deleted: true,
        };
        // A resumed run pages as the interrupted one did, or offsets would not line up.
        let page_size = cursor.run_page_size.unwrap_or(self.opts.page_size).max(1);
        let mut quarantine: HashSet<String> = self
            .store
            .quarantined(self.program_uid)?
            .into_iter()
            .map(|(uid, _)| uid)
            .collect();
        // A fetcher thread reads page n+1 while page n is stored: the run costs about the slower
        // of the two instead of their sum, and at most two pages are in memory. Only the storing
        // side commits (page and cursor together), so a kill loses at most what was not yet
        // committed.
        let (tx, rx) = std::sync::mpsc::sync_channel::<Fetched>(1);
        let paged = std::thread::scope(|scope| -> Result<()> {
            // Owned here so that an early return drops it and unblocks the fetcher before the join.
            let rx = rx;
            let query = &query;
            let fetcher = Fetcher {
                source: self.source,
                retry: self.retry,
                program_uid: self.program_uid,
                min_page_size: self.opts.min_page_size,
            };
            scope.spawn(move || fetcher.fetch_pages(query, first_page, page_size, tx));
            // One small extra request, only when someone shows progress; a failure just means
            // no total.
            let total = match &self.opts.progress.0 {
                Some(_) => self.source.tracked_entities_total(query).ok().flatten(),
                None => None,
            };
            let mut pages = StoredPages {
                report,
                plan,
                guardrail,
                cursor: &mut cursor,
                quarantine: &mut quarantine,
            };
            self.store_pages(rx, total, &mut pages)
        });
        if paged.is_err() && self.store.in_write_batch() {
            // A fetch failed: the pages stored before it are whole (each with its cursor); keep
            // them, as when every page committed alone, so the next run resumes after them.
            if self.store.end_write_batch(true).is_err() {
                let _ = self.store.end_write_batch(false);
            }
        }
        paged?;
        let full = self.opts.reconcile
            || (info.major_minor < (2, 41)
                && cursor.reconciled_at.as_deref().is_none_or(|r| {
                    hours_between(r, &info.server_date) >= full_listing_every_hours(info, self.opts)
                }));
        let mut pages = StoredPages {
            report,
            plan,
            guardrail,
            cursor: &mut cursor,
            quarantine: &mut quarantine,
        };
        let holds_window = self.check_completeness(&mut pages, &query, full)?;
        if full {
            cursor.reconciled_at = Some(info.server_date.clone());
        }
        // A record still missing keeps the watermark: the next run asks for the same window.
        let server_date = cursor.run_server_date.take();
        if holds_window {
            cursor.watermark = server_date;
        }
        cursor.run_updated_after = None;
        cursor.run_page_size = None;
        cursor.next_page = None;
        report.watermark = cursor.watermark.clone();
        self.store.set_sync_cursor(self.program_uid, &cursor)
    }

    /// The page to start at: where an interrupted run stopped, or page 1 of a new run (whose
    /// server date, `updatedAfter` and page size are fixed in the cursor first).
    fn start_or_resume(
        &self,
        report: &mut SyncReport,
        info: &SystemInfo,
        cursor: &mut SyncCursor,
    ) -> Result<u32> {
        if let (Some(_), Some(next)) = (&cursor.run_server_date, cursor.next_page) {
            report.resumed_from_page = Some(next);
            return Ok(next);
        }
        cursor.run_server_date = Some(info.server_date.clone());
        cursor.run_updated_after = cursor
            .watermark
            .as_deref()
            .map(|w| minus_seconds(w, self.opts.overlap_seconds));
        cursor.next_page = Some(1);
        cursor.run_page_size = Some(self.opts.page_size.max(1));
        self.store.set_sync_cursor(self.program_uid, cursor)?;
        Ok(1)
    }

    /// The storing side: each page arriving from the fetcher is stored with its cursor, in
    /// batches of about BATCH_RECORDS records (or BATCH_TIME) per commit.
    fn store_pages(
        &self,
        rx: std::sync::mpsc::Receiver<Fetched>,
        mut total: Option<u64>,
        pages: &mut StoredPages<'_>,
    ) -> Result<()> {
        let store = self.store;
        // Pages (each with its cursor) commit in batches of about BATCH_RECORDS records: a kill
        // loses at most one batch, which the cursor makes the resumed run fetch again; an error
        // commits what was stored before it.
        // On a slow link a batch also ends after BATCH_TIME, so a kill there loses seconds of
        // downloading, not minutes.
        let mut batched = 0usize;
        let mut batch_started = std::time::Instant::now();
        for fetched in rx.iter() {
            let page = fetched.page;
            pages.report.errors.extend(fetched.errors);
            let p = fetched.result?;
            pages.report.page_size_cap = pages.report.page_size_cap.or(fetched.cap);
            // After a timeout the fetcher pages smaller (same offsets): the cursor follows (the
            // next page's size travels with it), so a resumed run goes on with the size that
            // got through.
            if fetched.reduced.is_some() {
                pages.report.page_size_reduced_to = fetched.reduced;
            }
            if let Some((next, size)) = fetched.next {
                pages.cursor.next_page = Some(next);
                pages.cursor.run_page_size = Some(size);
            }
            let last = fetched.next.is_none();
            if !p.items.is_empty() || !p.rejected.is_empty() {
                pages.report.pages += 1;
                pages.report.bytes += p.bytes;
                pages.report.pulled += p.items.len() as u64;
                store.begin_write_batch()?;
                if let Err(e) = self.store_fetched(pages, &p) {
                    // Half a page must not commit: undo the batch (its cursor too; the next run
                    // fetches its pages again).
                    let _ = store.end_write_batch(false);
                    return Err(e.context(format!(
                        "storing page {page} of tracked entities of program {}",
                        self.program_uid
                    )));
                }
                batched += p.items.len().max(1);
            }
            if last || batched >= BATCH_RECORDS || batch_started.elapsed() >= BATCH_TIME {
                store.end_write_batch(true)?;
                batched = 0;
                batch_started = std::time::Instant::now();
            }
            if let Some(progress) = &self.opts.progress.0 {
                total = total.or(p.total);
                progress(pages.report.pulled, total);
            }
            if last {
                break;
            }
        }
        // The fetcher stopped early (an error, or the server's last page was a full one).
        store.end_write_batch(true)
    }

    /// Stores a page's records with the cursor, quarantines the records it could not decode and
    /// releases the quarantined ones that now decoded.
    fn store_fetched(&self, pages: &mut StoredPages<'_>, p: &Page<TrackedEntity>) -> Result<()> {
        let (store, program_uid) = (self.store, self.program_uid);
        store_page(
            store,
            pages.plan,
            pages.guardrail,
            &p.items,
            pages.cursor,
            pages.report,
        )?;
        store.in_transaction(|s| {
            for r in &p.rejected {
                if r.uid.is_empty() {
                    pages.report.partial_reasons.push(format!(
                        "a record without a readable UID could not be decoded: {}",
                        r.reason
                    ));
                    continue;
                }
                s.quarantine_put(program_uid, &r.uid, &r.reason)?;
                pages.quarantine.insert(r.uid.clone());
            }
            if !pages.quarantine.is_empty() {
                for te in &p.items {
                    if pages.quarantine.remove(&te.uid) {
                        s.quarantine_release(program_uid, &te.uid)?;
                    }
                }
            }
            Ok(())
        })
    }
}

/// What storing pages of one run needs besides the [`Run`]: its report, mapping, guardrail,
/// cursor and the UIDs in quarantine.
struct StoredPages<'a> {
    report: &'a mut SyncReport,
    plan: &'a MappingPlan,
    guardrail: &'a mut Guardrail,
    cursor: &'a mut SyncCursor,
    quarantine: &'a mut HashSet<String>,
}

/// The fetcher thread's share of a [`Run`] (the store stays on the storing thread).
struct Fetcher<'a> {
    source: &'a dyn Dhis2Source,
    retry: Retry<'a>,
    program_uid: &'a str,
    /// The floor of the page size after timeouts.
    min_page_size: u32,
}

impl Fetcher<'_> {
    /// The fetcher thread: pages from `first` on ([`PagePlan`]), each (with retries) sent to
    /// the storing side, until an empty page, an error, or the storing side hangs up. A timeout
    /// on a page makes the next attempt ask a smaller page at the same offset
    /// ([`PagePlan::shrink`]), and the run goes on at that size.
    fn fetch_pages(
        &self,
        query: &TrackedEntityQuery,
        first: u32,
        page_size: u32,
        tx: std::sync::mpsc::SyncSender<Fetched>,
    ) {
        let program_uid = self.program_uid;
        let mut plan = PagePlan::new(first, page_size);
        loop {
            let page = plan.page;
            let mut errors = Vec::new();
            let result = self.retry.call(
                &mut errors,
                &format!("fetching page {page} of tracked entities of program {program_uid}"),
                || {
                    let answer = self
                        .source
                        .tracked_entities_page(query, plan.page, plan.size);
                    if answer.as_ref().is_err_and(Dhis2Error::timed_out) {
                        plan.shrink(self.min_page_size);
                    }
                    answer
                },
            );
            // The page the answer is for (a timeout may have made it a smaller one).
            let page = plan.page;
            let next = match &result {
                Ok(p) => plan.after(p.items.len() + p.rejected.len(), p.page_size),
                Err(_) => None,
            };
            let fetched = Fetched {
                page,
                next,
                cap: plan.cap,
                reduced: plan.reduced,
                result,
                errors,
            };
            if tx.send(fetched).is_err() || next.is_none() {
                break;
            }
        }
    }
}

/// Records stored per commit of a sync run (whole pages: four of the default 500).
const BATCH_RECORDS: usize = 2000;

/// The longest a batch stays open: a slow server's pages still commit about once a second, so a
/// power cut costs at most that much downloading (a fast server fills BATCH_RECORDS first).
const BATCH_TIME: std::time::Duration = std::time::Duration::from_secs(1);

/// Stores one page of tracked entities with their card records and the cursor, in one
/// transaction: sensitive values are dropped (and counted), entities already stored with the same
/// `updatedAt` are skipped, deletions remove card records. Used by [`run`]; public for tests.
pub fn store_page(
    store: &Store,
    plan: &MappingPlan,
    guardrail: &mut Guardrail,
    items: &[TrackedEntity],
    cursor: &SyncCursor,
    report: &mut SyncReport,
) -> Result<()> {
    let program_uid = plan.program_uid.as_str();
    store.in_transaction(|s| {
        for te in items {
            let kept: Vec<(&str, &str, Option<&str>)> = te
                .attributes
                .iter()
                .filter(|a| {
                    guardrail.allows(&a.attribute, a.code.as_deref(), a.display_name.as_deref())
                })
                .map(|a| {
                    (
                        a.attribute.as_str(),
                        a.value.as_str(),
                        a.updated_at.as_deref(),
                    )
                })
                .collect();
            let values: Vec<(&str, &str)> = kept.iter().map(|(a, v, _)| (*a, *v)).collect();
            match s.write_tracked_entity(program_uid, &entity_row(te), &kept)? {
                EntityChange::Unchanged => continue,
                EntityChange::Created => report.created += 1,
                EntityChange::Updated => report.updated += 1,
                EntityChange::Deleted => {
                    report.deleted += 1;
                    continue;
                }
            }
            for e in te
                .enrollments
                .iter()
                .filter(|e| e.program == program_uid && !e.deleted)
            {
                let facts = EnrollmentFacts {
                    enrollment_uid: &e.uid,
                    tracked_entity_uid: &te.uid,
                    org_unit_uid: e.org_unit.as_deref(),
                    enrolled_at: e.enrolled_at.as_deref(),
                };
                let rec = plan.map(facts, &values);
                if s.upsert_card_record(&rec)
                    .with_context(|| format!("storing card record of enrollment {}", e.uid))?
                {
                    report.cards_changed += 1;
                }
            }
        }
        s.set_sync_cursor(program_uid, cursor)
    })
}

/// Tracked entities per page of the completeness listing: a UID and a date each, so large pages
/// stay small (DHIS2 2.36/2.37 ignore `fields` and send whole records: smaller pages there).
fn listing_page_size(major_minor: (u32, u32)) -> u32 {
    if major_minor < (2, 38) {
        1_000
    } else {
        5_000
    }
}

/// How often a run lists every UID on a server up to 2.40 (`reconcile_every_hours`). 2.36 and
/// 2.37 ignore `fields` and send whole records, so there a full listing is a full download
/// (~180 MB of JSON at 100,000 records): at most daily, whatever the option says.
fn full_listing_every_hours(info: &SystemInfo, opts: &SyncOptions) -> i64 {
    if info.major_minor < (2, 38) {
        opts.reconcile_every_hours.max(24)
    } else {
        opts.reconcile_every_hours
    }
}

/// UIDs per by-UID request batch (the client sends 100 per request).
const BY_UID_BATCH: usize = 500;

impl Run<'_> {
    /// Checks what the store holds against the server and closes the gaps: lists the run's
    /// window (or, `full`, every UID), marks deleted what the server lists deleted (and, `full`,
    /// what it no longer lists), fetches by UID what is missing, stale or quarantined. Records
    /// why the run is partial in the report; answers whether the store holds the whole window
    /// (the watermark may move).
    fn check_completeness(
        &self,
        pages: &mut StoredPages<'_>,
        query: &TrackedEntityQuery,
        full: bool,
    ) -> Result<bool> {
        let (store, program_uid) = (self.store, self.program_uid);
        let listing = TrackedEntityQuery {
            updated_after: if full {
                None
            } else {
                query.updated_after.clone()
            },
            // Servers up to 2.40 export no deletions: a full listing names the living only.
            include_deleted: !full,
            ..query.clone()
        };
        store.reconcile_begin()?;
        let started = Instant::now();
        let result = (|| -> Result<bool> {
            let counted = self.list_stamps(pages.report, &listing)?;
            let listed = store.reconcile_listed()?;
            pages.report.listed = listed;
            let mut holds_window = true;
            if let Some(counted) = counted.filter(|c| *c > listed) {
                holds_window = false;
                pages.report.partial_reasons.push(format!(
                    "the server counted {counted} tracked entities but listed {listed}"
                ));
            }
            let mut gone = store.reconcile_listed_deleted()?;
            if full {
                gone.extend(store.reconcile_missing(program_uid)?);
                pages.report.reconciled = true;
            }
            store.in_transaction(|s| {
                for uid in &gone {
                    s.mark_tracked_entity_deleted(uid)?;
                }
                Ok(())
            })?;
            pages.report.deleted += gone.len() as u64;
            let stale = store.reconcile_stale()?;
            let mut wanted = stale.clone();
            let stale_set: HashSet<&String> = stale.iter().collect();
            let quarantined: Vec<String> = pages.quarantine.iter().cloned().collect();
            wanted.extend(
                quarantined
                    .iter()
                    .filter(|u| !stale_set.contains(u))
                    .cloned(),
            );
            let (decoded, answered) = self.fetch_by_uid(pages, &wanted)?;
            // A quarantined record the server no longer has is gone, not missing.
            for uid in quarantined.iter().filter(|u| !answered.contains(*u)) {
                store.quarantine_release(program_uid, uid)?;
                pages.quarantine.remove(uid);
            }
            let missing: Vec<&String> = stale
                .iter()
                .filter(|u| !decoded.contains(*u) && !pages.quarantine.contains(*u))
                .collect();
            pages.report.missing = missing.len() as u64;
            if !missing.is_empty() {
                holds_window = false;
                pages.report.partial_reasons.push(format!(
                    "{} listed tracked entities could not be fetched (first: {})",
                    missing.len(),
                    missing[0]
                ));
            }
            let quarantine = store.quarantined(program_uid)?;
            pages.report.quarantined = quarantine.len() as u64;
            if !quarantine.is_empty() {
                pages.report.partial_reasons.push(format!(
                    "{} tracked entities could not be decoded and wait in quarantine",
                    quarantine.len()
                ));
            }
            pages.report.quarantine = quarantine
                .into_iter()
                .take(20)
                .map(|(uid, reason)| RejectedRecord { uid, reason })
                .collect();
            Ok(holds_window)
        })();
        pages.report.listing_seconds = (started.elapsed().as_secs_f64() * 1000.0).round() / 1000.0;
        store.reconcile_end()?;
        result
    }

    /// Pages through the listing of `query` into the store's listing set (in the pages' stable
    /// order, to an empty page, adapting to a capped page size); answers the server's count when
    /// it gave one.
    fn list_stamps(
        &self,
        report: &mut SyncReport,
        query: &TrackedEntityQuery,
    ) -> Result<Option<u64>> {
        let version = report
            .server_version
            .as_deref()
            .and_then(crate::dhis2::parse_version)
            .unwrap_or((2, 41));
        let mut plan = PagePlan::new(1, listing_page_size(version));
        let mut counted = None;
        loop {
            let (page, size) = (plan.page, plan.size);
            let p = self.retry.call(
                &mut report.errors,
                &format!(
                    "listing tracked entities of program {}: page {page}",
                    self.program_uid
                ),
                || {
                    self.source
                        .tracked_entity_stamps(query, page, size, counted.is_none())
                },
            )?;
            report.listing_pages += 1;
            report.bytes += p.bytes;
            counted = counted.or(Some(p.total));
            let stamps: Vec<(&str, Option<&str>, bool)> = p
                .items
                .iter()
                .map(|s| (s.uid.as_str(), s.updated_at.as_deref(), s.deleted))
                .collect();
            self.store.in_transaction(|s| s.reconcile_add(&stamps))?;
            if plan.after(p.items.len(), p.page_size).is_none() {
                break;
            }
            report.page_size_cap = report.page_size_cap.or(plan.cap);
        }
        Ok(counted.flatten())
    }

    /// Fetches `uids` by UID and stores what decodes (quarantining what does not); answers the
    /// UIDs the server returned decoded, and those it answered at all (decoded or not).
    fn fetch_by_uid(
        &self,
        pages: &mut StoredPages<'_>,
        uids: &[String],
    ) -> Result<(HashSet<String>, HashSet<String>)> {
        let mut got = HashSet::new();
        let mut answered = HashSet::new();
        for chunk in uids.chunks(BY_UID_BATCH) {
            let p = self.retry.call(
                &mut pages.report.errors,
                &format!(
                    "fetching {} tracked entities of program {} by UID",
                    chunk.len(),
                    self.program_uid
                ),
                || self.source.tracked_entities_by_uid(self.program_uid, chunk),
            )?;
            pages.report.fetched_by_uid += p.items.len() as u64;
            pages.report.bytes += p.bytes;
            got.extend(p.items.iter().map(|te| te.uid.clone()));
            answered.extend(p.items.iter().map(|te| te.uid.clone()));
            answered.extend(p.rejected.iter().map(|r| r.uid.clone()));
            self.store.begin_write_batch()?;
            if let Err(e) = self.store_fetched(pages, &p) {
                let _ = self.store.end_write_batch(false);
                return Err(e.context("storing tracked entities fetched by UID"));
            }
            self.store.end_write_batch(true)?;
        }
        Ok((got, answered))
    }
}

/// What the retries of one run cost, shared by its threads (the fetcher retries too); copied
/// into the report at the end, whether the run succeeded or not.
#[derive(Default)]
struct RetryTally {
    retries: AtomicU64,
    waited_ms: AtomicU64,
    rate_limited_ms: AtomicU64,
    failed_ms: AtomicU64,
}

impl RetryTally {
    fn write_to(&self, report: &mut SyncReport) {
        let secs = |a: &AtomicU64| a.load(Ordering::Relaxed) as f64 / 1000.0;
        report.retries = self.retries.load(Ordering::Relaxed);
        report.retry_wait_seconds = secs(&self.waited_ms);
        report.rate_limit_wait_seconds = secs(&self.rate_limited_ms);
        report.failed_attempt_seconds = secs(&self.failed_ms);
    }
}

/// Retries DHIS2 calls on errors that may pass, in three ways:
/// - a server that asks to wait (429, or 503 with `Retry-After`) is waited for exactly as long
///   as it asks (at least a second, at most `retry_after_cap`), or with a backoff from one
///   second when it does not say, within `rate_limit_budget` per call; these waits use no attempt;
/// - a server that gives no byte at all (refused, no route, connect or first-byte timeout)
///   is given up on after `dead_after` of such silence, whatever attempts remain;
/// - anything else retryable gets exponential backoff with jitter, `max_attempts` in all.
#[derive(Clone, Copy)]
struct Retry<'a> {
    max_attempts: u32,
    base_ms: u64,
    cap_ms: u64,
    retry_after_cap: Duration,
    rate_limit_budget: Duration,
    dead_after: Duration,
    tally: &'a RetryTally,
}

/// Where one call's retries stand.
#[derive(Default)]
struct Attempts {
    /// Attempts that count against `max_attempts` (everything but rate limits).
    counted: u32,
    /// Rate-limited answers so far, and what was waited for them.
    limited: u32,
    limited_wait: Duration,
    /// When the current run of answerless attempts began.
    silent_since: Option<Instant>,
}

impl<'a> Retry<'a> {
    fn new(opts: &SyncOptions, tally: &'a RetryTally) -> Retry<'a> {
        Retry {
            max_attempts: opts.max_attempts.max(1),
            base_ms: opts.backoff_base_ms,
            cap_ms: opts.backoff_cap_ms,
            retry_after_cap: Duration::from_secs(opts.retry_after_cap_secs),
            rate_limit_budget: Duration::from_secs(opts.rate_limit_budget_secs),
            dead_after: Duration::from_secs(opts.dead_after_secs.max(1)),
            tally,
        }
    }

    fn call<T>(
        &self,
        errors: &mut Vec<String>,
        what: &str,
        mut f: impl FnMut() -> Result<T, Dhis2Error>,
    ) -> Result<T> {
        let mut state = Attempts::default();
        loop {
            let started = Instant::now();
            let e = match f() {
                Ok(v) => return Ok(v),
                Err(e) => e,
            };
            add_ms(&self.tally.failed_ms, started.elapsed());
            if !is_retryable(&e) {
                return Err(anyhow!("{what}: {e}"));
            }
            let (wait, why) = self
                .next_wait(&e, started, &mut state)
                .map_err(|stop| anyhow!("{what}: {e} ({stop})"))?;
            if errors.len() < 50 {
                errors.push(format!(
                    "{what}: {e} (attempt {}, retried after {:.1} s{why})",
                    state.counted + state.limited,
                    wait.as_secs_f64()
                ));
            }
            self.tally.retries.fetch_add(1, Ordering::Relaxed);
            add_ms(&self.tally.waited_ms, wait);
            if e.is_rate_limit() {
                add_ms(&self.tally.rate_limited_ms, wait);
            }
            std::thread::sleep(wait);
        }
    }

    /// How long to wait before the next attempt after `e` (and why, for the log line), or why
    /// there is no next attempt.
    fn next_wait(
        &self,
        e: &Dhis2Error,
        started: Instant,
        state: &mut Attempts,
    ) -> Result<(Duration, &'static str), String> {
        if e.is_rate_limit() {
            state.silent_since = None;
            state.limited += 1;
            let (wait, why) = match e.retry_after() {
                Some(asked) if asked > self.retry_after_cap => {
                    return Err(format!(
                        "the server asks to come back in {} s, longer than kadi waits ({} s): the next run tries again",
                        asked.as_secs(),
                        self.retry_after_cap.as_secs()
                    ))
                }
                Some(asked) => (asked.max(Duration::from_secs(1)), " as the server asked"),
                None => (backoff(1000, 30_000, state.limited), ""),
            };
            if state.limited_wait + wait > self.rate_limit_budget {
                return Err(format!(
                    "rate-limited: waited {:.0} s already, kadi waits at most {} s per request",
                    state.limited_wait.as_secs_f64(),
                    self.rate_limit_budget.as_secs()
                ));
            }
            state.limited_wait += wait;
            return Ok((wait, why));
        }
        state.counted += 1;
        if state.counted >= self.max_attempts {
            return Err(format!("gave up after {} attempts", state.counted));
        }
        let wait = backoff(self.base_ms, self.cap_ms, state.counted);
        if e.no_answer() {
            let since = *state.silent_since.get_or_insert(started);
            if since.elapsed() + wait >= self.dead_after {
                return Err(format!(
                    "no answer at all for {:.0} s: the server or the link to it is down",
                    since.elapsed().as_secs_f64()
                ));
            }
        } else {
            state.silent_since = None;
        }
        Ok((wait, ""))
    }
}

fn add_ms(counter: &AtomicU64, d: Duration) {
    counter.fetch_add(d.as_millis() as u64, Ordering::Relaxed);
}

/// Which DHIS2 errors are worth another attempt: nothing answered, a 5xx, 408/429, a body cut
/// short. Never 401/403 (DHIS2 locks accounts) nor other 4xx (the request itself is wrong).
pub fn is_retryable(e: &Dhis2Error) -> bool {
    e.is_retryable()
}

/// The page and size that start at the same record as `page` of `size` with a smaller size
/// (about half, never below `floor`): offset paging only lines up when the new size divides
/// the records already fetched. `None` when no such size is left.
fn smaller_page(page: u32, size: u32, floor: u32) -> Option<(u32, u32)> {
    let offset = u64::from(page.max(1) - 1) * u64::from(size);
    (floor.max(1)..=size / 2)
        .rev()
        .find(|&s| offset % u64::from(s) == 0)
        .map(|s| ((offset / u64::from(s)) as u32 + 1, s))
}

/// Exponential backoff with jitter: a random delay in `[d/2, d]`, `d = min(cap, base * 2^(n-1))`.
pub fn backoff(base_ms: u64, cap_ms: u64, attempt: u32) -> Duration {
    let d = base_ms
        .saturating_mul(1u64 << attempt.saturating_sub(1).min(20))
        .min(cap_ms);
    Duration::from_millis(d / 2 + jitter(d / 2 + 1))
}

/// A random number in `[0, n)` (n > 0), from the OS.
pub fn jitter(n: u64) -> u64 {
    getrandom::u64().unwrap_or(0) % n.max(1)
}

const SERVER_DATE_FORMATS: [&str; 2] = ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S"];

fn parse_server_date(s: &str) -> Option<chrono::NaiveDateTime> {
    let s = s.trim().trim_end_matches('Z');
    let s = s.get(..23.min(s.len())).unwrap_or(s);
    SERVER_DATE_FORMATS
        .iter()
        .find_map(|f| chrono::NaiveDateTime::parse_from_str(s, f).ok())
}

/// A zone-less server date minus `seconds`, in DHIS2's format; unparseable dates stay as they are
/// (asking for more is safe, the de-duplication absorbs it).
fn minus_seconds(server_date: &str, seconds: i64) -> String {
    match parse_server_date(server_date) {
        Some(d) => (d - chrono::Duration::seconds(seconds))
            .format("%Y-%m-%dT%H:%M:%S%.3f")
            .to_string(),
        None => server_date.to_string(),
    }
}

fn hours_between(earlier: &str, later: &str) -> i64 {
    match (parse_server_date(earlier), parse_server_date(later)) {
        (Some(a), Some(b)) => (b - a).num_hours(),
        _ => i64::MAX,
    }
}

/// One enrollment in a preview (Oomus CampaignID `preview-enrollments` shape).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PreviewEnrollment {
    pub enrollment_id: String,
    pub enrollment_date: Option<String>,
    pub org_unit_name: Option<String>,
    /// Attribute code (or UID when it has none) -> value; sensitive attributes are never stored.
    pub attributes: BTreeMap<String, String>,
}

/// What `preview` answers.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PreviewReport {
    pub programme_uid: String,
    pub programme_name: Option<String>,
    pub total_enrollments: u64,
    pub preview: Vec<PreviewEnrollment>,
}

/// Previews the synced enrollments of a program under `org_unit`, enrolled between `from` and
/// `to` (`YYYY-MM-DD`, inclusive), newest first, at most `limit` (default 10). Reads the store
/// (what the last sync brought), so it works offline.
pub fn preview(
    store: &Store,
    program_uid: &str,
    org_unit: Option<&str>,
    from: Option<&str>,
    to: Option<&str>,
    limit: Option<u32>,
) -> Result<PreviewReport> {
    // An unknown program is an error, not "0 enrollments" that reads like an answer.
    let program = store.require_program(program_uid)?;
    for d in [from, to].into_iter().flatten() {
        chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").with_context(|| {
            format!(
                "date '{}' is not YYYY-MM-DD",
                crate::output::escape_log(d, 40)
            )
        })?;
    }
    let attrs = store.program_attributes(program_uid)?;
    let label = |uid: &str| {
        attrs
            .iter()
            .find(|a| a.attribute_uid == uid)
            .and_then(|a| a.code.clone())
            .unwrap_or_else(|| uid.to_string())
    };
    let total = store.count_enrollments(program_uid, org_unit, from, to)?;
    let rows = store.preview_enrollments(program_uid, org_unit, from, to, limit.unwrap_or(10))?;
    Ok(PreviewReport {
        programme_uid: program_uid.to_string(),
        programme_name: Some(program.name),
        total_enrollments: total,
        preview: rows
            .into_iter()
            .map(|(e, ou)| PreviewEnrollment {
                enrollment_id: e.enrollment_uid,
                enrollment_date: e
                    .enrolled_at
                    .as_deref()
                    .and_then(|d| d.get(..10))
                    .map(str::to_string),
                org_unit_name: ou,
                attributes: e
                    .attributes
                    .iter()
                    .map(|(a, v)| (label(a), v.clone()))
                    .collect(),
            })
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_overlap_is_taken_off_the_server_date_without_a_zone() {
        assert_eq!(
            minus_seconds("2026-11-23T09:00:00.000", 300),
            "2026-11-23T08:55:00.000"
        );
        assert_eq!(
            minus_seconds("2026-11-23T09:00:00", 60),
            "2026-11-23T08:59:00.000"
        );
        assert_eq!(minus_seconds("garbage", 60), "garbage");
    }

    #[test]
    fn backoff_doubles_with_jitter_and_stops_at_the_cap() {
        for attempt in 1..10 {
            let d = backoff(100, 2_000, attempt).as_millis() as u64;
            let full = (100u64 << (attempt - 1)).min(2_000);
            assert!(
                d >= full / 2 && d <= full + 1,
                "attempt {attempt}: {d} not in [{}, {full}]",
                full / 2
            );
        }
    }

    #[test]
    fn every_uid_is_listed_at_every_run_up_to_2_40_but_daily_where_a_listing_is_a_download() {
        let info = |mm: (u32, u32)| SystemInfo {
            version: String::new(),
            major_minor: mm,
            server_date: String::new(),
        };
        let opts = SyncOptions::default();
        assert_eq!(full_listing_every_hours(&info((2, 40)), &opts), 0);
        assert_eq!(full_listing_every_hours(&info((2, 38)), &opts), 0);
        assert_eq!(full_listing_every_hours(&info((2, 37)), &opts), 24);
        let weekly = SyncOptions {
            reconcile_every_hours: 168,
            ..Default::default()
        };
        assert_eq!(full_listing_every_hours(&info((2, 36)), &weekly), 168);
    }

    #[test]
    fn paging_ends_on_an_empty_page_and_adopts_a_silent_cap() {
        // An honest server: full pages, a short one, then the empty page that proves the end.
        let mut p = PagePlan::new(1, 50);
        assert_eq!(p.after(50, 50), Some((2, 50)));
        assert_eq!(p.after(7, 50), Some((3, 50)), "a short page is not the end");
        assert_eq!(p.after(0, 50), None);
        assert_eq!(p.cap, None);
        // Asked 500, got 200 with the pager echoing 500: the next page tells a cap from the end.
        let mut p = PagePlan::new(1, 500);
        assert_eq!(p.after(200, 500), Some((2, 500)));
        assert_eq!(p.after(200, 500), Some((3, 200)), "400 held: page 3 of 200");
        assert_eq!(p.cap, Some(200));
        assert_eq!(p.after(200, 500), Some((4, 200)));
        assert_eq!(p.after(31, 500), Some((5, 200)));
        assert_eq!(p.after(0, 500), None);
        // A cap the pager admits is adopted at once.
        let mut p = PagePlan::new(1, 500);
        assert_eq!(p.after(100, 100), Some((2, 100)));
        // A resumed run goes on where it stopped.
        let mut p = PagePlan::new(4, 50);
        assert_eq!(p.after(50, 50), Some((5, 50)));
    }

    #[test]
    fn a_smaller_page_starts_at_the_same_record() {
        assert_eq!(smaller_page(1, 500, 50), Some((1, 250)));
        assert_eq!(smaller_page(3, 500, 50), Some((5, 250)));
        // 125 does not halve: page 3 of 125 starts at record 250, page 6 of 50 too.
        assert_eq!(smaller_page(3, 125, 50), Some((6, 50)));
        assert_eq!(smaller_page(1, 125, 50), Some((1, 62)));
        assert_eq!(smaller_page(2, 60, 50), None);
        assert_eq!(smaller_page(4, 1, 1), None);
        for (page, size) in [(7, 500), (2, 333), (9, 97)] {
            if let Some((p, s)) = smaller_page(page, size, 10) {
                assert_eq!((p - 1) * s, (page - 1) * size);
                assert!(s <= size / 2);
            }
        }
    }

    #[test]
    fn a_timeout_shrinks_the_plan_at_the_same_offset_and_a_cap_still_follows() {
        let mut p = PagePlan::new(1, 500);
        assert_eq!(p.after(500, 500), Some((2, 500)));
        assert_eq!(p.after(500, 500), Some((3, 500)));
        assert!(p.shrink(50), "page 3 of 500 times out");
        assert_eq!((p.page, p.size, p.reduced), (5, 250, Some(250)));
        assert_eq!(p.cap, None, "a timeout is not a cap");
        assert_eq!(p.after(250, 250), Some((6, 250)));
        // The server then caps silently at 100 (pager echoing 250): still detected.
        assert_eq!(p.after(100, 250), Some((7, 250)));
        assert_eq!(
            p.after(100, 250),
            Some((15, 100)),
            "1,450 held: page 15 of 100"
        );
        assert_eq!(p.cap, Some(100));
        let mut floor = PagePlan::new(2, 60);
        assert!(
            !floor.shrink(50),
            "no size between 50 and 30 starts at record 60"
        );
        assert_eq!((floor.page, floor.size, floor.reduced), (2, 60, None));
    }

    /// A store with the fake's metadata and the demo mapping.
    #[cfg(feature = "demo")]
    fn mapped_store(dir: &std::path::Path, fake: &fake::FakeDhis2) -> Store {
        let store = Store::open(&dir.join("kadi.db")).unwrap();
        refresh_metadata_from(&store, fake, crate::sim::PROGRAM_UID).unwrap();
        crate::mapping::set_mapping(&store, &Actor::Cli, &crate::demo::demo_mapping()).unwrap();
        store
    }

    #[cfg(feature = "demo")]
    #[test]
    fn a_truncated_page_is_retried_by_its_variant_and_an_auth_failure_ends_the_run_at_once() {
        use fake::{Call, FakeDhis2};
        let dir = tempfile::tempdir().unwrap();
        let fake = FakeDhis2::new("2.41", 30, 3).unwrap();
        let store = mapped_store(dir.path(), &fake);
        let opts = SyncOptions {
            page_size: 10,
            backoff_base_ms: 1,
            backoff_cap_ms: 2,
            ..Default::default()
        };
        // The text says nothing of truncation: the variant decides.
        fake.fail_next(
            Call::TrackedEntitiesPage,
            Dhis2Error::Truncated("cut".into()),
        );
        let r = run_from(&store, &fake, crate::sim::PROGRAM_UID, &opts).unwrap();
        assert_eq!((r.status, r.created), (RunStatus::Ok, 30));
        assert_eq!(fake.calls(Call::TrackedEntitiesPage), 4 + 1, "one retry");

        let before = fake.calls(Call::TrackedEntitiesPage);
        fake.fail_next(
            Call::TrackedEntitiesPage,
            Dhis2Error::AuthFailed("401".into()),
        );
        let (r, result) = run_from_with_report(&store, &fake, crate::sim::PROGRAM_UID, &opts);
        assert!(result.is_err());
        assert_eq!(r.status, RunStatus::Failed);
        assert_eq!(
            fake.calls(Call::TrackedEntitiesPage),
            before + 1,
            "never retried"
        );
        assert_eq!(store.sync_runs(1).unwrap()[0].status, "failed");
    }

    #[test]
    fn run_statuses_keep_their_stored_and_json_forms() {
        for (s, text) in [
            (RunStatus::Running, "running"),
            (RunStatus::Ok, "ok"),
            (RunStatus::Partial, "partial"),
            (RunStatus::Failed, "failed"),
            (RunStatus::Interrupted, "interrupted"),
        ] {
            assert_eq!(s.as_sql(), text);
            assert_eq!(serde_json::to_value(s).unwrap(), text);
        }
    }

    #[test]
    fn only_transient_errors_are_retried() {
        assert!(is_retryable(&Dhis2Error::Unreachable("x".into())));
        assert!(is_retryable(&Dhis2Error::Rejected {
            status: 503,
            message: "x".into()
        }));
        assert!(is_retryable(&Dhis2Error::Rejected {
            status: 429,
            message: "x".into()
        }));
        assert!(!is_retryable(&Dhis2Error::Rejected {
            status: 409,
            message: "x".into()
        }));
        assert!(!is_retryable(&Dhis2Error::AuthFailed("x".into())));
    }
}
