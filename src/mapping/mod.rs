//! Attribute -> card field mapping (by code, display name or UID), value maps (sex option codes),
//! org-unit-derived fields (health_center, zone), type checks, and the sensitive-data guardrail.
pub mod cli;
