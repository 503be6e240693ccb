//! s11-w: the Google Wallet routes, `GET /dhis2/google-wallet/{id}` (an enrollment UID or an MPI
//! ID) and `POST /dhis2/google-wallet/bulk` (1 to 100 enrollments), plus the card page's "Add to
//! Google Wallet" block ([`card_block`]). All of them call `send::wallet`, as `kadi wallet` does.
//!
//! Answers keep the seed API's names (`wallet_url`, `jwt_token`, `valid_until`; bulk `batch_id`,
//! `total`, `processed`, `wallet_links`) beside kadi's (`save_url`, `expires`, `left_out`).
//! Errors: 400 a body kadi cannot use or more than 100 IDs, 404 no such card, 409 Wallet not
//! configured on this box. The service-account key is never part of an answer.
use super::front::Method;
use super::http::Reply;
use super::{api, internal_error, Call, Ctx};
use crate::send::wallet::{self, WalletRefusal};
use serde::{Deserialize, Serialize};

/// The largest bulk body read (100 IDs fit many times; more is refused with 413 before reading).
pub const MAX_BULK_BODY: usize = 32 * 1024;

/// The routes of this module; `None` when the path is not one of them.
pub fn route(ctx: &Ctx, call: &mut Call, method: &Method) -> Option<Reply> {
    let path = call.path.as_str();
    if path == "/dhis2/google-wallet/bulk" {
        return Some(match method {
            Method::Post => api(ctx, call, bulk),
            _ => Reply::json_error(405, "method not allowed"),
        });
    }
    let id = path.strip_prefix("/dhis2/google-wallet/")?;
    if id.is_empty() || id.contains('/') {
        return Some(Reply::json_error(404, "no such endpoint"));
    }
    Some(match method {
        Method::Get => api(ctx, call, single),
        _ => Reply::json_error(405, "method not allowed"),
    })
}

/// A wallet error as an answer (see the module doc for the statuses).
fn refusal(context: &str, e: &anyhow::Error) -> Reply {
    match e.downcast_ref::<WalletRefusal>() {
        Some(WalletRefusal::BadRequest(m)) => Reply::json_error(400, m),
        Some(WalletRefusal::NotFound(m)) => Reply::json_error(404, m),
        Some(WalletRefusal::NotConfigured(m)) => Reply::json_error(409, m),
        None => internal_error(context, e),
    }
}

/// `GET /dhis2/google-wallet/{id}`: one save link.
fn single(ctx: &Ctx, call: &mut Call) -> Reply {
    let id = call
        .path
        .strip_prefix("/dhis2/google-wallet/")
        .unwrap_or_default()
        .to_string();
    match wallet::link_for(&ctx.store, &id) {
        Ok(link) => Reply::json(200, &SingleAnswer::from(link)),
        Err(e) => refusal("making a Google Wallet link", &e),
    }
}

/// The single answer: kadi's link plus the seed's field names.
#[derive(Serialize)]
struct SingleAnswer {
    #[serde(flatten)]
    link: wallet::SaveLink,
    /// The seed's name of `save_url`.
    wallet_url: String,
    /// The seed's JWT alone.
    jwt_token: String,
    /// The seed's name of `expires`.
    valid_until: Option<String>,
}

impl From<wallet::SaveLink> for SingleAnswer {
    fn from(link: wallet::SaveLink) -> Self {
        SingleAnswer {
            wallet_url: link.save_url.clone(),
            jwt_token: link.jwt().to_string(),
            valid_until: link.expires.clone(),
            link,
        }
    }
}

/// The bulk body (`programme_uid` is accepted, as in the seed, and not needed).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BulkBody {
    enrollment_ids: Vec<String>,
    #[serde(default, alias = "program_uid")]
    #[allow(dead_code)]
    programme_uid: Option<String>,
}

/// `POST /dhis2/google-wallet/bulk`: one save link per enrollment, at most 100.
fn bulk(ctx: &Ctx, call: &mut Call) -> Reply {
    let body = match super::guard::checked_body(call, MAX_BULK_BODY) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let body: BulkBody = match serde_json::from_slice(&body) {
        Ok(b) => b,
        Err(e) => {
            return Reply::json_error(400, &format!("the body is not the expected JSON: {e}"))
        }
    };
    match wallet::links_for_ids(&ctx.store, &body.enrollment_ids) {
        Ok(links) => Reply::json(200, &links),
        Err(e) => refusal("making Google Wallet links", &e),
    }
}

/// What the card page shows under the card: the save link and its QR code as inline SVG, or
/// why there is none (Wallet not configured, a link that could not be made).
#[derive(Debug, Clone, Serialize)]
pub struct CardBlock {
    pub save_url: Option<String>,
    /// `<svg>` markup made by [`wallet::qr_svg`] from module coordinates only (no text of the
    /// link in it), so the page inlines it as is. Inline, not an `<img>` data URL: the pages'
    /// Content-Security-Policy (`img-src 'self'`) blocks `data:` images, and a browser showed
    /// nothing.
    pub qr_svg: Option<String>,
    pub expires: Option<String>,
    pub note: Option<String>,
}

/// The card page's Wallet block for `enrollment_uid`.
pub fn card_block(ctx: &Ctx, enrollment_uid: &str) -> CardBlock {
    let none = |note: &str| CardBlock {
        save_url: None,
        qr_svg: None,
        expires: None,
        note: Some(note.to_string()),
    };
    match wallet::link_for(&ctx.store, enrollment_uid) {
        Ok(link) => match wallet::qr_svg(&link.save_url) {
            Ok(svg) => CardBlock {
                qr_svg: Some(svg),
                expires: link.expires.clone(),
                save_url: Some(link.save_url),
                note: None,
            },
            Err(e) => none(&format!("{e:#}")),
        },
        Err(e) => match e.downcast_ref::<WalletRefusal>() {
            Some(WalletRefusal::NotConfigured(_)) => none(
                "Google Wallet is not set up on this box (an admin runs `kadi wallet config`).",
            ),
            _ => {
                let e = super::http::log_safe(&format!("{e:#}"));
                eprintln!("kadi serve: the card page's Wallet link: {e}");
                none("The Google Wallet link could not be made; see the box's log.")
            }
        },
    }
}
