//! `kadi sim dhis2`, `kadi dhis2 config` and `kadi dhis2 test` end to end through the built
//! binary: connected with the version, auth_failed and unreachable with non-zero exits, and the
//! password never visible in output or in the database files.
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use support::{closed_port, run, KADI};

mod support;

const PASSWORD: &str = "Zq7-district-S3cret";

/// A `kadi sim dhis2` child process, killed when dropped.
struct SimProcess {
    child: Child,
    base_url: String,
}

impl Drop for SimProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_sim(version: &str, extra: &[&str]) -> SimProcess {
    let mut child = Command::new(KADI)
        .args([
            "sim",
            "dhis2",
            "--listen",
            "127.0.0.1:0",
            "--version",
            version,
            "--records",
            "40",
            "--json",
        ])
        .args(["--password", PASSWORD])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kadi sim starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let v: serde_json::Value =
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line:?}"));
    let base_url = v["base_url"].as_str().unwrap().to_string();
    SimProcess { child, base_url }
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn assert_no_password_in_files(dir: &Path) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if name.ends_with(".key") {
            continue;
        }
        let bytes = std::fs::read(&path).unwrap();
        let found = bytes
            .windows(PASSWORD.len())
            .any(|w| w == PASSWORD.as_bytes());
        assert!(!found, "the password is in clear text in {name}");
    }
}

#[test]
fn config_then_test_reports_connected_with_the_version() {
    let sim = start_sim("2.40", &[]);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("kadi.db");
    let pasted = format!("{}/api/", sim.base_url);
    let out = run(
        &db,
        &[
            "dhis2",
            "config",
            "--url",
            &pasted,
            "--username",
            "admin",
            "--password-stdin",
            "--json",
        ],
        Some(&format!("{PASSWORD}\n")),
    );
    assert!(out.status.success(), "{}", text(&out));
    let saved: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        saved["base_url"],
        sim.base_url.as_str(),
        "the pasted /api/ is normalised away"
    );

    let out = run(&db, &["dhis2", "test", "--json"], None);
    assert!(out.status.success(), "{}", text(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["status"], "connected");
    assert_eq!(v["dhis2_version"], "2.40.0");
    assert_eq!(v["programmes_available"], 1);
    assert_eq!(v["organisation_units"], 53);
    assert!(v["server_date"].as_str().unwrap().starts_with("20"));
    assert!(!text(&out).contains(PASSWORD));
    assert_no_password_in_files(dir.path());
}

#[test]
fn a_wrong_password_says_auth_failed_and_exits_non_zero() {
    let sim = start_sim("2.41", &[]);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("kadi.db");
    let wrong = "Wrong-Pass-9876";
    let out = run(
        &db,
        &[
            "dhis2",
            "config",
            "--url",
            &sim.base_url,
            "--username",
            "admin",
            "--password-stdin",
        ],
        Some(wrong),
    );
    assert!(out.status.success(), "{}", text(&out));
    let out = run(&db, &["dhis2", "test", "--json"], None);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["status"], "auth_failed");
    assert!(v["error"].as_str().unwrap().contains("401"));
    assert!(!text(&out).contains(wrong) && !text(&out).contains(PASSWORD));
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let path = entry.unwrap().path();
        if !path.to_string_lossy().ends_with(".key") {
            let bytes = std::fs::read(&path).unwrap();
            assert!(
                !bytes.windows(wrong.len()).any(|w| w == wrong.as_bytes()),
                "{}",
                path.display()
            );
        }
    }
}

#[test]
fn a_closed_port_says_unreachable_without_panicking() {
    let port = closed_port();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("kadi.db");
    let url = format!("http://127.0.0.1:{port}");
    let out = run(
        &db,
        &[
            "dhis2",
            "config",
            "--url",
            &url,
            "--username",
            "admin",
            "--password-stdin",
        ],
        Some(PASSWORD),
    );
    assert!(out.status.success(), "{}", text(&out));
    let out = run(&db, &["dhis2", "test", "--json"], None);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["status"], "unreachable");
    assert!(v["error"].as_str().is_some());
    assert!(!text(&out).contains("panicked"));
    let out = run(&db, &["dhis2", "test"], None);
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unreachable"));
}

#[test]
fn a_personal_access_token_connects() {
    let sim = start_sim("2.42", &["--token", "d2pat_testtoken123"]);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("kadi.db");
    let out = run(
        &db,
        &["dhis2", "config", "--url", &sim.base_url, "--token-stdin"],
        Some("d2pat_testtoken123\n"),
    );
    assert!(out.status.success(), "{}", text(&out));
    let out = run(&db, &["dhis2", "test", "--json"], None);
    assert!(out.status.success(), "{}", text(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["dhis2_version"], "2.42.0");
    assert!(!text(&out).contains("d2pat_testtoken123"));
}

#[test]
fn sim_writes_the_duplicate_truth_file() {
    let dir = tempfile::tempdir().unwrap();
    let truth = dir.path().join("truth.csv");
    let truth_arg = truth.to_string_lossy().to_string();
    let _sim = start_sim("2.41", &["--seed", "3", "--truth", &truth_arg]);
    let csv = std::fs::read_to_string(&truth).unwrap();
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some("id_a,id_b"));
    for line in lines {
        let (a, b) = line.split_once(',').unwrap();
        assert!(a.len() == 11 && b.len() == 11, "{line}");
    }
}

#[test]
fn testing_without_a_configuration_says_not_configured() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(
        &dir.path().join("kadi.db"),
        &["dhis2", "test", "--json"],
        None,
    );
    assert_eq!(out.status.code(), Some(5));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["status"], "not_configured");
}

/// The head of a GET of `/api/system/info` that accepts gzip, lower-cased.
fn system_info_head(sim: &SimProcess) -> String {
    use base64::Engine;
    use std::io::Read;
    let addr = sim.base_url.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("admin:{PASSWORD}"));
    write!(
        s,
        "GET /api/system/info HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Basic {auth}\r\nAccept-Encoding: gzip\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut all = Vec::new();
    s.read_to_end(&mut all).unwrap();
    let end = all.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    String::from_utf8_lossy(&all[..end]).to_lowercase()
}

#[test]
fn the_simulator_gzips_like_nginx_unless_told_not_to() {
    let head = system_info_head(&start_sim("2.41", &[]));
    assert!(
        head.starts_with("http/1.1 200") && head.contains("content-encoding: gzip"),
        "{head}"
    );
    let head = system_info_head(&start_sim("2.41", &["--no-gzip"]));
    assert!(
        head.starts_with("http/1.1 200") && !head.contains("content-encoding"),
        "{head}"
    );
}
