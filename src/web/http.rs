//! Small HTTP helpers over kadi's own front ([`super::front`]): the [`Reply`] every handler
//! returns and its encoding with the security headers every response carries, query-string and
//! form decoding, and the size check of the (already read) request body.
use super::front::Request;
use serde::Serialize;

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

    /// Encodes the reply as an HTTP/1.1 response with the headers every kadi answer carries.
    /// A header whose name or value could break the response (control characters such as CR or
    /// LF) is left out and logged, so no handler can split a response by mistake.
    pub fn to_http(&self, keep_alive: bool, head_only: bool) -> Vec<u8> {
        let mut out = Vec::with_capacity(512 + if head_only { 0 } else { self.body.len() });
        out.extend_from_slice(
            format!("HTTP/1.1 {} {}\r\n", self.status, reason(self.status)).as_bytes(),
        );
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
        let extra = self.headers.iter().map(|(n, v)| (n.as_str(), v.as_str()));
        for (name, value) in fixed.into_iter().chain(extra) {
            let name_ok = !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
            let value_ok = value
                .bytes()
                .all(|b| b == b'\t' || (b >= 0x20 && b != 0x7f));
            if !name_ok || !value_ok {
                eprintln!(
                    "kadi serve: left out a response header with control characters: {}",
                    crate::output::escape_log(name, 64)
                );
                continue;
            }
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(value.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        let connection = if keep_alive { "keep-alive" } else { "close" };
        out.extend_from_slice(
            format!(
                "Content-Length: {}\r\nConnection: {connection}\r\n\r\n",
                self.body.len()
            )
            .as_bytes(),
        );
        if !head_only {
            out.extend_from_slice(&self.body);
        }
        out
    }
}

/// The reason phrase of a status code.
fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        411 => "Length Required",
        413 => "Content Too Large",
        414 => "URI Too Long",
        415 => "Unsupported Media Type",
        417 => "Expectation Failed",
        422 => "Unprocessable Content",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        _ => "Status",
    }
}

/// The value of a request header (case-insensitive name).
pub fn header<'r>(request: &'r Request, name: &str) -> Option<&'r str> {
    request.header(name)
}

/// A client-supplied string made safe for one log line: control characters (CR, LF, ESC, ...),
/// terminal-steering characters and backslashes are escaped, and it is cut at 512 characters.
/// (One escaping for every log line: [`crate::output::escape_log`].)
pub fn log_safe(s: &str) -> String {
    crate::output::escape_log(s, 512)
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

/// Why a body could not be used.
#[derive(Debug, PartialEq, Eq)]
pub enum BodyError {
    /// Larger than the limit: answer 413.
    TooLarge,
    /// The connection failed while reading (the front reads bodies before handlers run, so
    /// handlers no longer see this; kept so their error arms stay as they are).
    Io,
}

/// The request body, refusing more than `limit` bytes. The front has already read the whole
/// body within its own limit; this is the route's own, possibly smaller, limit.
pub fn read_body(request: &Request, limit: usize) -> Result<Vec<u8>, BodyError> {
    if request.body().len() > limit {
        return Err(BodyError::TooLarge);
    }
    Ok(request.body().to_vec())
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
            "/a\\r\\nSet-Cookie: x\\x1b[31m"
        );
        assert_eq!(
            log_safe(&"a".repeat(600)),
            format!("{}…(+88 chars)", "a".repeat(512))
        );
    }
}
