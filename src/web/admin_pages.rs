//! s10-a: the admin pages for the DHIS2 connection (settings and "Test connection"), the sync
//! schedule and the sync history. They are forms over the same library calls as the JSON API
//! ([`super::dhis2_api`]) and the command line: [`crate::link::save_settings`],
//! [`crate::link::test_stored_connection`], [`crate::jobs::apply_schedule`],
//! [`crate::sync::history::history`]. Admins only ([`super::admin_page`]); every POST passes
//! [`super::guard::checked_form`]. The password field is never filled in: the stored password
//! is kept when it is left empty for the same server and user. Times are shown in the box's
//! local time (its configured zone), never as raw UTC stamps; programs and org units by name.
use super::front::Method;
use super::http::Reply;
use super::pages::{error_page, render};
use super::{admin_page, internal_error, Call, Ctx};
use crate::link::{ConnectionReport, Dhis2Settings};
use serde::Serialize;

/// The largest settings form accepted.
const MAX_FORM_BODY: usize = 8 * 1024;
/// Runs the history page shows.
const HISTORY_RUNS: u32 = 50;

/// The templates of these pages (registered by [`super::templates`]).
pub const TEMPLATES: [(&str, &str); 3] = [
    (
        "admin_dhis2.html",
        include_str!("../../assets/web/admin_dhis2.html"),
    ),
    (
        "admin_schedule.html",
        include_str!("../../assets/web/admin_schedule.html"),
    ),
    (
        "admin_history.html",
        include_str!("../../assets/web/admin_history.html"),
    ),
];

/// The routes of these pages; `None` when the path is not one of them.
pub fn route(ctx: &Ctx, call: &mut Call, method: &Method) -> Option<Reply> {
    let reply = match (method, call.path.as_str()) {
        (Method::Get, "/admin/dhis2") => admin_page(ctx, call, dhis2_page),
        (Method::Post, "/admin/dhis2") => admin_page(ctx, call, dhis2_save),
        (Method::Post, "/admin/dhis2/test") => admin_page(ctx, call, dhis2_test),
        (Method::Get, "/admin/sync-schedule") => admin_page(ctx, call, schedule_page),
        (Method::Post, "/admin/sync-schedule") => admin_page(ctx, call, schedule_save),
        (Method::Get, "/admin/sync-history") => admin_page(ctx, call, history_page),
        (
            _,
            "/admin/dhis2" | "/admin/dhis2/test" | "/admin/sync-schedule" | "/admin/sync-history",
        ) => error_page(
            ctx,
            call,
            405,
            "Not allowed",
            "This page does not take that kind of request.",
        ),
        _ => return None,
    };
    Some(reply)
}

/// A stored UTC time in the box's local time (`4 Dec 2026, 19:51`), or the text as stored when
/// it does not parse.
pub fn local_time(utc: &str) -> String {
    match crate::clock::parse_utc(utc) {
        Some(t) => t
            .with_timezone(&chrono::Local)
            .format("%-d %b %Y, %H:%M")
            .to_string(),
        None => utc.to_string(),
    }
}

/// What the DHIS2 connection page shows.
#[derive(Serialize, Default)]
struct Dhis2Page {
    dhis2_url: String,
    username: String,
    programme_uid: String,
    programme_name: Option<String>,
    secret_stored: bool,
    last_test: Option<String>,
    updated_at: Option<String>,
    programs: Vec<crate::store::programs::KnownProgram>,
    saved: bool,
    error: Option<String>,
    test: Option<ConnectionReport>,
}

fn dhis2_context(ctx: &Ctx) -> anyhow::Result<Dhis2Page> {
    let mut page = Dhis2Page {
        programs: ctx.store.known_programs()?,
        ..Default::default()
    };
    if let Some(v) = crate::link::config_view(&ctx.store)? {
        page.dhis2_url = v.dhis2_url;
        page.username = v.username.unwrap_or_default();
        page.programme_uid = v.programme_uid.unwrap_or_default();
        page.programme_name = v.programme_name;
        page.secret_stored = v.secret_stored;
        page.last_test = v.last_test_at.map(|at| {
            let status = v.last_test_status.unwrap_or_default().replace('_', " ");
            format!("{status}, {}", local_time(&at))
        });
        page.updated_at = Some(local_time(&v.updated_at));
    }
    Ok(page)
}

fn show_dhis2(ctx: &Ctx, call: &Call, status: u16, page: Dhis2Page) -> Reply {
    render(
        ctx,
        status,
        "admin_dhis2.html",
        minijinja::context! { staff => call.staff, csrf => call.csrf_token(), page => page },
    )
}

/// `GET /admin/dhis2`: the connection form (the password field always empty).
pub fn dhis2_page(ctx: &Ctx, call: &mut Call) -> Reply {
    match dhis2_context(ctx) {
        Ok(mut page) => {
            page.saved = call.param("saved").is_some();
            show_dhis2(ctx, call, 200, page)
        }
        Err(e) => internal_error("reading the DHIS2 settings", &e),
    }
}

/// `POST /admin/dhis2` (form: dhis2_url, username, password, programme_uid): saves, then back
/// to the form; a refusal shows the form again with the reason (and without the password).
pub fn dhis2_save(ctx: &Ctx, call: &mut Call) -> Reply {
    let form = match super::guard::checked_form(call, MAX_FORM_BODY) {
        Ok(f) => f,
        Err(r) => return r,
    };
    let field = |name: &str| super::http::param(&form, name).map(str::to_string);
    let settings = Dhis2Settings {
        dhis2_url: field("dhis2_url").unwrap_or_default(),
        username: field("username"),
        password: field("password"),
        personal_access_token: None,
        programme_uid: field("programme_uid"),
    };
    match crate::link::save_settings(&ctx.store, &call.actor(), &settings) {
        Ok(_) => Reply::redirect("/admin/dhis2?saved=1"),
        Err(e) => match dhis2_context(ctx) {
            Ok(mut page) => {
                page.dhis2_url = settings.dhis2_url;
                page.username = settings.username.unwrap_or_default();
                page.programme_uid = settings.programme_uid.unwrap_or_default();
                page.error = Some(format!("{e:#}"));
                show_dhis2(ctx, call, 400, page)
            }
            Err(e) => internal_error("reading the DHIS2 settings", &e),
        },
    }
}

/// `POST /admin/dhis2/test`: tests the stored connection and shows the form with what DHIS2
/// shows the box (version, programmes, org units) or the error in plain words.
pub fn dhis2_test(ctx: &Ctx, call: &mut Call) -> Reply {
    if let Err(r) = super::guard::checked_form(call, MAX_FORM_BODY) {
        return r;
    }
    let report = match crate::link::test_stored_connection(&ctx.store) {
        Ok(r) => r,
        Err(e) => return internal_error("testing the DHIS2 connection", &e),
    };
    match dhis2_context(ctx) {
        Ok(mut page) => {
            page.test = Some(report);
            show_dhis2(ctx, call, 200, page)
        }
        Err(e) => internal_error("reading the DHIS2 settings", &e),
    }
}

/// One schedule as the schedule page lists it.
#[derive(Serialize)]
struct ScheduleRow {
    program: String,
    every: String,
    next: String,
    auto_generate_cards: bool,
}

/// `GET /admin/sync-schedule`: the program, the interval (off or 10/15/30/60/180 minutes) and
/// whether cards are made after each sync; the current schedules with their next run.
pub fn schedule_page(ctx: &Ctx, call: &mut Call) -> Reply {
    schedule_view(ctx, call, 200, None)
}

fn schedule_view(ctx: &Ctx, call: &Call, status: u16, error: Option<String>) -> Reply {
    let build = || -> anyhow::Result<minijinja::Value> {
        let programs = ctx.store.known_programs()?;
        let name = |uid: &str| {
            programs
                .iter()
                .find(|p| p.uid == uid)
                .map(|p| p.name.clone())
                .unwrap_or_else(|| uid.to_string())
        };
        let schedules = ctx.store.sync_schedules()?;
        let chosen = crate::jobs::schedule_program(&ctx.store, None).ok();
        let current = chosen
            .as_ref()
            .and_then(|c| schedules.iter().find(|s| &s.program_uid == c));
        let selected = match current {
            Some(s) if s.enabled => s.interval_minutes.to_string(),
            Some(_) => "off".to_string(),
            None => "off".to_string(),
        };
        let rows: Vec<ScheduleRow> = schedules
            .iter()
            .map(|s| ScheduleRow {
                program: name(&s.program_uid),
                every: if s.enabled {
                    format!("every {} minutes", s.interval_minutes)
                } else {
                    "off".to_string()
                },
                next: match (&s.next_sync_at, s.enabled) {
                    (Some(n), true) => local_time(n),
                    _ => "-".to_string(),
                },
                auto_generate_cards: s.auto_generate_cards,
            })
            .collect();
        Ok(minijinja::context! {
            programs => programs, chosen => chosen, selected => selected,
            auto_cards => current.map(|c| c.auto_generate_cards).unwrap_or(false),
            intervals => crate::jobs::INTERVALS, rows => rows,
            saved => call.param("saved").is_some(), error => error,
        })
    };
    match build() {
        Ok(page) => render(
            ctx,
            status,
            "admin_schedule.html",
            minijinja::context! { staff => call.staff, csrf => call.csrf_token(), page => page },
        ),
        Err(e) => internal_error("reading the sync schedules", &e),
    }
}

/// `POST /admin/sync-schedule` (form: programme_uid, interval = off|10|15|30|60|180,
/// auto_generate_cards): applies it as `POST /dhis2/sync-schedule` does.
pub fn schedule_save(ctx: &Ctx, call: &mut Call) -> Reply {
    let form = match super::guard::checked_form(call, MAX_FORM_BODY) {
        Ok(f) => f,
        Err(r) => return r,
    };
    let field = |name: &str| super::http::param(&form, name).map(str::to_string);
    let interval = field("interval").unwrap_or_default();
    let (enabled, minutes) = match interval.as_str() {
        "off" => (false, None),
        n => match n.parse::<u32>() {
            Ok(m) => (true, Some(m)),
            Err(_) => {
                return schedule_view(ctx, call, 400, Some("Choose how often to sync.".into()))
            }
        },
    };
    let request = crate::jobs::ScheduleRequest {
        programme_uid: field("programme_uid").filter(|p| !p.is_empty()),
        interval_minutes: minutes,
        enabled: Some(enabled),
        auto_generate_cards: Some(field("auto_generate_cards").is_some()),
    };
    match crate::jobs::apply_schedule(&ctx.store, &call.actor(), &request) {
        Ok(_) => Reply::redirect("/admin/sync-schedule?saved=1"),
        Err(e) => schedule_view(ctx, call, 400, Some(format!("{e:#}"))),
    }
}

/// One run as the history page shows it.
#[derive(Serialize)]
struct HistoryRow {
    #[serde(flatten)]
    run: crate::sync::history::RunSummary,
    started: String,
    finished: Option<String>,
}

/// `GET /admin/sync-history`: the latest runs with status, counts, partial reasons and errors
/// in plain words, in local time.
pub fn history_page(ctx: &Ctx, call: &mut Call) -> Reply {
    let runs = match crate::sync::history::history(&ctx.store, HISTORY_RUNS) {
        Ok(r) => r,
        Err(e) => return internal_error("reading the sync history", &e),
    };
    let rows: Vec<HistoryRow> = runs
        .into_iter()
        .map(|run| HistoryRow {
            started: local_time(&run.started_at),
            finished: run.finished_at.as_deref().map(local_time),
            run,
        })
        .collect();
    render(
        ctx,
        200,
        "admin_history.html",
        minijinja::context! { staff => call.staff, csrf => call.csrf_token(), runs => rows },
    )
}
