//! Printing (part s10-m): A4 sheets of a selection as a background task with live progress, the
//! Oomus-shaped `POST /dhis2/generate-cards` and `GET /dhis2/tasks/{id}` that share its code path,
//! and the files a finished sheets task offers for download.
//!
//! Every generation goes through [`crate::cards::queue`] (checks, estimate, audited task) and is
//! rendered by the card task worker of `kadi serve` ([`crate::jobs::CardTaskWorker`]) with the
//! code `kadi cards generate` runs, so page, API and CLI cannot disagree on which cards a filter
//! selects (the `org_unit` filter takes the org unit's descendants) or how they are named.
//!
//! The task page refreshes itself with `<meta http-equiv=refresh>` (no JavaScript needed);
//! `kadi.js` only makes the bar move between refreshes by reading `GET /dhis2/tasks/{id}`.
use super::front::Method;
use super::http::{self, Reply};
use super::pages::{error_page, render};
use super::{api, internal_error, page, Call, Ctx};
use crate::cards::generate::{print_dir, print_files, task_selection_counts};
use crate::cards::{BadRequest, EnrollmentFilter, GenerateRequest, TaskView};
use crate::store::card_data::{SelectionCounts, TaskStatus};
use serde::Serialize;

/// The largest generate-cards body or sheets form accepted (a search of ~5,000 UIDs): the front's
/// own limit, since it refuses anything larger before a handler runs (a larger value here would
/// only read as a promise the server does not keep).
const MAX_BODY: usize = super::http::MAX_BODY_BYTES;
/// Most people a "print this search" selection takes (pages of the search, 200 a page).
const MAX_SEARCH_SELECTION: u32 = 5_000;

/// The routes of this part; `None` for a path that is not theirs.
pub fn route(ctx: &Ctx, call: &mut Call, method: &Method) -> Option<Reply> {
    let path = call.path.clone();
    let reply = match (method, path.as_str()) {
        (Method::Post, "/dhis2/generate-cards") => super::api(ctx, call, generate_cards),
        (_, "/dhis2/generate-cards") => Reply::json_error(405, "method not allowed"),
        (Method::Get, p) if p.starts_with("/dhis2/tasks/") => super::api(ctx, call, task_json),
        (_, p) if p.starts_with("/dhis2/tasks/") => Reply::json_error(405, "method not allowed"),
        (Method::Get, "/print") => page(ctx, call, sheets_form),
        (Method::Post, "/print/sheets") => page(ctx, call, sheets_submit),
        (_, "/print" | "/print/sheets") => Reply::text(405, "method not allowed"),
        (Method::Get, p) if p.starts_with("/print/tasks/") => page(ctx, call, task_route),
        (_, p) if p.starts_with("/print/tasks/") => Reply::text(405, "method not allowed"),
        _ => return None,
    };
    Some(reply)
}

/// The JSON body of a state-changing API call: origin checks, size, and the session's CSRF token
/// in `X-CSRF-Token` (a call with `Authorization: Bearer` carries no cookie a forged form could
/// ride on, so it needs none).
fn json_body(call: &mut Call) -> Result<Vec<u8>, Reply> {
    if http::header(call.request, "Authorization").is_some_and(|a| a.starts_with("Bearer ")) {
        if let Some(why) = super::guard::cross_site(call) {
            return Err(Reply::json_error(403, why));
        }
    } else {
        super::guard::checked_form(call, MAX_BODY)?;
    }
    http::read_body(call.request, MAX_BODY)
        .map_err(|_| Reply::json_error(413, "request body too large"))
}

/// Answers a failed queueing: the caller's mistake as 400 (422 for an unknown program, which
/// is well-formed), anything else as 500.
fn queue_error(e: &anyhow::Error) -> Reply {
    match e.downcast_ref::<BadRequest>() {
        Some(b) if b.0.starts_with("unknown program") => Reply::json_error(422, &b.0),
        Some(b) => Reply::json_error(400, &b.0),
        None => internal_error("queueing the card generation", e),
    }
}

/// `POST /dhis2/generate-cards` (the body of `kadi cards generate --body`): 202 with `task_id`
/// and `estimated_cards`; the card task worker renders it.
fn generate_cards(ctx: &Ctx, call: &mut Call) -> Reply {
    let body = match json_body(call) {
        Ok(b) => b,
        Err(refusal) => return refusal,
    };
    let req: GenerateRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            return Reply::json_error(400, &format!("not a generate-cards body: {e}"));
        }
    };
    if req.out_dir.is_some() {
        // A path on the box is the operator's choice (CLI), never a network caller's.
        return Reply::json_error(400, "out_dir cannot be set through the API");
    }
    match crate::cards::queue(&ctx.store, &call.actor(), &req) {
        Ok(q) => {
            Reply::json(202, &q).with_header("Location", &format!("/dhis2/tasks/{}", q.task_id))
        }
        Err(e) => queue_error(&e),
    }
}

/// `GET /dhis2/tasks/{id}`: the task as `kadi cards generate` reports progress, with the MPI
/// counts of its selection and the files of a finished sheets task.
#[derive(Serialize)]
struct TaskReply {
    #[serde(flatten)]
    task: TaskView,
    created_at: String,
    /// MPI counts of the task's selection now.
    mpi: Option<SelectionCounts>,
    /// Download paths of a finished sheets task (sheets, numbered cards).
    files: Vec<String>,
}

fn task_reply(ctx: &Ctx, id: &str) -> anyhow::Result<Option<TaskReply>> {
    let Some(row) = ctx.store.task(id)? else {
        return Ok(None);
    };
    let files = print_files(&ctx.store, &row)?
        .into_iter()
        .filter(|f| f.ends_with(".png") || f.ends_with(".pdf"))
        .map(|f| format!("/print/tasks/{id}/files/{}", http::percent_encode(&f)))
        .collect();
    Ok(Some(TaskReply {
        task: TaskView::from_row(&row),
        created_at: row.created_at.clone(),
        mpi: task_selection_counts(&ctx.store, &row)?,
        files,
    }))
}

fn task_json(ctx: &Ctx, call: &mut Call) -> Reply {
    let id = call.path.trim_start_matches("/dhis2/tasks/").to_string();
    match task_reply(ctx, &id) {
        Ok(Some(t)) => Reply::json(200, &t),
        Ok(None) => Reply::json_error(404, "no such task"),
        Err(e) => internal_error("reading a task", &e),
    }
}

/// One org unit of the selection's list: its name, indented by level.
#[derive(Serialize)]
struct OrgUnitChoice {
    uid: String,
    label: String,
}

/// One program of the form's list.
#[derive(Serialize)]
struct ProgramChoice {
    uid: String,
    label: String,
}

/// `GET /print?q=`: the sheets form (program, who: search / health centre / enrollment dates,
/// template, resolution).
fn sheets_form(ctx: &Ctx, call: &mut Call) -> Reply {
    sheets_page(ctx, call, 200, None)
}

fn sheets_page(ctx: &Ctx, call: &Call, status: u16, error: Option<&str>) -> Reply {
    let (programs, units) = match (ctx.store.card_programs(), ctx.store.org_units_all()) {
        (Ok(p), Ok(u)) => (p, u),
        (Err(e), _) | (_, Err(e)) => return internal_error("reading programs and org units", &e),
    };
    let programs: Vec<ProgramChoice> = programs
        .into_iter()
        .map(|(uid, name)| ProgramChoice {
            label: name.unwrap_or_else(|| uid.clone()),
            uid,
        })
        .collect();
    let mut units = units;
    units.sort_by(|a, b| a.path.cmp(&b.path));
    let units: Vec<OrgUnitChoice> = units
        .into_iter()
        .map(|u| OrgUnitChoice {
            label: format!(
                "{}{}",
                "\u{a0}\u{a0}".repeat(u.level.unwrap_or(1).saturating_sub(1) as usize),
                u.name
            ),
            uid: u.uid,
        })
        .collect();
    let status_line = ctx
        .store
        .status_counts()
        .ok()
        .map(super::api::WebStatus::from);
    render(
        ctx,
        status,
        "print.html",
        minijinja::context! {
            staff => call.staff, status => status_line, csrf => call.csrf_token(),
            programs => programs, units => units, templates => api::card_templates(),
            dpis => api::PREVIEW_DPIS, q => call.param("q").unwrap_or(""),
            org_unit => call.param("org_unit").unwrap_or(""), error => error,
        },
    )
}

/// The enrollments a search finds (the page's "print this search"), at most
/// [`MAX_SEARCH_SELECTION`].
fn search_selection(ctx: &Ctx, q: &str, program: &str) -> anyhow::Result<Vec<String>> {
    let mut uids = Vec::new();
    let mut page_no = 1;
    // The same reading of the query as the beneficiaries list (accents, order, phone, IDs).
    let query = super::find::query(ctx, q)?;
    loop {
        let found = ctx.store.search_beneficiaries(&query, page_no, 200)?;
        uids.extend(
            found
                .rows
                .into_iter()
                .filter(|r| r.program_uid == program)
                .map(|r| r.enrollment_uid),
        );
        if page_no >= found.pages || page_no * 200 >= MAX_SEARCH_SELECTION {
            return Ok(uids);
        }
        page_no += 1;
    }
}

/// The generate-cards request of the sheets form.
fn sheets_request(ctx: &Ctx, form: &[(String, String)]) -> anyhow::Result<GenerateRequest> {
    let field = |name: &str| {
        http::param(form, name)
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    };
    let program = field("program").unwrap_or_default();
    let mut req = GenerateRequest::new(&program);
    if let Some(t) = field("template") {
        req.template = t;
    }
    if let Some(d) = field("dpi") {
        req.dpi = d.parse().unwrap_or(0);
    }
    req.sheets = true;
    req.enrollment_filter = EnrollmentFilter {
        enrollment_date_from: field("from"),
        enrollment_date_to: field("to"),
        org_unit: field("org_unit"),
        enrollment_status: None,
        enrollment_uids: match field("q") {
            Some(q) => Some(search_selection(ctx, &q, &program)?),
            None => None,
        },
    };
    Ok(req)
}

/// `POST /print/sheets`: queues the sheets task and shows its page.
fn sheets_submit(ctx: &Ctx, call: &mut Call) -> Reply {
    let form = match super::guard::checked_form(call, MAX_BODY) {
        Ok(f) => f,
        Err(refusal) => return refusal,
    };
    let queued = sheets_request(ctx, &form)
        .and_then(|req| crate::cards::queue(&ctx.store, &call.actor(), &req));
    match queued {
        Ok(q) => Reply::redirect(&format!("/print/tasks/{}", q.task_id)),
        Err(e) => match e.downcast_ref::<BadRequest>() {
            Some(b) => sheets_page(ctx, call, 400, Some(&b.0)),
            None => internal_error("queueing the sheets", &e),
        },
    }
}

/// `/print/tasks/{id}` (the task page) and `/print/tasks/{id}/files/{name}` (a download).
fn task_route(ctx: &Ctx, call: &mut Call) -> Reply {
    let rest = call.path.trim_start_matches("/print/tasks/").to_string();
    match rest.split_once("/files/") {
        Some((id, name)) => task_file(ctx, call, id, name),
        None if rest.ends_with("/sheets") => {
            sheets_print_page(ctx, call, rest.trim_end_matches("/sheets"))
        }
        None => task_page(ctx, call, &rest),
    }
}

/// A stored time (UTC) in the box's local time zone, as staff read it: `4 Dec 2026, 17:40`.
pub fn local_time(utc: &str) -> String {
    match crate::clock::parse_utc(utc) {
        Some(t) => t
            .with_timezone(&chrono::Local)
            .format("%-d %b %Y, %H:%M")
            .to_string(),
        None => utc.to_string(),
    }
}

/// Seconds as staff read an ETA: `about 40 s`, `about 3 min`.
fn eta_words(seconds: f64) -> String {
    if seconds < 90.0 {
        format!("about {} s", seconds.ceil().max(1.0) as i64)
    } else {
        format!("about {} min", (seconds / 60.0).round() as i64)
    }
}

fn task_page(ctx: &Ctx, call: &Call, id: &str) -> Reply {
    let reply = match task_reply(ctx, id) {
        Ok(Some(t)) => t,
        Ok(None) => return error_page(ctx, call, 404, "Not found", "There is no such print task."),
        Err(e) => return internal_error("reading a task", &e),
    };
    let t = &reply.task;
    let running = matches!(t.status, TaskStatus::Pending | TaskStatus::Generating);
    let files: Vec<(String, String)> = reply
        .files
        .iter()
        .map(|url| {
            let name = http::percent_decode(url.rsplit('/').next().unwrap_or(""), false);
            (url.clone(), name)
        })
        .collect();
    let (sheets, cards): (Vec<_>, Vec<_>) = files
        .into_iter()
        .partition(|(_, n)| n.starts_with("sheet-") || n.ends_with(".pdf"));
    render(
        ctx,
        200,
        "print_task.html",
        minijinja::context! {
            staff => call.staff, csrf => call.csrf_token(), task => t, running => running,
            eta => t.eta_seconds.map(eta_words),
            started => t.started_at.as_deref().map(local_time),
            finished => t.finished_at.as_deref().map(local_time),
            created => local_time(&reply.created_at),
            mpi => reply.mpi, sheets => sheets, cards => cards,
        },
    )
}

/// The sheets of a finished task on one page, each at A4 size, for the browser's print.
fn sheets_print_page(ctx: &Ctx, call: &Call, id: &str) -> Reply {
    let reply = match task_reply(ctx, id) {
        Ok(Some(t)) => t,
        Ok(None) => return error_page(ctx, call, 404, "Not found", "There is no such print task."),
        Err(e) => return internal_error("reading a task", &e),
    };
    let sheets: Vec<&String> = reply
        .files
        .iter()
        .filter(|f| f.contains("/files/sheet-"))
        .collect();
    render(
        ctx,
        200,
        "print_sheets.html",
        minijinja::context! { task_id => id, sheets => sheets },
    )
}

/// One file of a finished sheets task: only names the task lists (no path is ever built from
/// what the request says).
fn task_file(ctx: &Ctx, call: &Call, id: &str, name: &str) -> Reply {
    let row = match ctx.store.task(id) {
        Ok(Some(r)) => r,
        Ok(None) => return error_page(ctx, call, 404, "Not found", "There is no such print task."),
        Err(e) => return internal_error("reading a task", &e),
    };
    let listed = match print_files(&ctx.store, &row) {
        Ok(l) => l,
        Err(e) => return internal_error("listing print files", &e),
    };
    let (Some(file), Some(dir)) = (
        listed
            .into_iter()
            .find(|f| f == name && (f.ends_with(".png") || f.ends_with(".pdf"))),
        print_dir(&ctx.store, &row),
    ) else {
        return error_page(ctx, call, 404, "Not found", "This task has no such file.");
    };
    match std::fs::read(dir.join(&file)) {
        Ok(bytes) => Reply::bytes(
            if file.ends_with(".pdf") {
                "application/pdf"
            } else {
                "image/png"
            },
            bytes,
        )
        .with_header(
            "Content-Disposition",
            &format!("inline; filename=\"{file}\""),
        ),
        Err(e) => internal_error("reading a print file", &anyhow::Error::new(e)),
    }
}
