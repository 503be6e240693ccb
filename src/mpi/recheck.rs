//! Rechecking links already made, after the scorer, its parameters or its rules changed
//! (`kadi mpi recheck`). New parameters must never silently re-link or unlink an identity: a link
//! the current scorer would not make is *listed* (`--dry-run`) or *queued* as a split review item
//! for a staff member ("same person" keeps it, "different" splits the record out); nothing is
//! unlinked here. Only automatic links (`auto`, `deterministic`) in identities of 2+ members are
//! checked: a founder (`new`) is what others joined, and a person's link (`human`) is a person's
//! decision. Scoring and deciding go through the resolver's own code (`score_pair`, and the rules
//! of `decide.rs`: household members apart, household doubt, the learned table's floor,
//! identities do not chain, a record does not merge two people), so rechecking follows whatever
//! the resolver scores and decides with.
use super::decide::{two_people, unfit_member, PairVerdict, Rules};
use super::{explain_pair, prepare_json, score_pair, with_unfit, MpiSettings, MpiState};
use crate::actor::Actor;
use crate::store::Store;
use anyhow::Result;
use kadi_sqlext::mpi::{Params, PreparedRecord};
use serde::Serialize;
use std::collections::BTreeMap;
use std::rc::Rc;

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
    let mut rules = Rules::default();
    for (mpi_id, checked) in by_identity {
        let members = Identity::read(store, settings, &mut rules, mpi_id)?;
        for uid in checked {
            if let Some(mut flagged) = members.verdict(store, settings, &mut rules, uid)? {
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

/// A pair's score after the resolver's pair rules, and the reason of the rule that capped it.
type Scored = (f64, Option<String>);

/// An identity's members (a member whose card record is gone is left out) and what the
/// resolver's rules ([`Rules::pair`]) make of every pair of them, computed once.
struct Identity {
    uids: Vec<String>,
    prepared: Vec<Rc<PreparedRecord>>,
    /// `verdicts[i][j]`: member `i` against member `j` as the resolver scores a candidate:
    /// `None` when the rules leave the two apart, else the score after the pair rules (capped
    /// under the link band when one refuses the link) and that rule's reason.
    verdicts: Vec<Vec<Option<Scored>>>,
}

impl Identity {
    fn read(
        store: &Store,
        settings: &MpiSettings,
        rules: &mut Rules,
        mpi_id: &str,
    ) -> Result<Self> {
        let mut uids = Vec::new();
        let mut prepared = Vec::new();
        for m in store.mpi_member_records(mpi_id)? {
            prepared.push(Rc::new(prepare_json(&m.enrollment_uid, &m.fields_json)?));
            uids.push(m.enrollment_uid);
        }
        let n = uids.len();
        let mut verdicts = vec![vec![None; n]; n];
        for i in 0..n {
            for j in 0..n {
                if i == j {
                    continue;
                }
                let (a, b) = (&prepared[i], &prepared[j]);
                let score = score_pair(&settings.params, a, b, 0.0).unwrap_or(0.0);
                verdicts[i][j] = match rules.pair(store, settings, a, b, score)? {
                    PairVerdict::Apart => None,
                    PairVerdict::Scored(s, why) => Some((s, why)),
                };
            }
        }
        Ok(Identity {
            uids,
            prepared,
            verdicts,
        })
    }

    /// The identities the members but `me` would make without it: the connected components
    /// of the pairs the rules put in the link band (a record that tied two groups together
    /// sees them as two identities, as the resolver saw them when it merged them).
    fn groups_without(&self, me: usize, link: f64) -> Vec<Vec<usize>> {
        let n = self.uids.len();
        let mut group: Vec<usize> = (0..n).collect();
        fn root(group: &mut [usize], mut i: usize) -> usize {
            while group[i] != i {
                group[i] = group[group[i]];
                i = group[i];
            }
            i
        }
        for i in (0..n).filter(|&i| i != me) {
            for j in (i + 1..n).filter(|&j| j != me) {
                if self.verdicts[i][j]
                    .as_ref()
                    .is_some_and(|(s, _)| *s >= link)
                {
                    let (ri, rj) = (root(&mut group, i), root(&mut group, j));
                    group[ri.max(rj)] = ri.min(rj);
                }
            }
        }
        let mut out: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
        for i in (0..n).filter(|&i| i != me) {
            out.entry(root(&mut group, i)).or_default().push(i);
        }
        out.into_values().collect()
    }

    /// Whether the resolver would link member `uid` into this identity now, with its own rules
    /// in its own order: each pair's rules ([`Rules::pair`]), identities do not chain
    /// ([`unfit_member`]: `uid` must fit every other member), and a record does not merge two
    /// people ([`two_people`]: when the others make several identities without `uid` and it
    /// links to two of them whose members contradict each other). `None` when it would; else
    /// the link to flag (its `mpi_id` left for the caller).
    fn verdict(
        &self,
        store: &Store,
        settings: &MpiSettings,
        rules: &mut Rules,
        uid: &str,
    ) -> Result<Option<RecheckedLink>> {
        let Some(me) = self.uids.iter().position(|u| u == uid) else {
            return Ok(None);
        };
        if let Some(flagged) = self.verdict_scored(settings, me) {
            return Ok(Some(flagged));
        }
        // Identities do not chain through a slip: a member of its household known under
        // another given name in use ([`Rules::unfit_in_household`]).
        let others = (0..self.uids.len()).filter(|&i| i != me);
        let members = others.map(|i| (self.uids[i].as_str(), &self.prepared[i]));
        let why = rules.unfit_in_household(store, settings, &self.prepared[me], members)?;
        Ok(why.and_then(|(member, why)| {
            let at = self.uids.iter().position(|u| u == member)?;
            let score = self.verdicts[me][at].as_ref().map_or(0.0, |(s, _)| *s);
            Some(self.flag(me, at, score, why))
        }))
    }

    /// [`Self::verdict`]'s rules that need nothing but the members' pair verdicts.
    fn verdict_scored(&self, settings: &MpiSettings, me: usize) -> Option<RecheckedLink> {
        let link = settings.link_threshold;
        let others = (0..self.uids.len()).filter(|&i| i != me);
        // Per identity the others make: its best member and that pair's own reason.
        let mut best: Vec<(f64, usize, Option<String>)> = Vec::new();
        for g in self.groups_without(me, link) {
            let scored = g.iter().filter_map(|&i| {
                let (s, why) = self.verdicts[me][i].as_ref()?;
                Some((*s, i, why.clone()))
            });
            if let Some(b) = scored.max_by(|x, y| x.0.total_cmp(&y.0).then(y.1.cmp(&x.1))) {
                best.push(b);
            }
        }
        let top = best
            .iter()
            .max_by(|x, y| x.0.total_cmp(&y.0).then(y.1.cmp(&x.1)))
            .cloned();
        let Some((score, top_member, top_why)) = top else {
            // Every other member is a household member apart from it: never linked now.
            let first = others.clone().next()?;
            return Some(self.flag(
                me,
                first,
                0.0,
                "two members of one household, not one person".into(),
            ));
        };
        // The resolver leaves its best candidate out (that pair's own veto already weighed a
        // contradiction); checked here too, so the reason names it.
        let unfit = unfit_member(
            &self.prepared[me],
            others.map(|i| (self.uids[i].as_str(), &self.prepared[i])),
        );
        if let Some((member, why)) = unfit {
            let at = self.uids.iter().position(|u| u == member)?;
            return Some(self.flag(me, at, score, why));
        }
        let linked: Vec<&(f64, usize, Option<String>)> =
            best.iter().filter(|(s, _, _)| *s >= link).collect();
        if linked.is_empty() {
            let why = top_why.unwrap_or_else(|| {
                let best_member = &self.uids[top_member];
                format!("would not be linked now: best score {score:.3} with member {best_member}, under the link band ({link})")
            });
            return Some(self.flag(me, top_member, score, why));
        }
        if linked.len() > 1 {
            let groups = self.groups_without(me, link);
            let identities: Vec<Vec<&Rc<PreparedRecord>>> = groups
                .iter()
                .filter(|g| linked.iter().any(|(_, i, _)| g.contains(i)))
                .map(|g| g.iter().map(|&i| &self.prepared[i]).collect())
                .collect();
            if let Some(why) = two_people(settings, &identities) {
                return Some(self.flag(me, top_member, score, why.to_string()));
            }
        }
        None
    }

    fn flag(&self, me: usize, member: usize, score: f64, reason: String) -> RecheckedLink {
        RecheckedLink {
            enrollment: self.uids[me].clone(),
            mpi_id: String::new(),
            member: self.uids[member].clone(),
            score_now: score,
            reason,
            review_item: None,
            already_queued: false,
        }
    }
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
