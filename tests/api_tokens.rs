//! API tokens over real HTTP: an admin makes a token with `kadi token create --json`, a script
//! uses it as `Authorization: Bearer` on the JSON API, a staff token is refused on admin routes
//! (403), a revoked or unknown token is a 401 with a clear JSON error, and the token never shows
//! in the server's log, the database or the audit trail (which names it `token:NAME`). A call
//! with the session cookie and no Bearer token still needs the CSRF token; a Bearer call needs
//! none, and a bad Bearer token is never rescued by a valid cookie.
mod support;

use serde_json::{json, Value};
use support::*;

fn admin_box() -> TestBox {
    let b = TestBox::new();
    let out = b.kadi(
        &[
            "staff",
            "add",
            "--username",
            "ada",
            "--pin-stdin",
            "--admin",
        ],
        "2468\n",
    );
    assert_success(&out);
    b
}

fn create_token(b: &TestBox, name: &str, role: &str) -> String {
    let v = b.kadi_json(&["token", "create", "--name", name, "--role", role, "--json"]);
    assert_eq!(v["name"], name);
    assert_eq!(v["role"], role);
    v["token"]
        .as_str()
        .expect("the token is printed")
        .to_string()
}

/// A request with optional Bearer token, cookie, CSRF header and JSON body.
fn call(
    method: &str,
    url: &str,
    bearer: Option<&str>,
    cookie: Option<&str>,
    csrf: Option<&str>,
    body: Option<&Value>,
) -> Got {
    let body = body.map(Value::to_string);
    api_call(method, url, bearer, cookie, csrf, body.as_deref())
}

fn count(db: &std::path::Path, sql: &str) -> i64 {
    rusqlite::Connection::open(db)
        .unwrap()
        .query_row(sql, [], |r| r.get(0))
        .unwrap()
}

#[test]
fn a_token_works_until_revoked_and_never_shows_in_logs_database_or_audit() {
    let sim = sim("2.41", 10);
    let b = admin_box();
    drop(mapped_sim_store(b.dir.path(), &sim));
    let admin = create_token(&b, "etl", "admin");
    let staff = create_token(&b, "desk", "staff");
    assert!(admin.starts_with("kadi_") && admin.len() >= 45, "{admin}");
    let log = b.dir.path().join("serve.log");
    let s = b.serve_with(
        &["--listen", "127.0.0.1:0", "--threads", "2"],
        None,
        Some(&log),
    );
    let schedule = format!("{}/dhis2/sync-schedule", s.url);

    // Staff token: staff routes yes, admin routes 403.
    let got = call("GET", &schedule, Some(&staff), None, None, None);
    assert_eq!(got.status, 200, "{}", got.text());
    assert!(got.json()["allowed_intervals"].is_array());
    let body = json!({ "programme_uid": PROGRAM, "interval_minutes": 30 });
    let got = call("POST", &schedule, Some(&staff), None, None, Some(&body));
    assert_eq!(got.status, 403, "{}", got.text());
    assert!(got.json()["error"].as_str().unwrap().contains("admin"));
    let got = call(
        "GET",
        &format!("{}/dhis2/config", s.url),
        Some(&staff),
        None,
        None,
        None,
    );
    assert_eq!(got.status, 403, "{}", got.text());

    // Admin token: the POST needs no CSRF token and is audited as the token.
    let got = call("POST", &schedule, Some(&admin), None, None, Some(&body));
    assert_eq!(got.status, 200, "{}", got.text());
    assert_eq!(got.json()["interval_minutes"], 30);
    assert_eq!(
        count(
            &b.db,
            "SELECT count(*) FROM audit_log WHERE action = 'sync.schedule.set' AND actor = 'token:etl'"
        ),
        1
    );

    // Listing shows names and use, never a token.
    let out = b.kadi(&["token", "list", "--json"], "");
    assert_success(&out);
    let list = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(!list.contains(&admin) && !list.contains(&staff), "{list}");
    let listed: Value = serde_json::from_str(&list).unwrap();
    let etl = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "etl")
        .unwrap();
    assert!(etl["last_used_at"].is_string(), "{etl}");

    // Revoked: 401 with a clear JSON error.
    assert_success(&b.kadi(&["token", "revoke", "etl"], ""));
    let got = call("POST", &schedule, Some(&admin), None, None, Some(&body));
    assert_eq!(got.status, 401, "{}", got.text());
    let err = got.json()["error"].as_str().unwrap().to_string();
    assert!(err.contains("revoked"), "{err}");
    let got = call(
        "GET",
        &schedule,
        Some("kadi_not-a-real-token"),
        None,
        None,
        None,
    );
    assert_eq!(got.status, 401);
    assert!(got.json()["error"].as_str().unwrap().contains("not valid"));
    // Revoking twice is not an error; an unknown name is one.
    assert_success(&b.kadi(&["token", "revoke", "etl"], ""));
    let out = b.kadi(&["token", "revoke", "nobody"], "");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).starts_with("kadi: error: "));

    // The tokens appear nowhere the box writes.
    drop(s);
    let log_text = std::fs::read_to_string(&log).unwrap();
    assert!(
        log_text.contains("POST /dhis2/sync-schedule 401"),
        "{log_text}"
    );
    for entry in std::fs::read_dir(b.dir.path()).unwrap() {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        for t in [&admin, &staff] {
            assert!(
                !bytes.windows(t.len()).any(|w| w == t.as_bytes()),
                "a token is in {}",
                path.display()
            );
        }
    }
    assert_eq!(
        count(
            &b.db,
            "SELECT count(*) FROM audit_log WHERE entity LIKE 'token:%' AND action IN ('token.create', 'token.revoke')"
        ),
        3
    );
}

#[test]
fn a_session_call_needs_its_csrf_token_and_a_bad_bearer_is_not_rescued_by_the_cookie() {
    let sim = sim("2.41", 10);
    let b = admin_box();
    drop(mapped_sim_store(b.dir.path(), &sim));
    let s = b.serve();
    let schedule = format!("{}/dhis2/sync-schedule", s.url);
    let cookie = login(&s.url, "ada", "2468");
    let body = json!({ "programme_uid": PROGRAM, "interval_minutes": 60 });
    // The session cookie alone (what a hostile page could make a browser send): refused.
    let got = call("POST", &schedule, None, Some(&cookie), None, Some(&body));
    assert_eq!(got.status, 403, "{}", got.text());
    assert!(got.json()["error"].as_str().unwrap().contains("CSRF"));
    let got = call(
        "POST",
        &schedule,
        None,
        Some(&cookie),
        Some("forged"),
        Some(&body),
    );
    assert_eq!(got.status, 403, "{}", got.text());
    // With the session's CSRF token (from /api/session): accepted, audited as the admin.
    let session = get(&format!("{}/api/session", s.url), Some(&cookie)).json();
    let csrf = session["csrf_token"].as_str().unwrap().to_string();
    let got = call(
        "POST",
        &schedule,
        None,
        Some(&cookie),
        Some(&csrf),
        Some(&body),
    );
    assert_eq!(got.status, 200, "{}", got.text());
    assert_eq!(
        count(
            &b.db,
            "SELECT count(*) FROM audit_log WHERE action = 'sync.schedule.set' AND actor = 'ada'"
        ),
        1
    );
    // A bad Bearer token with a valid cookie and CSRF token: 401, the cookie does not count.
    let got = call(
        "POST",
        &schedule,
        Some("kadi_wrong"),
        Some(&cookie),
        Some(&csrf),
        Some(&body),
    );
    assert_eq!(got.status, 401, "{}", got.text());
    // Without any credential: 401 JSON.
    let got = call("GET", &schedule, None, None, None, None);
    assert_eq!(got.status, 401);
    assert!(got.json()["error"].is_string());
    // A Bearer header on an HTML page is not a login: the page still asks for one.
    let t = create_token(&b, "pages", "admin");
    let got = call(
        "GET",
        &format!("{}/admin/dhis2", s.url),
        Some(&t),
        None,
        None,
        None,
    );
    assert_eq!(got.status, 303, "{}", got.text());
}
