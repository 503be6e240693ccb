//! MPI scoring of two card-field records (JSON objects). Skeleton: the product model's recipe
//! (Jaro-Winkler on normalised names, weights 25/25/20/10/10/10). The signatures are the contract
//! `register.rs` and the binary's `mpi` module use.
use crate::normalize::kadi_normalize;
use crate::text::jaro_winkler;
use serde_json::Value;

/// Why a record could not be scored.
#[derive(Debug, Clone, PartialEq)]
pub enum MpiError {
    /// The argument (1 or 2) is not a JSON object.
    NotAnObject { argument: usize, reason: String },
}

impl std::fmt::Display for MpiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MpiError::NotAnObject { argument, reason } => write!(f, "argument {argument} is not a JSON object: {reason}"),
        }
    }
}

impl std::error::Error for MpiError {}

/// Score bands: at or above `LINK` links automatically, at or above `REVIEW` waits for a person.
pub const LINK: f64 = 0.95;
/// See [`LINK`].
pub const REVIEW: f64 = 0.75;

fn parse(arg: usize, s: &str) -> Result<serde_json::Map<String, Value>, MpiError> {
    match serde_json::from_str::<Value>(s) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(MpiError::NotAnObject { argument: arg, reason: "not an object".into() }),
        Err(e) => Err(MpiError::NotAnObject { argument: arg, reason: e.to_string() }),
    }
}

fn field<'a>(m: &'a serde_json::Map<String, Value>, k: &str) -> Option<&'a str> {
    m.get(k).and_then(Value::as_str).filter(|s| !s.trim().is_empty())
}

/// Scores two records given as JSON text; result in [0, 1].
pub fn score_json(a: &str, b: &str) -> Result<f64, MpiError> {
    let (a, b) = (parse(1, a)?, parse(2, b)?);
    let mut total = 0.0;
    let mut weight = 0.0;
    for (k, w) in [("first_name", 0.25), ("last_name", 0.25), ("date_of_birth", 0.2), ("gender", 0.1), ("health_center", 0.1), ("national_id", 0.1)] {
        if let (Some(x), Some(y)) = (field(&a, k), field(&b, k)) {
            weight += w;
            total += w * jaro_winkler(&kadi_normalize(x), &kadi_normalize(y));
        }
    }
    Ok(if weight == 0.0 { 0.0 } else { total / weight })
}

/// Per-field contributions as JSON text.
pub fn explain_json(a: &str, b: &str) -> Result<String, MpiError> {
    let s = score_json(a, b)?;
    Ok(serde_json::json!({ "score": s }).to_string())
}

/// 'link', 'review' or 'new' for a score.
pub fn band(score: f64) -> &'static str {
    if score >= LINK {
        "link"
    } else if score >= REVIEW {
        "review"
    } else {
        "new"
    }
}

/// Blocking keys of a record, as a JSON array text.
pub fn block_keys_json(record: &str) -> Result<String, MpiError> {
    let r = parse(1, record)?;
    let mut keys = Vec::new();
    if let Some(l) = field(&r, "last_name") {
        keys.push(format!("ln:{}", crate::phonetic::kadi_phonetic(l)));
    }
    Ok(serde_json::to_string(&keys).unwrap_or_else(|_| "[]".into()))
}
