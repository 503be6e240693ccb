//! What one attempt to send came to, in the categories the worker acts on, and the HTTP
//! plumbing the WhatsApp and SMS clients share (one `ureq` agent per pass, explicit timeouts,
//! status codes as answers, not errors).
use std::time::Duration;

/// Whom a "slow down" applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// This message only (a 5xx, a timeout before sending).
    Message,
    /// Every message to this number (WhatsApp 131056, pair rate limit).
    Number,
    /// The whole channel (429, WhatsApp 130429 throughput).
    Channel,
}

/// The outcome of one attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The provider took the message (its ID when it gives one).
    Accepted { provider_id: Option<String> },
    /// The request never left the box (refused, DNS, no route): nothing was sent; the channel
    /// is offline for this pass and the message stays queued, attempt not counted.
    Offline(String),
    /// Try again later, at least `after` (the provider's `Retry-After`) when it said.
    Retry {
        reason: String,
        after: Option<Duration>,
        scope: Scope,
    },
    /// This message can never be sent as it is (undeliverable number, refused text).
    Permanent(String),
    /// Nothing will get through until a person acts (expired token, rejected template, no
    /// gateway): the channel stops and alerts; the message stays queued.
    StopChannel(String),
    /// The request went out and no answer came back: maybe sent. Never resent blindly.
    Ambiguous(String),
    /// WhatsApp 131047: outside the 24 h window; send the template instead.
    AsTemplate(String),
}

/// One agent with these timeouts: `connect` to connect, then `answer` of silence at most (the
/// DHIS2 client's agent: the same status, redirect and timeout rules).
pub fn agent(connect: Duration, answer: Duration) -> ureq::Agent {
    kadi_dhis2::client::build_agent(connect, answer)
}

/// A transport error of a request that may have been sent: `Offline` when it certainly was not
/// (no connection), `Ambiguous` otherwise (`idempotent`: the request changes nothing if
/// repeated, like a media upload, so a retry is safe and it is `Retry` instead).
pub fn transport(e: &ureq::Error, what: &str, idempotent: bool) -> Outcome {
    let never_sent = match e {
        ureq::Error::Timeout(ureq::Timeout::Connect | ureq::Timeout::Resolve)
        | ureq::Error::HostNotFound
        | ureq::Error::ConnectionFailed
        | ureq::Error::BadUri(_) => true,
        ureq::Error::Io(io) => matches!(
            io.kind(),
            std::io::ErrorKind::ConnectionRefused
                | std::io::ErrorKind::NotConnected
                | std::io::ErrorKind::AddrNotAvailable
                | std::io::ErrorKind::NetworkUnreachable
                | std::io::ErrorKind::HostUnreachable
        ),
        _ => false,
    };
    if never_sent {
        Outcome::Offline(format!("{what}: {e}"))
    } else if idempotent {
        Outcome::Retry {
            reason: format!("{what}: {e}"),
            after: None,
            scope: Scope::Message,
        }
    } else {
        Outcome::Ambiguous(format!(
            "{what}: the request was sent and no answer came back ({e}); it may have been delivered"
        ))
    }
}

/// `Retry-After` of an answer (seconds or an HTTP date counted from the answer's own `Date`).
pub fn retry_after(response: &ureq::http::Response<ureq::Body>) -> Option<Duration> {
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let value = header("retry-after")?;
    crate::dhis2::client::parse_retry_after(&value, header("date").as_deref())
}

/// The body of an answer as text, at most 64 KiB (error bodies are small; a huge one is not
/// read whole).
pub fn body_text(response: &mut ureq::http::Response<ureq::Body>) -> String {
    response
        .body_mut()
        .with_config()
        .limit(64 * 1024)
        .read_to_string()
        .unwrap_or_default()
}
