//! The automatic sync schedule: every 10/15/30/60/180 minutes per program, opportunistic (a cheap
//! probe decides whether DHIS2 is reachable; unreachable means a backed-off wait, not an error),
//! with jitter so thousands of boxes reconnecting together do not hammer the server.
//!
//! `kadi serve` starts a [`Scheduler`] (its own thread and database connection); [`scheduler_tick`]
//! does one pass. The box clock has no battery behind it, so a planned run is judged against it
//! with care: a run in the past is simply due, and one further ahead than an interval and its
//! jitter (planned while the clock read, say, 2031) is planned again from now.
use super::sync_program;
use crate::actor::Actor;
use crate::clock::{format_utc as fmt, parse_utc as parse};
use crate::store::sync_data::SyncSchedule;
use crate::store::Store;
use crate::sync::{jitter, SyncOptions, SyncReport};
use anyhow::{bail, Result};
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Intervals a schedule may use, in minutes.
pub const INTERVALS: [u32; 5] = [10, 15, 30, 60, 180];

/// How long to wait after a failed probe before probing again.
const PROBE_RETRY_MINUTES: i64 = 5;

/// Pause between two scheduler passes.
const TICK_SECONDS: u64 = 30;

/// What `kadi schedule set` answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ScheduleReport {
    pub program_uid: String,
    pub interval_minutes: u32,
    pub enabled: bool,
    pub auto_generate_cards: bool,
    /// When the next run is due (UTC), `null` when disabled.
    pub next_sync: Option<String>,
}

/// Seconds of jitter added to an interval: up to a tenth of it.
fn spread_seconds(interval_minutes: u32) -> u64 {
    (interval_minutes as u64) * 6
}

/// The next run after `now`: one interval later plus up to a tenth of it at random, so boxes
/// configured at the same moment drift apart.
fn next_after(now: DateTime<Utc>, interval_minutes: u32) -> DateTime<Utc> {
    let spread = spread_seconds(interval_minutes);
    now + Duration::minutes(interval_minutes as i64) + Duration::seconds(jitter(spread + 1) as i64)
}

/// Whether a planned run lies further ahead of `now` than any plan made at `now` could (an
/// interval, its jitter, a probe's back-off and a minute of slack): it was planned under a wrong
/// clock.
fn implausibly_far(next: DateTime<Utc>, now: DateTime<Utc>, interval_minutes: u32) -> bool {
    let longest = Duration::minutes((interval_minutes as i64).max(PROBE_RETRY_MINUTES + 2))
        + Duration::seconds(spread_seconds(interval_minutes) as i64)
        + Duration::minutes(1);
    next > now + longest
}

/// Sets (and audits) a program's schedule; returns when the next run is due. A program that never
/// synced is due at once: a box set up to sync should not wait an interval for its first data.
pub fn set_schedule(
    store: &Store,
    actor: &Actor,
    program_uid: &str,
    interval_minutes: u32,
    enabled: bool,
    auto_generate_cards: bool,
) -> Result<ScheduleReport> {
    if !INTERVALS.contains(&interval_minutes) {
        bail!(
            "interval {interval_minutes} is not allowed: choose one of 10, 15, 30, 60, 180 minutes"
        );
    }
    let now = Utc::now();
    let first = !store.program_ever_synced(program_uid)?;
    let next = enabled.then(|| {
        fmt(if first {
            now
        } else {
            next_after(now, interval_minutes)
        })
    });
    store.set_sync_schedule(
        actor.as_str(),
        &SyncSchedule {
            program_uid: program_uid.to_string(),
            interval_minutes,
            enabled,
            auto_generate_cards,
            next_sync_at: next.clone(),
        },
    )?;
    Ok(ScheduleReport {
        program_uid: program_uid.to_string(),
        interval_minutes,
        enabled,
        auto_generate_cards,
        next_sync: next,
    })
}

/// A schedule change as `POST /dhis2/sync-schedule`, the schedule page and `kadi schedule set`
/// give it. Missing fields keep what is stored (or the defaults: every 60 minutes, enabled, no
/// automatic cards); `enabled: false` is "off".
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
pub struct ScheduleRequest {
    /// The program (default: the configured programme, else the only mapped program).
    #[serde(default, alias = "program_uid")]
    pub programme_uid: Option<String>,
    /// 10, 15, 30, 60 or 180.
    #[serde(default)]
    pub interval_minutes: Option<u32>,
    #[serde(default)]
    pub enabled: Option<bool>,
    #[serde(default)]
    pub auto_generate_cards: Option<bool>,
}

/// The program a schedule is for: the one asked for (it must be known), else the configured
/// programme, else the only mapped program.
pub fn schedule_program(store: &Store, asked: Option<&str>) -> Result<String> {
    if let Some(p) = asked.map(str::trim).filter(|p| !p.is_empty()) {
        return Ok(store.require_program(p)?.uid);
    }
    if let Some(p) = store.dhis2_connection()?.and_then(|c| c.programme_uid) {
        return Ok(store.require_program(&p)?.uid);
    }
    match store.mapped_programs()?.as_slice() {
        [one] => Ok(one.clone()),
        [] => bail!(
            "which program? give programme_uid (no programme is configured and none is mapped)"
        ),
        many => bail!(
            "several programs are mapped ({}): give programme_uid",
            many.join(", ")
        ),
    }
}

/// Applies a [`ScheduleRequest`] through [`set_schedule`] (validated, audited): what the API, the
/// page and the command line call. The scheduler reads the stored schedule at its next pass.
pub fn apply_schedule(
    store: &Store,
    actor: &Actor,
    req: &ScheduleRequest,
) -> Result<ScheduleReport> {
    let program = schedule_program(store, req.programme_uid.as_deref())?;
    let current = store.sync_schedule(&program)?;
    let interval = req
        .interval_minutes
        .or(current.as_ref().map(|c| c.interval_minutes))
        .unwrap_or(60);
    let enabled = req.enabled.unwrap_or(true);
    let auto = req
        .auto_generate_cards
        .or(current.as_ref().map(|c| c.auto_generate_cards))
        .unwrap_or(false);
    set_schedule(store, actor, &program, interval, enabled, auto)
}

/// One scheduler pass: for each enabled schedule that is due, probe DHIS2; when it answers, sync
/// and plan the next run one interval later; when it does not, wait a few minutes (with jitter).
/// Returns the reports of the runs it made.
pub fn scheduler_tick(store: &Store) -> Result<Vec<SyncReport>> {
    scheduler_tick_with(store, &|_, _, _| Ok(0))
}

/// What to do after a scheduled run of a schedule with `auto_generate_cards`: render the
/// program's new and changed cards and answer how many were rendered (`kadi serve` passes
/// [`super::cards_after_sync`]).
pub type AfterSync<'a> = dyn Fn(&Store, &SyncSchedule, &SyncReport) -> Result<u64> + 'a;

/// [`scheduler_tick`], calling `after_sync` after each successful run whose schedule has
/// `auto_generate_cards` on. Its count goes into the run's report (`cards_rendered`) and the audit
/// trail (actor `scheduler`); its failure into the run's errors, never fatal.
pub fn scheduler_tick_with(store: &Store, after_sync: &AfterSync<'_>) -> Result<Vec<SyncReport>> {
    scheduler_tick_at(store, Utc::now(), after_sync)
}

/// [`scheduler_tick_with`] as if the box clock read `now` (tests move the clock).
pub fn scheduler_tick_at(
    store: &Store,
    now: DateTime<Utc>,
    after_sync: &AfterSync<'_>,
) -> Result<Vec<SyncReport>> {
    let mut reports = Vec::new();
    for s in store.sync_schedules()? {
        if !s.enabled {
            continue;
        }
        let next = s.next_sync_at.as_deref().and_then(parse);
        if let Some(t) = next.filter(|t| implausibly_far(*t, now, s.interval_minutes)) {
            // Planned while the clock read a later date than it does now: plan again from now.
            let again = fmt(next_after(now, s.interval_minutes));
            eprintln!(
                "kadi: scheduler: next sync of {} was planned for {}, implausibly far ahead; planned again for {again}",
                escape(&s.program_uid),
                fmt(t)
            );
            store.set_next_sync_at(&s.program_uid, &again)?;
            store.audit(
                Actor::Scheduler.as_str(),
                "sync.schedule.replanned",
                Some(&s.program_uid),
                Some(&serde_json::json!({ "next_sync_at": fmt(t) }).to_string()),
                Some(&serde_json::json!({ "next_sync_at": again, "clock": fmt(now) }).to_string()),
            )?;
            continue;
        }
        if next.is_some_and(|t| t > now) {
            continue;
        }
        // The probe is one small request with a short timeout: an offline box waits, quietly.
        let reachable = crate::link::client_from_store(store).ok().and_then(|c| {
            c.with_timeout(std::time::Duration::from_secs(5))
                .system_info()
                .ok()
        });
        let Some(info) = reachable else {
            let wait = now
                + Duration::minutes(PROBE_RETRY_MINUTES)
                + Duration::seconds(jitter(120) as i64);
            store.set_next_sync_at(&s.program_uid, &fmt(wait))?;
            continue;
        };
        store.record_server_date(&info.server_date)?;
        let opts = SyncOptions {
            actor: Actor::Scheduler,
            ..SyncOptions::default()
        };
        let (mut report, result) = sync_program(store, &s.program_uid, &opts);
        if let Err(e) = &result {
            // The run's row holds the whole report; the log says that something needs a look.
            eprintln!(
                "kadi: scheduler: sync of {} failed: {}",
                escape(&s.program_uid),
                escape(&format!("{e:#}"))
            );
        }
        if result.is_ok() && s.auto_generate_cards {
            generate_cards_after(store, &s, &mut report, after_sync)?;
        }
        store.set_next_sync_at(
            &s.program_uid,
            &fmt(next_after(Utc::now().max(now), s.interval_minutes)),
        )?;
        reports.push(report);
    }
    Ok(reports)
}

/// Runs the card hook after a scheduled sync, then amends the run's stored report with what it
/// did and audits it.
fn generate_cards_after(
    store: &Store,
    schedule: &SyncSchedule,
    report: &mut SyncReport,
    after_sync: &AfterSync<'_>,
) -> Result<()> {
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        after_sync(store, schedule, report)
    }))
    .unwrap_or_else(|_| Err(anyhow::anyhow!("internal error: card generation panicked")));
    let detail = match &outcome {
        Ok(n) => {
            report.cards_rendered = Some(*n);
            serde_json::json!({ "program_uid": schedule.program_uid, "run_id": report.run_id, "cards_rendered": n })
        }
        Err(e) => {
            let msg = format!("generating cards after sync: {e:#}");
            eprintln!("kadi: scheduler: {}", escape(&msg));
            report.errors.push(msg.clone());
            serde_json::json!({ "program_uid": schedule.program_uid, "run_id": report.run_id, "error": msg })
        }
    };
    if let Some(run_id) = report.run_id {
        store.amend_sync_run_report(run_id, &serde_json::to_string(report)?)?;
    }
    store.audit(
        Actor::Scheduler.as_str(),
        "cards.auto_generate",
        Some(&schedule.program_uid),
        None,
        Some(&detail.to_string()),
    )
}

/// A message made safe for a log line (one escaping for every log kadi writes: see
/// [`crate::output::escape_log`]); a DHIS2 error can quote a whole HTML page, so it is bounded.
fn escape(s: &str) -> String {
    crate::output::escape_log(s, 2000)
}

/// Runs the scheduler until `stop` is set: a tick, then a pause of about 30 s. Opens its own
/// connection to `db`.
pub fn scheduler_loop(db: &Path, stop: &AtomicBool) -> Result<()> {
    scheduler_loop_with(db, stop, &|_, _, _| Ok(0))
}

/// [`scheduler_loop`] with an [`AfterSync`] hook for `auto_generate_cards`. A failing pass (or a
/// database that cannot be opened) is logged and tried again at the next pass: the scheduler of
/// an unattended box never gives up.
pub fn scheduler_loop_with(db: &Path, stop: &AtomicBool, after_sync: &AfterSync<'_>) -> Result<()> {
    loop_every(
        db,
        stop,
        after_sync,
        std::time::Duration::from_secs(TICK_SECONDS),
    );
    Ok(())
}

/// The scheduler loop with its pause between passes (tests use a short one).
fn loop_every(
    db: &Path,
    stop: &AtomicBool,
    after_sync: &AfterSync<'_>,
    pause: std::time::Duration,
) {
    let mut store: Option<Store> = None;
    while !stop.load(Ordering::Relaxed) {
        if store.is_none() {
            match Store::open(db) {
                Ok(s) => store = Some(s),
                Err(e) => eprintln!("kadi: scheduler: {}", escape(&format!("{e:#}"))),
            }
        }
        if let Some(s) = &store {
            let pass = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                scheduler_tick_with(s, after_sync)
            }));
            match pass {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => eprintln!("kadi: scheduler: {}", escape(&format!("{e:#}"))),
                Err(_) => {
                    eprintln!(
                        "kadi: scheduler: internal error: a pass panicked; reopening the database"
                    );
                    store = None;
                }
            }
        }
        // Sleep in short steps so a stop is honoured within a fraction of a second.
        let until = std::time::Instant::now() + pause;
        while !stop.load(Ordering::Relaxed) && std::time::Instant::now() < until {
            std::thread::sleep(std::time::Duration::from_millis(100).min(pause));
        }
    }
}

/// A scheduler running on its own thread (what `kadi serve` starts unless `--no-scheduler`).
pub struct Scheduler {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// The [`AfterSync`] hook a [`Scheduler`] thread owns.
pub type OwnedAfterSync =
    Box<dyn Fn(&Store, &SyncSchedule, &SyncReport) -> Result<u64> + Send + 'static>;

impl Scheduler {
    /// Starts the scheduler on a thread with its own connection to `db`; its first pass runs at
    /// once, so a due schedule syncs right after start.
    pub fn spawn(db: &Path, after_sync: OwnedAfterSync) -> Result<Scheduler> {
        Scheduler::spawn_every(db, after_sync, std::time::Duration::from_secs(TICK_SECONDS))
    }

    fn spawn_every(
        db: &Path,
        after_sync: OwnedAfterSync,
        pause: std::time::Duration,
    ) -> Result<Scheduler> {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let db: PathBuf = db.to_path_buf();
        let thread = std::thread::Builder::new()
            .name("kadi-scheduler".into())
            .spawn(move || loop_every(&db, &flag, after_sync.as_ref(), pause))
            .map_err(|e| anyhow::anyhow!("starting the scheduler thread: {e}"))?;
        Ok(Scheduler {
            stop,
            thread: Some(thread),
        })
    }

    /// Asks the scheduler to stop and waits up to `grace` for it: between passes it stops within
    /// a second; a sync in flight is left to the process's exit (its run is then recognised as
    /// interrupted and resumed by the next one).
    pub fn stop(mut self, grace: std::time::Duration) {
        self.stop.store(true, Ordering::Relaxed);
        let deadline = std::time::Instant::now() + grace;
        if let Some(t) = self.thread.take() {
            while !t.is_finished() && std::time::Instant::now() < deadline {
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            if t.is_finished() {
                let _ = t.join();
            }
        }
    }
}

impl Drop for Scheduler {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Records one finished sync of the program, as a run would.
    fn one_ok_run(store: &Store, program: &str) {
        let run = store
            .begin_sync_run(program, &crate::sync::holder::this_process(), &|_| false)
            .unwrap()
            .unwrap();
        store.finish_sync_run(run, "ok", "{}").unwrap();
    }

    #[test]
    fn only_the_five_intervals_are_accepted_and_next_sync_is_one_interval_away() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("kadi.db")).unwrap();
        let err = set_schedule(&store, &Actor::Cli, "P3jJH5Tu5VC", 20, true, false)
            .unwrap_err()
            .to_string();
        assert!(err.contains("10, 15, 30, 60, 180"), "{err}");
        // Never synced: due at once.
        let before = Utc::now();
        let first = set_schedule(&store, &Actor::Cli, "P3jJH5Tu5VC", 30, true, true).unwrap();
        let first = parse(first.next_sync.as_deref().unwrap()).unwrap();
        assert!(first <= Utc::now() && first >= before - Duration::seconds(1));
        one_ok_run(&store, "P3jJH5Tu5VC");
        let before = Utc::now();
        let r = set_schedule(&store, &Actor::Cli, "P3jJH5Tu5VC", 30, true, true).unwrap();
        let next = parse(r.next_sync.as_deref().unwrap()).unwrap();
        assert!(next >= before + Duration::minutes(30) - Duration::seconds(1));
        assert!(next <= before + Duration::minutes(33) + Duration::seconds(2));
        assert_eq!(
            store
                .sync_schedule("P3jJH5Tu5VC")
                .unwrap()
                .unwrap()
                .interval_minutes,
            30
        );
        let disabled = set_schedule(&store, &Actor::Cli, "P3jJH5Tu5VC", 60, false, false).unwrap();
        assert_eq!(disabled.next_sync, None);
    }

    #[test]
    fn a_next_run_planned_under_a_clock_far_ahead_is_planned_again_and_one_in_the_past_is_due() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("kadi.db")).unwrap();
        one_ok_run(&store, "P3jJH5Tu5VC");
        set_schedule(&store, &Actor::Cli, "P3jJH5Tu5VC", 60, true, false).unwrap();
        // Planned while the clock read 2031.
        store
            .set_next_sync_at("P3jJH5Tu5VC", "2031-05-05T10:00:00Z")
            .unwrap();
        let now = parse("2026-12-04T10:00:00Z").unwrap();
        let next_of = |store: &Store| {
            parse(
                &store
                    .sync_schedule("P3jJH5Tu5VC")
                    .unwrap()
                    .unwrap()
                    .next_sync_at
                    .unwrap(),
            )
            .unwrap()
        };
        assert!(scheduler_tick_at(&store, now, &|_, _, _| Ok(0))
            .unwrap()
            .is_empty());
        let next = next_of(&store);
        assert!(next >= now + Duration::minutes(60), "{next}");
        assert!(
            next <= now + Duration::minutes(66) + Duration::seconds(1),
            "{next}"
        );
        // A plan within one interval and its jitter stands.
        assert!(scheduler_tick_at(&store, now, &|_, _, _| Ok(0))
            .unwrap()
            .is_empty());
        assert_eq!(next_of(&store), next);
        // A plan in the past (the clock jumped forward) is due: with no server configured the
        // probe fails and the run waits a few minutes after now.
        let later = now + Duration::days(400);
        scheduler_tick_at(&store, later, &|_, _, _| Ok(0)).unwrap();
        let retry = next_of(&store);
        assert!(
            retry > later && retry <= later + Duration::minutes(8),
            "{retry}"
        );
    }

    #[test]
    fn a_scheduler_thread_runs_at_once_survives_failing_passes_and_stops_promptly() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("kadi.db");
        let store = Store::open(&db).unwrap();
        // Every pass fails while the schedule table is missing.
        store
            .conn()
            .execute_batch("ALTER TABLE sync_schedule RENAME TO sync_schedule_away")
            .unwrap();
        let scheduler = Scheduler::spawn_every(
            &db,
            Box::new(|_, _, _| Ok(0)),
            std::time::Duration::from_millis(100),
        )
        .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(400));
        // The table comes back with a due schedule (no server configured: the probe fails and
        // the run is put off a few minutes, which shows a pass ran).
        store
            .conn()
            .execute_batch("ALTER TABLE sync_schedule_away RENAME TO sync_schedule")
            .unwrap();
        one_ok_run(&store, "P3jJH5Tu5VC");
        set_schedule(&store, &Actor::Cli, "P3jJH5Tu5VC", 10, true, false).unwrap();
        store
            .set_next_sync_at("P3jJH5Tu5VC", "2020-01-01T00:00:00Z")
            .unwrap();
        let start = std::time::Instant::now();
        let moved = loop {
            let next = store
                .sync_schedule("P3jJH5Tu5VC")
                .unwrap()
                .unwrap()
                .next_sync_at
                .unwrap();
            if next.as_str() > "2021" || start.elapsed() > std::time::Duration::from_secs(10) {
                break next;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        };
        assert!(
            moved.as_str() > "2021",
            "the scheduler gave up after failing passes"
        );
        let stopping = std::time::Instant::now();
        scheduler.stop(std::time::Duration::from_secs(5));
        assert!(stopping.elapsed() < std::time::Duration::from_secs(1));
    }

    #[test]
    fn log_lines_escape_control_characters() {
        assert_eq!(escape("a\nb\u{1b}[2Jc"), "a\\nb\\x1b[2Jc");
        assert_eq!(escape("plain é"), "plain é");
    }

    #[test]
    fn an_unreachable_server_postpones_the_run_instead_of_failing() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("kadi.db")).unwrap();
        set_schedule(&store, &Actor::Cli, "P3jJH5Tu5VC", 10, true, false).unwrap();
        store
            .set_next_sync_at("P3jJH5Tu5VC", "2020-01-01T00:00:00Z")
            .unwrap();
        let reports = scheduler_tick(&store).unwrap();
        assert!(reports.is_empty());
        let next = parse(
            &store
                .sync_schedule("P3jJH5Tu5VC")
                .unwrap()
                .unwrap()
                .next_sync_at
                .unwrap(),
        )
        .unwrap();
        assert!(next > Utc::now() + Duration::minutes(4));
    }
}
