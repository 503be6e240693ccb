//! Phonetic codes: soundex, metaphone, nysiis (jellyfish-compatible) and `kadi_phonetic`, a key
//! tuned for West African and French spellings. Skeleton.
use crate::normalize::kadi_normalize;

/// A phonetic key for West African and French names (skeleton: normalised, doubled letters folded).
pub fn kadi_phonetic(name: &str) -> String {
    let n = kadi_normalize(name);
    let mut out = String::with_capacity(n.len());
    let mut last = None;
    for c in n.chars().filter(|c| c.is_alphanumeric()) {
        if Some(c) != last {
            out.push(c);
        }
        last = Some(c);
    }
    out
}
