//! The staff desk in a real browser (issue 16, "find & review"): headless Chromium searches with
//! and without accents, in either order, by phone in another format and by MPI ID; answers review
//! items (not sure, same with the reason a merge needs, different), undoes a merge with a reason;
//! is warned before printing a record pending review (the script's dialog, and the confirmation
//! page without it); and, as an admin, adds a staff account, sets its PIN, removes one and reads
//! the audit log, while a staff-role account gets 403 on those pages. Desktop and phone widths,
//! screenshots kept under `target/tmp/screenshots/desk-*.png`.
//!
//! One box and one browser for the whole file: Chromium's start is the slow part.
mod support;

use serde_json::json;
use support::browser::*;
use support::*;

fn count(db: &std::path::Path, sql: &str) -> i64 {
    rusqlite::Connection::open(db)
        .unwrap()
        .query_row(sql, [], |r| r.get(0))
        .unwrap()
}

fn person<'a>(
    first: &'a str,
    last: &'a str,
    id: &'a str,
    dob: &'a str,
    sex: &'a str,
) -> Person<'a> {
    Person {
        first,
        last,
        beneficiary_id: id,
        dob,
        sex,
    }
}

/// The box: Fatou Sow with three records of one identity (one with a phone), names with and
/// without accents, two pairs of twins the real resolver puts in review, a finished sync an
/// hour east of UTC, an admin (awa) and a staff member (ibou).
fn desk_box() -> (TestBox, Served) {
    let b = TestBox::new();
    let admin = b.kadi(
        &[
            "staff",
            "add",
            "--username",
            "awa",
            "--pin-stdin",
            "--admin",
        ],
        "4321\n",
    );
    assert!(
        admin.status.success(),
        "{}",
        String::from_utf8_lossy(&admin.stderr)
    );
    b.add_staff("ibou", "8642");
    let uids = seed_beneficiaries(
        &b.db,
        kadi::sim::PROGRAM_UID,
        &[
            person("Fatou", "Sow", "B-101", "2001-07-14", "F"),
            person("Fatou", "Sow", "B-102", "2001-07-14", "F"),
            person("Fatoumata", "Sow", "B-103", "2001-07-14", "F"),
            person("Ndèye", "Sène", "B-201", "1985-01-02", "F"),
            person("Ismaila", "Sene", "B-202", "1979-03-04", "M"),
            person("Thérèse", "Ndiaye", "B-203", "1990-05-06", "F"),
            person("Awa", "Kouyaté", "B-010", "1992-05-17", "F"),
            person("Adama", "Kouyaté", "B-011", "1992-05-17", "F"),
            person("Awa", "Kanouté", "B-020", "1987-09-09", "F"),
            person("Adama", "Kanouté", "B-021", "1987-09-09", "F"),
        ],
    );
    let conn = rusqlite::Connection::open(&b.db).unwrap();
    conn.execute(
        "UPDATE card_records SET fields_json = json_set(fields_json, '$.phone_number', '+221771234567') WHERE enrollment_uid = ?1",
        [&uids[0]],
    )
    .unwrap();
    for other in &uids[1..3] {
        conn.execute(
            "UPDATE mpi_links SET mpi_id = (SELECT mpi_id FROM mpi_links WHERE enrollment_uid = ?1) WHERE enrollment_uid = ?2",
            [&uids[0], other],
        )
        .unwrap();
    }
    // The twins arrive now: resolution puts each pair in review.
    for twin in &uids[6..] {
        conn.execute("DELETE FROM mpi_links WHERE enrollment_uid = ?1", [twin])
            .unwrap();
        conn.execute(
            "UPDATE card_records SET mpi_state = 'pending' WHERE enrollment_uid = ?1",
            [twin],
        )
        .unwrap();
    }
    let finished = chrono::Utc::now() - chrono::TimeDelta::minutes(1);
    conn.execute(
        "INSERT INTO sync_runs(program_uid, started_at, finished_at, status, report_json) VALUES (?1, ?2, ?2, 'ok', '{\"pulled\": 1234}')",
        [kadi::sim::PROGRAM_UID, &kadi::clock::format_utc(finished)],
    )
    .unwrap();
    conn.execute(
        "INSERT INTO settings(key, value) VALUES ('web.time_offset', '+01:00')",
        [],
    )
    .unwrap();
    drop(conn);
    assert!(b.kadi(&["mpi", "resolve"], "").status.success());
    let s = b.serve();
    (b, s)
}

/// Navigates to the search of `q` through the form and returns the page's text.
fn search(browser: &mut Browser, q: &str) -> String {
    browser.type_into("#q", q);
    browser.eval("window.__kadi_old = true");
    browser.click("form.search button[type=submit]");
    browser.wait_for("the search answer", "!window.__kadi_old");
    browser.text()
}

fn people_found(browser: &mut Browser) -> Vec<String> {
    let names = browser
        .eval("[...document.querySelectorAll('li.person .name')].map(e => e.innerText)")
        .unwrap();
    serde_json::from_value(names).unwrap()
}

fn finds_people(browser: &mut Browser, base: &str, db: &std::path::Path) {
    browser.viewport(Browser::DESKTOP);
    browser.goto(&format!("{base}/beneficiaries"));
    // Last sync in local time and plain words (an hour east of UTC), a link to the queue.
    let stored: String = rusqlite::Connection::open(db)
        .unwrap()
        .query_row("SELECT finished_at FROM sync_runs", [], |r| r.get(0))
        .unwrap();
    let local = kadi::clock::parse_utc(&stored).unwrap() + chrono::TimeDelta::hours(1);
    let status = browser
        .eval("document.querySelector('#status').innerText")
        .unwrap();
    let status = status.as_str().unwrap();
    if local.date_naive() == (chrono::Utc::now() + chrono::TimeDelta::hours(1)).date_naive() {
        let want = format!(
            "Last sync: Today {} (ok, 1,234 records)",
            local.format("%H:%M")
        );
        assert!(status.contains(&want), "{status}");
    }
    assert!(!status.contains('Z'), "{status}");
    let pending = count(
        db,
        "SELECT count(*) FROM review_items WHERE status = 'pending'",
    );
    assert!(status.contains(&format!("{pending} to review")), "{status}");
    assert_eq!(
        browser.eval("document.querySelector('a#to-review').getAttribute('href')"),
        Some(json!("/review"))
    );
    // Accented query, unaccented names and the other way round; one identity, three records.
    search(browser, "Ndeye");
    assert_eq!(people_found(browser), ["Ndèye Sène"]);
    search(browser, "SÈNE");
    assert_eq!(people_found(browser), ["Ismaila Sene", "Ndèye Sène"]);
    search(browser, "Ismaïla");
    assert_eq!(people_found(browser), ["Ismaila Sene"]);
    search(browser, "therese");
    assert_eq!(people_found(browser), ["Thérèse Ndiaye"]);
    let text = search(browser, "Sow Fatou");
    assert_eq!(people_found(browser), ["Fatou Sow"]);
    assert!(text.contains("· 3 records"), "{text}");
    assert!(
        text.contains("Fatoumata Sow"),
        "all records of the identity: {text}"
    );
    browser.screenshot("desk-search-desktop");
    // A phone: national number with spaces, found by the stored E.164.
    browser.viewport(Browser::PHONE);
    search(browser, "77 123 45 67");
    assert_eq!(people_found(browser), ["Fatou Sow"]);
    search(browser, "00221771234567");
    assert_eq!(people_found(browser), ["Fatou Sow"]);
    // An MPI ID without dashes, in lower case.
    let mpi: String = rusqlite::Connection::open(db)
        .unwrap()
        .query_row(
            "SELECT mpi_id FROM mpi_links l JOIN card_records c USING (enrollment_uid) WHERE c.fields_json LIKE '%B-203%'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    search(browser, &mpi.replace('-', "").to_lowercase());
    assert_eq!(people_found(browser), ["Thérèse Ndiaye"]);
    // The twins waiting for a review carry the badge.
    let text = search(browser, "kouyate");
    assert!(text.contains("To review"), "{text}");
    browser.screenshot("desk-search-phone");
}

/// The first pending pair item's id whose records have `last` as family name.
fn pair_item(db: &std::path::Path, last: &str) -> i64 {
    count(
        db,
        &format!(
            "SELECT r.id FROM review_items r JOIN card_records c ON c.enrollment_uid = r.enrollment_uid
             WHERE r.status = 'pending' AND r.kind = 'pair' AND c.fields_json LIKE '%{last}%' ORDER BY r.id LIMIT 1"
        ),
    )
}

fn answer(browser: &mut Browser, id: i64, decision: &str, reason: Option<&str>) {
    if let Some(r) = reason {
        browser.type_into(&format!("#reason-{id}"), r);
    }
    browser.eval("window.__kadi_old = true");
    browser.click(&format!("#item-{id} button[value={decision}]"));
    browser.wait_for("the decision's answer", "!window.__kadi_old");
}

fn reviews_pairs(browser: &mut Browser, base: &str, db: &std::path::Path) {
    browser.viewport(Browser::DESKTOP);
    browser.goto(&format!("{base}/review"));
    let kouyate = pair_item(db, "Kouyat");
    let kanoute = pair_item(db, "Kanout");
    assert!(kouyate > 0 && kanoute > 0, "both pairs wait for a review");
    // Side by side, field by field, verdicts in words; the score and reasons.
    let table = browser
        .eval(&format!(
            "document.querySelector('#item-{kouyate} table.compare').innerText"
        ))
        .unwrap();
    let table = table.as_str().unwrap();
    assert!(
        table.contains("first name\tAwa\tAdama\t✗ differs")
            || table.contains("first name\tAdama\tAwa\t✗ differs"),
        "{table}"
    );
    assert!(
        table.contains("family name\tKouyaté\tKouyaté\t✓ agrees (same)"),
        "{table}"
    );
    assert!(browser.text().contains("Score 0."), "{}", browser.text());
    browser.screenshot("desk-review-desktop");
    // Not sure: stays in the queue, noted with the staff member.
    answer(browser, kouyate, "not_sure", Some("ask the mother"));
    assert!(browser.text().contains("stays in the queue"));
    let noted = browser
        .eval(&format!(
            "document.querySelector('#item-{kouyate} p.noted').innerText"
        ))
        .unwrap();
    assert!(noted.as_str().unwrap().contains("by awa"), "{noted}");
    assert!(
        noted.as_str().unwrap().contains("ask the mother"),
        "{noted}"
    );
    assert_eq!(
        count(
            db,
            &format!(
                "SELECT count(*) FROM review_items WHERE id = {kouyate} AND status = 'pending'"
            )
        ),
        1
    );
    assert_eq!(count(db, "SELECT count(*) FROM audit_log WHERE actor = 'awa' AND action = 'mpi.review.not_sure' AND after_json LIKE '%ask the mother%'"), 1);
    // Same person needs a reason: without one nothing merges and the page says why.
    answer(browser, kouyate, "same", None);
    let text = browser.text();
    assert!(text.contains("a reason is needed"), "{text}");
    assert_eq!(
        browser.eval(&format!("!!document.querySelector('#error-{kouyate}')")),
        Some(json!(true))
    );
    assert_eq!(
        count(
            db,
            &format!(
                "SELECT count(*) FROM review_items WHERE id = {kouyate} AND status = 'pending'"
            )
        ),
        1
    );
    answer(
        browser,
        kouyate,
        "same",
        Some("same mother, same card number at the clinic"),
    );
    assert!(
        browser
            .path()
            .starts_with(&format!("/review?decided={kouyate}")),
        "{}",
        browser.path()
    );
    assert_eq!(count(db, "SELECT count(DISTINCT mpi_id) FROM mpi_links l JOIN card_records c USING (enrollment_uid) WHERE c.fields_json LIKE '%Kouyat%'"), 1);
    assert_eq!(count(db, "SELECT count(*) FROM audit_log WHERE actor = 'awa' AND action = 'mpi.merge' AND after_json LIKE '%same mother%'"), 1);
    assert_eq!(count(db, "SELECT count(*) FROM audit_log WHERE actor = 'awa' AND action = 'mpi.review.decide' AND after_json LIKE '%same mother%'"), 1);
    // Phone width: different people on the other pair, then undo the merge with a reason.
    browser.viewport(Browser::PHONE);
    answer(browser, kanoute, "different", None);
    assert_eq!(count(db, &format!("SELECT count(*) FROM review_items WHERE id = {kanoute} AND status = 'different' AND decided_by = 'awa'")), 1);
    assert_eq!(count(db, "SELECT count(*) FROM mpi_not_same"), 1);
    browser.screenshot("desk-review-phone");
    browser.eval("window.__kadi_old = true");
    browser.click("form.unmerge button");
    browser.wait_for("the unmerge answer", "!window.__kadi_old");
    assert!(
        browser.text().contains("a reason is needed"),
        "{}",
        browser.text()
    );
    browser.type_into("form.unmerge input[name=reason]", "twins, not one person");
    browser.eval("window.__kadi_old = true");
    browser.click("form.unmerge button");
    browser.wait_for("the unmerge answer", "!window.__kadi_old");
    assert!(
        browser.text().contains("Merge undone"),
        "{}",
        browser.text()
    );
    assert_eq!(count(db, "SELECT count(DISTINCT mpi_id) FROM mpi_links l JOIN card_records c USING (enrollment_uid) WHERE c.fields_json LIKE '%Kouyat%'"), 2);
    assert_eq!(count(db, "SELECT count(*) FROM audit_log WHERE actor = 'awa' AND action = 'mpi.unmerge' AND after_json LIKE '%twins, not one person%'"), 1);
}

/// Merge by hand on the review page: two MPI IDs (any case) and the reason.
fn merges_by_hand(browser: &mut Browser, db: &std::path::Path) {
    browser.viewport(Browser::DESKTOP);
    let mpi_of = |id: &str| -> String {
        rusqlite::Connection::open(db)
            .unwrap()
            .query_row(
                &format!("SELECT l.mpi_id FROM mpi_links l JOIN card_records c USING (enrollment_uid) WHERE c.fields_json LIKE '%{id}%'"),
                [],
                |r| r.get(0),
            )
            .unwrap()
    };
    let (keep, merged) = (mpi_of("B-201"), mpi_of("B-202"));
    browser.type_into("#keep", &keep.to_lowercase());
    browser.type_into("#merge-id", &merged);
    browser.type_into("#merge-reason", "one woman, two registrations");
    browser.eval("window.__kadi_old = true");
    browser.click("#merge button[type=submit]");
    browser.wait_for("the merge answer", "!window.__kadi_old");
    assert!(
        browser.text().contains("Merged. You can undo it below."),
        "{}",
        browser.text()
    );
    assert_eq!(mpi_of("B-202"), keep);
    assert_eq!(count(db, "SELECT count(*) FROM audit_log WHERE actor = 'awa' AND action = 'mpi.merge' AND after_json LIKE '%one woman, two registrations%'"), 1);
}

fn warns_before_printing(browser: &mut Browser, base: &str, pending_uid: &str, clear_uid: &str) {
    // With the script: Print on a pending record asks first; cancelling prints nothing.
    browser.viewport(Browser::DESKTOP);
    browser.goto(&format!("{base}/beneficiaries/{pending_uid}"));
    assert!(
        browser.text().contains("waits for a review"),
        "{}",
        browser.text()
    );
    browser.eval("window.__asked = null; window.__printed = false; window.confirm = m => { window.__asked = m; return false; }; window.print = () => { window.__printed = true; }");
    browser.click("#print");
    browser.wait_for("the question", "window.__asked !== null");
    assert!(browser
        .eval("window.__asked")
        .unwrap()
        .as_str()
        .unwrap()
        .contains("waits for a review"));
    assert_eq!(browser.eval("window.__printed"), Some(json!(false)));
    assert_eq!(browser.path(), format!("/beneficiaries/{pending_uid}"));
    browser.eval("window.confirm = m => true");
    browser.click("#print");
    browser.wait_for("the print dialog", "window.__printed === true");
    browser.screenshot("desk-print-warning-desktop");
    // A record not pending prints without a question.
    browser.goto(&format!("{base}/beneficiaries/{clear_uid}"));
    browser.eval("window.__asked = null; window.__printed = false; window.confirm = m => { window.__asked = m; return true; }; window.print = () => { window.__printed = true; }");
    browser.click("#print");
    browser.wait_for("the print dialog", "window.__printed === true");
    assert_eq!(browser.eval("window.__asked"), Some(json!(null)));
    // Without the script the link goes through the confirmation page.
    browser.viewport(Browser::PHONE);
    browser.goto(&format!("{base}/beneficiaries/{pending_uid}"));
    let href = browser
        .eval("document.querySelector('#print').getAttribute('href')")
        .unwrap();
    browser.goto(&format!("{base}{}", href.as_str().unwrap()));
    assert!(
        browser.text().contains("This record waits for a review"),
        "{}",
        browser.text()
    );
    browser.screenshot("desk-print-confirm-phone");
    browser.eval("window.__kadi_old = true");
    browser.click("#print-anyway");
    browser.wait_for("the print page", "!window.__kadi_old");
    assert!(
        browser.path().contains("confirmed=yes"),
        "{}",
        browser.path()
    );
    let shown = browser.eval("(() => { const i = document.querySelector('figure img'); return !!i && i.complete && i.naturalWidth > 0; })()");
    assert_eq!(shown, Some(json!(true)));
}

fn manages_staff(browser: &mut Browser, base: &str, db: &std::path::Path) {
    browser.viewport(Browser::DESKTOP);
    browser.goto(&format!("{base}/admin/staff"));
    browser.type_into("#new-username", "moussa");
    browser.type_into("#new-name", "Moussa Diop");
    browser.type_into("#new-pin", "2468");
    browser.eval("window.__kadi_old = true");
    browser.click("#add-staff button[type=submit]");
    browser.wait_for("the add answer", "!window.__kadi_old");
    assert!(
        browser.text().contains("Account moussa added."),
        "{}",
        browser.text()
    );
    assert_eq!(
        count(
            db,
            "SELECT count(*) FROM staff WHERE username = 'moussa' AND role = 'staff'"
        ),
        1
    );
    assert_eq!(count(db, "SELECT count(*) FROM audit_log WHERE actor = 'awa' AND action = 'staff.added' AND entity = 'staff:moussa'"), 1);
    browser.screenshot("desk-staff-desktop");
    // Phone: a new PIN for ibou (ending ibou's sessions), then remove moussa.
    browser.viewport(Browser::PHONE);
    browser.type_into("#staff-ibou input[name=pin]", "1357");
    browser.eval("window.__kadi_old = true");
    browser.click("#staff-ibou form[action='/admin/staff/pin'] button");
    browser.wait_for("the PIN answer", "!window.__kadi_old");
    assert!(
        browser.text().contains("New PIN set for ibou"),
        "{}",
        browser.text()
    );
    assert_eq!(count(db, "SELECT count(*) FROM audit_log WHERE actor = 'awa' AND action = 'staff.pin_changed' AND entity = 'staff:ibou'"), 1);
    browser.eval("window.__kadi_old = true");
    browser.click("#staff-moussa form[action='/admin/staff/remove'] button");
    browser.wait_for("the remove answer", "!window.__kadi_old");
    assert_eq!(
        count(db, "SELECT count(*) FROM staff WHERE username = 'moussa'"),
        0
    );
    browser.screenshot("desk-staff-phone");
}

fn reads_the_audit_log(browser: &mut Browser, base: &str, db: &std::path::Path) {
    browser.viewport(Browser::DESKTOP);
    browser.goto(&format!("{base}/admin/audit"));
    let first = browser
        .eval("document.querySelector('table.audit tbody tr td:nth-child(3)').innerText")
        .unwrap();
    assert!(
        first.as_str().unwrap().contains("staff.removed"),
        "newest first: {first}"
    );
    // Local time: an hour east of UTC, without the stored `Z`.
    let when = browser
        .eval("document.querySelector('table.audit tbody td.when').innerText")
        .unwrap();
    assert!(!when.as_str().unwrap().contains('Z'), "{when}");
    browser.eval("document.querySelector('#action').value = 'mpi.review.decide'");
    browser.eval("window.__kadi_old = true");
    browser.click("form.filters button");
    browser.wait_for("the filtered log", "!window.__kadi_old");
    let rows = browser
        .eval("document.querySelectorAll('table.audit tbody tr').length")
        .unwrap();
    let want = count(
        db,
        "SELECT count(*) FROM audit_log WHERE action = 'mpi.review.decide'",
    );
    assert_eq!(rows, json!(want));
    assert!(want >= 2);
    browser.screenshot("desk-audit-desktop");
    browser.viewport(Browser::PHONE);
    browser.goto(&format!("{base}/admin/audit?actor=awa"));
    let text = browser.text();
    assert!(text.contains("answered a review"), "{text}");
    let who = browser
        .eval("[...document.querySelectorAll('table.audit tbody td:nth-child(2)')].map(e => e.innerText)")
        .unwrap();
    let who: Vec<String> = serde_json::from_value(who).unwrap();
    assert!(
        !who.is_empty() && who.iter().all(|w| w == "awa"),
        "only awa's rows: {who:?}"
    );
    browser.screenshot("desk-audit-phone");
}

#[test]
fn the_staff_desk_finds_reviews_warns_before_printing_and_is_administered() {
    let (b, s) = desk_box();
    let Some(mut browser) = Browser::launch() else {
        return;
    };
    log_in(&mut browser, &s.url, "awa", "4321");
    finds_people(&mut browser, &s.url, &b.db);
    // A twin waiting for a review, and Thérèse, who does not.
    let pending: String = rusqlite::Connection::open(&b.db)
        .unwrap()
        .query_row(
            "SELECT enrollment_uid FROM review_items WHERE status = 'pending' ORDER BY id LIMIT 1",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let clear: String = rusqlite::Connection::open(&b.db)
        .unwrap()
        .query_row(
            "SELECT enrollment_uid FROM card_records WHERE fields_json LIKE '%B-203%'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    warns_before_printing(&mut browser, &s.url, &pending, &clear);
    reviews_pairs(&mut browser, &s.url, &b.db);
    merges_by_hand(&mut browser, &b.db);
    manages_staff(&mut browser, &s.url, &b.db);
    reads_the_audit_log(&mut browser, &s.url, &b.db);
    // The JSON API finds the same people (one row per record) and says how many records the
    // last sync received.
    let cookie = login(&s.url, "awa", "4321");
    let by_phone = get(
        &format!("{}/api/beneficiaries?q=0771234567", s.url),
        Some(&cookie),
    )
    .json();
    assert_eq!(by_phone["total"], 1, "{by_phone}");
    assert_eq!(by_phone["rows"][0]["fields"]["beneficiary_id"], "B-101");
    let by_name = get(
        &format!("{}/api/beneficiaries?q=SOW%20fatou", s.url),
        Some(&cookie),
    )
    .json();
    // Fatou Sow twice and Fatoumata Sow (`fatou` starts her name too), whatever the order.
    assert_eq!(by_name["total"], 3, "{by_name}");
    let status = get(&format!("{}/api/status", s.url), Some(&cookie)).json();
    assert_eq!(status["last_sync_records"], 1234);
    // A staff-role account gets 403 on the admin pages (and sees no admin links).
    browser.eval("window.__kadi_old = true");
    browser.click("form[action='/logout'] button");
    browser.wait_for("the logout answer", "!window.__kadi_old");
    log_in(&mut browser, &s.url, "ibou", "1357");
    assert_eq!(browser.path(), "/beneficiaries");
    assert_eq!(
        browser.eval("!!document.querySelector('a[href=\"/admin/staff\"]')"),
        Some(json!(false))
    );
    for path in ["/admin/staff", "/admin/audit"] {
        let got = get(
            &format!("{}{path}", s.url),
            Some(&login(&s.url, "ibou", "1357")),
        );
        assert_eq!(got.status, 403, "{path}");
        browser.goto(&format!("{}{path}", s.url));
        assert!(browser.text().contains("Admins only"), "{path}");
    }
}
