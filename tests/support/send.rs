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

/// A loopback port nothing listens on, for a test that later starts a server on it.
///
/// It is drawn below the kernel's ephemeral range (`ip_local_port_range`), where no
/// `127.0.0.1:0` listener of a test running in parallel is ever placed: a port taken from that
/// range and released can be handed to another test's simulator before this one starts its own.
pub fn closed_port() -> u16 {
    let low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32768);
    assert!(low > 12_000, "the ephemeral range starts at {low}");
    let span = u64::from(low - 11_000);
    let mut x = u64::from(std::process::id())
        ^ std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64;
    for _ in 0..1000 {
        // SplitMix64: a few draws are enough, each a free port with high odds.
        x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = x;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        let port = 10_000 + ((z ^ (z >> 31)) % span) as u16;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free loopback port below {low}")
}
