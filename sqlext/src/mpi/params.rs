//! The scorer's parameters: the weight of every comparison level, the prior and, once trained
//! on a store's own records, term-frequency tables. [`Params::default`] is today's a-priori
//! table (`docs/mpi.md`, The weight table); `kadi mpi train` estimates a table from a
//! deployment's records ([`super::train`]); SQL passes one as JSON (`mpi_score(a, b, params)`).
//!
//! Why a table and not constants: a country's names, typing habits and missing fields are its
//! own; the weights must come from its data (`docs/mpi.md`, Learned parameters).
use super::*;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One comparison outcome that has a weight: a field's agreement level, some split by what
/// makes the same level more or less telling (a common name, an estimated birth date, a full
/// address). The slots of one field partition its non-missing outcomes, which is what lets
/// training count them (m and u per slot).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Slot {
    FirstExact,
    FirstExactCommon,
    FirstClose,
    FirstCloseCommon,
    FirstPhonetic,
    FirstPhoneticCommon,
    FirstSimilar,
    FirstDisagree,
    LastExact,
    LastExactCommon,
    LastClose,
    LastCloseCommon,
    LastPhonetic,
    LastPhoneticCommon,
    LastSimilar,
    LastDisagree,
    DobExact,
    DobExactEstimated,
    DobClose,
    DobCloseEstimated,
    DobSimilar,
    DobDisagree,
    SexExact,
    SexDisagree,
    PhoneExact,
    PhoneClose,
    PhoneDisagree,
    NidExact,
    NidClose,
    NidDisagree,
    AddressExact,
    AddressExactFull,
    AddressClose,
    AddressCloseFull,
    AddressSimilar,
    AddressDisagree,
    ClinicExact,
    ClinicDisagree,
    ZoneExact,
    ZoneDisagree,
    /// Both names disagreeing, per name: one event, not two (`docs/mpi.md`).
    NamesBothDisagree,
}

/// Every slot: (slot, field, level name, a-priori weight, a-priori m).
///
/// The a-priori weights are today's table (`docs/mpi.md`). The a-priori m (the share of true
/// pairs at that level, before a split slot's share of records) is what training starts from and
/// shrinks toward; the reasons are in `docs/mpi.md`, Learned parameters.
pub const SLOTS: [(Slot, &str, &str, f64, f64); 41] = [
    (Slot::FirstExact, "first_name", "exact", 4.0, 0.80),
    (
        Slot::FirstExactCommon,
        "first_name",
        "exact_common",
        2.5,
        0.80,
    ),
    (Slot::FirstClose, "first_name", "close", 3.0, 0.07),
    (
        Slot::FirstCloseCommon,
        "first_name",
        "close_common",
        2.0,
        0.07,
    ),
    (Slot::FirstPhonetic, "first_name", "phonetic", 2.5, 0.03),
    (
        Slot::FirstPhoneticCommon,
        "first_name",
        "phonetic_common",
        2.0,
        0.03,
    ),
    (Slot::FirstSimilar, "first_name", "similar", 1.0, 0.03),
    (
        Slot::FirstDisagree,
        "first_name",
        "disagree",
        NAME_DISAGREE,
        0.07,
    ),
    (Slot::LastExact, "last_name", "exact", 5.0, 0.82),
    (
        Slot::LastExactCommon,
        "last_name",
        "exact_common",
        3.0,
        0.82,
    ),
    (Slot::LastClose, "last_name", "close", 4.0, 0.07),
    (
        Slot::LastCloseCommon,
        "last_name",
        "close_common",
        2.5,
        0.07,
    ),
    (Slot::LastPhonetic, "last_name", "phonetic", 3.0, 0.03),
    (
        Slot::LastPhoneticCommon,
        "last_name",
        "phonetic_common",
        2.5,
        0.03,
    ),
    (Slot::LastSimilar, "last_name", "similar", 1.5, 0.02),
    (
        Slot::LastDisagree,
        "last_name",
        "disagree",
        NAME_DISAGREE,
        0.06,
    ),
    (Slot::DobExact, "date_of_birth", "exact", 6.0, 0.88),
    (
        Slot::DobExactEstimated,
        "date_of_birth",
        "exact_estimated",
        2.5,
        0.88,
    ),
    (Slot::DobClose, "date_of_birth", "close", 3.5, 0.07),
    (
        Slot::DobCloseEstimated,
        "date_of_birth",
        "close_estimated",
        1.0,
        0.07,
    ),
    (Slot::DobSimilar, "date_of_birth", "similar", -1.0, 0.01),
    (Slot::DobDisagree, "date_of_birth", "disagree", -3.0, 0.04),
    (Slot::SexExact, "gender", "exact", 0.5, 0.98),
    (Slot::SexDisagree, "gender", "disagree", -3.0, 0.02),
    (Slot::PhoneExact, "phone_number", "exact", 5.0, 0.75),
    (Slot::PhoneClose, "phone_number", "close", 2.0, 0.05),
    (Slot::PhoneDisagree, "phone_number", "disagree", -1.5, 0.20),
    (Slot::NidExact, "national_id", "exact", 9.0, 0.95),
    (Slot::NidClose, "national_id", "close", 2.5, 0.04),
    (Slot::NidDisagree, "national_id", "disagree", -3.0, 0.01),
    (Slot::AddressExact, "address", "exact", 8.0, 0.70),
    (Slot::AddressExactFull, "address", "exact_full", 9.0, 0.70),
    (Slot::AddressClose, "address", "close", 6.5, 0.15),
    (Slot::AddressCloseFull, "address", "close_full", 7.5, 0.15),
    (Slot::AddressSimilar, "address", "similar", 2.0, 0.05),
    (Slot::AddressDisagree, "address", "disagree", -2.5, 0.10),
    (Slot::ClinicExact, "health_center", "exact", 0.7, 0.80),
    (
        Slot::ClinicDisagree,
        "health_center",
        "disagree",
        -1.5,
        0.20,
    ),
    (Slot::ZoneExact, "zone", "exact", 0.3, 0.95),
    (Slot::ZoneDisagree, "zone", "disagree", -1.5, 0.05),
    (
        Slot::NamesBothDisagree,
        "names",
        "both_disagree",
        NAMES_BOTH_DISAGREE_EACH,
        0.03,
    ),
];

/// Number of slots.
pub const SLOT_COUNT: usize = SLOTS.len();

impl Slot {
    /// Index in [`SLOTS`].
    pub fn index(self) -> usize {
        self as usize
    }
    /// The field it belongs to (`"names"` for [`Slot::NamesBothDisagree`]).
    pub fn field(self) -> &'static str {
        SLOTS[self.index()].1
    }
    /// The level's name in the parameter JSON.
    pub fn level(self) -> &'static str {
        SLOTS[self.index()].2
    }
    /// The a-priori weight.
    pub fn prior_weight(self) -> f64 {
        SLOTS[self.index()].3
    }
}

/// Fields whose exact agreement is weighed by how many records share the value
/// (term frequency), in [`Tf`] order.
pub const TF_FIELDS: [&str; 4] = ["first_name", "last_name", "phone_number", "address"];

/// The most a term-frequency adjustment raises (a rare value) or lowers (a value many records
/// share) an exact agreement's weight: a store's counts are evidence, not certainty.
pub const TF_MAX_UP: f64 = 2.0;
/// See [`TF_MAX_UP`].
pub const TF_MAX_DOWN: f64 = 4.0;

/// Term frequencies of one field measured in a store: how many records hold each value.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TfField {
    /// Records with the field present.
    pub records: u64,
    /// ln(u/F) of the exact slot: the weight's reference point (the average agreeing value),
    /// one per exact slot of the field (plain, then common/full when the field has one).
    pub base: Vec<f64>,
    /// Values held by at least [`TF_MIN_COUNT`] records, with their counts. A value not listed
    /// has at most `TF_MIN_COUNT - 1`; two records agreeing on it means at least 2.
    pub counts: BTreeMap<String, u32>,
}

/// The smallest count listed in a [`TfField`] (rarer values need no entry: see its `counts`).
pub const TF_MIN_COUNT: u32 = 3;

/// Term frequencies of [`TF_FIELDS`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Tf {
    pub first_name: TfField,
    pub last_name: TfField,
    pub phone_number: TfField,
    pub address: TfField,
}

/// What training measured (reported by `kadi mpi train --json`, kept with the parameters).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TrainInfo {
    /// Records trained on.
    pub records: u64,
    /// Random pairs u was counted on.
    pub random_pairs: u64,
    /// Blocked candidate pairs EM ran on.
    pub blocked_pairs: u64,
    /// EM iterations run, and whether the last changed no m by more than 1e-5.
    pub em_iterations: u32,
    pub converged: bool,
    /// Expected true pairs among the blocked pairs (Σ posterior).
    pub expected_matches: f64,
    /// Why term frequencies are off, when they are (small store, near-uniform names).
    #[serde(default)]
    pub tf_off: Option<String>,
    /// Slots whose weight a bound held (what the data alone would have given, and the bound).
    #[serde(default)]
    pub bounded: Vec<String>,
}

/// m, u and the weight of one slot as the JSON form shows them.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SlotParams {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub m: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub u: Option<f64>,
    pub weight: f64,
}

/// The JSON form of [`Params`] (`kadi mpi train --json`, the `mpi_params` table, SQL's third
/// argument).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ParamsJson {
    format: u32,
    prior: f64,
    /// field -> level -> m, u, weight.
    levels: BTreeMap<String, BTreeMap<String, SlotParams>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    tf: Option<Tf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    trained: Option<TrainInfo>,
}

/// The parameter JSON's format number.
pub const PARAMS_FORMAT: u32 = 1;

/// A scorer's parameters. Cheap to share (`Arc`); the SQL function caches parsed ones.
#[derive(Debug, Clone, PartialEq)]
pub struct Params {
    /// Log-odds of a match before any field is compared.
    pub prior: f64,
    /// The weight of each slot, in [`SLOTS`] order.
    pub weights: [f64; SLOT_COUNT],
    /// m and u of each slot when trained.
    pub m: [Option<f64>; SLOT_COUNT],
    pub u: [Option<f64>; SLOT_COUNT],
    /// Term frequencies, when trained on enough records.
    pub tf: Option<Tf>,
    /// What training measured.
    pub trained: Option<TrainInfo>,
    /// The most the two names can add (for the early exit of [`score_prepared_from`]).
    name_weight_max: f64,
}

impl Default for Params {
    fn default() -> Self {
        Params::from_weights(PRIOR, SLOTS.map(|s| s.3))
    }
}

/// Today's a-priori parameters, shared.
pub fn default_params() -> &'static Params {
    static DEFAULT: std::sync::LazyLock<Params> = std::sync::LazyLock::new(Params::default);
    &DEFAULT
}

impl Params {
    /// Parameters with these weights, untrained.
    pub fn from_weights(prior: f64, weights: [f64; SLOT_COUNT]) -> Params {
        let mut p = Params {
            prior,
            weights,
            m: [None; SLOT_COUNT],
            u: [None; SLOT_COUNT],
            tf: None,
            trained: None,
            name_weight_max: 0.0,
        };
        p.name_weight_max = p.compute_name_weight_max();
        p
    }

    /// Recomputes derived values after the weights or term frequencies changed.
    pub fn refresh(&mut self) {
        self.name_weight_max = self.compute_name_weight_max();
    }

    /// The weight of a slot.
    #[inline]
    pub fn w(&self, s: Slot) -> f64 {
        self.weights[s as usize]
    }

    /// The most the two name fields can add (best levels, with term-frequency raises), used by
    /// the early exit: an upper bound, never an underestimate.
    pub fn name_weight_max(&self) -> f64 {
        self.name_weight_max
    }

    fn compute_name_weight_max(&self) -> f64 {
        let up = if self.tf.is_some() { TF_MAX_UP } else { 0.0 };
        let best = |from: Slot, to: Slot| {
            (from.index()..=to.index())
                .map(|i| self.weights[i])
                .fold(0.0_f64, f64::max)
                + up
        };
        let both = 2.0 * self.w(Slot::NamesBothDisagree);
        (best(Slot::FirstExact, Slot::FirstDisagree) + best(Slot::LastExact, Slot::LastDisagree))
            .max(both)
    }

    /// The household cap: the most the household-shared fields add together toward the link
    /// band, so that with an agreeing sex they stay just under it (`docs/mpi.md`, Household and
    /// veto). Derived from the prior and the sex weight, so it holds for trained parameters.
    pub fn household_cap(&self) -> f64 {
        (LINK_LOG_ODDS - self.prior - self.w(Slot::SexExact).max(0.0) - 0.04).max(0.0)
    }

    /// The term-frequency adjustment of an exact agreement on `value` of field `field` (index
    /// in [`TF_FIELDS`]), `split` choosing the exact slot's base (0 plain, 1 common/full). Zero
    /// when untrained.
    pub fn tf_adjust(&self, field: usize, split: usize, value: &str) -> f64 {
        let Some(tf) = &self.tf else { return 0.0 };
        let f = match field {
            0 => &tf.first_name,
            1 => &tf.last_name,
            2 => &tf.phone_number,
            _ => &tf.address,
        };
        if f.records == 0 {
            return 0.0;
        }
        let Some(&base) = f.base.get(split).or(f.base.first()) else {
            return 0.0;
        };
        // Two records agreeing on a value means at least two hold it.
        let count = f.counts.get(value).copied().unwrap_or(2).max(2);
        let freq = f64::from(count) / f.records as f64;
        (base - freq.ln()).clamp(-TF_MAX_DOWN, TF_MAX_UP)
    }

    /// The JSON form (`kadi mpi train --json`, the `mpi_params` table).
    pub fn to_json(&self) -> String {
        let mut levels: BTreeMap<String, BTreeMap<String, SlotParams>> = BTreeMap::new();
        for (i, (_, field, level, _, _)) in SLOTS.iter().enumerate() {
            levels.entry(field.to_string()).or_default().insert(
                level.to_string(),
                SlotParams {
                    m: self.m[i].map(super::score::round6),
                    u: self.u[i].map(|u| (u * 1e9).round() / 1e9),
                    // Full precision: the JSON scores exactly as the table it came from.
                    weight: self.weights[i],
                },
            );
        }
        let j = ParamsJson {
            format: PARAMS_FORMAT,
            prior: self.prior,
            levels,
            tf: self.tf.clone(),
            trained: self.trained.clone(),
        };
        serde_json::to_string(&j).unwrap_or_default()
    }

    /// Parses the JSON form. A level left out keeps its a-priori weight; an unknown field or
    /// level, a non-finite number or another format is an error (a typo must not silently
    /// score with defaults).
    pub fn from_json(text: &str) -> Result<Params, String> {
        let j: ParamsJson = serde_json::from_str(text).map_err(|e| e.to_string())?;
        if j.format != PARAMS_FORMAT {
            return Err(format!(
                "format {} (this kadi reads format {PARAMS_FORMAT})",
                j.format
            ));
        }
        if !j.prior.is_finite() || !(-40.0..=10.0).contains(&j.prior) {
            return Err(format!("prior {} is out of range -40..10", j.prior));
        }
        let mut p = Params {
            prior: j.prior,
            ..Params::default()
        };
        for (field, levels) in &j.levels {
            for (level, sp) in levels {
                let Some(i) = SLOTS
                    .iter()
                    .position(|s| s.1 == field.as_str() && s.2 == level.as_str())
                else {
                    return Err(format!("unknown comparison level {field}.{level}"));
                };
                if !sp.weight.is_finite() || sp.weight.abs() > 40.0 {
                    return Err(format!(
                        "{field}.{level}: weight {} out of range",
                        sp.weight
                    ));
                }
                p.weights[i] = sp.weight;
                p.m[i] = sp.m;
                p.u[i] = sp.u;
            }
        }
        p.tf = j.tf;
        p.trained = j.trained;
        p.refresh();
        Ok(p)
    }
}
