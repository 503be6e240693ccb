//! People's decisions on identities: the review queue (list, decide), manual link / unlink,
//! merge / unmerge and split. Every change is audited with who, when, before and after, and runs
//! in one transaction. The web page and `kadi mpi` call these functions.
use super::{
    create_identity, current_mpi_id, merge_identities_because, update_golden, with_reason,
    LinkMethod, MpiSettings, MpiState, ReviewKind, ReviewStatus,
};
use crate::actor::Actor;
use crate::store::records::ResolvedCard;
use crate::store::Store;
use anyhow::{bail, Context, Result};
use serde::Serialize;

/// One side of a review pair.
#[derive(Debug, Clone, Serialize)]
pub struct ReviewSide {
    /// The enrollment.
    pub enrollment_uid: String,
    /// The MPI ID it currently resolves to.
    pub mpi_id: Option<String>,
    /// Its card fields.
    pub fields: crate::record::CardFields,
}

/// A pending review item with both records, for the page and `kadi mpi review list --json`.
#[derive(Debug, Clone, Serialize)]
pub struct ReviewPair {
    /// Review item ID (what `decide` takes).
    pub id: i64,
    /// The score that put the pair in the review band.
    pub score: f64,
    /// The record waiting for a decision.
    pub record: ReviewSide,
    /// The candidate it may be the same person as.
    pub candidate: ReviewSide,
    /// `mpi_explain` of the pair.
    pub explain: serde_json::Value,
    /// What agrees, differs and is missing, and why it was not linked, in plain words (from the
    /// stored explanation; `None` when that is unreadable).
    pub reasons: Option<kadi_sqlext::mpi::Reasons>,
    /// `pair` (may be one person: "same" merges) or `split` (linked automatically, may be two
    /// people: "same" keeps the link, "different" splits the record out).
    pub kind: ReviewKind,
    /// When the item was created.
    pub created_at: String,
}

/// The reasons of a stored explanation in plain words, recomputed from its levels and its veto
/// as stored: the resolver adds to the veto after scoring (a member the record contradicts), and
/// items queued before reasons existed have none stored.
pub fn reasons_of(explain: &serde_json::Value) -> Option<kadi_sqlext::mpi::Reasons> {
    let fields = explain.get("fields")?.as_object()?;
    let mut levels = Vec::with_capacity(fields.len());
    for (field, v) in fields {
        let level = kadi_sqlext::mpi::level_named(v.get("level")?.as_str()?)?;
        levels.push((field.as_str(), level));
    }
    // FIELDS order, as mpi_explain writes them (a JSON map need not keep it).
    levels.sort_by_key(|(f, _)| kadi_sqlext::mpi::FIELDS.iter().position(|x| x == f));
    let swapped = explain.get("names_swapped").and_then(|v| v.as_bool()) == Some(true);
    let veto = explain.get("veto").and_then(|v| v.as_str());
    Some(kadi_sqlext::mpi::reasons(&levels, swapped, veto))
}

/// A person's answer on a review item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// The two records are one person: their identities merge.
    Same,
    /// Different people: the pair is never proposed again.
    Different,
}

impl Decision {
    /// The review item status this answer leaves.
    pub fn status(self) -> ReviewStatus {
        match self {
            Decision::Same => ReviewStatus::Same,
            Decision::Different => ReviewStatus::Different,
        }
    }
}

fn side(store: &Store, uid: &str) -> Result<ReviewSide> {
    let card: Option<ResolvedCard> = store.card_record(uid)?;
    let fields = card.map(|c| c.record.fields).unwrap_or_default();
    Ok(ReviewSide {
        enrollment_uid: uid.to_string(),
        mpi_id: super::mpi_id_for(store, uid)?,
        fields,
    })
}

/// Pending review items, oldest first, with both records and the explanation.
pub fn review_list(store: &Store) -> Result<Vec<ReviewPair>> {
    let mut out = Vec::new();
    for item in store.mpi_review_items(ReviewStatus::Pending)? {
        let explain = serde_json::from_str(&item.explain_json).unwrap_or(serde_json::Value::Null);
        out.push(ReviewPair {
            id: item.id,
            score: item.score,
            record: side(store, &item.enrollment_uid)?,
            candidate: side(store, &item.candidate_enrollment_uid)?,
            reasons: reasons_of(&explain),
            explain,
            kind: item.kind,
            created_at: item.created_at,
        });
    }
    Ok(out)
}

/// Records a decision on review item `id` by `actor` (a staff member on the page, or the shell).
pub fn review_decide(store: &Store, id: i64, decision: Decision, actor: &Actor) -> Result<()> {
    review_decide_because(store, id, decision, actor, None)
}

/// True when a decision changes identities (a pair's "same" merges, a split's "different"
/// splits): the page asks for a reason before it does that.
pub fn decision_needs_reason(kind: ReviewKind, decision: Decision) -> bool {
    matches!(
        (kind, decision),
        (ReviewKind::Pair, Decision::Same) | (ReviewKind::Split, Decision::Different)
    )
}

/// [`review_decide`] with the reason the person gave, kept in the decision's audit row (and the
/// merge's); [`decision_needs_reason`] says when the page insists on one.
pub fn review_decide_because(
    store: &Store,
    id: i64,
    decision: Decision,
    actor: &Actor,
    reason: Option<&str>,
) -> Result<()> {
    let by = actor.as_str();
    anyhow::ensure!(
        !by.trim().is_empty(),
        "a decision needs the staff member who made it (--by)"
    );
    store.mpi_batch(|| {
        let item = store.mpi_review_item(id)?.with_context(|| format!("no review item {id}"))?;
        if item.status != ReviewStatus::Pending {
            bail!("review item {id} was already decided ({}) by {}", item.status, item.decided_by.as_deref().unwrap_or("?"));
        }
        if item.kind == ReviewKind::Split {
            return decide_split(store, &item, decision, actor, reason);
        }
        let record_mpi = super::mpi_id_for(store, &item.enrollment_uid)?;
        let candidate_mpi = super::mpi_id_for(store, &item.candidate_enrollment_uid)?;
        let before = serde_json::json!({ "status": ReviewStatus::Pending, "record_mpi_id": record_mpi, "candidate_mpi_id": candidate_mpi });
        match decision {
            Decision::Same => {
                let survivor = super::mpi_id_for(store, &item.candidate_enrollment_uid)?
                    .with_context(|| format!("candidate {} has no identity", item.candidate_enrollment_uid))?;
                let mine = super::mpi_id_for(store, &item.enrollment_uid)?;
                match mine {
                    Some(m) if m != survivor => merge_identities_because(store, &survivor, &m, actor, reason)?,
                    Some(_) => {}
                    None => store.mpi_set_link(&item.enrollment_uid, &survivor, Some(item.score), LinkMethod::Human)?,
                }
                store.mpi_set_link(&item.enrollment_uid, &survivor, Some(item.score), LinkMethod::Human)?;
                store.mpi_decide_review(id, ReviewStatus::Same, by)?;
            }
            Decision::Different => {
                store.mpi_insert_not_same(&item.enrollment_uid, &item.candidate_enrollment_uid, by)?;
                store.mpi_decide_review(id, ReviewStatus::Different, by)?;
            }
        }
        if store.mpi_pending_review_count(&item.enrollment_uid)? == 0 {
            store.mpi_set_state(&item.enrollment_uid, MpiState::Resolved)?;
        }
        let after = with_reason(serde_json::json!({ "status": decision.status(), "record_mpi_id": super::mpi_id_for(store, &item.enrollment_uid)? }), reason);
        store.audit(by, "mpi.review.decide", Some(&format!("review_item:{id}")), Some(&before.to_string()), Some(&after.to_string()))?;
        if let (Some(r), Some(c)) = (record_mpi, candidate_mpi) {
            close_answered(store, id, decision, &r, &c, by)?;
        }
        Ok(())
    })
}

/// A person's answer on a split item (queued by `kadi mpi recheck`): "same" keeps the automatic
/// link and makes it a person's (`human`, so no later recheck asks again); "different" splits the
/// record out into an identity of its own ([`split`], audited there too) and remembers the pair
/// as different people. Audited as `mpi.review.decide`.
fn decide_split(
    store: &Store,
    item: &crate::store::mpi_data::ReviewItemRow,
    decision: Decision,
    actor: &Actor,
    reason: Option<&str>,
) -> Result<()> {
    let by = actor.as_str();
    let uid = item.enrollment_uid.as_str();
    let link = store
        .mpi_link(uid)?
        .with_context(|| format!("enrollment {uid} has no identity"))?;
    let before = serde_json::json!({ "status": ReviewStatus::Pending, "kind": ReviewKind::Split, "mpi_id": link.mpi_id, "method": link.method });
    let after = match decision {
        Decision::Same => {
            store.mpi_set_link(uid, &link.mpi_id, link.score, LinkMethod::Human)?;
            serde_json::json!({ "status": ReviewStatus::Same, "mpi_id": link.mpi_id, "method": LinkMethod::Human })
        }
        Decision::Different => {
            let new_id = split(store, &[uid.to_string()], actor)?;
            store.mpi_insert_not_same(uid, &item.candidate_enrollment_uid, by)?;
            serde_json::json!({ "status": ReviewStatus::Different, "mpi_id": new_id, "split_from": link.mpi_id })
        }
    };
    store.mpi_decide_review(item.id, decision.status(), by)?;
    if store.mpi_pending_review_count(uid)? == 0 {
        store.mpi_set_state(uid, MpiState::Resolved)?;
    }
    store.audit(
        by,
        "mpi.review.decide",
        Some(&format!("review_item:{}", item.id)),
        Some(&before.to_string()),
        Some(&with_reason(after, reason).to_string()),
    )
}

/// "Not sure" on review item `id`: it stays in the queue, and the answer (with the person's note,
/// if any) is audited as `mpi.review.not_sure` so the next person sees it was looked at.
pub fn review_not_sure(store: &Store, id: i64, actor: &Actor, note: Option<&str>) -> Result<()> {
    let by = actor.as_str();
    anyhow::ensure!(
        !by.trim().is_empty(),
        "an answer needs the staff member who gave it"
    );
    store.mpi_batch(|| {
        let item = store
            .mpi_review_item(id)?
            .with_context(|| format!("no review item {id}"))?;
        if item.status != ReviewStatus::Pending {
            bail!("review item {id} was already decided ({})", item.status);
        }
        let after = with_reason(serde_json::json!({ "status": ReviewStatus::Pending }), note);
        store.audit(
            by,
            "mpi.review.not_sure",
            Some(&format!("review_item:{id}")),
            None,
            Some(&after.to_string()),
        )
    })
}

/// Closes the other pending items that the decision on item `id` answered: items between the
/// same two identities (`record_mpi`, `candidate_mpi` as they were before it) ask the same
/// question. After "same" they are items inside the merged identity; after "different" each of
/// their pairs is remembered as different too. Each closing is audited as that person's decision,
/// naming the item it came with.
fn close_answered(
    store: &Store,
    id: i64,
    decision: Decision,
    record_mpi: &str,
    candidate_mpi: &str,
    by: &str,
) -> Result<()> {
    if decision == Decision::Different && record_mpi == candidate_mpi {
        // Both sides were already one identity (merged since the item was made): "different"
        // speaks of these two records only, not of every other pair inside that identity.
        return Ok(());
    }
    let items = match decision {
        Decision::Same => {
            let survivor = super::current_mpi_id(store, candidate_mpi)?;
            store.mpi_pending_reviews_between(&survivor, &survivor)?
        }
        Decision::Different => store.mpi_pending_reviews_between(record_mpi, candidate_mpi)?,
    };
    let status = decision.status();
    for (other, record, candidate) in items {
        if decision == Decision::Different {
            store.mpi_insert_not_same(&record, &candidate, by)?;
        }
        store.mpi_decide_review(other, status, by)?;
        if store.mpi_pending_review_count(&record)? == 0 {
            store.mpi_set_state(&record, MpiState::Resolved)?;
        }
        store.audit(
            by,
            "mpi.review.decide",
            Some(&format!("review_item:{other}")),
            Some(&serde_json::json!({ "status": ReviewStatus::Pending }).to_string()),
            Some(&serde_json::json!({ "status": status, "answered_with": format!("review_item:{id}") }).to_string()),
        )?;
    }
    Ok(())
}

/// Links an enrollment to an identity by hand (method `human`).
pub fn link(store: &Store, enrollment_uid: &str, mpi_id: &str, by: &Actor) -> Result<()> {
    store.mpi_batch(|| {
        let target = current_mpi_id(store, mpi_id)?;
        anyhow::ensure!(
            store.mpi_identity(&target)?.is_some(),
            "no identity {mpi_id}"
        );
        anyhow::ensure!(
            store.card_record(enrollment_uid)?.is_some(),
            "no card record {enrollment_uid}"
        );
        let before = store.mpi_link(enrollment_uid)?.map(|l| l.mpi_id);
        store.mpi_set_link(enrollment_uid, &target, None, LinkMethod::Human)?;
        store.mpi_set_state(enrollment_uid, MpiState::Resolved)?;
        update_golden(store, &target)?;
        if let Some(b) = &before {
            update_golden(store, b)?;
        }
        store.audit(
            by.as_str(),
            "mpi.link",
            Some(enrollment_uid),
            before
                .map(|b| serde_json::json!({ "mpi_id": b }).to_string())
                .as_deref(),
            Some(&serde_json::json!({ "mpi_id": target }).to_string()),
        )
    })
}

/// Takes an enrollment out of its identity into a new one of its own; returns the new MPI ID.
pub fn unlink(store: &Store, enrollment_uid: &str, by: &Actor) -> Result<String> {
    split(store, &[enrollment_uid.to_string()], by)
}

/// Moves the given enrollments (of one identity) into one new identity; returns its MPI ID.
pub fn split(store: &Store, enrollments: &[String], by: &Actor) -> Result<String> {
    anyhow::ensure!(!enrollments.is_empty(), "nothing to split");
    let settings = MpiSettings::load(store)?;
    store.mpi_batch(|| {
        let mut from = None;
        for e in enrollments {
            let l = store
                .mpi_link(e)?
                .with_context(|| format!("enrollment {e} has no identity"))?;
            if from.as_ref().is_some_and(|f| *f != l.mpi_id) {
                bail!("enrollments belong to different identities; split one identity at a time");
            }
            from = Some(l.mpi_id);
        }
        let from = from.unwrap_or_default();
        let new_id = create_identity(store, &settings)?;
        for e in enrollments {
            store.mpi_set_link(e, &new_id, None, LinkMethod::Human)?;
        }
        update_golden(store, &new_id)?;
        update_golden(store, &from)?;
        store.audit(
            by.as_str(),
            "mpi.split",
            Some(&from),
            Some(&serde_json::json!({ "mpi_id": from, "enrollments": enrollments }).to_string()),
            Some(&serde_json::json!({ "mpi_id": new_id, "enrollments": enrollments }).to_string()),
        )?;
        Ok(new_id)
    })
}

/// Merges identity `b` into `a` by hand; `b` stays resolvable and points to `a`.
pub fn merge(store: &Store, a: &str, b: &str, by: &Actor) -> Result<()> {
    merge_because(store, a, b, by, None)
}

/// [`merge`] with the reason the person gave (kept in the audit row).
pub fn merge_because(
    store: &Store,
    a: &str,
    b: &str,
    by: &Actor,
    reason: Option<&str>,
) -> Result<()> {
    store.mpi_batch(|| {
        let (a, b) = (current_mpi_id(store, a)?, current_mpi_id(store, b)?);
        anyhow::ensure!(store.mpi_identity(&a)?.is_some(), "no identity {a}");
        anyhow::ensure!(store.mpi_identity(&b)?.is_some(), "no identity {b}");
        merge_identities_because(store, &a, &b, by, reason)
    })
}

/// Undoes the merge of `merged`: the records it brought go back and it stands on its own again.
pub fn unmerge(store: &Store, merged: &str, by: &Actor) -> Result<()> {
    unmerge_because(store, merged, by, None)
}

/// [`unmerge`] with the reason the person gave (kept in the audit row).
pub fn unmerge_because(
    store: &Store,
    merged: &str,
    by: &Actor,
    reason: Option<&str>,
) -> Result<()> {
    store.mpi_batch(|| {
        let m = store
            .mpi_merge_of(merged)?
            .with_context(|| format!("{merged} is not a merged identity"))?;
        let mut moved = Vec::new();
        for e in &m.enrollments {
            // Only records still under the survivor go back (others were relinked since).
            if store
                .mpi_link(e)?
                .is_some_and(|l| l.mpi_id == m.survivor_mpi_id)
            {
                store.mpi_set_link(e, merged, None, LinkMethod::Human)?;
                moved.push(e.clone());
            }
        }
        store.mpi_set_merged_into(merged, None)?;
        store.mpi_delete_merge(merged)?;
        update_golden(store, merged)?;
        update_golden(store, &m.survivor_mpi_id)?;
        store.audit(
            by.as_str(),
            "mpi.unmerge",
            Some(merged),
            Some(&serde_json::json!({ "merged_into": m.survivor_mpi_id }).to_string()),
            Some(
                &with_reason(
                    serde_json::json!({ "mpi_id": merged, "enrollments": moved }),
                    reason,
                )
                .to_string(),
            ),
        )
    })
}
