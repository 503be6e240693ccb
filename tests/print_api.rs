//! The print API over real HTTP (part s10-m): `POST /dhis2/generate-cards` answers 202 with a
//! task that `kadi serve`'s own worker runs to the end (`GET /dhis2/tasks/{id}`), the `org_unit`
//! filter takes the org units below it (a district selects its clinics), a task a killed server
//! left behind resumes at the next start, `preview-card-png` takes `sovereign_config`, and an
//! unknown program is a 4xx over the API and an error from the CLI.
//!
//! The box is synced from the DHIS2 simulator through the CLI, so org units and their paths are
//! what a real sync stores.
mod support;

use serde_json::{json, Value};
use std::time::{Duration, Instant};
use support::*;

const RECORDS: usize = 40;

/// A box synced from the simulator (demo mapping), with staff `awa`.
fn synced_box(sim: &kadi::sim::SimHandle) -> TestBox {
    let b = TestBox::new();
    cli_connect(&b.db, sim);
    b.kadi_json(&["map", "set", "--program", PROGRAM, "--demo", "--json"]);
    let sync = b.kadi_json(&["sync", "--program", PROGRAM, "--json"]);
    assert_eq!(sync["status"], "ok", "{sync:#}");
    b.add_staff("awa", "4321");
    b
}

fn sql_i64(db: &std::path::Path, sql: &str, p: &str) -> i64 {
    rusqlite::Connection::open(db)
        .unwrap()
        .query_row(sql, [p], |r| r.get(0))
        .unwrap()
}

/// The district holding the most enrollments (through its clinics), and its busiest clinic.
fn district_and_clinic(db: &std::path::Path) -> (String, String) {
    let c = rusqlite::Connection::open(db).unwrap();
    let district: String = c
        .query_row(
            "SELECT o.parent_uid FROM enrollments e JOIN org_units o ON o.uid = e.org_unit_uid
             GROUP BY o.parent_uid ORDER BY count(*) DESC, o.parent_uid LIMIT 1",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let clinic: String = c
        .query_row(
            "SELECT e.org_unit_uid FROM enrollments e JOIN org_units o ON o.uid = e.org_unit_uid
             WHERE o.parent_uid = ?1 GROUP BY e.org_unit_uid ORDER BY count(*) DESC LIMIT 1",
            [&district],
            |r| r.get(0),
        )
        .unwrap();
    (district, clinic)
}

/// POSTs JSON with the session cookie and its CSRF token, as the page's scripts do.
fn post_json(url: &str, cookie: &str, csrf: &str, body: &Value) -> (u16, Value) {
    let mut r = agent()
        .post(url)
        .header("Cookie", cookie)
        .header("X-CSRF-Token", csrf)
        .header("Content-Type", "application/json")
        .send(body.to_string().as_bytes())
        .unwrap();
    let status = r.status().as_u16();
    let text = r.body_mut().read_to_string().unwrap();
    // Refusals before the handler (CSRF, origin) are plain text.
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// Polls `GET /dhis2/tasks/{id}` until the task is done or failed (90 s at most).
fn wait_task(base: &str, cookie: &str, id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let got = get(&format!("{base}/dhis2/tasks/{id}"), Some(cookie));
        assert_eq!(got.status, 200, "{}", got.text());
        let t = got.json();
        if t["status"] == "done" || t["status"] == "failed" {
            return t;
        }
        assert!(Instant::now() < deadline, "task {id} did not finish: {t:#}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn generate_cards_answers_202_and_the_server_runs_the_task_over_a_district_s_clinics() {
    let sim = sim("2.41", RECORDS);
    let b = synced_box(&sim);
    let (district, clinic) = district_and_clinic(&b.db);
    // What a district selects lives in its clinics: none is enrolled at the district itself.
    let at_district = sql_i64(
        &b.db,
        "SELECT count(*) FROM enrollments WHERE org_unit_uid = ?1",
        &district,
    );
    assert_eq!(at_district, 0);
    let under_district = sql_i64(
        &b.db,
        "SELECT count(*) FROM enrollments e JOIN org_units o ON o.uid = e.org_unit_uid WHERE o.parent_uid = ?1",
        &district,
    );
    let at_clinic = sql_i64(
        &b.db,
        "SELECT count(*) FROM enrollments WHERE org_unit_uid = ?1",
        &clinic,
    );
    assert!(under_district > 0 && at_clinic > 0);

    let s = b.serve();
    let cookie = login(&s.url, "awa", "4321");
    let csrf = session_csrf(&s.url, &cookie);
    let body = json!({
        "programme_uid": PROGRAM, "template": "pulse", "dpi": 300, "include_mpi_id": true,
        "enrollment_filter": {"org_unit": district, "enrollment_status": "ACTIVE"}
    });
    let (status, queued) = post_json(
        &format!("{}/dhis2/generate-cards", s.url),
        &cookie,
        &csrf,
        &body,
    );
    assert_eq!(status, 202, "{queued:#}");
    let active_under_district = sql_i64(
        &b.db,
        "SELECT count(*) FROM enrollments e JOIN org_units o ON o.uid = e.org_unit_uid
         WHERE o.parent_uid = ?1 AND e.status = 'ACTIVE'",
        &district,
    );
    assert_eq!(
        queued["estimated_cards"], active_under_district,
        "{queued:#}"
    );
    let id = queued["task_id"].as_str().unwrap().to_string();

    let t = wait_task(&s.url, &cookie, &id);
    assert_eq!(t["status"], "done", "{t:#}");
    assert_eq!(t["cards_generated"], active_under_district, "{t:#}");
    assert_eq!(t["total_cards"], active_under_district, "{t:#}");
    assert_eq!(t["progress"], 100.0);
    assert!(
        t["started_at"].is_string() && t["finished_at"].is_string(),
        "{t:#}"
    );
    assert_eq!(
        t["mpi"]["with_mpi_id"].as_i64().unwrap() + t["mpi"]["without_mpi_id"].as_i64().unwrap(),
        active_under_district
    );

    // A clinic below it, with sheets: numbered cards in family-name order, sheets beside them.
    let body = json!({
        "programme_uid": PROGRAM, "template": "sovereign", "sheets": true,
        "enrollment_filter": {"org_unit": clinic},
        "sovereign_config": {"accent_hex": "#C8102E", "max_attrs": 4}
    });
    let (status, queued) = post_json(
        &format!("{}/dhis2/generate-cards", s.url),
        &cookie,
        &csrf,
        &body,
    );
    assert_eq!(status, 202, "{queued:#}");
    assert_eq!(queued["estimated_cards"], at_clinic);
    let t = wait_task(&s.url, &cookie, queued["task_id"].as_str().unwrap());
    assert_eq!(t["status"], "done", "{t:#}");
    check_print_files(&s.url, &cookie, &t, at_clinic);
}

/// The files of a finished sheets task of `cards_expected` cards: numbered cards in family-name
/// order, the sheet PNGs, the same sheets as a PDF, and nothing the task does not list.
fn check_print_files(base: &str, cookie: &str, t: &Value, cards_expected: i64) {
    let files: Vec<String> = t["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap().rsplit('/').next().unwrap().to_string())
        .collect();
    let cards: Vec<&String> = files
        .iter()
        .filter(|f| !f.starts_with("sheet") && f.ends_with(".png"))
        .collect();
    assert_eq!(cards.len() as i64, cards_expected, "{files:?}");
    let sheets = files.iter().filter(|f| f.starts_with("sheet-")).count();
    assert_eq!(sheets as i64, (cards_expected + 9) / 10);
    // The same sheets as one PDF, one A4 page each.
    assert!(files.contains(&"sheets.pdf".to_string()), "{files:?}");
    let pdf = get(
        &format!(
            "{}/print/tasks/{}/files/sheets.pdf",
            base,
            t["task_id"].as_str().unwrap()
        ),
        Some(cookie),
    );
    assert_eq!(
        (pdf.status, pdf.content_type.as_str()),
        (200, "application/pdf")
    );
    assert!(pdf.body.starts_with(b"%PDF-1.4") && pdf.body.ends_with(b"%%EOF\n"));
    let pages = pdf
        .body
        .windows(12)
        .filter(|w| w == b"/Type /Page ")
        .count();
    assert_eq!(pages, sheets);
    assert_eq!(
        pdf.body.windows(11).filter(|w| w == b"/Width 2480").count(),
        sheets,
        "each page is a 300 dpi A4 sheet"
    );
    assert!(cards[0].starts_with("0001-"), "{cards:?}");
    let family: Vec<String> = cards
        .iter()
        .map(|f| f.split('-').nth(1).unwrap().to_lowercase())
        .collect();
    let mut sorted = family.clone();
    sorted.sort();
    assert_eq!(family, sorted, "cards are numbered in family-name order");
    let png = get(
        &format!("{}{}", base, t["files"][0].as_str().unwrap()),
        Some(cookie),
    );
    assert_eq!((png.status, png.content_type.as_str()), (200, "image/png"));
    // A name the task does not list is not served, whatever the path says.
    let sneaky = get(
        &format!(
            "{}/print/tasks/{}/files/..%2F..%2Fkadi.db",
            base,
            t["task_id"].as_str().unwrap()
        ),
        Some(cookie),
    );
    assert_eq!(sneaky.status, 404);
}

#[test]
fn a_queued_task_a_killed_server_left_generating_resumes_at_the_next_start() {
    let sim = sim("2.41", 24);
    let b = synced_box(&sim);
    let store = kadi::store::Store::open(&b.db).unwrap();
    let queued = kadi::cards::queue(
        &store,
        &kadi::actor::Actor::Staff("awa".into()),
        &kadi::cards::GenerateRequest::new(PROGRAM),
    )
    .unwrap();
    // As a server killed in its first batch leaves it: generating, nothing done yet.
    store.start_task(&queued.task_id, 24, 0).unwrap();
    drop(store);
    let s = b.serve();
    let cookie = login(&s.url, "awa", "4321");
    let t = wait_task(&s.url, &cookie, &queued.task_id);
    assert_eq!(t["status"], "done", "{t:#}");
    assert_eq!(
        (t["cards_generated"].as_i64(), t["total_cards"].as_i64()),
        (Some(24), Some(24))
    );
}

#[test]
fn preview_card_png_takes_sovereign_config_and_it_changes_the_card() {
    let sim = sim("2.41", 5);
    let b = synced_box(&sim);
    let enrollment: String = rusqlite::Connection::open(&b.db)
        .unwrap()
        .query_row("SELECT min(enrollment_uid) FROM card_records", [], |r| {
            r.get(0)
        })
        .unwrap();
    let s = b.serve();
    let cookie = login(&s.url, "awa", "4321");
    let base = format!(
        "{}/dhis2/preview-card-png?enrollment_id={enrollment}&template=sovereign&dpi=300",
        s.url
    );
    let plain = get(&base, Some(&cookie));
    assert_eq!(
        (plain.status, plain.content_type.as_str()),
        (200, "image/png")
    );
    let config = http_encode(r##"{"accent_hex":"#C8102E","bg_deep_hex":"#004422"}"##);
    let sovereign = get(&format!("{base}&sovereign_config={config}"), Some(&cookie));
    assert_eq!(sovereign.status, 200, "{}", sovereign.text());
    assert_ne!(sovereign.body, plain.body, "the colours changed the card");
    let options = get(&format!("{base}&template_options={config}"), Some(&cookie));
    assert_eq!(
        options.body, sovereign.body,
        "both names are the same options"
    );
    // The navy header became the given deep green.
    assert_eq!(rgb_at(&sovereign.body, 5, 5), [0x00, 0x44, 0x22]);
    assert_ne!(rgb_at(&plain.body, 5, 5), [0x00, 0x44, 0x22]);
    for bad in [
        format!(
            "{base}&sovereign_config={}",
            http_encode(r#"{"accent_hex":"red"}"#)
        ),
        format!(
            "{base}&sovereign_config={}",
            http_encode(r##"{"colour":"#000000"}"##)
        ),
        format!("{base}&sovereign_config={config}&template_options={config}"),
    ] {
        let got = get(&bad, Some(&cookie));
        assert_eq!(got.status, 400, "{bad}: {}", got.text());
    }
}

/// The RGB colour of one pixel of a (palette) PNG.
fn rgb_at(bytes: &[u8], x: u32, y: u32) -> [u8; 3] {
    let mut decoder = png::Decoder::new(std::io::Cursor::new(bytes));
    decoder.set_transformations(png::Transformations::EXPAND);
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    let n = info.color_type.samples();
    let at = ((y * info.width + x) as usize) * n;
    [buf[at], buf[at + 1], buf[at + 2]]
}

fn http_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[test]
fn an_unknown_program_is_a_4xx_over_the_api_and_an_error_from_the_cli() {
    let sim = sim("2.41", 3);
    let b = synced_box(&sim);
    let out = b.kadi(&["cards", "generate", "--program", "WRONGPROG"], "");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("kadi: error: unknown program WRONGPROG; known programs: ")
            && err.contains(PROGRAM),
        "{err}"
    );
    assert!(!String::from_utf8_lossy(&out.stdout).contains("cards ready"));

    let s = b.serve();
    let cookie = login(&s.url, "awa", "4321");
    let csrf = session_csrf(&s.url, &cookie);
    let url = format!("{}/dhis2/generate-cards", s.url);
    let (status, e) = post_json(&url, &cookie, &csrf, &json!({"programme_uid": "WRONGPROG"}));
    assert_eq!(status, 422, "{e:#}");
    assert!(
        e["error"]
            .as_str()
            .unwrap()
            .contains("unknown program WRONGPROG"),
        "{e:#}"
    );
    let (status, e) = post_json(
        &url,
        &cookie,
        &csrf,
        &json!({"programme_uid": PROGRAM, "template": "nope"}),
    );
    assert_eq!(status, 400, "{e:#}");
    // No CSRF token, no task; no session, 401.
    let (status, _) = post_json(&url, &cookie, "forged", &json!({"programme_uid": PROGRAM}));
    assert_eq!(status, 403);
    assert_eq!(
        get(&format!("{}/dhis2/tasks/nope", s.url), None).status,
        401
    );
    assert_eq!(
        get(&format!("{}/dhis2/tasks/nope", s.url), Some(&cookie)).status,
        404
    );
    assert_eq!(
        sql_i64(
            &b.db,
            "SELECT count(*) FROM tasks WHERE queued_by IS NOT NULL AND ?1 = ?1",
            "x"
        ),
        0
    );
}
