//! DHIS2 attributes -> card fields, and the sensitive-attribute guardrail. Skeleton.

/// True when an attribute code or name denotes data that must never reach a card.
pub fn is_sensitive(code_or_name: &str) -> bool {
    let n = crate::normalize::kadi_normalize(code_or_name);
    ["hiv", "religion", "diagnos"].iter().any(|k| n.contains(k))
}
