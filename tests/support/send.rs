//! Sending configured as the tests give it: `kadi send config ...` pointed at the simulator's
//! WhatsApp Cloud API and SMS gateway, pacing fast enough for a test.
use super::{assert_success, TestBox};
use kadi::sim::messaging::{GATEWAY_KEY, WHATSAPP_TEMPLATE, WHATSAPP_TOKEN};

/// WhatsApp through `base_url` (the simulator's, or a port nothing listens on) with the
/// simulator's token and approved template.
pub fn config_whatsapp(b: &TestBox, base_url: &str) {
    let out = b.kadi(
        &[
            "send",
            "config",
            "whatsapp",
            "--base-url",
            base_url,
            "--phone-number-id",
            "1061234567",
            "--token-stdin",
            "--template",
            WHATSAPP_TEMPLATE,
            "--lang",
            "fr",
            "--json",
        ],
        WHATSAPP_TOKEN,
    );
    assert_success(&out);
}

/// SMS through the simulator's generic HTTP gateway at `url` (its key sealed); the command's
/// output, for what it must not print.
pub fn config_sms_gateway(b: &TestBox, url: &str) -> std::process::Output {
    let out = b.kadi(
        &[
            "send",
            "config",
            "sms",
            "--gateway",
            "http",
            "--url",
            url,
            "--method",
            "GET",
            "--auth-header",
            "X-Api-Key",
            "--auth-stdin",
            "--success-json-field",
            "status=sent",
            "--id-json-field",
            "messages.0.id",
            "--json",
        ],
        GATEWAY_KEY,
    );
    assert_success(&out);
    out
}

/// The worker's pacing: `per_number_ms` between two messages to one number, `per_second` per
/// channel, `max_attempts` before `failed` when given, 5 s to answer.
pub fn pacing(b: &TestBox, per_number_ms: u64, per_second: u32, max_attempts: Option<u32>) {
    let (per_number, rate) = (per_number_ms.to_string(), per_second.to_string());
    let attempts = max_attempts.map(|n| n.to_string());
    let mut args = vec![
        "send",
        "config",
        "pacing",
        "--per-number-ms",
        &per_number,
        "--per-second",
        &rate,
        "--timeout-ms",
        "5000",
        "--json",
    ];
    if let Some(n) = &attempts {
        args.extend(["--max-attempts", n.as_str()]);
    }
    b.kadi_json(&args);
}

/// Runs `kadi send flush` and kills it (SIGKILL: no cleanup runs) once `reached(sim)` says the
/// simulator holds the WhatsApp message: the simulator accepts it and holds its answer 15 s, so
/// the row is left `sending`, as a power cut mid-send leaves it.
pub fn crash_mid_send(
    b: &TestBox,
    sim: &kadi::sim::SimHandle,
    reached: impl Fn(&kadi::sim::SimHandle) -> bool,
) {
    use kadi::sim::messaging::MessagingFault;
    use std::time::{Duration, Instant};
    // The media upload answers at once; the message is accepted and its answer held 15 s.
    sim.fail_next_messages(1, MessagingFault::Slow(Duration::ZERO));
    sim.fail_next_messages(1, MessagingFault::Slow(Duration::from_secs(15)));
    let mut child = std::process::Command::new(super::KADI)
        .args(["--db", b.db.to_str().unwrap(), "send", "flush", "--json"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    while !reached(sim) {
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "the message never reached the simulator"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
}
