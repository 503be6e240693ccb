//! SMS: through DHIS2's `POST /api/sms/outbound` (`{"message": ..., "recipients": [...]}`, the
//! gateway configured on the DHIS2 server, kadi's stored DHIS2 credentials) or a generic HTTP
//! gateway (URL template with `{to}`, `{text}`, `{id}`, method, sealed auth header, success rule).
//!
//! The whole text goes in one request (gateways and DHIS2 concatenate long texts themselves);
//! a gateway configured `single_part` (see [`HttpGateway`]) gets one request per part of
//! [`super::sms_text::split`] instead, with `{part}` and `{parts}`. If a later part fails after
//! an earlier one was accepted, the message is `unknown`: the recipient has half of it.
use super::config::HttpGateway;
use super::outcome::{self, Outcome, Scope};
use crate::dhis2::{Client, Dhis2Error};
use std::time::Duration;

/// Sends `text` to `to` through DHIS2.
pub fn send_dhis2(client: &Client, to: &str, text: &str) -> Outcome {
    match client.send_sms(text, &[to.to_string()]) {
        Ok(_) => Outcome::Accepted { provider_id: None },
        Err(e) => classify_dhis2(&e),
    }
}

/// What a DHIS2 error means for an SMS.
pub fn classify_dhis2(e: &Dhis2Error) -> Outcome {
    let what = format!("{e}");
    match e {
        Dhis2Error::Unreachable(m)
            if m.contains("could not connect")
                || m.contains("refused")
                || m.contains("host not found")
                || m.contains("not a usable URL") =>
        {
            Outcome::Offline(what)
        }
        Dhis2Error::Unreachable(_) | Dhis2Error::TimedOut { .. } | Dhis2Error::Interrupted(_) => {
            Outcome::Ambiguous(format!(
                "{what}; the request was sent and no answer came back: the SMS may have left"
            ))
        }
        Dhis2Error::RetryLater { after, .. } => Outcome::Retry {
            reason: what,
            after: *after,
            scope: Scope::Channel,
        },
        Dhis2Error::AuthFailed(_) => Outcome::StopChannel(format!(
            "{what}; fix the DHIS2 credentials with `kadi dhis2 config`"
        )),
        Dhis2Error::Rejected { status, message } => {
            let m = message.to_ascii_lowercase();
            if m.contains("gateway") {
                Outcome::StopChannel(format!(
                    "{what}; configure an SMS gateway on the DHIS2 server (SMS Service Configuration)"
                ))
            } else if *status >= 500 || *status == 408 {
                Outcome::Retry {
                    reason: what,
                    after: None,
                    scope: Scope::Message,
                }
            } else {
                Outcome::Permanent(what)
            }
        }
        Dhis2Error::Malformed(_) | Dhis2Error::Truncated(_) => Outcome::Ambiguous(what),
    }
}

/// Percent-encodes `s` for a URL query or form body.
pub fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Fills `{to}`, `{text}`, `{id}`, `{part}`, `{parts}` with `encode` applied to each value.
fn fill(template: &str, values: &[(&str, &str)], encode: &dyn Fn(&str) -> String) -> String {
    let mut out = template.to_string();
    for (k, v) in values {
        out = out.replace(&format!("{{{k}}}"), &encode(v));
    }
    out
}

/// Sends through a generic HTTP gateway; `auth` is the opened auth header value.
pub fn send_http(
    g: &HttpGateway,
    auth: Option<&str>,
    answer: Duration,
    to: &str,
    text: &str,
    message_id: &str,
) -> Outcome {
    let agent = outcome::agent(Duration::from_secs(10).min(answer), answer);
    let parts = if g.single_part {
        super::sms_text::split(text).parts
    } else {
        vec![text.to_string()]
    };
    let n = parts.len().to_string();
    let mut ids = Vec::new();
    for (i, part) in parts.iter().enumerate() {
        let k = (i + 1).to_string();
        let values = [
            ("to", to),
            ("text", part.as_str()),
            ("id", message_id),
            ("part", k.as_str()),
            ("parts", n.as_str()),
        ];
        match send_one(&agent, g, auth, &values) {
            Outcome::Accepted { provider_id } => ids.extend(provider_id),
            other if i == 0 => return other,
            other => {
                return Outcome::Ambiguous(format!(
                    "part {k} of {n} failed after the earlier parts were accepted: {other:?}"
                ))
            }
        }
    }
    Outcome::Accepted {
        provider_id: (!ids.is_empty()).then(|| ids.join(",")),
    }
}

fn send_one(
    agent: &ureq::Agent,
    g: &HttpGateway,
    auth: Option<&str>,
    values: &[(&str, &str)],
) -> Outcome {
    let url = fill(&g.url, values, &url_encode);
    let json = g
        .content_type
        .as_deref()
        .is_some_and(|c| c.contains("json"));
    let body = g.body.as_deref().map(|b| {
        if json {
            fill(b, values, &|v| {
                let quoted = serde_json::to_string(v).unwrap_or_default();
                quoted[1..quoted.len().saturating_sub(1)].to_string()
            })
        } else {
            fill(b, values, &url_encode)
        }
    });
    let auth_header = g.auth_header.as_deref().unwrap_or("Authorization");
    let result = if g.method.eq_ignore_ascii_case("GET") {
        let mut req = agent.get(&url);
        if let Some(a) = auth {
            req = req.header(auth_header, a);
        }
        req.call()
    } else {
        let mut req = agent.post(&url).header(
            "Content-Type",
            g.content_type
                .as_deref()
                .unwrap_or("application/x-www-form-urlencoded"),
        );
        if let Some(a) = auth {
            req = req.header(auth_header, a);
        }
        req.send(body.unwrap_or_default().as_bytes())
    };
    // The URL may carry the text and the number: errors name the gateway's host only.
    let host = url
        .split('/')
        .nth(2)
        .unwrap_or("the SMS gateway")
        .to_string();
    let mut response = match result {
        Ok(r) => r,
        Err(e) => return outcome::transport(&e, &format!("SMS gateway {host}"), false),
    };
    let status = response.status().as_u16();
    let after = outcome::retry_after(&response);
    let text = outcome::body_text(&mut response);
    judge(g, status, &text, after, &host)
}

/// Applies the gateway's success rule to an answer.
pub fn judge(
    g: &HttpGateway,
    status: u16,
    body: &str,
    after: Option<Duration>,
    host: &str,
) -> Outcome {
    let status_ok = match g.success_status {
        Some(s) => status == s,
        None => (200..300).contains(&status),
    };
    let short = crate::output::escape_log(body, 200);
    if !status_ok {
        return match status {
            401 | 403 => Outcome::StopChannel(format!(
                "SMS gateway {host} refused the credentials ({status}): configure them again with `kadi send config sms`"
            )),
            429 => Outcome::Retry {
                reason: format!("SMS gateway {host} asks to slow down (429)"),
                after,
                scope: Scope::Channel,
            },
            408 | 500..=599 => Outcome::Retry {
                reason: format!("SMS gateway {host} answered {status}: {short}"),
                after,
                scope: Scope::Message,
            },
            _ => Outcome::Permanent(format!("SMS gateway {host} answered {status}: {short}")),
        };
    }
    if let Some(needle) = g.success_contains.as_deref() {
        if !body.contains(needle) {
            return Outcome::Permanent(format!(
                "SMS gateway {host} answered {status} without {needle:?}: {short}"
            ));
        }
    }
    let json: Option<serde_json::Value> = serde_json::from_str(body).ok();
    if let Some(rule) = g.success_json_field.as_deref() {
        let (path, want) = match rule.split_once('=') {
            Some((p, v)) => (p, Some(v)),
            None => (rule, None),
        };
        let got = json.as_ref().and_then(|j| field(j, path));
        let ok = match (got, want) {
            (Some(v), Some(w)) => value_text(v) == w,
            (Some(v), None) => !v.is_null() && v != &serde_json::Value::Bool(false),
            (None, _) => false,
        };
        if !ok {
            return Outcome::Permanent(format!(
                "SMS gateway {host} answered {status} but {rule:?} does not hold: {short}"
            ));
        }
    }
    let provider_id = g
        .id_json_field
        .as_deref()
        .and_then(|p| json.as_ref().and_then(|j| field(j, p)))
        .map(value_text);
    Outcome::Accepted { provider_id }
}

/// A dotted path (`messages.0.id`) into JSON.
fn field<'a>(v: &'a serde_json::Value, path: &str) -> Option<&'a serde_json::Value> {
    path.split('.')
        .try_fold(v, |v, key| match key.parse::<usize>() {
            Ok(i) if v.is_array() => v.get(i),
            _ => v.get(key),
        })
}

fn value_text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gateway() -> HttpGateway {
        HttpGateway {
            url: "http://gw/send?to={to}&text={text}".into(),
            method: "GET".into(),
            body: None,
            content_type: None,
            auth_header: None,
            success_status: None,
            success_contains: None,
            success_json_field: None,
            id_json_field: None,
            text: None,
            single_part: false,
        }
    }

    #[test]
    fn the_success_rule_checks_status_body_text_and_a_json_field() {
        let mut g = gateway();
        assert!(matches!(
            judge(&g, 200, "", None, "gw"),
            Outcome::Accepted { .. }
        ));
        assert!(matches!(
            judge(&g, 503, "", None, "gw"),
            Outcome::Retry { .. }
        ));
        assert!(matches!(
            judge(&g, 401, "", None, "gw"),
            Outcome::StopChannel(_)
        ));
        assert!(matches!(
            judge(&g, 400, "bad", None, "gw"),
            Outcome::Permanent(_)
        ));
        g.success_contains = Some("OK".into());
        assert!(matches!(
            judge(&g, 200, "ERR", None, "gw"),
            Outcome::Permanent(_)
        ));
        g.success_contains = None;
        g.success_json_field = Some("status=sent".into());
        g.id_json_field = Some("messages.0.id".into());
        let ok = r#"{"status":"sent","messages":[{"id":"abc"}]}"#;
        assert_eq!(
            judge(&g, 200, ok, None, "gw"),
            Outcome::Accepted {
                provider_id: Some("abc".into())
            }
        );
        assert!(matches!(
            judge(&g, 200, r#"{"status":"queued"}"#, None, "gw"),
            Outcome::Permanent(_)
        ));
    }

    #[test]
    fn placeholders_are_percent_encoded_in_urls() {
        let url = fill(
            "http://gw/?to={to}&text={text}",
            &[("to", "+221771234567"), ("text", "é & ok")],
            &url_encode,
        );
        assert_eq!(url, "http://gw/?to=%2B221771234567&text=%C3%A9%20%26%20ok");
    }
}
