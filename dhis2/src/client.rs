//! The blocking DHIS2 client: one `ureq` agent, configured once (timeouts, no redirects, gzip,
//! rustls), reused across a sync. `ureq` sends `Accept-Encoding: gzip` and decodes gzipped
//! answers on the fly, so byte counts here are of the decoded JSON. Version-aware: it asks `/api/system/info` once and from then
//! on speaks that version's parameter names; every answer is converted into [`super::model`].
//!
//! It never retries by itself: the sync engine retries with backoff, guided by
//! [`Dhis2Error::is_retryable`], [`Dhis2Error::retry_after`] (a 429 or 503 saying when to come
//! back) and [`Dhis2Error::no_answer`] (a dead server or link, which the engine stops asking
//! within about a minute). A 401 is never retryable (DHIS2 locks an account after four
//! failed logins). Credentials travel only in the `Authorization` header and never appear in an
//! error, a log line or `Debug` output.
//!
//! Timeouts are idle timeouts, never whole-request ones: connecting has its own limit, and then
//! every read (the wait for the answer, and each gap inside its body) may take at most the idle
//! timeout. A slow link that keeps sending finishes a large page however long it takes; a stalled
//! one fails after one idle timeout.
use super::model::*;
use super::wire;

mod datastore;
use base64::Engine;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// How kadi authenticates to DHIS2.
#[derive(Clone)]
pub enum Auth {
    /// HTTP basic auth.
    Basic { username: String, password: String },
    /// Personal access token (`Authorization: ApiToken …`, 2.37+).
    Token(String),
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Auth::Basic { username, .. } => write!(f, "Basic({username}, <hidden>)"),
            Auth::Token(_) => write!(f, "Token(<hidden>)"),
        }
    }
}

impl Auth {
    fn header_value(&self) -> String {
        match self {
            Auth::Basic { username, password } => {
                format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD
                        .encode(format!("{username}:{password}"))
                )
            }
            Auth::Token(t) => format!("ApiToken {}", t.trim()),
        }
    }
}

/// Where and how to reach one DHIS2 server.
#[derive(Debug, Clone)]
pub struct ConnectionConfig {
    /// Normalised base URL without trailing slash or `/api` (see [`normalize_base_url`]).
    pub base_url: String,
    pub auth: Auth,
}

/// Why a DHIS2 call failed, in the categories the sync engine and page act on.
#[derive(Debug)]
pub enum Dhis2Error {
    /// Nothing reached the server or came back from it: DNS, refused, no route, connect timeout.
    Unreachable(String),
    /// No byte for the idle timeout: before the answer began (`midway: false`, a hung server
    /// or a page too large to compute in time) or inside its body (`midway: true`, a stalled
    /// link). A smaller page may get through either.
    TimedOut { message: String, midway: bool },
    /// The answer began and the connection closed or reset before its end (`ureq` reports the
    /// early EOF at once).
    Interrupted(String),
    /// The server asks kadi to come back later: a 429 (rate limit), or a 503 with
    /// `Retry-After`. `after` is that header read as a duration (an HTTP date counts from the
    /// server's own `Date`, never from the box clock), when it had a usable one.
    RetryLater {
        status: u16,
        message: String,
        after: Option<Duration>,
    },
    /// 401/403 or a redirect to the login page: wrong credentials. Never retried.
    AuthFailed(String),
    /// The server answered with an error status and (when it gave one) DHIS2's `message`.
    Rejected { status: u16, message: String },
    /// The server answered 2xx with a body kadi cannot read (HTML, JSON of another shape, ...).
    Malformed(String),
    /// A 2xx body cut short (the JSON ended early): the answer was fine, the transfer was not,
    /// so another attempt may succeed. Reported as `malformed` (its [`Dhis2Error::kind`]).
    Truncated(String),
}

impl Dhis2Error {
    /// Whether trying again later may succeed: network failures, 5xx, 408/429 and truncated
    /// bodies. Never for authentication failures.
    pub fn is_retryable(&self) -> bool {
        match self {
            Dhis2Error::Unreachable(_)
            | Dhis2Error::TimedOut { .. }
            | Dhis2Error::Interrupted(_)
            | Dhis2Error::RetryLater { .. } => true,
            Dhis2Error::AuthFailed(_) => false,
            Dhis2Error::Rejected { status, .. } => {
                *status >= 500 || *status == 408 || *status == 429
            }
            Dhis2Error::Truncated(_) => true,
            Dhis2Error::Malformed(_) => false,
        }
    }

    /// Whether the server gave no byte at all (refused, DNS, no route, connect or first-byte
    /// timeout): what a dead server or link looks like, as opposed to one that answers badly.
    pub fn no_answer(&self) -> bool {
        matches!(
            self,
            Dhis2Error::Unreachable(_) | Dhis2Error::TimedOut { midway: false, .. }
        )
    }

    /// Whether the idle timeout fired (before or inside the answer): a smaller page may pass.
    pub fn timed_out(&self) -> bool {
        matches!(self, Dhis2Error::TimedOut { .. })
    }

    /// Whether the server asked kadi to slow down (a 429, or a 503 with `Retry-After`).
    pub fn is_rate_limit(&self) -> bool {
        matches!(self, Dhis2Error::RetryLater { .. })
    }

    /// How long the server asked kadi to wait (`Retry-After`), when it said.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Dhis2Error::RetryLater { after, .. } => *after,
            _ => None,
        }
    }

    /// A stable one-word category: `unreachable`, `auth_failed`, `rejected`, `malformed`.
    pub fn kind(&self) -> &'static str {
        match self {
            Dhis2Error::Unreachable(_)
            | Dhis2Error::TimedOut { .. }
            | Dhis2Error::Interrupted(_) => "unreachable",
            Dhis2Error::AuthFailed(_) => "auth_failed",
            Dhis2Error::Rejected { .. } | Dhis2Error::RetryLater { .. } => "rejected",
            Dhis2Error::Malformed(_) | Dhis2Error::Truncated(_) => "malformed",
        }
    }
}

impl std::fmt::Display for Dhis2Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Dhis2Error::Unreachable(m) | Dhis2Error::Interrupted(m) => {
                write!(f, "DHIS2 unreachable: {m}")
            }
            Dhis2Error::TimedOut { message, .. } => write!(f, "DHIS2 unreachable: {message}"),
            Dhis2Error::RetryLater {
                status,
                message,
                after,
            } => match after {
                Some(d) => write!(
                    f,
                    "DHIS2 asks to retry later ({status}, Retry-After {} s): {message}",
                    d.as_secs()
                ),
                None => write!(f, "DHIS2 asks to retry later ({status}): {message}"),
            },
            Dhis2Error::AuthFailed(m) => write!(f, "DHIS2 authentication failed: {m}"),
            Dhis2Error::Rejected { status, message } => {
                write!(f, "DHIS2 rejected the request ({status}): {message}")
            }
            Dhis2Error::Malformed(m) | Dhis2Error::Truncated(m) => {
                write!(f, "DHIS2 sent a response kadi cannot read: {m}")
            }
        }
    }
}

impl std::error::Error for Dhis2Error {}

/// Normalises a pasted DHIS2 URL: trims, drops credentials, trailing slashes, a query or
/// fragment, and an `/api` (or `/api/41`, `/api/...`) or `/dhis-web-…` suffix.
pub fn normalize_base_url(url: &str) -> String {
    let mut u = url.trim().to_string();
    if let Some(i) = u.find(['?', '#']) {
        u.truncate(i);
    }
    // Never keep `user:password@` in a stored URL.
    if let Some(scheme_end) = u.find("://") {
        let rest = &u[scheme_end + 3..];
        let host_end = rest.find('/').unwrap_or(rest.len());
        if let Some(at) = rest[..host_end].rfind('@') {
            u = format!("{}{}", &u[..scheme_end + 3], &rest[at + 1..]);
        }
    }
    let mut u = u.trim_end_matches('/').to_string();
    let cut = |u: &str, marker: &str| -> Option<usize> {
        let scheme_end = u.find("://").map(|i| i + 3).unwrap_or(0);
        let path_start = u[scheme_end..].find('/').map(|i| i + scheme_end)?;
        u[path_start..]
            .match_indices(marker)
            .map(|(i, _)| i + path_start)
            .find(|&i| {
                let after = &u[i + marker.len()..];
                marker.ends_with('-') || after.is_empty() || after.starts_with('/')
            })
    };
    if let Some(i) = cut(&u, "/dhis-web-") {
        u.truncate(i);
    }
    if let Some(i) = cut(&u, "/api") {
        u.truncate(i);
    }
    u.trim_end_matches('/').to_string()
}

/// Which tracked entities to export.
#[derive(Debug, Clone, Default)]
pub struct TrackedEntityQuery {
    pub program: String,
    /// Org units to search under (descendants); empty means the user's capture scope.
    pub org_units: Vec<String>,
    /// Zone-less server timestamp; only entities updated after it.
    pub updated_after: Option<String>,
    pub include_deleted: bool,
}

/// One `fields` string for every version: 2.36/2.37 only look for the keyword `enrollments`
/// (and would add events for `events`, which is not named); 2.38+ filter exactly.
pub const TRACKED_ENTITY_FIELDS: &str = "trackedEntity,trackedEntityType,orgUnit,createdAt,updatedAt,deleted,\
attributes[attribute,code,displayName,valueType,value,updatedAt],\
enrollments[enrollment,program,trackedEntity,orgUnit,enrolledAt,occurredAt,status,updatedAt,deleted]";

/// `fields` for the enrollments export.
pub const ENROLLMENT_FIELDS: &str =
    "enrollment,program,trackedEntity,orgUnit,enrolledAt,occurredAt,status,updatedAt,deleted";

const PROGRAM_FIELDS: &str = "id,name,displayName,code,trackedEntityType[id],\
programTrackedEntityAttributes[mandatory,valueType,name,displayName,\
trackedEntityAttribute[id,code,name,displayName,valueType,optionSet[id,name,displayName,options[code,name,displayName]]]]";

const ORG_UNIT_FIELDS: &str = "id,name,displayName,code,level,path,parent[id]";

/// Bodies larger than this are refused (a tracker page of 1,000 entities is a few MB).
const MAX_BODY: u64 = 512 * 1024 * 1024;

/// What a client waits for, by default: connecting (DNS, TCP, TLS), and each read.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// The default idle timeout: the longest silence accepted before an answer starts or inside
/// it. DHIS2 computes a tracker page of 500 in a few seconds; 30 s of silence is a hung
/// server or a dead link, and two such silences make the minute after which sync gives up.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// A DHIS2 client, configured once and reused across a sync.
pub struct Client {
    config: ConnectionConfig,
    agent: ureq::Agent,
    version: Mutex<Option<(u32, u32)>>,
    /// ETag and body of metadata answers, by URL, for `If-None-Match`.
    etags: Mutex<HashMap<String, (String, Vec<u8>)>>,
    requests: AtomicU64,
    /// The server answered 400 to the tracked-entity `order`: it is not sent again.
    order_refused: std::sync::atomic::AtomicBool,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// The agent: idle timeouts only (see the module doc). No global or per-call timeout, so a
/// large page over a slow but steady link is never cut off for taking long. Public so the
/// outbox's WhatsApp and SMS gateway clients use the same rules (statuses as answers, no
/// redirects followed, idle timeouts).
pub fn build_agent(connect: Duration, idle: Duration) -> ureq::Agent {
    let config = ureq::Agent::config_builder()
        .http_status_as_error(false)
        // A redirect is information (login page, http→https, wrong path), not something to follow.
        .max_redirects(0)
        .timeout_resolve(Some(connect))
        .timeout_connect(Some(connect))
        // Each read restarts the clock: the wait for the status line and every gap in the body.
        .timeout_per_read(Some(idle))
        .timeout_per_write(Some(idle))
        .user_agent(format!("kadi/{}", env!("CARGO_PKG_VERSION")))
        .build();
    ureq::Agent::new_with_config(config)
}

/// A 2xx body, read whole.
struct Body {
    bytes: Vec<u8>,
    url: String,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Parses `2.40.3.1`, `2.42-SNAPSHOT`, `2.41` into (2, 40) etc.
pub fn parse_version(v: &str) -> Option<(u32, u32)> {
    let mut parts = v.trim().trim_start_matches('v').split(['.', '-']);
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor))
}

fn html_hint(url: &str) -> String {
    format!(
        "{url} answered with an HTML page, not DHIS2 JSON: check the base URL (the address DHIS2 opens at, \
         e.g. https://dhis2.example.org or https://example.org/dhis, without /api or /dhis-web-…)"
    )
}

impl Client {
    /// Builds a client (no request is made): [`CONNECT_TIMEOUT`] to connect, then
    /// [`IDLE_TIMEOUT`] of silence at most.
    pub fn new(config: ConnectionConfig) -> Client {
        Client {
            config: ConnectionConfig {
                base_url: normalize_base_url(&config.base_url),
                auth: config.auth,
            },
            agent: build_agent(CONNECT_TIMEOUT, IDLE_TIMEOUT),
            version: Mutex::new(None),
            etags: Mutex::new(HashMap::new()),
            requests: AtomicU64::new(0),
            order_refused: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// The same client with another idle timeout (connecting: at most [`CONNECT_TIMEOUT`]).
    pub fn with_timeout(self, idle: Duration) -> Client {
        self.with_timeouts(idle.min(CONNECT_TIMEOUT), idle)
    }

    /// The same client with these connect and idle timeouts (see the module doc).
    pub fn with_timeouts(mut self, connect: Duration, idle: Duration) -> Client {
        self.agent = build_agent(connect, idle);
        self
    }

    /// The normalised base URL.
    pub fn base_url(&self) -> &str {
        &self.config.base_url
    }

    /// Requests sent so far by this client.
    pub fn requests_sent(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// The server's (major, minor) version once known (after [`Client::system_info`]).
    pub fn known_version(&self) -> Option<(u32, u32)> {
        *lock(&self.version)
    }

    /// Tells the client the server version (e.g. from a previous run) to skip `/api/system/info`.
    pub fn set_version(&self, major_minor: (u32, u32)) {
        *lock(&self.version) = Some(major_minor);
    }

    fn version(&self) -> Result<(u32, u32), Dhis2Error> {
        if let Some(v) = self.known_version() {
            return Ok(v);
        }
        Ok(self.system_info()?.major_minor)
    }

    /// GET `/api/{path}` with `query`; 2xx bodies only, every other answer mapped to an error.
    fn get(
        &self,
        path: &str,
        query: &[(&str, String)],
        use_etag: bool,
    ) -> Result<Body, Dhis2Error> {
        let url = format!("{}/api/{}", self.config.base_url, path);
        let cache_key = {
            let q: Vec<String> = query.iter().map(|(k, v)| format!("{k}={v}")).collect();
            format!("{url}?{}", q.join("&"))
        };
        let response = self.send(&url, query, use_etag.then_some(cache_key.as_str()))?;
        self.answer(response, url, cache_key, use_etag)
    }

    /// Sends the request (with `If-None-Match` when `etag_key` has a cached answer); only a
    /// failure to get any answer is an error here.
    fn send(
        &self,
        url: &str,
        query: &[(&str, String)],
        etag_key: Option<&str>,
    ) -> Result<ureq::http::Response<ureq::Body>, Dhis2Error> {
        let mut request = self
            .agent
            .get(url)
            .header("Accept", "application/json")
            .header("Authorization", self.config.auth.header_value());
        for (k, v) in query {
            request = request.query(*k, v);
        }
        if let Some(key) = etag_key {
            if let Some((tag, _)) = lock(&self.etags).get(key) {
                request = request.header("If-None-Match", tag.as_str());
            }
        }
        self.requests.fetch_add(1, Ordering::Relaxed);
        request.call().map_err(|e| transport_error(e, url))
    }

    /// Maps an answer to its body (2xx, or a cached body for 304) or to the error it means.
    fn answer(
        &self,
        mut response: ureq::http::Response<ureq::Body>,
        url: String,
        cache_key: String,
        use_etag: bool,
    ) -> Result<Body, Dhis2Error> {
        let status = response.status().as_u16();
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let content_type = header("content-type").unwrap_or_default();
        let location = header("location");
        let etag = header("etag");
        let retry_after =
            header("retry-after").and_then(|v| parse_retry_after(&v, header("date").as_deref()));
        match status {
            304 => match lock(&self.etags).get(&cache_key) {
                Some((_, bytes)) => Ok(Body {
                    bytes: bytes.clone(),
                    url,
                }),
                None => Err(Dhis2Error::Malformed(format!(
                    "{url} answered 304 Not Modified to a request kadi had not cached"
                ))),
            },
            300..=399 => {
                let loc = location.unwrap_or_default();
                if loc.contains("login") || loc.contains("security") || loc.contains("/uaa/") {
                    Err(Dhis2Error::AuthFailed(format!(
                        "{url} redirected to the DHIS2 login page: credentials were not sent or not accepted"
                    )))
                } else {
                    Err(Dhis2Error::Malformed(format!(
                        "{url} redirects to {loc}: use that address (e.g. https instead of http) as the base URL"
                    )))
                }
            }
            401 | 403 => {
                let body = read_limited(&mut response, 64 * 1024).unwrap_or_default();
                let message = error_message(&body, &content_type).unwrap_or_else(|| {
                    if status == 401 {
                        "Unauthorized".into()
                    } else {
                        "Forbidden".into()
                    }
                });
                Err(Dhis2Error::AuthFailed(format!(
                    "{status} from {url}: {message}"
                )))
            }
            200..=299 => {
                let bytes = response
                    .body_mut()
                    .with_config()
                    .limit(MAX_BODY)
                    .read_to_vec()
                    .map_err(|e| body_error(e, &url))?;
                if content_type.contains("html")
                    || bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'<')
                {
                    return Err(Dhis2Error::Malformed(html_hint(&url)));
                }
                if let (true, Some(tag)) = (use_etag, etag) {
                    lock(&self.etags).insert(cache_key, (tag, bytes.clone()));
                }
                Ok(Body { bytes, url })
            }
            _ => {
                let body = read_limited(&mut response, 64 * 1024).unwrap_or_default();
                let message = error_message(&body, &content_type).unwrap_or_else(|| {
                    response
                        .status()
                        .canonical_reason()
                        .unwrap_or("error")
                        .to_string()
                });
                // A 429 always asks to slow down; a 503 only when it says when to come back
                // (otherwise it is a server or proxy failing, retried like any 5xx).
                if status == 429 || (status == 503 && retry_after.is_some()) {
                    return Err(Dhis2Error::RetryLater {
                        status,
                        message,
                        after: retry_after,
                    });
                }
                Err(Dhis2Error::Rejected { status, message })
            }
        }
    }

    fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, String)],
        use_etag: bool,
    ) -> Result<(T, u64), Dhis2Error> {
        let body = self.get(path, query, use_etag)?;
        let value = parse_json(&body.bytes, &body.url)?;
        Ok((value, body.bytes.len() as u64))
    }

    /// `POST /api/sms/outbound` with `{"message": ..., "recipients": [...]}`: DHIS2 hands the
    /// text to its configured SMS gateway. Answers DHIS2's message (`SMS sent`). A 2xx whose
    /// body says `"status": "ERROR"` is [`Dhis2Error::Rejected`]. Never retried here; a request
    /// that went out without an answer is [`Dhis2Error::TimedOut`] / `Interrupted`, and the caller
    /// must not resend it blindly (an SMS may have left).
    pub fn send_sms(&self, message: &str, recipients: &[String]) -> Result<String, Dhis2Error> {
        let url = format!("{}/api/sms/outbound", self.config.base_url);
        let body = serde_json::json!({ "message": message, "recipients": recipients });
        self.requests.fetch_add(1, Ordering::Relaxed);
        let response = self
            .agent
            .post(&url)
            .header("Accept", "application/json")
            .header("Content-Type", "application/json")
            .header("Authorization", self.config.auth.header_value())
            .send(body.to_string().as_bytes())
            .map_err(|e| transport_error(e, &url))?;
        let answer = self.answer(response, url.clone(), String::new(), false)?;
        let value: serde_json::Value = parse_json(&answer.bytes, &url)?;
        let text = value
            .get("message")
            .and_then(|m| m.as_str())
            .unwrap_or("")
            .to_string();
        let status = value.get("status").and_then(|s| s.as_str()).unwrap_or("OK");
        if status.eq_ignore_ascii_case("ERROR") {
            let code = value
                .get("httpStatusCode")
                .and_then(|c| c.as_u64())
                .unwrap_or(500) as u16;
            return Err(Dhis2Error::Rejected {
                status: code,
                message: text,
            });
        }
        Ok(text)
    }

    /// `/api/system/info`: the version (remembered for later requests) and the server's clock.
    pub fn system_info(&self) -> Result<SystemInfo, Dhis2Error> {
        let (info, _) = self.get_json::<wire::WireSystemInfo>("system/info", &[], false)?;
        let version = info.version.unwrap_or_default();
        let major_minor = parse_version(&version).ok_or_else(|| {
            Dhis2Error::Malformed(format!(
                "{}/api/system/info gave no DHIS2 version kadi recognises ({version:?})",
                self.config.base_url
            ))
        })?;
        self.set_version(major_minor);
        Ok(SystemInfo {
            version,
            major_minor,
            server_date: info.server_date.unwrap_or_default(),
        })
    }

    /// `/api/me`: the user kadi connects as.
    pub fn me(&self) -> Result<Me, Dhis2Error> {
        let fields = "id,username,name,displayName,userCredentials[username],organisationUnits[id]"
            .to_string();
        let (me, _) = self.get_json::<wire::WireMe>("me", &[("fields", fields)], false)?;
        Ok(me.into_model())
    }

    /// Programs visible to the user, with attributes and option sets.
    pub fn programs(&self) -> Result<Vec<Program>, Dhis2Error> {
        let q = [
            ("fields", PROGRAM_FIELDS.to_string()),
            ("paging", "false".to_string()),
        ];
        let (list, _) = self.get_json::<wire::WirePrograms>("programs", &q, true)?;
        Ok(list
            .programs
            .into_iter()
            .map(wire::WireProgram::into_model)
            .collect())
    }

    /// One program with its attributes and option sets.
    pub fn program(&self, uid: &str) -> Result<Program, Dhis2Error> {
        let (p, _) = self.get_json::<wire::WireProgram>(
            &format!("programs/{uid}"),
            &[("fields", PROGRAM_FIELDS.to_string())],
            true,
        )?;
        Ok(p.into_model())
    }

    /// All org units (paged internally) with path and level.
    pub fn org_units(&self) -> Result<Vec<OrgUnit>, Dhis2Error> {
        const PAGE_SIZE: u32 = 1000;
        let mut out = Vec::new();
        for page in 1..=100_000u32 {
            let q = [
                ("fields", ORG_UNIT_FIELDS.to_string()),
                ("paging", "true".to_string()),
                ("page", page.to_string()),
                ("pageSize", PAGE_SIZE.to_string()),
            ];
            let (list, _) = self.get_json::<wire::WireOrgUnits>("organisationUnits", &q, true)?;
            let n = list.organisation_units.len();
            out.extend(
                list.organisation_units
                    .into_iter()
                    .map(wire::WireOrgUnit::into_model),
            );
            let more = match list.pager.as_ref().map(|p| p.page_count) {
                Some(Some(count)) => (page as u64) < count,
                Some(None) => n >= PAGE_SIZE as usize,
                // No pager: the server sent everything at once.
                None => false,
            };
            if !more || n == 0 {
                break;
            }
        }
        Ok(out)
    }

    /// One org unit by UID, with name, level and path (e.g. to name the user's capture units).
    pub fn org_unit(&self, uid: &str) -> Result<OrgUnit, Dhis2Error> {
        let (o, _) = self.get_json::<wire::WireOrgUnit>(
            &format!("organisationUnits/{uid}"),
            &[("fields", ORG_UNIT_FIELDS.to_string())],
            true,
        )?;
        Ok(o.into_model())
    }

    /// How many org units the user can see (one small request: the pager's total).
    pub fn org_unit_count(&self) -> Result<u64, Dhis2Error> {
        let q = [
            ("fields", "id".to_string()),
            ("page", "1".to_string()),
            ("pageSize", "1".to_string()),
        ];
        let (list, _) = self.get_json::<wire::WireOrgUnits>("organisationUnits", &q, false)?;
        Ok(list
            .pager
            .and_then(|p| p.total)
            .unwrap_or(list.organisation_units.len() as u64))
    }

    /// The named org unit levels, by level.
    pub fn org_unit_levels(&self) -> Result<Vec<OrgUnitLevel>, Dhis2Error> {
        let q = [
            ("fields", "level,name,displayName".to_string()),
            ("paging", "false".to_string()),
        ];
        let (list, _) =
            self.get_json::<wire::WireOrgUnitLevels>("organisationUnitLevels", &q, true)?;
        Ok(list.into_model())
    }

    /// The tracker query parameters this server version understands (never the other
    /// version's names: 2.41 answers 400 to a mix and 2.42 ignores the old ones, widening the query).
    fn tracker_params(
        &self,
        query: &TrackedEntityQuery,
        page: u32,
        page_size: u32,
        fields: &str,
    ) -> Result<Vec<(&'static str, String)>, Dhis2Error> {
        let new_names = self.version()? >= (2, 41);
        let mut q: Vec<(&'static str, String)> = Vec::with_capacity(10);
        if !query.program.is_empty() {
            q.push(("program", query.program.clone()));
        }
        let (ou_key, mode_key, sep) = if new_names {
            ("orgUnits", "orgUnitMode", ",")
        } else {
            ("orgUnit", "ouMode", ";")
        };
        if query.org_units.is_empty() {
            q.push((mode_key, "ACCESSIBLE".into()));
        } else {
            q.push((ou_key, query.org_units.join(sep)));
            q.push((mode_key, "DESCENDANTS".into()));
        }
        if let Some(t) = &query.updated_after {
            q.push(("updatedAfter", t.clone()));
        }
        if query.include_deleted {
            q.push(("includeDeleted", "true".into()));
        }
        q.push(("fields", fields.to_string()));
        q.push(("page", page.max(1).to_string()));
        q.push(("pageSize", page_size.max(1).to_string()));
        Ok(q)
    }

    /// One page (1-based) of tracked entities with attributes and enrollments (in the query's
    /// program). Stop paging when `items.len() < page.page_size` (the server's page size, which a
    /// server may cap below the one asked for).
    pub fn tracked_entities_page(
        &self,
        query: &TrackedEntityQuery,
        page: u32,
        page_size: u32,
    ) -> Result<Page<TrackedEntity>, Dhis2Error> {
        let q = self.tracker_params(query, page, page_size, TRACKED_ENTITY_FIELDS)?;
        let body = self.get_ordered(q)?;
        decode_tracked_entities(&body, &query.program, page, page_size)
    }

    /// GETs a tracked-entity list in the stable order ([`Client::tracked_entity_order`]). A
    /// server that refuses the `order` (400) is asked again without it, and never with it again
    /// by this client: offsets may then tear under concurrent edits, which the sync's
    /// completeness check catches, where a refused parameter would fail every run.
    fn get_ordered(&self, q: Vec<(&'static str, String)>) -> Result<Body, Dhis2Error> {
        if !self.order_refused.load(Ordering::Relaxed) {
            let mut ordered = q.clone();
            ordered.push(("order", self.tracked_entity_order()?.into()));
            match self.get("tracker/trackedEntities", &ordered, false) {
                Err(Dhis2Error::Rejected { status: 400, .. }) => {
                    self.order_refused.store(true, Ordering::Relaxed);
                }
                other => return other,
            }
        }
        self.get("tracker/trackedEntities", &q, false)
    }

    /// The `order` of tracked-entity pages: by creation time, which an update never changes, so
    /// that offset paging is not torn by records edited while a sync pages (ordered by
    /// `updatedAt`, an edited record jumps to the end and every later page shifts back by one,
    /// skipping a record). The UID breaks ties where the version documents `trackedEntity` as an
    /// order field (2.40+); before, ties in `createdAt` (bulk imports) may still reorder between
    /// requests, which the run's completeness check catches.
    fn tracked_entity_order(&self) -> Result<&'static str, Dhis2Error> {
        Ok(if self.version()? >= (2, 40) {
            "createdAt:asc,trackedEntity:asc"
        } else {
            "createdAt:asc"
        })
    }

    /// How many tracked entities match `query`, when the server says (`totalPages=true` on a
    /// one-entity page): for progress and ETA only, never to decide when paging stops.
    pub fn tracked_entities_total(
        &self,
        query: &TrackedEntityQuery,
    ) -> Result<Option<u64>, Dhis2Error> {
        let mut q = self.tracker_params(query, 1, 1, "trackedEntity")?;
        q.push(("totalPages", "true".into()));
        let (wire, bytes) = self.get_json::<wire::WireTrackerPage<wire::WireUidOnly>>(
            "tracker/trackedEntities",
            &q,
            false,
        )?;
        Ok(wire.into_page(1, 1, bytes, |te| te.tracked_entity).total)
    }

    /// One page of the completeness listing: UID, `updatedAt` and deleted flag of each matching
    /// tracked entity (`fields=trackedEntity,updatedAt,deleted`), in the same stable order as
    /// the pages; with `with_total`, the server's count (`totalPages=true`) comes along.
    pub fn tracked_entity_stamps(
        &self,
        query: &TrackedEntityQuery,
        page: u32,
        page_size: u32,
        with_total: bool,
    ) -> Result<Page<EntityStamp>, Dhis2Error> {
        let mut q =
            self.tracker_params(query, page, page_size, "trackedEntity,updatedAt,deleted")?;
        if with_total {
            q.push(("totalPages", "true".into()));
        }
        let body = self.get_ordered(q)?;
        let wire: wire::WireTrackerPage<wire::WireStamp> = parse_json(&body.bytes, &body.url)?;
        let bytes = body.bytes.len() as u64;
        Ok(wire.into_page(page, page_size, bytes, wire::WireStamp::into_model))
    }

    /// The tracked entities with these UIDs (in `program`), in one request per 100 UIDs, decoded
    /// record by record as pages are (records that do not decode are in `rejected`).
    pub fn tracked_entities_by_uid(
        &self,
        program: &str,
        uids: &[String],
    ) -> Result<Page<TrackedEntity>, Dhis2Error> {
        let new_names = self.version()? >= (2, 41);
        let mut out = Page {
            items: Vec::with_capacity(uids.len()),
            page: 1,
            page_size: uids.len() as u32,
            total: None,
            bytes: 0,
            rejected: Vec::new(),
        };
        for chunk in uids.chunks(100) {
            let mut q: Vec<(&str, String)> = vec![("program", program.to_string())];
            if new_names {
                q.push(("trackedEntities", chunk.join(",")));
                q.push(("orgUnitMode", "ACCESSIBLE".into()));
            } else {
                q.push(("trackedEntity", chunk.join(";")));
                q.push(("ouMode", "ACCESSIBLE".into()));
            }
            q.push(("fields", TRACKED_ENTITY_FIELDS.to_string()));
            q.push(("pageSize", chunk.len().to_string()));
            let body = self.get("tracker/trackedEntities", &q, false)?;
            let page = decode_tracked_entities(&body, program, 1, chunk.len() as u32)?;
            out.bytes += page.bytes;
            out.items.extend(page.items);
            out.rejected.extend(page.rejected);
        }
        Ok(out)
    }

    /// One page (1-based) of enrollments in the query's program.
    pub fn enrollments_page(
        &self,
        query: &TrackedEntityQuery,
        page: u32,
        page_size: u32,
    ) -> Result<Page<Enrollment>, Dhis2Error> {
        let q = self.tracker_params(query, page, page_size, ENROLLMENT_FIELDS)?;
        let (wire, bytes) = self.get_json::<wire::WireTrackerPage<wire::WireEnrollment>>(
            "tracker/enrollments",
            &q,
            false,
        )?;
        Ok(wire.into_page(page, page_size, bytes, |e| e.into_model(None)))
    }
}

fn read_limited(response: &mut ureq::http::Response<ureq::Body>, limit: u64) -> Option<Vec<u8>> {
    response
        .body_mut()
        .with_config()
        .limit(limit)
        .read_to_vec()
        .ok()
}

/// DHIS2's `message` from an error body (JSON), or a short plain-text body; never HTML.
fn error_message(body: &[u8], content_type: &str) -> Option<String> {
    if let Ok(e) = serde_json::from_slice::<wire::WireError>(body) {
        if let Some(m) = e.message.or(e.error).filter(|m| !m.trim().is_empty()) {
            return Some(m);
        }
    }
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() || content_type.contains("html") || text.starts_with('<') {
        return None;
    }
    Some(text.chars().take(300).collect())
}

/// A tracker page decoded record by record ([`wire::decode_tracked_entities`]).
fn decode_tracked_entities(
    body: &Body,
    program: &str,
    page: u32,
    page_size: u32,
) -> Result<Page<TrackedEntity>, Dhis2Error> {
    wire::decode_tracked_entities(&body.bytes, program, page, page_size)
        .map_err(|e| json_error(e, &body.bytes, &body.url))
}

fn parse_json<T: serde::de::DeserializeOwned>(bytes: &[u8], url: &str) -> Result<T, Dhis2Error> {
    serde_json::from_slice(bytes).map_err(|e| json_error(e, bytes, url))
}

fn json_error(e: serde_json::Error, bytes: &[u8], url: &str) -> Dhis2Error {
    if e.classify() == serde_json::error::Category::Eof {
        Dhis2Error::Truncated(format!(
            "truncated response from {url} ({} bytes): {e}",
            bytes.len()
        ))
    } else {
        Dhis2Error::Malformed(format!("unexpected JSON from {url}: {e}"))
    }
}

/// A failure before the answer's status line: nothing came back. A connect or DNS timeout is
/// a link that is not there; a read timeout is a server that took the request and said nothing.
fn transport_error(e: ureq::Error, url: &str) -> Dhis2Error {
    match e {
        ureq::Error::Timeout(t @ (ureq::Timeout::Connect | ureq::Timeout::Resolve)) => {
            Dhis2Error::Unreachable(format!("{url}: could not connect in time ({t})"))
        }
        ureq::Error::Timeout(t) => Dhis2Error::TimedOut {
            message: format!("{url}: no answer within the idle timeout ({t})"),
            midway: false,
        },
        ureq::Error::HostNotFound => {
            Dhis2Error::Unreachable(format!("{url}: host not found (DNS)"))
        }
        ureq::Error::ConnectionFailed => {
            Dhis2Error::Unreachable(format!("{url}: connection refused or failed"))
        }
        ureq::Error::BadUri(m) => {
            Dhis2Error::Unreachable(format!("{url} is not a usable URL: {m}"))
        }
        other => Dhis2Error::Unreachable(format!("{url}: {other}")),
    }
}

fn body_error(e: ureq::Error, url: &str) -> Dhis2Error {
    match e {
        ureq::Error::BodyExceedsLimit(n) => {
            Dhis2Error::Malformed(format!("{url}: answer larger than {n} bytes"))
        }
        ureq::Error::Timeout(t) => Dhis2Error::TimedOut {
            message: format!(
                "{url}: the answer stopped midway, no byte within the idle timeout ({t})"
            ),
            midway: true,
        },
        other => Dhis2Error::Interrupted(format!("{url}: the answer stopped midway: {other}")),
    }
}

/// The longest `Retry-After` read as a duration (a day): anything longer is no advice.
const RETRY_AFTER_MAX: u64 = 24 * 3600;

/// `Retry-After` as a duration: delta-seconds, or an HTTP date counted from the answer's own
/// `Date` header (the server's clock; a box without a real-time clock may be years off). A
/// date without a `Date` to count from, or anything unreadable, gives `None`.
pub fn parse_retry_after(value: &str, server_date: Option<&str>) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        let secs = value.parse::<u64>().unwrap_or(u64::MAX);
        return Some(Duration::from_secs(secs.min(RETRY_AFTER_MAX)));
    }
    let at = parse_http_date(value)?;
    let now = parse_http_date(server_date?)?;
    Some(Duration::from_secs(
        (at - now).clamp(0, RETRY_AFTER_MAX as i64) as u64,
    ))
}

/// An HTTP date (IMF-fixdate `Sun, 06 Nov 1994 08:49:37 GMT`, the obsolete RFC 850 and asctime
/// forms too, as RFC 9110 asks recipients to accept) as Unix seconds.
pub fn parse_http_date(s: &str) -> Option<i64> {
    const MONTHS: [&str; 12] = [
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ];
    let (mut day, mut month, mut year, mut time) = (None, None, None, None);
    for token in s.split([' ', ',', '-']).filter(|t| !t.is_empty()) {
        let lower = token.to_ascii_lowercase();
        if token.contains(':') {
            let mut parts = token.split(':').map(|p| p.parse::<i64>().ok());
            let (h, m, sec) = (parts.next()??, parts.next()??, parts.next()??);
            if h > 23 || m > 59 || sec > 60 {
                return None;
            }
            time = Some(h * 3600 + m * 60 + sec);
        } else if let Some(i) = MONTHS.iter().position(|m| lower.starts_with(m)) {
            month = Some(i as i64 + 1);
        } else if token.bytes().all(|b| b.is_ascii_digit()) {
            let n: i64 = token.parse().ok()?;
            if day.is_none() && token.len() <= 2 {
                day = Some(n);
            } else {
                // RFC 850's two-digit years: 70-99 are 19xx, the rest 20xx.
                year = Some(match (token.len(), n) {
                    (2, n) if n >= 70 => 1900 + n,
                    (2, n) => 2000 + n,
                    (_, n) => n,
                });
            }
        }
    }
    let (day, month, year, time) = (day?, month?, year?, time?);
    if !(1..=31).contains(&day) {
        return None;
    }
    Some(days_from_civil(year, month, day) * 86_400 + time)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pasted_urls_are_normalised() {
        assert_eq!(
            normalize_base_url("https://play.dhis2.org/dev/"),
            "https://play.dhis2.org/dev"
        );
        assert_eq!(normalize_base_url("https://x.org/api"), "https://x.org");
        assert_eq!(normalize_base_url("https://x.org/api/41/"), "https://x.org");
        assert_eq!(
            normalize_base_url(" http://127.0.0.1:8080 "),
            "http://127.0.0.1:8080"
        );
        assert_eq!(
            normalize_base_url("https://x.org/dhis/api/system/info"),
            "https://x.org/dhis"
        );
        assert_eq!(
            normalize_base_url("https://x.org/dhis/dhis-web-dashboard/#/"),
            "https://x.org/dhis"
        );
        assert_eq!(
            normalize_base_url("https://admin:district@x.org/dhis"),
            "https://x.org/dhis"
        );
        assert_eq!(
            normalize_base_url("https://apistore.org/apis"),
            "https://apistore.org/apis"
        );
    }

    #[test]
    fn versions_parse_with_patch_and_snapshot_suffixes() {
        assert_eq!(parse_version("2.40.3.1"), Some((2, 40)));
        assert_eq!(parse_version("2.42-SNAPSHOT"), Some((2, 42)));
        assert_eq!(parse_version("2.41.0"), Some((2, 41)));
        assert_eq!(parse_version("garbage"), None);
    }

    #[test]
    fn only_transient_failures_are_retryable() {
        assert!(Dhis2Error::Unreachable("x".into()).is_retryable());
        assert!(Dhis2Error::Rejected {
            status: 503,
            message: "x".into()
        }
        .is_retryable());
        assert!(!Dhis2Error::Rejected {
            status: 400,
            message: "x".into()
        }
        .is_retryable());
        assert!(!Dhis2Error::AuthFailed("x".into()).is_retryable());
        assert!(Dhis2Error::Truncated("truncated response".into()).is_retryable());
        assert!(!Dhis2Error::Malformed("html".into()).is_retryable());
    }

    #[test]
    fn retry_after_reads_seconds_and_http_dates_against_the_servers_clock() {
        assert_eq!(parse_retry_after("30", None), Some(Duration::from_secs(30)));
        assert_eq!(parse_retry_after(" 0 ", None), Some(Duration::ZERO));
        let date = "Sun, 06 Nov 1994 08:49:37 GMT";
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:50:07 GMT", Some(date)),
            Some(Duration::from_secs(30))
        );
        // The same instant in the obsolete forms.
        assert_eq!(
            parse_retry_after("Sunday, 06-Nov-94 08:51:37 GMT", Some(date)),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            parse_retry_after("Sun Nov  6 08:49:47 1994", Some(date)),
            Some(Duration::from_secs(10))
        );
        // A date in the past of the server's clock: now. No server clock: unknown.
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:00:00 GMT", Some(date)),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after(date, None), None);
        assert_eq!(parse_retry_after("soon", Some(date)), None);
        assert_eq!(parse_http_date("Thu, 01 Jan 1970 00:00:00 GMT"), Some(0));
        assert_eq!(
            parse_http_date("Fri, 04 Dec 2026 15:00:00 GMT"),
            Some(1_796_396_400)
        );
    }

    #[test]
    fn only_silence_counts_as_no_answer_and_only_timeouts_as_timed_out() {
        let hung = Dhis2Error::TimedOut {
            message: "x".into(),
            midway: false,
        };
        let stalled = Dhis2Error::TimedOut {
            message: "x".into(),
            midway: true,
        };
        assert!(hung.no_answer() && hung.timed_out());
        assert!(!stalled.no_answer() && stalled.timed_out());
        assert!(Dhis2Error::Unreachable("refused".into()).no_answer());
        let cut = Dhis2Error::Interrupted("eof".into());
        assert!(!cut.no_answer() && !cut.timed_out() && cut.is_retryable());
        let limited = Dhis2Error::RetryLater {
            status: 429,
            message: "slow down".into(),
            after: Some(Duration::from_secs(5)),
        };
        assert!(limited.is_retryable() && limited.is_rate_limit());
        assert_eq!(limited.retry_after(), Some(Duration::from_secs(5)));
        assert_eq!(limited.kind(), "rejected");
        assert_eq!(stalled.kind(), "unreachable");
    }

    #[test]
    fn auth_debug_output_hides_secrets() {
        let a = Auth::Basic {
            username: "admin".into(),
            password: "s3cret-pw".into(),
        };
        assert!(!format!("{a:?}").contains("s3cret-pw"));
        let t = Auth::Token("d2pat_secret".into());
        assert!(!format!("{t:?}").contains("d2pat_secret"));
    }
}
