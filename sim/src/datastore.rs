//! DHIS2's dataStore in the simulator (`/api/dataStore[/{namespace}[/{key}]]`), in memory, with
//! DHIS2's answers: the list of a namespace's keys, a key's JSON value, 404 for a missing
//! namespace or key, 409 to a POST of an existing key, 404 to a PUT of a missing one, 400 for a
//! body that is not JSON. kadi boxes exchange card keys and revocations through it.
//!
//! The values live in a map keyed by the simulator's base URL, so `State` needs no field and
//! several simulators in one test process stay apart.
use super::State;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::sync::{Mutex, OnceLock};
use tiny_http::{Header, Method, Request, Response, StatusCode};

type Namespaces = BTreeMap<String, BTreeMap<String, Value>>;

/// Largest value accepted (DHIS2 keeps values in a database column; kadi's are a few KiB).
const MAX_VALUE: usize = 1024 * 1024;

fn stores() -> &'static Mutex<HashMap<String, Namespaces>> {
    static STORES: OnceLock<Mutex<HashMap<String, Namespaces>>> = OnceLock::new();
    STORES.get_or_init(|| Mutex::new(HashMap::new()))
}

fn answer(status: u16, body: Value) -> Response<std::io::Cursor<Vec<u8>>> {
    let header = Header::from_bytes(&b"Content-Type"[..], &b"application/json;charset=UTF-8"[..])
        .expect("a static header is valid");
    Response::from_data(body.to_string().into_bytes())
        .with_status_code(StatusCode(status))
        .with_header(header)
}

fn message(status: u16, text: &str) -> Value {
    let reason = match status {
        200 => "OK",
        201 => "Created",
        400 => "Bad Request",
        404 => "Not Found",
        409 => "Conflict",
        _ => "Method Not Allowed",
    };
    let ok = status < 300;
    json!({"httpStatus": reason, "httpStatusCode": status, "status": if ok { "OK" } else { "ERROR" }, "message": text})
}

fn decode(segment: &str) -> String {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Some(b) = segment
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Answers a dataStore request (`None`); hands any other request back untouched.
pub(super) fn handle(state: &State, mut request: Request, route: &str) -> Option<Request> {
    let Some(rest) = route
        .strip_prefix("dataStore")
        .filter(|r| r.is_empty() || r.starts_with('/'))
    else {
        return Some(request);
    };
    let parts: Vec<String> = rest
        .split('/')
        .filter(|p| !p.is_empty())
        .map(decode)
        .collect();
    let mut body = Vec::new();
    let read = request
        .as_reader()
        .take(MAX_VALUE as u64 + 1)
        .read_to_end(&mut body);
    let method = request.method().clone();
    let (status, value) = {
        let mut all = stores().lock().unwrap_or_else(|p| p.into_inner());
        let spaces = all.entry(state.base_url.clone()).or_default();
        route_call(spaces, &method, &parts, read.ok().map(|_| body))
    };
    let _ = request.respond(answer(status, value));
    None
}

fn route_call(
    spaces: &mut Namespaces,
    method: &Method,
    parts: &[String],
    body: Option<Vec<u8>>,
) -> (u16, Value) {
    match (method, parts) {
        (Method::Get, []) => (200, json!(spaces.keys().collect::<Vec<_>>())),
        (Method::Get, [ns]) => match spaces.get(ns) {
            Some(keys) => (200, json!(keys.keys().collect::<Vec<_>>())),
            None => (404, message(404, &format!("Namespace not found: '{ns}'"))),
        },
        (Method::Get, [ns, key]) => match spaces.get(ns).and_then(|k| k.get(key)) {
            Some(v) => (200, v.clone()),
            None => (
                404,
                message(404, &format!("Key '{key}' not found in namespace '{ns}'")),
            ),
        },
        (Method::Post | Method::Put, [ns, key]) => {
            let Some(value) = body
                .filter(|b| b.len() <= MAX_VALUE)
                .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
            else {
                return (400, message(400, "The data is not valid JSON."));
            };
            let exists = spaces.get(ns).is_some_and(|k| k.contains_key(key));
            match (method, exists) {
                (Method::Post, true) => (
                    409,
                    message(
                        409,
                        &format!("Key '{key}' already exists in namespace '{ns}'"),
                    ),
                ),
                (Method::Put, false) => (
                    404,
                    message(404, &format!("Key '{key}' not found in namespace '{ns}'")),
                ),
                (Method::Post, false) => {
                    spaces
                        .entry(ns.clone())
                        .or_default()
                        .insert(key.clone(), value);
                    (201, message(201, &format!("Key '{key}' created.")))
                }
                _ => {
                    spaces
                        .entry(ns.clone())
                        .or_default()
                        .insert(key.clone(), value);
                    (200, message(200, &format!("Key '{key}' updated.")))
                }
            }
        }
        (Method::Delete, [ns, key]) => match spaces.get_mut(ns).and_then(|k| k.remove(key)) {
            Some(_) => {
                spaces.retain(|_, keys| !keys.is_empty());
                (
                    200,
                    message(200, &format!("Key '{key}' deleted from namespace '{ns}'.")),
                )
            }
            None => (
                404,
                message(404, &format!("Key '{key}' not found in namespace '{ns}'")),
            ),
        },
        _ => (
            405,
            message(405, "Method not allowed on this dataStore path"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_datastore_answers_as_dhis2_does() {
        let mut s = Namespaces::new();
        let ns = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            route_call(&mut s, &Method::Get, &ns(&["kadi"]), None).0,
            404
        );
        assert_eq!(
            route_call(
                &mut s,
                &Method::Put,
                &ns(&["kadi", "k"]),
                Some(b"{}".to_vec())
            )
            .0,
            404
        );
        assert_eq!(
            route_call(
                &mut s,
                &Method::Post,
                &ns(&["kadi", "k"]),
                Some(b"{\"a\":1}".to_vec())
            )
            .0,
            201
        );
        assert_eq!(
            route_call(
                &mut s,
                &Method::Post,
                &ns(&["kadi", "k"]),
                Some(b"{}".to_vec())
            )
            .0,
            409
        );
        assert_eq!(
            route_call(
                &mut s,
                &Method::Post,
                &ns(&["kadi", "j"]),
                Some(b"nope".to_vec())
            )
            .0,
            400
        );
        assert_eq!(
            route_call(
                &mut s,
                &Method::Put,
                &ns(&["kadi", "k"]),
                Some(b"{\"a\":2}".to_vec())
            )
            .0,
            200
        );
        assert_eq!(
            route_call(&mut s, &Method::Get, &ns(&["kadi", "k"]), None),
            (200, json!({"a": 2}))
        );
        assert_eq!(
            route_call(&mut s, &Method::Get, &ns(&["kadi"]), None),
            (200, json!(["k"]))
        );
        assert_eq!(
            route_call(&mut s, &Method::Delete, &ns(&["kadi", "k"]), None).0,
            200
        );
        assert_eq!(
            route_call(&mut s, &Method::Get, &ns(&["kadi"]), None).0,
            404
        );
        assert_eq!(decode("a%2Fb"), "a/b");
    }
}
