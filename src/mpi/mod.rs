//! The Master Patient Index: blocking keys, candidate scoring with `kadi_sqlext::mpi` (the same
//! scorer as SQL `mpi_score`), the link / review / new bands, review decisions, link / unlink /
//! merge / unmerge / split with an audit trail, MPI IDs and golden records.
//!
//! Callers: `sync` calls [`resolve_pending`] after each run; the page calls [`review::review_list`],
//! [`review::review_decide`] and [`mpi_id_for`]; `kadi mpi` (see `cli.rs`) calls everything.
//!
//! # Resolution
//! Each pending card record (new or changed) is prepared once, its blocking keys are looked up in
//! `mpi_block_keys` (never a full scan; a key holding more than `mpi.block_cap` records is read
//! only up to the cap, in enrollment order, and reported as capped), every candidate is scored,
//! and scores are grouped per identity (best member wins). Then:
//! - every identity whose best score is >= `mpi.link_threshold` is linked: the record joins it, and
//!   when several identities qualify they are merged (the record proves they are one person). This
//!   makes the final identities the connected components of the link graph, the same whatever the
//!   order records arrive in (scores are symmetric by construction; see
//!   `the_same_records_in_any_order_end_in_the_same_identities` and `bench/mpi_order.py`), as long
//!   as no block is capped (a capped block keeps its first records in enrollment order);
//! - a new identity otherwise;
//! - in both cases, the best other identity scoring in the review band (>= `mpi.review_threshold`)
//!   gets a review item (a person decides; "same" merges). One item per record keeps the queue
//!   short, and so does one question per pair of identities: an identity pair already asked
//!   (a pending item between them, or a person's "different" between members) is skipped and the
//!   next identity in the band is asked instead. Every later record of a person used to re-ask
//!   whether the twin or namesake waiting in review was them: on FEBRL2 without national ID the
//!   queue went from 249 items to 129, and the freed slots brought 3 more true pairs to review.
//!   A decision answers every pending item between the same two identities (see
//!   [`review::review_decide`]). Which member of an identity is shown can depend on arrival
//!   order, so the review queue (not the automatic identities) may differ slightly between orders.
//!
//! Cost: pending records come in batches of 2,000 (one transaction each) in enrollment order; a
//! batch's records are prepared and keyed on rayon's threads, then decided one at a time. All
//! blocking keys of a record are looked up in one statement, and candidates' prepared fields and
//! identities are kept in a bounded cache (see `PREPARED_GENERATION`; merges update it). A pass
//! that began with no blocking keys stored (a first sync, an evaluation) keeps its own compact
//! index instead ([`first_pass`]: candidates are record numbers, no statement, no UID hashing;
//! its keys are staged in enrollment order and sorted into the table once, at the end, for later
//! passes: see `schema_v5.sql`), and reads, prepares, files and scores each batch while the one
//! before is decided: which records a record is compared with, and their scores, do not depend
//! on any decision. Either way memory stops growing at about 130,000 records
//! (`mpi.pass_records`). At 100,000 simulator records 5 million pairs are compared; most stop
//! before their names are (`score_prepared_from`: the other fields already rule out the review
//! band). The per-record writes (link, identity, keys, state) and their
//! commits are where the rest of the time goes.
//!
//! Household members are not asked about: a pair sharing a phone or address that a third
//! person holds, agreeing on at most one personal field while another contradicts it (twins,
//! a father and his namesake son), is left a new identity instead of a review item
//! ([`household`], `household_members_apart`; `docs/mpi.md`, Households the store can see).
//! Nor are they linked on what the household shares: a pair in the link band that shares a
//! household's phone or address waits for a person when its given names are two names in use
//! in the store, or a birth date is missing and nothing but one given name ties it
//! (`household_doubt`; `docs/mpi.md`, Links inside a household). Learned parameters link only
//! what the a-priori table would at least review (`learned_alone`).
//!
//! Pairs a person declared different (`mpi_not_same`) are never compared again. A record whose
//! compared fields are all missing gets its own identity and no blocking keys: it can never be
//! merged silently. The method of a link is `deterministic` when the best candidate shares the
//! national ID, `auto` otherwise, `human` after a review or a manual link, `new` for the first.
//!
//! # Golden record (survivorship)
//! Per field, the value held by most member records wins; a tie goes to the most recently mapped
//! record, then to the smallest value (so the result does not depend on row order).
mod decide;
pub mod eval;
mod first_pass;
pub mod household;
pub mod id;
pub mod learn;
pub mod recheck;
pub mod review;

use crate::actor::Actor;
use crate::record::{CardFields, CARD_FIELDS};
pub use crate::store::mpi_data::{LinkMethod, MpiState, ReviewKind, ReviewStatus};
use crate::store::Store;
use anyhow::{Context, Result};
use kadi_sqlext::mpi::{
    block_keys, compared_among_themselves, explain_prepared_with, lookup_keys_also, Params,
    PreparedRecord,
};
use rayon::prelude::*;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::rc::Rc;
use std::sync::Arc;

/// What one resolution pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ResolveReport {
    /// Records linked to an existing identity (score >= link threshold or deterministic ID).
    pub resolved: u64,
    /// Records that became a new identity.
    pub created: u64,
    /// Records waiting for a person's review.
    pub pending_review: u64,
    /// Candidate pairs scored.
    pub comparisons: u64,
    /// Blocking keys read only up to the cap because they held too many records.
    pub capped_blocks: u64,
    /// Identities merged because one record linked to several.
    pub merged: u64,
}

/// Resolution settings (from the store's settings, with the defaults).
#[derive(Debug, Clone, PartialEq)]
pub struct MpiSettings {
    /// Scores at or above link automatically (`mpi.link_threshold`, 0.95).
    pub link_threshold: f64,
    /// Scores at or above wait for review (`mpi.review_threshold`, 0.75).
    pub review_threshold: f64,
    /// Most candidates read from one blocking key (`mpi.block_cap`, 100).
    pub block_cap: usize,
    /// MPI ID prefix: country and district (`mpi.id_prefix`, `SN-DKR`).
    pub id_prefix: String,
    /// Most prepared records a first pass keeps in memory (`mpi.pass_records`, 131,072, about
    /// 100 MB); older ones are read again from the store when a blocking key brings them up.
    pub pass_records: usize,
    /// Where new MPI IDs take their year from (enrollment date, DHIS2's date, never before the
    /// build date).
    pub id_year: id::IdYear,
    /// The scorer's parameters: the table in force (`kadi mpi train --apply`), else the
    /// a-priori one.
    pub params: std::sync::Arc<Params>,
}

impl MpiSettings {
    /// Reads the settings, falling back to defaults; a malformed value is an error naming it.
    pub fn load(store: &Store) -> Result<MpiSettings> {
        let num = |key: &str, default: f64| -> Result<f64> {
            match store.setting(key)? {
                Some(v) => v
                    .trim()
                    .parse::<f64>()
                    .with_context(|| format!("setting {key} = {v:?} is not a number")),
                None => Ok(default),
            }
        };
        Ok(MpiSettings {
            link_threshold: num("mpi.link_threshold", kadi_sqlext::mpi::LINK)?,
            review_threshold: num("mpi.review_threshold", kadi_sqlext::mpi::REVIEW)?,
            block_cap: num("mpi.block_cap", 100.0)?.max(1.0) as usize,
            pass_records: num("mpi.pass_records", PASS_PREPARED_MAX as f64)?.max(1.0) as usize,
            id_prefix: store
                .setting("mpi.id_prefix")?
                .unwrap_or_else(|| "SN-DKR".into()),
            id_year: id_year(store)?,
            params: params_in_force(store)?,
        })
    }

    /// The lowest score that matters: the review band's floor (the link threshold if set
    /// lower). A pair that cannot reach it need not have its names compared.
    pub fn floor(&self) -> f64 {
        self.review_threshold.min(self.link_threshold)
    }
}

/// The scorer's parameters in force: the stored table put in force, else the a-priori table.
pub fn params_in_force(store: &Store) -> Result<std::sync::Arc<Params>> {
    Ok(std::sync::Arc::new(match store.mpi_params_in_force()? {
        Some(row) => Params::from_json(&row.params_json).map_err(|e| {
            anyhow::anyhow!(
                "the MPI parameters in force (mpi_params {}) are not readable: {e}",
                row.id
            )
        })?,
        None => kadi_sqlext::mpi::default_params().clone(),
    }))
}

/// Fewest candidates of one record scored on rayon's threads (see `best_per_identity`).
const PARALLEL_SCORING_MIN: usize = 32;

/// Most review items one record opens.
const REVIEWS_PER_RECORD: usize = 1;

/// Records resolved per transaction. Each record inserts into B-trees keyed by random UIDs and
/// keys, so a commit writes nearly one page per insert once the trees outgrow the page cache;
/// 2,000 records share pages four times better than 500 (100,000 records: 21% less CPU) and still
/// commit within about a second, short enough for the web server to get a word in.
const BATCH: usize = 2000;

/// The first batch of a first pass (see `Engine::first_pass`).
const FIRST_PASS_FIRST_BATCH: usize = 250;

/// Resolves every card record whose `mpi_state` is `pending` (new or changed since last pass).
/// Called by sync after each run; idempotent.
pub fn resolve_pending(store: &Store) -> Result<ResolveReport> {
    resolve_pending_observed(store, &mut |_, _, _| {})
}

/// As [`resolve_pending`], calling `observe(a, b, score)` for every scored pair (evaluation):
/// `score` is `None` when the comparison stopped before the names because the pair cannot reach
/// the review band (see `score_prepared_from`), else the pair's score before any identity-level
/// capping.
pub fn resolve_pending_observed(
    store: &Store,
    observe: &mut dyn FnMut(&str, &str, Option<f64>),
) -> Result<ResolveReport> {
    let settings = MpiSettings::load(store)?;
    let mut not_same: HashMap<String, HashSet<String>> = HashMap::new();
    for (a, b) in store.mpi_all_not_same()? {
        not_same.entry(a.clone()).or_default().insert(b.clone());
        not_same.entry(b).or_default().insert(a);
    }
    let pass_records = settings.pass_records;
    // Keys a killed first pass left staged join the table before anything looks at it.
    store.mpi_move_staged_block_keys()?;
    let first = !store.mpi_has_block_keys()?;
    // A first pass meets pairs the household rules look at within its first records, and
    // those rules count the whole store: the store is read and prepared once, before it, for
    // the counts and for the pass (at 5,000 records a fifth less time than counting at the
    // first such pair, then preparing every record again batch by batch).
    let (ready, rules) = if first {
        let (ready, households) = first_pass::prepare_store(store, pass_records)?;
        (ready, decide::Rules::with_households(households))
    } else {
        (FastMap::default(), decide::Rules::default())
    };
    let mut engine = Engine {
        store,
        settings,
        prepared: PreparedCache::default(),
        not_same,
        created_in_batch: Vec::new(),
        report: ResolveReport::default(),
        rules,
        blocks: first.then(|| PassBlocks::new(pass_records)),
    };
    let pass = store.mpi_prepare_for_pass()?;
    if first {
        engine.first_pass(ready, observe)?;
    } else {
        engine.later_pass(observe)?;
    }
    // With the connection's own page cache again: the move sorts within it (spilling to a
    // temporary file), so the pass's peak memory does not grow by the whole index.
    drop(pass);
    // The pass's prepared records and index (100 MB at 100,000 records) go before the move
    // sorts: together they were the pass's peak memory.
    let report = std::mem::take(&mut engine.report);
    drop(engine);
    if first {
        store.mpi_move_staged_block_keys()?;
    }
    Ok(report)
}

/// Most records kept per generation of [`PreparedCache`] (two generations, ~800 bytes a record:
/// at most ~100 MB). Every comparison needs the candidate prepared and its identity; a miss costs
/// two lookups and a preparation. At 100,000 synthetic records (3 million comparisons) two
/// generations of 8,192 made resolution three times slower than holding every record, 50,000
/// 1.7 times slower; 65,536 keeps a first sync of 100,000 records in memory.
const PREPARED_GENERATION: usize = 65_536;

/// A record as the pass last saw it: prepared fields and the identity it is linked to.
#[derive(Clone)]
struct Cached {
    prepared: Arc<PreparedRecord>,
    mpi_id: Option<Rc<str>>,
}

/// Hash maps of the pass: keys are enrollment UIDs and blocking keys (no adversary chooses them,
/// and the pass hashes millions of them: SipHash was 2% of a 100,000-record pass).
pub(super) type FastMap<K, V> = HashMap<K, V, foldhash::fast::FixedState>;

/// Records by enrollment, bounded: two generations, the older dropped when the newer fills, so
/// memory stops growing while records that come up again and again (common names, one big
/// health center) stay. The identities kept here are updated on every link and merge of the pass.
#[derive(Default)]
struct PreparedCache {
    current: FastMap<Rc<str>, Cached>,
    previous: FastMap<Rc<str>, Cached>,
}

impl PreparedCache {
    fn get(&mut self, uid: &str) -> Option<Cached> {
        if let Some(c) = self.current.get(uid) {
            return Some(c.clone());
        }
        let (uid, c) = self.previous.remove_entry(uid)?;
        self.insert(uid, c.clone());
        Some(c)
    }

    fn insert(&mut self, uid: Rc<str>, cached: Cached) {
        if self.current.len() >= PREPARED_GENERATION {
            self.previous = std::mem::take(&mut self.current);
        }
        self.current.insert(uid, cached);
    }

    /// A merge moved `members` to `mpi_id`.
    fn relink(&mut self, members: &[String], mpi_id: &str) {
        let mpi_id: Rc<str> = Rc::from(mpi_id);
        for m in members {
            for generation in [&mut self.current, &mut self.previous] {
                if let Some(c) = generation.get_mut(m.as_str()) {
                    c.mpi_id = Some(mpi_id.clone());
                }
            }
        }
    }
}

struct Engine<'s> {
    store: &'s Store,
    settings: MpiSettings,
    prepared: PreparedCache,
    not_same: HashMap<String, HashSet<String>>,
    /// New identities of the current batch, audited as one entry per batch.
    created_in_batch: Vec<(String, String)>,
    report: ResolveReport,
    /// The decision rules shared with `recheck` (with how many people hold each phone and
    /// address: counted before a first pass, else read from the store the first time a pair
    /// needs it, which most later passes never do).
    rules: decide::Rules,
    /// The blocking index of this pass's records, when the pass began with `mpi_block_keys`
    /// empty (a first sync, an evaluation): then every candidate is a record of this pass, and
    /// reading them here instead of from the table (written all the same, for later passes)
    /// saves a statement per record and the UID-keyed cache (together a third of the CPU time
    /// of 100,000 records). `None`: candidates come from the table and `prepared`.
    blocks: Option<PassBlocks>,
}

/// The records of a first pass as the decisions see them, by their number in the pass
/// (see [`first_pass`], which keeps the pass's blocking index): a candidate is a number here,
/// no hashing of its UID, no cache miss, no statement (at 100,000 records the UID-keyed cache
/// and its misses were a fifth of the pass).
struct PassBlocks {
    uids: Vec<Rc<str>>,
    /// Identities of the records decided so far.
    mpi_ids: Vec<Rc<str>>,
    by_uid: FastMap<Rc<str>, u32>,
    /// Identities' members' prepared fields.
    prepared: first_pass::Window,
}

/// Most prepared records a pass keeps by default (as [`PreparedCache`]'s two generations).
const PASS_PREPARED_MAX: usize = 2 * PREPARED_GENERATION;

impl PassBlocks {
    fn new(max_live: usize) -> PassBlocks {
        PassBlocks {
            uids: Vec::new(),
            mpi_ids: Vec::new(),
            by_uid: FastMap::default(),
            prepared: first_pass::Window::new(max_live),
        }
    }

    /// Record `number` was decided into `mpi_id`. Records are decided in the order they were
    /// filed: a candidate's number is where the decisions find its UID and identity.
    fn decided(
        &mut self,
        number: u32,
        uid: Rc<str>,
        prepared: Arc<PreparedRecord>,
        mpi_id: Rc<str>,
    ) -> Result<()> {
        anyhow::ensure!(
            number as usize == self.uids.len(),
            "{uid} was filed as record {number} of the pass but decided as record {}",
            self.uids.len()
        );
        self.by_uid.insert(uid.clone(), number);
        self.uids.push(uid);
        self.mpi_ids.push(mpi_id);
        self.prepared.push(prepared);
        Ok(())
    }
}

/// The `after` of an automatic link's audit row, fields in the order the trail has always shown.
#[derive(Serialize)]
struct AutoLinkAudit<'a> {
    mpi_id: &'a str,
    #[serde(serialize_with = "score_as_written")]
    score: f64,
    method: LinkMethod,
    candidate: &'a str,
}

/// A score as the audit trail has always written it (Rust's `Display`: a whole score is `1`,
/// not `1.0`), so older and newer rows read alike.
fn score_as_written<S: serde::Serializer>(score: &f64, s: S) -> Result<S::Ok, S::Error> {
    if score.fract() == 0.0 && score.abs() < 1e15 {
        s.serialize_i64(*score as i64)
    } else {
        s.serialize_f64(*score)
    }
}

/// The best candidate within one identity.
struct Best {
    score: f64,
    candidate: Rc<str>,
    prepared: Arc<PreparedRecord>,
    same_national_id: bool,
    /// Why the record does not fit this identity although it scored in the link band with one
    /// member ("sexes differ with member <uid>"): then it waits for a person instead of joining.
    unfit: Option<String>,
}

impl Engine<'_> {
    /// A first pass: every batch is read, prepared, filed in the pass's index and scored
    /// ([`first_pass::file_and_score`]) while the batch before it is decided. A batch is read
    /// after the last record of the one before (whose decisions have not run yet, so its records
    /// are still pending); records are filed in enrollment order, the order they are decided in.
    /// `ready`: the records [`first_pass::prepare_store`] prepared before the pass.
    fn first_pass(
        &mut self,
        ready: FastMap<String, Arc<PreparedRecord>>,
        observe: &mut dyn FnMut(&str, &str, Option<f64>),
    ) -> Result<()> {
        let store = self.store;
        let scoring = first_pass::Scoring {
            params: self.settings.params.clone(),
            floor: self.settings.floor(),
            block_cap: self.settings.block_cap,
        };
        let mut index = first_pass::PassIndex::new(self.settings.pass_records, ready);
        // The first batch is small: nothing overlaps its preparation, the decisions wait for
        // it. Each next one is read three times larger (a record takes about three times as
        // long to decide as to prepare and score on two cores), up to `BATCH`.
        let mut size = FIRST_PASS_FIRST_BATCH;
        let mut batch = store.mpi_pending_records(None, size)?;
        let mut filed = first_pass::file_and_score(&mut index, &batch, &scoring)?;
        while !batch.is_empty() {
            let last = batch.last().map(|r| r.enrollment_uid.as_str());
            size = (size * 3).min(BATCH);
            let next = store.mpi_pending_records(last, size)?;
            let records = batch
                .iter()
                .zip(std::mem::take(&mut filed))
                .map(|(rec, f)| {
                    self.report.capped_blocks += f.capped;
                    (rec, f.me, f.keys, Some(f.ahead))
                })
                .collect();
            // The next batch on rayon's threads while this one is decided on this one; the
            // scope ends when both are done.
            let mut ahead = None;
            let decided = rayon::in_place_scope(|scope| {
                if !next.is_empty() {
                    let (index, next, scoring, ahead) = (&mut index, &next, &scoring, &mut ahead);
                    scope.spawn(move |_| {
                        *ahead = Some(first_pass::file_and_score(index, next, scoring));
                    });
                }
                self.decide_batch(records, observe)
            });
            decided?;
            filed = match ahead {
                Some(filed) => filed?,
                None => Vec::new(),
            };
            batch = next;
        }
        Ok(())
    }

    /// A later pass: candidates come from the stored blocking keys. A batch's records are
    /// prepared and keyed on rayon's threads, then decided one at a time.
    fn later_pass(&mut self, observe: &mut dyn FnMut(&str, &str, Option<f64>)) -> Result<()> {
        loop {
            let batch = self.store.mpi_pending_records(None, BATCH)?;
            if batch.is_empty() {
                return Ok(());
            }
            let prepared = batch
                .par_iter()
                .map(prepare_pending)
                .collect::<Result<Vec<_>>>()?;
            let records = batch
                .iter()
                .zip(prepared)
                .map(|(rec, (me, keys))| (rec, me, keys, None))
                .collect();
            self.decide_batch(records, observe)?;
        }
    }

    /// Decides a batch's records in order, in one transaction, then refreshes the golden
    /// records of the identities they joined and audits the new identities in one entry.
    fn decide_batch(
        &mut self,
        records: Vec<BatchRecord<'_>>,
        observe: &mut dyn FnMut(&str, &str, Option<f64>),
    ) -> Result<()> {
        let store = self.store;
        store.mpi_batch(|| {
            let mut touched = BTreeSet::new();
            for (rec, me, keys, filed) in records {
                self.resolve_one(rec, me, keys, filed, observe, &mut touched)?;
            }
            for mpi_id in &touched {
                update_golden(store, mpi_id)?;
            }
            if !self.created_in_batch.is_empty() {
                let created: BTreeMap<&str, &str> = self
                    .created_in_batch
                    .iter()
                    .map(|(e, m)| (e.as_str(), m.as_str()))
                    .collect();
                let after = serde_json::json!({ "method": LinkMethod::New, "enrollment_to_mpi_id": created })
                    .to_string();
                store.audit(Actor::Mpi.as_str(), "mpi.new", None, None, Some(&after))?;
                self.created_in_batch.clear();
            }
            Ok(())
        })
    }
    /// A candidate's prepared fields and identity: from the cache, else from the store (None if
    /// its card record is gone or it has no identity).
    fn candidate(&mut self, uid: &Rc<str>) -> Result<Option<(Arc<PreparedRecord>, Rc<str>)>> {
        let cached = match self.prepared.get(uid) {
            Some(c) => c,
            None => {
                let Some(prepared) = read_prepared(self.store, uid)? else {
                    return Ok(None);
                };
                let c = Cached {
                    prepared,
                    mpi_id: self.store.mpi_link(uid)?.map(|l| Rc::from(l.mpi_id)),
                };
                self.prepared.insert(uid.clone(), c.clone());
                c
            }
        };
        Ok(cached.mpi_id.map(|m| (cached.prepared, m)))
    }

    /// Resolves one pending record: finds and scores its candidates, joins (or founds) an
    /// identity, opens at most one review item, and records its keys and state.
    fn resolve_one(
        &mut self,
        rec: &crate::store::mpi_data::PendingRecord,
        me: Arc<PreparedRecord>,
        keys: Keys,
        filed: Option<first_pass::Ahead>,
        observe: &mut dyn FnMut(&str, &str, Option<f64>),
        touched: &mut BTreeSet<String>,
    ) -> Result<()> {
        let Keys {
            filed: keys,
            read_also,
        } = keys;
        let store = self.store;
        let uid = rec.enrollment_uid.as_str();
        // A changed record: its old review items and keys go, its identity is kept if nothing better.
        let old = match rec.mpi_id {
            Some(_) => store.mpi_link(uid)?,
            None => None,
        };
        if old.is_some() {
            store.mpi_delete_pending_reviews(uid)?;
        }
        let (candidates, scores, filed) = match filed {
            Some(ahead) => {
                let (candidates, scores) = self.filed_candidates(uid, &me, ahead.candidates)?;
                (
                    candidates,
                    Some(scores),
                    Some((ahead.number, ahead.keys_json)),
                )
            }
            None => (
                self.candidates(uid, &read_keys(&keys, &read_also))?,
                None,
                None,
            ),
        };
        let mut per_identity = self.best_per_identity(uid, &me, candidates, scores, observe)?;
        self.keep_to_fitting_identities(uid, &me, &mut per_identity)?;
        self.keep_two_people_apart(&mut per_identity)?;
        let (target, fresh) = self.join_identity(rec, old.as_ref(), &per_identity, touched)?;
        let state = if self.open_review(uid, &me, &target, &per_identity)? {
            MpiState::Review
        } else {
            MpiState::Resolved
        };
        match &filed {
            // Nothing reads the table during a first pass: appended now, sorted in at the end.
            Some((_, keys_json)) => store.mpi_stage_block_keys(uid, keys_json)?,
            None => store.mpi_set_block_keys(uid, &keys)?,
        }
        store.mpi_set_state(uid, state)?;
        if !fresh {
            touched.insert(target.to_string());
        }
        let uid: Rc<str> = Rc::from(uid);
        let target: Rc<str> = Rc::from(target.as_ref());
        match (&mut self.blocks, filed) {
            (Some(blocks), Some((i, _))) => blocks.decided(i, uid, me, target)?,
            (None, _) => self.prepared.insert(
                uid,
                Cached {
                    prepared: me,
                    mpi_id: Some(target),
                },
            ),
            (Some(_), None) => {
                anyhow::bail!("{uid} was resolved in a first pass without being filed")
            }
        }
        Ok(())
    }

    /// A first pass's record's candidates as [`first_pass::file_and_score`] found and scored
    /// them, with their identities (all decided: filed, so decided, before the record), less
    /// those a person declared different. A candidate that had left the pass's memory is read
    /// from the store and scored here.
    fn filed_candidates(
        &mut self,
        uid: &str,
        me: &PreparedRecord,
        compared: Vec<first_pass::Compared>,
    ) -> Result<(Vec<Candidate>, Vec<Option<f64>>)> {
        let blocks = self
            .blocks
            .as_ref()
            .context("a filed record outside a first pass")?;
        let no_one = HashSet::new();
        let not_same = self.not_same.get(uid).unwrap_or(&no_one);
        let floor = self.settings.floor();
        let mut candidates = Vec::with_capacity(compared.len());
        let mut scores = Vec::with_capacity(compared.len());
        for c in compared {
            let i = c.number as usize;
            let (Some(cuid), Some(mpi_id)) = (blocks.uids.get(i), blocks.mpi_ids.get(i)) else {
                anyhow::bail!("candidate {i} of {uid} was not decided before it");
            };
            if not_same.contains(&**cuid) {
                continue;
            }
            let prepared = match blocks.prepared.get(c.number) {
                Some(p) => p.clone(),
                // Dropped to bound memory: read again (not kept: the window moved on).
                None => match read_prepared(self.store, cuid)? {
                    Some(p) => p,
                    None => continue,
                },
            };
            let score = match c.score() {
                Some(score) => score,
                None => score_pair(&self.settings.params, me, &prepared, floor),
            };
            candidates.push((cuid.clone(), prepared, mpi_id.clone()));
            scores.push(score);
        }
        Ok((candidates, scores))
    }

    /// Every key's first `cap` enrollments in enrollment order (one more read tells a capped
    /// key), in one statement (a later pass; a first pass's come from [`first_pass`]); each with
    /// its prepared fields and identity, in enrollment order. The record itself and the records a
    /// person declared different from it are left out.
    fn candidates(&mut self, uid: &str, keys: &[&str]) -> Result<Vec<Candidate>> {
        let no_one = HashSet::new();
        let not_same = self.not_same.get(uid).unwrap_or(&no_one);
        let cap = self.settings.block_cap;
        let hits = self.store.mpi_block_hits(keys, cap + 1)?;
        let mut found: Vec<Rc<str>> = Vec::new();
        for key_hits in hits.chunk_by(|a, b| a.key == b.key) {
            if key_hits.len() > cap {
                self.report.capped_blocks += 1;
            }
            for h in key_hits.iter().take(cap) {
                let c = h.enrollment_uid.as_str();
                if c != uid && !not_same.contains(c) {
                    found.push(Rc::from(c));
                }
            }
        }
        found.sort_unstable();
        found.dedup();
        let mut candidates = Vec::new();
        for c in found {
            if let Some((prepared, mpi_id)) = self.candidate(&c)? {
                candidates.push((c, prepared, mpi_id));
            }
        }
        Ok(candidates)
    }

    /// Scores every candidate and keeps, per identity, its best member. Which identity is
    /// visited first never matters: the link survivor and the review items are chosen by sorting.
    fn best_per_identity(
        &mut self,
        uid: &str,
        me: &PreparedRecord,
        candidates: Vec<Candidate>,
        scores: Option<Vec<Option<f64>>>,
        observe: &mut dyn FnMut(&str, &str, Option<f64>),
    ) -> Result<FastMap<Rc<str>, Best>> {
        let floor = self.settings.floor();
        let mut per_identity: FastMap<Rc<str>, Best> = FastMap::default();
        // Only candidates that can reach the review band matter; the others skip the names.
        let params = &self.settings.params;
        let score = |p: &PreparedRecord| score_pair(params, me, p, floor);
        // A score needs nothing but the two records: many candidates are scored on rayon's
        // threads (scoring was a fifth of a 50,000-record pass), few on this one, where handing
        // them over would cost more than it saves. What follows stays in candidate order.
        let scores: Vec<Option<f64>> = if let Some(scores) = scores {
            scores
        } else if candidates.len() >= PARALLEL_SCORING_MIN {
            let refs: Vec<&PreparedRecord> = candidates.iter().map(|c| &*c.1).collect();
            refs.par_iter()
                .with_min_len(PARALLEL_SCORING_MIN / 2)
                .map(|p| score(p))
                .collect()
        } else {
            candidates.iter().map(|c| score(&c.1)).collect()
        };
        for ((c, prepared, mpi_id), score) in candidates.into_iter().zip(scores) {
            self.report.comparisons += 1;
            observe(uid, &c, score);
            let Some(score) = score else {
                continue;
            };
            let (score, unfit) =
                match self
                    .rules
                    .pair(self.store, &self.settings, me, &prepared, score)?
                {
                    decide::PairVerdict::Apart => continue,
                    decide::PairVerdict::Scored(score, unfit) => (score, unfit),
                };
            let better = per_identity.get(&mpi_id).is_none_or(|b| score > b.score);
            if better {
                let same_national_id =
                    me.national_id().is_some() && me.national_id() == prepared.national_id();
                per_identity.insert(
                    mpi_id,
                    Best {
                        score,
                        candidate: c,
                        prepared,
                        same_national_id,
                        unfit,
                    },
                );
            }
        }
        Ok(per_identity)
    }

    /// Identities do not chain: a record that scores in the link band with one member joins
    /// only if it contradicts no member (sex, birth dates years apart, national ID:
    /// [`kadi_sqlext::mpi::identity_contradiction`]). A record that does not fit is scored just under the link
    /// band with that identity, so it goes to review with the reason, not into the identity.
    fn keep_to_fitting_identities(
        &mut self,
        uid: &str,
        me: &PreparedRecord,
        per_identity: &mut FastMap<Rc<str>, Best>,
    ) -> Result<()> {
        let link = self.settings.link_threshold;
        for (mpi_id, best) in per_identity.iter_mut() {
            if best.score < link {
                continue;
            }
            let mut members = Vec::new();
            for member in self.store.mpi_members(mpi_id)? {
                if member == uid || *member == *best.candidate {
                    continue;
                }
                if let Some(prepared) = self.member_prepared(&member)? {
                    members.push((member, prepared));
                }
            }
            let listed = members.iter().map(|(m, p)| (m.as_str(), p));
            let mut why = decide::unfit_member(me, listed.clone()).map(|(_, why)| why);
            if why.is_none() {
                // The best candidate counts among the members here: its own name may be the
                // record's (then the identity is known under it).
                let best_member = (&*best.candidate, &best.prepared);
                let all = listed.chain(std::iter::once(best_member));
                why = self
                    .rules
                    .unfit_in_household(self.store, &self.settings, me, all)?
                    .map(|(_, why)| why);
            }
            if let Some(why) = why {
                best.unfit = Some(why);
                best.score = best.score.min(link.next_down()).max(0.0);
            }
        }
        Ok(())
    }

    /// A record in the link band with several identities merges them; it must not merge two
    /// people. When a member of one contradicts a member of another (sex, birth dates years
    /// apart, national ID, first names: the scorer's contradictions, e.g. twins "Amadou" and
    /// "Abdoulaye" and a card "Abdou" that looks like both), the record could be either: every
    /// such identity is scored just under the link band and a person decides
    /// (`docs/mpi.md`, Links inside a household).
    fn keep_two_people_apart(&mut self, per_identity: &mut FastMap<Rc<str>, Best>) -> Result<()> {
        let link = self.settings.link_threshold;
        let linked: Vec<Rc<str>> = per_identity
            .iter()
            .filter(|(_, b)| b.score >= link)
            .map(|(m, _)| m.clone())
            .collect();
        if linked.len() < 2 {
            return Ok(());
        }
        let mut members = Vec::new();
        for m in &linked {
            let mut prepared = Vec::new();
            for u in self.store.mpi_members(m)? {
                if let Some(p) = self.member_prepared(&u)? {
                    prepared.push(p);
                }
            }
            members.push(prepared);
        }
        if let Some(why) = decide::two_people(&self.settings, &members) {
            for m in &linked {
                if let Some(best) = per_identity.get_mut(m) {
                    best.score = best.score.min(link.next_down());
                    best.unfit = Some(why.to_string());
                }
            }
        }
        Ok(())
    }

    /// A member's prepared fields: from the pass's index or cache, else from the store.
    fn member_prepared(&mut self, member: &str) -> Result<Option<Arc<PreparedRecord>>> {
        if let Some(blocks) = &self.blocks {
            if let Some(&i) = blocks.by_uid.get(member) {
                if let Some(p) = blocks.prepared.get(i) {
                    return Ok(Some(p.clone()));
                }
            }
        } else if let Some(c) = self.prepared.get(member) {
            return Ok(Some(c.prepared));
        }
        read_prepared(self.store, member)
    }

    /// The identity the record ends in, and whether it was made for it: every identity at or
    /// above the link threshold is joined (merged into one when several), else the record keeps
    /// its old identity or founds a new one.
    fn join_identity(
        &mut self,
        rec: &crate::store::mpi_data::PendingRecord,
        old: Option<&crate::store::mpi_data::MpiLink>,
        per_identity: &FastMap<Rc<str>, Best>,
        touched: &mut BTreeSet<String>,
    ) -> Result<(String, bool)> {
        let store = self.store;
        let uid = rec.enrollment_uid.as_str();
        let linked: Vec<&Rc<str>> = per_identity
            .iter()
            .filter(|(_, b)| b.score >= self.settings.link_threshold)
            .map(|(m, _)| m)
            .collect();
        if !linked.is_empty() {
            let target = self.link_to_best(uid, old, &linked, per_identity, touched)?;
            return Ok((target, false));
        }
        if let Some(l) = old {
            return Ok((l.mpi_id.clone(), false));
        }
        self.report.created += 1;
        // A new identity of one record: its golden record is that record.
        let target = create_identity_with(store, &self.settings, &rec.fields_json)?;
        store.mpi_set_link(uid, &target, None, LinkMethod::New)?;
        self.created_in_batch
            .push((uid.to_string(), target.clone()));
        Ok((target, true))
    }

    /// Links the record to the largest of the identities it scored at or above the link
    /// threshold with (then the smallest ID: deterministic), merges the others into it, and
    /// audits the link. Returns the survivor.
    fn link_to_best(
        &mut self,
        uid: &str,
        old: Option<&crate::store::mpi_data::MpiLink>,
        linked: &[&Rc<str>],
        per_identity: &FastMap<Rc<str>, Best>,
        touched: &mut BTreeSet<String>,
    ) -> Result<String> {
        let store = self.store;
        let mut sizes = Vec::new();
        for m in linked {
            let size = if linked.len() == 1 {
                0
            } else {
                store.mpi_member_count(m)?
            };
            sizes.push((size, m.to_string()));
        }
        sizes.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        let target = sizes[0].1.clone();
        let best = &per_identity[target.as_str()];
        let method = if best.same_national_id {
            LinkMethod::Deterministic
        } else {
            LinkMethod::Auto
        };
        let before = old.map(|l| l.mpi_id.clone());
        store.mpi_set_link(uid, &target, Some(best.score), method)?;
        let after = AutoLinkAudit {
            mpi_id: &target,
            score: best.score,
            method,
            candidate: &best.candidate,
        };
        store.audit(
            Actor::Mpi.as_str(),
            "mpi.link",
            Some(uid),
            before
                .as_deref()
                .map(|m| serde_json::json!({ "mpi_id": m }).to_string())
                .as_deref(),
            Some(&serde_json::to_string(&after)?),
        )?;
        self.report.resolved += 1;
        for (_, other) in sizes.iter().skip(1) {
            self.merge_in_pass(&target, other)?;
        }
        // A changed record that leaves an identity it held alone: that identity points on.
        if let Some(prev) = before.filter(|p| *p != target) {
            touched.insert(prev.clone());
            if store.mpi_member_count(&prev)? == 0 {
                store.mpi_set_merged_into(&prev, Some(&target))?;
            }
        }
        Ok(target)
    }

    /// Merges identity `other` into `target` and points the pass's copies of its members there.
    fn merge_in_pass(&mut self, target: &str, other: &str) -> Result<()> {
        let members = self.store.mpi_members(other)?;
        merge_identities(self.store, target, other, &Actor::Mpi)?;
        self.prepared.relink(&members, target);
        if let Some(blocks) = &mut self.blocks {
            let target: Rc<str> = Rc::from(target);
            for m in &members {
                if let Some(&i) = blocks.by_uid.get(m.as_str()) {
                    blocks.mpi_ids[i as usize] = target.clone();
                }
            }
        }
        self.report.merged += 1;
        Ok(())
    }

    /// True when a pending item already ties identity `mpi_id` to another identity (not the
    /// record's own, `target`) with a member the record contradicts (sex, birth dates years
    /// apart, national ID): both questions cannot be answered "same", and answering both so
    /// would make two people one. Asked when one side of the question has no birth date: a
    /// record without one whose names are all there is to go on is asked about by each dated
    /// namesake that comes later ("Awa Sarr" undated, then "Awa Sarr" 2017 and "Awa Sarr"
    /// 2020): the first question stands, the later record asks nothing (`docs/mpi.md`, One
    /// question per undated namesake).
    fn asked_with_someone_else(
        &mut self,
        me: &PreparedRecord,
        target: &str,
        mpi_id: &str,
    ) -> Result<bool> {
        for other in self.store.mpi_identities_in_question(mpi_id)? {
            if other == target {
                continue;
            }
            for member in self.store.mpi_members(&other)? {
                if let Some(p) = self.member_prepared(&member)? {
                    if kadi_sqlext::mpi::identity_contradiction(me, &p).is_some() {
                        return Ok(true);
                    }
                }
            }
        }
        Ok(false)
    }

    /// Review items: the best identities in the review band other than the one joined (at most
    /// REVIEWS_PER_RECORD), so a person sees every identity this record may also belong to.
    /// True when an item was opened.
    fn open_review(
        &mut self,
        uid: &str,
        me: &PreparedRecord,
        target: &str,
        per_identity: &FastMap<Rc<str>, Best>,
    ) -> Result<bool> {
        let mut review: Vec<(&Rc<str>, &Best)> = per_identity
            .iter()
            .filter(|(m, b)| {
                ***m != *target
                    && b.score >= self.settings.review_threshold
                    && b.score < self.settings.link_threshold
            })
            .collect();
        // Equal scores are common (guarded pairs are all capped at one value): the tie goes to
        // the smallest candidate enrollment, not the smallest MPI ID, which is random, so the
        // same records give the same review queue on every run.
        review.sort_by(|a, b| {
            b.1.score
                .total_cmp(&a.1.score)
                .then(a.1.candidate.cmp(&b.1.candidate))
        });
        // One question per pair of identities: when an item already asks whether this identity
        // and that one are one person (or a person said they are not), a later record of either
        // asks nothing new, and the next identity in the band gets the item instead.
        let mut asked = 0;
        for (mpi_id, b) in review {
            if asked == REVIEWS_PER_RECORD {
                break;
            }
            // A question about a record without a birth date (or with a candidate without one)
            // when another already ties that identity to someone this record contradicts.
            let undated = me.birth_year().is_none() || b.prepared.birth_year().is_none();
            if self.store.mpi_identities_asked(target, mpi_id)?
                || (undated && self.asked_with_someone_else(me, target, mpi_id)?)
            {
                continue;
            }
            asked += 1;
            let explain = with_unfit(
                explain_pair(&self.settings.params, me, &b.prepared),
                &b.unfit,
            );
            self.store
                .mpi_insert_review(uid, &b.candidate, mpi_id, b.score, &explain)?;
            self.report.pending_review += 1;
        }
        Ok(asked > 0)
    }
}

/// The resolver's score of a record against a candidate, `None` when it certainly cannot reach
/// `floor`. The one place resolution scores a pair: `recheck` scores existing links with it too,
/// so when the scorer or its parameters change, rechecking follows by itself.
fn score_pair(
    params: &Params,
    me: &PreparedRecord,
    other: &PreparedRecord,
    floor: f64,
) -> Option<f64> {
    kadi_sqlext::mpi::score_prepared_from_with(params, me, other, floor)
}

/// The explanation a review item stores for a pair (`mpi_explain`'s JSON), from the same scorer
/// as [`score_pair`].
fn explain_pair(params: &Params, me: &PreparedRecord, other: &PreparedRecord) -> String {
    explain_prepared_with(params, me, other).to_json()
}

/// The pair's explanation with the reason the record does not fit the identity as its veto
/// (after the pair's own, if any), so the review screen shows why it did not join.
fn with_unfit(explain: String, unfit: &Option<String>) -> String {
    let Some(why) = unfit else {
        return explain;
    };
    let Ok(mut v) = serde_json::from_str::<serde_json::Value>(&explain) else {
        return explain;
    };
    let veto = match v["veto"].as_str() {
        Some(own) => format!("{own}; {why}"),
        None => why.clone(),
    };
    v["veto"] = serde_json::Value::String(veto);
    v.to_string()
}

/// A candidate record: enrollment, prepared fields, identity.
type Candidate = (Rc<str>, Arc<PreparedRecord>, Rc<str>);

/// A pending record on its way to its decision: prepared, keyed and, in a first pass, filed
/// with its candidates scored.
type BatchRecord<'b> = (
    &'b crate::store::mpi_data::PendingRecord,
    Arc<PreparedRecord>,
    Keys,
    Option<first_pass::Ahead>,
);

/// The keys a record's candidates are read under: those compared among themselves of the keys
/// it is filed under, and the weak-date pass's ([`Keys`]).
pub(super) fn read_keys<'k>(filed: &'k [String], read_also: &'k [String]) -> Vec<&'k str> {
    filed
        .iter()
        .filter(|k| compared_among_themselves(k))
        .chain(read_also)
        .map(String::as_str)
        .collect()
}

/// A record's blocking keys: those it is filed under (stored, for later records to find it)
/// and those its candidates are also read under (the weak-date pass, see
/// `kadi_sqlext::mpi::lookup_keys`): it reads its filed keys but the weak-date `wd` ones, plus
/// `read_also`. Not a second full list: a batch holds 2,000 records' keys at once.
pub struct Keys {
    /// Filed under (`mpi_block_keys`).
    pub filed: Vec<String>,
    /// Read under besides the filed keys.
    pub read_also: Vec<String>,
}

impl Keys {
    /// Every key read when looking for candidates.
    pub fn read(&self) -> Vec<String> {
        let mut read: Vec<String> = self
            .filed
            .iter()
            .filter(|k| compared_among_themselves(k))
            .cloned()
            .collect();
        read.extend(self.read_also.iter().cloned());
        read
    }
}

/// The blocking keys of a prepared record: none for a record whose compared fields are all
/// missing (it can never be merged silently).
fn keys_of(me: &PreparedRecord) -> Keys {
    if me.is_empty() {
        Keys {
            filed: Vec::new(),
            read_also: Vec::new(),
        }
    } else {
        Keys {
            filed: block_keys(me),
            read_also: lookup_keys_also(me),
        }
    }
}

/// The blocking keys resolution gives a card record (its fields as stored, `fields_json`): the
/// very keys it is filed under and its candidates are found by, for measuring blocking recall
/// (`eval`).
pub fn record_block_keys(uid: &str, fields_json: &str) -> Result<Keys> {
    Ok(keys_of(&prepare_json(uid, fields_json)?))
}

/// Calls `f` with every card record of the store, its UID and its fields prepared (as a pass
/// keeps one), in enrollment order (the household counts, training and a first pass read the
/// whole store). Records are read in rounds of [`PREPARE_ROUND`] and prepared on rayon's
/// threads: preparing is nearly all of the read (8% of a 5,000-record household evaluation, a
/// tenth of training, on one thread).
pub(crate) fn for_each_prepared(
    store: &Store,
    mut f: impl FnMut(String, PreparedRecord) -> Result<()>,
) -> Result<()> {
    let mut round: Vec<(String, String)> = Vec::with_capacity(PREPARE_ROUND);
    let mut prepare_round = |round: &mut Vec<(String, String)>| -> Result<()> {
        let prepared: Vec<Result<PreparedRecord>> = round
            .par_iter()
            .map(|(uid, json)| prepare_json(uid, json))
            .collect();
        round
            .drain(..)
            .zip(prepared)
            .try_for_each(|((uid, _), r)| f(uid, r?))
    };
    store.for_each_card_fields(|uid, json| {
        round.push((uid.to_string(), json.to_string()));
        if round.len() == PREPARE_ROUND {
            prepare_round(&mut round)?;
        }
        Ok(())
    })?;
    prepare_round(&mut round)
}

/// Records read per round of [`for_each_prepared`]: ~1 MB of fields and ~3 MB of prepared
/// records at a time, whatever the store's size.
const PREPARE_ROUND: usize = 4096;

/// A card record's prepared fields read from the store (None when it is gone).
fn read_prepared(store: &Store, uid: &str) -> Result<Option<Arc<PreparedRecord>>> {
    match store.mpi_record_fields(uid)? {
        Some(json) => Ok(Some(Arc::new(prepare_json(uid, &json)?))),
        None => Ok(None),
    }
}

/// A pending record prepared and keyed (on whichever thread: it needs nothing else).
fn prepare_pending(
    rec: &crate::store::mpi_data::PendingRecord,
) -> Result<(Arc<PreparedRecord>, Keys)> {
    let me = prepare_json(&rec.enrollment_uid, &rec.fields_json)?;
    let keys = keys_of(&me);
    Ok((Arc::new(me), keys))
}

fn prepare_json(uid: &str, json: &str) -> Result<PreparedRecord> {
    let mut r = PreparedRecord::from_json(json, 1)
        .map_err(|e| anyhow::anyhow!("card record {uid} has unreadable fields: {e}"))?;
    // Kept for the pass (up to 131,072 of them).
    r.shrink_to_fit();
    Ok(r)
}

/// The box's [`id::IdYear`] now: its clock, the last DHIS2 server date (with the monotonic time
/// since, when read during this boot) and the build date.
pub fn id_year(store: &Store) -> Result<id::IdYear> {
    let last = store.last_server_date()?.and_then(|(date, stamp)| {
        let day = chrono::NaiveDate::parse_from_str(date.get(..10)?, "%Y-%m-%d").ok()?;
        Some((day, stamp.and_then(|s| s.elapsed())))
    });
    Ok(id::IdYear::new(
        chrono::Utc::now().date_naive(),
        last,
        crate::clock::build_date(),
    ))
}

/// Creates a fresh identity with an unused MPI ID (its year from the trusted date, see
/// [`id::IdYear`]; without a record there is no enrollment date).
pub fn create_identity(store: &Store, settings: &MpiSettings) -> Result<String> {
    create_identity_with(store, settings, "{}")
}

fn create_identity_with(
    store: &Store,
    settings: &MpiSettings,
    golden_json: &str,
) -> Result<String> {
    #[derive(serde::Deserialize)]
    struct Enrolled {
        enrollment_date: Option<String>,
    }
    let enrolled = serde_json::from_str::<Enrolled>(golden_json)
        .ok()
        .and_then(|e| e.enrollment_date);
    let year = settings.id_year.year_for(enrolled.as_deref());
    let prefix = settings.id_prefix.as_str();
    for _ in 0..16 {
        let id = id::new_mpi_id(prefix, year)?;
        if store.mpi_insert_identity(&id, golden_json)? {
            return Ok(id);
        }
    }
    anyhow::bail!("could not draw an unused MPI ID with prefix {prefix}")
}

/// Merges identity `merged` into `survivor`: every link moves, `merged` points to `survivor`
/// (so the old ID stays resolvable), the move is remembered for unmerge and audited.
pub fn merge_identities(store: &Store, survivor: &str, merged: &str, by: &Actor) -> Result<()> {
    merge_identities_because(store, survivor, merged, by, None)
}

/// [`merge_identities`] with the reason a person gave (kept in the audit row's `after`).
pub fn merge_identities_because(
    store: &Store,
    survivor: &str,
    merged: &str,
    by: &Actor,
    reason: Option<&str>,
) -> Result<()> {
    anyhow::ensure!(survivor != merged, "cannot merge {merged} into itself");
    let moved = store.mpi_move_links(merged, survivor)?;
    store.mpi_set_merged_into(merged, Some(survivor))?;
    store.mpi_record_merge(merged, survivor, &moved, by.as_str())?;
    store.audit(
        by.as_str(),
        "mpi.merge",
        Some(merged),
        Some(&serde_json::json!({ "mpi_id": merged, "enrollments": moved }).to_string()),
        Some(&with_reason(serde_json::json!({ "merged_into": survivor }), reason).to_string()),
    )?;
    update_golden(store, survivor)?;
    Ok(())
}

/// `value` with `"reason": reason` added when a person gave one (audit rows of decisions).
pub fn with_reason(mut value: serde_json::Value, reason: Option<&str>) -> serde_json::Value {
    if let (Some(r), Some(map)) = (
        reason.filter(|r| !r.trim().is_empty()),
        value.as_object_mut(),
    ) {
        map.insert(
            "reason".into(),
            serde_json::Value::String(r.trim().to_string()),
        );
    }
    value
}

/// The MPI ID an enrollment resolved to (the survivor, if its identity was merged).
pub fn mpi_id_for(store: &Store, enrollment_uid: &str) -> Result<Option<String>> {
    match store.mpi_link(enrollment_uid)? {
        Some(l) => Ok(Some(current_mpi_id(store, &l.mpi_id)?)),
        None => Ok(None),
    }
}

/// Follows `merged_into` from any MPI ID ever issued to the identity in force.
pub fn current_mpi_id(store: &Store, mpi_id: &str) -> Result<String> {
    let mut id = mpi_id.to_string();
    for _ in 0..64 {
        match store.mpi_identity(&id)?.and_then(|i| i.merged_into) {
            Some(next) => id = next,
            None => return Ok(id),
        }
    }
    anyhow::bail!("MPI ID {mpi_id} has a merge chain that does not end")
}

/// Recomputes an identity's golden record (see the module doc for the survivorship rules).
pub fn update_golden(store: &Store, mpi_id: &str) -> Result<()> {
    let members = store.mpi_member_records(mpi_id)?;
    let mut parsed = Vec::with_capacity(members.len());
    for m in &members {
        let f: CardFields = serde_json::from_str(&m.fields_json)
            .with_context(|| format!("card record {} has unreadable fields", m.enrollment_uid))?;
        parsed.push((f, m.mapped_at.as_str()));
    }
    let golden = golden_record(&parsed);
    store.mpi_set_golden(mpi_id, &serde_json::to_string(&golden)?)
}

/// Survivorship: most frequent non-empty value; ties to the most recent record, then the smallest.
pub fn golden_record(members: &[(CardFields, &str)]) -> CardFields {
    let mut golden = CardFields::default();
    for field in CARD_FIELDS
        .iter()
        .copied()
        .chain(["national_id", "address"])
    {
        let mut votes: BTreeMap<&str, (usize, &str)> = BTreeMap::new();
        for (f, at) in members {
            if let Some(v) = f.get(field).map(str::trim).filter(|v| !v.is_empty()) {
                let e = votes.entry(v).or_insert((0, at));
                e.0 += 1;
                if *at > e.1 {
                    e.1 = at;
                }
            }
        }
        let best = votes.iter().max_by(|a, b| {
            a.1 .0
                .cmp(&b.1 .0)
                .then(a.1 .1.cmp(b.1 .1))
                .then(b.0.cmp(a.0))
        });
        golden.set(field, best.map(|(v, _)| v.to_string()));
    }
    golden
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A pass changes its connection for its own needs (a bigger page cache, more prepared
    /// statements, foreign keys off and sorter threads for the move of staged keys); the
    /// connection lives on in `kadi serve`, so everything is as before once the pass is over.
    #[test]
    fn a_first_pass_gives_its_connection_back_as_it_found_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("kadi.db")).unwrap();
        let pragmas = |store: &Store| -> Vec<i64> {
            ["cache_size", "foreign_keys", "threads"]
                .iter()
                .map(|p| {
                    store
                        .conn()
                        .pragma_query_value(None, p, |r| r.get(0))
                        .unwrap()
                })
                .collect()
        };
        let before = pragmas(&store);
        assert_eq!(before[1], 1, "foreign keys on");
        for (uid, first) in [("e1", "Awa"), ("e2", "Awa"), ("e3", "Moussa")] {
            store
                .upsert_card_record(&crate::record::CardRecord {
                    enrollment_uid: uid.into(),
                    tracked_entity_uid: format!("te-{uid}"),
                    program_uid: "P3jJH5Tu5VC".into(),
                    fields: CardFields {
                        first_name: Some(first.into()),
                        last_name: Some("Diop".into()),
                        date_of_birth: Some("1990-01-02".into()),
                        ..Default::default()
                    },
                })
                .unwrap();
        }
        let report = resolve_pending(&store).unwrap();
        assert_eq!((report.resolved, report.created), (1, 2), "{report:?}");
        assert!(store.mpi_has_block_keys().unwrap(), "the move ran");
        assert_eq!(pragmas(&store), before);
    }

    #[test]
    fn an_automatic_link_is_audited_in_the_trails_own_form() {
        let audit = |score, method| {
            serde_json::to_string(&AutoLinkAudit {
                mpi_id: "SN-DKR-26-ABCDEFGHJ",
                score,
                method,
                candidate: "e1",
            })
            .unwrap()
        };
        // What `format!` wrote before serde did: field order kept, a whole score without `.0`.
        for (score, method) in [
            (1.0, LinkMethod::Deterministic),
            (0.9612345678901234, LinkMethod::Auto),
        ] {
            assert_eq!(
                audit(score, method),
                format!(
                    "{{\"mpi_id\":\"SN-DKR-26-ABCDEFGHJ\",\"score\":{score},\"method\":\"{method}\",\"candidate\":\"e1\"}}"
                )
            );
        }
    }
}
