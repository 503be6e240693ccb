//! The wire under a sync, against the in-process simulator on 127.0.0.1: gzip as DHIS2 behind
//! nginx serves it, connections really closed mid-body, answers that stall until the client's
//! timeout. Each ends with the store holding exactly the simulator's records.
mod support;

use kadi::dhis2::{Auth, Client, ConnectionConfig, Dhis2Error, TrackedEntityQuery};
use kadi::sim::{Fault, Faults, SimConfig};
use kadi::sync::{run, SyncOptions};
use std::io::{Read, Write};
use std::time::{Duration, Instant};
use support::*;

fn start(gzip: bool, records: usize) -> kadi::sim::SimHandle {
    kadi::sim::start(SimConfig {
        version: "2.41".into(),
        records,
        seed: 7,
        gzip,
        ..Default::default()
    })
    .unwrap()
}

fn client(sim: &kadi::sim::SimHandle, timeout: Duration) -> Client {
    let c = Client::new(ConnectionConfig {
        base_url: sim.base_url.clone(),
        auth: Auth::Basic {
            username: "admin".into(),
            password: "district".into(),
        },
    })
    .with_timeout(timeout);
    c.set_version((2, 41));
    c
}

fn query() -> TrackedEntityQuery {
    TrackedEntityQuery {
        program: PROGRAM.into(),
        ..Default::default()
    }
}

/// One GET over a bare socket: (head, body) exactly as they came over the wire.
fn raw_get(
    sim: &kadi::sim::SimHandle,
    path: &str,
    accept_encoding: Option<&str>,
) -> (String, Vec<u8>) {
    let addr = sim.base_url.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let ae = accept_encoding
        .map(|v| format!("Accept-Encoding: {v}\r\n"))
        .unwrap_or_default();
    // admin:district
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Basic YWRtaW46ZGlzdHJpY3Q=\r\n{ae}Connection: close\r\n\r\n"
    )
    .unwrap();
    let mut all = Vec::new();
    s.read_to_end(&mut all).unwrap();
    let split = all.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&all[..split]).to_lowercase();
    let mut body = all[split + 4..].to_vec();
    if head.contains("transfer-encoding: chunked") {
        body = dechunk(&body);
    }
    (head, body)
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let eol = b.windows(2).position(|w| w == b"\r\n").unwrap();
        let size =
            usize::from_str_radix(std::str::from_utf8(&b[..eol]).unwrap().trim(), 16).unwrap();
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&b[eol + 2..eol + 2 + size]);
        b = &b[eol + 2 + size + 2..];
    }
}

#[test]
fn the_simulator_gzips_exactly_when_the_request_accepts_it() {
    let sim = start(true, 60);
    let path = format!("/api/tracker/trackedEntities?program={PROGRAM}&pageSize=50");
    let (head, plain) = raw_get(&sim, &path, None);
    assert!(!head.contains("content-encoding"), "{head}");
    let (head, gz) = raw_get(&sim, &path, Some("gzip, br"));
    assert!(head.contains("content-encoding: gzip"), "{head}");
    let mut decoded = Vec::new();
    flate2::read::GzDecoder::new(&gz[..])
        .read_to_end(&mut decoded)
        .unwrap();
    // The same page (timestamps are the records', so two requests give the same bytes).
    assert_eq!(decoded, plain);
    assert!(
        gz.len() * 3 < plain.len(),
        "{} vs {}",
        gz.len(),
        plain.len()
    );
    let (head, _) = raw_get(&sim, &path, Some("gzip;q=0, identity"));
    assert!(
        !head.contains("content-encoding"),
        "q=0 refuses gzip: {head}"
    );

    let off = start(false, 60);
    let (head, body) = raw_get(&off, &path, Some("gzip"));
    assert!(!head.contains("content-encoding"), "{head}");
    assert_eq!(body, plain);
}

#[test]
fn a_sync_over_gzip_ends_with_the_same_store_as_without() {
    let opts = SyncOptions {
        page_size: 50,
        ..Default::default()
    };
    let (gz_sim, plain_sim) = (start(true, 150), start(false, 150));
    let (gz_dir, plain_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let gz_store = mapped_sim_store(gz_dir.path(), &gz_sim);
    let plain_store = mapped_sim_store(plain_dir.path(), &plain_sim);
    let gz = run(&gz_store, PROGRAM, &opts).unwrap();
    let plain = run(&plain_store, PROGRAM, &opts).unwrap();
    assert_eq!((gz.created, plain.created), (150, 150));
    assert_eq!(dump(gz_store.path()), dump(plain_store.path()));
    assert_eq!(entity_lines(&dump(gz_store.path())), sim_lines(&gz_sim));

    let (g, p) = (gz_sim.stats(), plain_sim.stats());
    assert!(g.gzipped_answers >= gz.pages, "{g:?}");
    assert!(
        g.gzipped_bytes * 3 < g.gzipped_plain_bytes,
        "compressed bytes were served: {g:?}"
    );
    assert_eq!((p.gzipped_answers, p.gzipped_bytes), (0, 0));
    assert!(g.body_bytes_sent * 3 < p.body_bytes_sent, "{g:?} {p:?}");
    // The report counts decoded JSON, so it does not depend on the wire's encoding.
    assert_eq!(gz.bytes, plain.bytes);
    assert!(gz.bytes > g.gzipped_bytes);
}

#[test]
fn a_dropped_connection_fails_at_once_not_after_the_timeout() {
    let sim = start(true, 30);
    let c = client(&sim, Duration::from_secs(60));
    sim.fail_next(1, Fault::Drop);
    let t = Instant::now();
    let err = c.tracked_entities_page(&query(), 1, 20).unwrap_err();
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "an EOF, not a timeout: {:?}",
        t.elapsed()
    );
    assert!(
        matches!(&err, Dhis2Error::Interrupted(m) if m.contains("stopped midway"))
            && err.is_retryable(),
        "{err}"
    );
    let s = sim.stats();
    assert_eq!(s.connections_cut, 1, "{s:?}");
    assert!(s.body_bytes_sent > 0, "half the body went out first: {s:?}");
    // The next request (a new connection) works.
    assert_eq!(
        c.tracked_entities_page(&query(), 1, 20)
            .unwrap()
            .items
            .len(),
        20
    );

    // Without gzip too: the cut lands in plain JSON.
    let plain = start(false, 30);
    let c = client(&plain, Duration::from_secs(60));
    plain.fail_next(1, Fault::Drop);
    let err = c.tracked_entities_page(&query(), 1, 20).unwrap_err();
    assert!(matches!(err, Dhis2Error::Interrupted(_)), "{err}");
    assert_eq!(plain.stats().connections_cut, 1);
}

#[test]
fn a_sync_under_heavy_connection_drops_retries_and_ends_with_exactly_the_simulators_records() {
    let sim = start(true, 300);
    sim.set_faults(Faults {
        drop: 0.4,
        max_page_size: Some(40),
        ..Default::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let store = mapped_sim_store(dir.path(), &sim);
    let o = SyncOptions {
        page_size: 50,
        backoff_base_ms: 5,
        backoff_cap_ms: 50,
        max_attempts: 30,
        // Long: a drop must not cost a timeout.
        idle_timeout_secs: 60,
        ..Default::default()
    };
    let t = Instant::now();
    let r = run(&store, PROGRAM, &o).unwrap();
    let s = sim.stats();
    assert!(s.connections_cut >= 3, "{s:?}");
    // Every retried failure was a drop seen as an early EOF (the progress total, asked outside
    // the retry loop, may also have met a drop).
    let retried: Vec<&String> = r.errors.iter().filter(|e| e.contains("retried")).collect();
    assert!(!retried.is_empty());
    assert!(
        retried.iter().all(|e| e.contains("stopped midway")),
        "{retried:?}"
    );
    assert!(
        retried.len() as u64 <= s.connections_cut,
        "{retried:?} {s:?}"
    );
    assert!(t.elapsed() < Duration::from_secs(30), "{:?}", t.elapsed());
    assert_eq!(r.created, 300);
    assert_eq!(entity_lines(&dump(store.path())), sim_lines(&sim));
    // Drops on later pages: the page is asked again, nothing is skipped or doubled.
    assert_eq!(store.count("tracked_entities").unwrap(), 300);
}

#[test]
fn a_stalled_answer_fails_by_the_clients_timeout_and_the_sync_recovers() {
    let sim = start(true, 60);
    let c = client(&sim, Duration::from_millis(800));
    sim.fail_next(1, Fault::Stall);
    let t = Instant::now();
    let err = c.tracked_entities_page(&query(), 1, 20).unwrap_err();
    let waited = t.elapsed();
    assert!(
        matches!(err, Dhis2Error::TimedOut { midway: true, .. }) && err.is_retryable(),
        "{err}"
    );
    assert!(
        waited >= Duration::from_millis(700) && waited < Duration::from_secs(5),
        "the timeout fired: {waited:?}"
    );

    let dir = tempfile::tempdir().unwrap();
    let store = mapped_sim_store(dir.path(), &sim);
    sim.fail_next(2, Fault::Stall);
    let o = SyncOptions {
        page_size: 50,
        backoff_base_ms: 5,
        backoff_cap_ms: 50,
        idle_timeout_secs: 1,
        ..Default::default()
    };
    let t = Instant::now();
    let r = run(&store, PROGRAM, &o).unwrap();
    assert!(t.elapsed() < Duration::from_secs(15), "{:?}", t.elapsed());
    assert_eq!(r.created, 60);
    assert!(r.errors.len() >= 2, "{:?}", r.errors);
    assert_eq!(entity_lines(&dump(store.path())), sim_lines(&sim));
}
