//! The page in a real browser: headless Chromium (/usr/bin/chromium) types a username and PIN
//! into the login form, submits it, presses "Sync now" and "Log out"; a wrong PIN shows the error;
//! forms on another origin (a page on another port of 127.0.0.1, which browsers count as the same
//! *site*, so the SameSite=Strict cookie still travels) cannot log out, sync or log in.
//!
//! Chromium is driven by `support::browser` (the DevTools protocol over a pipe). A missing
//! Chromium fails the test. Every wait is bounded.
mod support;

use serde_json::json;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use support::browser::*;
use support::*;

fn count(db: &std::path::Path, sql: &str) -> i64 {
    rusqlite::Connection::open(db)
        .unwrap()
        .query_row(sql, [], |r| r.get(0))
        .unwrap()
}

fn clinic() -> (TestBox, Served) {
    let b = TestBox::new();
    b.add_staff("awa", "4321");
    seed_beneficiaries(
        &b.db,
        kadi::sim::PROGRAM_UID,
        &[
            Person {
                first: "Fatou",
                last: "Sow",
                beneficiary_id: "B-003",
                dob: "2001-07-14",
                sex: "F",
            },
            Person {
                first: "Moussa",
                last: "Ndiaye",
                beneficiary_id: "B-004",
                dob: "1990-02-01",
                sex: "M",
            },
        ],
    );
    let s = b.serve();
    (b, s)
}

#[test]
fn staff_log_in_with_a_real_browser_sync_and_log_out() {
    let (b, s) = clinic();
    let Some(mut browser) = Browser::launch() else {
        return;
    };

    // A wrong PIN shows the error and opens no session.
    log_in(&mut browser, &s.url, "awa", "9999");
    assert!(browser.path().starts_with("/login"), "{}", browser.path());
    let text = browser.text();
    assert!(text.contains("Wrong username or PIN."), "{text}");
    assert_eq!(count(&b.db, "SELECT count(*) FROM sessions"), 0);

    // The right PIN lands on the beneficiaries list.
    log_in(&mut browser, &s.url, "awa", "4321");
    assert_eq!(browser.path(), "/beneficiaries");
    for (name, size) in [("desktop", Browser::DESKTOP), ("phone", Browser::PHONE)] {
        browser.viewport(size);
        let shot = browser.screenshot(&format!("beneficiaries-{name}"));
        let png = std::fs::read(&shot).unwrap();
        // The IHDR width is the viewport's: the screenshot is of the page at that size.
        let width = u32::from_be_bytes(png[16..20].try_into().unwrap());
        assert_eq!(width, size.0, "{}", shot.display());
    }
    browser.viewport(Browser::DESKTOP);
    let text = browser.text();
    assert!(text.contains("Fatou Sow"), "{text}");
    assert!(text.contains("Moussa Ndiaye"), "{text}");
    assert_eq!(count(&b.db, "SELECT count(*) FROM sessions"), 1);

    // The search form finds one person by beneficiary ID.
    browser.type_into("form.search input[name=q]", "B-003");
    browser.eval("window.__kadi_old = true");
    browser.click("form.search button[type=submit]");
    browser.wait_for("the search answer", "!window.__kadi_old");
    assert_eq!(browser.path(), "/beneficiaries?q=B-003");
    let text = browser.text();
    assert!(text.contains("Fatou Sow"), "{text}");
    assert!(!text.contains("Moussa Ndiaye"), "{text}");

    // Her card opens from the list, and the template picker's Show button redraws it.
    browser.eval("window.__kadi_old = true");
    browser.click("ul.people a");
    browser.wait_for("the card page", "!window.__kadi_old");
    assert!(
        browser.path().starts_with("/beneficiaries/"),
        "{}",
        browser.path()
    );
    browser.eval("document.querySelector('#template').value = 'emerald'");
    browser.eval("window.__kadi_old = true");
    browser.click("form.picker button[type=submit]");
    browser.wait_for("the card in another template", "!window.__kadi_old");
    assert!(
        browser.path().ends_with("?template=emerald&dpi=300"),
        "{}",
        browser.path()
    );
    let shown = browser.eval(
        "(() => { const i = document.querySelector('figure img'); return i && i.complete && i.naturalWidth > 0 && i.src.includes('template=emerald'); })()",
    );
    assert_eq!(
        shown,
        Some(serde_json::json!(true)),
        "the emerald card image did not load"
    );
    browser.goto(&format!("{}/beneficiaries", s.url));

    // "Sync now" is accepted (and audited).
    browser.eval("window.__kadi_old = true");
    browser.click("form[action='/sync-now'] button");
    browser.wait_for("the sync answer", "!window.__kadi_old");
    assert_eq!(browser.path(), "/beneficiaries?sync=started");
    assert!(browser.text().contains("Sync started"));
    assert_eq!(
        count(
            &b.db,
            "SELECT count(*) FROM audit_log WHERE action = 'sync.requested' AND actor = 'awa'"
        ),
        1
    );

    // "Log out" ends the session: the list sends the browser back to the login page.
    browser.eval("window.__kadi_old = true");
    browser.click("form[action='/logout'] button");
    browser.wait_for("the logout answer", "!window.__kadi_old");
    assert_eq!(browser.path(), "/login");
    assert_eq!(count(&b.db, "SELECT count(*) FROM sessions"), 0);
    browser.goto(&format!("{}/beneficiaries", s.url));
    browser.wait_for("the login page", "location.pathname === '/login'");
    assert!(!browser.text().contains("Fatou Sow"));
}

/// A page on another port that posts forms to kadi, as a hostile page on the LAN would.
fn hostile_page(kadi: &str) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let html = format!(
        "<!doctype html><html><body>
<form id='sync' method='post' action='{kadi}/sync-now'><input type='hidden' name='csrf' value='guessed'><button id='s'>sync</button></form>
<form id='logout' method='post' action='{kadi}/logout'><button id='l'>logout</button></form>
<form id='login' method='post' action='{kadi}/login'><input name='username' value='awa'><input name='pin' value='4321'><button id='i'>login</button></form>
</body></html>"
    );
    std::thread::spawn(move || {
        for stream in listener.incoming().take(20) {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            while reader.read_line(&mut line).map(|n| n > 2).unwrap_or(false) {
                line.clear();
            }
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{html}",
                html.len()
            );
        }
    });
    format!("http://{addr}/")
}

#[test]
fn forms_posted_from_another_origin_are_refused_in_a_real_browser() {
    let (b, s) = clinic();
    let Some(mut browser) = Browser::launch() else {
        return;
    };
    log_in(&mut browser, &s.url, "awa", "4321");
    assert_eq!(browser.path(), "/beneficiaries");
    let hostile = hostile_page(&s.url);
    for (button, what) in [("#s", "sync now"), ("#l", "log out"), ("#i", "log in")] {
        browser.goto(&hostile);
        browser.wait_for("the hostile page", "!!document.querySelector('#s')");
        browser.click(button);
        browser.wait_for(
            &format!("kadi's answer to a cross-site {what}"),
            "location.href.indexOf('/sync-now') > 0 || location.href.indexOf('/logout') > 0 || location.href.indexOf('/login') > 0",
        );
        let text = browser.text();
        assert!(
            text.contains("refused") || text.contains("another site"),
            "a cross-site {what} was not refused: {text}"
        );
    }
    assert_eq!(
        count(
            &b.db,
            "SELECT count(*) FROM audit_log WHERE action IN ('sync.requested', 'staff.logout')"
        ),
        0
    );
    assert_eq!(count(&b.db, "SELECT count(*) FROM sessions"), 1);
    // Still logged in.
    browser.goto(&format!("{}/beneficiaries", s.url));
    browser.wait_for("the list", "location.pathname === '/beneficiaries'");
    assert!(browser.text().contains("Fatou Sow"));
}

/// A box with a review pair (twins: another first name, one family name and birth date) and a
/// split item (a father and son linked automatically by an older scorer, found by `kadi mpi
/// recheck`), both made by the real binary.
fn clinic_with_reviews() -> (TestBox, Served) {
    let b = TestBox::new();
    b.add_staff("awa", "4321");
    let person = |first, beneficiary_id, dob, sex| Person {
        first,
        last: "Kouyaté",
        beneficiary_id,
        dob,
        sex,
    };
    let uids = seed_beneficiaries(
        &b.db,
        kadi::sim::PROGRAM_UID,
        &[
            person("Awa", "B-010", "1992-05-17", "F"),
            person("Adama", "B-011", "1992-05-17", "F"),
            person("Demba", "B-012", "1951-02-05", "M"),
            person("Mamadou", "B-013", "1984-07-02", "M"),
        ],
    );
    let conn = rusqlite::Connection::open(&b.db).unwrap();
    // The twins arrive now: resolution puts the pair in review.
    for twin in &uids[..2] {
        conn.execute("DELETE FROM mpi_links WHERE enrollment_uid = ?1", [twin])
            .unwrap();
        conn.execute(
            "UPDATE card_records SET mpi_state = 'pending' WHERE enrollment_uid = ?1",
            [twin],
        )
        .unwrap();
    }
    // The son was linked to his father automatically, long ago.
    conn.execute(
        "UPDATE mpi_links SET mpi_id = (SELECT mpi_id FROM mpi_links WHERE enrollment_uid = ?1), method = 'auto', score = 0.96 WHERE enrollment_uid = ?2",
        [&uids[2], &uids[3]],
    )
    .unwrap();
    drop(conn);
    assert!(b.kadi(&["mpi", "resolve"], "").status.success());
    assert!(b.kadi(&["mpi", "recheck"], "").status.success());
    let s = b.serve();
    (b, s)
}

#[test]
fn the_review_screen_shows_each_pairs_reasons_in_words_and_splits_a_wrong_link() {
    let (b, s) = clinic_with_reviews();
    let Some(mut browser) = Browser::launch() else {
        return;
    };
    log_in(&mut browser, &s.url, "awa", "4321");
    browser.eval("window.__kadi_old = true");
    browser.click("a[href='/review']");
    browser.wait_for("the review screen", "!window.__kadi_old");
    assert_eq!(browser.path(), "/review");
    let text = browser.text();
    // The twins: what agrees, what differs, and why a person decides.
    assert!(text.contains("May be the same person."), "{text}");
    assert!(text.contains("Awa Kouyaté"), "{text}");
    assert!(text.contains("Adama Kouyaté"), "{text}");
    assert!(text.contains("family name (same)"), "{text}");
    assert!(text.contains("first names differ"), "{text}");
    // The father and son: shown apart, as a link that may be two people.
    assert!(
        text.contains("Linked automatically; may be two people: keep or split."),
        "{text}"
    );
    assert!(text.contains("birth dates 33 years apart"), "{text}");
    let split_reasons = browser
        .eval("document.querySelector('li.split dd.disagree').innerText")
        .unwrap();
    assert_eq!(split_reasons, json!("first name, birth date"));

    // "Two people: split" takes the son out of his father's identity, audited as awa's (with the
    // reason a split needs).
    browser.type_into("li.split textarea[name=reason]", "father and son");
    browser.eval("window.__kadi_old = true");
    browser.click("li.split button[value=different]");
    browser.wait_for("the decision's answer", "!window.__kadi_old");
    assert!(
        browser.path().starts_with("/review?decided="),
        "{}",
        browser.path()
    );
    assert!(!browser.text().contains("Linked automatically"));
    assert_eq!(
        count(
            &b.db,
            "SELECT count(DISTINCT mpi_id) FROM mpi_links l JOIN card_records c USING (enrollment_uid) WHERE c.fields_json LIKE '%B-012%' OR c.fields_json LIKE '%B-013%'"
        ),
        2
    );
    assert_eq!(
        count(
            &b.db,
            "SELECT count(*) FROM audit_log WHERE actor = 'awa' AND action IN ('mpi.split', 'mpi.review.decide')"
        ),
        2
    );

    // "Different people" on the twins' pair item: answered, gone from the screen, audited.
    let pending = |b: &TestBox| {
        count(
            &b.db,
            "SELECT count(*) FROM review_items WHERE status = 'pending'",
        )
    };
    let before = pending(&b);
    assert!(before >= 1, "the twins are still waiting");
    browser.eval("window.__kadi_old = true");
    browser.click("li:not(.split) button[value=different]");
    browser.wait_for("the decision's answer", "!window.__kadi_old");
    assert!(
        browser.path().starts_with("/review?decided="),
        "{}",
        browser.path()
    );
    assert_eq!(pending(&b), before - 1);
    assert_eq!(
        count(
            &b.db,
            "SELECT count(*) FROM audit_log WHERE actor = 'awa' AND action = 'mpi.review.decide'"
        ),
        2
    );
}
