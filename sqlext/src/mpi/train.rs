//! Learning the scorer's parameters from a store's own records, without truth: Fellegi-Sunter
//! with u counted on random pairs, m estimated by expectation-maximisation on blocked candidate
//! pairs, term frequencies counted per value. Why each step is as it is: `docs/mpi.md`, Learned
//! parameters.
//!
//! - **u** (how often a level occurs between two different people) from random pairs: nearly all
//!   random pairs are different people, so their levels are u without any model.
//! - **m** (how often a level occurs in true pairs) by EM on the pairs blocking brings together,
//!   starting from the a-priori m and shrunk toward it (a Dirichlet prior of [`PRIOR_PAIRS`]
//!   pseudo-pairs), so a small or odd store cannot push a weight to nonsense.
//! - **Households cannot teach EM that one family is one person**: the posterior that weighs the
//!   pairs is computed from the personal fields only (given name, birth date, sex, national ID).
//!   The fields a household shares (family name, phone, address, clinic, zone) are not
//!   independent of each other among different people of one family, so they never drive the
//!   E-step; their m is measured on the pairs the personal fields say are one person.
//! - **The prior** is the expected number of true pairs over all pairs of records.
use super::params::{Slot, Tf, TfField, TrainInfo, SLOTS, SLOT_COUNT, TF_MIN_COUNT};
use super::*;
use std::collections::BTreeMap;

/// Pseudo-pairs of the a-priori m each field's estimate is shrunk toward.
pub const PRIOR_PAIRS: f64 = 20.0;
/// Fewest records a store must have to be trained on.
pub const MIN_RECORDS: usize = 100;
/// Fewest records for term frequencies: fewer, and a value's count is noise.
pub const TF_MIN_RECORDS: usize = 1000;
/// Name values whose counts vary no more than chance (a dispersion index, variance / mean of the
/// counts, under this) are drawn uniformly, as in synthetic data: their frequencies carry no
/// information and term frequencies stay off for that field.
pub const TF_MIN_DISPERSION: f64 = 2.0;
/// The lowest and highest weight a learned slot may take (log-odds).
pub const WEIGHT_RANGE: (f64, f64) = (-6.0, 12.0);

/// How much to sample.
#[derive(Debug, Clone)]
pub struct TrainOptions {
    /// Random pairs u is counted on (all pairs when the store has fewer).
    pub random_pairs: usize,
    /// Blocked pairs EM runs on (a deterministic sample when there are more).
    pub max_blocked_pairs: usize,
    /// A blocking key holding more records is left out (as resolution reads only that many).
    pub block_cap: usize,
    /// EM iterations at most.
    pub iterations: u32,
    /// Seed of the pair sampler (training is deterministic for a store and a seed).
    pub seed: u64,
}

impl Default for TrainOptions {
    fn default() -> Self {
        TrainOptions {
            random_pairs: 200_000,
            max_blocked_pairs: 400_000,
            block_cap: 100,
            iterations: 100,
            seed: 0x6b61_6469,
        }
    }
}

/// The fields of a comparison vector: the nine of [`FIELDS`].
const NF: usize = 9;
/// The personal fields (given name, birth date, sex, national ID): the only ones that drive
/// the E-step.
const PERSONAL: [usize; 4] = [0, 2, 3, 5];
const MISSING: u8 = u8::MAX;

/// The slot of every field of a pair (`None` when a side lacks it), in [`FIELDS`] order. Both
/// names disagreeing is [`Slot::NamesBothDisagree`] in both name fields, as the scorer weighs it.
pub fn comparison_slots(a: &PreparedRecord, b: &PreparedRecord) -> [Option<Slot>; NF] {
    let (a, b) = score::ordered(a, b);
    slots_of_ordered(a, b, compare_names(a, b))
}

/// [`comparison_slots`] of a pair already in [`score::ordered`] order, its names compared.
fn slots_of_ordered(
    a: &PreparedRecord,
    b: &PreparedRecord,
    names: (Level, Level, NamePairs),
) -> [Option<Slot>; NF] {
    let (_, _, _, first, last) = score::name_slots_from(a, b, names);
    let others = score::other_levels(a, b);
    let mut out = [None; NF];
    out[0] = first;
    out[1] = last;
    for (i, o) in others.iter().enumerate() {
        out[i + 2] = o.2;
    }
    out
}

/// The slot index of every field of records `i` and `j` (MISSING when a side lacks it), as
/// [`comparison_slots`] gives it, with the names' levels remembered in `memo`. Names are counted
/// marginally (both disagreeing is a disagreement of each); the joint event is counted apart
/// ([`joint_both`]).
fn outcome(
    records: &[PreparedRecord],
    names: &NameIds,
    memo: &mut NameMemo,
    i: usize,
    j: usize,
) -> [u8; NF] {
    let (a, b) = score::ordered(&records[i], &records[j]);
    let (ia, ib) = if std::ptr::eq(a, &records[i]) {
        (names.0[i], names.0[j])
    } else {
        (names.0[j], names.0[i])
    };
    let levels = compare_names_by(|a_first, b_first| {
        let (x, y) = (ia[usize::from(!a_first)], ib[usize::from(!b_first)]);
        if x == NO_NAME || y == NO_NAME {
            return Level::Missing;
        }
        memo.level(x, y, || {
            let x = if a_first { &a.first } else { &a.last };
            let y = if b_first { &b.first } else { &b.last };
            opt_level(x.as_ref(), y.as_ref())
        })
    });
    let mut out = slots_of_ordered(a, b, levels).map(|s| s.map_or(MISSING, |s| s as u8));
    if out[0] == Slot::NamesBothDisagree as u8 {
        out[0] = Slot::FirstDisagree as u8;
        out[1] = Slot::LastDisagree as u8;
    }
    out
}

const NO_NAME: u32 = u32::MAX;

/// Each record's given and family name as a number, one per distinct normalised name
/// ([`NO_NAME`] when missing). Everything a name's comparison reads is made from its normalised
/// text, so two names with one number compare alike.
struct NameIds(Vec<[u32; 2]>);

impl NameIds {
    fn of(records: &[PreparedRecord]) -> NameIds {
        let mut ids: HashMap<&str, u32> = HashMap::new();
        NameIds(
            records
                .iter()
                .map(|r| {
                    [&r.first, &r.last].map(|n| match n {
                        Some(n) => {
                            let next = ids.len() as u32;
                            *ids.entry(n.norm()).or_insert(next)
                        }
                        None => NO_NAME,
                    })
                })
                .collect(),
        )
    }
}

/// Levels of the pairs of names one thread has compared. Names repeat (a few hundred given
/// names make most of a country's records): in 100,000 random pairs of a 5,000-record household
/// set, 95% of the name comparisons had been made before. At most [`NameMemo::MAX`] pairs are
/// kept; past it, pairs are compared each time.
struct NameMemo(HashMap<u64, Level, MixState>);

impl NameMemo {
    const MAX: usize = 1 << 20;

    fn new() -> NameMemo {
        NameMemo(HashMap::with_hasher(MixState))
    }

    fn level(&mut self, x: u32, y: u32, compare: impl FnOnce() -> Level) -> Level {
        let key = u64::from(x) << 32 | u64::from(y);
        if let Some(&l) = self.0.get(&key) {
            return l;
        }
        let l = compare();
        if self.0.len() < Self::MAX {
            self.0.insert(key, l);
        }
        l
    }
}

/// Hashes a u64 key (a pair of name numbers, a pattern) with [`mix`]: SipHash was a tenth of a
/// lookup's cost, and no adversary chooses these keys.
#[derive(Clone, Copy, Default)]
struct MixState;

impl std::hash::BuildHasher for MixState {
    type Hasher = MixHasher;
    fn build_hasher(&self) -> MixHasher {
        MixHasher(0)
    }
}

struct MixHasher(u64);

impl std::hash::Hasher for MixHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    /// Eight bytes a round: a pattern (nine bytes) is two rounds, not nine (its hashing was
    /// a tenth of training when each byte was mixed on its own).
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.0 = mix(self.0 ^ u64::from_le_bytes(word));
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = mix(self.0 ^ n);
    }
}

/// Of the pairs with both names present, the weighted share where both disagree.
fn joint_both(pats: &Patterns, weight: impl Fn(f64, &[u8; NF]) -> f64) -> (f64, f64) {
    let (mut both, mut all) = (0.0, 0.0);
    for (p, &c) in pats {
        if p[0] != MISSING && p[1] != MISSING {
            let w = weight(c, p);
            all += w;
            if p[0] == Slot::FirstDisagree as u8 && p[1] == Slot::LastDisagree as u8 {
                both += w;
            }
        }
    }
    (both, all)
}

/// Which field (0..9) a slot belongs to; both names disagreeing belongs to both name fields.
fn slot_fields(slot: usize) -> &'static [usize] {
    match SLOTS[slot].1 {
        "first_name" => &[0],
        "last_name" => &[1],
        "date_of_birth" => &[2],
        "gender" => &[3],
        "phone_number" => &[4],
        "national_id" => &[5],
        "address" => &[6],
        "health_center" => &[7],
        "zone" => &[8],
        _ => &[],
    }
}

/// SplitMix64: a small, seedable generator, so training is reproducible.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        let z = mix(self.0);
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Counts of comparison vectors, in a fixed order (sums over them do not depend on hashing).
type Patterns = BTreeMap<[u8; NF], f64>;

/// Counts the patterns of `pairs` pairs drawn by `pair(k)` (k in 0..pairs), on every core:
/// comparisons are most of training's time.
fn patterns_of(
    records: &[PreparedRecord],
    names: &NameIds,
    pairs: usize,
    pair: impl Fn(usize) -> Option<(usize, usize)> + Sync,
) -> Patterns {
    // Counted in a hash map per thread (a B-tree search per pair was a tenth of it), summed
    // into the ordered map: counts are whole numbers, so the sums are exact in any order.
    let parts: Vec<HashMap<[u8; NF], f64, MixState>> = on_threads(pairs, |range| {
        let mut pats = HashMap::with_hasher(MixState);
        let mut memo = NameMemo::new();
        for k in range {
            if let Some((i, j)) = pair(k) {
                *pats
                    .entry(outcome(records, names, &mut memo, i, j))
                    .or_default() += 1.0;
            }
        }
        pats
    });
    let mut all = Patterns::new();
    for part in parts {
        for (p, c) in part {
            *all.entry(p).or_default() += c;
        }
    }
    all
}

/// `f` over `0..n` cut into one range per core (at most 8), the results in range order. The
/// extension has no thread pool of its own (it runs inside any SQLite host); a scope of plain
/// threads is enough for training's few long loops. A panic on one is raised again here.
fn on_threads<T: Send>(n: usize, f: impl Fn(std::ops::Range<usize>) -> T + Sync) -> Vec<T> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, 8);
    let chunk = n.div_ceil(threads).max(1);
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let f = &f;
                scope.spawn(move || f((t * chunk).min(n)..((t + 1) * chunk).min(n)))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    })
}

/// Levels of random pairs: u. All pairs when there are few records.
fn random_patterns(
    records: &[PreparedRecord],
    names: &NameIds,
    opts: &TrainOptions,
) -> (Patterns, u64) {
    let n = records.len();
    let total = n * (n - 1) / 2;
    // Twenty pairs a record (at least 50,000): enough for u of every level that matters; rarer
    // levels rest on few pairs and keep their a-priori weight ([`SHRINK_PAIRS`]).
    let wanted = opts.random_pairs.min((20 * n).max(50_000));
    if total <= wanted {
        // Pair k of all pairs, in order (i < j).
        let mut all = Vec::with_capacity(total);
        for i in 0..n {
            for j in i + 1..n {
                all.push((i as u32, j as u32));
            }
        }
        let pats = patterns_of(records, names, all.len(), |k| {
            Some((all[k].0 as usize, all[k].1 as usize))
        });
        return (pats, total as u64);
    }
    // Pair k is drawn from its own stream: the same sample on any number of cores.
    let seed = opts.seed;
    let pats = patterns_of(records, names, wanted, |k| {
        let mut rng = Rng(seed ^ (k as u64).wrapping_mul(0x2545_f491_4f6c_dd1d));
        let (i, j) = (rng.below(n), rng.below(n));
        (i != j).then_some((i, j))
    });
    let drawn = pats.values().sum::<f64>() as u64;
    (pats, drawn)
}

/// Levels of the pairs blocking brings together, and how many there were (before sampling).
fn blocked_patterns(
    records: &[PreparedRecord],
    names: &NameIds,
    opts: &TrainOptions,
) -> (Patterns, u64, f64) {
    // Keys by a 64-bit hash (a collision only merges two blocks: a few more pairs to learn from).
    // Resolution compares the records of a key with each other, except those of the weak-date
    // pass's `wd` keys (read only by records without a firm date). Each core files its range of
    // records as (key, record) and sorts them; the blocks are the runs of one key across the
    // sorted parts, read in place (no map of vectors, no copy: at 100,000 records the keys are
    // 1.5 million pairs, 24 MB, and a copy of them was most of training's peak memory).
    let parts: Vec<Vec<(u64, u32)>> = on_threads(records.len(), |range| {
        let start = range.start;
        let mut part: Vec<(u64, u32)> = Vec::new();
        for (o, r) in records[range].iter().enumerate() {
            let i = (start + o) as u32;
            part.extend(
                block_keys(r)
                    .into_iter()
                    .filter(|k| compared_among_themselves(k))
                    .map(|k| (fnv(k.as_bytes()), i)),
            );
        }
        part.sort_unstable();
        part
    });
    let blocks = |f: &mut dyn FnMut(&[u32])| {
        for_each_run(&parts, |members| {
            if members.len() >= 2 && members.len() <= opts.block_cap {
                f(members);
            }
        })
    };
    // Pairs counted with repeats (a pair sharing two keys counts twice): the sampling rate.
    let mut with_repeats = 0.0;
    blocks(&mut |m| with_repeats += (m.len() * (m.len() - 1) / 2) as f64);
    // More pairs than EM needs (100,000 records: millions): a deterministic sample by a hash of
    // the pair, so memory stays that of the sample and the estimate is scaled back in the prior.
    let keep = (opts.max_blocked_pairs as f64 / f64::max(with_repeats, 1.0)).min(1.0);
    let threshold = (keep * u64::MAX as f64) as u64;
    // A vector sorted and deduplicated, not a hash set: the same pairs in the same order.
    let mut chosen: Vec<u64> = Vec::new();
    blocks(&mut |members| {
        for (x, &i) in members.iter().enumerate() {
            for &j in &members[x + 1..] {
                let (i, j) = (i.min(j) as u64, i.max(j) as u64);
                let pair = i << 32 | j;
                if i != j && (keep >= 1.0 || mix(pair ^ opts.seed) <= threshold) {
                    chosen.push(pair);
                }
            }
        }
    });
    drop(parts);
    chosen.sort_unstable();
    chosen.dedup();
    let total = (chosen.len() as f64 / keep).round() as u64;
    let pats = patterns_of(records, names, chosen.len(), |k| {
        let p = chosen[k];
        Some(((p >> 32) as usize, (p & 0xffff_ffff) as usize))
    });
    (pats, total, keep)
}

/// Calls `f` with the records of each key: the runs of one key across `parts` (each sorted by
/// key, then record; the parts cover consecutive ranges of records, so taking them in order
/// keeps a run's records in record order).
fn for_each_run(parts: &[Vec<(u64, u32)>], mut f: impl FnMut(&[u32])) {
    let mut at = vec![0usize; parts.len()];
    let mut members: Vec<u32> = Vec::new();
    loop {
        let next = parts
            .iter()
            .zip(&at)
            .filter_map(|(p, &i)| p.get(i).map(|e| e.0))
            .min();
        let Some(key) = next else { return };
        members.clear();
        for (p, i) in parts.iter().zip(at.iter_mut()) {
            while let Some(&(k, r)) = p.get(*i) {
                if k != key {
                    break;
                }
                members.push(r);
                *i += 1;
            }
        }
        f(&members);
    }
}

/// FNV-1a of bytes (stable across runs and platforms).
fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

/// A 64-bit mixer (SplitMix64's finaliser): pair IDs to uniform hashes for sampling.
fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Per slot: Σ weight over patterns with that slot, and per field Σ weight with the field present.
fn tally(
    pats: &Patterns,
    weight: impl Fn(f64, &[u8; NF]) -> f64,
) -> ([f64; SLOT_COUNT], [f64; NF]) {
    let mut slot = [0.0; SLOT_COUNT];
    let mut present = [0.0; NF];
    for (p, &c) in pats {
        let w = weight(c, p);
        for f in 0..NF {
            if p[f] != MISSING {
                present[f] += w;
                slot[p[f] as usize] += w;
            }
        }
    }
    (slot, present)
}

/// Probabilities per slot from tallies, with `alpha` pseudo-counts of `prior`.
fn probabilities(
    slot: &[f64; SLOT_COUNT],
    present: &[f64; NF],
    prior: &[f64; SLOT_COUNT],
    alpha: f64,
) -> [f64; SLOT_COUNT] {
    let mut out = [0.0; SLOT_COUNT];
    for s in 0..SLOT_COUNT {
        if let Some(&f) = slot_fields(s).first() {
            out[s] = (slot[s] + alpha * prior[s]) / (present[f] + alpha);
        }
    }
    out
}

/// The a-priori m of each slot, split slots shared by the share of records that fall in them,
/// normalised per field.
fn prior_m(records: &[PreparedRecord]) -> [f64; SLOT_COUNT] {
    let share = |f: &dyn Fn(&PreparedRecord) -> Option<bool>| {
        let (mut yes, mut all) = (0.0, 0.0);
        for r in records {
            if let Some(v) = f(r) {
                all += 1.0;
                yes += f64::from(u8::from(v));
            }
        }
        if all > 0.0 {
            yes / all
        } else {
            0.0
        }
    };
    let first = share(&|r| r.first.as_ref().map(|n| n.common));
    let last = share(&|r| r.last.as_ref().map(|n| n.common));
    let est = share(&|r| r.dob.map(|d| d.is_estimated()));
    let full = share(&|r| (!r.address.is_empty()).then_some(r.address.len() >= FULL_ADDRESS_WORDS));
    let mut m = [0.0; SLOT_COUNT];
    for (i, (slot, _, _, _, m0)) in SLOTS.iter().enumerate() {
        let split = match slot {
            Slot::FirstExactCommon | Slot::FirstCloseCommon | Slot::FirstPhoneticCommon => first,
            Slot::FirstExact | Slot::FirstClose | Slot::FirstPhonetic => 1.0 - first,
            Slot::LastExactCommon | Slot::LastCloseCommon | Slot::LastPhoneticCommon => last,
            Slot::LastExact | Slot::LastClose | Slot::LastPhonetic => 1.0 - last,
            Slot::DobExactEstimated | Slot::DobCloseEstimated => est,
            Slot::DobExact | Slot::DobClose => 1.0 - est,
            Slot::AddressExactFull | Slot::AddressCloseFull => full,
            Slot::AddressExact | Slot::AddressClose => 1.0 - full,
            _ => 1.0,
        };
        // Never exactly zero: a slot no record falls in keeps a sliver of mass.
        m[i] = (m0 * split).max(1e-4);
    }
    for f in 0..NF {
        let of_field = |s: &usize| slot_fields(*s).first() == Some(&f);
        let sum: f64 = (0..SLOT_COUNT).filter(of_field).map(|s| m[s]).sum();
        for s in (0..SLOT_COUNT).filter(of_field) {
            m[s] /= sum;
        }
    }
    m
}

/// What EM found on the blocked pairs.
struct Em {
    /// m of every slot (Dirichlet-shrunk toward the a-priori m).
    m: [f64; SLOT_COUNT],
    /// Expected true pairs at each slot (Σ posterior): how much evidence each m rests on.
    evidence: [f64; SLOT_COUNT],
    /// Of true pairs with both names present (expected), how many disagree on both, and all.
    both: (f64, f64),
    /// Share of true pairs among the blocked pairs.
    lambda: f64,
    iterations: u32,
    converged: bool,
}

/// The household fields the E-step sees as ONE comparison (family name, phone, address): a
/// family shares them together, so among different people of one household they agree together
/// and counting them as three independent agreements is exactly "one household = one person".
/// Each agrees, disagrees or is missing: 27 joint outcomes, with their own m and u.
const HOUSEHOLD_JOINT: [usize; 3] = [1, 4, 6];
const H_OUTCOMES: usize = 27;
/// A-priori share of true pairs agreeing on each of [`HOUSEHOLD_JOINT`] (people keep their
/// family name, mostly their phone and address).
const H_AGREE: [f64; 3] = [0.92, 0.80, 0.85];

/// The joint household outcome of a pattern (0..27).
fn household_outcome(p: &[u8; NF]) -> usize {
    HOUSEHOLD_JOINT.iter().fold(0, |h, &f| {
        let v = if p[f] == MISSING {
            2
        } else {
            let level = SLOTS[p[f] as usize].2;
            usize::from(
                !(level.starts_with("exact")
                    || level.starts_with("close")
                    || level.starts_with("phonetic")),
            )
        };
        h * 3 + v
    })
}

/// The a-priori m of the joint household outcomes: each field agreeing as [`H_AGREE`] says,
/// missing as often as among the blocked pairs, the three independent (a start, which EM moves).
fn household_prior(pats: &Patterns) -> [f64; H_OUTCOMES] {
    let total: f64 = pats.values().sum();
    let missing = HOUSEHOLD_JOINT.map(|f| {
        pats.iter()
            .filter(|(p, _)| p[f] == MISSING)
            .map(|(_, c)| c)
            .sum::<f64>()
            / total.max(1.0)
    });
    let mut m = [0.0; H_OUTCOMES];
    for (h, slot) in m.iter_mut().enumerate() {
        let digits = [h / 9, h / 3 % 3, h % 3];
        *slot = (0..3)
            .map(|i| match digits[i] {
                2 => missing[i],
                0 => (1.0 - missing[i]) * H_AGREE[i],
                _ => (1.0 - missing[i]) * (1.0 - H_AGREE[i]),
            })
            .product::<f64>()
            .max(1e-6);
    }
    m
}

/// EM on blocked patterns. The posterior that weighs each pattern is computed from the personal
/// fields ([`PERSONAL`]) and the joint household outcome; every slot's m is then measured on the
/// pairs that posterior weighs.
fn em(pats: &Patterns, m0: &[f64; SLOT_COUNT], iterations: u32) -> Em {
    let uniform = {
        let (s, p) = tally(pats, |c, _| c);
        probabilities(&s, &p, m0, 1.0)
    };
    let h0 = household_prior(pats);
    let total: f64 = pats.values().sum();
    let mut hu0 = [0.0; H_OUTCOMES];
    for (p, &c) in pats {
        hu0[household_outcome(p)] += c / total;
    }
    let (mut m, mut u, mut lambda) = (*m0, uniform, 0.05_f64);
    let (mut hm, mut hu) = (h0, hu0);
    let mut run = 0;
    let mut converged = false;
    let posterior = |m: &[f64; SLOT_COUNT],
                     u: &[f64; SLOT_COUNT],
                     hm: &[f64; H_OUTCOMES],
                     hu: &[f64; H_OUTCOMES],
                     lambda: f64,
                     p: &[u8; NF]| {
        let mut lo = (lambda / (1.0 - lambda)).ln();
        for f in PERSONAL {
            if p[f] != MISSING {
                let s = p[f] as usize;
                lo += (m[s] / u[s]).ln();
            }
        }
        let h = household_outcome(p);
        lo += (hm[h] / hu[h].max(1e-12)).ln();
        score::logistic(lo)
    };
    while run < iterations {
        run += 1;
        let post: Vec<([u8; NF], f64, f64)> = pats
            .iter()
            .map(|(p, &c)| (*p, c, posterior(&m, &u, &hm, &hu, lambda, p)))
            .collect();
        let weighted = |matched: bool| {
            let map: Patterns = post
                .iter()
                .map(|(p, c, q)| (*p, c * if matched { *q } else { 1.0 - q }))
                .collect();
            map
        };
        let (ms, mp) = tally(&weighted(true), |c, _| c);
        let (us, up) = tally(&weighted(false), |c, _| c);
        let matched: f64 = post.iter().map(|(_, c, q)| c * q).sum();
        let new_m = within_prior_bounds(probabilities(&ms, &mp, m0, PRIOR_PAIRS), m0);
        u = probabilities(&us, &up, &uniform, 1.0);
        let (mut hms, mut hus) = ([0.0; H_OUTCOMES], [0.0; H_OUTCOMES]);
        for (p, c, q) in &post {
            hms[household_outcome(p)] += c * q;
            hus[household_outcome(p)] += c * (1.0 - q);
        }
        let (sm, su) = (hms.iter().sum::<f64>(), hus.iter().sum::<f64>());
        let mut new_hm = [0.0; H_OUTCOMES];
        for h in 0..H_OUTCOMES {
            new_hm[h] = ((hms[h] + PRIOR_PAIRS * h0[h]) / (sm + PRIOR_PAIRS))
                .clamp(h0[h] / M_BOUND, (h0[h] * M_BOUND).min(1.0));
            hu[h] = (hus[h] + hu0[h]) / (su + 1.0);
        }
        let sum: f64 = new_hm.iter().sum();
        new_hm.iter_mut().for_each(|x| *x /= sum);
        lambda = (matched / total).clamp(1e-9, 0.5);
        let delta = (0..SLOT_COUNT)
            .map(|s| (new_m[s] - m[s]).abs())
            .chain((0..H_OUTCOMES).map(|h| (new_hm[h] - hm[h]).abs()))
            .fold(0.0, f64::max);
        m = new_m;
        hm = new_hm;
        if delta < 1e-5 {
            converged = true;
            break;
        }
    }
    let q = |c: f64, p: &[u8; NF]| c * posterior(&m, &u, &hm, &hu, lambda, p);
    let (evidence, _) = tally(pats, q);
    let both = joint_both(pats, q);
    Em {
        m,
        evidence,
        both,
        lambda,
        iterations: run,
        converged,
    }
}

/// How far (a factor either way) a learned m may move from the a-priori m. Without it, EM on
/// blocked pairs finds the largest structure in them, which is not always "one person": on a
/// household-shaped store the pairs sharing a given name and sex (siblings, namesakes) became
/// the "match" class, with a different birth date in 90% of its pairs (`docs/mpi.md`, Learned
/// parameters). The bound keeps the class anchored to what a true pair looks like.
pub const M_BOUND: f64 = 4.0;

/// Projects m onto the a-priori bounds ([`M_BOUND`]), each field summing to one again.
fn within_prior_bounds(mut m: [f64; SLOT_COUNT], m0: &[f64; SLOT_COUNT]) -> [f64; SLOT_COUNT] {
    for _ in 0..4 {
        for s in 0..SLOT_COUNT {
            if !slot_fields(s).is_empty() {
                m[s] = m[s].clamp(m0[s] / M_BOUND, (m0[s] * M_BOUND).min(1.0));
            }
        }
        for f in 0..NF {
            let of_field = |s: &usize| slot_fields(*s).first() == Some(&f);
            let sum: f64 = (0..SLOT_COUNT).filter(of_field).map(|s| m[s]).sum();
            if sum > 0.0 {
                for s in (0..SLOT_COUNT).filter(of_field) {
                    m[s] /= sum;
                }
            }
        }
    }
    m
}

/// Pairs of evidence (expected true pairs, and random pairs, at a level) at which a learned
/// weight is half data, half a-priori: a level seen a handful of times keeps its a-priori weight.
pub const SHRINK_PAIRS: f64 = 10.0;

/// A learned weight shrunk toward the a-priori one by how much evidence it rests on.
fn shrunk(data: f64, prior: f64, evidence: f64) -> f64 {
    let k = evidence / (evidence + SHRINK_PAIRS);
    prior + (data - prior) * k
}

/// Orders a ladder of slots from strongest to weakest agreement: no weaker level may weigh more
/// than a stronger one (a typo cannot be better evidence than the same value).
fn monotone(w: &mut [f64; SLOT_COUNT], ladder: &[Slot]) {
    for pair in ladder.windows(2) {
        let (hi, lo) = (pair[0] as usize, pair[1] as usize);
        if w[lo] > w[hi] {
            w[lo] = w[hi];
        }
    }
}

/// The bounds every learned weight keeps, each hit named in `bounded`.
fn bound(w: &mut [f64; SLOT_COUNT], bounded: &mut Vec<String>) {
    for (i, (slot, field, level, _, _)) in SLOTS.iter().enumerate() {
        let raw = w[i];
        let agree = level.starts_with("exact");
        let disagree = level.contains("disagree");
        let (lo, hi) = WEIGHT_RANGE;
        let mut v = raw.clamp(lo, hi);
        // An agreement is never evidence against, a disagreement never evidence for.
        if agree {
            v = v.max(0.0);
        }
        if disagree {
            v = v.min(0.0);
        }
        if *slot == Slot::NamesBothDisagree {
            // One event shared between two names.
            v = (raw / 2.0).clamp(lo, 0.0);
        }
        if (v - raw).abs() > 1e-9 && *slot != Slot::NamesBothDisagree {
            bounded.push(format!("{field}.{level}: {raw:.3} -> {v:.3}"));
        }
        w[i] = v;
    }
    use Slot::*;
    for ladder in [
        &[
            FirstExact,
            FirstClose,
            FirstPhonetic,
            FirstSimilar,
            FirstDisagree,
        ][..],
        &[
            FirstExactCommon,
            FirstCloseCommon,
            FirstPhoneticCommon,
            FirstSimilar,
        ],
        &[
            LastExact,
            LastClose,
            LastPhonetic,
            LastSimilar,
            LastDisagree,
        ],
        &[
            LastExactCommon,
            LastCloseCommon,
            LastPhoneticCommon,
            LastSimilar,
        ],
        &[DobExact, DobClose, DobSimilar, DobDisagree],
        &[DobExactEstimated, DobCloseEstimated, DobDisagree],
        &[PhoneExact, PhoneClose, PhoneDisagree],
        &[NidExact, NidClose, NidDisagree],
        &[AddressExactFull, AddressCloseFull, AddressSimilar],
        &[AddressExact, AddressClose, AddressSimilar, AddressDisagree],
    ] {
        monotone(w, ladder);
    }
}

/// Counts of one field's values, for term frequencies.
fn tf_field(values: Vec<(String, usize)>, uniform_guard: bool) -> Result<TfField, String> {
    let mut counts: BTreeMap<String, (u32, usize)> = BTreeMap::new();
    let records = values.len() as u64;
    for (v, split) in values {
        let e = counts.entry(v).or_insert((0, split));
        e.0 += 1;
    }
    if uniform_guard && !counts.is_empty() {
        let n = counts.len() as f64;
        let mean = records as f64 / n;
        let var = counts
            .values()
            .map(|(c, _)| (f64::from(*c) - mean).powi(2))
            .sum::<f64>()
            / n;
        if var / mean < TF_MIN_DISPERSION {
            return Err(format!(
                "values are near-uniform (dispersion {:.2} < {TF_MIN_DISPERSION})",
                var / mean
            ));
        }
    }
    // base per split: ln(Σ f² / Σ f) over the values of that split.
    let mut sq = [0.0f64; 2];
    let mut lin = [0.0f64; 2];
    for (c, split) in counts.values() {
        let f = f64::from(*c) / records as f64;
        sq[*split] += f * f;
        lin[*split] += f;
    }
    let base = (0..2)
        .map(|s| {
            if lin[s] > 0.0 && sq[s] > 0.0 {
                (sq[s] / lin[s]).ln()
            } else {
                0.0
            }
        })
        .collect();
    let listed: BTreeMap<String, u32> = counts
        .into_iter()
        .filter(|(_, (c, _))| *c >= TF_MIN_COUNT)
        .map(|(v, (c, _))| (v, c))
        .collect();
    Ok(TfField {
        records,
        base,
        counts: listed,
    })
}

/// Term frequencies of names, phones and addresses; `None` (with why) on a small store.
fn term_frequencies(records: &[PreparedRecord]) -> (Option<Tf>, Option<String>) {
    if records.len() < TF_MIN_RECORDS {
        return (
            None,
            Some(format!(
                "{} records (term frequencies need {TF_MIN_RECORDS})",
                records.len()
            )),
        );
    }
    let names = |get: fn(&PreparedRecord) -> &Option<Name>| {
        records
            .iter()
            .filter_map(|r| get(r).as_ref())
            .map(|n| (n.compact().to_string(), usize::from(n.common)))
            .collect::<Vec<_>>()
    };
    let mut off = Vec::new();
    let mut field = |name: &str, values, guard| match tf_field(values, guard) {
        Ok(f) => f,
        Err(why) => {
            off.push(format!("{name}: {why}"));
            TfField::default()
        }
    };
    let tf = Tf {
        first_name: field("first_name", names(|r| &r.first), true),
        last_name: field("last_name", names(|r| &r.last), true),
        phone_number: field(
            "phone_number",
            records
                .iter()
                .filter_map(|r| r.phone.clone().map(|p| (p, 0)))
                .collect(),
            false,
        ),
        address: field(
            "address",
            records
                .iter()
                .filter(|r| !r.address.is_empty())
                .map(|r| {
                    (
                        score::address_key(&r.address),
                        usize::from(r.address.len() >= FULL_ADDRESS_WORDS),
                    )
                })
                .collect(),
            false,
        ),
    };
    (Some(tf), (!off.is_empty()).then(|| off.join("; ")))
}

/// Learns parameters from `records` (a store's card records, prepared), starting from the
/// a-priori ones. Deterministic for given records and options.
pub fn train(records: &[PreparedRecord], opts: &TrainOptions) -> Result<Params, String> {
    // Records with nothing to compare say nothing; copied out only when there are any.
    let records: std::borrow::Cow<[PreparedRecord]> = if records.iter().any(|r| r.is_empty()) {
        records.iter().filter(|r| !r.is_empty()).cloned().collect()
    } else {
        records.into()
    };
    if records.len() < MIN_RECORDS {
        return Err(format!(
            "{} records with fields to compare; training needs at least {MIN_RECORDS}",
            records.len()
        ));
    }
    let m0 = prior_m(&records);
    let names = NameIds::of(&records);
    let (random, random_pairs) = random_patterns(&records, &names, opts);
    let (blocked, blocked_total, kept) = blocked_patterns(&records, &names, opts);
    let em = em(&blocked, &m0, opts.iterations);
    let (us, up) = tally(&random, |c, _| c);
    let mut u = [0.0; SLOT_COUNT];
    let mut w = [0.0; SLOT_COUNT];
    for s in 0..SLOT_COUNT {
        let Some(&f) = slot_fields(s).first() else {
            continue;
        };
        u[s] = (us[s] + 0.5) / (up[f] + 1.0);
        w[s] = shrunk((em.m[s] / u[s]).ln(), SLOTS[s].3, em.evidence[s].min(us[s]));
    }
    // Both names disagreeing: one event, measured jointly, shared between the two names.
    let both = Slot::NamesBothDisagree as usize;
    let (rb, ra) = joint_both(&random, |c, _| c);
    let m_both = (em.both.0 + PRIOR_PAIRS * SLOTS[both].4) / (em.both.1 + PRIOR_PAIRS);
    u[both] = (rb + 0.5) / (ra + 1.0);
    let mut m = em.m;
    m[both] = m_both;
    w[both] = 2.0
        * shrunk(
            (m_both / u[both]).ln() / 2.0,
            SLOTS[both].3,
            em.both.0.min(rb),
        );
    let mut bounded = Vec::new();
    bound(&mut w, &mut bounded);
    let n = records.len() as f64;
    let sampled: f64 = blocked.values().sum();
    let expected = (em.lambda * sampled / kept).max(1.0);
    let prior = (expected / (n * (n - 1.0) / 2.0 - expected))
        .ln()
        .clamp(-20.0, -2.0);
    let (iterations, converged) = (em.iterations, em.converged);
    let (tf, tf_off) = term_frequencies(&records);
    let mut p = Params::from_weights(prior, w);
    p.m = m.map(Some);
    p.u = u.map(Some);
    p.tf = tf;
    p.trained = Some(TrainInfo {
        records: records.len() as u64,
        random_pairs,
        blocked_pairs: blocked_total,
        em_iterations: iterations,
        converged,
        expected_matches: (expected * 10.0).round() / 10.0,
        tf_off,
        bounded,
    });
    p.refresh();
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pattern(first: Slot, dob: Slot, sex: Slot) -> [u8; NF] {
        let mut p = [MISSING; NF];
        p[0] = first as u8;
        p[2] = dob as u8;
        p[3] = sex as u8;
        p
    }

    /// Blocked pairs dominated by "same given name and sex, another birth date" (namesakes,
    /// siblings): EM must not make them its match class.
    #[test]
    fn em_keeps_m_within_the_bounds_of_the_a_priori_m() {
        let mut pats = Patterns::new();
        pats.insert(
            pattern(Slot::FirstExact, Slot::DobDisagree, Slot::SexExact),
            20_000.0,
        );
        pats.insert(
            pattern(Slot::FirstExact, Slot::DobExact, Slot::SexExact),
            300.0,
        );
        pats.insert(
            pattern(Slot::FirstDisagree, Slot::DobDisagree, Slot::SexDisagree),
            5_000.0,
        );
        pats.insert(
            pattern(Slot::FirstDisagree, Slot::DobExact, Slot::SexExact),
            200.0,
        );
        let m0 = {
            let mut m = [0.0; SLOT_COUNT];
            for (i, s) in SLOTS.iter().enumerate() {
                m[i] = s.4;
            }
            m
        };
        let bounded = em(&pats, &m0, 200);
        let dob = Slot::DobDisagree as usize;
        assert!(
            bounded.m[dob] <= 0.2,
            "m of a disagreeing date {} (a priori {})",
            bounded.m[dob],
            m0[dob]
        );
        // The projection itself: any m comes back within the bounds, each field summing to one.
        let mut wild = m0;
        wild[dob] = 0.95;
        let back = within_prior_bounds(wild, &m0);
        assert!(back[dob] <= 0.2, "{}", back[dob]);
        let dob_sum: f64 = (0..SLOT_COUNT)
            .filter(|s| slot_fields(*s).first() == Some(&2))
            .map(|s| back[s])
            .sum();
        assert!((dob_sum - 1.0).abs() < 1e-9, "{dob_sum}");
    }

    /// Remembered name levels change nothing: every ordered pair of a set where names repeat,
    /// are swapped, mistyped, compound or missing gets through the memo the slots
    /// [`comparison_slots`] gives it directly; and the memo is used (fewer levels kept than
    /// name comparisons made).
    #[test]
    fn remembered_name_levels_give_the_slots_of_a_direct_comparison() {
        let given = [
            "Mamadou",
            "Mamadu",
            "Fatou",
            "Fatoumata",
            "Aminata",
            "Awa",
            "Awa Ndeye",
            "Moussa",
            "",
            "Ibrahima",
        ];
        let family = [
            "Diallo", "Dialo", "Ndiaye", "Sow", "Sy", "Ba", "Fall", "", "Diop",
        ];
        let mut records = Vec::new();
        for k in 0..400usize {
            let (g, f) = (given[k % given.len()], family[k * 7 % family.len()]);
            // Every fifth record has its names the other way round.
            let (first, last) = if k % 5 == 0 { (f, g) } else { (g, f) };
            let dob = format!("19{:02}-0{}-1{}", 50 + k % 40, 1 + k % 9, k % 10);
            let sex = if k % 3 == 0 { "F" } else { "M" };
            let json = serde_json::json!({
                "first_name": first, "last_name": last, "date_of_birth": dob, "gender": sex,
                "phone_number": format!("77{:07}", k % 60), "address": format!("{} medina", k % 30),
            });
            records.push(PreparedRecord::from_json(&json.to_string(), 1).expect("record"));
        }
        let names = NameIds::of(&records);
        let mut memo = NameMemo::new();
        let mut compared = 0;
        for i in 0..records.len() {
            for j in 0..records.len() {
                if i == j {
                    continue;
                }
                let mut direct = comparison_slots(&records[i], &records[j])
                    .map(|s| s.map_or(MISSING, |s| s as u8));
                if direct[0] == Slot::NamesBothDisagree as u8 {
                    direct[0] = Slot::FirstDisagree as u8;
                    direct[1] = Slot::LastDisagree as u8;
                }
                assert_eq!(
                    outcome(&records, &names, &mut memo, i, j),
                    direct,
                    "records {i} and {j}"
                );
                compared += 2;
            }
        }
        assert!(
            memo.0.len() * 100 < compared,
            "{} of {compared}",
            memo.0.len()
        );
    }

    /// The blocks training learns from are the runs of one key across the cores' sorted parts,
    /// whole (a key filed by records of two parts is one block) and in record order, as a map
    /// from key to records gives them.
    #[test]
    fn blocks_are_whole_runs_of_one_key_across_the_parts() {
        let mut rng = Rng(7);
        let filed: Vec<(u64, u32)> = (0..3000u32)
            .flat_map(|i| {
                let n = 1 + rng.below(4);
                (0..n)
                    .map(|_| (rng.below(400) as u64, i))
                    .collect::<Vec<_>>()
            })
            .collect();
        let mut expected: BTreeMap<u64, Vec<u32>> = BTreeMap::new();
        for &(k, i) in &filed {
            expected.entry(k).or_default().push(i);
        }
        // Three parts over consecutive ranges of records, each sorted.
        let parts: Vec<Vec<(u64, u32)>> = [0..1000u32, 1000..2100, 2100..3000]
            .into_iter()
            .map(|range| {
                let mut part: Vec<(u64, u32)> = filed
                    .iter()
                    .copied()
                    .filter(|e| range.contains(&e.1))
                    .collect();
                part.sort_unstable();
                part
            })
            .collect();
        let mut got: Vec<Vec<u32>> = Vec::new();
        for_each_run(&parts, |members| got.push(members.to_vec()));
        let expected: Vec<Vec<u32>> = expected
            .into_values()
            .map(|mut m| {
                m.sort_unstable();
                m
            })
            .collect();
        assert_eq!(got, expected);
    }
}
