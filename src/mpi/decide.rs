//! The resolver's decision rules, in one place for the two callers that must agree on them:
//! resolution (`Engine`, a pending record against its candidates) and `kadi mpi recheck` (a
//! record already linked against the other members of its identity). A rule added to one and
//! not the other would let recheck pass links the resolver now refuses (`docs/mpi.md`,
//! Relearning safely), so both go through [`Rules`]:
//! - [`Rules::pair`]: one scored pair: household members left apart, and the link band refused
//!   to a pair the learned table alone links (`learned_alone`) or that shares a household's
//!   phone or address without telling its members apart (`household_doubt`);
//! - [`unfit_member`]: identities do not chain (a record contradicting a member does not join);
//! - [`two_people`]: a record does not merge identities whose members contradict each other.
use super::household::{self, HouseholdValues};
use super::MpiSettings;
use crate::store::Store;
use anyhow::Result;
use kadi_sqlext::mpi::{
    explain_prepared_with, identity_contradiction, Explanation, Level, PreparedRecord,
};

/// What the rules make of one scored pair.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum PairVerdict {
    /// Two members of one household, not one person: the pair is not even asked about.
    Apart,
    /// The pair's score for the decision (capped just under the link band when a rule refuses
    /// the link), and the rule's reason in plain words.
    Scored(f64, Option<String>),
}

/// The rules that need the store: how many people hold each phone, address and name, read
/// once, the first time a pair needs it (most passes never do).
#[derive(Default)]
pub(super) struct Rules {
    households: Option<HouseholdValues>,
}

impl Rules {
    /// Rules with the store's household counts already made.
    pub(super) fn with_households(households: HouseholdValues) -> Rules {
        Rules {
            households: Some(households),
        }
    }

    fn households(&mut self, store: &Store) -> Result<&HouseholdValues> {
        Ok(match self.households {
            Some(ref h) => h,
            None => self.households.insert(household::household_values(store)?),
        })
    }

    /// The resolver's verdict on record `a` against candidate `b` that scored `score`
    /// (`score_pair`, before any identity-level rule).
    pub(super) fn pair(
        &mut self,
        store: &Store,
        settings: &MpiSettings,
        a: &PreparedRecord,
        b: &PreparedRecord,
        score: f64,
    ) -> Result<PairVerdict> {
        let link = settings.link_threshold;
        let floor = settings.floor();
        if score < floor {
            return Ok(PairVerdict::Scored(score, None));
        }
        // One explanation for both household rules (each used to explain the pair again).
        let explanation = explain_prepared_with(&settings.params, a, b);
        if self.household_members_apart(store, &explanation, a, b)? {
            return Ok(PairVerdict::Apart);
        }
        // In the link band on what one household shares: a person decides.
        let doubt = match learned_alone(settings, a, b, score) {
            Some(why) => Some(why),
            None => self.household_doubt(store, settings, &explanation, a, b, score)?,
        };
        Ok(match doubt {
            Some(why) => PairVerdict::Scored(score.min(link.next_down()), Some(why.to_string())),
            None => PairVerdict::Scored(score, None),
        })
    }

    /// Two members of one household, not one person: the pair shares a phone or address that
    /// someone else holds too ([`HouseholdValues::shared_by_household`]) and agrees on at most
    /// one personal field while another contradicts it
    /// ([`kadi_sqlext::mpi::Explanation::one_personal_agreement_against_contradiction`]): twins
    /// (one birth date, two first names) or a father and his namesake son. Such a pair is left
    /// a new identity rather than asked: a person would have nothing to go on but what the
    /// household shares (`docs/mpi.md`, Household and veto).
    fn household_members_apart(
        &mut self,
        store: &Store,
        explanation: &Explanation,
        a: &PreparedRecord,
        b: &PreparedRecord,
    ) -> Result<bool> {
        if !explanation.one_personal_agreement_against_contradiction() {
            return Ok(false);
        }
        Ok(self.households(store)?.shared_by_household(a, b))
    }

    /// Why a pair scored in the link band (`score`) must wait for a person although the scorer
    /// would link it: it shares a household's phone or address and its given name or birth
    /// date does not tell that household's members apart
    /// ([`HouseholdValues::household_doubt`]). None below the link band.
    fn household_doubt(
        &mut self,
        store: &Store,
        settings: &MpiSettings,
        explanation: &Explanation,
        a: &PreparedRecord,
        b: &PreparedRecord,
        score: f64,
    ) -> Result<Option<&'static str>> {
        if score < settings.link_threshold {
            return Ok(None);
        }
        Ok(self.households(store)?.household_doubt(explanation, a, b))
    }
}

impl Rules {
    /// Identities do not chain through a slip: why record `me` must not join an identity
    /// although it fits each member's sex, date and ID ([`unfit_member`]): a member of its
    /// household is known under another given name in use
    /// ([`HouseholdValues::other_name_in_household`]). Not asked when a member holds the
    /// record's own given name: the identity is already known under it. The member and the
    /// reason, "... with member <uid>".
    pub(super) fn unfit_in_household<'m, P: AsRef<PreparedRecord> + 'm>(
        &mut self,
        store: &Store,
        settings: &MpiSettings,
        me: &PreparedRecord,
        members: impl IntoIterator<Item = (&'m str, &'m P)> + Clone,
    ) -> Result<Option<(&'m str, String)>> {
        let explained: Vec<_> = members
            .into_iter()
            .map(|(uid, p)| {
                (
                    uid,
                    p,
                    explain_prepared_with(&settings.params, me, p.as_ref()),
                )
            })
            .collect();
        if explained
            .iter()
            .any(|(_, _, e)| e.fields[0].1 == Level::Exact)
        {
            return Ok(None);
        }
        let households = self.households(store)?;
        Ok(explained.iter().find_map(|(uid, p, e)| {
            households
                .other_name_in_household(e, me, p.as_ref())
                .map(|why| (*uid, format!("{why} with member {uid}")))
        }))
    }
}

/// Learned parameters link automatically only what the a-priori table would at least ask
/// a person about: a pair that learned weights put in the link band while the a-priori
/// table scores it under the review band (two people by reasoned weights) waits for a
/// person. Training measures the store's typing habits; it cannot tell a namesake born a
/// few months apart from one person's mistyped date, and the reasoned table can
/// (`docs/mpi.md`, Learned parameters).
fn learned_alone(
    settings: &MpiSettings,
    a: &PreparedRecord,
    b: &PreparedRecord,
    score: f64,
) -> Option<&'static str> {
    if settings.params.trained.is_none() || score < settings.link_threshold {
        return None;
    }
    let reasoned = kadi_sqlext::mpi::score_prepared(a, b);
    (reasoned < settings.review_threshold)
        .then_some("linked only by the weights learned on this box")
}

/// Identities do not chain: why record `me` cannot join an identity whose other `members` (uid,
/// prepared) it would link to: the first member it contradicts (sex, birth dates years apart,
/// national ID: [`identity_contradiction`]) and the reason, "... with member <uid>". None when
/// it fits them all.
pub(super) fn unfit_member<'m, P: AsRef<PreparedRecord> + 'm>(
    me: &PreparedRecord,
    members: impl IntoIterator<Item = (&'m str, &'m P)>,
) -> Option<(&'m str, String)> {
    members.into_iter().find_map(|(uid, p)| {
        identity_contradiction(me, p.as_ref()).map(|why| (uid, format!("{why} with member {uid}")))
    })
}

/// The reason a record in the link band with several identities (their members, one list each)
/// must not merge them: a member of one contradicts a member of another (sex, birth dates years
/// apart, national ID, first names: the scorer's contradictions), so the record could be either
/// person (`docs/mpi.md`, Links inside a household).
pub(super) fn two_people<P: AsRef<PreparedRecord>>(
    settings: &MpiSettings,
    identities: &[Vec<P>],
) -> Option<&'static str> {
    let params = &settings.params;
    let apart = |x: &[P], y: &[P]| {
        x.iter().any(|a| {
            y.iter()
                .any(|b| explain_prepared_with(params, a.as_ref(), b.as_ref()).contradicted)
        })
    };
    let n = identities.len();
    let found = (0..n).any(|i| (i + 1..n).any(|j| apart(&identities[i], &identities[j])));
    found.then_some("fits two identities that are two people")
}
