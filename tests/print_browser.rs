//! Print and mapping in a real browser (part s10-m), at desktop and phone widths, screenshots
//! kept under target/tmp/screenshots/: one card printed with another template at true size,
//! an A4 sheets task started from a search and watched to the end, and the admin's attribute
//! mapping editor saving a mapping and refusing a sensitive attribute.
//!
//! The box is synced from the DHIS2 simulator through the CLI (real org units and names).
mod support;

use serde_json::json;
use support::browser::*;
use support::*;

/// A box synced from the simulator (demo mapping), with staff `awa` and admin `ada`.
fn synced_box(records: usize) -> (kadi::sim::SimHandle, TestBox) {
    let sim = sim("2.41", records);
    let b = TestBox::new();
    cli_connect(&b.db, &sim);
    b.kadi_json(&["map", "set", "--program", PROGRAM, "--demo", "--json"]);
    let sync = b.kadi_json(&["sync", "--program", PROGRAM, "--json"]);
    assert_eq!(sync["status"], "ok", "{sync:#}");
    b.add_staff("awa", "4321");
    let out = b.kadi(
        &[
            "staff",
            "add",
            "--username",
            "ada",
            "--pin-stdin",
            "--admin",
        ],
        "8642\n",
    );
    assert_success(&out);
    (sim, b)
}

fn one<T: rusqlite::types::FromSql>(db: &std::path::Path, sql: &str) -> T {
    rusqlite::Connection::open(db)
        .unwrap()
        .query_row(sql, [], |r| r.get(0))
        .unwrap()
}

/// Submits the page's form `selector` by clicking it and waits for the next document.
fn click_and_wait(browser: &mut Browser, selector: &str, what: &str) {
    browser.eval("window.__kadi_old = true");
    browser.click(selector);
    browser.wait_for(what, "!window.__kadi_old");
}

#[test]
fn one_card_prints_with_another_template_at_true_size_on_desktop_and_phone() {
    let (_sim, b) = synced_box(6);
    let enrollment: String = one(&b.db, "SELECT min(enrollment_uid) FROM card_records");
    let (org_unit, clinic): (String, String) = rusqlite::Connection::open(&b.db)
        .unwrap()
        .query_row(
            "SELECT e.org_unit_uid, o.name FROM enrollments e JOIN org_units o ON o.uid = e.org_unit_uid WHERE e.uid = ?1",
            [&enrollment],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    let s = b.serve();
    let Some(mut browser) = Browser::launch() else {
        return;
    };
    log_in(&mut browser, &s.url, "awa", "4321");
    for (name, size) in [("desktop", Browser::DESKTOP), ("phone", Browser::PHONE)] {
        browser.viewport(size);
        browser.goto(&format!("{}/beneficiaries/{enrollment}", s.url));
        browser.eval("document.querySelector('#template').value = 'sovereign'");
        browser.eval("document.querySelector('#dpi').value = '450'");
        click_and_wait(
            &mut browser,
            "form.picker button[type=submit]",
            "the card in sovereign",
        );
        assert!(
            browser.path().ends_with("template=sovereign&dpi=450"),
            "{}",
            browser.path()
        );
        browser.wait_for(
            "the sovereign card image",
            "(() => { const i = document.querySelector('figure img'); return i.complete && i.naturalWidth === 1517 && i.src.includes('template=sovereign'); })()",
        );
        // True size: 85.60 mm is 323.5 CSS pixels, on the desk and on the phone alike.
        let width = browser
            .eval("document.querySelector('figure img').getBoundingClientRect().width")
            .unwrap();
        assert!((width.as_f64().unwrap() - 323.5).abs() < 1.0, "{width}");
        // The org unit shows by name, never by its UID.
        let text = browser.text();
        assert!(text.contains(&clinic), "{text}");
        assert!(!text.contains(&org_unit), "{text}");
        browser.screenshot(&format!("card-sovereign-{name}"));
        // Printed, only the card remains, still at true size.
        browser.command("Emulation.setEmulatedMedia", json!({ "media": "print" }));
        let printed = browser
            .eval(
                "(() => { const v = e => e && getComputedStyle(e).display !== 'none'; return [v(document.querySelector('header.top')), v(document.querySelector('form.picker')), v(document.querySelector('dl.fields')), document.querySelector('figure img').getBoundingClientRect().width]; })()",
            )
            .unwrap();
        assert_eq!(printed[0], json!(false), "{printed}");
        assert_eq!(printed[1], json!(false), "{printed}");
        assert_eq!(printed[2], json!(false), "{printed}");
        assert!(
            (printed[3].as_f64().unwrap() - 323.5).abs() < 1.0,
            "{printed}"
        );
        browser.screenshot(&format!("card-print-{name}"));
        browser.command("Emulation.setEmulatedMedia", json!({ "media": "" }));
    }
}

#[test]
fn a_sheets_task_started_from_a_search_runs_to_the_end_with_its_files() {
    let (_sim, b) = synced_box(30);
    // Everyone of the most common family name: a search that finds several people.
    let family: String = one(
        &b.db,
        "SELECT json_extract(fields_json, '$.last_name') AS f FROM card_records GROUP BY f ORDER BY count(*) DESC, f LIMIT 1",
    );
    let found: i64 = one(
        &b.db,
        &format!(
            "SELECT count(*) FROM card_records WHERE json_extract(fields_json, '$.last_name') = '{}'",
            family.replace('\'', "''")
        ),
    );
    let s = b.serve();
    let Some(mut browser) = Browser::launch() else {
        return;
    };
    log_in(&mut browser, &s.url, "awa", "4321");
    for (name, size) in [("desktop", Browser::DESKTOP), ("phone", Browser::PHONE)] {
        browser.viewport(size);
        browser.goto(&format!("{}/print", s.url));
        browser.type_into("#q", &family);
        browser.screenshot(&format!("print-form-{name}"));
        click_and_wait(
            &mut browser,
            "form.sheets button[type=submit]",
            "the task page",
        );
        assert!(
            browser.path().starts_with("/print/tasks/"),
            "{}",
            browser.path()
        );
        // The page refreshes itself until the task is done.
        browser.wait_for(
            "the task to finish",
            "document.querySelector('#task') && document.querySelector('#task').dataset.status === 'done'",
        );
        let text = browser.text();
        assert!(
            text.contains(&format!("{found} of {found} cards")),
            "{text}"
        );
        assert!(text.contains("Finished"), "{text}");
        let sheets = browser
            .eval("[...document.querySelectorAll('#sheet-files a')].filter(a => a.textContent.endsWith('.png')).length")
            .unwrap();
        assert_eq!(sheets.as_i64().unwrap(), (found + 9) / 10);
        assert!(text.contains("sheets.pdf"), "{text}");
        let cards = browser
            .eval("[...document.querySelectorAll('#card-files a')].map(a => a.textContent)")
            .unwrap();
        let cards: Vec<String> = serde_json::from_value(cards).unwrap();
        assert_eq!(cards.len() as i64, found, "{cards:?}");
        assert!(
            cards[0].starts_with("0001-") && cards[0].ends_with(".png"),
            "{cards:?}"
        );
        browser.screenshot(&format!("print-task-{name}"));
        click_and_wait(&mut browser, "#print-sheets", "the sheets page");
        browser.wait_for(
            "the first A4 sheet",
            "(() => { const i = document.querySelector('img.a4'); return i && i.complete && i.naturalWidth === 2480; })()",
        );
        browser.screenshot(&format!("print-sheets-{name}"));
    }
}

#[test]
fn the_mapping_editor_saves_a_mapping_and_refuses_a_sensitive_attribute() {
    let (_sim, b) = synced_box(4);
    let s = b.serve();
    let Some(mut browser) = Browser::launch() else {
        return;
    };
    // Staff are not admins: the editor is not theirs.
    log_in(&mut browser, &s.url, "awa", "4321");
    browser.goto(&format!("{}/admin/mapping", s.url));
    assert!(browser.text().contains("Admins only"), "{}", browser.text());
    browser.click("form[action='/logout'] button");
    std::thread::sleep(std::time::Duration::from_millis(300));
    log_in(&mut browser, &s.url, "ada", "8642");
    const ADDRESS: &str = "Xq7AdrS3mKp";
    const HIV: &str = "Bpx0589u8y0";
    for (name, size) in [("desktop", Browser::DESKTOP), ("phone", Browser::PHONE)] {
        browser.viewport(size);
        browser.goto(&format!("{}/admin/mapping", s.url));
        let text = browser.text();
        for shown in [
            "FIRST_NAME",
            "HIV_STATUS",
            "Sensitive",
            "PHONE_NUMBER",
            "MALE",
        ] {
            assert!(text.contains(shown), "{shown}: {text}");
        }
        // The sensitive attribute is offered no card field.
        let offered = browser
            .eval(&format!(
                "!!document.querySelector('select[name=field_{HIV}]')"
            ))
            .unwrap();
        assert_eq!(offered, json!(false));
        browser.screenshot(&format!("mapping-{name}"));

        // Map the address (an MPI-only field) and give sex a value map; save.
        let field = if name == "desktop" { "address" } else { "" };
        browser.eval(&format!(
            "document.querySelector('select[name=field_{ADDRESS}]').value = '{field}'"
        ));
        browser.type_into("input[name=map_cejWyOfXge6]", "MALE=M, FEMALE=F, OTHER=U");
        click_and_wait(
            &mut browser,
            "form.mapping button[type=submit]",
            "the saved mapping",
        );
        let text = browser.text();
        assert!(text.contains("Saved."), "{text}");
        let shown = kadi_json_map(&b);
        let address = shown["mappings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["card_field"] == "address");
        assert_eq!(address, name == "desktop", "{shown:#}");
        let sex = shown["mappings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["card_field"] == "gender")
            .unwrap();
        assert_eq!(sex["value_map"]["OTHER"], "U", "{shown:#}");
        browser.screenshot(&format!("mapping-saved-{name}"));

        // A form made to map the sensitive attribute anyway is refused, and nothing changes.
        let audits_before: i64 = one(&b.db, "SELECT count(*) FROM audit_log");
        browser.eval(&format!(
            "(() => {{ const s = document.createElement('select'); s.name = 'field_{HIV}'; s.innerHTML = '<option value=\"zone\" selected>x</option>'; document.querySelector('form.mapping').appendChild(s); }})()"
        ));
        click_and_wait(
            &mut browser,
            "form.mapping button[type=submit]",
            "the refusal",
        );
        let text = browser.text();
        assert!(
            text.contains("Not saved") && text.contains("sensitive"),
            "{text}"
        );
        assert_eq!(kadi_json_map(&b), shown);
        assert_eq!(
            one::<i64>(&b.db, "SELECT count(*) FROM audit_log"),
            audits_before
        );
        browser.screenshot(&format!("mapping-refused-{name}"));
    }
}

/// `kadi map show --json` of the program.
fn kadi_json_map(b: &TestBox) -> serde_json::Value {
    b.kadi_json(&["map", "show", "--program", PROGRAM, "--json"])
}
