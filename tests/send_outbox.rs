//! The outbox end to end: the built `kadi` sends cards over real HTTP to the simulator's
//! WhatsApp Cloud API, DHIS2 `/api/sms/outbound` and SMS gateway, with a real SQLite file.
//! The simulator records what it received, so "exactly once" is counted where it matters.
mod support;

use kadi::sim::messaging::{MessagingFault, GATEWAY_KEY, WHATSAPP_TOKEN};
use std::time::{Duration, Instant};
use support::*;

/// A box with the simulator's program and `n` card records whose phones are drawn from
/// `numbers` in turn; answers the enrollment UIDs.
fn box_with_cards(n: usize, numbers: &[&str]) -> (TestBox, Vec<String>) {
    let b = TestBox::new();
    let store = store_with_metadata(b.dir.path());
    let mut uids = Vec::new();
    for i in 0..n {
        let uid = format!("En{i:09}");
        put_card_record(
            &store,
            &uid,
            kadi::record::CardFields {
                first_name: Some(format!("Awa{i}")),
                last_name: Some("Diop".into()),
                date_of_birth: Some("1990-02-03".into()),
                gender: Some("F".into()),
                beneficiary_id: Some(format!("B{i:05}")),
                phone_number: Some(numbers[i % numbers.len()].into()),
                health_center: Some("Centre de Santé Médina".into()),
                ..Default::default()
            },
        );
        uids.push(uid);
    }
    (b, uids)
}

fn send_card(b: &TestBox, uid: &str, channel: &str, extra: &[&str]) -> serde_json::Value {
    let mut args = vec!["send", "card", "--enrollment", uid, "--channel", channel];
    args.extend_from_slice(extra);
    args.push("--json");
    b.kadi_json(&args)
}

fn flush(b: &TestBox) -> serde_json::Value {
    b.kadi_json(&["send", "flush", "--json"])
}

fn log_entry(b: &TestBox, id: &str) -> serde_json::Value {
    let log = b.kadi_json(&["send", "log", "--json"]);
    log.as_array()
        .unwrap()
        .iter()
        .find(|e| e["message_id"] == id)
        .cloned()
        .unwrap_or_else(|| panic!("{id} not in the log: {log}"))
}

#[test]
fn a_card_queued_offline_is_accepted_exactly_once_when_whatsapp_comes_online() {
    let (b, uids) = box_with_cards(1, &["77 123 45 67"]);
    send::pacing(&b, 0, 50, None);
    let port = closed_port();
    send::config_whatsapp(&b, &format!("http://127.0.0.1:{port}"));
    let q = send_card(&b, &uids[0], "whatsapp", &[]);
    assert_eq!(q["status"], "queued");
    assert_eq!(q["recipient"], "+221771234567");
    let id = q["message_id"].as_str().unwrap().to_string();

    // Offline: nothing leaves, the message stays queued, the attempt does not count.
    let r = flush(&b);
    assert_eq!(r["accepted"], 0, "{r}");
    assert_eq!(r["queued"], 1, "{r}");
    assert!(
        r["offline"][0].as_str().unwrap().starts_with("whatsapp"),
        "{r}"
    );
    let e = log_entry(&b, &id);
    assert_eq!(e["status"], "queued");
    assert_eq!(e["attempts"], 0);

    // Online: the simulator comes up on that very port.
    let sim = kadi::sim::start(kadi::sim::SimConfig {
        listen: format!("127.0.0.1:{port}"),
        version: "2.41".into(),
        records: 1,
        seed: 7,
        ..Default::default()
    })
    .unwrap();
    let r = flush(&b);
    assert_eq!(r["accepted"], 1, "{r}");
    let r = flush(&b);
    assert_eq!(r["accepted"], 0, "a second flush sends nothing: {r}");
    let accepted = sim.messages_accepted();
    assert_eq!(accepted.len(), 1, "{accepted:?}");
    assert_eq!(accepted[0].to, "221771234567");
    assert_eq!(accepted[0].message_id.as_deref(), Some(id.as_str()));
    assert_eq!(sim.media_uploads(), 1);
    let body: serde_json::Value = serde_json::from_str(&accepted[0].body).unwrap();
    assert_eq!(body["template"]["language"]["code"], "fr");
    let params = &body["template"]["components"][1]["parameters"];
    assert_eq!(params[0]["text"], "Awa0");
    assert_eq!(params[2]["text"], "Centre de Santé Médina");
    let e = log_entry(&b, &id);
    assert_eq!(e["status"], "accepted");
    assert_eq!(e["status_words"], "accepted by WhatsApp");
    assert!(e["provider_id"].as_str().unwrap().starts_with("wamid."));

    // A second card with the same image is sent by the cached media ID: no second upload.
    let again = send_card(&b, &uids[0], "whatsapp", &[]);
    assert_ne!(again["message_id"], q["message_id"]);
    assert_eq!(flush(&b)["accepted"], 1);
    assert_eq!(sim.media_uploads(), 1);
}

#[test]
fn a_flush_killed_mid_send_leaves_the_message_unknown_and_it_is_never_sent_twice() {
    let sim = sim("2.41", 1);
    let (b, uids) = box_with_cards(1, &["+221 76 000 11 22"]);
    send::pacing(&b, 0, 50, None);
    send::config_whatsapp(&b, &sim.whatsapp_base_url());
    let id = send_card(&b, &uids[0], "whatsapp", &[])["message_id"]
        .as_str()
        .unwrap()
        .to_string();
    send::crash_mid_send(&b, &sim, |sim| !sim.messages_accepted().is_empty());
    assert_eq!(log_entry(&b, &id)["status"], "sending");

    let r = flush(&b);
    assert_eq!(r["recovered_unknown"], 1, "{r}");
    assert_eq!(r["unknown"], 1, "{r}");
    assert_eq!(r["accepted"], 0, "{r}");
    let e = log_entry(&b, &id);
    assert_eq!(e["status"], "unknown");
    assert!(e["status_words"].as_str().unwrap().contains("maybe sent"));
    // More passes never resend it.
    flush(&b);
    assert_eq!(sim.messages_accepted().len(), 1);

    // Staff decide: the recipient has it.
    let e = b.kadi_json(&[
        "send",
        "resolve",
        "--message-id",
        &id,
        "--mark-sent",
        "--json",
    ]);
    assert_eq!(e["status"], "accepted");
    flush(&b);
    assert_eq!(sim.messages_accepted().len(), 1);
    // Every state change is in the audit trail.
    let c = rusqlite::Connection::open(&b.db).unwrap();
    let actions: Vec<String> = c
        .prepare("SELECT action FROM audit_log WHERE entity = ?1 ORDER BY id")
        .unwrap()
        .query_map([format!("message:{id}")], |r| r.get(0))
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "send.queue",
            "send.sending",
            "send.unknown",
            "send.mark_sent"
        ]
    );
}

#[test]
fn whatsapp_errors_are_handled_as_they_mean() {
    let sim = sim("2.41", 1);
    let (b, uids) = box_with_cards(6, &["770000001", "770000002", "770000003"]);
    send::pacing(&b, 0, 100, None);
    send::config_whatsapp(&b, &sim.whatsapp_base_url());

    // 131026: undeliverable, failed for good.
    let m = send_card(&b, &uids[0], "whatsapp", &[])["message_id"].clone();
    sim.fail_next_messages(1, MessagingFault::Slow(Duration::ZERO)); // the upload
    sim.fail_next_messages(1, MessagingFault::WhatsappError(131026));
    let r = flush(&b);
    assert_eq!(r["failed"], 1, "{r}");
    let e = log_entry(&b, m.as_str().unwrap());
    assert_eq!(e["status"], "failed");
    assert_eq!(e["retryable"], false);
    assert!(e["error"].as_str().unwrap().contains("131026"));

    // 130429 with Retry-After: back in the queue, not before the server's delay.
    let m = send_card(&b, &uids[1], "whatsapp", &[])["message_id"].clone();
    sim.fail_next_messages(1, MessagingFault::Slow(Duration::ZERO)); // its own image's upload
    sim.fail_next_messages(1, MessagingFault::RateLimited { retry_after_s: 120 });
    let r = flush(&b);
    assert_eq!(r["retrying"], 1, "{r}");
    let e = log_entry(&b, m.as_str().unwrap());
    assert_eq!(e["status"], "queued");
    assert_eq!(e["attempts"], 1);
    let next = kadi::clock::parse_utc(e["next_attempt_at"].as_str().unwrap()).unwrap();
    assert!(
        next - chrono::Utc::now() > chrono::Duration::seconds(100),
        "{e}"
    );
    let accepted_before = sim.messages_accepted().len();
    flush(&b);
    assert_eq!(
        sim.messages_accepted().len(),
        accepted_before,
        "sent before Retry-After"
    );
    // A queued message is the worker's: staff cannot resend or mark it.
    let out = b.kadi(
        &[
            "send",
            "resolve",
            "--message-id",
            m.as_str().unwrap(),
            "--resend",
        ],
        "",
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("is queued"));

    // 131056 (pair rate limit): that number waits, the message retries later.
    let m = send_card(&b, &uids[2], "whatsapp", &[])["message_id"].clone();
    sim.fail_next_messages(1, MessagingFault::Slow(Duration::ZERO));
    sim.fail_next_messages(1, MessagingFault::WhatsappError(131056));
    flush(&b);
    let e = log_entry(&b, m.as_str().unwrap());
    assert_eq!(e["status"], "queued");
    assert!(e["error"].as_str().unwrap().contains("131056"), "{e}");

    // A failed message may be resent by staff, and then goes.
    let failed = b.kadi_json(&["send", "log", "--status", "failed", "--json"]);
    let id = failed[0]["message_id"].as_str().unwrap().to_string();
    let e = b.kadi_json(&["send", "resolve", "--message-id", &id, "--resend", "--json"]);
    assert_eq!(e["status"], "queued");
    let r = flush(&b);
    assert_eq!(r["accepted"], 1, "{r}");
}

#[test]
fn an_expired_token_or_a_rejected_template_stops_the_channel_until_it_is_configured_again() {
    let sim = sim("2.41", 1);
    let (b, uids) = box_with_cards(2, &["780000001"]);
    send::pacing(&b, 0, 100, None);
    send::config_whatsapp(&b, &sim.whatsapp_base_url());
    let m = send_card(&b, &uids[0], "whatsapp", &[])["message_id"].clone();
    sim.fail_next_messages(1, MessagingFault::WhatsappError(190));
    let out = b.kadi(&["send", "flush", "--json"], "");
    assert_success(&out);
    let r = parse_json("flush", &out.stdout);
    assert!(r["stopped"][0].as_str().unwrap().contains("190"), "{r}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("ALERT"));
    assert_eq!(log_entry(&b, m.as_str().unwrap())["status"], "queued");
    assert_eq!(log_entry(&b, m.as_str().unwrap())["attempts"], 0);
    // Stopped: further passes send nothing.
    let r = flush(&b);
    assert_eq!(r["accepted"], 0);
    assert!(!r["stopped"].as_array().unwrap().is_empty());
    assert!(
        !String::from_utf8_lossy(&b.kadi(&["send", "config", "show", "--json"], "").stdout)
            .contains(WHATSAPP_TOKEN)
    );
    // A person configures the channel again: it sends.
    send::config_whatsapp(&b, &sim.whatsapp_base_url());
    assert_eq!(flush(&b)["accepted"], 1);

    // A template problem (1320xx) stops it the same way.
    send_card(&b, &uids[1], "whatsapp", &[]);
    sim.fail_next_messages(1, MessagingFault::Slow(Duration::ZERO)); // its own image's upload
    sim.fail_next_messages(1, MessagingFault::WhatsappError(132001));
    let r = flush(&b);
    assert!(r["stopped"][0].as_str().unwrap().contains("132001"), "{r}");
    assert_eq!(sim.messages_accepted().len(), 1);
}

#[test]
fn free_text_outside_the_24h_window_goes_again_as_the_template() {
    let sim = sim("2.41", 1);
    let (b, uids) = box_with_cards(1, &["750000009"]);
    send::pacing(&b, 0, 100, None);
    send::config_whatsapp(&b, &sim.whatsapp_base_url());
    // The box believes the number wrote recently (a webhook relay said so); WhatsApp does not.
    let store = kadi::store::Store::open(&b.db).unwrap();
    store
        .record_inbound("+221750000009", &kadi::store::now_utc())
        .unwrap();
    let m = send_card(
        &b,
        &uids[0],
        "whatsapp",
        &["--message", "Bonjour {first_name}"],
    );
    let r = flush(&b);
    assert_eq!(r["accepted"], 1, "{r}");
    let kinds: Vec<String> = sim
        .messages_received()
        .iter()
        .filter(|x| x.kind == "whatsapp_message")
        .map(|x| {
            let v: serde_json::Value = serde_json::from_str(&x.body).unwrap();
            v["type"].as_str().unwrap().to_string()
        })
        .collect();
    assert_eq!(kinds, ["text", "template"]);
    let e = log_entry(&b, m["message_id"].as_str().unwrap());
    assert_eq!(e["status"], "accepted");
}

#[test]
fn sms_goes_through_dhis2_and_a_missing_gateway_stops_the_channel() {
    let sim = sim("2.41", 1);
    let (b, uids) = box_with_cards(2, &["77 555 44 33"]);
    send::pacing(&b, 0, 100, None);
    cli_connect(&b.db, &sim);
    b.kadi_json(&["send", "config", "sms", "--gateway", "dhis2", "--json"]);
    let m = send_card(&b, &uids[0], "sms", &[]);
    assert_eq!(flush(&b)["accepted"], 1);
    let got = sim.messages_accepted();
    assert_eq!(got.len(), 1);
    let body: serde_json::Value = serde_json::from_str(&got[0].body).unwrap();
    assert_eq!(body["recipients"], serde_json::json!(["+221775554433"]));
    let text = body["message"].as_str().unwrap();
    assert!(
        text.contains("Awa0") && text.contains("Centre de Santé Médina"),
        "{text}"
    );
    assert_eq!(
        log_entry(&b, m["message_id"].as_str().unwrap())["status_words"],
        "accepted by the SMS gateway"
    );

    send_card(&b, &uids[1], "sms", &[]);
    sim.fail_next_messages(1, MessagingFault::NoSmsGateway);
    let r = flush(&b);
    assert!(r["stopped"][0].as_str().unwrap().contains("gateway"), "{r}");
    assert_eq!(r["queued"], 1);
}

#[test]
fn an_http_gateway_sends_with_its_sealed_key_and_a_5xx_is_retried_later() {
    let sim = sim("2.41", 1);
    let (b, uids) = box_with_cards(2, &["76 111 22 33"]);
    send::pacing(&b, 0, 100, None);
    let out = send::config_sms_gateway(&b, &sim.sms_gateway_url());
    assert!(!String::from_utf8_lossy(&out.stdout).contains(GATEWAY_KEY));
    let m = send_card(
        &b,
        &uids[0],
        "sms",
        &["--message", "Bonjour {first_name} 😀"],
    );
    assert_eq!(flush(&b)["accepted"], 1);
    let e = log_entry(&b, m["message_id"].as_str().unwrap());
    assert!(e["provider_id"].as_str().unwrap().starts_with("gw-"), "{e}");
    let got = sim.messages_accepted();
    assert_eq!(got[0].to, "+221761112233");

    let m = send_card(&b, &uids[1], "sms", &[]);
    sim.fail_next_messages(1, MessagingFault::GatewayStatus(502));
    let r = flush(&b);
    assert_eq!(r["retrying"], 1, "{r}");
    let e = log_entry(&b, m["message_id"].as_str().unwrap());
    assert_eq!(e["status"], "queued");
    assert!(e["next_attempt_at"].is_string());
}

#[test]
fn invalid_numbers_are_refused_with_a_reason_before_anything_is_queued() {
    let (b, uids) = box_with_cards(2, &["33 821 00 00", ""]);
    b.kadi_json(&["send", "config", "country", "--country", "SN", "--json"]);
    send::config_whatsapp(&b, "http://127.0.0.1:9");
    let out = b.kadi(
        &[
            "send",
            "card",
            "--enrollment",
            &uids[0],
            "--channel",
            "whatsapp",
        ],
        "",
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("kadi: error:") && err.contains("not a mobile number"),
        "{err}"
    );
    let out = b.kadi(
        &[
            "send",
            "card",
            "--enrollment",
            &uids[1],
            "--channel",
            "whatsapp",
        ],
        "",
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("no phone number"));
    // A typed number replaces the record's.
    let q = send_card(&b, &uids[1], "whatsapp", &["--phone", "00221 70 123 45 67"]);
    assert_eq!(q["recipient"], "+221701234567");
    let log = b.kadi_json(&["send", "log", "--json"]);
    assert_eq!(log.as_array().unwrap().len(), 1);
}

#[test]
fn a_bulk_of_1000_is_sent_exactly_once_with_per_number_pacing_and_a_channel_rate() {
    let sim = sim("2.41", 1);
    let numbers: Vec<String> = (0..100)
        .map(|i| format!("77{:07}", 1_000_000 + i))
        .collect();
    let refs: Vec<&str> = numbers.iter().map(String::as_str).collect();
    let (b, _) = box_with_cards(1000, &refs);
    // 10 messages per number, 250 ms apart at least; 500 per second at most on the channel.
    send::pacing(&b, 250, 500, None);
    let out = b.kadi(
        &[
            "send",
            "config",
            "sms",
            "--gateway",
            "http",
            "--url",
            &sim.sms_gateway_url(),
            "--method",
            "POST",
            "--auth-header",
            "X-Api-Key",
            "--auth-stdin",
            "--json",
        ],
        GATEWAY_KEY,
    );
    assert_success(&out);
    let q = b.kadi_json(&[
        "send",
        "bulk",
        "--program",
        PROGRAM,
        "--channel",
        "sms",
        "--json",
    ]);
    assert_eq!(
        q["queued"].as_array().unwrap().len(),
        1000,
        "{}",
        q["refused"]
    );
    let r = b.kadi_json(&["send", "flush", "--json"]);
    assert_eq!(r["accepted"], 1000, "{r}");
    assert_eq!(flush(&b)["accepted"], 0);
    let got = sim.messages_accepted();
    assert_eq!(got.len(), 1000);
    let ids: std::collections::HashSet<_> = got.iter().map(|g| g.message_id.clone()).collect();
    assert_eq!(ids.len(), 1000, "a message was delivered twice");
    // Pacing, by the simulator's clock: never two messages to one number within 200 ms
    // (250 configured), and the whole bulk no faster than 500/s allows (with margin).
    let mut last: std::collections::HashMap<&str, Duration> = Default::default();
    let mut tightest = Duration::MAX;
    for g in &got {
        if let Some(prev) = last.insert(g.to.as_str(), g.at) {
            tightest = tightest.min(g.at - prev);
        }
    }
    assert!(
        tightest >= Duration::from_millis(200),
        "two messages to one number {tightest:?} apart"
    );
    let span = got.last().unwrap().at - got[0].at;
    assert!(
        span >= Duration::from_millis(1500),
        "1000 messages in {span:?}"
    );
    eprintln!("bulk of 1000: {span:?}, tightest gap per number {tightest:?}");
}

#[test]
fn kadi_serve_drains_the_outbox_on_its_own() {
    let sim = sim("2.41", 1);
    let (b, uids) = box_with_cards(3, &["770000101", "770000102", "770000103"]);
    send::pacing(&b, 0, 100, None);
    send::config_whatsapp(&b, &sim.whatsapp_base_url());
    for u in &uids {
        send_card(&b, u, "whatsapp", &[]);
    }
    let _served = b.serve();
    let t0 = Instant::now();
    while sim.messages_accepted().len() < 3 {
        assert!(t0.elapsed() < Duration::from_secs(60), "serve did not send");
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(sim.messages_accepted().len(), 3);
    let log = b.kadi_json(&["send", "log", "--status", "accepted", "--json"]);
    assert_eq!(log.as_array().unwrap().len(), 3);
    assert!(log
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e["queued_by"] == "cli"));
}
