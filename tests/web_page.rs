//! The local page over real HTTP on 127.0.0.1: login required, wrong PIN, escaping, search and
//! paging, the card preview PNG and its errors, logout, body limits. Drives the built binary.
mod support;

use support::*;

/// A box with a staff account `awa` / `4321` and 30 beneficiaries, one of them named `<script>`.
fn clinic() -> (TestBox, Vec<String>, Served) {
    let b = TestBox::new();
    b.add_staff("awa", "4321");
    let mut people = vec![Person {
        first: "<script>alert('x')</script>",
        last: "Diop & \"Fils\"",
        beneficiary_id: "B-XSS",
        dob: "1990-01-01",
        sex: "F",
    }];
    let names: Vec<(String, String)> = (0..29)
        .map(|i| (format!("Moussa{i:02}"), format!("Ndiaye{i:02}")))
        .collect();
    let ids: Vec<String> = (0..29).map(|i| format!("B-{i:03}")).collect();
    for (i, (first, last)) in names.iter().enumerate() {
        people.push(Person {
            first,
            last,
            beneficiary_id: &ids[i],
            dob: "1985-06-15",
            sex: "M",
        });
    }
    let enrollments = seed_beneficiaries(&b.db, PROGRAM, &people);
    let served = b.serve();
    (b, enrollments, served)
}

#[test]
fn patient_pages_and_endpoints_require_a_login() {
    let (_b, enrollments, s) = clinic();
    let page = get(&format!("{}/beneficiaries?q=diop", s.url), None);
    assert_eq!(page.status, 303);
    assert!(
        page.location.starts_with("/login?next="),
        "{}",
        page.location
    );
    assert!(!page.text().contains("Diop"));
    let review = get(&format!("{}/review", s.url), None);
    assert_eq!(review.status, 303);
    assert!(review.location.starts_with("/login?next="));
    for path in [
        "/api/beneficiaries".to_string(),
        "/api/status".to_string(),
        "/api/review".to_string(),
        format!(
            "/dhis2/preview-card-png?enrollment_id={}&template=pulse&dpi=300",
            enrollments[0]
        ),
    ] {
        let got = get(&format!("{}{path}", s.url), None);
        assert_eq!(got.status, 401, "{path}");
        assert!(got.content_type.starts_with("application/json"), "{path}");
        assert!(got.json()["error"].is_string());
    }
    let forged = get(
        &format!("{}/api/beneficiaries", s.url),
        Some("kadi_session=forged-token"),
    );
    assert_eq!(forged.status, 401);
    let health = get(&format!("{}/healthz", s.url), None);
    assert_eq!(health.status, 200);
    assert_eq!(health.json()["status"], "ok");
}

#[test]
fn a_wrong_pin_is_refused_audited_and_throttled() {
    let (b, _e, s) = clinic();
    let got = attempt_login(&s.url, "awa", "0000");
    assert_eq!(got.status, 401);
    assert!(got.set_cookie.is_empty());
    assert!(got.text().contains("Wrong username or PIN"));
    let unknown = attempt_login(&s.url, "nobody", "4321");
    assert_eq!(unknown.status, 401);
    for _ in 0..4 {
        attempt_login(&s.url, "awa", "1111");
    }
    // Five failures for this name from this address: even the right PIN is refused for a while.
    let locked = attempt_login(&s.url, "awa", "4321");
    assert_eq!(locked.status, 429);
    assert!(
        locked.text().contains("Try again in 1 minute"),
        "{}",
        locked.text()
    );
    let conn = rusqlite::Connection::open(&b.db).unwrap();
    let failed: i64 = conn
        .query_row(
            "SELECT count(*) FROM audit_log WHERE action = 'staff.login_failed'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(failed >= 2, "failed logins are audited");
}

#[test]
fn a_logged_in_staff_member_sees_beneficiaries_with_names_escaped() {
    let (b, _e, s) = clinic();
    let got = attempt_login(&s.url, "awa", "4321");
    assert_eq!(got.status, 303);
    assert_eq!(got.location, "/beneficiaries");
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(
            got.set_cookie.contains(attr),
            "cookie lacks {attr}: {}",
            got.set_cookie
        );
    }
    let cookie = got.set_cookie.split(';').next().unwrap().to_string();
    // Only the token's hash is stored.
    let token = cookie.trim_start_matches("kadi_session=");
    let conn = rusqlite::Connection::open(&b.db).unwrap();
    let stored: String = conn
        .query_row("SELECT token_hash FROM sessions", [], |r| r.get(0))
        .unwrap();
    assert_ne!(stored, token);
    assert!(!stored.contains(token));

    let page = get(&format!("{}/beneficiaries?q=diop", s.url), Some(&cookie));
    assert_eq!(page.status, 200);
    let html = page.text();
    assert!(
        !html.contains("<script>alert"),
        "a name must never become markup:\n{html}"
    );
    assert!(html.contains("&lt;script&gt;"), "{html}");
    assert!(html.contains("SN-DKR-26-TEST0000"), "the MPI ID is shown");
    assert!(html.contains("Last sync"), "the status line is shown");
    // The card page escapes too, and points its image at the preview endpoint.
    let first = get(
        &format!("{}/api/beneficiaries?q=B-XSS", s.url),
        Some(&cookie),
    )
    .json();
    let uid = first["rows"][0]["enrollment_uid"]
        .as_str()
        .unwrap()
        .to_string();
    let card = get(&format!("{}/beneficiaries/{uid}", s.url), Some(&cookie));
    assert_eq!(card.status, 200);
    let html = card.text();
    assert!(!html.contains("<script>alert"));
    assert!(html.contains(&format!(
        "/dhis2/preview-card-png?enrollment_id={uid}&amp;template=pulse&amp;dpi=300"
    )));
    let login_audited: i64 = conn
        .query_row(
            "SELECT count(*) FROM audit_log WHERE action = 'staff.login' AND actor = 'awa'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(login_audited, 1);
}

#[test]
fn the_api_searches_by_name_mpi_id_and_beneficiary_id_and_pages() {
    let (_b, _e, s) = clinic();
    let cookie = login(&s.url, "awa", "4321");
    let all = get(&format!("{}/api/beneficiaries", s.url), Some(&cookie)).json();
    assert_eq!(all["total"], 30);
    assert_eq!(all["pages"], 2);
    assert_eq!(all["rows"].as_array().unwrap().len(), 25);
    let p2 = get(
        &format!("{}/api/beneficiaries?page=2", s.url),
        Some(&cookie),
    )
    .json();
    assert_eq!(p2["rows"].as_array().unwrap().len(), 5);
    let by_name = get(
        &format!("{}/api/beneficiaries?q=moussa07", s.url),
        Some(&cookie),
    )
    .json();
    assert_eq!(by_name["total"], 1);
    assert_eq!(by_name["rows"][0]["fields"]["beneficiary_id"], "B-007");
    let by_mpi = get(
        &format!("{}/api/beneficiaries?q=sn-dkr-26-test0003", s.url),
        Some(&cookie),
    )
    .json();
    assert_eq!(by_mpi["total"], 1);
    let by_id = get(
        &format!("{}/api/beneficiaries?q=B-01", s.url),
        Some(&cookie),
    )
    .json();
    assert_eq!(by_id["total"], 10);
    let bad = get(
        &format!("{}/api/beneficiaries?page=zero", s.url),
        Some(&cookie),
    );
    assert_eq!(bad.status, 400);
    let html = get(&format!("{}/beneficiaries?page=2", s.url), Some(&cookie)).text();
    assert!(html.contains("page 2 of 2"), "{html}");
}

#[test]
fn the_preview_answers_a_card_png_and_json_errors() {
    let (_b, enrollments, s) = clinic();
    let cookie = login(&s.url, "awa", "4321");
    let base = format!("{}/dhis2/preview-card-png", s.url);
    let bad_template = get(
        &format!(
            "{base}?enrollment_id={}&template=nope&dpi=300",
            enrollments[1]
        ),
        Some(&cookie),
    );
    assert_eq!(bad_template.status, 400);
    assert!(bad_template.json()["error"]
        .as_str()
        .unwrap()
        .contains("template"));
    let bad_dpi = get(
        &format!(
            "{base}?enrollment_id={}&template=pulse&dpi=72000",
            enrollments[1]
        ),
        Some(&cookie),
    );
    assert_eq!(bad_dpi.status, 400);
    let unknown = get(
        &format!("{base}?enrollment_id=Xnotthere01&template=pulse&dpi=300"),
        Some(&cookie),
    );
    assert_eq!(unknown.status, 404);
    assert!(unknown.json()["error"].is_string());

    let png = get(
        &format!(
            "{base}?enrollment_id={}&template=pulse&dpi=300",
            enrollments[1]
        ),
        Some(&cookie),
    );
    assert_eq!(png.status, 200, "{}", png.text());
    assert_eq!(png.content_type, "image/png");
    let (w, h, grey) = decode_png(&png.body);
    // CR80 is 85.60 x 53.98 mm: about 1011 x 638 pixels at 300 dpi, in either orientation.
    let (long, short) = (w.max(h), w.min(h));
    assert!(
        (1000..=1024).contains(&long) && (630..=645).contains(&short),
        "{w}x{h} is not CR80 at 300 dpi"
    );
    let min = *grey.iter().min().unwrap();
    let max = *grey.iter().max().unwrap();
    assert!(max - min > 100, "the card is blank");
    let dark = grey.iter().filter(|&&g| g < 128).count();
    assert!(dark > grey.len() / 200, "the card has almost no ink");
}

#[test]
fn logout_ends_the_session() {
    let (b, _e, s) = clinic();
    let cookie = login(&s.url, "awa", "4321");
    assert_eq!(
        get(&format!("{}/api/status", s.url), Some(&cookie)).status,
        200
    );
    let csrf = session_csrf(&s.url, &cookie);
    let out = post_form(
        &format!("{}/logout", s.url),
        Some(&cookie),
        &[("csrf", &csrf)],
    );
    assert_eq!(out.status, 303);
    assert!(out.set_cookie.contains("Max-Age=0"));
    assert_eq!(
        get(&format!("{}/api/status", s.url), Some(&cookie)).status,
        401
    );
    let conn = rusqlite::Connection::open(&b.db).unwrap();
    let sessions: i64 = conn
        .query_row("SELECT count(*) FROM sessions", [], |r| r.get(0))
        .unwrap();
    assert_eq!(sessions, 0);
}

#[test]
fn oversized_bodies_are_refused_with_413() {
    let (_b, _e, s) = clinic();
    let big = "9".repeat(100_000);
    let got = post_form(
        &format!("{}/login", s.url),
        None,
        &[("username", "awa"), ("pin", &big)],
    );
    assert_eq!(got.status, 413);
    let api = agent()
        .post(&format!("{}/api/beneficiaries", s.url))
        .send(&vec![b'x'; 200_000][..])
        .unwrap();
    assert_eq!(api.status().as_u16(), 413);
}

/// The sorted keys of a JSON object.
fn keys(v: &serde_json::Value) -> Vec<&str> {
    let mut k: Vec<&str> = v
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {v}"))
        .keys()
        .map(String::as_str)
        .collect();
    k.sort_unstable();
    k
}

#[test]
fn the_beneficiaries_and_status_api_keep_their_json_shapes() {
    let (_b, _e, s) = clinic();
    let cookie = login(&s.url, "awa", "4321");
    let page = get(
        &format!("{}/api/beneficiaries?q=moussa07", s.url),
        Some(&cookie),
    )
    .json();
    assert_eq!(keys(&page), ["page", "page_size", "pages", "rows", "total"]);
    assert_eq!(
        (page["page"].as_u64(), page["page_size"].as_u64()),
        (Some(1), Some(25))
    );
    let row = &page["rows"][0];
    assert_eq!(
        keys(row),
        [
            "enrollment_uid",
            "fields",
            "full_name",
            "mpi_id",
            "mpi_state",
            "program_uid"
        ]
    );
    assert_eq!(row["full_name"], "Moussa07 Ndiaye07");
    assert_eq!(row["mpi_state"], "resolved");
    assert_eq!(row["program_uid"], PROGRAM);
    assert_eq!(row["fields"]["beneficiary_id"], "B-007");
    let status = get(&format!("{}/api/status", s.url), Some(&cookie)).json();
    assert_eq!(
        keys(&status),
        [
            "beneficiaries",
            "cards_rendered",
            "last_sync_at",
            "last_sync_status",
            "mpi_identities",
            "pending_review",
            "version"
        ]
    );
    assert_eq!(status["beneficiaries"], 30);
    assert_eq!(status["pending_review"], 0);
    assert!(status["last_sync_at"].is_null(), "{status}");
}

#[test]
fn the_review_api_lists_pending_items_and_a_decision_needs_the_sessions_csrf_token() {
    let (b, _enrollments, s) = clinic();
    let cookie = login(&s.url, "awa", "4321");
    let api = get(&format!("{}/api/review", s.url), Some(&cookie));
    assert_eq!(api.status, 200);
    assert_eq!(api.json(), serde_json::json!([]));
    let screen = get(&format!("{}/review", s.url), Some(&cookie));
    assert_eq!(screen.status, 200);
    assert!(screen.text().contains("Nothing to review."));
    let forged = post_form(
        &format!("{}/review/decide", s.url),
        Some(&cookie),
        &[("id", "1"), ("decision", "different"), ("csrf", "forged")],
    );
    assert_eq!(forged.status, 403);
    let audited: i64 = rusqlite::Connection::open(&b.db)
        .unwrap()
        .query_row(
            "SELECT count(*) FROM audit_log WHERE action LIKE 'mpi.%'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(audited, 0);
}
