//! s10-a: the Oomus-shaped `/dhis2/*` JSON routes for the connection, the preview, the mapping
//! (`assign-codes`) and the sync schedule. Every route calls the library function the command
//! line calls (`kadi dhis2 config|test|preview`, `kadi map set`, `kadi schedule set`), so page,
//! API and CLI share one code path. Staff routes go through [`super::api`], admin routes through
//! [`super::admin_api`]: both accept a session or an `Authorization: Bearer` API token, and a
//! session call that changes state must carry its CSRF token ([`super::guard::checked_body`]).
//!
//! Errors are JSON `{"error": ..., "status": N}`: 400 for a body or parameter kadi cannot use,
//! 401/403 from the wrappers, 404 for an unknown programme, 405 for another method, 413 for a
//! body over [`MAX_JSON_BODY`]. The DHIS2 password or token is never part of an answer.
use super::front::Method;
use super::http::Reply;
use super::{admin_api, api, internal_error, Call, Ctx};
use crate::store::programs::UnknownProgram;
use serde::Serialize;

/// The largest JSON body these routes read (a mapping of every card field fits many times).
pub const MAX_JSON_BODY: usize = 32 * 1024;

/// The routes of this module; `None` when the path is not one of them.
pub fn route(ctx: &Ctx, call: &mut Call, method: &Method) -> Option<Reply> {
    let reply = match (method, call.path.as_str()) {
        (Method::Get, "/dhis2/config") => admin_api(ctx, call, get_config),
        (Method::Post, "/dhis2/config") => admin_api(ctx, call, post_config),
        (Method::Post, "/dhis2/test-connection") => admin_api(ctx, call, test_connection),
        (Method::Get, "/dhis2/preview-enrollments") => api(ctx, call, preview_enrollments),
        (Method::Post, "/dhis2/assign-codes") => admin_api(ctx, call, assign_codes),
        (Method::Get, "/dhis2/sync-schedule") => api(ctx, call, get_sync_schedule),
        (Method::Post, "/dhis2/sync-schedule") => admin_api(ctx, call, post_sync_schedule),
        (
            _,
            "/dhis2/config"
            | "/dhis2/test-connection"
            | "/dhis2/preview-enrollments"
            | "/dhis2/assign-codes"
            | "/dhis2/sync-schedule",
        ) => Reply::json_error(405, "method not allowed"),
        _ => return None,
    };
    Some(reply)
}

/// The checked JSON body of a state-changing call, parsed as `T`.
fn json_body<T: serde::de::DeserializeOwned>(call: &mut Call) -> Result<T, Reply> {
    let body = super::guard::checked_body(call, MAX_JSON_BODY)?;
    serde_json::from_slice(&body).map_err(|e| {
        // serde's message names the field and the position, never the value's content.
        Reply::json_error(400, &format!("the body is not the expected JSON: {e}"))
    })
}

/// A library error as an answer: an unknown programme is 404, anything else the caller's input
/// (400) unless it is a database failure (500, details in the box's log).
fn refusal(context: &str, e: &anyhow::Error) -> Reply {
    if let Some(u) = e.downcast_ref::<UnknownProgram>() {
        return Reply::json_error(404, &u.message);
    }
    if e.chain().any(|c| c.is::<rusqlite::Error>()) {
        return internal_error(context, e);
    }
    Reply::json_error(400, &format!("{e:#}"))
}

/// `GET /dhis2/config`: the stored settings without the secret (404 before the first one).
pub fn get_config(ctx: &Ctx, _call: &mut Call) -> Reply {
    match crate::link::config_view(&ctx.store) {
        Ok(Some(v)) => Reply::json(200, &v),
        Ok(None) => Reply::json_error(404, "no DHIS2 connection is configured yet"),
        Err(e) => internal_error("reading the DHIS2 settings", &e),
    }
}

/// `POST /dhis2/config` (admin): `{"dhis2_url", "username", "password" | "personal_access_token",
/// "programme_uid"}`; answers the saved settings (`config_id`, `created_at`, `updated_at`, ...)
/// without the password.
pub fn post_config(ctx: &Ctx, call: &mut Call) -> Reply {
    let settings: crate::link::Dhis2Settings = match json_body(call) {
        Ok(s) => s,
        Err(r) => return r,
    };
    match crate::link::save_settings(&ctx.store, &call.actor(), &settings) {
        Ok(view) => Reply::json(200, &view),
        Err(e) => refusal("saving the DHIS2 settings", &e),
    }
}

/// `POST /dhis2/test-connection` (admin): tests the stored connection; version, programmes and
/// org units by name, or the error in plain words (`status` says which kind). Always 200 when
/// the test ran: a failed connection is a result, not an error of this call.
pub fn test_connection(ctx: &Ctx, call: &mut Call) -> Reply {
    if let Err(r) = super::guard::checked_body(call, MAX_JSON_BODY) {
        return r;
    }
    match crate::link::test_stored_connection(&ctx.store) {
        Ok(report) => Reply::json(200, &report),
        Err(e) => refusal("testing the DHIS2 connection", &e),
    }
}

/// The programme of a call: the `programme_uid` parameter, else the configured programme.
fn programme_param(ctx: &Ctx, call: &Call) -> Result<String, Reply> {
    if let Some(p) = call.param("programme_uid").filter(|p| !p.is_empty()) {
        return Ok(p.to_string());
    }
    match ctx.store.dhis2_connection() {
        Ok(Some(c)) => c.programme_uid.ok_or_else(|| {
            Reply::json_error(
                400,
                "programme_uid is required (no programme is configured)",
            )
        }),
        Ok(None) => Err(Reply::json_error(
            400,
            "programme_uid is required (no DHIS2 connection is configured)",
        )),
        Err(e) => Err(internal_error("reading the DHIS2 settings", &e)),
    }
}

/// `GET /dhis2/preview-enrollments?programme_uid=&org_unit=&enrollment_date_from=&enrollment_date_to=&limit=`:
/// the enrollments as synced (what `kadi dhis2 preview` prints), `org_unit` with its descendants.
pub fn preview_enrollments(ctx: &Ctx, call: &mut Call) -> Reply {
    let programme = match programme_param(ctx, call) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let limit = match call.param("limit").map(str::parse::<u32>) {
        None => 10,
        Some(Ok(n)) if (1..=1000).contains(&n) => n,
        Some(_) => return Reply::json_error(400, "limit must be a number from 1 to 1000"),
    };
    let text = |name: &str| call.param(name).filter(|v| !v.is_empty());
    let result = crate::sync::preview(
        &ctx.store,
        &programme,
        text("org_unit"),
        text("enrollment_date_from"),
        text("enrollment_date_to"),
        Some(limit),
    );
    match result {
        Ok(r) => Reply::json(200, &r),
        Err(e) => refusal("previewing enrollments", &e),
    }
}

/// `POST /dhis2/assign-codes` (admin): the assign-codes body (`programme_uid`, `mappings` of
/// `dhis2_attribute_code` -> `card_field`) as `kadi map set` takes it; answers the counts
/// (`mappings_configured`, `records_remapped`, `unmapped_card_fields`). Admin only: a mapping
/// decides what every card of the programme shows.
pub fn assign_codes(ctx: &Ctx, call: &mut Call) -> Reply {
    let body: crate::mapping::AssignCodesBody = match json_body(call) {
        Ok(b) => b,
        Err(r) => return r,
    };
    match crate::jobs::map_program(&ctx.store, &call.actor(), &body) {
        Ok(r) => Reply::json(200, &r),
        Err(e) => refusal("assigning codes", &e),
    }
}

/// What `GET /dhis2/sync-schedule` answers.
#[derive(Serialize)]
struct ScheduleList {
    /// The intervals a schedule may use, in minutes (or `enabled: false` for off).
    allowed_intervals: [u32; 5],
    schedules: Vec<crate::store::sync_data::SyncSchedule>,
}

/// `GET /dhis2/sync-schedule`: every program's schedule and the allowed intervals.
pub fn get_sync_schedule(ctx: &Ctx, _call: &mut Call) -> Reply {
    match ctx.store.sync_schedules() {
        Ok(schedules) => Reply::json(
            200,
            &ScheduleList {
                allowed_intervals: crate::jobs::INTERVALS,
                schedules,
            },
        ),
        Err(e) => internal_error("reading the sync schedules", &e),
    }
}

/// `POST /dhis2/sync-schedule` (admin): `{"programme_uid", "interval_minutes": 10|15|30|60|180,
/// "enabled", "auto_generate_cards"}`; answers the schedule with `next_sync`. The scheduler of
/// `kadi serve` reads it at its next pass.
pub fn post_sync_schedule(ctx: &Ctx, call: &mut Call) -> Reply {
    let request: crate::jobs::ScheduleRequest = match json_body(call) {
        Ok(r) => r,
        Err(r) => return r,
    };
    match crate::jobs::apply_schedule(&ctx.store, &call.actor(), &request) {
        Ok(r) => Reply::json(200, &r),
        Err(e) => refusal("setting the sync schedule", &e),
    }
}
