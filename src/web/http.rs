//! Small HTTP helpers over tiny_http: the [`Reply`] every handler returns, query-string and form
//! decoding, size-limited body reading, and the security headers every response carries.
use serde::Serialize;
use std::io::Read;
use tiny_http::{Header, Request, Response};

/// The largest request body kadi reads (forms and JSON); larger bodies get 413.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// What a handler answers: status, content type, extra headers and body.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub content_type: &'static str,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// The shape of every JSON error: `{"error": "...", "status": 400}`.
#[derive(Serialize)]
struct JsonError<'a> {
    error: &'a str,
    status: u16,
}

impl Reply {
    /// An HTML page.
    pub fn html(status: u16, body: String) -> Reply {
        Reply {
            status,
            content_type: "text/html; charset=utf-8",
            headers: Vec::new(),
            body: body.into_bytes(),
        }
    }

    /// A JSON document (serialisation of kadi's own structs cannot fail; if it did, a 500).
    pub fn json<T: Serialize>(status: u16, value: &T) -> Reply {
        match serde_json::to_vec(value) {
            Ok(body) => Reply {
                status,
                content_type: "application/json",
                headers: Vec::new(),
                body,
            },
            Err(_) => Reply::json_error(500, "could not encode the response"),
        }
    }

    /// A JSON error.
    pub fn json_error(status: u16, message: &str) -> Reply {
        let body = serde_json::to_vec(&JsonError {
            error: message,
            status,
        })
        .unwrap_or_default();
        Reply {
            status,
            content_type: "application/json",
            headers: Vec::new(),
            body,
        }
    }

    /// Bytes with a content type (PNG, CSS, JS).
    pub fn bytes(content_type: &'static str, body: Vec<u8>) -> Reply {
        Reply {
            status: 200,
            content_type,
            headers: Vec::new(),
            body,
        }
    }

    /// A plain-text answer.
    pub fn text(status: u16, body: &str) -> Reply {
        Reply {
            status,
            content_type: "text/plain; charset=utf-8",
            headers: Vec::new(),
            body: body.as_bytes().to_vec(),
        }
    }

    /// A 303 redirect (after a form post, or to the login page).
    pub fn redirect(location: &str) -> Reply {
        Reply::text(303, "See other").with_header("Location", location)
    }

    /// Adds a header.
    pub fn with_header(mut self, name: &str, value: &str) -> Reply {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    /// Converts into a tiny_http response with the headers every kadi answer carries.
    pub fn into_response(self) -> Response<std::io::Cursor<Vec<u8>>> {
        let mut response = Response::from_data(self.body).with_status_code(self.status);
        let fixed = [
            ("Content-Type", self.content_type),
            ("X-Content-Type-Options", "nosniff"),
            ("X-Frame-Options", "DENY"),
            // same-origin, not no-referrer: under no-referrer Chromium sends `Origin: null` on the page's
            // own form posts, which the origin check cannot tell from a hostile page's.
            ("Referrer-Policy", "same-origin"),
            // Patient data must not linger in shared browser caches.
            ("Cache-Control", "no-store"),
            (
                "Content-Security-Policy",
                "default-src 'none'; img-src 'self'; style-src 'self'; script-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
            ),
        ];
        for (name, value) in fixed {
            if let Ok(h) = Header::from_bytes(name.as_bytes(), value.as_bytes()) {
                response.add_header(h);
            }
        }
        for (name, value) in &self.headers {
            if let Ok(h) = Header::from_bytes(name.as_bytes(), value.as_bytes()) {
                response.add_header(h);
            }
        }
        response
    }
}

/// The value of a request header (case-insensitive name).
pub fn header<'r>(request: &'r Request, name: &str) -> Option<&'r str> {
    request
        .headers()
        .iter()
        .find(|h| h.field.as_str().as_str().eq_ignore_ascii_case(name))
        .map(|h| h.value.as_str())
}

/// A client-supplied string made safe for one log line: control characters (CR, LF, ESC, ...)
/// and backslashes are escaped, and it is cut at 512 characters.
pub fn log_safe(s: &str) -> String {
    let mut out = String::with_capacity(s.len().min(512));
    for (i, c) in s.chars().enumerate() {
        if i == 512 {
            out.push_str("...");
            break;
        }
        if c.is_control() || c == '\\' {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// Splits a request URL into its path and decoded query pairs.
pub fn split_url(url: &str) -> (String, Vec<(String, String)>) {
    match url.split_once('?') {
        Some((path, query)) => (percent_decode(path, false), parse_urlencoded(query)),
        None => (percent_decode(url, false), Vec::new()),
    }
}

/// Decodes `application/x-www-form-urlencoded` pairs (also the query string).
pub fn parse_urlencoded(s: &str) -> Vec<(String, String)> {
    s.split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k, true), percent_decode(v, true))
        })
        .collect()
}

/// The first value of `name` among decoded pairs.
pub fn param<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Percent-decodes (and, for forms, turns `+` into a space); invalid escapes stay as they are and
/// invalid UTF-8 becomes U+FFFD.
pub fn percent_decode(s: &str, plus_is_space: bool) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h * 16 + l);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' if plus_is_space => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

/// Percent-encodes a query value (everything but unreserved characters).
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Why a body could not be read.
#[derive(Debug, PartialEq, Eq)]
pub enum BodyError {
    /// Larger than the limit: answer 413.
    TooLarge,
    /// The connection failed while reading.
    Io,
}

/// Reads the request body, refusing more than `limit` bytes (by Content-Length and by counting).
pub fn read_body(request: &mut Request, limit: usize) -> Result<Vec<u8>, BodyError> {
    if request.body_length().is_some_and(|n| n > limit) {
        return Err(BodyError::TooLarge);
    }
    let mut body = Vec::new();
    request
        .as_reader()
        .take(limit as u64 + 1)
        .read_to_end(&mut body)
        .map_err(|_| BodyError::Io)?;
    if body.len() > limit {
        return Err(BodyError::TooLarge);
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_strings_and_forms_decode() {
        let (path, q) =
            split_url("/api/beneficiaries?q=Awa+Diop&page=2&x=%3Cscript%3E&bad=%zz&end=%4");
        assert_eq!(path, "/api/beneficiaries");
        assert_eq!(param(&q, "q"), Some("Awa Diop"));
        assert_eq!(param(&q, "page"), Some("2"));
        assert_eq!(param(&q, "x"), Some("<script>"));
        assert_eq!(param(&q, "bad"), Some("%zz"));
        assert_eq!(param(&q, "end"), Some("%4"));
        assert_eq!(percent_decode("%C3%A9", true), "é");
        assert_eq!(percent_encode("Awa Diop/é"), "Awa%20Diop%2F%C3%A9");
    }

    #[test]
    fn log_lines_escape_control_characters() {
        assert_eq!(
            log_safe("/a\r\nSet-Cookie: x\u{1b}[31m"),
            "/a\\r\\nSet-Cookie: x\\u{1b}[31m"
        );
        assert_eq!(log_safe(&"a".repeat(600)).len(), 515);
    }
}
