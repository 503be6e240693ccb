//! `kadi sync` killed with SIGKILL at random moments, several times, then run to the end: the store
//! equals an undisturbed run's and `PRAGMA integrity_check` is ok.
mod support;

use std::time::{Duration, Instant};
use support::*;

fn prepare(dir: &std::path::Path, sim: &kadi::sim::SimHandle) -> std::path::PathBuf {
    let db = dir.join("kadi.db");
    cli_connect(&db, sim);
    let (ok, _, err) = kadi(
        &db,
        &["map", "set", "--program", PROGRAM, "--demo", "--json"],
        None,
    );
    assert!(ok, "{err}");
    db
}

#[test]
fn sync_resumes_after_sigkill_without_loss_or_duplicates() {
    let sim = sim("2.41", 1500);
    // Slow answers stretch the run so the kills land mid-run.
    sim.set_faults(kadi::sim::Faults {
        slow: 1.0,
        slow_ms: 15,
        ..Default::default()
    });
    let args = ["sync", "--program", PROGRAM, "--page-size", "25", "--json"];

    let undisturbed = tempfile::tempdir().unwrap();
    let db_a = prepare(undisturbed.path(), &sim);
    let (ok, _, err) = kadi(&db_a, &args, None);
    assert!(ok, "{err}");

    let killed = tempfile::tempdir().unwrap();
    let db_b = prepare(killed.path(), &sim);
    let mut seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let mut kills = 0;
    for _ in 0..6 {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let after = Duration::from_millis(150 + (seed >> 33) % 500);
        let mut child = std::process::Command::new(KADI)
            .arg("--db")
            .arg(&db_b)
            .args(args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let start = Instant::now();
        while start.elapsed() < after {
            if child.try_wait().unwrap().is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap(); // SIGKILL
            kills += 1;
        }
        child.wait().unwrap();
    }
    assert!(kills >= 3, "only {kills} runs were killed mid-way");
    let (ok, out, err) = kadi(&db_b, &args, None);
    assert!(ok, "{err}");
    let last: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(last["status"], "ok");

    assert_eq!(
        dump(&db_b),
        dump(&db_a),
        "the killed store differs from the undisturbed one"
    );
    assert_eq!(entity_lines(&dump(&db_b)), sim_lines(&sim));
    let c = rusqlite::Connection::open(&db_b).unwrap();
    let check: String = c
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
    let interrupted: i64 = c
        .query_row(
            "SELECT count(*) FROM sync_runs WHERE status = 'interrupted'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(interrupted >= 1, "killed runs are recorded as interrupted");
}
