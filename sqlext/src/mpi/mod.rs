//! MPI scoring of two card-field records: the one scorer behind SQL `mpi_score` / `mpi_explain` /
//! `mpi_band` / `mpi_block_keys` and the binary's identity resolution (`kadi::mpi`), so an analyst
//! in `sqlite3` and the box compute the very same numbers.
//!
//! Fellegi-Sunter style: each field gives an agreement [`Level`], each level a log-likelihood
//! weight, and `score = 1 / (1 + exp(-(PRIOR + Σ w)))`. The model, the weight table with the reason
//! for every number, the guard (twins, generations) and the measured effects are in `docs/mpi.md`.
//!
//! One file per concept: `names` (name lists, variants), `record` (a record prepared once),
//! `compare` (field comparisons), `weights`, `score` (sum and guard), `reasons` (the same in
//! plain words for staff), `blocking`, `cache` (the SQL function's prepared-record cache and its
//! hasher), `json` (the scanner).
mod blocking;
mod cache;
mod compare;
mod json;
mod names;
mod params;
mod reasons;
mod record;
mod score;
mod train;
mod weights;

pub use blocking::{block_keys, compared_among_themselves, lookup_keys, lookup_keys_also};
pub use names::{COMMON_NAMES, NAME_VARIANTS};
pub use params::{
    default_params, Params, Slot, SlotParams, Tf, TfField, TrainInfo, PARAMS_FORMAT, SLOTS,
    SLOT_COUNT, TF_FIELDS, TF_MAX_DOWN, TF_MAX_UP, TF_MIN_COUNT,
};
pub use reasons::{field_label, field_verdict, level_named, reasons, Reasons};
pub use record::PreparedRecord;
pub use score::{
    address_key, explain_prepared, explain_prepared_with, given_names_compared,
    identity_contradiction, score_prepared, score_prepared_from, score_prepared_from_with,
    score_prepared_with, Explanation,
};
pub use train::{
    comparison_slots, train, TrainOptions, MIN_RECORDS, M_BOUND, PRIOR_PAIRS, SHRINK_PAIRS,
    TF_MIN_RECORDS, WEIGHT_RANGE,
};

use blocking::*;
use cache::*;
use compare::*;
use json::*;
use names::*;
use record::*;
use weights::*;

use crate::normalize::{kadi_normalize, kadi_normalize_into};
use crate::phonetic::{kadi_phonetic, kadi_phonetic_of_normalized_into};
use crate::text::jaro_winkler;
use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::{BuildHasher, BuildHasherDefault, Hasher};
use std::rc::Rc;

/// Why a record could not be scored.
#[derive(Debug, Clone, PartialEq)]
pub enum MpiError {
    /// The argument (1 or 2) is not a JSON object.
    NotAnObject { argument: usize, reason: String },
    /// The parameters (argument 3) are not the JSON of `kadi mpi train`.
    BadParams { argument: usize, reason: String },
}

impl std::fmt::Display for MpiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MpiError::BadParams { argument, reason } => {
                write!(
                    f,
                    "argument {argument} is not kadi MPI parameters: {reason}"
                )
            }
            MpiError::NotAnObject { argument, reason } => {
                write!(f, "argument {argument} is not a JSON object: {reason}")
            }
        }
    }
}

impl std::error::Error for MpiError {}

/// Score bands: at or above `LINK` links automatically, at or above `REVIEW` waits for a person.
pub const LINK: f64 = 0.95;
/// See [`LINK`].
pub const REVIEW: f64 = 0.75;
/// Log-odds of a match before any field is compared (why -8.0: `docs/mpi.md`).
pub const PRIOR: f64 = -8.0;

/// The highest log-odds a guarded pair can reach: just under the link band (0.9499), so a
/// person decides on twins and namesakes (`docs/mpi.md`, The guard).
const GUARD_CAP: f64 = 2.943;
/// The highest log-odds of a pair with two independent contradictions (say another sex and
/// birth dates decades apart): just under the review band (0.7499), nobody need look.
const VETO_CAP: f64 = 1.098;
/// The lowest log-odds of a pair whose names are all there is to go on ([`score`]'s
/// `names_only`): just inside the review band (0.7500), so a person decides.
const NAMES_ONLY_FLOOR: f64 = 1.0987;
/// The log-odds of [`LINK`]: ln(0.95/0.05).
const LINK_LOG_ODDS: f64 = 2.944_438_979_166_44;
/// Whole years two full birth dates may be apart and still be one person's misremembered or
/// mistyped date; further apart is a veto.
const DATE_YEARS_APART: u32 = 2;
/// Years two birth years may be apart when either date is an estimated 1 January: staff
/// estimate ages in fives ("about 40"), so up to 5 years apart is one estimate against another.
const ESTIMATED_YEARS_APART: u32 = 5;
const NAME_MAX: usize = 64;
const ADDRESS_MAX: usize = 256;
const ID_MAX: usize = 64;

/// How well one field agrees between two records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Missing on either side: weight 0.
    Missing,
    /// Clearly different values.
    Disagree,
    /// Weak agreement (partly similar names, same birth year only, half the address).
    Similar,
    /// Same phonetic key.
    Phonetic,
    /// One typo, swapped day/month, a name contained in the other.
    Close,
    /// Same value after normalisation.
    Exact,
}

impl Level {
    /// The level's name in `mpi_explain`.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Missing => "missing",
            Level::Disagree => "disagree",
            Level::Similar => "similar",
            Level::Phonetic => "phonetic",
            Level::Close => "close",
            Level::Exact => "exact",
        }
    }
}

/// The fields the scorer compares, in `mpi_explain` order.
pub const FIELDS: [&str; 9] = [
    "first_name",
    "last_name",
    "date_of_birth",
    "gender",
    "phone_number",
    "national_id",
    "address",
    "health_center",
    "zone",
];

/// Scores two records given as JSON text; result in [0, 1].
pub fn score_json(a: &str, b: &str) -> Result<f64, MpiError> {
    score_json_with(default_params(), a, b)
}

/// Scores two records given as JSON text with the given parameters; result in [0, 1].
pub fn score_json_with(p: &Params, a: &str, b: &str) -> Result<f64, MpiError> {
    let (a, b) = (prepared_cached(a, 1)?, prepared_cached(b, 2)?);
    let score = score_prepared_with(p, &a, &b);
    a.recycle();
    b.recycle();
    Ok(score)
}

/// Per-field contributions as JSON text.
pub fn explain_json(a: &str, b: &str) -> Result<String, MpiError> {
    explain_json_with(default_params(), a, b)
}

/// Per-field contributions as JSON text, with the given parameters.
pub fn explain_json_with(p: &Params, a: &str, b: &str) -> Result<String, MpiError> {
    let (a, b) = (
        PreparedRecord::from_json(a, 1)?,
        PreparedRecord::from_json(b, 2)?,
    );
    Ok(explain_prepared_with(p, &a, &b).to_json())
}

/// What a score means for a pair: the bands of [`LINK`] and [`REVIEW`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Band {
    /// At or above [`LINK`]: the same person, linked automatically.
    Link,
    /// At or above [`REVIEW`]: a person decides.
    Review,
    /// Below: different people.
    New,
}

impl Band {
    /// The band of a score.
    pub fn of(score: f64) -> Band {
        if score >= LINK {
            Band::Link
        } else if score >= REVIEW {
            Band::Review
        } else {
            Band::New
        }
    }

    /// The form `mpi_band` returns and `mpi_explain` shows.
    pub fn as_str(self) -> &'static str {
        match self {
            Band::Link => "link",
            Band::Review => "review",
            Band::New => "new",
        }
    }
}

/// 'link', 'review' or 'new' for a score (see [`Band`]).
pub fn band(score: f64) -> &'static str {
    Band::of(score).as_str()
}

/// Blocking keys of a record, as a JSON array text.
pub fn block_keys_json(record: &str) -> Result<String, MpiError> {
    let r = PreparedRecord::from_json(record, 1)?;
    let keys = block_keys(&r);
    let mut s = String::from("[");
    for (i, k) in keys.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        push_json_string(&mut s, k);
    }
    s.push(']');
    Ok(s)
}

fn push_json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod preparation_paths;
#[cfg(test)]
mod tests;
