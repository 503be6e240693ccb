//! Login abuse, CSRF, Host and session clocks against the built binary over real HTTP on
//! 127.0.0.1 (other loopback addresses stand in for other devices on the clinic LAN), with a real
//! SQLite file and `faketime` for the wall clock.
mod support;

use std::time::Duration;
use support::*;

fn count(db: &std::path::Path, sql: &str) -> i64 {
    rusqlite::Connection::open(db)
        .unwrap()
        .query_row(sql, [], |r| r.get(0))
        .unwrap()
}

/// A raw login POST from `source`, with a login token fetched by that same client.
fn login_from(url: &str, source: &str, username: &str, pin: &str) -> String {
    let host = url.trim_start_matches("http://");
    let form_page = raw_http(
        url,
        Some(source),
        &format!("GET /login HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"),
    );
    assert_eq!(raw_status(&form_page), 200, "{form_page}");
    let cookie_at = form_page.find("kadi_login=").expect("a login cookie");
    let cookie = form_page[cookie_at..]
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let token = csrf_of(&form_page);
    let body = format!("username={username}&pin={pin}&csrf={token}");
    raw_http(
        url,
        Some(source),
        &format!(
            "POST /login HTTP/1.1\r\nHost: {host}\r\nCookie: {cookie}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
    )
}

#[test]
fn twenty_concurrent_wrong_pins_check_exactly_the_limit() {
    let b = TestBox::new();
    b.add_staff("awa", "4321");
    let s = b.serve_with(&["--listen", "127.0.0.1:0", "--threads", "8"], None, None);
    let (cookie, token) = login_form(&s.url);
    let barrier = std::sync::Barrier::new(20);
    let statuses: Vec<u16> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..20)
            .map(|_| {
                let (url, cookie, token, barrier) = (&s.url, &cookie, &token, &barrier);
                scope.spawn(move || {
                    barrier.wait();
                    post_form(
                        &format!("{url}/login"),
                        Some(cookie),
                        &[("username", "awa"), ("pin", "0000"), ("csrf", token)],
                    )
                    .status
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let checked = statuses.iter().filter(|&&s| s == 401).count();
    let refused = statuses.iter().filter(|&&s| s == 429).count();
    assert_eq!((checked, refused), (5, 15), "{statuses:?}");
    assert_eq!(
        count(
            &b.db,
            "SELECT count(*) FROM audit_log WHERE action = 'staff.login_failed'"
        ),
        5
    );
    // Fifteen refusals, one merged audit row.
    let rows = count(
        &b.db,
        "SELECT count(*) FROM audit_log WHERE action = 'staff.login_throttled'",
    );
    let refusals = count(
        &b.db,
        "SELECT sum(json_extract(after_json, '$.refused')) FROM audit_log WHERE action = 'staff.login_throttled'",
    );
    assert_eq!((rows, refusals), (1, 15));
}

#[test]
fn a_locked_user_still_logs_in_from_another_address_and_an_admin_unlocks() {
    let b = TestBox::new();
    b.add_staff("awa", "4321");
    let s = b.serve();
    for _ in 0..5 {
        assert_eq!(
            raw_status(&login_from(&s.url, "127.0.0.9", "awa", "1111")),
            401
        );
    }
    // The attacker's address is locked, even with the right PIN ...
    assert_eq!(
        raw_status(&login_from(&s.url, "127.0.0.9", "awa", "4321")),
        429
    );
    // ... but the real user's phone is not.
    let own = login_from(&s.url, "127.0.0.1", "awa", "4321");
    assert_eq!(raw_status(&own), 303, "{own}");
    assert!(own.contains("kadi_session="));
    // An administrator clears the lock from the shell.
    let out = b.kadi(&["staff", "unlock", "--username", "awa", "--json"], "");
    support::assert_success(&out);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(report["cleared"].as_i64().unwrap() >= 1, "{report}");
    assert_eq!(
        raw_status(&login_from(&s.url, "127.0.0.9", "awa", "4321")),
        303
    );
    assert_eq!(
        count(
            &b.db,
            "SELECT count(*) FROM audit_log WHERE action = 'staff.unlocked'"
        ),
        1
    );
}

#[test]
fn a_post_without_a_valid_token_or_from_another_origin_is_refused() {
    let b = TestBox::new();
    b.add_staff("awa", "4321");
    let s = b.serve();
    // A login without the form's token (and its cookie) opens no session.
    let bare = post_form(
        &format!("{}/login", s.url),
        None,
        &[("username", "awa"), ("pin", "4321")],
    );
    assert_eq!(bare.status, 403, "{}", bare.text());
    assert!(!bare.set_cookie.contains("kadi_session"));
    let forged = post_form(
        &format!("{}/login", s.url),
        Some("kadi_login=made.up"),
        &[("username", "awa"), ("pin", "4321"), ("csrf", "made.up")],
    );
    assert_eq!(forged.status, 403);

    let cookie = login(&s.url, "awa", "4321");
    let csrf = session_csrf(&s.url, &cookie);
    let url = s.url.clone();
    let host = url.trim_start_matches("http://").to_string();
    let post = |path: &str, headers: &[(&str, &str)], form: &[(&str, &str)]| {
        let mut req = agent()
            .post(&format!("{url}{path}"))
            .header("Cookie", &cookie);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        req.send_form(form.iter().copied())
            .unwrap()
            .status()
            .as_u16()
    };
    // No Origin and no token.
    assert_eq!(post("/sync-now", &[], &[]), 403);
    assert_eq!(post("/logout", &[], &[("csrf", "wrong")]), 403);
    // The right token from another origin.
    assert_eq!(
        post(
            "/logout",
            &[("Origin", "http://evil.example")],
            &[("csrf", &csrf)]
        ),
        403
    );
    // `Origin: null` only with Sec-Fetch-Site: same-origin.
    assert_eq!(
        post("/sync-now", &[("Origin", "null")], &[("csrf", &csrf)]),
        403
    );
    assert_eq!(
        post(
            "/sync-now",
            &[("Origin", "null"), ("Sec-Fetch-Site", "same-site")],
            &[("csrf", &csrf)]
        ),
        403
    );
    assert_eq!(
        count(
            &b.db,
            "SELECT count(*) FROM audit_log WHERE action = 'sync.requested'"
        ),
        0
    );
    assert_eq!(
        post(
            "/sync-now",
            &[("Origin", "null"), ("Sec-Fetch-Site", "same-origin")],
            &[("csrf", &csrf)]
        ),
        303
    );
    // An API client sends the token from /api/session as a header.
    let session = get(&format!("{url}/api/session"), Some(&cookie)).json();
    assert_eq!(session["csrf_token"], csrf.as_str());
    assert_eq!(
        post(
            "/sync-now",
            &[
                ("Origin", &format!("http://{host}")),
                ("X-CSRF-Token", &csrf)
            ],
            &[]
        ),
        303
    );
    assert_eq!(post("/logout", &[], &[("csrf", &csrf)]), 303);
    assert_eq!(count(&b.db, "SELECT count(*) FROM sessions"), 0);
}

#[test]
fn a_wrong_host_is_misdirected_and_configured_names_work() {
    let b = TestBox::new();
    b.add_staff("awa", "4321");
    let s = b.serve_with(
        &["--listen", "127.0.0.1:0", "--host", "kadi.clinic.example"],
        None,
        None,
    );
    let get_as = |host: &str, path: &str| {
        raw_status(&raw_http(
            &s.url,
            None,
            &format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"),
        ))
    };
    let port = s.url.rsplit(':').next().unwrap().to_string();
    assert_eq!(get_as("rebind.evil.example", "/login"), 421);
    assert_eq!(get_as(&format!("192.0.2.99:{port}"), "/login"), 421);
    assert_eq!(get_as("rebind.evil.example", "/healthz"), 200);
    for ok in [
        format!("127.0.0.1:{port}"),
        format!("localhost:{port}"),
        format!("KADI.clinic.example:{port}"),
        "kadi.clinic.example".to_string(),
    ] {
        assert_eq!(get_as(&ok, "/login"), 200, "{ok}");
    }
    drop(s);
    // Listening on every interface: the box's own addresses are what a LAN user types.
    let s = b.serve_with(&["--listen", "0.0.0.0:0"], None, None);
    let port = s.url.rsplit(':').next().unwrap().to_string();
    let local = format!("http://127.0.0.1:{port}");
    for ip in kadi::web::guard::interface_addresses() {
        let host = match ip {
            std::net::IpAddr::V4(v4) => format!("{v4}:{port}"),
            std::net::IpAddr::V6(v6) => format!("[{v6}]:{port}"),
        };
        let answer = raw_http(
            &local,
            None,
            &format!("GET /login HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"),
        );
        assert_eq!(raw_status(&answer), 200, "{host}");
    }
}

#[test]
fn next_only_leads_to_a_plain_local_path() {
    let b = TestBox::new();
    b.add_staff("awa", "4321");
    let s = b.serve();
    for (next, expected) in [
        ("/beneficiaries?q=diop", "/beneficiaries?q=diop"),
        ("/\t/evil.example/", "/beneficiaries"),
        ("/\r\nSet-Cookie: evil=1", "/beneficiaries"),
        ("//evil.example/", "/beneficiaries"),
        ("/\\evil.example/", "/beneficiaries"),
    ] {
        let (cookie, token) = login_form(&s.url);
        let got = post_form(
            &format!("{}/login", s.url),
            Some(&cookie),
            &[
                ("username", "awa"),
                ("pin", "4321"),
                ("next", next),
                ("csrf", &token),
            ],
        );
        assert_eq!(got.status, 303, "{next:?}");
        assert_eq!(got.location, expected, "{next:?}");
        assert!(!got.set_cookie.contains("evil"), "{next:?}");
    }
}

#[test]
fn log_lines_escape_what_the_client_sent() {
    let b = TestBox::new();
    let log = b.dir.path().join("serve.log");
    let s = b.serve_with(&["--listen", "127.0.0.1:0"], None, Some(&log));
    let host = s.url.trim_start_matches("http://").to_string();
    let answer = raw_http(
        &s.url,
        None,
        &format!(
            "GET /x%0d%0aFAKE%20200%1b[31m HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
        ),
    );
    assert_eq!(raw_status(&answer), 404);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let text = loop {
        let text = std::fs::read_to_string(&log).unwrap();
        if text.contains("/x") || std::time::Instant::now() > deadline {
            break text;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(text.contains("/x\\r\\nFAKE 200\\x1b[31m"), "{text}");
    assert!(!text.contains('\u{1b}'));
    assert!(!text.lines().any(|l| l.starts_with("FAKE")), "{text}");
}

#[test]
fn a_pin_change_and_a_removal_end_the_sessions() {
    let b = TestBox::new();
    b.add_staff("awa", "4321");
    let s = b.serve();
    let cookie = login(&s.url, "awa", "4321");
    let status = |c: &str| get(&format!("{}/api/status", s.url), Some(c)).status;
    assert_eq!(status(&cookie), 200);
    b.add_staff("awa", "5678");
    assert_eq!(
        status(&cookie),
        401,
        "the old PIN's session survived a PIN change"
    );
    let cookie = login(&s.url, "awa", "5678");
    let out = b.kadi(&["staff", "remove", "--username", "awa"], "");
    assert!(out.status.success());
    assert_eq!(status(&cookie), 401);
}

#[test]
fn a_session_made_under_a_wrong_clock_ends_when_the_clock_is_corrected() {
    if require_tool("faketime").is_none() {
        return;
    }
    let b = TestBox::new();
    b.add_staff("awa", "4321");
    // The box booted with its clock in 2031 (no RTC, a bad manual setting) ...
    let s = b.serve_with(
        &["--listen", "127.0.0.1:0"],
        Some("@2031-03-01 08:00:00"),
        None,
    );
    let cookie = login(&s.url, "awa", "4321");
    assert_eq!(
        get(&format!("{}/api/status", s.url), Some(&cookie)).status,
        200
    );
    let created: String = rusqlite::Connection::open(&b.db)
        .unwrap()
        .query_row("SELECT created_at FROM sessions", [], |r| r.get(0))
        .unwrap();
    assert!(
        created.starts_with("2031-03-01"),
        "faketime took effect: {created}"
    );
    drop(s);
    // ... then NTP corrected it: the session's age is unknown, so it ends.
    let s = b.serve();
    assert_eq!(
        get(&format!("{}/api/status", s.url), Some(&cookie)).status,
        401
    );
    assert_eq!(
        count(
            &b.db,
            "SELECT count(*) FROM audit_log WHERE action = 'staff.session_ended'"
        ),
        1
    );
}

#[test]
fn a_session_ends_after_its_lifetime_on_either_clock() {
    if require_tool("faketime").is_none() {
        return;
    }
    let b = TestBox::new();
    b.add_staff("awa", "4321");
    let s = b.serve();
    let cookie = login(&s.url, "awa", "4321");
    let status = |c: &str, url: &str| get(&format!("{url}/api/status"), Some(c)).status;
    assert_eq!(status(&cookie, &s.url), 200);
    // Thirteen hours of real time in this boot (as CLOCK_BOOTTIME counts it), while the wall
    // clock, set back by hand, still says the session is young.
    rusqlite::Connection::open(&b.db)
        .unwrap()
        .execute(
            "UPDATE sessions SET since_boot_ms = since_boot_ms - 13 * 3600 * 1000",
            [],
        )
        .unwrap();
    assert_eq!(status(&cookie, &s.url), 401);
    drop(s);
    // And the wall clock alone: thirteen hours later by the clock.
    let cookie = {
        let s = b.serve();
        login(&s.url, "awa", "4321")
    };
    let later = b.serve_with(&["--listen", "127.0.0.1:0"], Some("+13h"), None);
    assert_eq!(status(&cookie, &later.url), 401);
}
