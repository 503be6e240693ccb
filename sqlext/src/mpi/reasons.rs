//! Why a pair scored as it did, in plain words for clinic staff (the review screen, `mpi_explain`,
//! `kadi mpi review list`). Only wording lives here: the levels and the veto come from the
//! comparison (`score.rs`), so the words cannot disagree with the score. No weights, no
//! "log-odds": which fields agree, which differ, which are missing, and why a person decides.
use super::Level;
use serde::Serialize;

/// A pair's reasons in plain words.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reasons {
    /// Fields that agree, each with how ("birth date (one digit off)").
    pub agree: Vec<String>,
    /// Fields that differ ("family name", "birth date (only the year agrees)").
    pub disagree: Vec<String>,
    /// Fields not written on both records.
    pub missing: Vec<String>,
    /// Everything above (and the veto, if any) as one or two short sentences.
    pub summary: String,
}

/// A field's name as staff say it.
pub fn field_label(field: &str) -> &str {
    match field {
        "first_name" => "first name",
        "last_name" => "family name",
        "date_of_birth" => "birth date",
        "gender" => "sex",
        "phone_number" => "phone",
        "national_id" => "national ID",
        "address" => "address",
        "health_center" => "clinic",
        "zone" => "district",
        other => other,
    }
}

/// The level named as `mpi_explain` writes it (`Level::as_str`), `None` for anything else.
pub fn level_named(name: &str) -> Option<Level> {
    [
        Level::Missing,
        Level::Disagree,
        Level::Similar,
        Level::Phonetic,
        Level::Close,
        Level::Exact,
    ]
    .into_iter()
    .find(|l| l.as_str() == name)
}

/// Whether a level counts as agreeing, and the words for how, for one field. A birth date that
/// only shares its year weighs against the pair (`docs/mpi.md`), so it is listed as differing.
fn how(field: &str, level: Level) -> (Option<bool>, Option<&'static str>) {
    let name = matches!(field, "first_name" | "last_name");
    match (level, field) {
        (Level::Missing, _) => (None, None),
        (Level::Disagree, _) => (Some(false), None),
        (Level::Exact, _) => (Some(true), Some("same")),
        (Level::Close, "date_of_birth") => (
            Some(true),
            Some("one slip: a digit, day and month swapped, or a year off"),
        ),
        (Level::Close, "address") => (Some(true), Some("nearly the same")),
        (Level::Close, _) if name => (Some(true), Some("one typo or another form of the name")),
        (Level::Close, _) => (Some(true), Some("one digit off")),
        (Level::Phonetic, _) => (Some(true), Some("sounds alike")),
        (Level::Similar, "date_of_birth") => (Some(false), Some("only the year agrees")),
        (Level::Similar, _) => (Some(true), Some("partly similar")),
    }
}

/// One field's verdict for the review screen's side-by-side table: `agrees` (with how, e.g.
/// "sounds alike"), `differs` (with how, e.g. "only the year agrees") or `not on both`. The same
/// rule as the reasons' lists, so the table and the sentences never disagree.
pub fn field_verdict(field: &str, level: Level) -> (&'static str, Option<&'static str>) {
    match how(field, level) {
        (Some(true), h) => ("agrees", h),
        (Some(false), h) => ("differs", h),
        (None, _) => ("not on both", None),
    }
}

/// Words joined as staff write a list: "a", "a and b", "a, b and c".
fn and_list(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

/// The reasons of a comparison: `fields` as (field, level) in any order, `names_swapped` when
/// first and family names agreed crosswise, `veto` the plain-words reason the pair is kept out of
/// the link band (several joined by "; "), if any.
pub fn reasons(fields: &[(&str, Level)], names_swapped: bool, veto: Option<&str>) -> Reasons {
    let (mut agree, mut disagree, mut missing) = (Vec::new(), Vec::new(), Vec::new());
    for &(field, level) in fields {
        let label = field_label(field);
        let (agrees, words) = how(field, level);
        let item = match words {
            Some(w) => format!("{label} ({w})"),
            None => label.to_string(),
        };
        match agrees {
            Some(true) => agree.push(item),
            Some(false) => disagree.push(item),
            None => missing.push(label.to_string()),
        }
    }
    let mut parts = Vec::new();
    if !agree.is_empty() {
        parts.push(format!(
            "{} {}",
            and_list(&agree),
            if agree.len() == 1 { "agrees" } else { "agree" }
        ));
    }
    if !disagree.is_empty() {
        parts.push(format!(
            "{} {}",
            and_list(&disagree),
            if disagree.len() == 1 {
                "differs"
            } else {
                "differ"
            }
        ));
    }
    if !missing.is_empty() {
        parts.push(format!("{} not on both records", and_list(&missing)));
    }
    let mut summary = capitalised(&parts.join("; "));
    if !summary.is_empty() {
        summary.push('.');
    }
    if names_swapped {
        summary.push_str(" First and family names are written the other way round.");
    }
    if let Some(v) = veto.filter(|v| !v.is_empty()) {
        summary.push_str(&format!(" Not linked automatically: {v}."));
    }
    Reasons {
        agree,
        disagree,
        missing,
        summary: summary.trim_start().to_string(),
    }
}

fn capitalised(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_vetoed_pair_says_what_agrees_what_differs_and_why_a_person_decides() {
        let r = reasons(
            &[
                ("first_name", Level::Disagree),
                ("last_name", Level::Exact),
                ("date_of_birth", Level::Disagree),
                ("phone_number", Level::Exact),
                ("address", Level::Close),
            ],
            false,
            Some("birth dates 33 years apart; first names differ"),
        );
        assert_eq!(
            r.agree,
            [
                "family name (same)",
                "phone (same)",
                "address (nearly the same)"
            ]
        );
        assert_eq!(r.disagree, ["first name", "birth date"]);
        assert!(r.missing.is_empty());
        assert_eq!(
            r.summary,
            "Family name (same), phone (same) and address (nearly the same) agree; first name and \
             birth date differ. Not linked automatically: birth dates 33 years apart; first names \
             differ."
        );
    }

    #[test]
    fn missing_fields_are_named_apart_from_differing_ones() {
        let r = reasons(
            &[
                ("first_name", Level::Close),
                ("last_name", Level::Phonetic),
                ("date_of_birth", Level::Similar),
                ("national_id", Level::Missing),
                ("zone", Level::Missing),
            ],
            true,
            None,
        );
        assert_eq!(
            r.agree,
            [
                "first name (one typo or another form of the name)",
                "family name (sounds alike)"
            ]
        );
        assert_eq!(r.disagree, ["birth date (only the year agrees)"]);
        assert_eq!(r.missing, ["national ID", "district"]);
        assert!(r.summary.ends_with(
            "birth date (only the year agrees) differs; national ID and district not on both \
             records. First and family names are written the other way round."
        ));
        assert!(!r.summary.contains("log"), "{}", r.summary);
    }

    #[test]
    fn every_level_name_reads_back() {
        for l in [
            Level::Missing,
            Level::Disagree,
            Level::Similar,
            Level::Phonetic,
            Level::Close,
            Level::Exact,
        ] {
            assert_eq!(level_named(l.as_str()), Some(l));
        }
        assert_eq!(level_named("nearly"), None);
    }
}
