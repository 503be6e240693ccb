//! The review screen: pending review items with the two records side by side, field by field
//! (each row says in words whether the field agrees, differs or is not on both, so colour is never
//! the only signal), the score and `mpi_explain`'s reasons in plain words, and a staff member's
//! answer: same / different / not sure (not sure keeps the item in the queue, noted). Split items
//! (`kadi mpi recheck`: linked automatically, may be two people) are shown apart from pairs.
//! Below the queue: merge two identities and undo a merge, each with a required reason.
//!
//! A decision that changes identities (a pair's "same" merges, a split's "different" splits)
//! needs a reason; every answer is audited with the staff member by `crate::mpi::review`.
use super::http::{self, Reply};
use super::pages::{error_page, render};
use super::{internal_error, Call, Ctx};
use crate::actor::Actor;
use crate::mpi::review::{self, Decision, ReviewPair};
use crate::mpi::ReviewKind;
use serde::Serialize;

/// The largest decision form accepted.
const MAX_DECISION_BODY: usize = 8 * 1024;
/// The longest reason kept (longer text is cut).
const MAX_REASON_CHARS: usize = 500;
/// Merges offered for undoing.
const RECENT_MERGES: usize = 20;

/// One pending item as the screen shows it.
#[derive(Serialize)]
struct ReviewRow {
    id: i64,
    split: bool,
    score: String,
    record: Side,
    candidate: Side,
    fields: Vec<FieldRow>,
    agree: Vec<String>,
    disagree: Vec<String>,
    missing: Vec<String>,
    veto: Option<String>,
    summary: String,
    notes: Vec<Note>,
}

/// One record of a pair.
#[derive(Serialize)]
struct Side {
    enrollment_uid: String,
    mpi_id: Option<String>,
    name: String,
}

/// One field of the side-by-side table.
#[derive(Serialize)]
struct FieldRow {
    label: String,
    left: String,
    right: String,
    /// `agrees`, `differs`, `not on both`, or `` for a field the score does not compare.
    verdict: &'static str,
    how: Option<&'static str>,
}

/// A "not sure" answer left on an item.
#[derive(Serialize)]
struct Note {
    by: String,
    at: String,
    text: Option<String>,
}

fn side(s: &review::ReviewSide) -> Side {
    Side {
        enrollment_uid: s.enrollment_uid.clone(),
        mpi_id: s.mpi_id.clone(),
        name: Some(s.fields.full_name())
            .filter(|n| !n.trim().is_empty())
            .unwrap_or_else(|| "(no name)".to_string()),
    }
}

/// The side-by-side rows: every field either record has, with the comparison's verdict.
fn field_rows(p: &ReviewPair) -> Vec<FieldRow> {
    let fields = kadi_sqlext::mpi::FIELDS
        .iter()
        .copied()
        .chain(std::iter::once("beneficiary_id"));
    let mut rows = Vec::new();
    for field in fields {
        let left = p.record.fields.get(field).unwrap_or("").trim().to_string();
        let right = p
            .candidate
            .fields
            .get(field)
            .unwrap_or("")
            .trim()
            .to_string();
        if left.is_empty() && right.is_empty() {
            continue;
        }
        let level = p.explain["fields"][field]["level"]
            .as_str()
            .and_then(kadi_sqlext::mpi::level_named);
        let (verdict, how) = match level {
            Some(l) => kadi_sqlext::mpi::field_verdict(field, l),
            None if field == "beneficiary_id" => ("", None),
            None if left.is_empty() || right.is_empty() => ("not on both", None),
            None => ("", None),
        };
        let label = match field {
            "beneficiary_id" => "beneficiary ID",
            f => kadi_sqlext::mpi::field_label(f),
        };
        rows.push(FieldRow {
            label: label.to_string(),
            left: if left.is_empty() { "—".into() } else { left },
            right: if right.is_empty() {
                "—".into()
            } else {
                right
            },
            verdict,
            how,
        });
    }
    rows
}

fn notes(ctx: &Ctx, id: i64) -> Vec<Note> {
    let rows = ctx
        .store
        .audit_of(&format!("review_item:{id}"), "mpi.review.not_sure")
        .unwrap_or_default();
    rows.into_iter()
        .map(|r| Note {
            by: r.actor,
            at: r.at,
            text: r
                .after_json
                .and_then(|j| serde_json::from_str::<serde_json::Value>(&j).ok())
                .and_then(|v| v["reason"].as_str().map(str::to_string)),
        })
        .collect()
}

fn row(ctx: &Ctx, p: &ReviewPair) -> ReviewRow {
    let reasons = p.reasons.clone().unwrap_or(kadi_sqlext::mpi::Reasons {
        agree: vec![],
        disagree: vec![],
        missing: vec![],
        summary: String::new(),
    });
    ReviewRow {
        id: p.id,
        split: p.kind == ReviewKind::Split,
        score: format!("{:.2}", p.score),
        record: side(&p.record),
        candidate: side(&p.candidate),
        fields: field_rows(p),
        agree: reasons.agree,
        disagree: reasons.disagree,
        missing: reasons.missing,
        veto: p.explain["veto"].as_str().map(str::to_string),
        summary: reasons.summary,
        notes: notes(ctx, p.id),
    }
}

/// The screen, with an optional error about one item (`error_for`) or the merge forms.
fn screen(ctx: &Ctx, call: &Call, status: u16, error: Option<(&str, String)>) -> Reply {
    let items = match review::review_list(&ctx.store) {
        Ok(items) => items,
        Err(e) => return internal_error("listing review items", &e),
    };
    let merges = match ctx.store.recent_merges(RECENT_MERGES) {
        Ok(m) => m,
        Err(e) => return internal_error("listing merges", &e),
    };
    let rows: Vec<ReviewRow> = items.iter().map(|p| row(ctx, p)).collect();
    let status_line = ctx
        .store
        .status_counts()
        .ok()
        .map(super::api::WebStatus::from);
    let target = error.as_ref().map(|(t, _)| *t);
    let error_item = target
        .and_then(|t| t.strip_prefix("item-"))
        .and_then(|id| id.parse::<i64>().ok());
    let error_unmerge = target
        .and_then(|t| t.strip_prefix("unmerge-"))
        .map(str::to_string);
    let error_merge = target == Some("merge");
    let error = error.map(|(_, message)| message);
    render(
        ctx,
        status,
        "review.html",
        minijinja::context! {
            staff => call.staff, status => status_line, items => rows, csrf => call.csrf_token(),
            decided => call.param("decided"), done => call.param("done"), merges => merges,
            error => error, error_item => error_item, error_merge => error_merge,
            error_unmerge => error_unmerge,
        },
    )
}

/// `GET /review`: the pending items, oldest first, and the merges that can be undone.
pub fn page(ctx: &Ctx, call: &mut Call) -> Reply {
    screen(ctx, call, 200, None)
}

/// `GET /api/review`: the pending items as `kadi mpi review list --json` gives them.
pub fn api_list(ctx: &Ctx, _call: &mut Call) -> Reply {
    match review::review_list(&ctx.store) {
        Ok(items) => Reply::json(200, &items),
        Err(e) => internal_error("listing review items", &e),
    }
}

/// The reason field of a form, trimmed and bounded; `None` when empty.
fn reason(form: &[(String, String)]) -> Option<String> {
    let r: String = http::param(form, "reason")
        .unwrap_or("")
        .trim()
        .chars()
        .take(MAX_REASON_CHARS)
        .collect();
    (!r.is_empty()).then_some(r)
}

fn actor(call: &Call) -> Option<Actor> {
    call.staff
        .as_ref()
        .map(|s| Actor::Staff(s.username.clone()))
}

/// `POST /review/decide` (`id`, `decision` = `same` | `different` | `not_sure`, `reason`, `csrf`):
/// the staff member's answer, then back to the screen.
pub fn decide(ctx: &Ctx, call: &mut Call) -> Reply {
    let form = match super::guard::checked_form(call, MAX_DECISION_BODY) {
        Ok(f) => f,
        Err(refusal) => return refusal,
    };
    let id = http::param(&form, "id").and_then(|v| v.parse::<i64>().ok());
    let answer = http::param(&form, "decision");
    let (Some(id), Some(answer @ ("same" | "different" | "not_sure"))) = (id, answer) else {
        return error_page(
            ctx,
            call,
            400,
            "Bad request",
            "A decision needs an item and an answer.",
        );
    };
    let Some(actor) = actor(call) else {
        return Reply::redirect("/login");
    };
    let reason = reason(&form);
    if answer == "not_sure" {
        return match review::review_not_sure(&ctx.store, id, &actor, reason.as_deref()) {
            Ok(()) => Reply::redirect(&format!("/review?decided={id}&done=not_sure#item-{id}")),
            Err(e) => error_page(ctx, call, 409, "Not saved", &format!("{e:#}")),
        };
    }
    let decision = if answer == "same" {
        Decision::Same
    } else {
        Decision::Different
    };
    let kind = match ctx.store.mpi_review_item(id) {
        Ok(Some(item)) => item.kind,
        Ok(None) => {
            return error_page(ctx, call, 404, "Not found", "There is no such review item.")
        }
        Err(e) => return internal_error("reading a review item", &e),
    };
    if reason.is_none() && review::decision_needs_reason(kind, decision) {
        let what = if kind == ReviewKind::Split {
            "split these records"
        } else {
            "merge these records into one person"
        };
        let message =
            format!("Write why you {what}: a reason is needed, it stays in the audit log.");
        return screen(ctx, call, 400, Some((&format!("item-{id}"), message)));
    }
    match review::review_decide_because(&ctx.store, id, decision, &actor, reason.as_deref()) {
        Ok(()) => Reply::redirect(&format!("/review?decided={id}&done={answer}")),
        Err(e) => error_page(ctx, call, 409, "Not decided", &format!("{e:#}")),
    }
}

/// `POST /review/merge` (`keep`, `merge`: two MPI IDs, `reason`, `csrf`): merges the identity
/// `merge` into `keep` by hand.
pub fn merge(ctx: &Ctx, call: &mut Call) -> Reply {
    let form = match super::guard::checked_form(call, MAX_DECISION_BODY) {
        Ok(f) => f,
        Err(refusal) => return refusal,
    };
    let field = |n: &str| http::param(&form, n).unwrap_or("").trim().to_uppercase();
    let (keep, merged) = (field("keep"), field("merge"));
    let Some(actor) = actor(call) else {
        return Reply::redirect("/login");
    };
    let problem = if keep.is_empty() || merged.is_empty() {
        Some("Give both MPI IDs: the one to keep and the one to merge into it.".to_string())
    } else if reason(&form).is_none() {
        Some(
            "Write why these are one person: a reason is needed, it stays in the audit log."
                .to_string(),
        )
    } else {
        review::merge_because(&ctx.store, &keep, &merged, &actor, reason(&form).as_deref())
            .err()
            .map(|e| format!("Not merged: {e:#}"))
    };
    match problem {
        Some(message) => screen(ctx, call, 400, Some(("merge", message))),
        None => Reply::redirect("/review?done=merged#merges"),
    }
}

/// `POST /review/unmerge` (`merged`: the MPI ID merged away, `reason`, `csrf`): undoes a merge.
pub fn unmerge(ctx: &Ctx, call: &mut Call) -> Reply {
    let form = match super::guard::checked_form(call, MAX_DECISION_BODY) {
        Ok(f) => f,
        Err(refusal) => return refusal,
    };
    let merged = http::param(&form, "merged")
        .unwrap_or("")
        .trim()
        .to_string();
    let Some(actor) = actor(call) else {
        return Reply::redirect("/login");
    };
    let problem = match reason(&form) {
        None => Some(
            "Write why this merge was wrong: a reason is needed, it stays in the audit log."
                .to_string(),
        ),
        Some(r) => review::unmerge_because(&ctx.store, &merged, &actor, Some(&r))
            .err()
            .map(|e| format!("Not undone: {e:#}")),
    };
    match problem {
        Some(message) => screen(
            ctx,
            call,
            400,
            Some((&format!("unmerge-{merged}"), message)),
        ),
        None => Reply::redirect("/review?done=unmerged#merges"),
    }
}
