//! HTML pages: login / logout, the beneficiaries list with search and pagination, one
//! beneficiary's card with template picker and print, and the error page.
use super::auth;
use super::http::{self, Reply};
use super::{internal_error, Call, Ctx};
use crate::record::CARD_FIELDS;
use crate::store::now_utc;
use serde::Serialize;

/// Largest login form accepted (username, PIN, next): anything bigger is not a login.
const MAX_LOGIN_BODY: usize = 4 * 1024;
/// Rows per page of the beneficiaries list.
pub const PAGE_SIZE: u32 = 25;

/// Renders a template with `context`; a template error is a 500 (and a bug).
pub fn render<S: Serialize>(ctx: &Ctx, status: u16, name: &str, context: S) -> Reply {
    let result = ctx
        .shared
        .templates
        .get_template(name)
        .and_then(|t| t.render(context));
    match result {
        Ok(html) => Reply::html(status, html),
        Err(e) => internal_error(&format!("rendering {name}"), &anyhow::Error::new(e)),
    }
}

/// The error page (for a logged-in staff member it shows the header and status line).
pub fn error_page(ctx: &Ctx, call: &Call, status: u16, title: &str, message: &str) -> Reply {
    render(
        ctx,
        status,
        "error.html",
        minijinja::context! { staff => call.staff, title => title, message => message },
    )
}

/// `GET /login`.
pub fn login_form(ctx: &Ctx, call: &mut Call) -> Reply {
    if call.staff.is_some() {
        return Reply::redirect(safe_next(call.param("next")));
    }
    let next = call.param("next").unwrap_or("").to_string();
    login_page(ctx, 200, &next, "", None)
}

fn login_page(ctx: &Ctx, status: u16, next: &str, username: &str, error: Option<&str>) -> Reply {
    let no_staff = ctx.store.count("staff").map(|n| n == 0).unwrap_or(false);
    render(
        ctx,
        status,
        "login.html",
        minijinja::context! { next => next, username => username, error => error, no_staff => no_staff },
    )
}

/// `POST /login` (form: username, pin, next): checks the PIN, opens a session, sets the cookie.
pub fn login_submit(ctx: &Ctx, call: &mut Call) -> Reply {
    if !same_origin(call) {
        return Reply::text(403, "cross-site form posts are refused");
    }
    let body = match http::read_body(call.request, MAX_LOGIN_BODY) {
        Ok(b) => b,
        Err(http::BodyError::TooLarge) => return Reply::text(413, "request body too large"),
        Err(http::BodyError::Io) => return Reply::text(400, "could not read the request body"),
    };
    let form = http::parse_urlencoded(&String::from_utf8_lossy(&body));
    let username = http::param(&form, "username")
        .unwrap_or("")
        .trim()
        .to_string();
    let pin = http::param(&form, "pin").unwrap_or("");
    let next = http::param(&form, "next").unwrap_or("").to_string();
    let client = call
        .request
        .remote_addr()
        .map(|a| a.ip().to_string())
        .unwrap_or_default();
    let (user_key, client_key) = (format!("user:{username}"), format!("ip:{client}"));
    let shown_name: String = username.chars().take(64).collect();
    if ctx.shared.throttle.is_locked(&user_key) || ctx.shared.throttle.is_locked(&client_key) {
        let _ = ctx.store.audit(
            &client,
            "staff.login_throttled",
            Some(&format!("staff:{shown_name}")),
            None,
            None,
        );
        let msg = "Too many wrong attempts. Wait 15 minutes and try again.";
        return login_page(ctx, 429, &next, &shown_name, Some(msg));
    }
    let stored = match ctx.store.staff_pin_hash(&username) {
        Ok(h) => h,
        Err(e) => return internal_error("reading staff", &e),
    };
    // Verify against a decoy when the name is unknown so both failures cost the same time.
    let ok = match &stored {
        Some(hash) => auth::verify_pin(pin, hash),
        None => {
            auth::verify_pin(pin, &auth::decoy_hash());
            false
        }
    };
    if !ok {
        ctx.shared.throttle.fail(&user_key);
        ctx.shared.throttle.fail(&client_key);
        let _ = ctx.store.audit(
            &client,
            "staff.login_failed",
            Some(&format!("staff:{shown_name}")),
            None,
            None,
        );
        return login_page(ctx, 401, &next, &shown_name, Some("Wrong username or PIN."));
    }
    ctx.shared.throttle.clear(&user_key);
    ctx.shared.throttle.clear(&client_key);
    let token = match auth::new_session_token() {
        Ok(t) => t,
        Err(e) => return internal_error("creating a session", &e),
    };
    let expires = (chrono::Utc::now() + auth::SESSION_TTL)
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    let saved = ctx
        .store
        .purge_expired_sessions(&now_utc())
        .and_then(|_| {
            ctx.store
                .create_session(&auth::token_hash(&token), &username, &expires)
        })
        .and_then(|_| {
            ctx.store.audit(
                &username,
                "staff.login",
                Some(&format!("staff:{username}")),
                None,
                Some(&client),
            )
        });
    if let Err(e) = saved {
        return internal_error("saving the session", &e);
    }
    Reply::redirect(safe_next(Some(&next))).with_header("Set-Cookie", &auth::session_cookie(&token))
}

/// `POST /logout`: ends the session and clears the cookie.
pub fn logout(ctx: &Ctx, call: &mut Call) -> Reply {
    if !same_origin(call) {
        return Reply::text(403, "cross-site form posts are refused");
    }
    if let Some(token) = super::session_token(call.request) {
        let hash = auth::token_hash(token);
        if let Ok(true) = ctx.store.delete_session(&hash) {
            let actor = call
                .staff
                .as_ref()
                .map(|s| s.username.as_str())
                .unwrap_or("unknown");
            let _ = ctx.store.audit(
                actor,
                "staff.logout",
                Some(&format!("staff:{actor}")),
                None,
                None,
            );
        }
    }
    Reply::redirect("/login").with_header("Set-Cookie", &auth::clear_session_cookie())
}

/// `POST /sync-now`: starts a sync of every mapped program on a background thread (with its own
/// database connection, so the page stays responsive) and returns to the list. Audited.
pub fn sync_now(ctx: &Ctx, call: &mut Call) -> Reply {
    if !same_origin(call) {
        return Reply::text(403, "cross-site form posts are refused");
    }
    let actor = call
        .staff
        .as_ref()
        .map(|s| s.username.clone())
        .unwrap_or_default();
    if let Err(e) = ctx.store.audit(&actor, "sync.requested", None, None, None) {
        return internal_error("auditing the sync request", &e);
    }
    let db = ctx.store.path().to_path_buf();
    let started = std::thread::Builder::new()
        .name("kadi-sync-now".into())
        .spawn(move || {
            let run = || -> anyhow::Result<()> {
                let store = crate::store::Store::open(&db)?;
                for program in store.mapped_programs()? {
                    let opts = crate::sync::SyncOptions {
                        actor: actor.clone(),
                        ..Default::default()
                    };
                    crate::sync::run(&store, &program, &opts)?;
                }
                Ok(())
            };
            if let Err(e) = run() {
                eprintln!("kadi serve: sync now failed: {e:#}");
            }
        });
    if let Err(e) = started {
        return internal_error("starting the sync", &anyhow::Error::new(e));
    }
    Reply::redirect("/beneficiaries?sync=started")
}

/// `GET /beneficiaries?q=&page=`.
pub fn beneficiaries(ctx: &Ctx, call: &mut Call) -> Reply {
    let q = call
        .param("q")
        .unwrap_or("")
        .chars()
        .take(200)
        .collect::<String>();
    let page_no = call
        .param("page")
        .and_then(|p| p.parse::<u32>().ok())
        .unwrap_or(1);
    let (result, status) = match (
        ctx.store.search_beneficiaries(&q, page_no, PAGE_SIZE),
        ctx.store.web_status(),
    ) {
        (Ok(r), Ok(s)) => (r, s),
        (Err(e), _) | (_, Err(e)) => return internal_error("listing beneficiaries", &e),
    };
    render(
        ctx,
        200,
        "beneficiaries.html",
        minijinja::context! {
            staff => call.staff, status => status, q => q, result => result,
            sync_started => call.param("sync") == Some("started"),
        },
    )
}

/// A label and value of one card field, for the card page.
#[derive(Serialize)]
struct FieldLine {
    label: String,
    value: String,
}

/// `GET /beneficiaries/{enrollment_uid}?template=`.
pub fn card(ctx: &Ctx, call: &mut Call) -> Reply {
    let enrollment_uid = call.path.trim_start_matches("/beneficiaries/").to_string();
    let record = match ctx.store.card_record(&enrollment_uid) {
        Ok(Some(r)) => r,
        Ok(None) => {
            return error_page(
                ctx,
                call,
                404,
                "Not found",
                "No beneficiary has this enrollment.",
            )
        }
        Err(e) => return internal_error("reading a card record", &e),
    };
    let templates = super::api::card_templates();
    let template = call
        .param("template")
        .filter(|t| templates.iter().any(|k| k == t))
        .map(str::to_string)
        .unwrap_or_else(|| super::api::DEFAULT_TEMPLATE.to_string());
    let fields: Vec<FieldLine> = CARD_FIELDS
        .iter()
        .filter_map(|f| {
            let value = record.record.fields.get(f)?;
            Some(FieldLine {
                label: field_label(f),
                value: value.to_string(),
            })
        })
        .collect();
    let status = ctx.store.web_status().ok();
    let card = minijinja::context! {
        enrollment_uid => record.record.enrollment_uid,
        full_name => record.record.fields.full_name(),
        mpi_id => record.mpi_id,
    };
    render(
        ctx,
        200,
        "card.html",
        minijinja::context! {
            staff => call.staff, status => status, card => card, fields => fields,
            templates => templates, template => template,
        },
    )
}

/// `first_name` -> `First name`.
fn field_label(field: &str) -> String {
    let spaced = field.replace('_', " ").replace(" id", " ID");
    let mut chars = spaced.chars();
    match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Where to go after login: a local path only (never `//host` or a full URL: no open redirect).
fn safe_next(next: Option<&str>) -> &str {
    match next {
        Some(n)
            if n.starts_with('/')
                && !n.starts_with("//")
                && !n.contains('\\')
                && !n.starts_with("/login") =>
        {
            n
        }
        _ => "/beneficiaries",
    }
}

/// False when the browser says the form came from another site (`Origin` not this host).
fn same_origin(call: &Call) -> bool {
    let Some(origin) = http::header(call.request, "Origin") else {
        return true;
    };
    let host = http::header(call.request, "Host").unwrap_or("");
    origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"))
        == Some(host)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_paths_are_followed_after_login() {
        assert_eq!(
            safe_next(Some("/beneficiaries/abc?template=pulse")),
            "/beneficiaries/abc?template=pulse"
        );
        assert_eq!(safe_next(Some("//evil.example/")), "/beneficiaries");
        assert_eq!(safe_next(Some("https://evil.example/")), "/beneficiaries");
        assert_eq!(safe_next(Some("/\\evil")), "/beneficiaries");
        assert_eq!(safe_next(None), "/beneficiaries");
        assert_eq!(field_label("date_of_birth"), "Date of birth");
    }
}
