//! A box left alone: `kadi serve` syncs on schedule (and renders the new cards), a `running` row a
//! power cut left behind does not block the next sync, and MPI IDs made while the box clock reads
//! 1970 carry a trusted year. Real binary, real SQLite file, the DHIS2 simulator on 127.0.0.1 and
//! `faketime` for the clock.
mod support;

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use support::*;

/// A box in `dir` connected to `sim`, the demo mapping set, and an enabled 10-minute schedule set
/// through the CLI (never synced yet).
fn scheduled_box(dir: &Path, sim: &kadi::sim::SimHandle, auto_cards: bool) -> PathBuf {
    drop(mapped_sim_store(dir, sim));
    let db = dir.join("kadi.db");
    let (ok, out, err) = kadi(
        &db,
        &[
            "schedule",
            "set",
            "--program",
            PROGRAM,
            "--interval",
            "10",
            "--enabled",
            "true",
            "--auto-generate-cards",
            if auto_cards { "true" } else { "false" },
            "--json",
        ],
        None,
    );
    assert!(ok, "{err}");
    let next: Value = serde_json::from_str(&out).unwrap();
    assert!(next["next_sync"].is_string(), "{out}");
    db
}

/// `kadi serve` on a free loopback port; killed when dropped. Its stderr goes to a file.
struct Serve {
    child: Child,
    stderr: PathBuf,
}

impl Serve {
    fn start(db: &Path, extra: &[&str]) -> Serve {
        let stderr = db.with_extension("serve.log");
        let mut child = Command::new(KADI)
            .arg("--db")
            .arg(db)
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--threads",
                "1",
                "--json",
            ])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr).unwrap())
            .spawn()
            .unwrap();
        // The one JSON document serve prints once it listens, then `/healthz` answering.
        let url = read_json_url(&mut child);
        wait_healthy(&url);
        Serve { child, stderr }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `(status, report)` of every sync run, oldest first.
fn runs(db: &Path) -> Vec<(String, Option<Value>)> {
    let c = rusqlite::Connection::open(db).unwrap();
    c.busy_timeout(Duration::from_secs(5)).unwrap();
    let mut stmt = c
        .prepare("SELECT status, report_json FROM sync_runs ORDER BY id")
        .unwrap();
    stmt.query_map([], |r| {
        let json: Option<String> = r.get(1)?;
        Ok((
            r.get::<_, String>(0)?,
            json.and_then(|j| serde_json::from_str(&j).ok()),
        ))
    })
    .unwrap()
    .collect::<Result<_, _>>()
    .unwrap()
}

/// Polls until `done` holds for the box's runs, up to `limit`; returns how long it took.
fn wait_for(
    db: &Path,
    limit: Duration,
    done: impl Fn(&[(String, Option<Value>)]) -> bool,
) -> Option<Duration> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if done(&runs(db)) {
            return Some(start.elapsed());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    None
}

#[test]
fn serve_syncs_a_never_synced_schedule_within_a_minute_and_renders_its_cards_but_not_with_no_scheduler(
) {
    let sim = sim("2.41", 20);
    let on = tempfile::tempdir().unwrap();
    let off = tempfile::tempdir().unwrap();
    let db_on = scheduled_box(on.path(), &sim, true);
    let db_off = scheduled_box(off.path(), &sim, true);

    let started = Instant::now();
    let serve_on = Serve::start(&db_on, &[]);
    let serve_off = Serve::start(&db_off, &["--no-scheduler"]);
    // The scheduled run and the cards rendered after it (recorded in the run's report).
    let took = wait_for(&db_on, Duration::from_secs(60), |runs| {
        runs.iter().any(|(status, report)| {
            status == "ok"
                && report
                    .as_ref()
                    .is_some_and(|r| r.get("cards_rendered").is_some())
        })
    })
    .unwrap_or_else(|| {
        panic!(
            "no scheduled sync with cards within 60 s; runs {:?}; log:\n{}",
            runs(&db_on),
            serve_on.log()
        )
    });
    eprintln!("scheduled sync of 20 records with their cards done {took:?} after the poll began");
    let runs_on = runs(&db_on);
    let report = runs_on[0].1.clone().unwrap();
    assert_eq!(report["created"], 20, "{report}");
    assert_eq!(report["cards_rendered"], 20, "{report}");
    assert!(report["errors"].as_array().unwrap().is_empty(), "{report}");

    // The same window (at least 5 s) with --no-scheduler: nothing syncs.
    let window = Duration::from_secs(5).max(took + took / 2);
    std::thread::sleep(window.saturating_sub(started.elapsed()));
    assert!(
        runs(&db_off).is_empty(),
        "--no-scheduler synced: {:?}",
        runs(&db_off)
    );
    assert!(serve_off.child.id() > 0);

    // The cards exist and decode as PNGs of a CR80 card.
    let cards = on.path().join("cards").join("pulse-300");
    let pngs: Vec<PathBuf> = std::fs::read_dir(&cards)
        .unwrap_or_else(|e| panic!("{}: {e}", cards.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "png"))
        .collect();
    assert_eq!(pngs.len(), 20, "{pngs:?}");
    for p in &pngs {
        let decoder = png::Decoder::new(std::io::Cursor::new(std::fs::read(p).unwrap()));
        let info = decoder
            .read_info()
            .unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        let (w, h) = (info.info().width, info.info().height);
        assert!(w > h && w > 900, "{}: {w}x{h}", p.display());
    }
    // Audited as the scheduler's doing.
    let c = rusqlite::Connection::open(&db_on).unwrap();
    let audited: String = c
        .query_row(
            "SELECT after_json FROM audit_log WHERE actor = 'scheduler' AND action = 'cards.auto_generate'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let audited: Value = serde_json::from_str(&audited).unwrap();
    assert_eq!(audited["cards_rendered"], 20);
    assert_eq!(audited["program_uid"], PROGRAM);
    let log = serve_on.log();
    assert!(
        !log.contains("scheduler:"),
        "the scheduler complained: {log}"
    );
    drop(serve_on);
}

/// Marks `run`'s row as left `running` by the given holder (what a power cut leaves).
fn leave_running(db: &Path, pid: u32, boot_id: &str, start_time: i64, since_boot_ms: i64) {
    let c = rusqlite::Connection::open(db).unwrap();
    c.execute(
        "INSERT INTO sync_runs(program_uid, started_at, status, pid, boot_id, pid_start_time, started_since_boot_ms)
         VALUES (?1, strftime('%Y-%m-%dT%H:%M:%SZ', 'now'), 'running', ?2, ?3, ?4, ?5)",
        rusqlite::params![PROGRAM, pid, boot_id, start_time, since_boot_ms],
    )
    .unwrap();
}

fn boot_id() -> String {
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .expect("Linux exposes /proc/sys/kernel/random/boot_id")
        .trim()
        .to_string()
}

fn since_boot_ms() -> i64 {
    kadi::clock::since_boot().as_millis() as i64
}

#[test]
fn a_running_row_of_another_boot_or_a_dead_or_reused_pid_is_stale_and_a_live_holder_still_blocks() {
    let sim = sim("2.41", 20);
    let dir = tempfile::tempdir().unwrap();
    drop(mapped_sim_store(dir.path(), &sim));
    let db = dir.path().join("kadi.db");
    let sync = |db: &Path| kadi(db, &["sync", "--program", PROGRAM, "--json"], None);

    // PID 1 is always alive; the row is from an earlier boot (the power cut case).
    leave_running(&db, 1, "00000000-0000-0000-0000-000000000000", 1, 5);
    let (ok, out, err) = sync(&db);
    assert!(ok, "a row of another boot blocked the sync: {err}");
    assert_eq!(serde_json::from_str::<Value>(&out).unwrap()["created"], 20);
    // PID 1 again, this boot, but a process that started at another moment (a reused PID).
    let pid1_start = kadi::sync::holder::process_start_time(1).expect("/proc/1/stat");
    leave_running(&db, 1, &boot_id(), pid1_start + 12_345, since_boot_ms());
    let (ok, _, err) = sync(&db);
    assert!(ok, "a reused PID blocked the sync: {err}");
    // This boot, a process that has exited.
    let mut gone = Command::new("true").spawn().unwrap();
    let gone_pid = gone.id();
    gone.wait().unwrap();
    leave_running(&db, gone_pid, &boot_id(), 1, since_boot_ms());
    let (ok, _, err) = sync(&db);
    assert!(ok, "a dead PID blocked the sync: {err}");
    let statuses: Vec<String> = runs(&db).into_iter().map(|(s, _)| s).collect();
    assert_eq!(
        statuses,
        [
            "interrupted",
            "ok",
            "interrupted",
            "ok",
            "interrupted",
            "ok"
        ],
        "every stale row is marked interrupted"
    );

    // A live holder (same boot, the process alive and the same one) still blocks.
    let mut holder = Command::new("sleep").arg("30").spawn().unwrap();
    let start = kadi::sync::holder::process_start_time(holder.id()).unwrap();
    leave_running(&db, holder.id(), &boot_id(), start, since_boot_ms());
    let (ok, _, err) = sync(&db);
    let _ = holder.kill();
    let _ = holder.wait();
    assert!(!ok, "a second sync ran beside a live one");
    assert!(
        err.contains(&format!("already running (process {})", holder.id())),
        "{err}"
    );
}

#[test]
fn a_run_cut_by_a_power_cut_is_resumed_at_its_page_by_the_next_run_after_the_reboot() {
    let sim = sim("2.41", 120);
    // Slow pages, so the run can be cut in the middle.
    sim.set_faults(kadi::sim::Faults {
        slow: 1.0,
        slow_ms: 300,
        ..Default::default()
    });
    let dir = tempfile::tempdir().unwrap();
    drop(mapped_sim_store(dir.path(), &sim));
    let db = dir.path().join("kadi.db");
    let mut child = Command::new(KADI)
        .arg("--db")
        .arg(&db)
        .args(["sync", "--program", PROGRAM, "--page-size", "20", "--json"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let count = |db: &Path| -> i64 {
        let c = rusqlite::Connection::open(db).unwrap();
        c.busy_timeout(Duration::from_secs(5)).unwrap();
        c.query_row("SELECT count(*) FROM tracked_entities", [], |r| r.get(0))
            .unwrap_or(0)
    };
    let start = Instant::now();
    while count(&db) < 40 && start.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(20));
    }
    // The power goes: no chance to mark the run finished.
    child.kill().unwrap();
    child.wait().unwrap();
    sim.set_faults(kadi::sim::Faults::default());
    let c = rusqlite::Connection::open(&db).unwrap();
    let next_page: u32 = c
        .query_row(
            "SELECT next_page FROM sync_cursors WHERE program_uid = ?1",
            [PROGRAM],
            |r| r.get(0),
        )
        .unwrap();
    assert!((3..=6).contains(&next_page), "cut at page {next_page}");
    // After the reboot the old PID belongs to another live process (PID 1 here).
    let changed = c
        .execute(
            "UPDATE sync_runs SET pid = 1, boot_id = '00000000-0000-0000-0000-000000000000' WHERE status = 'running'",
            [],
        )
        .unwrap();
    assert_eq!(changed, 1, "the cut run stayed `running`");
    drop(c);
    let stored = count(&db);
    let (ok, out, err) = kadi(&db, &["sync", "--program", PROGRAM, "--json"], None);
    assert!(ok, "{err}");
    let report: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["resumed_from_page"], next_page, "{report}");
    assert_eq!(
        report["created"].as_i64().unwrap() + stored,
        120,
        "nothing lost or doubled: {report}"
    );
    assert_eq!(entity_lines(&dump(&db)), sim_lines(&sim));
    let statuses: Vec<String> = runs(&db).into_iter().map(|(s, _)| s).collect();
    assert_eq!(statuses, ["interrupted", "ok"]);
}

/// Runs the binary under `faketime` (monotonic clocks left real, so timeouts and the boot clock
/// behave); fails clearly when faketime is missing.
fn kadi_at(faketime: &str, clock: &str, db: &Path, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(faketime)
        .arg(clock)
        .arg(KADI)
        .arg("--db")
        .arg(db)
        .args(args)
        .env("DONT_FAKE_MONOTONIC", "1")
        .output()
        .unwrap_or_else(|e| panic!("faketime is required (apt install faketime): {e}"));
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn mpi_ids_made_while_the_clock_reads_1970_take_the_enrollment_or_server_year() {
    let Some(faketime) = require_tool("faketime") else {
        return;
    };
    let sim = sim("2.41", 60);
    let dir = tempfile::tempdir().unwrap();
    drop(mapped_sim_store(dir.path(), &sim));
    let db = dir.path().join("kadi.db");
    // The wrapper really moves the clock.
    let date = Command::new(&faketime)
        .args(["1970-01-05 00:00:00", "date", "+%Y"])
        .output()
        .expect("faketime is required (apt install faketime)");
    assert_eq!(String::from_utf8_lossy(&date.stdout).trim(), "1970");

    let (ok, out, err) = kadi_at(
        &faketime,
        "1970-01-05 00:00:00",
        &db,
        &["sync", "--program", PROGRAM, "--json"],
    );
    assert!(ok, "{err}");
    let report: Value = serde_json::from_str(&out).unwrap();
    assert!(report["mpi_created"].as_u64().unwrap() > 0, "{report}");

    // Each identity a record created carries that record's enrollment year.
    let c = rusqlite::Connection::open(&db).unwrap();
    let rows: Vec<(String, String, String)> = c
        .prepare(
            "SELECT l.mpi_id, json_extract(c.fields_json, '$.enrollment_date'), c.enrollment_uid
             FROM mpi_links l JOIN card_records c ON c.enrollment_uid = l.enrollment_uid
             WHERE l.method = 'new'",
        )
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert!(!rows.is_empty());
    let mut years = std::collections::BTreeSet::new();
    for (mpi_id, enrolled, _) in &rows {
        let year = &enrolled[2..4];
        assert!(
            mpi_id.starts_with(&format!("SN-DKR-{year}-")),
            "{mpi_id} enrolled {enrolled}"
        );
        years.insert(year.to_string());
    }
    // The simulator enrolls from 2024: a year neither the 1970 clock nor the build date gives.
    assert!(years.contains("24"), "{years:?}");

    // A split makes an identity with no record of its own: the year of DHIS2's last date.
    let server_year = chrono::Utc::now().format("%y").to_string();
    let (ok, out, err) = kadi_at(
        &faketime,
        "1970-01-05 00:00:00",
        &db,
        &["mpi", "split", &rows[0].2, "--by", "tester"],
    );
    assert!(ok, "{err}");
    assert!(
        out.contains(&format!("SN-DKR-{server_year}-")),
        "split under a 1970 clock: {out}"
    );
    assert!(!out.contains("SN-DKR-70-"), "{out}");
}
