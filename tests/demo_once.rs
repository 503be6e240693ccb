//! `kadi demo`: the whole pipeline against the in-process simulator, once with a JSON summary,
//! and serving the page with a demo login.
mod support;

use support::*;

#[test]
fn demo_once_reports_every_record_its_identities_and_cards() {
    let b = TestBox::new();
    // The bar: 500 records and as many cards (under a minute on 2 cores in release).
    let records = 500;
    let started = std::time::Instant::now();
    let summary = b.kadi_json(&[
        "demo",
        "--once",
        "--json",
        "--records",
        &records.to_string(),
    ]);
    eprintln!(
        "kadi demo --once --records {records}: {:.1} s (debug build)",
        started.elapsed().as_secs_f64()
    );
    assert_eq!(summary["records"], records);
    assert_eq!(summary["cards_written"], records);
    let mpi: u64 = ["mpi_resolved", "mpi_created"]
        .iter()
        .map(|k| summary[k].as_u64().unwrap())
        .sum();
    assert!(
        mpi >= records as u64,
        "every record is linked or new: {summary:#}"
    );
    assert!(summary["mpi_identities"].as_u64().unwrap() > 0);
    assert!(summary["mpi_identities"].as_u64().unwrap() <= records as u64);
    assert_eq!(summary["database"], b.db.display().to_string());
    assert!(std::path::Path::new(summary["cards_dir"].as_str().unwrap()).is_dir());
    assert!(summary.get("url").is_none(), "--once serves nothing");

    // Running it again on the same box is fine and changes nothing.
    let again = b.kadi_json(&[
        "demo",
        "--once",
        "--json",
        "--records",
        &records.to_string(),
    ]);
    assert_eq!(again["records"], records);
    assert_eq!(again["cards_written"], records);
}

#[test]
fn demo_serves_the_page_and_prints_a_working_staff_login() {
    let b = TestBox::new();
    let mut child = std::process::Command::new(KADI)
        .arg("--db")
        .arg(&b.db)
        .args([
            "demo",
            "--records",
            "25",
            "--listen",
            "127.0.0.1:0",
            "--json",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut reader = std::io::BufReader::new(stdout);
    let mut text = String::new();
    let summary: serde_json::Value = loop {
        let mut line = String::new();
        let n = std::io::BufRead::read_line(&mut reader, &mut line).unwrap();
        assert!(n > 0, "kadi demo exited early:\n{text}");
        text.push_str(&line);
        if let Ok(v) = serde_json::from_str(&text) {
            break v;
        }
    };
    let served = Served {
        child,
        url: summary["url"].as_str().unwrap().to_string(),
    };
    let user = summary["staff_username"].as_str().unwrap();
    let pin = summary["staff_pin"].as_str().unwrap();
    let cookie = login(&served.url, user, pin);
    let list = get(&format!("{}/api/beneficiaries", served.url), Some(&cookie)).json();
    assert_eq!(list["total"], 25);
}
