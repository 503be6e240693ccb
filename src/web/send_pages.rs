//! s11-w: the send pages over s11-s's outbox — the card's send form
//! (`/beneficiaries/{id}/send`), a bulk send from a selection with its progress page (`/send`,
//! `/send/batches/{id}`), the distribution log with filters (`/send/log`) and its two decisions on
//! an `unknown` message (resend / mark as sent), and `POST /dhis2/send-card` (202).
//!
//! Every route calls `send::` (`queue_card`, `distribution::*`, `resolve_unknown`), as `kadi send`
//! does. The log says what the provider said and nothing more: "queued", "accepted by WhatsApp"
//! (never "delivered" unless the provider was polled), and for a message caught mid-send
//! "unknown: check the phone, then resend or mark as sent". Forms work without JavaScript; the
//! batch page refreshes itself while messages wait.
use super::front::Method;
use super::http::{self, Reply};
use super::pages::{error_page, render};
use super::{api, internal_error, page, Call, Ctx};
use crate::send::distribution::{self, BatchRefused, LogView, Selection};
use crate::send::{self, Channel, Resolution, SendRefused, SendRequest, Status};
use serde::{Deserialize, Serialize};

/// Form and JSON bodies of these routes (a message and a number fit many times; a search is
/// read on the server, not posted). Larger ones are answered 413 and change nothing.
pub const MAX_BODY: usize = 16 * 1024;

/// The routes of this part; `None` for a path that is not theirs.
pub fn route(ctx: &Ctx, call: &mut Call, method: &Method) -> Option<Reply> {
    let path = call.path.clone();
    let reply = match (method, path.as_str()) {
        (Method::Post, "/dhis2/send-card") => api(ctx, call, send_card_api),
        (_, "/dhis2/send-card") => Reply::json_error(405, "method not allowed"),
        (Method::Get, p) if p.starts_with("/beneficiaries/") && p.ends_with("/send") => {
            page(ctx, call, send_form)
        }
        (Method::Post, p) if p.starts_with("/beneficiaries/") && p.ends_with("/send") => {
            page(ctx, call, send_submit)
        }
        (Method::Get, "/send") => page(ctx, call, bulk_form),
        (Method::Post, "/send/bulk") => page(ctx, call, bulk_submit),
        (Method::Get, "/send/log") => page(ctx, call, log_page),
        (Method::Get, p) if p.starts_with("/send/batches/") => page(ctx, call, batch_page),
        (Method::Post, p) if p.starts_with("/send/messages/") => page(ctx, call, decide),
        (_, p) if p == "/send" || p.starts_with("/send/") => Reply::text(405, "method not allowed"),
        _ => return None,
    };
    Some(reply)
}

fn status_line(ctx: &Ctx) -> Option<super::api::WebStatus> {
    ctx.store
        .status_counts()
        .ok()
        .map(super::api::WebStatus::from)
}

fn enrollment_of(call: &Call) -> String {
    call.path
        .trim_start_matches("/beneficiaries/")
        .trim_end_matches("/send")
        .to_string()
}

/// `GET /beneficiaries/{id}/send`: channel, message (prefilled, editable), the number normalised.
fn send_form(ctx: &Ctx, call: &mut Call) -> Reply {
    let uid = enrollment_of(call);
    send_form_page(ctx, call, &uid, 200, None, None, None)
}

fn send_form_page(
    ctx: &Ctx,
    call: &Call,
    uid: &str,
    status: u16,
    error: Option<&str>,
    message: Option<&str>,
    phone: Option<&str>,
) -> Reply {
    let form = match distribution::send_form(&ctx.store, uid) {
        Ok(Some(f)) => f,
        Ok(None) => {
            return error_page(
                ctx,
                call,
                404,
                "Not found",
                "No beneficiary has this enrollment.",
            )
        }
        Err(e) => return internal_error("reading the send form", &e),
    };
    render(
        ctx,
        status,
        "send_card.html",
        minijinja::context! {
            staff => call.staff, status => status_line(ctx), csrf => call.csrf_token(),
            form => form, error => error, message => message, phone => phone,
        },
    )
}

/// `POST /beneficiaries/{id}/send`: queues the card; a refused number or channel is shown on
/// the form with the reason (422), nothing queued.
fn send_submit(ctx: &Ctx, call: &mut Call) -> Reply {
    let uid = enrollment_of(call);
    let form = match super::guard::checked_form(call, MAX_BODY) {
        Ok(f) => f,
        Err(r) => return r,
    };
    let field = |n: &str| {
        http::param(&form, n)
            .map(str::trim)
            .filter(|v| !v.is_empty())
    };
    let message = field("message").map(str::to_string);
    let phone = field("phone").map(str::to_string);
    let channel = match Channel::parse(field("channel").unwrap_or("")) {
        Ok(c) => c,
        Err(e) => {
            let m = format!("{e:#}");
            return send_form_page(
                ctx,
                call,
                &uid,
                400,
                Some(&m),
                message.as_deref(),
                phone.as_deref(),
            );
        }
    };
    let req = SendRequest {
        enrollment_uid: uid.clone(),
        channel,
        message: message.clone(),
        phone: phone.clone(),
    };
    match send::queue_card(&ctx.store, &call.actor(), &req) {
        Ok(q) => Reply::redirect(&format!("/send/log?message={}", q.message_id)),
        Err(e) => match e.downcast_ref::<SendRefused>() {
            Some(r) => {
                let reason = r.0.reason.clone();
                send_form_page(
                    ctx,
                    call,
                    &uid,
                    422,
                    Some(&reason),
                    message.as_deref(),
                    phone.as_deref(),
                )
            }
            None => internal_error("queuing a card", &e),
        },
    }
}

/// `POST /dhis2/send-card` body (the seed's `phone_number` is accepted: another number than the record's).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SendCardBody {
    enrollment_id: String,
    channel: String,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    phone_number: Option<String>,
}

/// The 202 answer: the message is queued, not sent; `GET /send/log` (or `kadi send log`) follows it.
#[derive(Serialize)]
struct SendCardAnswer {
    message_id: String,
    status: Status,
    enrollment_id: String,
    channel: Channel,
    recipient: String,
}

/// `POST /dhis2/send-card`: 202 `{"message_id", "status": "queued", ...}`; 422 a refused number
/// or channel (with the reason), 400 a body kadi cannot use.
fn send_card_api(ctx: &Ctx, call: &mut Call) -> Reply {
    let body = match super::guard::checked_body(call, MAX_BODY) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let body: SendCardBody = match serde_json::from_slice(&body) {
        Ok(b) => b,
        Err(e) => {
            return Reply::json_error(400, &format!("the body is not the expected JSON: {e}"))
        }
    };
    let channel = match Channel::parse(&body.channel) {
        Ok(c) => c,
        Err(e) => return Reply::json_error(400, &format!("{e:#}")),
    };
    let req = SendRequest {
        enrollment_uid: body.enrollment_id.clone(),
        channel,
        message: body.message,
        phone: body.phone_number,
    };
    match send::queue_card(&ctx.store, &call.actor(), &req) {
        Ok(q) => Reply::json(
            202,
            &SendCardAnswer {
                message_id: q.message_id,
                status: q.status,
                enrollment_id: q.enrollment_uid,
                channel: q.channel,
                recipient: q.recipient,
            },
        ),
        Err(e) => match e.downcast_ref::<SendRefused>() {
            Some(r) => Reply::json_error(422, &r.to_string()),
            None => internal_error("queuing a card", &e),
        },
    }
}

/// `GET /send?q=`: the bulk form (program; who: a search, a health centre, enrollment dates).
fn bulk_form(ctx: &Ctx, call: &mut Call) -> Reply {
    bulk_page(ctx, call, 200, None)
}

fn bulk_page(ctx: &Ctx, call: &Call, status: u16, error: Option<&str>) -> Reply {
    let (programs, units) = match (ctx.store.card_programs(), ctx.store.org_units_all()) {
        (Ok(p), Ok(u)) => (p, u),
        (Err(e), _) | (_, Err(e)) => return internal_error("reading programs and org units", &e),
    };
    let programs: Vec<(String, String)> = programs
        .into_iter()
        .map(|(uid, name)| (name.unwrap_or_else(|| uid.clone()), uid))
        .collect();
    let mut units = units;
    units.sort_by(|a, b| a.path.cmp(&b.path));
    let units: Vec<(String, String)> = units
        .into_iter()
        .map(|u| {
            let indent = "\u{a0}\u{a0}".repeat(u.level.unwrap_or(1).saturating_sub(1) as usize);
            (format!("{indent}{}", u.name), u.uid)
        })
        .collect();
    let channels = send::channels(&ctx.store).unwrap_or_default();
    render(
        ctx,
        status,
        "send_bulk.html",
        minijinja::context! {
            staff => call.staff, status => status_line(ctx), csrf => call.csrf_token(),
            programs => programs, units => units, channels => channels,
            q => call.param("q").unwrap_or(""), error => error,
            default_message => distribution::DEFAULT_MESSAGE,
        },
    )
}

/// The enrollments a search finds, in `program` (the beneficiaries list's reading of the query).
fn search_selection(ctx: &Ctx, q: &str, program: &str) -> anyhow::Result<Vec<String>> {
    let query = super::find::query(ctx, q)?;
    let mut uids = Vec::new();
    let mut page_no = 1;
    loop {
        let found = ctx.store.search_beneficiaries(&query, page_no, 200)?;
        uids.extend(
            found
                .rows
                .into_iter()
                .filter(|r| r.program_uid == program)
                .map(|r| r.enrollment_uid),
        );
        if page_no >= found.pages || uids.len() > distribution::MAX_BATCH {
            return Ok(uids);
        }
        page_no += 1;
    }
}

/// `POST /send/bulk`: queues the selection as one batch and shows its progress page.
fn bulk_submit(ctx: &Ctx, call: &mut Call) -> Reply {
    let form = match super::guard::checked_form(call, MAX_BODY) {
        Ok(f) => f,
        Err(r) => return r,
    };
    let field = |n: &str| {
        http::param(&form, n)
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    };
    let program = field("program").unwrap_or_default();
    let channel = match Channel::parse(&field("channel").unwrap_or_default()) {
        Ok(c) => c,
        Err(e) => return bulk_page(ctx, call, 400, Some(&format!("{e:#}"))),
    };
    let searched = match field("q") {
        Some(q) => match search_selection(ctx, &q, &program) {
            Ok(uids) => Some(uids),
            Err(e) => return internal_error("searching", &e),
        },
        None => None,
    };
    let sel = Selection {
        program_uid: program,
        org_unit: field("org_unit"),
        enrolled_from: field("from"),
        enrolled_to: field("to"),
        enrollment_uids: searched,
    };
    match distribution::send_selection(&ctx.store, &call.actor(), &sel, channel, field("message")) {
        Ok(batch) => Reply::redirect(&format!("/send/batches/{}", batch.batch_id)),
        Err(e) => {
            if let Some(r) = e.downcast_ref::<BatchRefused>() {
                return bulk_page(ctx, call, 400, Some(&r.0));
            }
            match e.downcast_ref::<crate::store::programs::UnknownProgram>() {
                Some(u) => bulk_page(ctx, call, 400, Some(&u.message)),
                None => internal_error("queuing a batch", &e),
            }
        }
    }
}

/// `GET /send/batches/{id}`: the batch's progress (refreshes itself while messages wait).
fn batch_page(ctx: &Ctx, call: &mut Call) -> Reply {
    let id = call.path.trim_start_matches("/send/batches/").to_string();
    match distribution::batch_progress(&ctx.store, &id) {
        Ok(Some(b)) => render(
            ctx,
            200,
            "send_batch.html",
            minijinja::context! {
                staff => call.staff, status => status_line(ctx), csrf => call.csrf_token(),
                batch => b,
            },
        ),
        Ok(None) => error_page(ctx, call, 404, "Not found", "There is no such batch."),
        Err(e) => internal_error("reading a batch", &e),
    }
}

/// The log's filters from the query string (unknown values are ignored, not errors).
fn log_view(call: &Call) -> LogView {
    let p = |n: &str| call.param(n).map(str::trim).filter(|v| !v.is_empty());
    let date = |n: &str| {
        p(n).filter(|d| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").is_ok())
            .map(str::to_string)
    };
    LogView {
        channel: p("channel").and_then(|c| Channel::parse(c).ok()),
        status: p("status").and_then(|s| Status::parse(s).ok()),
        from: date("from"),
        to: date("to"),
        health_center: p("health_center").map(str::to_string),
        message_id: p("message").map(str::to_string),
    }
}

/// `GET /send/log?channel=&status=&from=&to=&health_center=`: the distribution log.
fn log_page(ctx: &Ctx, call: &mut Call) -> Reply {
    let view = log_view(call);
    let lines = match distribution::log_lines(&ctx.store, &view) {
        Ok(l) => l,
        Err(e) => return internal_error("reading the distribution log", &e),
    };
    let centers = distribution::log_health_centers(&ctx.store).unwrap_or_default();
    // "delivered" and "read" are offered only once a provider reported them: nothing polls one
    // today, and a filter offering "delivered" reads as a claim the box cannot make.
    let reported = ctx.store.outbox_counts().unwrap_or_default();
    let statuses: Vec<&str> = [
        "queued",
        "sending",
        "accepted",
        "delivered",
        "read",
        "failed",
        "unknown",
    ]
    .into_iter()
    .filter(|s| {
        !matches!(*s, "delivered" | "read")
            || reported.iter().any(|(status, n)| status == s && *n > 0)
    })
    .collect();
    let p = |n: &str| call.param(n).unwrap_or("").to_string();
    render(
        ctx,
        200,
        "send_log.html",
        minijinja::context! {
            staff => call.staff, status => status_line(ctx), csrf => call.csrf_token(),
            lines => lines, centers => centers,
            f_channel => p("channel"), f_status => p("status"), f_from => p("from"),
            f_to => p("to"), f_health_center => p("health_center"), f_message => p("message"),
            statuses => statuses,
            decided => call.param("decided"),
        },
    )
}

/// `POST /send/messages/{id}/resend` and `/mark-sent`: the staff decision on an `unknown` (or a
/// failed, for resend) message; back to the log showing that message.
fn decide(ctx: &Ctx, call: &mut Call) -> Reply {
    if let Err(r) = super::guard::checked_form(call, MAX_BODY) {
        return r;
    }
    let rest = call.path.trim_start_matches("/send/messages/").to_string();
    let (id, resolution) = match rest.rsplit_once('/') {
        Some((id, "resend")) => (id, Resolution::Resend),
        Some((id, "mark-sent")) => (id, Resolution::MarkSent),
        _ => {
            return error_page(
                ctx,
                call,
                404,
                "Not found",
                "There is no page at this address.",
            )
        }
    };
    match send::resolve_unknown(&ctx.store, &call.actor(), id, resolution) {
        Ok(e) => Reply::redirect(&format!(
            "/send/log?message={}&decided={}",
            http::percent_encode(&e.message_id),
            match resolution {
                Resolution::Resend => "resend",
                Resolution::MarkSent => "mark-sent",
            }
        )),
        Err(e) => error_page(ctx, call, 409, "Not changed", &format!("{e:#}")),
    }
}
