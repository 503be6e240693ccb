//! Sync benchmark: N tracked entities from the in-process simulator (DHIS2 2.41) over loopback
//! into a fresh SQLite store, by the built `kadi sync` (a child process, so its peak RSS is the
//! sync's own, not the simulator's). Baseline in the same run: the client alone fetching and
//! parsing every page without storing anything. Prints a table; never fails on timing.
//!
//! Rows: the sync proper (`kadi sync --no-mpi`: pull, map, guardrail, store: issue 4's goal of
//! 5,000 records/s and a peak that stays under 64 MB), identity resolution of what it stored
//! (`kadi mpi resolve`: issue 5's goal of 100,000 records in under 30 s and 200 MB), and both in
//! one run, as `kadi sync` does by default.
//!
//! `KADI_BENCH_SIZES=10000,100000 cargo bench --bench sync --profile fast` (the fast profile is
//! release without LTO; `cargo bench` alone builds with LTO, which takes long on 2 cores).
use kadi::dhis2::{Auth, Client, ConnectionConfig, TrackedEntityQuery};
use std::process::{Command, Stdio};
use std::time::Instant;

const PAGE_SIZE: u32 = 500;

fn main() {
    let sizes: Vec<usize> = std::env::var("KADI_BENCH_SIZES")
        .unwrap_or_else(|_| "10000,100000".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    println!(
        "| records | what                                  | seconds | records/s | peak RSS MB |"
    );
    println!(
        "|--------:|---------------------------------------|--------:|----------:|------------:|"
    );
    for n in sizes {
        if let Err(e) = bench(n) {
            eprintln!("bench {n}: {e:#}");
        }
    }
}

fn bench(n: usize) -> anyhow::Result<()> {
    let sim = kadi::sim::start(kadi::sim::SimConfig {
        records: n,
        version: "2.41".into(),
        seed: 11,
        // Loopback: gzip would only add CPU on both sides of the same two cores. Sync over gzip
        // is tested in tests/sync_faults.rs (7.7x fewer bytes on the wire).
        gzip: false,
        ..Default::default()
    })?;

    // Baseline: HTTP + JSON only.
    let client = Client::new(ConnectionConfig {
        base_url: sim.base_url.clone(),
        auth: Auth::Basic {
            username: "admin".into(),
            password: "district".into(),
        },
    });
    client.system_info()?;
    let query = TrackedEntityQuery {
        program: kadi::sim::PROGRAM_UID.into(),
        include_deleted: true,
        ..Default::default()
    };
    let t = Instant::now();
    let mut pulled = 0usize;
    for page in 1.. {
        let p = client.tracked_entities_page(&query, page, PAGE_SIZE)?;
        pulled += p.items.len();
        if (p.items.len() as u32) < p.page_size.min(PAGE_SIZE) {
            break;
        }
    }
    let secs = t.elapsed().as_secs_f64();
    println!(
        "| {n:>7} | fetch + parse only (baseline)         | {secs:>7.2} | {:>9.0} |           - |",
        pulled as f64 / secs
    );

    // In-process store share: the same pages, each written with `store_page` (timed alone).
    {
        let dir = tempfile::tempdir()?;
        let store = kadi::store::Store::open(&dir.path().join("kadi.db"))?;
        let auth = Auth::Basic {
            username: "admin".into(),
            password: "district".into(),
        };
        kadi::link::save_connection(&store, &kadi::actor::Actor::Cli, &sim.base_url, &auth)?;
        kadi::jobs::map_program(
            &store,
            &kadi::actor::Actor::Cli,
            &kadi::demo::demo_mapping(),
        )?;
        let plan = kadi::mapping::MappingPlan::load(&store, kadi::sim::PROGRAM_UID)?;
        let mut guardrail = kadi::mapping::Guardrail::load(&store, kadi::sim::PROGRAM_UID)?;
        let mut report = kadi::sync::SyncReport::default();
        let cursor = kadi::store::sync_data::SyncCursor::default();
        // As `kadi sync` sets the connection up before the first page.
        store.prepare_for_bulk_writes()?;
        let mut store_secs = 0.0;
        for page in 1.. {
            let p = client.tracked_entities_page(&query, page, PAGE_SIZE)?;
            let t = Instant::now();
            kadi::sync::store_page(
                &store,
                &plan,
                &mut guardrail,
                &p.items,
                &cursor,
                &mut report,
            )?;
            store_secs += t.elapsed().as_secs_f64();
            if (p.items.len() as u32) < p.page_size.min(PAGE_SIZE) {
                break;
            }
        }
        println!(
            "| {n:>7} | store_page only (in-process)          | {store_secs:>7.2} | {:>9.0} |           - |",
            report.created as f64 / store_secs
        );
    }

    // kadi sync end to end, in its own process: pull, map and store only (`--no-mpi`), then
    // identity resolution of what it stored (`kadi mpi resolve`), then both in one run, as a
    // scheduled sync does, into a fresh store.
    let dir = tempfile::tempdir()?;
    let db = dir.path().join("kadi.db");
    let (secs, peak_mb, _) = kadi_sync_into(&db, &sim.base_url, &["--no-mpi"])?;
    row(n, "kadi sync --no-mpi (pull, map, store)", secs, peak_mb);
    let t = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_kadi"))
        .arg("--db")
        .arg(&db)
        .args(["mpi", "resolve", "--json"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()?;
    let (ok, peak_kb) = wait_with_peak_rss(&mut child);
    anyhow::ensure!(ok, "kadi mpi resolve failed");
    row(
        n,
        "kadi mpi resolve (after it)",
        t.elapsed().as_secs_f64(),
        peak_kb as f64 / 1024.0,
    );
    let (secs, peak_mb, report) = kadi_sync(&sim.base_url, &[])?;
    row(n, "kadi sync (pull, map, store, resolve)", secs, peak_mb);
    let mpi = report["mpi_seconds"].as_f64().unwrap_or(0.0);
    println!(
        "| {n:>7} |   of which MPI resolution             | {mpi:>7.2} |         - |           - |"
    );
    Ok(())
}

fn row(n: usize, what: &str, secs: f64, peak_mb: f64) {
    println!(
        "| {n:>7} | {what:<37} | {secs:>7.2} | {:>9.0} | {peak_mb:>11.1} |",
        n as f64 / secs
    );
}

/// `kadi sync` into a fresh store: (seconds, peak RSS MB, its JSON report).
fn kadi_sync(base_url: &str, extra: &[&str]) -> anyhow::Result<(f64, f64, serde_json::Value)> {
    let dir = tempfile::tempdir()?;
    kadi_sync_into(&dir.path().join("kadi.db"), base_url, extra)
}

/// Configures a fresh store at `db` (connection, demo mapping) and times `kadi sync` into it.
fn kadi_sync_into(
    db: &std::path::Path,
    base_url: &str,
    extra: &[&str],
) -> anyhow::Result<(f64, f64, serde_json::Value)> {
    let kadi = env!("CARGO_BIN_EXE_kadi");
    let mut config = Command::new(kadi)
        .arg("--db")
        .arg(db)
        .args([
            "dhis2",
            "config",
            "--url",
            base_url,
            "--username",
            "admin",
            "--password-stdin",
            "--json",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()?;
    if let Some(mut stdin) = config.stdin.take() {
        use std::io::Write;
        stdin.write_all(b"district\n")?;
    }
    anyhow::ensure!(config.wait()?.success(), "kadi dhis2 config failed");
    let map = Command::new(kadi)
        .arg("--db")
        .arg(db)
        .args([
            "map",
            "set",
            "--program",
            kadi::sim::PROGRAM_UID,
            "--demo",
            "--json",
        ])
        .output()?;
    anyhow::ensure!(
        map.status.success(),
        "kadi map set failed: {}",
        String::from_utf8_lossy(&map.stderr)
    );
    let t = Instant::now();
    let mut child = Command::new(kadi)
        .arg("--db")
        .arg(db)
        .args([
            "sync",
            "--program",
            kadi::sim::PROGRAM_UID,
            "--page-size",
            &PAGE_SIZE.to_string(),
            "--json",
        ])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let (ok, peak_kb, io) = wait_with_peak_rss_and_io(&mut child);
    let secs = t.elapsed().as_secs_f64();
    anyhow::ensure!(ok, "kadi sync failed");
    // Bytes a first sync costs the SD card: the process's block writes against the size of
    // what it leaves behind (database plus WAL).
    let size = |p: std::path::PathBuf| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    let mut wal = db.as_os_str().to_owned();
    wal.push("-wal");
    let on_disk = size(db.to_path_buf()) + size(wal.into());
    let mb = |b: u64| b as f64 / 1e6;
    println!(
        "|         |   written: {:.0} MB to disk, {:.0} MB by write(2); database + WAL {:.0} MB |",
        mb(io.write_bytes),
        mb(io.wchar),
        mb(on_disk)
    );
    let mut out = String::new();
    if let Some(mut stdout) = child.stdout.take() {
        use std::io::Read;
        stdout.read_to_string(&mut out)?;
    }
    Ok((secs, peak_kb as f64 / 1024.0, serde_json::from_str(&out)?))
}

/// Waits for a child and returns (success, its peak resident set in KiB), read from the child's
/// own `VmHWM` while it runs (every 10 ms). Not `wait4`'s `ru_maxrss`: a child spawned the way
/// `Command` does (vfork semantics) carries this process's high-water mark into its own, so the
/// simulator held here inflated the rows (59 MB "peak" at 200,000 records for a sync that
/// `/usr/bin/time` puts at 44 MB).
fn wait_with_peak_rss(child: &mut std::process::Child) -> (bool, i64) {
    let (ok, peak, _) = wait_with_peak_rss_and_io(child);
    (ok, peak)
}

/// What a child process wrote, from its `/proc/PID/io` read once it has exited (and before it
/// is reaped): `write_bytes` is what it sent to the block layer (database, WAL, checkpoints),
/// `wchar` what it passed to `write(2)` and friends.
#[derive(Default, Clone, Copy)]
struct ChildIo {
    write_bytes: u64,
    wchar: u64,
}

/// As [`wait_with_peak_rss`], plus the child's write counters at exit.
fn wait_with_peak_rss_and_io(child: &mut std::process::Child) -> (bool, i64, ChildIo) {
    let pid = child.id();
    let status_file = format!("/proc/{pid}/status");
    let mut peak = 0;
    loop {
        if let Ok(s) = std::fs::read_to_string(&status_file) {
            let hwm = s
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<i64>().ok());
            peak = peak.max(hwm.unwrap_or(0));
        }
        // Wait without reaping, so /proc/PID/io still holds the exited child's totals.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        let r = unsafe {
            libc::waitid(
                libc::P_PID,
                pid as libc::id_t,
                &mut info,
                libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
            )
        };
        if r == 0 && unsafe { info.si_pid() } != 0 {
            let io = read_child_io(pid);
            return match child.wait() {
                Ok(status) => (status.success(), peak, io),
                Err(_) => (false, peak, io),
            };
        }
        if r != 0 {
            return (false, peak, ChildIo::default());
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

fn read_child_io(pid: u32) -> ChildIo {
    let text = std::fs::read_to_string(format!("/proc/{pid}/io")).unwrap_or_default();
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().parse::<u64>().ok())
            .unwrap_or(0)
    };
    ChildIo {
        write_bytes: field("write_bytes:"),
        wchar: field("wchar:"),
    }
}
