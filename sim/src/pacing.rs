//! Faults of pace rather than content, for the retry and timeout behaviour of a sync: a server
//! that rate-limits (429, or 503, with `Retry-After` in seconds or as an HTTP date on a clock
//! of its own), a link that dribbles an answer (slowly to the end, or until it stalls), and a
//! server that takes a request and never answers. Kept apart from [`super::server`] so that each
//! fault is one function.
//!
//! A held connection (a stall, a silent server) is held until the client gives up and closes
//! it, as a real dead upstream would be; the worker notices within 50 ms and moves on (at most
//! [`HOLD_MAX`] in any case, so a simulator always stops).
use super::{lock, socket, State};
use std::io::Write;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tiny_http::{Header, Request, Response, StatusCode};

/// The longest a stalled or silent answer holds its connection.
pub(super) const HOLD_MAX: Duration = Duration::from_secs(300);

/// How a rate-limited answer says when to come back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryAfterForm {
    /// `Retry-After: 7` (delta-seconds).
    Seconds,
    /// `Retry-After: Fri, 04 Dec 2026 15:00:07 GMT`, on the simulator's clock (see
    /// [`RateLimit::clock_ahead`]), which also sets the answer's `Date`.
    HttpDate,
    /// No `Retry-After` at all.
    Absent,
}

/// A rate limit on `/api/tracker/*`: for `window` from when it is set, every tracker request is
/// answered `status` (429, or 503 as nginx's `limit_req` does by default) with a `Retry-After`
/// of the time left in the window (rounded up), as real limiters do.
#[derive(Debug, Clone, PartialEq)]
pub struct RateLimit {
    pub window: Duration,
    pub status: u16,
    pub retry_after: RetryAfterForm,
    /// Seconds the server's clock is ahead of the machine's (negative: behind), for its `Date`
    /// and HTTP-date `Retry-After`: a client that counts from its own clock waits wrongly.
    pub clock_offset_secs: i64,
}

impl RateLimit {
    /// 429 with `Retry-After` in seconds for `window`.
    pub fn seconds(window: Duration) -> RateLimit {
        RateLimit {
            window,
            status: 429,
            retry_after: RetryAfterForm::Seconds,
            clock_offset_secs: 0,
        }
    }
}

/// A rate limit in force: until when, and how it answers.
#[derive(Debug, Clone)]
pub(super) struct ActiveLimit {
    pub until: Instant,
    pub limit: RateLimit,
}

/// The answer of a rate-limited tracker request, or `None` when no limit is in force.
pub(super) fn rate_limited(state: &State) -> Option<Response<std::io::Cursor<Vec<u8>>>> {
    let active = lock(&state.rate_limit).clone()?;
    let left = active.until.checked_duration_since(Instant::now())?;
    let limit = &active.limit;
    lock(&state.stats).rate_limited += 1;
    let left_secs = left.as_secs() + u64::from(left.subsec_nanos() > 0);
    let unix_now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let server_now = unix_now + limit.clock_offset_secs;
    let body = serde_json::json!({
        "httpStatus": if limit.status == 429 { "Too Many Requests" } else { "Service Unavailable" },
        "httpStatusCode": limit.status,
        "status": "ERROR",
        "message": "Too many requests: slow down",
    })
    .to_string();
    let mut resp = Response::from_data(body.into_bytes())
        .with_status_code(StatusCode(limit.status))
        .with_header(header("Content-Type", "application/json;charset=UTF-8"))
        .with_header(header("Date", &http_date(server_now)));
    match limit.retry_after {
        RetryAfterForm::Seconds => {
            resp = resp.with_header(header("Retry-After", &left_secs.to_string()));
        }
        RetryAfterForm::HttpDate => {
            let at = http_date(server_now + left_secs as i64);
            resp = resp.with_header(header("Retry-After", &at));
        }
        RetryAfterForm::Absent => {}
    }
    Some(resp)
}

fn header(name: &str, value: &str) -> Header {
    Header::from_bytes(name.as_bytes(), value.as_bytes()).expect("valid header")
}

/// Unix seconds as an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`).
pub fn http_date(unix: i64) -> String {
    const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let (days, secs) = (unix.div_euclid(86_400), unix.rem_euclid(86_400));
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{}, {day:02} {} {year} {:02}:{:02}:{:02} GMT",
        DAYS[(days + 4).rem_euclid(7) as usize],
        MONTHS[(month - 1) as usize],
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// Sends the head and then the body `chunk` bytes at a time, one chunk every `every`, flushed:
/// a slow link. With `stop_after`, nothing more comes after that many body bytes and the
/// connection is held open (a stall); otherwise the answer completes, however long it takes.
pub(super) fn dribble(
    state: &State,
    request: Request,
    status: StatusCode,
    headers: &[Header],
    body: &[u8],
    pace: (usize, Duration, Option<usize>),
) {
    let (chunk, every, stop_after) = pace;
    let peer = request.remote_addr().copied();
    let mut head = format!(
        "HTTP/1.1 {} {}\r\n",
        status.0,
        status.default_reason_phrase()
    );
    for h in headers {
        head.push_str(&format!("{h}\r\n"));
    }
    head.push_str(&format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    ));
    let mut writer = request.into_writer();
    if writer
        .write_all(head.as_bytes())
        .and_then(|()| writer.flush())
        .is_err()
    {
        return;
    }
    let end = stop_after.unwrap_or(body.len()).min(body.len());
    let mut sent = 0;
    while sent < end {
        std::thread::sleep(every);
        let n = chunk.max(1).min(end - sent);
        if writer
            .write_all(&body[sent..sent + n])
            .and_then(|()| writer.flush())
            .is_err()
        {
            return;
        }
        sent += n;
        lock(&state.stats).body_bytes_sent += n as u64;
    }
    if sent < body.len() {
        hold(state, peer);
    }
}

/// Takes the request and answers nothing until the client gives up: a hung server.
pub(super) fn silent(state: &State, request: Request) {
    let peer = request.remote_addr().copied();
    // Keep the request (and so the connection) until the client leaves.
    hold(state, peer);
    drop(request.into_writer());
}

/// Waits until the client closes the connection from `peer` (or [`HOLD_MAX`]).
fn hold(state: &State, peer: Option<SocketAddr>) {
    let started = Instant::now();
    let connection = peer.and_then(|p| socket::find(state.local_addr, p));
    lock(&state.stats).connections_held += 1;
    while started.elapsed() < HOLD_MAX {
        if connection
            .as_ref()
            .is_some_and(socket::Connection::peer_left)
        {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_dates_are_imf_fixdates() {
        assert_eq!(http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(http_date(784_111_777), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(http_date(1_796_396_407), "Fri, 04 Dec 2026 15:00:07 GMT");
        assert_eq!(http_date(951_782_400), "Tue, 29 Feb 2000 00:00:00 GMT");
    }
}
