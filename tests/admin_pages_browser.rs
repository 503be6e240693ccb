//! The s10-a admin pages in a real browser (headless Chromium), at desktop and phone widths:
//! an admin fills the DHIS2 connection form (the password is never shown back), presses "Test
//! connection" and sees the version, programmes and org units by name against the project's
//! DHIS2 simulator; sets the sync schedule with the select (and turns it off); reads the sync
//! history with a failed run's error in plain words and times in local time. Other staff get a
//! 403 page. Screenshots are kept under `target/tmp/screenshots/admin-*`.
mod support;

use support::browser::*;
use support::*;

fn query(db: &std::path::Path, sql: &str) -> String {
    rusqlite::Connection::open(db)
        .unwrap()
        .query_row(sql, [], |r| r.get::<_, rusqlite::types::Value>(0))
        .map(|v| match v {
            rusqlite::types::Value::Text(t) => t,
            rusqlite::types::Value::Integer(i) => i.to_string(),
            other => format!("{other:?}"),
        })
        .unwrap()
}

/// Clicks `selector` (a submit button) and waits for the next page.
fn submit(browser: &mut Browser, selector: &str) {
    browser.eval("window.__kadi_old = true");
    browser.click(selector);
    browser.wait_for(&format!("the answer to {selector}"), "!window.__kadi_old");
}

fn shot(browser: &mut Browser, name: &str) {
    let path = browser.screenshot(name);
    assert!(
        std::fs::metadata(&path).unwrap().len() > 1000,
        "{}",
        path.display()
    );
}

#[test]
fn an_admin_connects_dhis2_sets_the_schedule_and_reads_the_history_in_a_browser() {
    let sim = sim("2.41", 20);
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
    b.add_staff("awa", "4321");
    let s = b.serve();
    let Some(mut browser) = Browser::launch() else {
        return;
    };
    browser.viewport(Browser::DESKTOP);
    log_in(&mut browser, &s.url, "ada", "2468");

    connect_on_the_page(&mut browser, &s.url, &sim.base_url);

    // The program's metadata and a first sync, as the box's setup does.
    assert_success(&b.kadi(&["map", "set", "--program", PROGRAM, "--demo"], ""));
    // A damaged record makes the first run partial (the history explains it); the next is ok.
    sim.set_paging_faults(kadi::sim::PagingFaults {
        bad_byte: vec![3],
        ..Default::default()
    });
    assert_success(&b.kadi(&["sync", "--program", PROGRAM], ""));
    sim.set_paging_faults(kadi::sim::PagingFaults::default());
    assert_success(&b.kadi(&["sync", "--program", PROGRAM], ""));

    // Sync schedule: every 30 minutes with cards, at desktop width.
    browser.goto(&format!("{}/admin/sync-schedule", s.url));
    browser.eval("document.querySelector('#interval').value = '30'");
    browser.click("input[name=auto_generate_cards]");
    submit(&mut browser, "#schedule-form button[type=submit]");
    assert_eq!(browser.path(), "/admin/sync-schedule?saved=1");
    let text = browser.text();
    assert!(text.contains("every 30 minutes, next sync"), "{text}");
    assert!(text.contains("cards made after each sync"), "{text}");
    assert_eq!(query(&b.db, "SELECT interval_minutes || '/' || enabled || '/' || auto_generate_cards FROM sync_schedule"), "30/1/1");
    shot(&mut browser, "admin-schedule-desktop");

    // At phone width: turn it off.
    browser.viewport(Browser::PHONE);
    browser.goto(&format!("{}/admin/sync-schedule", s.url));
    let selected = browser.eval("document.querySelector('#interval').value");
    assert_eq!(selected, Some(serde_json::json!("30")));
    browser.eval("document.querySelector('#interval').value = 'off'");
    submit(&mut browser, "#schedule-form button[type=submit]");
    assert!(
        browser.text().contains("Carte de santé / Health ID: off"),
        "{}",
        browser.text()
    );
    assert_eq!(query(&b.db, "SELECT enabled FROM sync_schedule"), "0");
    shot(&mut browser, "admin-schedule-phone");

    // At phone width: a wrong password, saved and tested, is said in plain words.
    browser.goto(&format!("{}/admin/dhis2", s.url));
    let programme = browser.eval("document.querySelector('#programme_uid').value");
    assert_eq!(
        programme,
        Some(serde_json::json!(PROGRAM)),
        "the programme is now a select"
    );
    browser.type_into("#password", "Wrong-Pass-7");
    submit(&mut browser, "#dhis2-form button[type=submit]");
    submit(&mut browser, "#test-form button[type=submit]");
    let text = browser.text();
    assert!(text.contains("refused the username and password"), "{text}");
    shot(&mut browser, "admin-dhis2-phone");

    // A sync with the wrong password fails; the history says why in plain words.
    let out = b.kadi(&["sync", "--program", PROGRAM], "");
    assert!(!out.status.success());
    browser.goto(&format!("{}/admin/sync-history", s.url));
    let text = browser.text();
    assert!(text.contains("failed"), "{text}");
    assert!(
        text.contains("refused the box's username and password"),
        "{text}"
    );
    assert!(text.contains("records received: 19 new"), "{text}");
    assert!(text.contains("partial"), "{text}");
    assert!(
        text.contains("1 record sent by DHIS2 could not be read"),
        "{text}"
    );
    let raw_utc = regex_like_utc(&text);
    assert!(raw_utc.is_none(), "a raw UTC stamp {raw_utc:?} in: {text}");
    shot(&mut browser, "admin-history-phone");
    browser.viewport(Browser::DESKTOP);
    browser.goto(&format!("{}/admin/sync-history", s.url));
    shot(&mut browser, "admin-history-desktop");

    // Other staff: the pages are for admins only.
    let cookie = login(&s.url, "awa", "4321");
    for page in [
        "/admin/dhis2",
        "/admin/sync-schedule",
        "/admin/sync-history",
    ] {
        let got = get(&format!("{}{page}", s.url), Some(&cookie));
        assert_eq!(got.status, 403, "{page}");
        assert!(got.text().contains("Admins only"));
    }
}

/// Fills the DHIS2 connection form (desktop), saves, and tests the connection.
fn connect_on_the_page(browser: &mut Browser, base: &str, dhis2_url: &str) {
    // DHIS2 connection: fill the form, save, test.
    browser.goto(&format!("{base}/admin/dhis2"));
    browser.type_into("#dhis2_url", dhis2_url);
    browser.type_into("#username", "admin");
    browser.type_into("#password", "district");
    browser.type_into("#programme_uid", PROGRAM);
    submit(browser, "#dhis2-form button[type=submit]");
    assert_eq!(browser.path(), "/admin/dhis2?saved=1");
    assert!(browser.text().contains("Settings saved"));
    let shown = browser.eval("document.querySelector('#password').value + document.documentElement.outerHTML.includes('district')");
    assert_eq!(
        shown,
        Some(serde_json::json!("false")),
        "the password is shown back"
    );
    submit(browser, "#test-form button[type=submit]");
    let text = browser.text();
    assert!(text.contains("Connected to DHIS2 2.41.0"), "{text}");
    assert!(text.contains("Carte de santé / Health ID"), "{text}");
    assert!(text.contains("Sénégal"), "{text}");
    assert!(
        !text.contains("iAHeb4LDM77"),
        "an org unit UID is shown: {text}"
    );
    shot(browser, "admin-dhis2-desktop");
}

/// The first `YYYY-MM-DDTHH:MM` stamp in `text`, if any.
fn regex_like_utc(text: &str) -> Option<String> {
    let b = text.as_bytes();
    (0..b.len().saturating_sub(15)).find_map(|i| {
        let w = &b[i..i + 16];
        let digits = |r: std::ops::Range<usize>| w[r].iter().all(u8::is_ascii_digit);
        (digits(0..4)
            && w[4] == b'-'
            && digits(5..7)
            && w[7] == b'-'
            && digits(8..10)
            && w[10] == b'T')
            .then(|| String::from_utf8_lossy(w).into_owned())
    })
}
