//! The automatic sync schedule: every 10/15/30/60/180 minutes per program, opportunistic (a cheap
//! probe decides whether DHIS2 is reachable; unreachable means a backed-off wait, not an error),
//! with jitter so thousands of boxes reconnecting together do not hammer the server.
//! `kadi serve` runs [`scheduler_loop`] on a thread; [`scheduler_tick`] does one pass.
use super::{jitter, run_with_report, SyncOptions, SyncReport};
use crate::store::sync_data::SyncSchedule;
use crate::store::Store;
use anyhow::{bail, Result};
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

/// Intervals a schedule may use, in minutes.
pub const INTERVALS: [u32; 5] = [10, 15, 30, 60, 180];

/// How long to wait after a failed probe before probing again.
const PROBE_RETRY_MINUTES: i64 = 5;

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

fn fmt(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn parse(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// The next run after `now`: one interval later plus up to a tenth of it at random, so boxes
/// configured at the same moment drift apart.
fn next_after(now: DateTime<Utc>, interval_minutes: u32) -> DateTime<Utc> {
    let spread = (interval_minutes as u64) * 6; // a tenth of the interval, in seconds
    now + Duration::minutes(interval_minutes as i64) + Duration::seconds(jitter(spread + 1) as i64)
}

/// Sets (and audits) a program's schedule; returns when the next run is due.
pub fn set_schedule(
    store: &Store,
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
    let next = enabled.then(|| fmt(next_after(Utc::now(), interval_minutes)));
    store.set_sync_schedule(
        "cli",
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

/// One scheduler pass: for each enabled schedule that is due, probe DHIS2; when it answers, sync
/// and plan the next run one interval later; when it does not, wait a few minutes (with jitter).
/// Returns the reports of the runs it made.
pub fn scheduler_tick(store: &Store) -> Result<Vec<SyncReport>> {
    scheduler_tick_with(store, &|_, _, _| Ok(()))
}

/// What to do after a scheduled run of a schedule with `auto_generate_cards` (e.g. call
/// `kadi::cards::generate` for the program); `kadi serve` passes it.
pub type AfterSync<'a> = dyn Fn(&Store, &SyncSchedule, &SyncReport) -> Result<()> + 'a;

/// [`scheduler_tick`], calling `after_sync` after each successful run whose schedule has
/// `auto_generate_cards` on. Its failure is recorded in the run's errors, never fatal.
pub fn scheduler_tick_with(store: &Store, after_sync: &AfterSync<'_>) -> Result<Vec<SyncReport>> {
    let now = Utc::now();
    let mut reports = Vec::new();
    for s in store.sync_schedules()? {
        let due = s.enabled
            && s.next_sync_at
                .as_deref()
                .and_then(parse)
                .is_none_or(|t| t <= now);
        if !due {
            continue;
        }
        // The probe is one small request with a short timeout: an offline box waits, quietly.
        let reachable = crate::dhis2::client_from_store(store)
            .ok()
            .is_some_and(|c| {
                c.with_timeout(std::time::Duration::from_secs(5))
                    .system_info()
                    .is_ok()
            });
        if !reachable {
            let wait = now
                + Duration::minutes(PROBE_RETRY_MINUTES)
                + Duration::seconds(jitter(120) as i64);
            store.set_next_sync_at(&s.program_uid, &fmt(wait))?;
            continue;
        }
        let opts = SyncOptions {
            actor: "scheduler".into(),
            ..SyncOptions::default()
        };
        let (mut report, result) = run_with_report(store, &s.program_uid, &opts);
        if result.is_ok() && s.auto_generate_cards {
            if let Err(e) = after_sync(store, &s, &report) {
                report
                    .errors
                    .push(format!("generating cards after sync: {e:#}"));
            }
        }
        store.set_next_sync_at(
            &s.program_uid,
            &fmt(next_after(Utc::now(), s.interval_minutes)),
        )?;
        reports.push(report);
    }
    Ok(reports)
}

/// Runs the scheduler until `stop` is set: a tick, then a pause of about 30 s. Opens its own
/// connection to `db` (start it on a thread of `kadi serve`).
pub fn scheduler_loop(db: &Path, stop: &AtomicBool) -> Result<()> {
    scheduler_loop_with(db, stop, &|_, _, _| Ok(()))
}

/// [`scheduler_loop`] with an [`AfterSync`] hook for `auto_generate_cards`.
pub fn scheduler_loop_with(db: &Path, stop: &AtomicBool, after_sync: &AfterSync<'_>) -> Result<()> {
    let store = Store::open(db)?;
    while !stop.load(Ordering::Relaxed) {
        if let Err(e) = scheduler_tick_with(&store, after_sync) {
            eprintln!("kadi: scheduler: {e:#}");
        }
        for _ in 0..30 {
            if stop.load(Ordering::Relaxed) {
                break;
            }
            std::thread::sleep(std::time::Duration::from_secs(1));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_five_intervals_are_accepted_and_next_sync_is_one_interval_away() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("kadi.db")).unwrap();
        let err = set_schedule(&store, "P3jJH5Tu5VC", 20, true, false)
            .unwrap_err()
            .to_string();
        assert!(err.contains("10, 15, 30, 60, 180"), "{err}");
        let before = Utc::now();
        let r = set_schedule(&store, "P3jJH5Tu5VC", 30, true, true).unwrap();
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
        let disabled = set_schedule(&store, "P3jJH5Tu5VC", 60, false, false).unwrap();
        assert_eq!(disabled.next_sync, None);
    }

    #[test]
    fn an_unreachable_server_postpones_the_run_instead_of_failing() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("kadi.db")).unwrap();
        set_schedule(&store, "P3jJH5Tu5VC", 10, true, false).unwrap();
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
