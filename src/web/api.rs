//! JSON and image endpoints: `/healthz`, `/api/beneficiaries`, `/api/status`, `/api/session`, and the
//! Oomus-CampaignID-shaped `/dhis2/preview-card-png`. JSON shapes are the serde structs here.
use super::http::Reply;
use super::pages::PAGE_SIZE;
use super::{internal_error, Call, Ctx};
use crate::record::CardFields;
use crate::store::mpi_data::MpiState;
use crate::store::web_data::{BeneficiaryRecord, BeneficiarySearch, StatusCounts};
use serde::Serialize;

/// One row of the beneficiaries list (`/api/beneficiaries` and the list page).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BeneficiaryRow {
    pub enrollment_uid: String,
    pub program_uid: String,
    pub full_name: String,
    pub mpi_id: Option<String>,
    pub mpi_state: MpiState,
    pub fields: CardFields,
}

impl From<BeneficiaryRecord> for BeneficiaryRow {
    fn from(r: BeneficiaryRecord) -> BeneficiaryRow {
        BeneficiaryRow {
            enrollment_uid: r.enrollment_uid,
            program_uid: r.program_uid,
            full_name: r.full_name,
            mpi_id: r.mpi_id,
            mpi_state: r.mpi_state,
            fields: r.fields,
        }
    }
}

/// One page of a beneficiary search.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BeneficiaryPage {
    /// 1-based page number actually returned (clamped to the last page).
    pub page: u32,
    pub page_size: u32,
    pub total: u64,
    pub pages: u32,
    pub rows: Vec<BeneficiaryRow>,
}

impl From<BeneficiarySearch> for BeneficiaryPage {
    fn from(s: BeneficiarySearch) -> BeneficiaryPage {
        BeneficiaryPage {
            page: s.page,
            page_size: s.page_size,
            total: s.total,
            pages: s.pages,
            rows: s.rows.into_iter().map(BeneficiaryRow::from).collect(),
        }
    }
}

/// What the page's status line shows (and `/api/status`, with the version).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct WebStatus {
    /// When the last finished sync run ended (UTC), if any.
    pub last_sync_at: Option<String>,
    /// Its status (`ok`, `failed`, `interrupted`).
    pub last_sync_status: Option<String>,
    /// Tracked entities the last sync received, when its report says.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_sync_records: Option<i64>,
    pub beneficiaries: i64,
    pub mpi_identities: i64,
    pub pending_review: i64,
    pub cards_rendered: i64,
}

impl From<StatusCounts> for WebStatus {
    fn from(c: StatusCounts) -> WebStatus {
        WebStatus {
            last_sync_at: c.last_sync_at,
            last_sync_status: c.last_sync_status,
            last_sync_records: c.last_sync_records,
            beneficiaries: c.beneficiaries,
            mpi_identities: c.mpi_identities,
            pending_review: c.pending_review,
            cards_rendered: c.cards_rendered,
        }
    }
}

/// The template the page shows when none is picked.
pub const DEFAULT_TEMPLATE: &str = "pulse";
/// Resolutions a preview may be rendered at.
pub const PREVIEW_DPIS: [u32; 3] = [300, 450, 600];

/// Card templates the page offers (the cards module's list).
pub fn card_templates() -> Vec<String> {
    crate::cards::template_names()
        .into_iter()
        .map(str::to_string)
        .collect()
}

/// `GET /healthz`: no session needed, no data.
#[derive(Serialize)]
struct Health {
    status: &'static str,
    version: &'static str,
    database: bool,
}

/// `GET /healthz`.
pub fn healthz(ctx: &Ctx, _call: &mut Call) -> Reply {
    let database = ctx.store.schema_version().is_ok();
    let status = if database { "ok" } else { "degraded" };
    Reply::json(
        if database { 200 } else { 503 },
        &Health {
            status,
            version: crate::VERSION,
            database,
        },
    )
}

/// `GET /api/beneficiaries?q=&page=`: one page of the search, as `BeneficiaryPage`.
pub fn beneficiaries(ctx: &Ctx, call: &mut Call) -> Reply {
    let q: String = call.param("q").unwrap_or("").chars().take(200).collect();
    let page = match call.param("page").map(str::parse::<u32>) {
        None => 1,
        Some(Ok(p)) if p >= 1 => p,
        Some(_) => return Reply::json_error(400, "page must be a positive integer"),
    };
    let query = match super::find::query(ctx, &q) {
        Ok(query) => query,
        Err(e) => return internal_error("reading the phone country code", &e),
    };
    match ctx.store.search_beneficiaries(&query, page, PAGE_SIZE) {
        Ok(result) => Reply::json(200, &BeneficiaryPage::from(result)),
        Err(e) => internal_error("searching beneficiaries", &e),
    }
}

/// `GET /api/status`: last sync and counts.
#[derive(Serialize)]
struct StatusReply {
    version: &'static str,
    #[serde(flatten)]
    status: WebStatus,
}

/// `GET /api/status`.
pub fn status(ctx: &Ctx, _call: &mut Call) -> Reply {
    match ctx.store.status_counts() {
        Ok(counts) => Reply::json(
            200,
            &StatusReply {
                version: crate::VERSION,
                status: WebStatus::from(counts),
            },
        ),
        Err(e) => internal_error("reading status", &e),
    }
}

/// `GET /api/session`: who is logged in and the CSRF token a script sends as `X-CSRF-Token`
/// with every state-changing call.
#[derive(Serialize)]
struct SessionReply {
    username: String,
    display_name: Option<String>,
    role: crate::store::web_data::StaffRole,
    csrf_token: Option<String>,
}

/// `GET /api/session`.
pub fn session(_ctx: &Ctx, call: &mut Call) -> Reply {
    let Some(staff) = call.staff.clone() else {
        return Reply::json_error(401, "log in first");
    };
    Reply::json(
        200,
        &SessionReply {
            username: staff.username,
            display_name: staff.display_name,
            role: staff.role,
            csrf_token: call.csrf_token(),
        },
    )
}

/// `GET /dhis2/preview-card-png?enrollment_id=…&template=pulse&dpi=300`: the card as PNG, with
/// optional template options as JSON in `template_options` or `sovereign_config` (the same
/// object: `accent_hex`, `bg_hex`, `bg_deep_hex`, `font_scale`, `max_attrs`).
/// 400 (JSON) for a missing enrollment_id or a bad template/dpi/options, 404 for an unknown
/// enrollment.
pub fn preview_card_png(ctx: &Ctx, call: &mut Call) -> Reply {
    let Some(enrollment_id) = call.param("enrollment_id").filter(|e| !e.is_empty()) else {
        return Reply::json_error(400, "enrollment_id is required");
    };
    let template = call.param("template").unwrap_or(DEFAULT_TEMPLATE);
    let templates = card_templates();
    if !templates.iter().any(|t| t == template) {
        return Reply::json_error(
            400,
            &format!(
                "unknown template; known templates: {}",
                templates.join(", ")
            ),
        );
    }
    let dpi = match call.param("dpi").map(str::parse::<u32>) {
        None => 300,
        Some(Ok(d)) if PREVIEW_DPIS.contains(&d) => d,
        Some(_) => return Reply::json_error(400, "dpi must be 300, 450 or 600"),
    };
    let options = match template_options(call) {
        Ok(o) => o,
        Err(refusal) => return refusal,
    };
    match ctx.store.card_record(enrollment_id) {
        Ok(Some(_)) => {}
        Ok(None) => return Reply::json_error(404, "no card record for this enrollment_id"),
        Err(e) => return internal_error("reading a card record", &e),
    }
    match crate::cards::preview_png_with(&ctx.store, enrollment_id, template, &options, dpi) {
        Ok(png) => Reply::bytes("image/png", png),
        Err(e) => internal_error("rendering the card", &e),
    }
}

/// The template options of a preview: `template_options` or `sovereign_config` (JSON), checked
/// as a generation checks them. Both at once is ambiguous: 400.
fn template_options(call: &Call) -> Result<crate::cards::TemplateOptions, Reply> {
    let given = match (
        call.param("template_options"),
        call.param("sovereign_config"),
    ) {
        (Some(_), Some(_)) => {
            return Err(Reply::json_error(
                400,
                "give template_options or sovereign_config, not both",
            ))
        }
        (Some(j), None) | (None, Some(j)) => j,
        (None, None) => return Ok(Default::default()),
    };
    let options: crate::cards::TemplateOptions = serde_json::from_str(given)
        .map_err(|e| Reply::json_error(400, &format!("template options: {e}")))?;
    crate::cards::Template::named(DEFAULT_TEMPLATE)
        .and_then(|t| t.with_options(&options))
        .map_err(|e| Reply::json_error(400, &format!("template options: {e:#}")))?;
    Ok(options)
}
