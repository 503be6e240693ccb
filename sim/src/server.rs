//! The simulator's request loop body: authentication, routing (one `match`), the per-version
//! wire shapes, `fields` handling and fault injection.
use super::data::{self, ATTRIBUTES};
use super::{lock, pacing, socket, Fault, Meta, State, PROGRAM_UID};
use base64::Engine;
use serde_json::{json, Map, Value};
use std::io::{Cursor, Read, Write};
use std::time::Instant;
use tiny_http::{Header, Request, Response, StatusCode};

type Resp = Response<Cursor<Vec<u8>>>;

fn header(name: &str, value: &str) -> Header {
    Header::from_bytes(name.as_bytes(), value.as_bytes()).unwrap_or_else(|_| {
        Header::from_bytes(&b"X-Invalid"[..], &b"1"[..]).expect("a static header is valid")
    })
}

fn json_response(status: u16, body: String) -> Resp {
    Response::from_data(body.into_bytes())
        .with_status_code(StatusCode(status))
        .with_header(header("Content-Type", "application/json;charset=UTF-8"))
}

fn html_response(status: u16, body: &str) -> Resp {
    Response::from_data(body.as_bytes().to_vec())
        .with_status_code(StatusCode(status))
        .with_header(header("Content-Type", "text/html;charset=UTF-8"))
}

/// DHIS2's error JSON (`httpStatus`, `httpStatusCode`, `status`, `message`).
fn error_response(status: u16, message: &str) -> Resp {
    let reason = match status {
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        409 => "Conflict",
        500 => "Internal Server Error",
        _ => "Error",
    };
    json_response(
        status,
        json!({"httpStatus": reason, "httpStatusCode": status, "status": "ERROR", "message": message}).to_string(),
    )
}

const LOGIN_PAGE: &str = "<!DOCTYPE html>\n<html><head><title>DHIS 2</title></head><body>\
<form action=\"/dhis-web-commons-security/login.action\" method=\"post\">\
<input type=\"text\" name=\"j_username\"><input type=\"password\" name=\"j_password\">\
<input type=\"submit\" value=\"Sign in\"></form></body></html>\n";

const PROXY_PAGE: &str = "<html>\r\n<head><title>503 Service Temporarily Unavailable</title></head>\r\n\
<body>\r\n<center><h1>503 Service Temporarily Unavailable</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n";

fn percent_decode(s: &str) -> String {
    fn hex(b: u8) -> Option<u8> {
        (b as char).to_digit(16).map(|d| d as u8)
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h * 16 + l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn parse_query(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

struct Params(Vec<(String, String)>);

impl Params {
    fn get(&self, k: &str) -> Option<&str> {
        self.0.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str())
    }
    fn flag(&self, k: &str) -> bool {
        self.get(k).is_some_and(|v| v.eq_ignore_ascii_case("true"))
    }
    fn number(&self, k: &str, default: u32) -> Result<u32, Resp> {
        match self.get(k) {
            None => Ok(default),
            Some(v) => v.parse().map_err(|_| {
                error_response(
                    400,
                    &format!(
                        "Value '{v}' is not valid for parameter {k}. It should be of type Integer"
                    ),
                )
            }),
        }
    }
}

/// Handles one request from start to answer.
pub(super) fn handle(state: &State, request: Request) {
    let url = request.url().to_string();
    if url == STATS_PATH {
        // Not DHIS2 and not counted: how a benchmark in another process reads the counts.
        send(state, request, json_response(200, stats_json(state)));
        return;
    }
    record_request(state, &request, &url);
    // WhatsApp Cloud API, DHIS2 /api/sms/outbound and the SMS gateway (s11-s, messaging.rs).
    let Some(request) =
        super::messaging::handle(state, request, &|r| authenticate(state, r).is_ok())
    else {
        return;
    };
    let (path, query) = url.split_once('?').unwrap_or((&url, ""));
    let params = Params(parse_query(query));
    if !(path == "/api" || path.starts_with("/api/")) {
        // Anything outside the API is the web app: an HTML page, as a wrong base URL would give.
        send(state, request, html_response(200, LOGIN_PAGE));
        return;
    }
    if let Err(resp) = authenticate(state, &request) {
        send(state, request, resp);
        return;
    }
    let route = api_route(path);
    // s11-v: DHIS2's dataStore (card keys and revocations between boxes), sim/src/datastore.rs.
    let Some(request) = super::datastore::handle(state, request, route) else {
        return;
    };
    if route.starts_with("tracker/") {
        if let Some(resp) = pacing::rate_limited(state) {
            send(state, request, resp);
            return;
        }
    }
    let fault = if route.starts_with("tracker/") {
        choose_fault(state)
    } else {
        None
    };
    if fault == Some(Fault::Silent) {
        pacing::silent(state, request);
        return;
    }
    if let Some(Fault::Slow(d)) = &fault {
        std::thread::sleep(*d);
    }
    let if_none_match = request
        .headers()
        .iter()
        .find(|h| h.field.equiv("If-None-Match"))
        .map(|h| h.value.as_str().to_string());
    if let Some(Fault::Status(s)) = fault {
        send(state, request, status_fault_response(state, s));
        return;
    }
    match route_request(state, route, &params) {
        Ok(answer) => respond(state, request, route, answer, fault, if_none_match),
        Err(resp) => send(state, request, resp),
    }
}

/// Where the simulator answers its own counters (`kadi sim dhis2` runs in another process than
/// the benchmark that reads them). Outside `/api`, where no DHIS2 client goes.
pub const STATS_PATH: &str = "/kadi-sim/stats";

fn stats_json(state: &State) -> String {
    let s = lock(&state.stats).clone();
    json!({
        "requests": s.requests,
        "pages_served": s.pages_served,
        "faults_injected": s.faults_injected,
        "body_bytes_sent": s.body_bytes_sent,
        "rate_limited": s.rate_limited,
        "connections_held": s.connections_held,
    })
    .to_string()
}

/// Counts the request and keeps it in the bounded request log.
fn record_request(state: &State, request: &Request, url: &str) {
    lock(&state.stats).requests += 1;
    let mut log = lock(&state.log);
    if log.len() >= super::LOG_LIMIT {
        log.pop_front();
    }
    log.push_back(format!("{} {url}", request.method()));
}

/// The route under `/api`, without an API version (`/api/41/...`), a trailing `/` or `.json`.
fn api_route(path: &str) -> &str {
    let mut route = path.trim_start_matches("/api").trim_start_matches('/');
    if let Some((first, rest)) = route.split_once('/') {
        if !first.is_empty() && first.chars().all(|c| c.is_ascii_digit()) {
            route = rest;
        }
    }
    route.trim_end_matches('/').trim_end_matches(".json")
}

/// What an injected [`Fault::Status`] answers: a login redirect, a proxy's HTML error page, or
/// DHIS2's error JSON.
fn status_fault_response(state: &State, s: u16) -> Resp {
    if matches!(s, 301..=303 | 307 | 308) {
        // As a session timeout or an SSO proxy would: off to the login page.
        let location = format!("{}/dhis-web-commons/security/login.action", state.base_url);
        html_response(s, LOGIN_PAGE).with_header(header("Location", &location))
    } else if matches!(s, 502..=504) {
        html_response(s, PROXY_PAGE)
    } else {
        error_response(s, "A wild internal server error appeared!")
    }
}

/// Sends a routed answer: `304` when the client's tag matches, otherwise the body, spoilt as the
/// injected fault (drop, stall, truncate) says.
fn respond(
    state: &State,
    request: Request,
    route: &str,
    answer: Answer,
    fault: Option<Fault>,
    if_none_match: Option<String>,
) {
    let Answer { body, etag } = answer;
    if let (Some(tag), Some(inm)) = (&etag, &if_none_match) {
        if inm.split(',').any(|t| t.trim() == tag) {
            lock(&state.stats).not_modified += 1;
            let resp = Response::from_data(Vec::new())
                .with_status_code(StatusCode(304))
                .with_header(header("ETag", tag));
            send(state, request, resp);
            return;
        }
    }
    if route.starts_with("tracker/") {
        lock(&state.stats).pages_served += 1;
    }
    let resp = match fault {
        Some(Fault::Drop) => {
            send_then_close(state, request, json_response(200, body));
            return;
        }
        Some(Fault::Stall) => {
            let len = body.len();
            let reader = StallAfterHalf {
                data: body.into_bytes(),
                pos: 0,
            };
            let resp = Response::new(
                StatusCode(200),
                vec![header("Content-Type", "application/json;charset=UTF-8")],
                reader,
                Some(len),
                None,
            );
            let _ = request.respond(resp);
            return;
        }
        Some(Fault::Dribble {
            chunk,
            every,
            stop_after,
        }) => {
            let wire = encode(state, &request, json_response(200, body));
            let pace = (chunk, every, stop_after);
            pacing::dribble(state, request, wire.status, &wire.headers, &wire.body, pace);
            return;
        }
        Some(Fault::Truncate) => {
            // The application cut the JSON short; a proxy in front still compresses
            // (and frames) what it got, so the client decodes broken JSON.
            let mut cut = body.len() / 2;
            while !body.is_char_boundary(cut) {
                cut -= 1;
            }
            json_response(200, body[..cut].to_string())
        }
        _ => {
            let mut r = if route.starts_with("tracker/") && body.contains(BAD_BYTE_MARK) {
                Response::from_data(with_bad_bytes(body))
                    .with_status_code(StatusCode(200))
                    .with_header(header("Content-Type", "application/json;charset=UTF-8"))
            } else {
                json_response(200, body)
            };
            if let Some(tag) = etag {
                r = r.with_header(header("ETag", &tag));
            }
            r
        }
    };
    send(state, request, resp);
}

/// Bodies shorter than this are sent as they are (nginx's `gzip_min_length` is 20).
const GZIP_MIN_BYTES: usize = 20;

/// Whether the request's `Accept-Encoding` accepts gzip (`gzip` or `*`, unless `q=0`).
fn accepts_gzip(request: &Request) -> bool {
    request
        .headers()
        .iter()
        .filter(|h| h.field.equiv("Accept-Encoding"))
        .flat_map(|h| h.value.as_str().split(','))
        .any(|coding| {
            let mut parts = coding.split(';').map(str::trim);
            let name = parts.next().unwrap_or("");
            let refused = parts.any(|p| {
                p.strip_prefix("q=")
                    .and_then(|q| q.trim().parse::<f64>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            (name.eq_ignore_ascii_case("gzip") || name == "*") && !refused
        })
}

/// An answer as it goes on the wire: status, headers and the (possibly gzipped) body.
struct Wire {
    status: StatusCode,
    headers: Vec<Header>,
    body: Vec<u8>,
}

/// Compresses the answer when the simulator gzips and the client accepts it, and counts it.
fn encode(state: &State, request: &Request, resp: Resp) -> Wire {
    let status = resp.status_code();
    let mut headers = resp.headers().to_vec();
    let plain = resp.into_reader().into_inner();
    if !(state.config.gzip && plain.len() >= GZIP_MIN_BYTES && accepts_gzip(request)) {
        return Wire {
            status,
            headers,
            body: plain,
        };
    }
    let mut gz = flate2::write::GzEncoder::new(
        Vec::with_capacity(plain.len() / 4),
        flate2::Compression::fast(),
    );
    // Writing into a Vec cannot fail; should it, the answer goes out uncompressed.
    match gz.write_all(&plain).and_then(|()| gz.finish()) {
        Ok(body) => {
            let mut stats = lock(&state.stats);
            stats.gzipped_answers += 1;
            stats.gzipped_bytes += body.len() as u64;
            stats.gzipped_plain_bytes += plain.len() as u64;
            drop(stats);
            headers.push(header("Content-Encoding", "gzip"));
            headers.push(header("Vary", "Accept-Encoding"));
            Wire {
                status,
                headers,
                body,
            }
        }
        Err(_) => Wire {
            status,
            headers,
            body: plain,
        },
    }
}

/// Sends an answer whole (gzipped when accepted, see [`encode`]).
fn send(state: &State, request: Request, resp: Resp) {
    let wire = encode(state, &request, resp);
    let len = wire.body.len();
    lock(&state.stats).body_bytes_sent += len as u64;
    let resp = Response::new(
        wire.status,
        wire.headers,
        Cursor::new(wire.body),
        Some(len),
        None,
    );
    let _ = request.respond(resp);
}

/// Sends the head (with the full `Content-Length`) and half the body, then shuts the TCP
/// connection down: what a crashed upstream or a cut link looks like to the client.
fn send_then_close(state: &State, request: Request, resp: Resp) {
    let wire = encode(state, &request, resp);
    let peer = request.remote_addr().copied();
    let half = wire.body.len() / 2;
    let mut head = format!(
        "HTTP/1.1 {} {}\r\n",
        wire.status.0,
        wire.status.default_reason_phrase()
    );
    for h in &wire.headers {
        head.push_str(&format!("{h}\r\n"));
    }
    head.push_str(&format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n",
        wire.body.len()
    ));
    // Raw access to the connection: tiny_http would otherwise finish the response.
    let mut writer = request.into_writer();
    let sent = writer
        .write_all(head.as_bytes())
        .and_then(|()| writer.write_all(&wire.body[..half]))
        .and_then(|()| writer.flush());
    lock(&state.stats).body_bytes_sent += half as u64;
    let connection = peer.and_then(|p| socket::find(state.local_addr, p));
    if let (Ok(()), Some(connection)) = (sent, connection) {
        // Counted before the cut: the client may look at the stats as soon as it sees the EOF.
        lock(&state.stats).connections_cut += 1;
        if !connection.shut_down() {
            lock(&state.stats).connections_cut -= 1;
        }
    }
    drop(writer);
}

/// Serves half the body, then fails: the connection stays open with the response unfinished.
struct StallAfterHalf {
    data: Vec<u8>,
    pos: usize,
}

impl Read for StallAfterHalf {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let half = self.data.len() / 2;
        if self.pos >= half {
            return Err(std::io::Error::other("simulated stalled answer"));
        }
        let n = buf.len().min(half - self.pos);
        buf[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

fn choose_fault(state: &State) -> Option<Fault> {
    let forced = lock(&state.forced).pop_front();
    let fault = forced.or_else(|| {
        let f = lock(&state.faults).clone();
        let mut rng = lock(&state.fault_rng);
        let x = rng.unit();
        let slow = rng.unit() < f.slow;
        let mut edge = f.error_500;
        if x < edge {
            return Some(Fault::Status(500));
        }
        edge += f.error_503;
        if x < edge {
            return Some(Fault::Status(503));
        }
        edge += f.drop;
        if x < edge {
            return Some(Fault::Drop);
        }
        edge += f.truncate;
        if x < edge {
            return Some(Fault::Truncate);
        }
        slow.then(|| Fault::Slow(std::time::Duration::from_millis(f.slow_ms)))
    });
    if fault.is_some() {
        lock(&state.stats).faults_injected += 1;
    }
    fault
}

fn authenticate(state: &State, request: &Request) -> Result<(), Resp> {
    let auth = request
        .headers()
        .iter()
        .find(|h| h.field.equiv("Authorization"))
        .map(|h| h.value.as_str().trim().to_string());
    let Some(auth) = auth else {
        lock(&state.stats).login_redirects += 1;
        let location = format!("{}/dhis-web-commons/security/login.action", state.base_url);
        return Err(html_response(302, LOGIN_PAGE).with_header(header("Location", &location)));
    };
    let unauthorized = |state: &State, message: &str| {
        lock(&state.stats).auth_failures += 1;
        Err(error_response(401, message))
    };
    if let Some(token) = auth.strip_prefix("ApiToken ") {
        if state.major_minor < (2, 37) {
            return unauthorized(state, "Unauthorized");
        }
        return match &state.config.token {
            Some(t) if t == token.trim() => Ok(()),
            _ => unauthorized(state, "The API token does not exist"),
        };
    }
    let Some(encoded) = auth.strip_prefix("Basic ") else {
        return unauthorized(state, "Unauthorized");
    };
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .unwrap_or_default();
    let (user, pass) = decoded.split_once(':').unwrap_or((&decoded, ""));
    let now = Instant::now();
    let mut a = lock(&state.auth);
    if let Some(until) = a.locked_until.get(user).copied() {
        if until > now {
            drop(a);
            return unauthorized(state, "Unauthorized");
        }
        a.locked_until.remove(user);
        a.failures.remove(user);
    }
    if user == state.config.username && pass == state.config.password {
        a.failures.remove(user);
        return Ok(());
    }
    let failures = a.failures.entry(user.to_string()).or_insert(0);
    *failures += 1;
    if *failures >= state.config.lockout_after {
        a.locked_until
            .insert(user.to_string(), now + state.config.lockout);
    }
    drop(a);
    unauthorized(state, "Unauthorized")
}

struct Answer {
    body: String,
    etag: Option<String>,
}

fn ok(v: Value) -> Result<Answer, Resp> {
    Ok(Answer {
        body: v.to_string(),
        etag: None,
    })
}

/// Metadata answers carry an ETag so clients can ask with `If-None-Match`.
fn ok_tagged(v: Value) -> Result<Answer, Resp> {
    let body = v.to_string();
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in body.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    Ok(Answer {
        body,
        etag: Some(format!("\"{h:016x}\"")),
    })
}

fn route_request(state: &State, route: &str, params: &Params) -> Result<Answer, Resp> {
    let parts: Vec<&str> = route.split('/').collect();
    match parts.as_slice() {
        ["system", "info"] => ok(system_info(state)),
        ["me"] => ok(me(state)),
        ["programs"] => {
            let list = vec![program_json()];
            ok_tagged(metadata_list("programs", list, params)?)
        }
        ["programs", uid] if *uid == PROGRAM_UID => ok_tagged(program_json()),
        ["organisationUnits"] => {
            let list = state.org_units.iter().map(org_unit_json).collect();
            ok_tagged(metadata_list("organisationUnits", list, params)?)
        }
        ["organisationUnits", uid] => match state.org_units.iter().find(|o| o.uid == *uid) {
            Some(o) => ok_tagged(org_unit_json(o)),
            None => Err(error_response(
                404,
                &format!("OrganisationUnit with id {uid} could not be found."),
            )),
        },
        ["organisationUnitLevels"] => {
            let list = data::LEVELS
                .iter()
                .enumerate()
                .map(|(i, (name, uid))| json!({"id": uid, "level": i + 1, "name": name, "displayName": name}))
                .collect();
            ok_tagged(metadata_list("organisationUnitLevels", list, params)?)
        }
        ["tracker", "trackedEntities"] => tracker_list(state, params, Kind::TrackedEntities),
        ["tracker", "enrollments"] => tracker_list(state, params, Kind::Enrollments),
        ["tracker", "trackedEntities", uid] => {
            let records = state.records.read().unwrap_or_else(|e| e.into_inner());
            let found = data::record_index(state.config.seed, data::KIND_TE, uid)
                .and_then(|i| state.tracked_entity(&records, i).map(|(p, m)| (i, p, m)))
                .filter(|(_, _, m)| !m.deleted);
            match found {
                Some((i, p, m)) => {
                    let spec = effective_fields(state, params.get("fields"), Kind::TrackedEntities);
                    let mut body = String::new();
                    write_tracked_entity(&mut body, &spec, state, i, &p, &m);
                    Ok(Answer { body, etag: None })
                }
                None => Err(error_response(
                    404,
                    &format!("TrackedEntity with id {uid} could not be found."),
                )),
            }
        }
        _ => Err(error_response(
            404,
            &format!("No endpoint for /api/{route}"),
        )),
    }
}

fn now_string(state: &State) -> String {
    data::format_timestamp(state.now_ms())
}

fn system_info(state: &State) -> Value {
    json!({
        "contextPath": state.base_url,
        "userAgent": "kadi",
        "calendar": "iso8601",
        "dateFormat": "yyyy-mm-dd",
        "serverDate": now_string(state),
        "serverTimeZoneId": "Etc/UTC",
        "serverTimeZoneDisplayName": "Coordinated Universal Time",
        "version": state.version,
        "revision": "5f1e3c9",
        "buildTime": "2024-06-01T10:00:00.000",
        "jasperReportsVersion": "6.20.1",
        "environmentVariable": "DHIS2_HOME",
        "databaseInfo": {"spatialSupport": true},
        "encryption": false,
        "emailConfigured": false,
        "systemId": "8d3f2a6e-1b1c-4c0e-9a53-5f0b7e2b1d44",
        "systemName": format!("kadi DHIS2 simulator ({})", state.version),
        "isMetadataVersionEnabled": false,
        "isMetadataSyncEnabled": false
    })
}

fn me(state: &State) -> Value {
    let country = &state.org_units[0];
    let username = &state.config.username;
    let ou = json!([{"id": country.uid, "path": country.path}]);
    let roles = json!([{"id": "Ufph3mGRmMo", "name": "Superuser", "displayName": "Superuser", "programs": [{"id": PROGRAM_UID}]}]);
    if state.major_minor <= (2, 37) {
        json!({
            "id": "M5zQapPyTZI", "name": "Awa Ndiaye", "displayName": "Awa Ndiaye", "firstName": "Awa", "surname": "Ndiaye",
            "userCredentials": {"id": "KvMx6c1eoYo", "username": username, "userRoles": roles},
            "organisationUnits": ou, "teiSearchOrganisationUnits": [], "dataViewOrganisationUnits": ou
        })
    } else {
        json!({
            "id": "M5zQapPyTZI", "username": username, "name": "Awa Ndiaye", "displayName": "Awa Ndiaye",
            "firstName": "Awa", "surname": "Ndiaye", "userRoles": roles,
            "organisationUnits": ou, "teiSearchOrganisationUnits": [], "dataViewOrganisationUnits": ou
        })
    }
}

/// Metadata lists: `paging=false` gives all, else a `pager` with page, pageCount, total, pageSize.
fn metadata_list(key: &str, list: Vec<Value>, params: &Params) -> Result<Value, Resp> {
    if params
        .get("paging")
        .is_some_and(|v| v.eq_ignore_ascii_case("false"))
    {
        return Ok(json!({ key: list }));
    }
    let page = params.number("page", 1)?.max(1) as usize;
    let page_size = params.number("pageSize", 50)?.max(1) as usize;
    let total = list.len();
    let page_count = total.div_ceil(page_size).max(1);
    let items: Vec<Value> = list
        .into_iter()
        .skip((page - 1) * page_size)
        .take(page_size)
        .collect();
    let mut pager =
        json!({"page": page, "pageCount": page_count, "total": total, "pageSize": page_size});
    if page < page_count {
        pager["nextPage"] = json!(format!("/api/{key}?page={}", page + 1));
    }
    Ok(json!({ "pager": pager, key: items }))
}

fn program_json() -> Value {
    let ptea: Vec<Value> = ATTRIBUTES
        .iter()
        .enumerate()
        .map(|(k, a)| {
            let mut tea = json!({
                "id": a.uid, "code": a.code, "name": a.name, "displayName": a.name, "shortName": a.name,
                "valueType": a.value_type, "unique": a.code == "NATIONAL_ID" || a.code == "BENEFICIARY_ID",
                "confidential": a.code == "HIV_STATUS"
            });
            if let Some((uid, name, options)) = a.option_set {
                tea["optionSet"] = json!({
                    "id": uid, "name": name, "displayName": name, "valueType": "TEXT",
                    "options": options.iter().enumerate().map(|(n, (code, oname))| json!({
                        "id": data::fixed_uid(&format!("OPT:{uid}:{code}")), "code": code, "name": oname,
                        "displayName": oname, "sortOrder": n + 1
                    })).collect::<Vec<_>>()
                });
            }
            json!({
                "id": data::fixed_uid(&format!("PTEA:{}", a.uid)),
                "mandatory": a.mandatory,
                "valueType": a.value_type,
                "displayInList": k < 4,
                "searchable": k < 3 || a.code == "NATIONAL_ID",
                "sortOrder": k + 1,
                "program": {"id": PROGRAM_UID},
                "trackedEntityAttribute": tea
            })
        })
        .collect();
    json!({
        "id": PROGRAM_UID,
        "name": data::PROGRAM_NAME,
        "displayName": data::PROGRAM_NAME,
        "shortName": "Health ID",
        "code": "HEALTH_ID",
        "programType": "WITH_REGISTRATION",
        "version": 3,
        "created": "2023-11-02T09:12:44.120",
        "lastUpdated": "2024-01-15T16:40:02.318",
        "trackedEntityType": {"id": data::TRACKED_ENTITY_TYPE_UID},
        "programTrackedEntityAttributes": ptea
    })
}

fn org_unit_json(o: &kadi_dhis2::model::OrgUnit) -> Value {
    let mut v = json!({
        "id": o.uid, "name": o.name, "displayName": o.name, "shortName": o.name, "code": o.code,
        "level": o.level, "path": o.path, "openingDate": "1990-01-01T00:00:00.000",
        "created": "2023-11-02T09:12:44.120", "lastUpdated": "2024-01-15T16:40:02.318"
    });
    if let Some(p) = &o.parent_uid {
        v["parent"] = json!({"id": p});
    }
    v
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    TrackedEntities,
    Enrollments,
}

struct TrackerQuery {
    /// Health centers (by index) in scope.
    in_scope: Vec<bool>,
    uids: Option<Vec<u64>>,
    updated_after: Option<i64>,
    include_deleted: bool,
    page: u32,
    page_size: u32,
    total_pages: bool,
}

const OLD_NAMES: [(&str, &str); 3] = [
    ("orgUnit", "orgUnits"),
    ("ouMode", "orgUnitMode"),
    ("trackedEntity", "trackedEntities"),
];
const OLD_NAMES_ENROLLMENTS: [(&str, &str); 3] = [
    ("orgUnit", "orgUnits"),
    ("ouMode", "orgUnitMode"),
    ("enrollment", "enrollments"),
];

fn tracker_query(state: &State, params: &Params, kind: Kind) -> Result<TrackerQuery, Resp> {
    let names = if kind == Kind::TrackedEntities {
        OLD_NAMES
    } else {
        OLD_NAMES_ENROLLMENTS
    };
    let has_old = names.iter().any(|(o, _)| params.get(o).is_some());
    let has_new = names.iter().any(|(_, n)| params.get(n).is_some());
    {
        let mut s = lock(&state.stats);
        s.old_param_requests += has_old as u64;
        s.new_param_requests += has_new as u64;
    }
    let pick = |i: usize| pick_param(state.major_minor, params, names[i]);
    let org_units: Vec<String> = pick(0)?
        .map(|s| {
            s.split([';', ','])
                .filter(|x| !x.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    let mode = pick(1)?.map(|m| m.to_ascii_uppercase());
    let uid_kind = if kind == Kind::TrackedEntities {
        data::KIND_TE
    } else {
        data::KIND_ENROLLMENT
    };
    let uids: Option<Vec<u64>> = pick(2)?.map(|s| {
        s.split([';', ','])
            .filter_map(|u| data::record_index(state.config.seed, uid_kind, u.trim()))
            .collect()
    });
    check_program(params, uids.is_some(), kind)?;
    let mode = match mode {
        Some(m) => m,
        None if !org_units.is_empty() => "SELECTED".to_string(),
        None if state.major_minor <= (2, 40) && uids.is_none() => {
            let (o, m) = (names[0].0, names[1].0);
            return Err(error_response(
                400,
                &format!("Either `{o}` parameter or `{m}` parameter set to `ACCESSIBLE`, `ALL` or `CAPTURE` must be specified"),
            ));
        }
        None => "ACCESSIBLE".to_string(),
    };
    let in_scope = health_centers_in_scope(state, &mode, &org_units)?;
    let updated_after = match params.get("updatedAfter") {
        Some(s) => Some(
            data::parse_timestamp(s)
                .ok_or_else(|| error_response(400, &format!("Invalid date format: {s}")))?,
        ),
        None => None,
    };
    let mut page_size = params.number("pageSize", 50)?.max(1);
    if let Some(cap) = lock(&state.faults).max_page_size {
        page_size = page_size.min(cap.max(1));
    }
    Ok(TrackerQuery {
        in_scope,
        uids,
        updated_after,
        include_deleted: params.flag("includeDeleted"),
        page: params.number("page", 1)?.max(1),
        page_size,
        total_pages: params.flag("totalPages"),
    })
}

/// A parameter known by an old and a new name, as version `v` reads it: up to 2.40 the old name
/// only, 2.41 either (not both), 2.42 the new name only (the old one is ignored and the query
/// widens).
fn pick_param(
    v: (u32, u32),
    params: &Params,
    (old, new): (&str, &str),
) -> Result<Option<String>, Resp> {
    if v <= (2, 40) {
        Ok(params.get(old).map(str::to_string))
    } else if v == (2, 41) {
        if params.get(old).is_some() && params.get(new).is_some() {
            return Err(error_response(
                400,
                &format!("Only one parameter of '{old}' and '{new}' must be specified. Prefer '{new}' as '{old}' will be removed."),
            ));
        }
        Ok(params.get(new).or(params.get(old)).map(str::to_string))
    } else {
        Ok(params.get(new).map(str::to_string))
    }
}

/// DHIS2's checks of `program`: it must exist, and a tracked-entity query without UIDs needs a
/// program or a tracked entity type.
fn check_program(params: &Params, has_uids: bool, kind: Kind) -> Result<(), Resp> {
    match params.get("program") {
        Some(p) if p != PROGRAM_UID => Err(error_response(
            400,
            &format!("Program is specified but does not exist: {p}"),
        )),
        None if params.get("trackedEntityType").is_none()
            && !has_uids
            && kind == Kind::TrackedEntities =>
        {
            Err(error_response(
                400,
                "Either Program or Tracked entity type should be specified",
            ))
        }
        _ => Ok(()),
    }
}

/// Which health centers (by index) an org unit mode and list select.
fn health_centers_in_scope(
    state: &State,
    mode: &str,
    org_units: &[String],
) -> Result<Vec<bool>, Resp> {
    if !matches!(
        mode,
        "ACCESSIBLE" | "ALL" | "CAPTURE" | "CHILDREN" | "DESCENDANTS" | "SELECTED"
    ) {
        return Err(error_response(
            400,
            &format!("Value {mode} is not valid for parameter orgUnitMode"),
        ));
    }
    Ok((0..state.health_centers.len())
        .map(|k| {
            let hc = state.health_center(k);
            let path = hc.path.as_deref().unwrap_or("");
            match mode {
                "ACCESSIBLE" | "ALL" | "CAPTURE" => true,
                "CHILDREN" => org_units
                    .iter()
                    .any(|u| *u == hc.uid || hc.parent_uid.as_deref() == Some(u)),
                "DESCENDANTS" => org_units.iter().any(|u| path.split('/').any(|p| p == u)),
                _ => org_units.contains(&hc.uid),
            }
        })
        .collect())
}

/// The keys `order` accepts for tracked entities (DHIS2 answers 400 to others).
const ORDER_KEYS: [&str; 7] = [
    "createdAt",
    "createdAtClient",
    "updatedAt",
    "updatedAtClient",
    "trackedEntity",
    "enrolledAt",
    "inactive",
];

/// `order=key:dir,...` as (key, descending); unknown keys are a 400 as in DHIS2.
fn parse_order(order: Option<&str>) -> Result<Vec<(String, bool)>, Resp> {
    let Some(order) = order.filter(|o| !o.trim().is_empty()) else {
        return Ok(Vec::new());
    };
    order
        .split(',')
        .map(|item| {
            let (key, dir) = item.trim().split_once(':').unwrap_or((item.trim(), "asc"));
            if !ORDER_KEYS.contains(&key) {
                return Err(error_response(
                    400,
                    &format!(
                        "order parameter is invalid. Supported properties are {}",
                        ORDER_KEYS.join(", ")
                    ),
                ));
            }
            match dir.to_ascii_lowercase().as_str() {
                "asc" => Ok((key.to_string(), false)),
                "desc" => Ok((key.to_string(), true)),
                _ => Err(error_response(
                    400,
                    &format!("'{dir}' is not a valid sort direction"),
                )),
            }
        })
        .collect()
}

/// Record indices in the order asked (`order`, or `updatedAt` when the paging faults say so);
/// without either, registration order. UIDs are computed only to break ties.
fn sort_records(state: &State, meta: &[Meta], picked: &mut [u64], order: &[(String, bool)]) {
    let seed = state.config.seed;
    let key = |k: &str, i: u64| -> i64 {
        let m = &meta[i as usize];
        match k {
            "createdAt" | "createdAtClient" | "enrolledAt" => m.created_ms,
            "updatedAt" | "updatedAtClient" => m.updated_ms,
            _ => 0,
        }
    };
    picked.sort_by(|&a, &b| {
        for (k, desc) in order {
            let o = if k == "trackedEntity" {
                data::record_uid(seed, data::KIND_TE, a).cmp(&data::record_uid(
                    seed,
                    data::KIND_TE,
                    b,
                ))
            } else {
                key(k, a).cmp(&key(k, b))
            };
            let o = if *desc { o.reverse() } else { o };
            if o.is_ne() {
                return o;
            }
        }
        a.cmp(&b)
    });
}

/// Every record index in `order`, from the cache while the records' dates are unchanged.
fn sorted_records(
    state: &State,
    meta: &[Meta],
    order: &[(String, bool)],
) -> std::sync::Arc<Vec<u64>> {
    let fingerprint = meta
        .iter()
        .enumerate()
        .fold((meta.len(), 0i64), |(n, h), (i, m)| {
            let mixed = m.updated_ms ^ m.created_ms.rotate_left(17);
            (n, h.wrapping_add(mixed.wrapping_mul(i as i64 + 1)))
        });
    let mut cache = lock(&state.sorted);
    if let Some(c) = cache.as_ref() {
        if c.order == order && c.fingerprint == fingerprint {
            return c.indices.clone();
        }
    }
    let mut all: Vec<u64> = (0..meta.len() as u64).collect();
    sort_records(state, meta, &mut all, order);
    let indices = std::sync::Arc::new(all);
    *cache = Some(super::SortedRecords {
        order: order.to_vec(),
        fingerprint,
        indices: indices.clone(),
    });
    indices
}

/// Whether record `i` is left out of this answer: withheld records appear in a listing, never
/// in an answer that carries attributes ([`super::PagingFaults::withheld`]).
fn withheld(paging: &super::PagingFaults, params: &Params, kind: Kind, i: u64) -> bool {
    let whole = params
        .get("fields")
        .is_none_or(|f| f.contains("attributes") || f.contains('*'));
    kind == Kind::TrackedEntities && whole && paging.withheld.contains(&(i as usize))
}

fn tracker_list(state: &State, params: &Params, kind: Kind) -> Result<Answer, Resp> {
    let q = tracker_query(state, params, kind)?;
    let paging = lock(&state.paging).clone();
    if paging.refuse_order && params.get("order").is_some() {
        return Err(error_response(400, "order parameter is invalid"));
    }
    let mut order = parse_order(params.get("order"))?;
    if order.is_empty() && paging.updated_order_by_default {
        order.push(("updatedAt".into(), false));
    }
    // A silent cap serves fewer while the pager echoes the size asked.
    let served = match paging.silent_cap {
        Some(cap) if kind == Kind::TrackedEntities => q.page_size.min(cap.max(1)),
        _ => q.page_size,
    } as usize;
    let records = state.records.read().unwrap_or_else(|e| e.into_inner());
    let matches = |i: usize, m: &Meta| {
        (q.include_deleted || !m.deleted)
            && q.updated_after.is_none_or(|t| m.updated_ms >= t)
            && q.in_scope
                .get(m.health_center as usize)
                .copied()
                .unwrap_or(false)
            && q.uids.as_ref().is_none_or(|u| u.contains(&(i as u64)))
    };
    let skip = (q.page as usize - 1) * served;
    let mut picked = Vec::with_capacity(served);
    let mut total = 0u64;
    if order.is_empty() {
        for (i, m) in records.meta.iter().enumerate() {
            if !matches(i, m) {
                continue;
            }
            total += 1;
            if total as usize > skip && picked.len() < served {
                picked.push(i as u64);
            } else if picked.len() >= served && !q.total_pages {
                break;
            }
        }
    } else {
        let sorted = sorted_records(state, &records.meta, &order);
        for &i in sorted.iter() {
            if !matches(i as usize, &records.meta[i as usize]) {
                continue;
            }
            total += 1;
            if total as usize > skip && picked.len() < served {
                picked.push(i);
            } else if picked.len() >= served && !q.total_pages {
                break;
            }
        }
    }
    let spec = effective_fields(state, params.get("fields"), kind);
    let mut items = String::with_capacity(picked.len() * 1800);
    for i in picked {
        if withheld(&paging, params, kind, i) {
            continue;
        }
        let Some((p, m)) = state.tracked_entity(&records, i) else {
            continue;
        };
        if !items.is_empty() {
            items.push(',');
        }
        match kind {
            Kind::TrackedEntities => write_tracked_entity(&mut items, &spec, state, i, &p, &m),
            Kind::Enrollments => write_enrollment(&mut items, &spec, state, i, &p, &m, true),
        }
    }
    drop(records);
    let list_key = match (state.major_minor >= (2, 41), kind) {
        (false, _) => "instances",
        (true, Kind::TrackedEntities) => "trackedEntities",
        (true, Kind::Enrollments) => "enrollments",
    };
    let mut pager = Map::new();
    pager.insert("page".into(), json!(q.page));
    pager.insert("pageSize".into(), json!(q.page_size));
    if q.total_pages {
        pager.insert("total".into(), json!(total));
        pager.insert(
            "pageCount".into(),
            json!(total.div_ceil(q.page_size as u64)),
        );
    }
    let mut out = Map::new();
    if state.major_minor >= (2, 41) {
        out.insert("pager".into(), Value::Object(pager.clone()));
    }
    if state.major_minor <= (2, 41) {
        // Up to 2.40 the only paging fields; in 2.41 deprecated copies of the pager.
        for (k, v) in pager {
            if k != "pageCount" || state.major_minor == (2, 41) {
                out.insert(k, v);
            }
        }
    }
    // The head (pager fields) through serde, the list spliced in as written.
    let head = Value::Object(out).to_string();
    let mut body = String::with_capacity(head.len() + items.len() + 32);
    body.push_str(&head[..head.len() - 1]);
    if head.len() > 2 {
        body.push(',');
    }
    write_json_str(&mut body, list_key);
    body.push_str(":[");
    body.push_str(&items);
    body.push_str("]}");
    if kind == Kind::TrackedEntities && spec.wants("attributes").is_some() {
        state.shift_after(q.page);
    }
    Ok(Answer { body, etag: None })
}

/// Writes JSON objects straight into a string, leaving out what the `fields` spec leaves out:
/// a 500-entity page is written without building a `serde_json::Value` tree.
struct ObjWriter<'a> {
    out: &'a mut String,
    spec: &'a FieldSpec,
    first: bool,
}

fn write_json_str(out: &mut String, v: &str) {
    out.push('"');
    for c in v.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

impl<'a> ObjWriter<'a> {
    fn begin(out: &'a mut String, spec: &'a FieldSpec) -> Self {
        out.push('{');
        ObjWriter {
            out,
            spec,
            first: true,
        }
    }

    /// Writes `"k":` when the spec wants `k`; returns the spec for its value.
    fn key(&mut self, k: &str) -> Option<&'a FieldSpec> {
        let sub = self.spec.wants(k)?;
        if !self.first {
            self.out.push(',');
        }
        self.first = false;
        write_json_str(self.out, k);
        self.out.push(':');
        Some(sub)
    }

    fn str(&mut self, k: &str, v: &str) {
        if self.key(k).is_some() {
            write_json_str(self.out, v);
        }
    }

    fn raw(&mut self, k: &str, v: &str) {
        if self.key(k).is_some() {
            self.out.push_str(v);
        }
    }

    fn bool(&mut self, k: &str, v: bool) {
        self.raw(k, if v { "true" } else { "false" });
    }

    fn ts(&mut self, k: &str, ms: i64) {
        if self.key(k).is_some() {
            write_json_str(self.out, &data::format_timestamp(ms));
        }
    }

    fn end(self) {
        self.out.push('}');
    }
}

/// Stands in the written JSON for a byte that is not UTF-8 (a `String` cannot hold one); the
/// answer's bytes get 0xFF in its place ([`with_bad_bytes`]).
const BAD_BYTE_MARK: &str = "\u{F8FF}\u{F8FE}";

/// How a record's first name goes wrong on the wire ([`super::PagingFaults`]).
#[derive(Clone, Copy, PartialEq)]
enum BadRecord {
    Fine,
    /// An invalid UTF-8 byte inside the name.
    Byte,
    /// A JSON object where the name's text should be.
    Value,
}

fn bad_record(state: &State, i: u64) -> BadRecord {
    let paging = lock(&state.paging);
    if paging.bad_byte.contains(&(i as usize)) {
        BadRecord::Byte
    } else if paging.bad_value.contains(&(i as usize)) {
        BadRecord::Value
    } else {
        BadRecord::Fine
    }
}

/// The answer's bytes with every [`BAD_BYTE_MARK`] replaced by the invalid byte 0xFF.
fn with_bad_bytes(body: String) -> Vec<u8> {
    let mark = BAD_BYTE_MARK.as_bytes();
    let bytes = body.into_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i..].starts_with(mark) {
            out.push(0xFF);
            i += mark.len();
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    out
}

fn write_attributes(
    out: &mut String,
    spec: &FieldSpec,
    p: &data::Person,
    m: &Meta,
    bad: BadRecord,
) {
    out.push('[');
    let mut first = true;
    for (k, (a, v)) in ATTRIBUTES.iter().zip(p.values.iter()).enumerate() {
        let Some(v) = v else { continue };
        if !first {
            out.push(',');
        }
        first = false;
        let mut o = ObjWriter::begin(out, spec);
        o.str("attribute", a.uid);
        o.str("code", a.code);
        o.str("displayName", a.name);
        o.ts("createdAt", p.created_ms);
        o.ts("updatedAt", m.updated_ms);
        o.str("storedBy", "admin");
        o.str("valueType", a.value_type);
        match bad {
            BadRecord::Byte if k == 0 => o.str("value", &format!("{v}{BAD_BYTE_MARK}")),
            BadRecord::Value if k == 0 => {
                let mut given = String::new();
                write_json_str(&mut given, v);
                o.raw("value", &format!("{{\"given\":{given}}}"));
            }
            _ => o.str("value", v),
        }
        o.end();
    }
    out.push(']');
}

fn write_enrollment(
    out: &mut String,
    spec: &FieldSpec,
    state: &State,
    i: u64,
    p: &data::Person,
    m: &Meta,
    with_attributes: bool,
) {
    let seed = state.config.seed;
    let hc = state.health_center(p.health_center);
    let mut o = ObjWriter::begin(out, spec);
    o.str(
        "enrollment",
        &data::record_uid(seed, data::KIND_ENROLLMENT, i),
    );
    o.ts("createdAt", p.created_ms);
    o.ts("createdAtClient", p.created_ms);
    o.ts("updatedAt", m.updated_ms);
    o.ts("updatedAtClient", m.updated_ms);
    o.str("trackedEntity", &data::record_uid(seed, data::KIND_TE, i));
    if state.major_minor <= (2, 40) {
        o.str("trackedEntityType", data::TRACKED_ENTITY_TYPE_UID);
    }
    o.str("program", PROGRAM_UID);
    o.str("status", "ACTIVE");
    o.str("orgUnit", &hc.uid);
    if state.major_minor <= (2, 40) {
        // Gone from 2.41: names come from the org unit tree.
        o.str("orgUnitName", &hc.name);
    }
    o.ts("enrolledAt", p.enrolled_ms);
    o.ts("occurredAt", p.enrolled_ms);
    o.bool("followUp", false);
    o.bool("deleted", m.deleted);
    o.str("storedBy", "admin");
    o.raw("events", "[]");
    o.raw("relationships", "[]");
    if with_attributes {
        if let Some(sub) = o.key("attributes") {
            write_attributes(o.out, sub, p, m, bad_record(state, i));
        }
    }
    o.raw("notes", "[]");
    o.end();
}

fn write_tracked_entity(
    out: &mut String,
    spec: &FieldSpec,
    state: &State,
    i: u64,
    p: &data::Person,
    m: &Meta,
) {
    let seed = state.config.seed;
    let hc = state.health_center(p.health_center);
    let te_uid = data::record_uid(seed, data::KIND_TE, i);
    let mut o = ObjWriter::begin(out, spec);
    o.str("trackedEntity", &te_uid);
    o.str("trackedEntityType", data::TRACKED_ENTITY_TYPE_UID);
    o.ts("createdAt", p.created_ms);
    o.ts("createdAtClient", p.created_ms);
    o.ts("updatedAt", m.updated_ms);
    o.ts("updatedAtClient", m.updated_ms);
    o.str("orgUnit", &hc.uid);
    o.bool("inactive", false);
    o.bool("deleted", m.deleted);
    if state.major_minor >= (2, 39) {
        o.bool("potentialDuplicate", false);
    }
    o.raw("relationships", "[]");
    if let Some(sub) = o.key("attributes") {
        write_attributes(o.out, sub, p, m, bad_record(state, i));
    }
    if let Some(sub) = o.key("enrollments") {
        o.out.push('[');
        write_enrollment(o.out, sub, state, i, p, m, false);
        o.out.push(']');
    }
    if let Some(sub) = o.key("programOwners") {
        let mut w = String::new();
        let mut po = ObjWriter::begin(&mut w, sub);
        po.str("orgUnit", &hc.uid);
        po.str("trackedEntity", &te_uid);
        po.str("program", PROGRAM_UID);
        po.end();
        o.out.push('[');
        o.out.push_str(&w);
        o.out.push(']');
    }
    o.end();
}

/// The `fields` spec a version applies: 2.36/2.37 only look for keywords (`enrollments`,
/// `events`, `relationships`, `programOwners`, or `*`) and send everything else; 2.38+ filter
/// properly and leave collections (enrollments among them) out unless asked.
fn effective_fields(state: &State, fields: Option<&str>, kind: Kind) -> FieldSpec {
    let collections: &[&str] = match kind {
        Kind::TrackedEntities => &["enrollments", "relationships", "programOwners"],
        Kind::Enrollments => &["events", "relationships", "attributes"],
    };
    let fields = fields.map(str::trim).filter(|f| !f.is_empty());
    if state.major_minor <= (2, 37) {
        let f = fields.unwrap_or("");
        if f.contains('*') {
            return FieldSpec {
                all: true,
                ..FieldSpec::default()
            };
        }
        let mut spec = FieldSpec {
            all: true,
            ..FieldSpec::default()
        };
        spec.excluded = collections
            .iter()
            .filter(|c| !f.contains(**c))
            .map(|c| c.to_string())
            .collect();
        if !f.contains("events") {
            let inner = FieldSpec {
                all: true,
                excluded: vec!["events".into()],
                ..FieldSpec::default()
            };
            spec.named.push(("enrollments".into(), Some(inner)));
            if kind == Kind::Enrollments {
                spec.excluded.push("events".into());
            }
        }
        return spec;
    }
    match fields {
        Some(f) => FieldSpec::parse(f),
        None => FieldSpec {
            all: true,
            excluded: collections.iter().map(|c| c.to_string()).collect(),
            ..FieldSpec::default()
        },
    }
}

/// Splits a `fields` list at top-level commas: `a,b[c,d],e` → `a`, `b[c,d]`, `e`.
fn split_fields(spec: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut depth, mut start) = (0i32, 0usize);
    for (i, c) in spec.char_indices() {
        match c {
            '[' | '(' => depth += 1,
            ']' | ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(spec[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(spec[start..].trim());
    out.into_iter().filter(|s| !s.is_empty()).collect()
}

/// A parsed `fields` filter (2.38+ semantics), parsed once per request.
#[derive(Debug, Default)]
struct FieldSpec {
    all: bool,
    named: Vec<(String, Option<FieldSpec>)>,
    excluded: Vec<String>,
}

/// Everything (a field named without a sub-list).
static FULL: FieldSpec = FieldSpec {
    all: true,
    named: Vec::new(),
    excluded: Vec::new(),
};

impl FieldSpec {
    fn parse(spec: &str) -> FieldSpec {
        let mut f = FieldSpec::default();
        for item in split_fields(spec) {
            if item == "*" || item == ":all" {
                f.all = true;
            } else if let Some(x) = item.strip_prefix('!') {
                f.excluded.push(x.to_string());
            } else {
                match item.find(['[', '(']) {
                    Some(b) => {
                        let inner = &item[b + 1..item.len().saturating_sub(1)];
                        f.named
                            .push((item[..b].to_string(), Some(FieldSpec::parse(inner))));
                    }
                    None => f.named.push((item.to_string(), None)),
                }
            }
        }
        f
    }

    /// Whether `key` is wanted, and the spec for its value.
    fn wants(&self, key: &str) -> Option<&FieldSpec> {
        if self.excluded.iter().any(|x| x == key) {
            return None;
        }
        match self.named.iter().find(|(n, _)| n == key) {
            Some((_, Some(sub))) => Some(sub),
            Some((_, None)) => Some(&FULL),
            None if self.all => Some(&FULL),
            None => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_filter_keeps_named_and_nested_keys() {
        let spec = FieldSpec::parse("a,b[x],!c,d[*,!e]");
        assert!(
            spec.wants("a").is_some() && spec.wants("c").is_none() && spec.wants("z").is_none()
        );
        let b = spec.wants("b").unwrap();
        assert!(b.wants("x").is_some() && b.wants("y").is_none());
        let d = spec.wants("d").unwrap();
        assert!(d.wants("q").is_some() && d.wants("e").is_none());
        let all = FieldSpec::parse("*");
        assert!(all.wants("anything").is_some());
    }

    #[test]
    fn written_json_strings_are_escaped() {
        let mut s = String::new();
        write_json_str(&mut s, "N'Diaye \"Awa\"\n\u{1}é");
        let back: String = serde_json::from_str(&s).unwrap();
        assert_eq!(back, "N'Diaye \"Awa\"\n\u{1}é");
    }

    #[test]
    fn query_strings_are_decoded() {
        let q =
            parse_query("orgUnit=a%3Bb&fields=x%5By%5D&updatedAfter=2025-01-01T00%3A00%3A00.000");
        assert_eq!(q[0], ("orgUnit".to_string(), "a;b".to_string()));
        assert_eq!(q[1].1, "x[y]");
        assert_eq!(q[2].1, "2025-01-01T00:00:00.000");
    }
}
