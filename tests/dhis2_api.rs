//! The Oomus-shaped `/dhis2/*` routes of s10-a over real HTTP against the project's DHIS2
//! simulator on 127.0.0.1: the config round trip (`config_id`, `created_at`, `updated_at`, never
//! the password), test-connection (version, programmes and org units by name; a wrong password in
//! plain words), preview-enrollments with its filters, assign-codes (the mapping body, counts),
//! sync-schedule (a POST changes what the scheduler's pass does), and the error answers.
mod support;

use serde_json::{json, Value};
use support::*;

fn call(method: &str, url: &str, bearer: &str, body: Option<&str>) -> Got {
    api_call(method, url, Some(bearer), None, None, body)
}

/// A box with admin and staff tokens, serving; `synced` pulls the simulator's data first.
fn api_box(sim: &kadi::sim::SimHandle, synced: bool) -> (TestBox, Served, String, String) {
    let b = TestBox::new();
    if synced {
        drop(mapped_sim_store(b.dir.path(), sim));
        let out = b.kadi(&["sync", "--program", PROGRAM, "--json"], "");
        assert_success(&out);
    }
    let token = |name: &str, role: &str| {
        b.kadi_json(&["token", "create", "--name", name, "--role", role, "--json"])["token"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let (admin, staff) = (token("etl", "admin"), token("desk", "staff"));
    let s = b.serve();
    (b, s, admin, staff)
}

#[test]
fn the_config_round_trip_never_returns_the_password_and_test_connection_names_what_dhis2_shows() {
    let sim = sim("2.40", 12);
    let (b, s, admin, _) = api_box(&sim, false);
    let url = format!("{}/dhis2/config", s.url);
    let got = call("GET", &url, &admin, None);
    assert_eq!(got.status, 404, "{}", got.text());

    let body = json!({
        "dhis2_url": format!("{}/api/", sim.base_url),
        "username": "admin",
        "password": "district",
        "programme_uid": PROGRAM,
    });
    let got = call("POST", &url, &admin, Some(&body.to_string()));
    assert_eq!(got.status, 200, "{}", got.text());
    assert!(!got.text().contains("district"), "{}", got.text());
    let saved = got.json();
    assert_eq!(saved["config_id"], 1);
    assert_eq!(saved["dhis2_url"], sim.base_url.as_str());
    assert_eq!(saved["programme_uid"], PROGRAM);
    assert_eq!(saved["secret_stored"], true);
    let (created, updated) = (saved["created_at"].clone(), saved["updated_at"].clone());
    assert!(created.as_str().unwrap().ends_with('Z') && updated.is_string());

    let got = call("GET", &url, &admin, None);
    assert_eq!(got.status, 200);
    assert!(!got.text().contains("district"));
    assert_eq!(got.json()["created_at"], created);

    // test-connection: version, programmes and org units by name.
    let test = format!("{}/dhis2/test-connection", s.url);
    let got = call("POST", &test, &admin, Some("{}"));
    assert_eq!(got.status, 200, "{}", got.text());
    let r = got.json();
    assert_eq!(r["status"], "connected", "{r:#}");
    assert_eq!(r["dhis2_version"], "2.40.0");
    assert_eq!(r["programs"][0]["uid"], PROGRAM);
    assert!(
        r["programs"][0]["name"]
            .as_str()
            .unwrap()
            .contains("Health ID"),
        "{r:#}"
    );
    assert_eq!(r["org_units"][0]["name"], "Sénégal", "{r:#}");
    assert_eq!(r["organisation_units"], 53);
    assert_eq!(r["programme_found"], true);

    // A new address without the password is refused (the stored one is not sent elsewhere).
    let moved = json!({ "dhis2_url": "http://203.0.113.9", "username": "admin" });
    let got = call("POST", &url, &admin, Some(&moved.to_string()));
    assert_eq!(got.status, 400, "{}", got.text());
    assert!(got.json()["error"]
        .as_str()
        .unwrap()
        .contains("password is required"));
    // The same address and user keep the stored password.
    let same = json!({ "dhis2_url": sim.base_url, "username": "admin", "programme_uid": PROGRAM });
    let got = call("POST", &url, &admin, Some(&same.to_string()));
    assert_eq!(got.status, 200, "{}", got.text());
    assert_eq!(got.json()["created_at"], created);

    // A wrong password: the test says so in plain words.
    let wrong =
        json!({ "dhis2_url": sim.base_url, "username": "admin", "password": "Wrong-Pass-1" });
    assert_eq!(
        call("POST", &url, &admin, Some(&wrong.to_string())).status,
        200
    );
    let r = call("POST", &test, &admin, Some("{}")).json();
    assert_eq!(r["status"], "auth_failed");
    let words = r["error"].as_str().unwrap();
    assert!(
        words.contains("refused the username and password"),
        "{words}"
    );
    for file in ["kadi.db", "kadi.db-wal"] {
        let bytes = std::fs::read(b.dir.path().join(file)).unwrap_or_default();
        for secret in ["district", "Wrong-Pass-1"] {
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "{file}"
            );
        }
    }
}

#[test]
fn preview_assign_codes_and_the_schedule_answer_as_the_command_line_does() {
    let sim = sim("2.41", 30);
    let (b, s, admin, staff) = api_box(&sim, true);

    // preview-enrollments (staff), with the CLI's filters.
    let base = format!("{}/dhis2/preview-enrollments", s.url);
    let got = call(
        "GET",
        &format!("{base}?programme_uid={PROGRAM}&limit=3"),
        &staff,
        None,
    );
    assert_eq!(got.status, 200, "{}", got.text());
    let all = got.json();
    assert_eq!(all["total_enrollments"], 30);
    assert_eq!(all["preview"].as_array().unwrap().len(), 3);
    let cli = b.kadi_json(&[
        "dhis2",
        "preview",
        "--program",
        PROGRAM,
        "--limit",
        "3",
        "--json",
    ]);
    assert_eq!(all, cli, "the route and the CLI answer the same");
    let from = all["preview"][0]["enrollment_date"].as_str().unwrap();
    let got = call(
        "GET",
        &format!(
            "{base}?programme_uid={PROGRAM}&enrollment_date_from={from}&enrollment_date_to={from}"
        ),
        &staff,
        None,
    );
    let on_day = got.json();
    assert!(on_day["total_enrollments"].as_u64().unwrap() >= 1);
    assert!(
        on_day["total_enrollments"].as_u64().unwrap() < 30,
        "{on_day:#}"
    );
    let got = call(
        "GET",
        &format!("{base}?programme_uid=WRONGPROG"),
        &staff,
        None,
    );
    assert_eq!(got.status, 404, "{}", got.text());
    assert!(got.json()["error"]
        .as_str()
        .unwrap()
        .contains("unknown program"));
    let got = call(
        "GET",
        &format!("{base}?programme_uid={PROGRAM}&enrollment_date_from=May"),
        &staff,
        None,
    );
    assert_eq!(got.status, 400, "{}", got.text());

    // assign-codes (admin): the mapping body, the counts back.
    let mapping = serde_json::to_string(&kadi::demo::demo_mapping()).unwrap();
    let url = format!("{}/dhis2/assign-codes", s.url);
    assert_eq!(call("POST", &url, &staff, Some(&mapping)).status, 403);
    let got = call("POST", &url, &admin, Some(&mapping));
    assert_eq!(got.status, 200, "{}", got.text());
    let r = got.json();
    assert_eq!(r["programme_uid"], PROGRAM);
    assert!(r["mappings_configured"].as_u64().unwrap() >= 5, "{r:#}");
    let got = call("POST", &url, &admin, Some("{\"programme_uid\": 7}"));
    assert_eq!(got.status, 400, "{}", got.text());

    // sync-schedule: off, then every 10 minutes; the scheduler's pass follows each.
    let url = format!("{}/dhis2/sync-schedule", s.url);
    let off = json!({ "programme_uid": PROGRAM, "enabled": false });
    let got = call("POST", &url, &admin, Some(&off.to_string()));
    assert_eq!(got.status, 200, "{}", got.text());
    assert_eq!(got.json()["next_sync"], Value::Null);
    let tick = || b.kadi_json(&["schedule", "tick", "--json"]);
    assert_eq!(tick().as_array().unwrap().len(), 0, "off: no run");
    // The program has synced, so an enabled schedule is due one interval from now: move it.
    let on = json!({ "programme_uid": PROGRAM, "interval_minutes": 10 });
    let got = call("POST", &url, &admin, Some(&on.to_string()));
    assert_eq!(got.status, 200, "{}", got.text());
    assert_eq!(got.json()["interval_minutes"], 10);
    rusqlite::Connection::open(&b.db)
        .unwrap()
        .execute(
            "UPDATE sync_schedule SET next_sync_at = '2020-01-01T00:00:00Z'",
            [],
        )
        .unwrap();
    let runs = tick();
    assert_eq!(
        runs.as_array().unwrap().len(),
        1,
        "every 10 min: a run: {runs:#}"
    );
    let listed = call("GET", &url, &staff, None).json();
    assert_eq!(listed["schedules"][0]["interval_minutes"], 10);
    assert_eq!(listed["allowed_intervals"], json!([10, 15, 30, 60, 180]));
    let bad = json!({ "programme_uid": PROGRAM, "interval_minutes": 20 });
    let got = call("POST", &url, &admin, Some(&bad.to_string()));
    assert_eq!(got.status, 400);
    assert!(got.json()["error"]
        .as_str()
        .unwrap()
        .contains("10, 15, 30, 60, 180"));
}

#[test]
fn wrong_methods_bodies_and_sizes_get_json_errors() {
    let sim = sim("2.41", 5);
    let (_b, s, admin, _) = api_box(&sim, false);
    let got = call("DELETE", &format!("{}/dhis2/config", s.url), &admin, None);
    assert_eq!(got.status, 405);
    assert!(got.json()["error"].is_string());
    let got = call(
        "GET",
        &format!("{}/dhis2/test-connection", s.url),
        &admin,
        None,
    );
    assert_eq!(got.status, 405);
    let got = call(
        "POST",
        &format!("{}/dhis2/config", s.url),
        &admin,
        Some("not json"),
    );
    assert_eq!(got.status, 400, "{}", got.text());
    let big = format!("{{\"dhis2_url\": \"{}\"}}", "x".repeat(40 * 1024));
    let got = call(
        "POST",
        &format!("{}/dhis2/config", s.url),
        &admin,
        Some(&big),
    );
    assert_eq!(got.status, 413, "{}", got.text());
    // A generate-cards body over the front's 64 KiB (a selection of ~6,000 UIDs) is refused too.
    let uids: Vec<String> = (0..6_000).map(|i| format!("\"E{i:010}\"")).collect();
    let huge = format!(
        "{{\"programme_uid\": \"P3jJH5Tu5VC\", \"enrollment_filter\": {{\"enrollment_uids\": [{}]}}}}",
        uids.join(",")
    );
    assert!(huge.len() > 64 * 1024);
    let got = call(
        "POST",
        &format!("{}/dhis2/generate-cards", s.url),
        &admin,
        Some(&huge),
    );
    assert_eq!(got.status, 413, "{}", got.text());
    let got = call(
        "POST",
        &format!("{}/dhis2/test-connection", s.url),
        &admin,
        Some("{}"),
    );
    assert_eq!(got.status, 200);
    assert_eq!(got.json()["status"], "not_configured");
}

/// The scheduler thread of a running `kadi serve` follows a schedule posted to the API, without
/// a restart: a programme that never synced is due at once, so its next pass (about every 30 s)
/// syncs it, audited as the scheduler.
#[test]
fn a_posted_schedule_is_followed_by_the_running_scheduler() {
    let sim = sim("2.41", 6);
    let b = TestBox::new();
    drop(mapped_sim_store(b.dir.path(), &sim));
    let admin = b.kadi_json(&[
        "token", "create", "--name", "etl", "--role", "admin", "--json",
    ])["token"]
        .as_str()
        .unwrap()
        .to_string();
    let mut child = std::process::Command::new(KADI)
        .arg("--db")
        .arg(&b.db)
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--threads",
            "2",
            "--json",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let url = read_json_url(&mut child);
    let served = Served { child, url };
    wait_healthy(&served.url);
    let runs = |db: &std::path::Path| -> i64 {
        rusqlite::Connection::open(db)
            .unwrap()
            .query_row("SELECT count(*) FROM sync_runs", [], |r| r.get(0))
            .unwrap()
    };
    // The scheduler's first pass found no schedule: no run.
    std::thread::sleep(std::time::Duration::from_secs(1));
    assert_eq!(runs(&b.db), 0);
    let body = json!({ "programme_uid": PROGRAM, "interval_minutes": 60 });
    let got = call(
        "POST",
        &format!("{}/dhis2/sync-schedule", served.url),
        &admin,
        Some(&body.to_string()),
    );
    assert_eq!(got.status, 200, "{}", got.text());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(90);
    while runs(&b.db) == 0 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
    assert_eq!(
        runs(&b.db),
        1,
        "the scheduler did not follow the posted schedule in 90 s"
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let audited = || -> i64 {
        rusqlite::Connection::open(&b.db)
            .unwrap()
            .query_row(
                "SELECT count(*) FROM audit_log WHERE action = 'sync.run' AND actor = 'scheduler'",
                [],
                |r| r.get(0),
            )
            .unwrap()
    };
    while audited() == 0 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
    assert_eq!(audited(), 1, "the run is the scheduler's");
    drop(served);
}
