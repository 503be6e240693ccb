//! The review screen: pending review items side by side with the reasons in plain words (which
//! fields agree, which differ, which are missing, and why the pair was not linked), and a staff
//! member's answer. Split items (`kadi mpi recheck`: linked automatically, may be two people)
//! are shown apart from pairs. The decisions are `crate::mpi::review`'s, audited there.
use super::http::{self, Reply};
use super::pages::{error_page, render};
use super::{internal_error, Call, Ctx};
use crate::actor::Actor;
use crate::mpi::review::{self, Decision, ReviewPair};
use crate::mpi::ReviewKind;
use serde::Serialize;

/// The largest decision form accepted.
const MAX_DECISION_BODY: usize = 4 * 1024;

/// One pending item as the screen shows it.
#[derive(Serialize)]
struct ReviewRow {
    id: i64,
    split: bool,
    score: String,
    record: Side,
    candidate: Side,
    agree: Vec<String>,
    disagree: Vec<String>,
    missing: Vec<String>,
    veto: Option<String>,
    summary: String,
}

/// One record of a pair, the fields staff compare.
#[derive(Serialize)]
struct Side {
    enrollment_uid: String,
    mpi_id: Option<String>,
    name: String,
    details: String,
}

fn side(s: &review::ReviewSide) -> Side {
    let f = &s.fields;
    let details: Vec<&str> = [
        f.date_of_birth.as_deref(),
        f.gender.as_deref(),
        f.phone_number.as_deref(),
        f.health_center.as_deref(),
        f.national_id.as_deref(),
        f.address.as_deref(),
    ]
    .into_iter()
    .flatten()
    .filter(|v| !v.trim().is_empty())
    .collect();
    Side {
        enrollment_uid: s.enrollment_uid.clone(),
        mpi_id: s.mpi_id.clone(),
        name: Some(f.full_name())
            .filter(|n| !n.trim().is_empty())
            .unwrap_or_else(|| "(no name)".to_string()),
        details: details.join(" · "),
    }
}

fn row(p: &ReviewPair) -> ReviewRow {
    let reasons = p.reasons.clone();
    ReviewRow {
        id: p.id,
        split: p.kind == ReviewKind::Split,
        score: format!("{:.2}", p.score),
        record: side(&p.record),
        candidate: side(&p.candidate),
        agree: reasons
            .as_ref()
            .map(|r| r.agree.clone())
            .unwrap_or_default(),
        disagree: reasons
            .as_ref()
            .map(|r| r.disagree.clone())
            .unwrap_or_default(),
        missing: reasons
            .as_ref()
            .map(|r| r.missing.clone())
            .unwrap_or_default(),
        veto: p.explain["veto"].as_str().map(str::to_string),
        summary: reasons.map(|r| r.summary).unwrap_or_default(),
    }
}

/// `GET /review`: the pending items, oldest first.
pub fn page(ctx: &Ctx, call: &mut Call) -> Reply {
    let items = match review::review_list(&ctx.store) {
        Ok(items) => items,
        Err(e) => return internal_error("listing review items", &e),
    };
    let rows: Vec<ReviewRow> = items.iter().map(row).collect();
    let status = ctx
        .store
        .status_counts()
        .ok()
        .map(super::api::WebStatus::from);
    render(
        ctx,
        200,
        "review.html",
        minijinja::context! {
            staff => call.staff, status => status, items => rows, csrf => call.csrf_token(),
            decided => call.param("decided"),
        },
    )
}

/// `GET /api/review`: the pending items as `kadi mpi review list --json` gives them.
pub fn api_list(ctx: &Ctx, _call: &mut Call) -> Reply {
    match review::review_list(&ctx.store) {
        Ok(items) => Reply::json(200, &items),
        Err(e) => internal_error("listing review items", &e),
    }
}

/// `POST /review/decide` (`id`, `decision` = `same` | `different`, `csrf`): the staff member's
/// answer, then back to the screen.
pub fn decide(ctx: &Ctx, call: &mut Call) -> Reply {
    let form = match super::guard::checked_form(call, MAX_DECISION_BODY) {
        Ok(f) => f,
        Err(refusal) => return refusal,
    };
    let id = http::param(&form, "id").and_then(|v| v.parse::<i64>().ok());
    let decision = match http::param(&form, "decision") {
        Some("same") => Some(Decision::Same),
        Some("different") => Some(Decision::Different),
        _ => None,
    };
    let (Some(id), Some(decision)) = (id, decision) else {
        return error_page(
            ctx,
            call,
            400,
            "Bad request",
            "A decision needs an item and an answer.",
        );
    };
    let Some(staff) = call.staff.as_ref() else {
        return Reply::redirect("/login");
    };
    let actor = Actor::Staff(staff.username.clone());
    match review::review_decide(&ctx.store, id, decision, &actor) {
        Ok(()) => Reply::redirect(&format!("/review?decided={id}")),
        Err(e) => error_page(ctx, call, 409, "Not decided", &format!("{e:#}")),
    }
}
