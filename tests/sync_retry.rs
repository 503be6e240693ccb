//! Retries that respect the server, against the in-process simulator over real HTTP on 127.0.0.1:
//! rate limits with `Retry-After` (seconds, or an HTTP date on the server's own clock), a link
//! that dribbles a page slowly to its end or stalls midway, a server that takes requests and
//! never answers, and no server at all. Each ends with the store holding exactly the
//! simulator's records, or with an honest failure in bounded time.
mod support;

use kadi::sim::{Fault, RateLimit, RetryAfterForm, SimHandle};
use kadi::store::Store;
use kadi::sync::{run, run_with_report, SyncOptions, SyncReport};
use std::time::{Duration, Instant};
use support::*;

/// The versions whose tracker shapes differ (old names and `instances`; the 2.41 mix; 2.42).
const VERSIONS: [&str; 4] = ["2.36", "2.40", "2.41", "2.42"];

/// Runs `check` once per version, in parallel (the cases mostly wait).
fn at_every_version(check: impl Fn(&str) + Sync) {
    std::thread::scope(|s| {
        for v in VERSIONS {
            let check = &check;
            s.spawn(move || check(v));
        }
    });
}

fn synced(sim: &SimHandle, opts: &SyncOptions) -> (Store, tempfile::TempDir, SyncReport) {
    let dir = tempfile::tempdir().unwrap();
    let store = mapped_sim_store(dir.path(), sim);
    let r = run(&store, PROGRAM, opts).unwrap();
    (store, dir, r)
}

fn assert_parity(store: &Store, sim: &SimHandle, v: &str) {
    assert_eq!(
        entity_lines(&dump(store.path())),
        sim_lines(sim),
        "DHIS2 {v}: the store holds exactly the simulator's records"
    );
}

#[test]
fn a_rate_limit_window_is_waited_out_as_the_server_asks_without_using_up_attempts() {
    at_every_version(|v| {
        let sim = sim(v, 120);
        let dir = tempfile::tempdir().unwrap();
        let store = mapped_sim_store(dir.path(), &sim);
        // Three attempts of quick backoff would be over in 0.1 s: only waiting as told gets
        // through a 3 s window.
        let opts = SyncOptions {
            page_size: 50,
            max_attempts: 3,
            backoff_base_ms: 10,
            backoff_cap_ms: 50,
            ..Default::default()
        };
        sim.rate_limit(RateLimit::seconds(Duration::from_secs(3)));
        let t = Instant::now();
        let r = run(&store, PROGRAM, &opts).unwrap();
        assert_eq!(
            (r.status, r.created),
            (kadi::sync::RunStatus::Ok, 120),
            "{v}"
        );
        assert_parity(&store, &sim, v);
        let limited = sim.stats().rate_limited;
        assert!((1..=4).contains(&limited), "{v}: not hammered: {limited}");
        assert!(
            t.elapsed() >= Duration::from_millis(2500),
            "{v}: {:?}",
            t.elapsed()
        );
        assert!(
            (2.0..=6.0).contains(&r.rate_limit_wait_seconds),
            "{v}: {r:?}"
        );
        assert!(r.retries >= 1 && r.retry_wait_seconds >= r.rate_limit_wait_seconds);
        assert!(
            r.errors
                .iter()
                .any(|e| e.contains("429") && e.contains("as the server asked")),
            "{v}: {:?}",
            r.errors
        );
        // Staff see why the run was slow in `kadi sync --json`.
        let json = serde_json::to_value(&r).unwrap();
        assert!(json["rate_limit_wait_seconds"].as_f64().unwrap() >= 2.0);
        assert!(json["requests"].as_u64().unwrap() >= r.pages + limited);
    });
}

#[test]
fn an_http_date_retry_after_counts_from_the_servers_clock_not_the_boxs() {
    // The server's clock is three hours ahead: counted from the box's clock, its `Retry-After`
    // date would mean three hours (more than kadi waits, so the run would fail).
    for (v, status) in [("2.41", 429), ("2.36", 503)] {
        let sim = sim(v, 80);
        let dir = tempfile::tempdir().unwrap();
        let store = mapped_sim_store(dir.path(), &sim);
        sim.rate_limit(RateLimit {
            window: Duration::from_secs(2),
            status,
            retry_after: RetryAfterForm::HttpDate,
            clock_offset_secs: 3 * 3600,
        });
        let opts = SyncOptions {
            page_size: 50,
            ..Default::default()
        };
        let r = run(&store, PROGRAM, &opts).unwrap();
        assert_eq!(r.created, 80, "{v}");
        assert_parity(&store, &sim, v);
        assert!(
            (1.0..=5.0).contains(&r.rate_limit_wait_seconds),
            "{v} {status}: {r:?}"
        );
    }
}

#[test]
fn a_server_asking_for_longer_than_the_cap_fails_the_run_at_once_without_hammering() {
    let sim = sim("2.42", 50);
    let dir = tempfile::tempdir().unwrap();
    let store = mapped_sim_store(dir.path(), &sim);
    sim.rate_limit(RateLimit::seconds(Duration::from_secs(600)));
    let t = Instant::now();
    let (r, result) = run_with_report(&store, PROGRAM, &SyncOptions::default());
    let err = format!("{:#}", result.unwrap_err());
    assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
    assert_eq!(r.status, kadi::sync::RunStatus::Failed);
    assert!(err.contains("come back in 600 s"), "{err}");
    assert_eq!(sim.stats().rate_limited, 1, "asked once, not again");
    assert_eq!(store.sync_runs(1).unwrap()[0].status, "failed");
}

#[test]
fn a_slow_but_steady_link_finishes_a_page_that_takes_longer_than_the_idle_timeout() {
    at_every_version(|v| {
        let sim = sim(v, 60);
        // The whole page in 512-byte pieces, one every 200 ms: several seconds in all, never
        // a second without a byte.
        sim.fail_next(
            1,
            Fault::Dribble {
                chunk: 512,
                every: Duration::from_millis(200),
                stop_after: None,
            },
        );
        let opts = SyncOptions {
            page_size: 100,
            idle_timeout_secs: 1,
            ..Default::default()
        };
        let t = Instant::now();
        let (store, _dir, r) = synced(&sim, &opts);
        let took = t.elapsed();
        assert!(
            took >= Duration::from_secs(2),
            "{v}: the page was slow: {took:?}"
        );
        assert_eq!(
            (r.created, r.retries),
            (60, 0),
            "{v}: one attempt: {:?}",
            r.errors
        );
        assert!(r.errors.is_empty(), "{v}: {:?}", r.errors);
        assert_parity(&store, &sim, v);
    });
}

#[test]
fn a_page_that_stalls_midway_is_asked_again_smaller_and_the_run_completes() {
    at_every_version(|v| {
        let sim = sim(v, 230);
        // Page 1 sends 1 KB and stalls, then its half-size retry stalls too: 100 -> 50 -> 25.
        let stall = Fault::Dribble {
            chunk: 256,
            every: Duration::from_millis(20),
            stop_after: Some(1024),
        };
        sim.fail_next(2, stall);
        let opts = SyncOptions {
            page_size: 100,
            min_page_size: 25,
            idle_timeout_secs: 1,
            backoff_base_ms: 5,
            backoff_cap_ms: 20,
            ..Default::default()
        };
        let (store, _dir, r) = synced(&sim, &opts);
        assert_eq!(r.created, 230, "{v}");
        assert_eq!(r.page_size_reduced_to, Some(25), "{v}: {r:?}");
        assert_eq!(r.pages, 230 / 25 + 1, "{v}: pages of 25 after the stalls");
        let midway = r.errors.iter().filter(|e| e.contains("stopped midway"));
        assert_eq!(midway.count(), 2, "{v}: {:?}", r.errors);
        assert_eq!(sim.stats().connections_held, 2);
        assert_parity(&store, &sim, v);
    });
}

#[test]
fn a_server_that_takes_requests_and_never_answers_fails_the_run_within_the_dead_budget() {
    let sim = sim("2.41", 100);
    let dir = tempfile::tempdir().unwrap();
    let store = mapped_sim_store(dir.path(), &sim);
    sim.fail_next(100, Fault::Silent);
    let opts = SyncOptions {
        idle_timeout_secs: 1,
        dead_after_secs: 3,
        max_attempts: 50,
        ..Default::default()
    };
    let t = Instant::now();
    let (r, result) = run_with_report(&store, PROGRAM, &opts);
    let err = format!("{:#}", result.unwrap_err());
    // 50 attempts of 1 s would take a minute; three seconds of silence end it.
    assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
    assert!(err.contains("no answer at all"), "{err}");
    assert_eq!(r.status, kadi::sync::RunStatus::Failed);
    assert!((2..=6).contains(&sim.stats().connections_held));
}

/// A store mapped from a simulator, then pointed at `url` (where no DHIS2 answers).
fn store_pointed_at(dir: &std::path::Path, url: &str) -> Store {
    let sim = sim("2.41", 1);
    let store = mapped_sim_store(dir, &sim);
    let auth = kadi::dhis2::Auth::Basic {
        username: "admin".into(),
        password: "district".into(),
    };
    kadi::link::save_connection(&store, &kadi::actor::Actor::Cli, url, &auth).unwrap();
    store
}

#[test]
fn a_port_nobody_listens_on_fails_the_run_in_seconds() {
    let port = closed_port();
    let dir = tempfile::tempdir().unwrap();
    let store = store_pointed_at(dir.path(), &format!("http://127.0.0.1:{port}"));
    let t = Instant::now();
    let (r, result) = run_with_report(&store, PROGRAM, &SyncOptions::default());
    let err = format!("{:#}", result.unwrap_err());
    assert!(t.elapsed() < Duration::from_secs(15), "{:?}", t.elapsed());
    assert!(err.contains("unreachable"), "{err}");
    assert!(!err.contains("district"), "no password in errors: {err}");
    assert_eq!(r.status, kadi::sync::RunStatus::Failed);
}

#[test]
fn a_server_that_accepts_and_never_answers_is_given_up_on_within_a_minute_by_default() {
    // A listener that takes every connection and says nothing: the old whole-request timeouts
    // (60 s per try, several tries) took minutes; the default idle timeout and dead budget
    // give up after about one minute of silence.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for conn in listener.incoming().flatten() {
            held.push(conn);
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let store = store_pointed_at(dir.path(), &url);
    let t = Instant::now();
    let (r, result) = run_with_report(&store, PROGRAM, &SyncOptions::default());
    let took = t.elapsed();
    let err = format!("{:#}", result.unwrap_err());
    assert!(took < Duration::from_secs(90), "{took:?}");
    assert!(err.contains("no answer at all"), "{err}");
    assert_eq!(r.status, kadi::sync::RunStatus::Failed);
    assert!(r.failed_attempt_seconds >= 30.0, "{r:?}");
}
