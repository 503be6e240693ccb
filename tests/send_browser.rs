//! The send pages (s11-w) in a real browser and over the JSON API, against the simulator's
//! WhatsApp Cloud API (s11-s's `sim/src/messaging.rs`) and `kadi serve`'s real outbox worker:
//! staff open a card, press Send, edit the prefilled message, send, and find the message in the
//! distribution log, first "queued" then "accepted by WhatsApp" (never "delivered"); an invalid
//! number is refused with its reason before anything is queued; a selection goes out as a batch
//! with a progress page; an `unknown` message offers "Resend" and "Mark as sent". Desktop and
//! phone widths, screenshots kept under target/tmp/screenshots/.
mod support;

use kadi::record::CardFields;
use support::browser::*;
use support::*;

/// One beneficiary of this file: (enrollment, first, last, phone as recorded, enrolled on).
const PEOPLE: [(&str, &str, &str, &str, &str); 4] = [
    ("S0000000001", "Awa", "Ndiaye", "77 123 45 67", "2026-03-02"),
    (
        "S0000000002",
        "Moussa",
        "Fall",
        "+221 76 555 12 34",
        "2026-03-05",
    ),
    ("S0000000003", "Khady", "Sarr", "12345", "2026-03-06"),
    (
        "S0000000004",
        "Ibou",
        "Diop",
        "0033 6 12 34 56 78",
        "2025-11-20",
    ),
];

/// A box with the four people, WhatsApp configured on the simulator, and `kadi serve` running.
fn clinic() -> (TestBox, kadi::sim::SimHandle, Served) {
    let sim = sim("2.41", 0);
    let b = TestBox::new();
    let store = store_with_metadata(b.dir.path());
    for (uid, first, last, phone, enrolled) in PEOPLE {
        let fields = CardFields {
            first_name: Some(first.into()),
            last_name: Some(last.into()),
            date_of_birth: Some("1990-04-01".into()),
            gender: Some("F".into()),
            health_center: Some("Centre de santé Médina".into()),
            phone_number: Some(phone.into()),
            enrollment_date: Some(enrolled.into()),
            ..Default::default()
        };
        put_card_record(&store, uid, fields);
    }
    kadi::mpi::resolve_pending(&store).unwrap();
    drop(store);
    let base = sim.whatsapp_base_url();
    let out = b.kadi(
        &[
            "send",
            "config",
            "whatsapp",
            "--base-url",
            &base,
            "--phone-number-id",
            "1061234567",
            "--token-stdin",
            "--template",
            kadi::sim::messaging::WHATSAPP_TEMPLATE,
        ],
        kadi::sim::messaging::WHATSAPP_TOKEN,
    );
    assert_success(&out);
    // Different numbers only: the per-number pacing does not slow this test.
    b.add_staff("awa", "4321");
    let log = b.dir.path().join("serve.log");
    let served = b.serve_with(
        &["--listen", "127.0.0.1:0", "--threads", "2"],
        None,
        Some(&log),
    );
    (b, sim, served)
}

fn outbox(db: &std::path::Path, sql: &str) -> Vec<String> {
    let c = rusqlite::Connection::open(db).unwrap();
    let mut s = c.prepare(sql).unwrap();
    s.query_map([], |r| r.get::<_, String>(0))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

/// Reloads `url` until `expression` is true (at most 60 s: the worker polls every 2 s).
fn reload_until(browser: &mut Browser, url: &str, what: &str, expression: &str) {
    let until = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        browser.goto(url);
        if browser.eval(expression) == Some(serde_json::json!(true)) {
            return;
        }
        assert!(
            std::time::Instant::now() < until,
            "waited 60 s for {what}; the page says: {}",
            browser.text()
        );
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
}

/// Sends the card of `uid` through the card page's Send button and form; returns the log URL.
fn send_through_the_form(browser: &mut Browser, base: &str, uid: &str, message: &str) -> String {
    browser.goto(&format!("{base}/beneficiaries/{uid}"));
    browser.eval("window.__kadi_old = true");
    browser.click("#send");
    browser.wait_for(
        "the send form",
        "!window.__kadi_old && !!document.querySelector('#send-now')",
    );
    assert_eq!(browser.path(), format!("/beneficiaries/{uid}/send"));
    browser.type_into("#message", message);
    browser.eval("window.__kadi_old = true");
    browser.click("#send-now");
    browser.wait_for("the answer to the send form", "!window.__kadi_old");
    browser.path()
}

#[test]
fn staff_send_a_card_from_the_page_and_see_its_honest_state_in_the_log() {
    let (b, sim, s) = clinic();
    let Some(mut browser) = Browser::launch() else {
        return;
    };
    log_in(&mut browser, &s.url, "awa", "4321");
    for (size, name, (uid, first, ..)) in [
        (Browser::DESKTOP, "desktop", PEOPLE[0]),
        (Browser::PHONE, "phone", PEOPLE[1]),
    ] {
        browser.viewport(size);
        browser.goto(&format!("{}/beneficiaries/{uid}/send", s.url));
        let form = browser.text();
        let e164 =
            kadi::send::phone::normalize(PEOPLE.iter().find(|p| p.0 == uid).unwrap().3, "SN")
                .unwrap();
        assert!(form.contains(&e164), "the number shown normalised: {form}");
        let prefilled = browser
            .eval("document.querySelector('#message').value")
            .unwrap();
        assert!(
            prefilled
                .as_str()
                .unwrap()
                .starts_with(&format!("Hello {first},")),
            "{prefilled}"
        );
        browser.screenshot(&format!("send-card-{name}"));

        let text = format!("Hello {first}, your card is ready at the Médina health centre.");
        let path = send_through_the_form(&mut browser, &s.url, uid, &text);
        assert!(path.starts_with("/send/log?message=m"), "{path}");
        let id = path.trim_start_matches("/send/log?message=").to_string();
        let row = format!("document.querySelector('#msg-{id}')");
        let state = browser.eval(&format!("{row}.dataset.status")).unwrap();
        assert!(
            state == "queued" || state == "sending" || state == "accepted",
            "{state}"
        );
        reload_until(
            &mut browser,
            &format!("{}/send/log?message={id}", s.url),
            "the worker to hand the message to WhatsApp",
            &format!("{row} && {row}.dataset.status === 'accepted'"),
        );
        let line = browser.eval(&format!("{row}.innerText")).unwrap();
        let line = line.as_str().unwrap();
        assert!(line.contains("accepted by WhatsApp"), "{line}");
        assert!(!line.to_lowercase().contains("delivered"), "{line}");
        assert!(line.contains(&e164), "{line}");
        browser.screenshot(&format!("send-log-{name}"));
        // Exactly one message reached the simulator for this number.
        let to = e164.trim_start_matches('+');
        let got: Vec<_> = sim
            .messages_accepted()
            .into_iter()
            .filter(|r| r.to.trim_start_matches('+') == to)
            .collect();
        assert_eq!(got.len(), 1, "{got:?}");
    }

    // An invalid number is refused with the reason, on the form, and nothing is queued.
    let before = outbox(&b.db, "SELECT id FROM outbox").len();
    browser.viewport(Browser::DESKTOP);
    browser.goto(&format!("{}/beneficiaries/{}/send", s.url, PEOPLE[2].0));
    let problem = browser
        .eval("document.querySelector('#phone-problem').innerText")
        .unwrap();
    assert!(problem.as_str().unwrap().contains("12345"), "{problem}");
    send_through_the_form(&mut browser, &s.url, PEOPLE[2].0, "Hello");
    let error = browser
        .eval("document.querySelector('#send-error').innerText")
        .unwrap();
    let reason = kadi::send::phone::normalize("12345", "SN").unwrap_err();
    assert!(
        error.as_str().unwrap().contains(&reason),
        "{error} / {reason}"
    );
    browser.screenshot("send-refused-desktop");
    assert_eq!(outbox(&b.db, "SELECT id FROM outbox").len(), before);

    // The log's filters: by channel and status, and by health centre.
    browser.goto(&format!(
        "{}/send/log?channel=whatsapp&status=accepted",
        s.url
    ));
    let rows = browser
        .eval("document.querySelectorAll('#send-log tbody tr').length")
        .unwrap();
    assert_eq!(rows, 2);
    browser.goto(&format!("{}/send/log?status=failed", s.url));
    assert!(browser.text().contains("No message matches."));
}

#[test]
fn a_selection_goes_out_as_a_batch_and_unknown_messages_ask_staff() {
    let (b, _sim, s) = clinic();
    let Some(mut browser) = Browser::launch() else {
        return;
    };
    log_in(&mut browser, &s.url, "awa", "4321");
    browser.viewport(Browser::PHONE);
    browser.goto(&format!("{}/send", s.url));
    // Enrolled in March 2026: Awa, Moussa (valid numbers) and Khady (refused).
    browser.eval("document.querySelector('#from').value = '2026-03-01'");
    browser.eval("document.querySelector('#to').value = '2026-03-31'");
    browser.screenshot("send-bulk-phone");
    browser.eval("window.__kadi_old = true");
    browser.click("#bulk-send");
    browser.wait_for("the batch page", "!window.__kadi_old");
    let path = browser.path();
    assert!(
        path.starts_with("/send/batches/b"),
        "{path}: {}\n{}",
        browser.text(),
        std::fs::read_to_string(b.dir.path().join("serve.log")).unwrap_or_default()
    );
    let refused = browser
        .eval("document.querySelector('#batch-refused').innerText")
        .unwrap();
    assert!(refused.as_str().unwrap().contains(PEOPLE[2].0), "{refused}");
    reload_until(
        &mut browser,
        &format!("{}{path}", s.url),
        "the batch to be answered",
        "document.querySelector('#batch-progress').value === 100",
    );
    assert_eq!(
        browser
            .eval("document.querySelector('#batch-accepted').innerText")
            .unwrap(),
        "2"
    );
    browser.screenshot("send-batch-phone");
    let queued = outbox(
        &b.db,
        "SELECT enrollment_uid FROM outbox ORDER BY enrollment_uid",
    );
    assert_eq!(
        queued,
        vec![PEOPLE[0].0.to_string(), PEOPLE[1].0.to_string()]
    );

    // A message caught mid-send by a power cut is `unknown` (the state the worker's crash
    // recovery leaves; s11-s's kill -9 test makes it for real): the log asks staff.
    let id = outbox(&b.db, "SELECT id FROM outbox ORDER BY id LIMIT 1").remove(0);
    rusqlite::Connection::open(&b.db)
        .unwrap()
        .execute("UPDATE outbox SET status = 'unknown' WHERE id = ?1", [&id])
        .unwrap();
    browser.viewport(Browser::DESKTOP);
    browser.goto(&format!("{}/send/log?status=unknown", s.url));
    let line = browser.text();
    assert!(
        line.contains("unknown: check the phone, then resend or mark as sent"),
        "{line}"
    );
    browser.screenshot("send-unknown-desktop");
    browser.eval("window.__kadi_old = true");
    browser.click(&format!("#mark-sent-{id}"));
    browser.wait_for("the decision", "!window.__kadi_old");
    assert!(browser.text().contains("Marked as sent."));
    let status = outbox(
        &b.db,
        &format!("SELECT status FROM outbox WHERE id = '{id}'"),
    );
    assert_ne!(status[0], "unknown");
    assert!(
        browser
            .eval(&format!("!!document.querySelector('#mark-sent-{id}')"))
            .unwrap()
            == false
    );
}

#[test]
fn post_send_card_queues_with_202_and_refuses_a_bad_number_with_422() {
    let (b, _sim, s) = clinic();
    let cookie = login(&s.url, "awa", "4321");
    let csrf = session_csrf(&s.url, &cookie);
    let url = format!("{}/dhis2/send-card", s.url);
    let call = |body: serde_json::Value| {
        api_call(
            "POST",
            &url,
            None,
            Some(&cookie),
            Some(&csrf),
            Some(&body.to_string()),
        )
    };
    let r = call(
        serde_json::json!({"enrollment_id": PEOPLE[0].0, "channel": "whatsapp", "message": "Hello {first_name}"}),
    );
    assert_eq!(r.status, 202, "{}", r.text());
    let v = r.json();
    assert_eq!(v["status"], "queued");
    let id = v["message_id"].as_str().unwrap();
    assert_eq!(outbox(&b.db, "SELECT id FROM outbox"), vec![id.to_string()]);
    assert_eq!(v["recipient"], "+221771234567");
    let r = call(serde_json::json!({"enrollment_id": PEOPLE[2].0, "channel": "whatsapp"}));
    assert_eq!(r.status, 422, "{}", r.text());
    let reason = kadi::send::phone::normalize("12345", "SN").unwrap_err();
    assert!(
        r.json()["error"].as_str().unwrap().contains(&reason),
        "{}",
        r.text()
    );
    let r = call(serde_json::json!({"enrollment_id": PEOPLE[0].0, "channel": "pigeon"}));
    assert_eq!(r.status, 400);
    let r = call(serde_json::json!({"enrollment_id": PEOPLE[0].0, "channel": "sms"}));
    assert_eq!(r.status, 422, "SMS is not configured: {}", r.text());
    assert_eq!(outbox(&b.db, "SELECT id FROM outbox").len(), 1);
    // Without the CSRF token a session call is refused.
    let r = api_call("POST", &url, None, Some(&cookie), None, Some("{}"));
    assert_eq!(r.status, 403);
}
