//! A first pass (a first sync, an evaluation: no blocking keys stored yet) keeps its own
//! blocking index, and does the part of resolution that needs no decision ahead of the
//! decisions, on the other cores.
//!
//! Which records a record is compared with, and their scores, depend on nothing but prepared
//! fields and keys: a record's candidates are the records filed before it under one of its keys
//! (each key read up to the cap, in enrollment order), whatever became of them. So while the
//! resolver decides one batch (one record at a time, writing links, identities and keys: SQLite,
//! one core), the next batch is read, prepared, filed and scored here, on a thread of its own
//! and rayon's. One core used to sit idle through the decisions, which are most of a pass.
use super::household::{household_values_passing, HouseholdValues};
use super::{keys_of, prepare_pending, read_keys, score_pair, FastMap, Keys};
use crate::store::mpi_data::PendingRecord;
use anyhow::Result;
use kadi_sqlext::mpi::{Params, PreparedRecord};
use rayon::prelude::*;
use std::sync::Arc;

/// Prepared records of the pass by number; the oldest are dropped past `max_live`
/// (`mpi.pass_records`) so memory stops growing: a record dropped here is read again from the
/// store when a key brings it up.
pub(super) struct Window {
    prepared: Vec<Option<Arc<PreparedRecord>>>,
    live: usize,
    evict_next: usize,
    max_live: usize,
}

impl Window {
    pub(super) fn new(max_live: usize) -> Window {
        Window {
            prepared: Vec::new(),
            live: 0,
            evict_next: 0,
            max_live,
        }
    }

    /// Adds the next record (number `len()`).
    pub(super) fn push(&mut self, prepared: Arc<PreparedRecord>) {
        self.prepared.push(Some(prepared));
        self.live += 1;
        while self.live > self.max_live {
            if self.prepared[self.evict_next].take().is_some() {
                self.live -= 1;
            }
            self.evict_next += 1;
        }
    }

    /// Record `i`'s prepared fields, unless dropped.
    pub(super) fn get(&self, i: u32) -> Option<&Arc<PreparedRecord>> {
        self.prepared.get(i as usize).and_then(Option::as_ref)
    }
}

/// Every card record of the store prepared before a first pass, with the household counts made
/// from them (they need every record before the first decision): the first `keep_at_most`
/// records (the pass's memory, `mpi.pass_records`) are kept by enrollment UID for the pass,
/// which would otherwise read and prepare each of them again.
pub(super) fn prepare_store(
    store: &crate::store::Store,
    keep_at_most: usize,
) -> Result<(FastMap<String, Arc<PreparedRecord>>, HouseholdValues)> {
    let mut ready: FastMap<String, Arc<PreparedRecord>> = FastMap::default();
    let households = household_values_passing(store, |uid, record| {
        if ready.len() < keep_at_most {
            ready.insert(uid, Arc::new(record));
        }
    })?;
    Ok((ready, households))
}

/// Marks a [`PassIndex::keys`] value as an index into `many` (record numbers stay below 2^31).
const MANY: u32 = 1 << 31;

/// The pass's blocking index: a key is its 64-bit hash (compact, about 15 MB at 100,000
/// records; two keys with one hash, odds about 1 in 10^8, would only add candidates that
/// scoring rejects), a record its number in the pass. Records are filed in enrollment order,
/// so record numbers are in that order too and lists of them sort as numbers.
pub(super) struct PassIndex {
    /// Key hash to its one record's number, or to [`MANY`] | an index into `many`: 16 bytes an
    /// entry, not the 40 of a key and an enum holding a `Vec`. The table holds ~9 keys a record
    /// and, while it grows, briefly both its old and new arrays (at 100,000 records the larger
    /// entries put 28 MB on the peak).
    keys: FastMap<u64, u32>,
    /// The records of keys held by several, in enrollment order.
    many: Vec<Vec<u32>>,
    window: Window,
    filed: u32,
    /// Records prepared before the pass ([`prepare_store`]), taken as they are filed.
    ready: FastMap<String, Arc<PreparedRecord>>,
}

impl PassIndex {
    pub(super) fn new(max_live: usize, ready: FastMap<String, Arc<PreparedRecord>>) -> PassIndex {
        PassIndex {
            keys: FastMap::default(),
            many: Vec::new(),
            window: Window::new(max_live),
            filed: 0,
            ready,
        }
    }

    fn hash(key: &str) -> u64 {
        use std::hash::BuildHasher;
        foldhash::fast::FixedState::with_seed(0x6b61_6469).hash_one(key)
    }

    /// The records under `key`, in enrollment order.
    fn members(&self, key: &str) -> &[u32] {
        match self.keys.get(&Self::hash(key)) {
            None => &[],
            Some(i) if i & MANY == 0 => std::slice::from_ref(i),
            Some(m) => &self.many[(m & !MANY) as usize],
        }
    }

    /// The records under `keys`, each key read up to `cap` records: record numbers in
    /// enrollment order without repeats, and how many keys held more than `cap`.
    fn members_of_keys(&self, keys: &[&str], cap: usize) -> (Vec<u32>, u64) {
        let mut capped = 0;
        let mut found: Vec<u32> = Vec::new();
        for k in keys {
            let members = self.members(k);
            if members.len() > cap {
                capped += 1;
            }
            found.extend(members.iter().take(cap));
        }
        found.sort_unstable();
        found.dedup();
        (found, capped)
    }

    /// Files the next record under its keys; returns its number.
    fn file(&mut self, keys: &[String], prepared: Arc<PreparedRecord>) -> u32 {
        let i = self.filed;
        self.filed += 1;
        self.window.push(prepared);
        for k in keys {
            let hash = Self::hash(k);
            let Some(m) = self.keys.get_mut(&hash) else {
                self.keys.insert(hash, i);
                continue;
            };
            let v = if *m & MANY == 0 {
                let j = *m;
                if j == i {
                    // A key listed twice keeps one entry.
                    continue;
                }
                *m = MANY | self.many.len() as u32;
                self.many.push(vec![j]);
                self.many.last_mut().expect("just pushed")
            } else {
                &mut self.many[(*m & !MANY) as usize]
            };
            // Records arrive in enrollment order: an append.
            if v.last() != Some(&i) {
                v.push(i);
            }
        }
        i
    }
}

/// A record of a first pass, ready for its decision.
pub(super) struct Filed {
    pub me: Arc<PreparedRecord>,
    pub keys: Keys,
    /// Keys read only up to the cap.
    pub capped: u64,
    pub ahead: Ahead,
}

/// What the decision of a first pass's record finds done.
pub(super) struct Ahead {
    /// Its number in the pass.
    pub number: u32,
    /// Its candidates in enrollment order.
    pub candidates: Vec<Compared>,
    /// The keys it is filed under as the JSON array the pass stages
    /// ([`crate::store::Store::mpi_stage_block_keys`]).
    pub keys_json: String,
}

/// A candidate of a [`Filed`] record: its number and score, 16 bytes (at 100,000 records a
/// batch in flight holds ~200,000 of them).
#[derive(Debug, Clone, Copy)]
pub(super) struct Compared {
    pub number: u32,
    /// The score; [`Compared::BELOW`] when it cannot reach the review band, NaN when not scored
    /// here (the candidate had left the [`Window`] by then; the decision scores it).
    score: f64,
}

impl Compared {
    const BELOW: f64 = f64::NEG_INFINITY;

    /// `Some(score_pair(..))` when scored here, `None` when the decision must score it.
    pub(super) fn score(&self) -> Option<Option<f64>> {
        if self.score.is_nan() {
            None
        } else {
            Some((self.score != Self::BELOW).then_some(self.score))
        }
    }
}

/// What [`file_and_score`] needs of the pass's settings.
pub(super) struct Scoring {
    pub params: Arc<Params>,
    /// Scores below cannot matter (the review band's floor).
    pub floor: f64,
    pub block_cap: usize,
}

/// Prepares a batch of pending records (in enrollment order, after every record filed so far),
/// files each under its keys after finding its candidates, and scores every pair, preparing and
/// scoring on rayon's threads. A record whose fields cannot be read fails the batch.
pub(super) fn file_and_score(
    index: &mut PassIndex,
    batch: &[PendingRecord],
    scoring: &Scoring,
) -> Result<Vec<Filed>> {
    // Records prepared before the pass are taken (and the map's memory freed once empty).
    let ready: Vec<Option<Arc<PreparedRecord>>> = batch
        .iter()
        .map(|rec| index.ready.remove(&rec.enrollment_uid))
        .collect();
    if index.ready.is_empty() && index.ready.capacity() > 0 {
        index.ready = FastMap::default();
    }
    let prepared: Vec<(Arc<PreparedRecord>, Keys, String)> = batch
        .par_iter()
        .zip(ready)
        .map(|(rec, ready)| {
            let (me, keys) = match ready {
                Some(me) => {
                    let keys = keys_of(&me);
                    (me, keys)
                }
                None => prepare_pending(rec)?,
            };
            let keys_json = serde_json::to_string(&keys.filed)?;
            Ok((me, keys, keys_json))
        })
        .collect::<Result<_>>()?;
    let mut found = Vec::with_capacity(batch.len());
    for (me, keys, _) in &prepared {
        let read = read_keys(&keys.filed, &keys.read_also);
        let (members, capped) = index.members_of_keys(&read, scoring.block_cap);
        let number = index.file(&keys.filed, me.clone());
        found.push((number, capped, members));
    }
    let index = &*index;
    let params = &*scoring.params;
    let compared: Vec<Vec<Compared>> = found
        .par_iter()
        .zip(&prepared)
        .map(|((_, _, members), (me, _, _))| {
            members
                .iter()
                .map(|&number| Compared {
                    number,
                    score: match index.window.get(number) {
                        Some(p) => {
                            score_pair(params, me, p, scoring.floor).unwrap_or(Compared::BELOW)
                        }
                        None => f64::NAN,
                    },
                })
                .collect()
        })
        .collect();
    Ok(found
        .into_iter()
        .zip(prepared)
        .zip(compared)
        .map(
            |(((number, capped, _), (me, keys, keys_json)), candidates)| Filed {
                me,
                keys,
                capped,
                ahead: Ahead {
                    number,
                    candidates,
                    keys_json,
                },
            },
        )
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{CardFields, CardRecord};
    use crate::store::Store;

    /// Families of a few people each: a shared phone and address, one family name, parents and
    /// children born decades apart, given names that recur across families.
    fn household_store(dir: &std::path::Path) -> Store {
        let store = Store::open(&dir.join("kadi.db")).unwrap();
        let given = ["Awa", "Moussa", "Fatou", "Mamadou", "Aminata", "Ibrahima"];
        let family = ["Diop", "Ndiaye", "Fall", "Sow", "Traoré"];
        for h in 0..15 {
            for m in 0..4 {
                let uid = format!("e{:03}", (h * 37 + m * 11) % 1000);
                let fields = CardFields {
                    first_name: Some(given[(h + m * 5) % given.len()].into()),
                    last_name: Some(family[h % family.len()].into()),
                    date_of_birth: (m != 3)
                        .then(|| format!("{}-0{}-1{}", 1950 + m * 22, 1 + h % 9, m)),
                    gender: Some(if m % 2 == 0 { "M" } else { "F" }.into()),
                    phone_number: Some(format!("+22177000{:04}", h / 2)),
                    address: Some(format!("{} Médina", 100 + h)),
                    ..Default::default()
                };
                store
                    .upsert_card_record(&CardRecord {
                        enrollment_uid: uid.clone(),
                        tracked_entity_uid: uid,
                        program_uid: "P3jJH5Tu5VC".into(),
                        fields,
                    })
                    .unwrap();
            }
        }
        store
    }

    /// What a first pass reads before it is what it would have read itself: the household
    /// counts the rules would read the first time a pair needs them, and each record as the
    /// pass prepares it (the first `keep_at_most` of them, in enrollment order).
    #[test]
    fn a_store_prepared_before_a_first_pass_is_what_the_pass_would_read() {
        let dir = tempfile::tempdir().unwrap();
        let store = household_store(dir.path());
        let stored: Vec<(String, String)> = store
            .mpi_pending_records(None, 1000)
            .unwrap()
            .into_iter()
            .map(|r| (r.enrollment_uid, r.fields_json))
            .collect();
        assert_eq!(stored.len(), 60);
        let counted = crate::mpi::household::household_values(&store).unwrap();
        for keep in [1000, 10] {
            let (ready, households) = prepare_store(&store, keep).unwrap();
            assert!(households == counted, "keep {keep}");
            assert_eq!(ready.len(), keep.min(stored.len()));
            for (uid, json) in stored.iter().take(keep) {
                let prepared = super::super::prepare_json(uid, json).unwrap();
                assert_eq!(ready.get(uid).map(|p| &**p), Some(&prepared), "{uid}");
            }
        }
    }
}
