//! Rechecking links already made, after the scorer, its parameters or its rules changed
//! (`kadi mpi recheck`). New parameters must never silently re-link or unlink an identity: a link
//! the current scorer would not make is *listed* (`--dry-run`) or *queued* as a split review item
//! for a staff member ("same person" keeps it, "different" splits the record out); nothing is
//! unlinked here. Only automatic links (`auto`, `deterministic`) in identities of 2+ members are
//! checked: a founder (`new`) is what others joined, and a person's link (`human`) is a person's
//! decision. Scoring goes through the resolver's own functions (`score_pair`,
//! `member_contradiction`, `explain_pair`), so rechecking follows whatever the resolver scores with.
use super::{
    explain_pair, member_contradiction, prepare_json, score_pair, with_unfit, MpiSettings, MpiState,
};
use crate::actor::Actor;
use crate::store::Store;
use anyhow::Result;
use kadi_sqlext::mpi::{Params, PreparedRecord};
use serde::Serialize;
use std::collections::BTreeMap;

/// An automatic link the current scorer would not make.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RecheckedLink {
    /// The enrollment linked automatically.
    pub enrollment: String,
    /// The identity it is linked to.
    pub mpi_id: String,
    /// The member it was checked against: the one it contradicts, else its best match.
    pub member: String,
    /// Its best score against the other members now.
    pub score_now: f64,
    /// Why it would not be linked now, in plain words.
    pub reason: String,
    /// The split review item queued for it (`None` in a dry run, or when one was already pending).
    pub review_item: Option<i64>,
    /// A split item for it was already waiting for a person (none was added).
    pub already_queued: bool,
}

/// What one recheck found and did.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RecheckReport {
    /// True when nothing was changed (`--dry-run`).
    pub dry_run: bool,
    /// Automatic links checked.
    pub links_checked: usize,
    /// The links the current scorer would not make.
    pub flagged: Vec<RecheckedLink>,
    /// Split items added to the review queue by this run.
    pub queued: usize,
}

/// Rechecks every automatic link with the current scorer and settings; unless `dry_run`, queues
/// one split review item per link it would not make (none twice), each audited as `actor`'s.
pub fn recheck(store: &Store, dry_run: bool, actor: &Actor) -> Result<RecheckReport> {
    recheck_with(store, &MpiSettings::load(store)?, dry_run, actor)
}

/// [`recheck`] with the given settings and scorer parameters: `kadi mpi train` asks it which
/// links new parameters would not make, before they are put in force.
pub fn recheck_with(
    store: &Store,
    settings: &MpiSettings,
    dry_run: bool,
    actor: &Actor,
) -> Result<RecheckReport> {
    let links = store.mpi_automatic_links()?;
    let mut report = RecheckReport {
        dry_run,
        links_checked: links.len(),
        ..RecheckReport::default()
    };
    let mut by_identity: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for l in &links {
        by_identity
            .entry(l.mpi_id.as_str())
            .or_default()
            .push(l.enrollment_uid.as_str());
    }
    for (mpi_id, checked) in by_identity {
        let members = prepared_members(store, mpi_id)?;
        for uid in checked {
            let Some(me) = members.get(uid) else { continue };
            if let Some(mut flagged) = verdict(settings, uid, me, &members) {
                flagged.mpi_id = mpi_id.to_string();
                report.flagged.push(flagged);
            }
        }
    }
    if !dry_run {
        store.mpi_batch(|| queue(store, &settings.params, &mut report, actor))?;
    }
    Ok(report)
}

/// Prepared fields of an identity's members (a member whose card record is gone is left out).
fn prepared_members(store: &Store, mpi_id: &str) -> Result<BTreeMap<String, PreparedRecord>> {
    let mut out = BTreeMap::new();
    for m in store.mpi_member_records(mpi_id)? {
        out.insert(
            m.enrollment_uid.clone(),
            prepare_json(&m.enrollment_uid, &m.fields_json)?,
        );
    }
    Ok(out)
}

/// Whether the resolver would link `uid` into an identity of `members` now, as resolution
/// decides: its best member scores in the link band and no member contradicts it. `None` when it
/// would; else the link to flag (its `mpi_id` left for the caller).
fn verdict(
    settings: &MpiSettings,
    uid: &str,
    me: &PreparedRecord,
    members: &BTreeMap<String, PreparedRecord>,
) -> Option<RecheckedLink> {
    let mut best: Option<(f64, &str)> = None;
    let mut contradiction = None;
    for (other, prepared) in members.iter().filter(|(o, _)| o.as_str() != uid) {
        let score = score_pair(&settings.params, me, prepared, 0.0).unwrap_or(0.0);
        if best.is_none_or(|(b, _)| score > b) {
            best = Some((score, other));
        }
        if contradiction.is_none() {
            contradiction = member_contradiction(me, prepared).map(|why| (why, other.as_str()));
        }
    }
    let (score, best_member) = best?;
    let link = settings.link_threshold;
    let (reason, member) = match contradiction {
        Some((why, other)) => (format!("{why} with member {other}"), other),
        None if score < link => (
            format!("would not be linked now: best score {score:.3} with member {best_member}, under the link band ({link})"),
            best_member,
        ),
        None => return None,
    };
    Some(RecheckedLink {
        enrollment: uid.to_string(),
        mpi_id: String::new(),
        member: member.to_string(),
        score_now: score,
        reason,
        review_item: None,
        already_queued: false,
    })
}

/// Queues a split item for every flagged link that has none pending, with the pair's reasons,
/// and audits each.
fn queue(store: &Store, params: &Params, report: &mut RecheckReport, actor: &Actor) -> Result<()> {
    for flagged in report.flagged.iter_mut() {
        let (uid, member) = (flagged.enrollment.clone(), flagged.member.clone());
        let (uid, member) = (uid.as_str(), member.as_str());
        if store.mpi_has_pending_split(uid)? {
            flagged.already_queued = true;
            continue;
        }
        let (Some(me), Some(other)) = (
            store.mpi_record_fields(uid)?,
            store.mpi_record_fields(member)?,
        ) else {
            continue;
        };
        let me = prepare_json(uid, &me)?;
        let other = prepare_json(member, &other)?;
        // The pair's own veto already names a contradiction with this member; a link that only
        // scores under the band now has none, so the reason becomes the veto the screen shows.
        let explain = explain_pair(params, &me, &other);
        let vetoed = serde_json::from_str::<serde_json::Value>(&explain)
            .is_ok_and(|v| v["veto"].is_string());
        let explain = if vetoed {
            explain
        } else {
            with_unfit(explain, &Some(flagged.reason.clone()))
        };
        let Some(id) = store.mpi_insert_split_review(
            uid,
            member,
            &flagged.mpi_id,
            flagged.score_now,
            &explain,
        )?
        else {
            flagged.already_queued = true;
            continue;
        };
        store.mpi_set_state(uid, MpiState::Review)?;
        store.audit(
            actor.as_str(),
            "mpi.recheck.queue",
            Some(&format!("review_item:{id}")),
            Some(&serde_json::json!({ "enrollment": uid, "mpi_id": flagged.mpi_id }).to_string()),
            Some(
                &serde_json::json!({ "kind": "split", "status": "pending", "reason": flagged.reason })
                    .to_string(),
            ),
        )?;
        flagged.review_item = Some(id);
        report.queued += 1;
    }
    Ok(())
}
