//! HTML pages: login / logout, the beneficiaries list with search and pagination, one
//! beneficiary's card with template picker and print, and the error page.
use super::api::WebStatus;
use super::auth;
use super::http::{self, Reply};
use super::{internal_error, Call, Ctx};
use crate::actor::Actor;
use crate::clock::format_utc;
use crate::record::CARD_FIELDS;
use crate::store::web_data::LoginGate;
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
        minijinja::context! {
            staff => call.staff, title => title, message => message, csrf => call.csrf_token(),
        },
    )
}

/// `GET /login`: the form, with a login token in a hidden field and in a cookie (double submit).
pub fn login_form(ctx: &Ctx, call: &mut Call) -> Reply {
    if call.staff.is_some() {
        return Reply::redirect(safe_next(call.param("next")));
    }
    let next = call.param("next").unwrap_or("").to_string();
    login_page(ctx, call, 200, &next, "", None)
}

/// The login page with a valid login token: the browser's own if it still has one (another tab
/// keeps working), else a new one set as cookie.
fn login_page(
    ctx: &Ctx,
    call: &Call,
    status: u16,
    next: &str,
    username: &str,
    error: Option<&str>,
) -> Reply {
    let no_staff = ctx.store.count("staff").map(|n| n == 0).unwrap_or(false);
    let current = login_cookie(call).filter(|t| ctx.shared.login_key.is_valid(t));
    let (token, fresh) = match current {
        Some(t) => (t.to_string(), false),
        None => match ctx.shared.login_key.new_token() {
            Ok(t) => (t, true),
            Err(e) => return internal_error("making a login token", &e),
        },
    };
    let reply = render(
        ctx,
        status,
        "login.html",
        minijinja::context! {
            next => next, username => username, error => error, no_staff => no_staff,
            csrf => token,
        },
    );
    if fresh {
        reply.with_header("Set-Cookie", &auth::login_cookie(&token))
    } else {
        reply
    }
}

/// The login token in the request's cookie.
fn login_cookie<'r>(call: &'r Call) -> Option<&'r str> {
    http::header(call.request, "Cookie").and_then(|c| auth::cookie_value(c, auth::LOGIN_COOKIE))
}

/// The client's address as the throttle keys it (IPv4-mapped IPv6 as plain IPv4).
fn client_address(call: &Call) -> String {
    call.request
        .remote_addr()
        .map(|a| a.ip().to_canonical().to_string())
        .unwrap_or_else(|| "unknown".to_string())
}

/// `POST /login` (form: username, pin, next, csrf): checks the origin and the login token, asks
/// the throttle (atomically, before the PIN is verified), checks the PIN, opens a session.
pub fn login_submit(ctx: &Ctx, call: &mut Call) -> Reply {
    if let Some(why) = super::guard::cross_site(call) {
        return Reply::text(403, why);
    }
    let form = match read_login_form(call) {
        Ok(f) => f,
        Err(refusal) => return refusal,
    };
    if !login_token_ok(ctx, call, &form.presented) {
        let msg = "This login form has expired. Please enter your PIN again.";
        return login_page(ctx, call, 403, &form.next, &form.username, Some(msg));
    }
    let client = client_address(call);
    let policy = auth::throttle_policy();
    let now = chrono::Utc::now();
    if let Err(refusal) = pass_throttle(ctx, call, &form, &client, now, &policy) {
        return refusal;
    }
    let ok = match pin_matches(ctx, &form) {
        Ok(ok) => ok,
        Err(e) => return internal_error("reading staff", &e),
    };
    if let Err(e) = ctx
        .store
        .settle_login_attempt(&form.username, &client, ok, &policy)
    {
        return internal_error("settling the login throttle", &e);
    }
    if !ok {
        // The actor of a failed login is the address it came from: no one is known yet.
        let _ = ctx.store.audit(
            &client,
            "staff.login_failed",
            Some(&format!("staff:{}", form.username)),
            None,
            None,
        );
        return login_page(
            ctx,
            call,
            401,
            &form.next,
            &form.username,
            Some("Wrong username or PIN."),
        );
    }
    let staff = Actor::Staff(form.username.clone());
    match open_session(ctx, &staff, &client, now) {
        Ok(token) => Reply::redirect(safe_next(Some(&form.next)))
            .with_header("Set-Cookie", &auth::session_cookie(&token)),
        Err(e) => internal_error("saving the session", &e),
    }
}

/// The fields of a submitted login form.
struct LoginForm {
    /// Trimmed and bounded: throttle keys and the shown name cannot grow a row or a page.
    username: String,
    pin: String,
    next: String,
    /// The login form's CSRF token as submitted.
    presented: String,
}

/// Reads the login form's body (bounded); the refusal to send when it cannot be read.
fn read_login_form(call: &mut Call) -> Result<LoginForm, Reply> {
    let body = match http::read_body(call.request, MAX_LOGIN_BODY) {
        Ok(b) => b,
        Err(http::BodyError::TooLarge) => return Err(Reply::text(413, "request body too large")),
        Err(http::BodyError::Io) => {
            return Err(Reply::text(400, "could not read the request body"))
        }
    };
    let form = http::parse_urlencoded(&String::from_utf8_lossy(&body));
    let field = |name: &str| http::param(&form, name).unwrap_or("").to_string();
    Ok(LoginForm {
        username: field("username").trim().chars().take(64).collect(),
        pin: field("pin"),
        next: field("next"),
        presented: field(super::guard::CSRF_FIELD),
    })
}

/// True when the form carries the token of the login cookie and the token is ours and fresh.
fn login_token_ok(ctx: &Ctx, call: &Call, presented: &str) -> bool {
    login_cookie(call).is_some_and(|cookie| {
        cookie == presented && !presented.is_empty() && ctx.shared.login_key.is_valid(presented)
    })
}

/// Counts the attempt in the throttle (before the PIN is checked); the page to send instead
/// when this username or address is locked.
fn pass_throttle(
    ctx: &Ctx,
    call: &Call,
    form: &LoginForm,
    client: &str,
    now: chrono::DateTime<chrono::Utc>,
    policy: &crate::store::web_data::ThrottlePolicy,
) -> Result<(), Reply> {
    match ctx
        .store
        .reserve_login_attempt(&form.username, client, now, policy)
    {
        Ok(LoginGate::Allowed) => Ok(()),
        Ok(LoginGate::Locked { until }) => {
            let minutes = crate::clock::parse_utc(&until)
                .map(|u| (u - now).num_seconds().max(1) as u64)
                .map(|secs| secs.div_ceil(60))
                .unwrap_or(1);
            let msg = format!(
                "Too many wrong attempts from this device. Try again in {minutes} minute{}, or ask an administrator to unlock the account.",
                if minutes == 1 { "" } else { "s" }
            );
            Err(login_page(
                ctx,
                call,
                429,
                &form.next,
                &form.username,
                Some(&msg),
            ))
        }
        Err(e) => Err(internal_error("checking the login throttle", &e)),
    }
}

/// Checks the PIN; an unknown name is checked against a decoy so both failures cost the same time.
fn pin_matches(ctx: &Ctx, form: &LoginForm) -> anyhow::Result<bool> {
    Ok(match ctx.store.staff_pin_hash(&form.username)? {
        Some(hash) => auth::verify_pin(&form.pin, &hash),
        None => {
            auth::verify_pin(&form.pin, &auth::decoy_hash());
            false
        }
    })
}

/// Opens a session for `staff` (dropping expired ones first), audited; returns its token.
fn open_session(
    ctx: &Ctx,
    staff: &Actor,
    client: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<String> {
    let token = auth::new_session_token()?;
    let ttl = chrono::TimeDelta::from_std(auth::SESSION_TTL).unwrap_or_default();
    let username = staff.as_str();
    ctx.store.purge_expired_sessions(&format_utc(now))?;
    ctx.store.create_session(
        &auth::token_hash(&token),
        username,
        &format_utc(now),
        &format_utc(now + ttl),
        crate::clock::BootStamp::now().as_ref(),
    )?;
    ctx.store.audit(
        username,
        "staff.login",
        Some(&format!("staff:{username}")),
        None,
        Some(client),
    )?;
    Ok(token)
}

/// The logged-in staff member as the audit trail's actor.
fn staff_actor(call: &Call) -> Option<Actor> {
    call.staff
        .as_ref()
        .map(|s| Actor::Staff(s.username.clone()))
}

/// `POST /logout` (form: csrf): ends the session and clears the cookie.
pub fn logout(ctx: &Ctx, call: &mut Call) -> Reply {
    if let Err(refusal) = super::guard::checked_form(call, MAX_LOGIN_BODY) {
        return refusal;
    }
    if let Some(token) = super::session_token(call.request) {
        let hash = auth::token_hash(token);
        if let Ok(true) = ctx.store.delete_session(&hash) {
            let actor = staff_actor(call).unwrap_or_else(|| Actor::Staff("unknown".into()));
            let _ = ctx.store.audit(
                actor.as_str(),
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
    if let Err(refusal) = super::guard::checked_form(call, MAX_LOGIN_BODY) {
        return refusal;
    }
    let actor = staff_actor(call).unwrap_or_else(|| Actor::Staff(String::new()));
    if let Err(e) = ctx
        .store
        .audit(actor.as_str(), "sync.requested", None, None, None)
    {
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
                    crate::jobs::sync(&store, &program, &opts)?;
                }
                Ok(())
            };
            if let Err(e) = run() {
                let e = http::log_safe(&format!("{e:#}"));
                eprintln!("kadi serve: sync now failed: {e}");
            }
        });
    if let Err(e) = started {
        return internal_error("starting the sync", &anyhow::Error::new(e));
    }
    Reply::redirect("/beneficiaries?sync=started")
}

/// A label and value of one card field, for the card page.
#[derive(Serialize)]
struct FieldLine {
    label: String,
    value: String,
}

/// The card record of `enrollment_uid`, or the page to answer instead: 404 when no beneficiary
/// has this enrollment, 500 on a store error. The card page and its print step share it.
pub fn card_record_or_reply(
    ctx: &Ctx,
    call: &Call,
    enrollment_uid: &str,
) -> Result<crate::store::records::ResolvedCard, Reply> {
    match ctx.store.card_record(enrollment_uid) {
        Ok(Some(r)) => Ok(r),
        Ok(None) => Err(error_page(
            ctx,
            call,
            404,
            "Not found",
            "No beneficiary has this enrollment.",
        )),
        Err(e) => Err(internal_error("reading a card record", &e)),
    }
}

/// The template and preview resolution a card request names (`template=`, `dpi=`) when they are
/// ones kadi has; the defaults otherwise. The preview is shown at true size whatever the dpi.
pub fn chosen_look(call: &Call) -> (String, u32) {
    let template = call
        .param("template")
        .filter(|t| super::api::card_templates().iter().any(|k| k == t))
        .unwrap_or(super::api::DEFAULT_TEMPLATE)
        .to_string();
    let dpi = call
        .param("dpi")
        .and_then(|d| d.parse::<u32>().ok())
        .filter(|d| super::api::PREVIEW_DPIS.contains(d))
        .unwrap_or(300);
    (template, dpi)
}

/// `GET /beneficiaries/{enrollment_uid}?template=`.
pub fn card(ctx: &Ctx, call: &mut Call) -> Reply {
    let enrollment_uid = call.path.trim_start_matches("/beneficiaries/").to_string();
    let record = match card_record_or_reply(ctx, call, &enrollment_uid) {
        Ok(r) => r,
        Err(reply) => return reply,
    };
    let templates = super::api::card_templates();
    let (template, dpi) = chosen_look(call);
    // s10-m: org units by name, never a raw UID where the store knows the name.
    let units = crate::mapping::OrgUnitIndex::load(&ctx.store).unwrap_or_default();
    let fields: Vec<FieldLine> = CARD_FIELDS
        .iter()
        .filter_map(|f| {
            let value = record.record.fields.get(f)?;
            let value = match *f {
                "org_unit" | "health_center" | "zone" => units.name(value).unwrap_or(value),
                _ => value,
            };
            Some(FieldLine {
                label: field_label(f),
                value: value.to_string(),
            })
        })
        .collect();
    let status = ctx.store.status_counts().ok().map(WebStatus::from);
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
            templates => templates, template => template, csrf => call.csrf_token(),
            dpi => dpi, dpis => super::api::PREVIEW_DPIS,
            // s10-f: the badge and the warning before printing a record pending review.
            pending_review => ctx.store.pending_review_of(&enrollment_uid).unwrap_or(false),
            // s11-w: the "Add to Google Wallet" link and its QR code.
            wallet => super::wallet::card_block(ctx, &enrollment_uid),
        },
    )
}

/// `first_name` -> `First name`.
fn field_label(field: &str) -> String {
    if field == "org_unit" {
        return "Org unit".to_string();
    }
    let spaced = field.replace('_', " ").replace(" id", " ID");
    let mut chars = spaced.chars();
    match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// The longest `next` followed after login.
const MAX_NEXT_LEN: usize = 512;

/// Where to go after login: a plain local path only. Browsers drop tabs and newlines from URLs
/// and read `\` as `/`, so `/\t/evil.example/` would leave the box and CR/LF would inject
/// headers: only printable ASCII, one leading `/`, no backslash, bounded length.
fn safe_next(next: Option<&str>) -> &str {
    match next {
        Some(n)
            if n.starts_with('/')
                && n.len() <= MAX_NEXT_LEN
                && n.bytes().all(|b| (0x21..0x7f).contains(&b) && b != b'\\')
                && !n[1..].starts_with('/')
                && !n.starts_with("/login") =>
        {
            n
        }
        _ => "/beneficiaries",
    }
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
        for evil in [
            "/\t/evil.example/",
            "/\n/evil.example/",
            "/x\r\nSet-Cookie: a=b",
            "/ /evil",
            "/\u{7f}/evil",
            "/é",
            "javascript:alert(1)",
            "/login?next=//evil",
        ] {
            assert_eq!(safe_next(Some(evil)), "/beneficiaries", "{evil:?}");
        }
        assert_eq!(
            safe_next(Some(&format!("/{}", "a".repeat(600)))),
            "/beneficiaries"
        );
        assert_eq!(safe_next(None), "/beneficiaries");
        assert_eq!(field_label("date_of_birth"), "Date of birth");
    }
}
