//! The staff desk's routes (issue 16, part "find & review"): the beneficiaries list grouped by
//! identity, the print step that warns about a record pending review, the review queue with
//! merge and unmerge, and the admin pages for staff accounts and the audit log. One router so
//! `web::route` hooks the whole part with one line.
use super::front::Method;
use super::http::Reply;
use super::{admin_page, api, find, page, review, staff_admin, Call, Ctx};

/// Answers the desk's paths (its own 405s included); `None` for any other path.
pub fn route(ctx: &Ctx, call: &mut Call, method: &Method) -> Option<Reply> {
    let path = call.path.as_str();
    let reply = match (method, path) {
        (Method::Get, "/beneficiaries") => page(ctx, call, find::beneficiaries),
        (Method::Get, p) if p.starts_with("/beneficiaries/") && p.ends_with("/print") => {
            page(ctx, call, find::print_card)
        }
        (Method::Get, "/review") => page(ctx, call, review::page),
        (Method::Post, "/review/decide") => page(ctx, call, review::decide),
        (Method::Post, "/review/merge") => page(ctx, call, review::merge),
        (Method::Post, "/review/unmerge") => page(ctx, call, review::unmerge),
        (Method::Get, "/api/review") => api(ctx, call, review::api_list),
        (Method::Get, "/admin/staff") => admin_page(ctx, call, staff_admin::page),
        (Method::Post, "/admin/staff/add") => admin_page(ctx, call, staff_admin::add),
        (Method::Post, "/admin/staff/pin") => admin_page(ctx, call, staff_admin::reset_pin),
        (Method::Post, "/admin/staff/remove") => admin_page(ctx, call, staff_admin::remove),
        (Method::Get, "/admin/audit") => admin_page(ctx, call, staff_admin::audit),
        (
            _,
            "/beneficiaries"
            | "/review"
            | "/review/decide"
            | "/review/merge"
            | "/review/unmerge"
            | "/api/review"
            | "/admin/staff"
            | "/admin/staff/add"
            | "/admin/staff/pin"
            | "/admin/staff/remove"
            | "/admin/audit",
        ) => Reply::json_error(405, "method not allowed"),
        (_, p) if p.starts_with("/beneficiaries/") && p.ends_with("/print") => {
            Reply::json_error(405, "method not allowed")
        }
        _ => return None,
    };
    Some(reply)
}
