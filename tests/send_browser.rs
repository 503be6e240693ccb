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

/// The health centre of one of [`PEOPLE`]: Ibou's clinic is another one.
fn health_center_of(uid: &str) -> &'static str {
    if uid == PEOPLE[3].0 {
        "Poste de santé Yoff"
    } else {
        "Centre de santé Médina"
    }
}

/// A box with the four people, WhatsApp configured on the simulator, and `kadi serve` running.
fn clinic() -> (TestBox, kadi::sim::SimHandle, Served) {
    let (b, sim) = clinic_box();
    let served = serve_clinic(&b);
    (b, sim, served)
}

/// `kadi serve` on the clinic's box, its log in `serve.log`.
fn serve_clinic(b: &TestBox) -> Served {
    let log = b.dir.path().join("serve.log");
    b.serve_with(
        &["--listen", "127.0.0.1:0", "--threads", "2"],
        None,
        Some(&log),
    )
}

/// The clinic's box before `kadi serve` starts: the four people, WhatsApp configured on the
/// simulator, staff member awa (PIN 4321).
fn clinic_box() -> (TestBox, kadi::sim::SimHandle) {
    let sim = sim("2.41", 0);
    let b = TestBox::new();
    let store = store_with_metadata(b.dir.path());
    for (uid, first, last, phone, enrolled) in PEOPLE {
        let fields = CardFields {
            first_name: Some(first.into()),
            last_name: Some(last.into()),
            date_of_birth: Some("1990-04-01".into()),
            gender: Some("F".into()),
            health_center: Some(health_center_of(uid).into()),
            phone_number: Some(phone.into()),
            enrollment_date: Some(enrolled.into()),
            ..Default::default()
        };
        put_card_record(&store, uid, fields);
    }
    kadi::mpi::resolve_pending(&store).unwrap();
    drop(store);
    send::config_whatsapp(&b, &sim.whatsapp_base_url());
    // Different numbers only: the per-number pacing does not slow this test.
    b.add_staff("awa", "4321");
    (b, sim)
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
    // Honest wording on the batch page too: "accepted by WhatsApp", never "delivered".
    let html = browser
        .eval("document.documentElement.outerHTML.toLowerCase()")
        .unwrap();
    let html = html.as_str().unwrap();
    assert!(html.contains("accepted by whatsapp"));
    assert!(!html.contains("deliver"), "the batch page says delivered");
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

/// What the simulator accepted for `e164` (WhatsApp gets digits, the SMS gateway `+`).
fn accepted_for(sim: &kadi::sim::SimHandle, e164: &str) -> Vec<kadi::sim::messaging::Received> {
    let digits = e164.trim_start_matches('+');
    sim.messages_accepted()
        .into_iter()
        .filter(|r| r.to.trim_start_matches('+') == digits)
        .collect()
}

/// The audit trail of message `id`: (actor, action), oldest first.
fn audit_of(db: &std::path::Path, id: &str) -> Vec<(String, String)> {
    let c = rusqlite::Connection::open(db).unwrap();
    let mut s = c
        .prepare("SELECT actor, action FROM audit_log WHERE entity = ?1 ORDER BY id")
        .unwrap();
    s.query_map([format!("message:{id}")], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

/// Queues the card of `uid` on `channel` with the CLI; answers (message ID, recipient).
fn queue(b: &TestBox, uid: &str, channel: &str) -> (String, String) {
    let q = b.kadi_json(&[
        "send",
        "card",
        "--enrollment",
        uid,
        "--channel",
        channel,
        "--json",
    ]);
    (
        q["message_id"].as_str().unwrap().to_string(),
        q["recipient"].as_str().unwrap().to_string(),
    )
}

/// The innerText of the log's row for message `id` (empty when it is not shown).
fn row_text(browser: &mut Browser, id: &str) -> String {
    browser
        .eval(&format!(
            "(document.querySelector('#msg-{id}') || {{innerText: ''}}).innerText"
        ))
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

/// Clicks "Resend" on the log's row of `id` and checks the page's answer.
fn click_resend(browser: &mut Browser, base: &str, id: &str) {
    browser.goto(&format!("{base}/send/log"));
    browser.eval("window.__kadi_old = true");
    browser.click(&format!("#resend-{id}"));
    browser.wait_for("the answer to Resend", "!window.__kadi_old");
    assert_eq!(
        browser.path(),
        format!("/send/log?message={id}&decided=resend")
    );
    let said = browser
        .eval("document.querySelector('#decided').innerText")
        .unwrap();
    assert!(said.as_str().unwrap().starts_with("Queued again"), "{said}");
}

#[test]
fn staff_resend_an_unknown_and_a_failed_message_from_the_log_and_each_goes_out_once() {
    use kadi::sim::messaging::MessagingFault;
    let (b, sim) = clinic_box();
    send::pacing(&b, 0, 50, Some(1));
    send::config_sms_gateway(&b, &sim.sms_gateway_url());
    // Awa's card by WhatsApp, caught mid-send by a crash: the simulator has the message, the box
    // never heard back.
    let (wa, wa_to) = queue(&b, PEOPLE[0].0, "whatsapp");
    send::crash_mid_send(&b, &sim, |sim| !accepted_for(sim, &wa_to).is_empty());
    assert_eq!(
        outbox(
            &b.db,
            &format!("SELECT status FROM outbox WHERE id = '{wa}'")
        ),
        ["sending"]
    );
    // Moussa's by SMS: the gateway answers 502 and one attempt is allowed, so it fails (retryable).
    let (sms, sms_to) = queue(&b, PEOPLE[1].0, "sms");
    sim.fail_next_messages(1, MessagingFault::GatewayStatus(502));
    let s = serve_clinic(&b);
    let Some(mut browser) = Browser::launch() else {
        return;
    };
    log_in(&mut browser, &s.url, "awa", "4321");
    browser.viewport(Browser::DESKTOP);
    // The serve worker's first pass finds the crashed send (`unknown`) and fails the SMS.
    reload_until(
        &mut browser,
        &format!("{}/send/log", s.url),
        "the crashed message to be unknown and the SMS failed",
        &format!(
            "document.querySelector('#msg-{wa}')?.dataset.status === 'unknown' && document.querySelector('#msg-{sms}')?.dataset.status === 'failed'"
        ),
    );
    let line = row_text(&mut browser, &wa);
    assert!(
        line.contains("unknown: check the phone, then resend or mark as sent"),
        "{line}"
    );
    let line = row_text(&mut browser, &sms);
    assert!(
        line.contains("not sent") && line.contains("(a resend may work)"),
        "{line}"
    );
    browser.screenshot("send-resend-before-desktop");
    assert_eq!(accepted_for(&sim, &wa_to).len(), 1, "the crashed attempt");
    assert!(accepted_for(&sim, &sms_to).is_empty());
    let refused = sim
        .messages_received()
        .into_iter()
        .filter(|r| r.to == sms_to)
        .count();
    assert_eq!(refused, 1, "the gateway's 502");

    click_resend(&mut browser, &s.url, &wa);
    click_resend(&mut browser, &s.url, &sms);
    for (id, words) in [
        (&wa, "accepted by WhatsApp"),
        (&sms, "accepted by the SMS gateway"),
    ] {
        reload_until(
            &mut browser,
            &format!("{}/send/log?message={id}", s.url),
            "the worker to send the resent message",
            &format!("document.querySelector('#msg-{id}').dataset.status === 'accepted'"),
        );
        let line = row_text(&mut browser, id);
        assert!(line.contains(words), "{line}");
        assert!(!line.to_lowercase().contains("deliver"), "{line}");
    }
    browser.screenshot("send-resend-after-desktop");
    // Two more worker passes (every 2 s) send nothing again.
    std::thread::sleep(std::time::Duration::from_millis(4500));
    let wa_got = accepted_for(&sim, &wa_to);
    assert_eq!(
        wa_got.len(),
        2,
        "the crashed attempt and ONE resend: {wa_got:?}"
    );
    assert!(wa_got
        .iter()
        .all(|r| r.message_id.as_deref() == Some(wa.as_str())));
    let sms_got = accepted_for(&sim, &sms_to);
    assert_eq!(sms_got.len(), 1, "{sms_got:?}");
    assert_eq!(sms_got[0].message_id.as_deref(), Some(sms.as_str()));
    let c = rusqlite::Connection::open(&b.db).unwrap();
    for (id, prefix) in [(&wa, "wamid."), (&sms, "gw-")] {
        let (status, provider): (String, Option<String>) = c
            .query_row(
                "SELECT status, provider_id FROM outbox WHERE id = ?1",
                [id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!(status, "accepted");
        assert!(
            provider.as_deref().unwrap_or("").starts_with(prefix),
            "{provider:?}"
        );
    }
    // The audit trail holds each step, the resend under the staff member's name.
    assert_resend_audited(&b.db, &wa, "send.unknown");
    assert_resend_audited(&b.db, &sms, "send.failed");
}

/// Message `id`'s audit trail: queued, sent, `outcome`, resent by awa, sent, accepted.
fn assert_resend_audited(db: &std::path::Path, id: &str, outcome: &str) {
    let trail = audit_of(db, id);
    let steps: Vec<&str> = trail.iter().map(|a| a.1.as_str()).collect();
    assert_eq!(
        steps,
        [
            "send.queue",
            "send.sending",
            outcome,
            "send.resend",
            "send.sending",
            "send.accepted"
        ]
    );
    let resend: Vec<_> = trail.iter().filter(|a| a.1 == "send.resend").collect();
    assert_eq!(resend, [&("awa".to_string(), "send.resend".to_string())]);
}

/// A busy month written as the outbox keeps it: 1,100 WhatsApp messages accepted 20-27 November
/// (more than the log's 1,000 lines) and, before them (2-7 November), twelve of every kind
/// (WhatsApp and SMS; accepted, failed, unknown) for Awa, Moussa and Ibou.
fn write_history(db: &std::path::Path) {
    let mut c = rusqlite::Connection::open(db).unwrap();
    let tx = c.transaction().unwrap();
    let at = |day: u32, minutes: i64| {
        let t = chrono::NaiveDate::from_ymd_opt(2026, 11, day)
            .unwrap()
            .and_hms_opt(8, 0, 0)
            .unwrap()
            + chrono::Duration::minutes(minutes);
        t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
    };
    let insert = |id: String, channel: &str, who: usize, status: &str, when: String| {
        let (uid, _, _, phone, _) = PEOPLE[who];
        let to = kadi::send::phone::normalize(phone, "SN").unwrap();
        let accepted = (status == "accepted").then(|| when.clone());
        let provider = accepted.as_ref().map(|_| format!("wamid.{id}"));
        let error = (status == "failed").then_some("the provider refused it");
        tx.execute(
            "INSERT INTO outbox (id, channel, recipient, enrollment_uid, mode, body, status,
               provider_id, attempts, retryable, last_error, queued_by, created_at, updated_at,
               accepted_at)
             VALUES (?1, ?2, ?3, ?4, 'template', '[]', ?5, ?6, 1, ?7, ?8, 'awa', ?9, ?9, ?10)",
            rusqlite::params![
                id,
                channel,
                to,
                uid,
                status,
                provider,
                (status == "failed").then_some(1),
                error,
                when,
                accepted
            ],
        )
        .unwrap();
    };
    for i in 0..1100i64 {
        insert(
            format!("mh{i:019}"),
            "whatsapp",
            (i % 2) as usize,
            "accepted",
            at(20, 10 * i),
        );
    }
    for i in 0..12u32 {
        insert(
            format!("me{i:019}"),
            ["whatsapp", "sms"][(i % 2) as usize],
            [0, 1, 3][((i + i / 3) % 3) as usize],
            ["accepted", "failed", "unknown"][(i % 3) as usize],
            at(2 + i / 2, 60 * i64::from(i)),
        );
    }
    tx.commit().unwrap();
}

/// The log's filters as a person sets them.
#[derive(Debug, Default, Clone, Copy)]
struct Filters<'a> {
    channel: &'a str,
    status: &'a str,
    from: &'a str,
    to: &'a str,
    health_center: &'a str,
}

/// What the log should show for `f`, read from the outbox in SQLite: newest first, at most 1,000.
fn expected_lines(db: &std::path::Path, f: &Filters) -> Vec<String> {
    let c = rusqlite::Connection::open(db).unwrap();
    let mut s = c
        .prepare(
            "SELECT id, enrollment_uid FROM outbox
             WHERE (?1 = '' OR channel = ?1) AND (?2 = '' OR status = ?2)
               AND (?3 = '' OR substr(created_at, 1, 10) >= ?3)
               AND (?4 = '' OR substr(created_at, 1, 10) <= ?4)
             ORDER BY created_at DESC, rowid DESC",
        )
        .unwrap();
    s.query_map([f.channel, f.status, f.from, f.to], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
    })
    .unwrap()
    .map(Result::unwrap)
    .filter(|(_, uid)| f.health_center.is_empty() || health_center_of(uid) == f.health_center)
    .map(|(id, _)| id)
    .take(1000)
    .collect()
}

/// Opens the log, sets the form's selects and date fields to `f`, presses "Show", and answers
/// the message IDs of the rows shown.
fn filter_log(browser: &mut Browser, base: &str, f: &Filters) -> Vec<String> {
    browser.goto(&format!("{base}/send/log"));
    for (field, value) in [
        ("#f-channel", f.channel),
        ("#f-status", f.status),
        ("#f-from", f.from),
        ("#f-to", f.to),
        ("#f-hc", f.health_center),
    ] {
        let set = browser.eval(&format!(
            "(() => {{ const e = document.querySelector('{field}'); e.focus(); e.value = {v}; e.dispatchEvent(new Event('change', {{bubbles: true}})); return e.value; }})()",
            v = serde_json::json!(value)
        ));
        // A select only takes a value it offers: the form must offer this one.
        assert_eq!(
            set,
            Some(serde_json::json!(value)),
            "{field} has no {value:?}"
        );
    }
    browser.eval("window.__kadi_old = true");
    browser.click("form.filters button[type=submit]");
    browser.wait_for("the filtered log", "!window.__kadi_old");
    let path = browser.path();
    assert!(path.starts_with("/send/log?channel="), "{path}");
    // The answer keeps the filters chosen.
    for (field, value) in [
        ("#f-channel", f.channel),
        ("#f-status", f.status),
        ("#f-hc", f.health_center),
    ] {
        let kept = browser.eval(&format!("document.querySelector('{field}').value"));
        assert_eq!(kept, Some(serde_json::json!(value)), "{field} after {path}");
    }
    let ids = browser
        .eval("Array.from(document.querySelectorAll('#send-log tbody tr')).map(r => r.id.slice(4))")
        .unwrap();
    serde_json::from_value(ids).unwrap()
}

#[test]
fn the_log_filters_chosen_in_the_form_show_exactly_the_outbox_rows_that_match() {
    let (b, _sim) = clinic_box();
    write_history(&b.db);
    // Today's two cards go out for real and are accepted by WhatsApp.
    for (uid, ..) in &PEOPLE[..2] {
        queue(&b, uid, "whatsapp");
    }
    let r = b.kadi_json(&["send", "flush", "--json"]);
    assert_eq!(r["accepted"], 2, "{r}");
    let s = serve_clinic(&b);
    let Some(mut browser) = Browser::launch() else {
        return;
    };
    log_in(&mut browser, &s.url, "awa", "4321");
    browser.viewport(Browser::DESKTOP);
    let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
    let yoff = health_center_of(PEOPLE[3].0);
    let cases = [
        Filters {
            channel: "sms",
            status: "failed",
            from: "2026-11-01",
            to: "2026-11-30",
            ..Default::default()
        },
        // Older than the newest 1,000 accepted messages.
        Filters {
            channel: "whatsapp",
            status: "accepted",
            to: "2026-11-10",
            ..Default::default()
        },
        Filters {
            from: "2026-11-21",
            to: "2026-11-21",
            ..Default::default()
        },
        Filters {
            health_center: yoff,
            ..Default::default()
        },
        Filters {
            health_center: yoff,
            status: "unknown",
            channel: "sms",
            ..Default::default()
        },
        Filters {
            channel: "whatsapp",
            status: "accepted",
            from: &today,
            to: &today,
            ..Default::default()
        },
        Filters {
            status: "accepted",
            ..Default::default()
        },
    ];
    for f in &cases {
        let expected = expected_lines(&b.db, f);
        assert!(
            !expected.is_empty(),
            "a case that shows nothing proves nothing: {f:?}"
        );
        let shown = filter_log(&mut browser, &s.url, f);
        assert_eq!(shown.len(), expected.len(), "{f:?}");
        assert!(shown == expected, "{f:?}: the page and SQLite differ");
    }
    filter_log(&mut browser, &s.url, &cases[0]);
    browser.screenshot("send-log-filtered-desktop");

    // Honest wording: the page shows WhatsApp's answer as "accepted by WhatsApp" and nowhere
    // (text, option, attribute) says "delivered": no provider was polled for it.
    filter_log(&mut browser, &s.url, &cases[5]);
    let rows = browser
        .eval("Array.from(document.querySelectorAll('#send-log tbody tr')).map(r => r.querySelector('.state').innerText)")
        .unwrap();
    let rows: Vec<String> = serde_json::from_value(rows).unwrap();
    assert_eq!(rows.len(), 2);
    assert!(
        rows.iter().all(|r| r.trim() == "accepted by WhatsApp"),
        "{rows:?}"
    );
    for url in [
        format!("{}/send/log", s.url),
        format!("{}/send/log?status=accepted&channel=whatsapp", s.url),
        format!("{}/beneficiaries/{}", s.url, PEOPLE[0].0),
    ] {
        browser.goto(&url);
        let html = browser
            .eval("document.documentElement.outerHTML.toLowerCase()")
            .unwrap();
        assert!(
            !html.as_str().unwrap().contains("deliver"),
            "{url} says delivered"
        );
    }
}
