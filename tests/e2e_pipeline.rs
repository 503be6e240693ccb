//! End to end through the built binary: a DHIS2 simulator on a free loopback port, then
//! `kadi dhis2 config`, `map set`, `sync`, `cards generate` and `serve`, asserting on the store,
//! the JSON reports, the PNGs (size, ink, QR) and the page.
mod support;

use support::*;

const RECORDS: usize = 60;

#[test]
fn a_box_synced_from_the_simulator_shows_every_beneficiary_and_card() {
    let sim = kadi::sim::start(kadi::sim::SimConfig {
        records: RECORDS,
        seed: 7,
        ..Default::default()
    })
    .unwrap();
    let b = TestBox::new();

    let out = b.kadi(
        &[
            "dhis2",
            "config",
            "--url",
            &sim.base_url,
            "--username",
            "admin",
            "--password-stdin",
            "--json",
        ],
        "district\n",
    );
    support::assert_success(&out);
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("district"),
        "the password is never printed"
    );
    b.kadi_json(&["map", "set", "--program", PROGRAM, "--demo", "--json"]);

    let sync = b.kadi_json(&["sync", "--program", PROGRAM, "--json"]);
    assert_eq!(sync["status"], "ok", "{sync:#}");
    assert_eq!(sync["pulled"], RECORDS as u64, "{sync:#}");
    // Every record joins an identity or makes a new one; review items come on top of that.
    let identified = sync["mpi_resolved"].as_u64().unwrap() + sync["mpi_created"].as_u64().unwrap();
    assert_eq!(
        identified, RECORDS as u64,
        "every record is linked or new: {sync:#}"
    );

    // The sync folded what it wrote into the search index (the first search does not have to).
    let raw = rusqlite::Connection::open(&b.db).unwrap();
    let (stale, indexed): (i64, i64) = raw
        .query_row(
            "SELECT (SELECT count(*) FROM search_stale), (SELECT count(*) FROM search_records)",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!((stale, indexed), (0, RECORDS as i64));
    drop(raw);

    // The store: one card record per beneficiary, each with an MPI ID unless it waits for review.
    let store = kadi::store::Store::open(&b.db).unwrap();
    let cards = store.card_records(PROGRAM).unwrap();
    assert_eq!(cards.len(), RECORDS);
    assert!(
        cards.iter().all(|c| c.mpi_id.is_some()),
        "every card record has an MPI ID"
    );
    assert!(cards
        .iter()
        .all(|c| !c.record.fields.full_name().is_empty()));
    drop(store);

    // Cards on disk: one PNG each, CR80 at 300 dpi, with ink and a readable QR.
    let gen = b.kadi_json(&["cards", "generate", "--program", PROGRAM, "--json"]);
    assert_eq!(gen["cards_generated"], RECORDS as u64, "{gen:#}");
    let dir = std::path::PathBuf::from(gen["out_dir"].as_str().unwrap());
    let pngs: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "png"))
        .collect();
    assert_eq!(pngs.len(), RECORDS, "{}", dir.display());
    let (w, h, grey) = decode_png(&std::fs::read(&pngs[0]).unwrap());
    assert_card_300dpi(w, h, &grey);

    // The page: log in, list, preview; the DHIS2 password appears in no answer.
    b.add_staff("awa", "4321");
    let s = b.serve();
    let cookie = login(&s.url, "awa", "4321");
    let list = get(&format!("{}/api/beneficiaries", s.url), Some(&cookie));
    assert_eq!(list.json()["total"], RECORDS as u64);
    let first = list.json()["rows"][0].clone();
    let uid = first["enrollment_uid"].as_str().unwrap();
    let page = get(&format!("{}/beneficiaries", s.url), Some(&cookie));
    assert!(page
        .text()
        .contains(first["fields"]["last_name"].as_str().unwrap()));
    if let Some(mpi) = first["mpi_id"].as_str() {
        assert!(page.text().contains(mpi), "the list shows MPI IDs");
    }
    let png = get(
        &format!(
            "{}/dhis2/preview-card-png?enrollment_id={uid}&template=pulse&dpi=300",
            s.url
        ),
        Some(&cookie),
    );
    assert_eq!(png.status, 200, "{}", png.text());
    let (w, h, grey) = decode_png(&png.body);
    assert_card_300dpi(w, h, &grey);
    for body in [
        list.text(),
        page.text(),
        get(&format!("{}/api/status", s.url), Some(&cookie)).text(),
    ] {
        assert!(
            !body.contains("district"),
            "the DHIS2 password leaked into a response"
        );
    }
}

/// Counts finished sync runs in a box's store.
fn finished_sync_runs(db: &std::path::Path) -> i64 {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.query_row(
        "SELECT count(*) FROM sync_runs WHERE status = 'ok'",
        [],
        |r| r.get(0),
    )
    .unwrap()
}

#[test]
fn sync_now_on_the_page_runs_a_sync_and_is_audited() {
    let sim = kadi::sim::start(kadi::sim::SimConfig {
        records: 20,
        seed: 3,
        ..Default::default()
    })
    .unwrap();
    let b = TestBox::new();
    let out = b.kadi(
        &[
            "dhis2",
            "config",
            "--url",
            &sim.base_url,
            "--username",
            "admin",
            "--password-stdin",
        ],
        "district\n",
    );
    support::assert_success(&out);
    b.kadi_json(&["map", "set", "--program", PROGRAM, "--demo", "--json"]);
    b.add_staff("awa", "4321");
    let s = b.serve();
    let anonymous = post_form(&format!("{}/sync-now", s.url), None, &[]);
    assert_eq!(anonymous.status, 303);
    assert!(anonymous.location.starts_with("/login"));
    assert_eq!(finished_sync_runs(&b.db), 0);

    let cookie = login(&s.url, "awa", "4321");
    let csrf = session_csrf(&s.url, &cookie);
    let got = post_form(
        &format!("{}/sync-now", s.url),
        Some(&cookie),
        &[("csrf", &csrf)],
    );
    assert_eq!(got.status, 303);
    let started = std::time::Instant::now();
    while finished_sync_runs(&b.db) == 0 {
        assert!(
            started.elapsed().as_secs() < 60,
            "sync now did not finish a sync within a minute"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let status = get(&format!("{}/api/status", s.url), Some(&cookie)).json();
    assert_eq!(status["beneficiaries"], 20);
    assert!(status["last_sync_at"].is_string());
    let conn = rusqlite::Connection::open(&b.db).unwrap();
    let audited: i64 = conn
        .query_row(
            "SELECT count(*) FROM audit_log WHERE action = 'sync.requested' AND actor = 'awa'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(audited, 1);
}

/// CR80 at 300 dpi (either orientation), not blank, and carrying a QR code that decodes.
fn assert_card_300dpi(w: u32, h: u32, grey: &[u8]) {
    let (long, short) = (w.max(h), w.min(h));
    assert!(
        (1000..=1024).contains(&long) && (630..=645).contains(&short),
        "{w}x{h} is not CR80 at 300 dpi"
    );
    let dark = grey.iter().filter(|&&g| g < 128).count();
    assert!(dark > grey.len() / 200, "the card has almost no ink");
    let codes = decode_qr(w, h, grey);
    assert!(
        !codes.is_empty() && !codes[0].is_empty(),
        "no readable QR code on the card"
    );
}
