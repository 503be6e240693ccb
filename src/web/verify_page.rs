//! The /verify page (s11-v, issue 18): staff paste a card's QR payload or upload a photo of the
//! card (decoded on the box, [`crate::cards::scan::decode_qr`]) and see the verdict with every
//! claim; anyone on the LAN, without logging in, gets the public mode (`/verify/public`, or
//! `/verify` logged out): paste only, and only what the card itself prints (name, MPI ID, health
//! centre) with the status: no serial, no date of birth, no links into the desk.
//!
//! Verification changes nothing, so the public form needs no CSRF token; the staff forms carry
//! it like every staff form. Uploads go to `/verify/image` only, the one path the front lets
//! carry [`super::front::Limits::max_upload_bytes`] (8 MiB); everything else keeps the 64 KiB cap.
use super::front::Method;
use super::http::{self, Reply};
use super::pages::render;
use super::{guard, page, Call, Ctx};
use crate::verify::{Status, Verdict};

/// The path that takes photo uploads (the front's upload limit applies to it alone).
pub const UPLOAD_PATH: &str = "/verify/image";

/// The routes of this part; `None` for a path that is not theirs.
pub fn route(ctx: &Ctx, call: &mut Call, method: &Method) -> Option<Reply> {
    let path = call.path.clone();
    let reply = match (method, path.as_str()) {
        (Method::Get, "/verify") if call.staff.is_some() => form(ctx, call, false, None),
        (Method::Get, "/verify" | "/verify/public") => form(ctx, call, true, None),
        (Method::Post, "/verify") if call.staff.is_some() => staff_paste(ctx, call),
        (Method::Post, "/verify" | "/verify/public") => public_paste(ctx, call),
        (Method::Post, UPLOAD_PATH) => page(ctx, call, staff_upload),
        (_, "/verify" | "/verify/public" | UPLOAD_PATH) => Reply::text(405, "method not allowed"),
        _ => return None,
    };
    Some(reply)
}

/// Words for a status, for people.
fn headline(status: Status) -> &'static str {
    match status {
        Status::Valid => "Valid card",
        Status::InvalidSignature => "Not valid: the card was altered or forged",
        Status::UnknownKey => "Unknown issuer: this box has no key for the box that printed it",
        Status::Revoked => "Revoked card: do not accept it",
        Status::Expired => "Expired: issued outside its key's validity",
        Status::Unreadable => "Unreadable: not a kadi card code",
    }
}

fn form(ctx: &Ctx, call: &Call, public: bool, verdict: Option<&Verdict>) -> Reply {
    let status = if verdict.is_some_and(|v| v.status != Status::Valid) {
        422
    } else {
        200
    };
    // Public mode shows what the card prints, and only for a card that verifies.
    let shown = verdict.and_then(|v| {
        let c = v.claims.as_ref()?;
        (!public || matches!(v.status, Status::Valid | Status::Revoked | Status::Expired))
            .then_some(c)
    });
    render(
        ctx,
        status,
        "verify.html",
        minijinja::context! {
            staff => if public { None } else { call.staff.clone() },
            csrf => if public { None } else { call.csrf_token() },
            public => public,
            action => if public { "/verify/public" } else { "/verify" },
            verdict => verdict,
            headline => verdict.map(|v| headline(v.status)),
            claims => shown,
            max_upload_mib => super::front::Limits::default().max_upload_bytes / (1024 * 1024),
        },
    )
}

fn verdict_of(ctx: &Ctx, payload: &str) -> Result<Verdict, Reply> {
    crate::verify::verify(&ctx.store, payload)
        .map_err(|e| super::internal_error("verifying a card", &e))
}

fn staff_paste(ctx: &Ctx, call: &mut Call) -> Reply {
    let form_fields = match guard::checked_form(call, http::MAX_BODY_BYTES) {
        Ok(f) => f,
        Err(refusal) => return refusal,
    };
    let payload = http::param(&form_fields, "payload")
        .unwrap_or("")
        .to_string();
    match verdict_of(ctx, &payload) {
        Ok(v) => form(ctx, call, false, Some(&v)),
        Err(r) => r,
    }
}

fn public_paste(ctx: &Ctx, call: &mut Call) -> Reply {
    let body = match http::read_body(call.request, http::MAX_BODY_BYTES) {
        Ok(b) => b,
        Err(_) => return Reply::text(413, "request body too large"),
    };
    let fields = http::parse_urlencoded(&String::from_utf8_lossy(&body));
    let payload = http::param(&fields, "payload").unwrap_or("").to_string();
    match verdict_of(ctx, &payload) {
        Ok(v) => form(ctx, call, true, Some(&v)),
        Err(r) => r,
    }
}

/// The parts of a `multipart/form-data` body: (field name, content). Enough for one small form
/// (RFC 7578): parts split on the boundary, headers up to the blank line.
fn multipart(body: &[u8], content_type: &str) -> Vec<(String, Vec<u8>)> {
    let Some(boundary) = content_type
        .split(';')
        .map(str::trim)
        .find_map(|p| p.strip_prefix("boundary="))
        .map(|b| b.trim_matches('"'))
        .filter(|b| !b.is_empty() && b.len() <= 200)
    else {
        return Vec::new();
    };
    let delimiter = format!("--{boundary}").into_bytes();
    let mut parts = Vec::new();
    let mut rest = body;
    while let Some(at) = find(rest, &delimiter) {
        rest = &rest[at + delimiter.len()..];
        if rest.starts_with(b"--") {
            break;
        }
        let Some(head_end) = find(rest, b"\r\n\r\n") else {
            break;
        };
        let head = String::from_utf8_lossy(&rest[..head_end]).to_string();
        let content_start = head_end + 4;
        let end = find(&rest[content_start..], &delimiter)
            .map(|e| content_start + e)
            .unwrap_or(rest.len());
        let mut content = &rest[content_start..end];
        if content.ends_with(b"\r\n") {
            content = &content[..content.len() - 2];
        }
        let name = head
            .split(';')
            .map(str::trim)
            .find_map(|p| p.strip_prefix("name="))
            .map(|n| n.trim_matches('"').to_string())
            .unwrap_or_default();
        parts.push((name, content.to_vec()));
        rest = &rest[end..];
    }
    parts
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn staff_upload(ctx: &Ctx, call: &mut Call) -> Reply {
    if let Some(why) = guard::cross_site(call) {
        return Reply::text(403, why);
    }
    let content_type = http::header(call.request, "Content-Type")
        .unwrap_or("")
        .to_string();
    let body = call.request.body().to_vec();
    let parts = multipart(&body, &content_type);
    let presented = http::header(call.request, guard::CSRF_HEADER)
        .map(str::to_string)
        .or_else(|| {
            parts
                .iter()
                .find(|(n, _)| n == guard::CSRF_FIELD)
                .map(|(_, v)| String::from_utf8_lossy(v).to_string())
        });
    let valid = match (super::session_token(call.request), presented) {
        (Some(session), Some(token)) => super::auth::csrf_matches(session, &token),
        _ => false,
    };
    if !valid {
        return Reply::text(
            403,
            "this form has no valid CSRF token; reload the page and try again",
        );
    }
    // A multipart form's `photo` part, or the raw body (`Content-Type: image/png`).
    let image = match parts.into_iter().find(|(n, _)| n == "photo") {
        Some((_, bytes)) => bytes,
        None => body,
    };
    let payload = match crate::cards::scan::decode_qr(&image) {
        Ok(found) => found
            .iter()
            .find(|p| p.starts_with(kadi_sqlext::card::PREFIX))
            .or(found.first())
            .cloned()
            .unwrap_or_default(),
        // Not an image kadi reads: the verdict says unreadable, like a garbled code.
        Err(_) => String::new(),
    };
    match verdict_of(ctx, &payload) {
        Ok(v) => form(ctx, call, false, Some(&v)),
        Err(r) => r,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_multipart_form_gives_its_fields() {
        let body = b"--XyZ\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\nabc\r\n--XyZ\r\nContent-Disposition: form-data; name=\"photo\"; filename=\"c.png\"\r\nContent-Type: image/png\r\n\r\n\x89PNG\r\n\x00\x01\r\n--XyZ--\r\n";
        let parts = super::multipart(body, "multipart/form-data; boundary=XyZ");
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0], ("csrf".to_string(), b"abc".to_vec()));
        assert_eq!(
            parts[1],
            ("photo".to_string(), b"\x89PNG\r\n\x00\x01".to_vec())
        );
        assert!(super::multipart(body, "multipart/form-data").is_empty());
    }
}
