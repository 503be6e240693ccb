//! The messaging side of the simulator (s11-s): the WhatsApp Cloud API (`POST
//! /{version}/{phone-number-id}/media` and `/messages`), DHIS2's `POST /api/sms/outbound`, and
//! a generic SMS gateway (`GET|POST /gateway/sms?to=..&text=..`), over the same real HTTP as the
//! rest of the simulator. Every request is recorded (time, kind, recipient, kadi's message ID),
//! and every accepted message is counted, so tests can assert "exactly once" and measure pacing
//! by the simulator's own clock.
//!
//! Fault modes ([`MessagingFault`]), forced for the next N requests or for all of them: the
//! service down (a proxy's 503 page), slow (accept, record, then wait before answering: what a
//! kill mid-send meets), 429 with `Retry-After`, any WhatsApp error code (190 as 401, the rest
//! as 400 or 429 as Meta answers them), DHIS2 without an SMS gateway.
//!
//! The state lives in a registry keyed by the simulator's address, so the DHIS2 core of the
//! simulator needs only one hook line in `server.rs`.
use std::collections::{HashMap, VecDeque};
use std::io::{Cursor, Read};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tiny_http::{Header, Request, Response, StatusCode};

/// The token the simulated WhatsApp accepts (`Authorization: Bearer ...`).
pub const WHATSAPP_TOKEN: &str = "sim-whatsapp-token";
/// The approved template the simulated WhatsApp knows.
pub const WHATSAPP_TEMPLATE: &str = "kadi_card";
/// The header value the generic SMS gateway accepts (`X-Api-Key`).
pub const GATEWAY_KEY: &str = "sim-gateway-key";

/// A forced failure of the messaging endpoints.
#[derive(Debug, Clone, PartialEq)]
pub enum MessagingFault {
    /// A proxy's 503 HTML page (the service is down behind it).
    Down,
    /// Accept and record the message, then wait this long before answering.
    Slow(Duration),
    /// 429 with `Retry-After` (seconds) and WhatsApp's throughput error 130429.
    RateLimited { retry_after_s: u64 },
    /// A WhatsApp error code (190 -> 401, 130429 -> 429, others -> 400).
    WhatsappError(i64),
    /// DHIS2 answers that no SMS gateway is configured.
    NoSmsGateway,
    /// The generic gateway answers this status.
    GatewayStatus(u16),
}

/// One request the simulator received on a messaging endpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct Received {
    /// Since the simulator started.
    pub at: Duration,
    /// `whatsapp_media`, `whatsapp_message`, `dhis2_sms`, `gateway_sms`.
    pub kind: &'static str,
    /// The recipient as sent (digits, `+` kept when sent).
    pub to: String,
    /// kadi's message ID (`biz_opaque_callback_data`, or the gateway's `id` parameter).
    pub message_id: Option<String>,
    /// Whether the simulator accepted it (answered or will answer 2xx).
    pub accepted: bool,
    /// The request body (JSON or form), for shape checks.
    pub body: String,
}

#[derive(Default)]
pub(super) struct Messaging {
    started: Option<Instant>,
    forced: VecDeque<MessagingFault>,
    always: Option<MessagingFault>,
    received: Vec<Received>,
    media: Vec<String>,
    open_windows: Vec<String>,
    next_id: u64,
}

/// A simulator's messaging state. It lives in the simulator's own `State` (not in a table keyed
/// by address): a simulator started later on a reused port must not inherit an older one's
/// messages.
pub(super) type Shared = Mutex<Messaging>;

/// A fresh messaging state; its clock starts now.
pub(super) fn fresh() -> Shared {
    Mutex::new(Messaging {
        started: Some(Instant::now()),
        ..Messaging::default()
    })
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl super::SimHandle {
    fn messaging(&self) -> &Shared {
        &self.state.messaging
    }

    /// The WhatsApp Cloud API root for kadi's `--base-url` (the simulator's base URL).
    pub fn whatsapp_base_url(&self) -> String {
        self.base_url.clone()
    }

    /// The generic SMS gateway's URL template for kadi's `--url`.
    pub fn sms_gateway_url(&self) -> String {
        format!(
            "{}/gateway/sms?to={{to}}&text={{text}}&id={{id}}",
            self.base_url
        )
    }

    /// Forces `fault` on the next `n` messaging requests.
    pub fn fail_next_messages(&self, n: usize, fault: MessagingFault) {
        let m = self.messaging();
        let mut m = lock(m);
        for _ in 0..n {
            m.forced.push_back(fault.clone());
        }
    }

    /// Forces `fault` on every messaging request (None: back to normal).
    pub fn set_messaging_fault(&self, fault: Option<MessagingFault>) {
        lock(self.messaging()).always = fault;
    }

    /// Opens the 24 h customer service window of a number (as if it had written to the box).
    pub fn open_whatsapp_window(&self, to: &str) {
        lock(self.messaging())
            .open_windows
            .push(to.trim_start_matches('+').to_string());
    }

    /// Every messaging request received so far, in order.
    pub fn messages_received(&self) -> Vec<Received> {
        lock(self.messaging()).received.clone()
    }

    /// Accepted messages (not media uploads) so far.
    pub fn messages_accepted(&self) -> Vec<Received> {
        lock(self.messaging())
            .received
            .iter()
            .filter(|r| r.accepted && r.kind != "whatsapp_media")
            .cloned()
            .collect()
    }

    /// Media uploads accepted so far.
    pub fn media_uploads(&self) -> usize {
        lock(self.messaging()).media.len()
    }
}

fn header(name: &str, value: &str) -> Header {
    Header::from_bytes(name.as_bytes(), value.as_bytes())
        .unwrap_or_else(|_| Header::from_bytes(&b"X-Invalid"[..], &b"1"[..]).expect("static"))
}

fn json(status: u16, body: serde_json::Value) -> Response<Cursor<Vec<u8>>> {
    Response::from_data(body.to_string().into_bytes())
        .with_status_code(StatusCode(status))
        .with_header(header("Content-Type", "application/json"))
}

fn graph_error(code: i64, message: &str) -> Response<Cursor<Vec<u8>>> {
    let status = match code {
        190 => 401,
        130429 | 4 | 80007 => 429,
        _ => 400,
    };
    json(
        status,
        serde_json::json!({"error": {"message": message, "type": "OAuthException", "code": code,
            "error_data": {"messaging_product": "whatsapp", "details": message}, "fbtrace_id": "Asim"}}),
    )
}

fn which(path: &str) -> Option<&'static str> {
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    match parts.as_slice() {
        [v, _, "media"] if v.starts_with('v') => Some("whatsapp_media"),
        [v, _, "messages"] if v.starts_with('v') => Some("whatsapp_message"),
        ["api", "sms", "outbound"] | ["api", _, "sms", "outbound"] => Some("dhis2_sms"),
        ["gateway", "sms"] => Some("gateway_sms"),
        _ => None,
    }
}

/// Answers a messaging request, or gives the request back for the DHIS2 routes. `dhis2_auth`
/// checks DHIS2 credentials (for `/api/sms/outbound`).
pub(super) fn handle(
    state: &super::State,
    mut request: Request,
    dhis2_auth: &dyn Fn(&Request) -> bool,
) -> Option<Request> {
    let url = request.url().to_string();
    let (path, query) = url.split_once('?').unwrap_or((&url, ""));
    let Some(kind) = which(path) else {
        return Some(request);
    };
    let m = &state.messaging;
    let mut body = String::new();
    let _ = request
        .as_reader()
        .take(8 * 1024 * 1024)
        .read_to_string(&mut body);
    let auth = request
        .headers()
        .iter()
        .find(|h| h.field.equiv("Authorization"))
        .map(|h| h.value.as_str().to_string())
        .unwrap_or_default();
    let api_key = request
        .headers()
        .iter()
        .find(|h| h.field.equiv("X-Api-Key"))
        .map(|h| h.value.as_str().to_string())
        .unwrap_or_default();
    let authorised = match kind {
        "dhis2_sms" => dhis2_auth(&request),
        "gateway_sms" => api_key == GATEWAY_KEY,
        _ => auth == format!("Bearer {WHATSAPP_TOKEN}"),
    };
    let (response, delay) = answer(m, kind, query, &body, authorised);
    if let Some(d) = delay {
        std::thread::sleep(d);
    }
    let _ = request.respond(response);
    None
}

fn answer(
    m: &Mutex<Messaging>,
    kind: &'static str,
    query: &str,
    body: &str,
    authorised: bool,
) -> (Response<Cursor<Vec<u8>>>, Option<Duration>) {
    let mut m = lock(m);
    let at = m.started.map(|s| s.elapsed()).unwrap_or_default();
    let fault = m.forced.pop_front().or_else(|| m.always.clone());
    let parsed: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
    let mut form = parse_form(query);
    if kind == "gateway_sms" && parsed.is_null() {
        form.extend(parse_form(body));
    }
    let (to, message_id) = match kind {
        "whatsapp_message" => (
            parsed["to"].as_str().unwrap_or("").to_string(),
            parsed["biz_opaque_callback_data"]
                .as_str()
                .map(str::to_string),
        ),
        "dhis2_sms" => (
            parsed["recipients"][0].as_str().unwrap_or("").to_string(),
            None,
        ),
        "gateway_sms" => (
            form.get("to").cloned().unwrap_or_default(),
            form.get("id").cloned(),
        ),
        _ => (String::new(), None),
    };
    let mut record = Received {
        at,
        kind,
        to: to.clone(),
        message_id,
        accepted: false,
        body: body.chars().take(4096).collect(),
    };
    let (response, delay) = decide(&mut m, kind, &parsed, &to, authorised, fault, &form);
    record.accepted = (200..300).contains(&response.status_code().0);
    m.received.push(record);
    (response, delay)
}

fn decide(
    m: &mut Messaging,
    kind: &str,
    parsed: &serde_json::Value,
    to: &str,
    authorised: bool,
    fault: Option<MessagingFault>,
    form: &HashMap<String, String>,
) -> (Response<Cursor<Vec<u8>>>, Option<Duration>) {
    let mut delay = None;
    match fault {
        Some(MessagingFault::Down) => {
            let page = "<html><head><title>503 Service Temporarily Unavailable</title></head><body>nginx</body></html>";
            return (
                Response::from_data(page.as_bytes().to_vec())
                    .with_status_code(StatusCode(503))
                    .with_header(header("Content-Type", "text/html")),
                None,
            );
        }
        Some(MessagingFault::RateLimited { retry_after_s }) => {
            let r = if kind.starts_with("whatsapp") {
                graph_error(130429, "Rate limit hit")
            } else {
                json(
                    429,
                    serde_json::json!({"status": "ERROR", "message": "Too many requests"}),
                )
            };
            return (
                r.with_header(header("Retry-After", &retry_after_s.to_string())),
                None,
            );
        }
        Some(MessagingFault::WhatsappError(code)) if kind.starts_with("whatsapp") => {
            return (graph_error(code, &format!("simulated error {code}")), None);
        }
        Some(MessagingFault::NoSmsGateway) if kind == "dhis2_sms" => {
            return (
                json(
                    500,
                    serde_json::json!({"httpStatus": "Internal Server Error", "httpStatusCode": 500,
                        "status": "ERROR", "message": "No default gateway configured"}),
                ),
                None,
            );
        }
        Some(MessagingFault::GatewayStatus(s)) if kind == "gateway_sms" => {
            return (json(s, serde_json::json!({"status": "error"})), None);
        }
        Some(MessagingFault::Slow(d)) => delay = Some(d),
        _ => {}
    }
    if !authorised {
        return match kind {
            "dhis2_sms" => (
                json(
                    401,
                    serde_json::json!({"httpStatus": "Unauthorized", "httpStatusCode": 401, "status": "ERROR", "message": "Unauthorized"}),
                ),
                None,
            ),
            "gateway_sms" => (
                json(
                    401,
                    serde_json::json!({"status": "error", "message": "bad key"}),
                ),
                None,
            ),
            _ => (
                graph_error(190, "Error validating access token: Session has expired"),
                None,
            ),
        };
    }
    m.next_id += 1;
    let n = m.next_id;
    let response = match kind {
        "whatsapp_media" => {
            let id = format!("{}", 9_000_000_000u64 + n);
            m.media.push(id.clone());
            json(200, serde_json::json!({ "id": id }))
        }
        "whatsapp_message" => whatsapp_message(m, parsed, to, n),
        "dhis2_sms" => {
            if parsed["message"].as_str().unwrap_or("").is_empty() {
                json(
                    409,
                    serde_json::json!({"httpStatus": "Conflict", "httpStatusCode": 409, "status": "ERROR", "message": "Message content must be specified"}),
                )
            } else {
                json(
                    200,
                    serde_json::json!({"httpStatus": "OK", "httpStatusCode": 200, "status": "OK", "message": "SMS sent"}),
                )
            }
        }
        _ => {
            if form.get("text").is_none_or(|t| t.is_empty()) || to.is_empty() {
                json(
                    400,
                    serde_json::json!({"status": "error", "message": "to and text required"}),
                )
            } else {
                json(
                    200,
                    serde_json::json!({"status": "sent", "messages": [{"id": format!("gw-{n}")}]}),
                )
            }
        }
    };
    (response, delay)
}

fn whatsapp_message(
    m: &Messaging,
    parsed: &serde_json::Value,
    to: &str,
    n: u64,
) -> Response<Cursor<Vec<u8>>> {
    if parsed["messaging_product"] != "whatsapp" || to.is_empty() {
        return graph_error(100, "Invalid parameter");
    }
    match parsed["type"].as_str() {
        Some("template") => {
            let t = &parsed["template"];
            if t["name"] != WHATSAPP_TEMPLATE {
                return graph_error(132001, "Template name does not exist in the translation");
            }
            let media = t["components"][0]["parameters"][0]["image"]["id"]
                .as_str()
                .unwrap_or("");
            if !m.media.iter().any(|id| id == media) {
                return graph_error(131053, "Media upload error");
            }
        }
        Some("text") => {
            if !m.open_windows.iter().any(|w| w == to) {
                return graph_error(131047, "Re-engagement message");
            }
        }
        _ => return graph_error(100, "Invalid parameter"),
    }
    json(
        200,
        serde_json::json!({"messaging_product": "whatsapp",
            "contacts": [{"input": to, "wa_id": to}],
            "messages": [{"id": format!("wamid.SIM{n:08}")}]}),
    )
}

fn parse_form(q: &str) -> HashMap<String, String> {
    q.split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (decode(k), decode(v)))
        .collect()
}

fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                match u8::from_str_radix(std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("zz"), 16)
                {
                    Ok(v) => {
                        out.push(v);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
