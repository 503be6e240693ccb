//! Admin pages of the staff desk: staff accounts (list, add with a role, reset a PIN, remove) and
//! the audit log viewer (newest first, filtered by staff member and action, a page at a time, in
//! local time). Admins only (`web::admin_page`); every change goes through `web::staff`, which
//! audits it with the admin who made it.
use super::http::{self, Reply};
use super::pages::render;
use super::{internal_error, Call, Ctx};
use crate::actor::Actor;
use crate::store::web_data::StaffRole;
use serde::Serialize;

/// The largest staff form accepted.
const MAX_STAFF_BODY: usize = 4 * 1024;
/// Audit rows per page.
const AUDIT_PAGE_SIZE: u32 = 50;
/// The longest details text shown for one audit row.
const MAX_DETAILS_CHARS: usize = 300;

/// The staff page, with a message after a change or an error about the form.
fn staff_screen(ctx: &Ctx, call: &Call, status: u16, error: Option<&str>) -> Reply {
    let staff = match ctx.store.staff_list() {
        Ok(s) => s,
        Err(e) => return internal_error("listing staff", &e),
    };
    render(
        ctx,
        status,
        "staff.html",
        minijinja::context! {
            staff => call.staff, csrf => call.csrf_token(), accounts => staff,
            done => call.param("done"), who => call.param("who"), error => error,
        },
    )
}

/// `GET /admin/staff`: the accounts and the forms.
pub fn page(ctx: &Ctx, call: &mut Call) -> Reply {
    staff_screen(ctx, call, 200, None)
}

fn admin_actor(call: &Call) -> Actor {
    Actor::Staff(
        call.staff
            .as_ref()
            .map(|s| s.username.clone())
            .unwrap_or_default(),
    )
}

/// `POST /admin/staff/add` (`username`, `display_name`, `role` = `staff` | `admin`, `pin`, `csrf`).
pub fn add(ctx: &Ctx, call: &mut Call) -> Reply {
    let form = match super::guard::checked_form(call, MAX_STAFF_BODY) {
        Ok(f) => f,
        Err(refusal) => return refusal,
    };
    let field = |n: &str| http::param(&form, n).unwrap_or("").trim().to_string();
    let username = field("username");
    let display = field("display_name");
    let admin = match field("role").as_str() {
        "admin" => true,
        "staff" => false,
        _ => return staff_screen(ctx, call, 400, Some("Choose a role: staff or admin.")),
    };
    match ctx.store.staff(&username) {
        Ok(Some(_)) => {
            let msg = format!("{username} already has an account: reset its PIN below instead.");
            return staff_screen(ctx, call, 409, Some(&msg));
        }
        Ok(None) => {}
        Err(e) => return internal_error("reading staff", &e),
    }
    let display = (!display.is_empty()).then_some(display.as_str());
    match super::staff::add_staff(
        &ctx.store,
        &admin_actor(call),
        &username,
        &field("pin"),
        display,
        admin,
    ) {
        Ok(()) => Reply::redirect(&format!(
            "/admin/staff?done=added&who={}",
            http::percent_encode(&username)
        )),
        Err(e) => staff_screen(ctx, call, 400, Some(&format!("Not added: {e:#}"))),
    }
}

/// `POST /admin/staff/pin` (`username`, `pin`, `csrf`): a new PIN (role and name kept); the
/// account's sessions end.
pub fn reset_pin(ctx: &Ctx, call: &mut Call) -> Reply {
    let form = match super::guard::checked_form(call, MAX_STAFF_BODY) {
        Ok(f) => f,
        Err(refusal) => return refusal,
    };
    let username = http::param(&form, "username").unwrap_or("").to_string();
    let pin = http::param(&form, "pin").unwrap_or("").to_string();
    let account = match ctx.store.staff(&username) {
        Ok(Some(a)) => a,
        Ok(None) => return staff_screen(ctx, call, 404, Some("There is no such account.")),
        Err(e) => return internal_error("reading staff", &e),
    };
    let admin = account.role == StaffRole::Admin;
    match super::staff::add_staff(
        &ctx.store,
        &admin_actor(call),
        &username,
        &pin,
        account.display_name.as_deref(),
        admin,
    ) {
        Ok(()) => Reply::redirect(&format!(
            "/admin/staff?done=pin&who={}",
            http::percent_encode(&username)
        )),
        Err(e) => staff_screen(ctx, call, 400, Some(&format!("PIN not changed: {e:#}"))),
    }
}

/// `POST /admin/staff/remove` (`username`, `csrf`): removes an account (never your own: another
/// admin must, so a box is never left without one by mistake).
pub fn remove(ctx: &Ctx, call: &mut Call) -> Reply {
    let form = match super::guard::checked_form(call, MAX_STAFF_BODY) {
        Ok(f) => f,
        Err(refusal) => return refusal,
    };
    let username = http::param(&form, "username").unwrap_or("").to_string();
    if call.staff.as_ref().is_some_and(|s| s.username == username) {
        return staff_screen(
            ctx,
            call,
            409,
            Some("You cannot remove your own account; ask another admin."),
        );
    }
    match super::staff::remove_staff(&ctx.store, &admin_actor(call), &username) {
        Ok(true) => Reply::redirect(&format!(
            "/admin/staff?done=removed&who={}",
            http::percent_encode(&username)
        )),
        Ok(false) => staff_screen(ctx, call, 404, Some("There is no such account.")),
        Err(e) => internal_error("removing staff", &e),
    }
}

/// One audit line as the viewer shows it.
#[derive(Serialize)]
struct AuditLine {
    at: String,
    actor: String,
    action: String,
    words: &'static str,
    entity: String,
    details: String,
}

/// An action in plain words (the code is shown too: staff search the log by it).
fn action_words(action: &str) -> &'static str {
    match action {
        "staff.login" => "logged in",
        "staff.logout" => "logged out",
        "staff.login_failed" => "wrong PIN",
        "staff.login_throttled" => "login refused (too many wrong PINs)",
        "staff.added" => "added a staff account",
        "staff.pin_changed" => "set a new PIN",
        "staff.removed" => "removed a staff account",
        "staff.unlocked" => "unlocked a login",
        "staff.session_ended" => "session ended",
        "sync.requested" => "asked for a sync",
        "mpi.review.decide" => "answered a review",
        "mpi.review.not_sure" => "not sure about a review",
        "mpi.merge" => "merged two identities",
        "mpi.unmerge" => "undid a merge",
        "mpi.split" => "split records out of an identity",
        "mpi.link" => "linked a record",
        "setting.set" => "changed a setting",
        _ => "",
    }
}

/// `GET /admin/audit?actor=&action=&page=`: the audit trail, newest first.
pub fn audit(ctx: &Ctx, call: &mut Call) -> Reply {
    let actor = call
        .param("actor")
        .filter(|a| !a.is_empty())
        .map(str::to_string);
    let action = call
        .param("action")
        .filter(|a| !a.is_empty())
        .map(str::to_string);
    let page_no = call
        .param("page")
        .and_then(|p| p.parse::<u32>().ok())
        .unwrap_or(1);
    let (found, (actors, actions)) = match (
        ctx.store.audit_page(
            actor.as_deref(),
            action.as_deref(),
            page_no,
            AUDIT_PAGE_SIZE,
        ),
        ctx.store.audit_choices(),
    ) {
        (Ok(f), Ok(c)) => (f, c),
        (Err(e), _) | (_, Err(e)) => return internal_error("reading the audit log", &e),
    };
    let lines: Vec<AuditLine> = found
        .rows
        .into_iter()
        .map(|r| {
            let details = r
                .after_json
                .or(r.before_json)
                .unwrap_or_default()
                .chars()
                .take(MAX_DETAILS_CHARS)
                .collect();
            AuditLine {
                at: super::when::local(&r.at, super::when::offset()),
                words: action_words(&r.action),
                actor: r.actor,
                action: r.action,
                entity: r.entity.unwrap_or_default(),
                details,
            }
        })
        .collect();
    let filter_query = format!(
        "actor={}&action={}",
        http::percent_encode(actor.as_deref().unwrap_or("")),
        http::percent_encode(action.as_deref().unwrap_or(""))
    );
    render(
        ctx,
        200,
        "audit.html",
        minijinja::context! {
            staff => call.staff, csrf => call.csrf_token(), lines => lines,
            page => found.page, pages => found.pages, total => found.total,
            actor => actor, action => action, actors => actors, actions => actions,
            filter_query => filter_query, offset => super::when::offset().to_string(),
        },
    )
}
