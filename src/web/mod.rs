//! The local web page and JSON API: staff login, beneficiaries, card preview and
//! print, and the Oomus-CampaignID-shaped `/dhis2/...` endpoints, the staff desk ([`desk`]: the
//! list grouped by person [`find`], the review screen [`review`], staff and audit admin pages
//! [`staff_admin`], times in local words [`when`]); later: DHIS2 settings, send.
//!
//! Shape: kadi's own bounded HTTP/1.1 front ([`front`]) reads complete requests under deadlines
//! and size limits and hands them to a few worker threads, each with its own [`Store`]
//! connection, and one router ([`route`]) that is a `match` on method and path. Handlers are `fn(&Ctx, &mut Call) -> Reply`.
//! Every patient-data route goes through [`page`] (redirects to the login page without a session)
//! or [`api`] (401 JSON without a session or API token; [`tokens`] says why a Bearer call skips
//! the CSRF check and a cookie call never does). HTML is rendered by minijinja with auto-escaping; the
//! templates and CSS are compiled into the binary. Every state change is audited.
//!
//! Invariants: nothing here reads or returns the DHIS2 secret; request bodies are size-limited
//! (413, refused by the front before they are read); session tokens are only stored hashed; a
//! dead worker ends `kadi serve` with an error; every request but `/healthz` must name this box
//! in `Host` and every state change passes [`guard`] (origin checks and a CSRF token), see
//! [`guard`]'s doc; sessions are judged by [`auth::live_session`] on the wall and monotonic
//! clocks; the login throttle lives in the database.
pub mod admin_pages;
pub mod api;
pub mod auth;
pub mod desk;
pub mod dhis2_api;
pub mod find;
pub mod front;
pub mod guard;
pub mod http;
pub mod mapping_editor;
pub mod pages;
pub mod print;
pub mod review;
pub mod send_pages;
pub mod staff;
pub mod staff_admin;
pub mod tokens;
pub mod verify_page;
pub mod wallet;
pub mod when;

use crate::store::web_data::StaffMember;
use crate::store::Store;
use anyhow::{Context, Result};
use front::{Method, Request};
use http::Reply;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

/// Test-only hook: when this environment variable names a path, a request for exactly that path
/// makes its worker thread panic outside the handler's `catch_unwind`, which is how the tests
/// prove that a dead worker ends `kadi serve` with a non-zero exit. Read once at start; it is
/// not set by the systemd unit or anything else kadi ships, and `kadi serve` warns when it is.
pub const TEST_ONLY_WORKER_EXIT_ENV: &str = "KADI_TEST_ONLY_WORKER_EXIT_PATH";

const CSS: &str = include_str!("../../assets/web/kadi.css");
const JS: &str = include_str!("../../assets/web/kadi.js");

/// How to run the page.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// The box's database.
    pub db: PathBuf,
    /// Address to listen on, e.g. `127.0.0.1:8080` (port 0 picks a free one).
    pub listen: String,
    /// Worker threads (each with its own database connection).
    pub threads: usize,
    /// Extra host names the page answers to (`--host`), besides the listen address, `localhost`
    /// and, when listening on every interface, the box's own addresses.
    pub hosts: Vec<String>,
    /// Bounds of every connection (deadlines, sizes, the connection cap).
    pub limits: front::Limits,
}

/// What every worker shares: templates, the key of login-form tokens and the allowed host names.
/// (The login throttle lives in the database: `kadi staff unlock` is another process.)
pub struct Shared {
    pub templates: minijinja::Environment<'static>,
    pub login_key: auth::LoginKey,
    pub hosts: guard::AllowedHosts,
}

/// What a handler gets: this worker's database connection and the shared state.
pub struct Ctx {
    pub store: Store,
    pub shared: Arc<Shared>,
}

/// One request being answered: the request, its decoded path and query, and who is logged in.
pub struct Call<'r> {
    pub request: &'r mut Request,
    pub path: String,
    pub query: Vec<(String, String)>,
    /// The logged-in staff member, when the request carries a live session cookie; for a JSON
    /// call with a live `Authorization: Bearer` token, `token:NAME` with the token's role.
    pub staff: Option<StaffMember>,
    /// True when [`api`] / [`admin_api`] authenticated this call by its Bearer token (then the
    /// session cookie, if any, is ignored and [`guard`] skips the CSRF and origin checks).
    pub bearer: bool,
}

impl Call<'_> {
    /// The acting staff member, for the audit trail (every state-changing route runs behind
    /// `page`/`api`, so there is one; `token:NAME` for a Bearer call).
    pub fn actor(&self) -> crate::actor::Actor {
        crate::actor::Actor::Staff(
            self.staff
                .as_ref()
                .map(|s| s.username.clone())
                .unwrap_or_default(),
        )
    }

    /// A decoded query parameter.
    pub fn param(&self, name: &str) -> Option<&str> {
        http::param(&self.query, name)
    }

    /// The CSRF token of this request's live session, for the forms of the page it gets.
    pub fn csrf_token(&self) -> Option<String> {
        self.staff.as_ref()?;
        if self.bearer {
            return None;
        }
        session_token(self.request).map(auth::csrf_token)
    }
}

/// A running page; [`Running::wait`] blocks, [`Running::stop`] ends it.
pub struct Running {
    front: front::Front,
    /// The address actually bound (useful with port 0).
    pub addr: SocketAddr,
}

impl Running {
    /// `http://ADDR` of the page.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Blocks while the page serves. It returns only when a worker or the accept thread has
    /// ended, and then always with an error, so `kadi serve` exits non-zero and is restarted.
    pub fn wait(self) -> Result<()> {
        self.front.wait()
    }

    /// Stops accepting requests and joins the workers.
    pub fn stop(self) {
        self.front.stop();
    }
}

/// The HTML templates, registered from files compiled into the binary (auto-escaped: `.html`).
pub fn templates() -> Result<minijinja::Environment<'static>> {
    let mut env = minijinja::Environment::new();
    for (name, source) in [
        ("base.html", include_str!("../../assets/web/base.html")),
        ("login.html", include_str!("../../assets/web/login.html")),
        (
            "beneficiaries.html",
            include_str!("../../assets/web/beneficiaries.html"),
        ),
        ("card.html", include_str!("../../assets/web/card.html")),
        ("error.html", include_str!("../../assets/web/error.html")),
        ("review.html", include_str!("../../assets/web/review.html")),
        // s10-m (print & mapping)
        ("print.html", include_str!("../../assets/web/print.html")),
        (
            "print_task.html",
            include_str!("../../assets/web/print_task.html"),
        ),
        (
            "print_sheets.html",
            include_str!("../../assets/web/print_sheets.html"),
        ),
        (
            "mapping.html",
            include_str!("../../assets/web/mapping.html"),
        ),
        // s10-f (find & review): print step, staff accounts, audit log.
        (
            "print_confirm.html",
            include_str!("../../assets/web/print_confirm.html"),
        ),
        ("staff.html", include_str!("../../assets/web/staff.html")),
        ("audit.html", include_str!("../../assets/web/audit.html")),
        // s11-w: the send pages.
        (
            "send_card.html",
            include_str!("../../assets/web/send_card.html"),
        ),
        (
            "send_bulk.html",
            include_str!("../../assets/web/send_bulk.html"),
        ),
        (
            "send_batch.html",
            include_str!("../../assets/web/send_batch.html"),
        ),
        (
            "send_log.html",
            include_str!("../../assets/web/send_log.html"),
        ),
        // s11-v (verify): the /verify page, staff and public modes.
        ("verify.html", include_str!("../../assets/web/verify.html")),
    ] {
        env.add_template(name, source)
            .with_context(|| format!("compiling template {name}"))?;
    }
    // s10-a: the admin pages' templates.
    for (name, source) in admin_pages::TEMPLATES {
        env.add_template(name, source)
            .with_context(|| format!("compiling template {name}"))?;
    }
    env.add_filter("urlencode", |s: String| http::percent_encode(&s));
    when::add_filters(&mut env);
    env.add_global("version", crate::VERSION);
    Ok(env)
}

/// Binds the address, opens one database connection per worker and starts the front.
pub fn start(config: &ServeConfig) -> Result<Running> {
    let listener = std::net::TcpListener::bind(&config.listen)
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let addr = listener
        .local_addr()
        .with_context(|| format!("reading the address bound for {}", config.listen))?;
    let shared = Arc::new(Shared {
        templates: templates()?,
        login_key: auth::LoginKey::new()?,
        hosts: guard::AllowedHosts::new(addr, &config.hosts),
    });
    let exit_path = std::env::var(TEST_ONLY_WORKER_EXIT_ENV)
        .ok()
        .filter(|p| !p.is_empty());
    if let Some(p) = &exit_path {
        eprintln!(
            "kadi serve: WARNING: test-only {TEST_ONLY_WORKER_EXIT_ENV} is set: a request for {} kills a worker",
            crate::output::escape_log(p, 100)
        );
    }
    when::load(&Store::open(&config.db)?);
    let mut handlers: Vec<front::Handler> = Vec::new();
    for _ in 0..config.threads.max(1) {
        let ctx = Ctx {
            store: Store::open(&config.db)?,
            shared: shared.clone(),
        };
        let exit_path = exit_path.clone();
        handlers.push(Box::new(move |request: &mut Request| {
            if exit_path.as_deref() == Some(request.url()) {
                panic!("{TEST_ONLY_WORKER_EXIT_ENV}: this worker ends here, as the test asked");
            }
            handle(&ctx, request)
        }));
    }
    let front = front::Front::start(listener, config.limits.clone(), handlers)?;
    Ok(Running { front, addr })
}

/// Answers one complete request (the front logs it after writing the answer).
fn handle(ctx: &Ctx, request: &mut Request) -> Reply {
    let (path, query) = http::split_url(request.url());
    let staff = session_token(request).and_then(|token| {
        auth::live_session(&ctx.store, token)
            .map_err(|e| {
                let e = http::log_safe(&format!("{e:#}"));
                eprintln!("kadi serve: reading a session: {e}");
            })
            .ok()
            .flatten()
    });
    let mut call = Call {
        request,
        path,
        query,
        staff,
        bearer: false,
    };
    // A panic in one handler must not kill the worker: answer 500 and go on.
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| route(ctx, &mut call)))
        .unwrap_or_else(|_| Reply::json_error(500, "internal error"))
}

/// The session token from the request's cookie.
pub fn session_token(request: &Request) -> Option<&str> {
    http::header(request, "Cookie").and_then(auth::token_from_cookie_header)
}

/// The router: every route of the page and API, in one place.
pub fn route(ctx: &Ctx, call: &mut Call) -> Reply {
    // Bodies over the limit never get here: the front answers 413 without reading them.
    let method = call.request.method().clone();
    // /healthz carries no data, so probes may use any name; everything else only for this box.
    if call.path != "/healthz" {
        if let Some(refusal) = guard::check_host(&ctx.shared.hosts, call) {
            return refusal;
        }
    }
    // s10-a: /dhis2/config, test-connection, preview-enrollments, assign-codes, sync-schedule
    // and the admin pages for the DHIS2 connection, sync schedule and sync history.
    // s10-m (print & mapping): sheets tasks, generate-cards, tasks/{id}, the mapping editor.
    // s10-f (find & review): list, print step, review queue, staff and audit admin pages.
    if let Some(reply) = desk::route(ctx, call, &method)
        .or_else(|| dhis2_api::route(ctx, call, &method))
        .or_else(|| admin_pages::route(ctx, call, &method))
        .or_else(|| print::route(ctx, call, &method))
        .or_else(|| mapping_editor::route(ctx, call, &method))
        // s11-w: Google Wallet links (`/dhis2/google-wallet/...`), the send pages and send-card.
        .or_else(|| wallet::route(ctx, call, &method))
        .or_else(|| send_pages::route(ctx, call, &method))
        // s11-v (verify): /verify (staff), /verify/public (no login), /verify/image (uploads).
        .or_else(|| verify_page::route(ctx, call, &method))
    {
        return reply;
    }
    match (&method, call.path.as_str()) {
        (Method::Get, "/healthz") => api::healthz(ctx, call),
        (Method::Get, "/static/kadi.css") => {
            Reply::bytes("text/css; charset=utf-8", CSS.as_bytes().to_vec())
        }
        (Method::Get, "/static/kadi.js") => {
            Reply::bytes("text/javascript; charset=utf-8", JS.as_bytes().to_vec())
        }
        (Method::Get, "/login") => pages::login_form(ctx, call),
        (Method::Post, "/login") => pages::login_submit(ctx, call),
        (Method::Post, "/logout") => pages::logout(ctx, call),
        (Method::Get, "/") => page(ctx, call, |_, _| Reply::redirect("/beneficiaries")),
        (Method::Get, p) if p.starts_with("/beneficiaries/") => page(ctx, call, pages::card),
        (Method::Post, "/sync-now") => page(ctx, call, pages::sync_now),
        (Method::Get, "/api/beneficiaries") => api(ctx, call, api::beneficiaries),
        (Method::Get, "/api/status") => api(ctx, call, api::status),
        (Method::Get, "/api/session") => api(ctx, call, api::session),
        (Method::Get, "/dhis2/preview-card-png") => api(ctx, call, api::preview_card_png),
        (
            _,
            "/healthz" | "/login" | "/logout" | "/api/beneficiaries" | "/api/status"
            | "/api/session" | "/sync-now",
        )
        | (_, "/dhis2/preview-card-png") => Reply::json_error(405, "method not allowed"),
        (_, p) if p.starts_with("/api/") || p.starts_with("/dhis2/") => {
            Reply::json_error(404, "no such endpoint")
        }
        _ => pages::error_page(
            ctx,
            call,
            404,
            "Not found",
            "There is no page at this address.",
        ),
    }
}

/// Runs an HTML handler for a logged-in staff member, or redirects to the login page.
pub fn page(ctx: &Ctx, call: &mut Call, handler: fn(&Ctx, &mut Call) -> Reply) -> Reply {
    if call.staff.is_none() {
        let next = match call.request.url() {
            "/" => String::new(),
            url => format!("?next={}", http::percent_encode(url)),
        };
        return Reply::redirect(&format!("/login{next}"));
    }
    handler(ctx, call)
}

/// Authenticates a JSON call by its `Authorization: Bearer` token when it carries one (see
/// [`tokens`]): a live token replaces whatever the session cookie said, a bad one is a 401 with
/// no fallback to the cookie. Without the header the session decides.
fn authenticate_bearer(ctx: &Ctx, call: &mut Call) -> Result<(), Reply> {
    let header = http::header(call.request, "Authorization");
    match tokens::judge_authorization(&ctx.store, header) {
        Ok(tokens::Bearer::Absent) => Ok(()),
        Ok(tokens::Bearer::Valid(member)) => {
            call.staff = Some(member);
            call.bearer = true;
            Ok(())
        }
        Ok(tokens::Bearer::Refused(why)) => {
            Err(Reply::json_error(401, why).with_header("WWW-Authenticate", "Bearer"))
        }
        Err(e) => Err(internal_error("checking an API token", &e)),
    }
}

/// Runs a JSON/API handler for a logged-in staff member or a live API token (Bearer), or
/// answers 401 JSON.
pub fn api(ctx: &Ctx, call: &mut Call, handler: fn(&Ctx, &mut Call) -> Reply) -> Reply {
    if let Err(refusal) = authenticate_bearer(ctx, call) {
        return refusal;
    }
    if call.staff.is_none() {
        return Reply::json_error(401, "log in first (POST /login with username and pin)");
    }
    handler(ctx, call)
}

/// Runs an HTML handler for a logged-in *admin* (staff accounts, DHIS2 connection, mapping,
/// schedule, audit log); other staff get a 403 page that says why, anonymous visitors the login.
pub fn admin_page(ctx: &Ctx, call: &mut Call, handler: fn(&Ctx, &mut Call) -> Reply) -> Reply {
    match &call.staff {
        None => page(ctx, call, handler),
        Some(s) if s.role == crate::store::web_data::StaffRole::Admin => handler(ctx, call),
        Some(_) => pages::error_page(
            ctx,
            call,
            403,
            "Admins only",
            "Only an admin of this box can open this page. Ask your clinic's admin.",
        ),
    }
}

/// Runs a JSON handler for a logged-in *admin* or an admin API token: 401 without a session or
/// token, 403 for other staff and staff tokens.
pub fn admin_api(ctx: &Ctx, call: &mut Call, handler: fn(&Ctx, &mut Call) -> Reply) -> Reply {
    if let Err(refusal) = authenticate_bearer(ctx, call) {
        return refusal;
    }
    match &call.staff {
        None => api(ctx, call, handler),
        Some(s) if s.role == crate::store::web_data::StaffRole::Admin => handler(ctx, call),
        Some(_) => Reply::json_error(403, "this needs an admin account or an admin token"),
    }
}

/// Logs an internal error and answers a generic 500 (details stay in the box's log).
pub fn internal_error(context: &str, e: &anyhow::Error) -> Reply {
    // Errors may quote what a client sent (an ID, a path): one escaped line each.
    eprintln!(
        "kadi serve: {}: {}",
        http::log_safe(context),
        http::log_safe(&format!("{e:#}"))
    );
    Reply::json_error(500, &format!("{context} failed; see the box's log"))
}
