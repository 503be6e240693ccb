//! DHIS2 tracked-entity attributes -> card fields, with value maps, sex codes and the
//! sensitive-data guardrail. Plain Rust: the SQL functions `dhis2_map`, `card_field` and
//! `is_sensitive` and the binary's `mapping` module both call [`map_attributes`], so a card
//! printed by the box and a query run by an analyst show the same fields.
//!
//! Invariant: an attribute that [`is_sensitive`] says is sensitive never reaches a card, whatever
//! the mapping says; it is reported back instead so the caller can warn the data manager.
//! A mapped `phone_number` is written in E.164 ([`normalize_phone`]), so every card and the MPI
//! see one format whatever the data entry clerk typed.
//! Org-unit-derived fields (health_center or zone as an ancestor at a level) need the org-unit
//! tree and are the binary's job; here they come from attributes like any other field.
use crate::normalize::kadi_normalize;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// Card fields an attribute may be mapped to (the last two are used by the MPI only).
pub const CARD_FIELDS: &[&str] = &[
    "first_name",
    "last_name",
    "date_of_birth",
    "gender",
    "beneficiary_id",
    "phone_number",
    "health_center",
    "org_unit",
    "enrollment_date",
    "zone",
    "national_id",
    "address",
];

/// One tracked-entity attribute value as DHIS2 exports it:
/// `{"attribute": uid, "code": …, "displayName": …, "value": …}`. Every part is optional because
/// DHIS2 versions and export parameters omit different ones.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Attr {
    /// The attribute's UID.
    #[serde(default)]
    pub attribute: Option<String>,
    /// The attribute's code, when the server has one.
    #[serde(default)]
    pub code: Option<String>,
    /// The attribute's display name (localised by the server).
    #[serde(default, rename = "displayName", alias = "display_name")]
    pub display_name: Option<String>,
    /// The value as text; numbers and booleans some clients send are turned into text.
    #[serde(default, deserialize_with = "value_as_text")]
    pub value: Option<String>,
}

/// The assign-codes body: which DHIS2 attribute feeds which card field.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Mapping {
    /// The DHIS2 program the mapping was made for (informative here).
    #[serde(default, alias = "program_uid")]
    pub programme_uid: Option<String>,
    /// One entry per card field; the first entry of a field with a non-empty value wins.
    #[serde(default)]
    pub mappings: Vec<MappingEntry>,
    /// Country calling code for phone numbers written without one (`221`, `+221` or `00221`);
    /// [`DEFAULT_PHONE_COUNTRY_CODE`] when absent. The binary fills it from its setting
    /// `mapping.phone_country_code`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone_country_code: Option<String>,
}

/// One mapping line: select an attribute by code, display name or UID (any one is enough; when
/// several are given, any of them matching selects the attribute) and name the card field.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MappingEntry {
    /// Attribute code, compared ignoring ASCII case and surrounding spaces.
    #[serde(default)]
    pub dhis2_attribute_code: Option<String>,
    /// Attribute display name, compared after [`kadi_normalize`] (case, accents, spaces).
    #[serde(default)]
    pub dhis2_attribute_display_name: Option<String>,
    /// Attribute UID, compared exactly.
    #[serde(default)]
    pub dhis2_attribute_uid: Option<String>,
    /// The card field this attribute fills; one of [`CARD_FIELDS`].
    pub card_field: String,
    /// Optional value translation, e.g. `{"MALE": "M"}`; looked up exactly, then ignoring case.
    #[serde(default)]
    pub value_map: Option<BTreeMap<String, String>>,
}

/// Why attributes could not be mapped.
#[derive(Debug, Clone, PartialEq)]
pub enum MappingError {
    /// A mapping entry names a card field kadi does not have.
    UnknownCardField { entry: usize, card_field: String },
    /// A mapping entry selects no attribute (no code, display name or UID).
    NoSelector { entry: usize, card_field: String },
    /// More than [`MAX_MAPPING_ENTRIES`] entries.
    TooManyEntries { count: usize },
    /// `phone_country_code` is not 1 to 3 digits (optionally after `+` or `00`).
    BadCountryCode { value: String },
}

impl std::fmt::Display for MappingError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MappingError::UnknownCardField { entry, card_field } => write!(
                f,
                "mapping entry {entry} names unknown card field '{card_field}'; expected one of {}",
                CARD_FIELDS.join(", ")
            ),
            MappingError::NoSelector { entry, card_field } => write!(
                f,
                "mapping entry {entry} (card field '{card_field}') has no dhis2_attribute_code, \
                 dhis2_attribute_display_name or dhis2_attribute_uid"
            ),
            MappingError::TooManyEntries { count } => write!(
                f,
                "{count} mapping entries; at most {MAX_MAPPING_ENTRIES} are accepted"
            ),
            MappingError::BadCountryCode { value } => write!(
                f,
                "phone_country_code '{}' is not a country calling code: give 1 to 3 digits such as 221",
                value.chars().take(40).collect::<String>()
            ),
        }
    }
}

impl std::error::Error for MappingError {}

fn value_as_text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::Null => None,
        Value::String(s) => Some(s),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        other => Some(other.to_string()),
    })
}

/// Most mapping entries accepted: kadi has a dozen card fields, and matching costs
/// entries × attributes.
pub const MAX_MAPPING_ENTRIES: usize = 200;

fn nonempty(o: &Option<String>) -> Option<&str> {
    o.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

/// True when the entry selects this attribute; display names come pre-normalised.
fn selects(
    entry: &MappingEntry,
    entry_name: Option<&str>,
    attr: &Attr,
    attr_name: Option<&str>,
) -> bool {
    let by_uid = matches!((nonempty(&entry.dhis2_attribute_uid), &attr.attribute), (Some(u), Some(a)) if u == a.trim());
    let by_code = matches!((nonempty(&entry.dhis2_attribute_code), &attr.code), (Some(c), Some(a)) if c.eq_ignore_ascii_case(a.trim()));
    let by_name = matches!((entry_name, attr_name), (Some(n), Some(a)) if !n.is_empty() && n == a);
    by_uid || by_code || by_name
}

/// Checks every entry once, before any attribute is looked at; returns the phone country code.
fn validate(mapping: &Mapping) -> Result<String, MappingError> {
    if mapping.mappings.len() > MAX_MAPPING_ENTRIES {
        return Err(MappingError::TooManyEntries {
            count: mapping.mappings.len(),
        });
    }
    for (i, e) in mapping.mappings.iter().enumerate() {
        let entry = i + 1;
        if !CARD_FIELDS.contains(&e.card_field.as_str()) {
            return Err(MappingError::UnknownCardField {
                entry,
                card_field: e.card_field.clone(),
            });
        }
        let has = |o: &Option<String>| o.as_deref().is_some_and(|s| !s.trim().is_empty());
        if !has(&e.dhis2_attribute_code)
            && !has(&e.dhis2_attribute_display_name)
            && !has(&e.dhis2_attribute_uid)
        {
            return Err(MappingError::NoSelector {
                entry,
                card_field: e.card_field.clone(),
            });
        }
    }
    let code = mapping
        .phone_country_code
        .as_deref()
        .unwrap_or(DEFAULT_PHONE_COUNTRY_CODE);
    parse_country_code(code).ok_or_else(|| MappingError::BadCountryCode {
        value: code.to_owned(),
    })
}

/// The name under which a blocked attribute is reported: display name, else code, else UID.
fn attr_label(attr: &Attr) -> String {
    attr.display_name
        .clone()
        .or_else(|| attr.code.clone())
        .or_else(|| attr.attribute.clone())
        .unwrap_or_default()
}

fn attr_is_sensitive(entry: &MappingEntry, attr: &Attr) -> bool {
    [
        &attr.code,
        &attr.display_name,
        &entry.dhis2_attribute_code,
        &entry.dhis2_attribute_display_name,
    ]
    .into_iter()
    .flatten()
    .any(|s| is_sensitive(s))
}

/// Turns one raw value into the card's form for `field`.
fn card_value(entry: &MappingEntry, raw: &str, country_code: &str) -> Option<String> {
    let raw = raw.trim();
    if raw.is_empty() {
        return None;
    }
    if let Some(map) = &entry.value_map {
        let hit = map.get(raw).or_else(|| {
            map.iter()
                .find(|(k, _)| k.trim().eq_ignore_ascii_case(raw))
                .map(|(_, v)| v)
        });
        if let Some(v) = hit {
            return Some(v.clone());
        }
    }
    Some(match entry.card_field.as_str() {
        "gender" => normalize_sex(raw).unwrap_or("U").to_owned(),
        // DHIS2 sends dates as `YYYY-MM-DD` or `YYYY-MM-DDTHH:MM:SS.sss`; cards want the date.
        "date_of_birth" | "enrollment_date"
            if raw.len() > 10 && raw.is_char_boundary(10) && raw.as_bytes()[10] == b'T' =>
        {
            raw[..10].to_owned()
        }
        // Kept as typed when it cannot be a phone number: a card showing "no phone" in the
        // clerk's words beats a card that lost what DHIS2 holds.
        "phone_number" => normalize_phone(raw, country_code).unwrap_or_else(|| raw.to_owned()),
        _ => raw.to_owned(),
    })
}

/// Maps DHIS2 attributes to card fields. Returns the card fields (JSON object, strings only) and
/// the labels of sensitive attributes the mapping tried to put on the card and that were
/// withheld. Fields with no attribute or an empty value are left out.
pub fn map_attributes(
    attrs: &[Attr],
    mapping: &Mapping,
) -> Result<(Map<String, Value>, Vec<String>), MappingError> {
    let country_code = validate(mapping)?;
    let attr_names: Vec<Option<String>> = attrs
        .iter()
        .map(|a| a.display_name.as_deref().map(kadi_normalize))
        .collect();
    let mut card = Map::new();
    let mut blocked: Vec<String> = Vec::new();
    for entry in &mapping.mappings {
        if card.contains_key(&entry.card_field) {
            continue;
        }
        let entry_name = entry
            .dhis2_attribute_display_name
            .as_deref()
            .map(kadi_normalize);
        let selected = attrs
            .iter()
            .zip(&attr_names)
            .filter(|(a, n)| selects(entry, entry_name.as_deref(), a, n.as_deref()))
            .map(|(a, _)| a);
        for attr in selected {
            if attr_is_sensitive(entry, attr) {
                let label = attr_label(attr);
                if !blocked.contains(&label) {
                    blocked.push(label);
                }
                continue;
            }
            if let Some(v) = attr
                .value
                .as_deref()
                .and_then(|raw| card_value(entry, raw, &country_code))
            {
                card.insert(entry.card_field.clone(), Value::String(v));
                break;
            }
        }
    }
    Ok((card, blocked))
}

/// The country calling code used when neither the mapping nor the settings give one: Senegal.
pub const DEFAULT_PHONE_COUNTRY_CODE: &str = "221";

/// A country calling code as people write it (`221`, `+221`, `00221`, ` 221 `) as bare digits;
/// `None` unless it is 1 to 3 digits not starting with 0.
pub fn parse_country_code(code: &str) -> Option<String> {
    let c = code.trim();
    let c = c
        .strip_prefix('+')
        .or_else(|| c.strip_prefix("00"))
        .unwrap_or(c);
    let ok =
        (1..=3).contains(&c.len()) && c.bytes().all(|b| b.is_ascii_digit()) && !c.starts_with('0');
    ok.then(|| c.to_owned())
}

/// Shortest and longest phone number accepted, in digits with the country code (E.164 allows
/// up to 15; below 8 it is a fragment, an extension or a typo).
const PHONE_DIGITS: std::ops::RangeInclusive<usize> = 8..=15;

/// Fewest digits after the default country code: the countries kadi serves (West Africa,
/// France) have 8 to 10; fewer is a number cut short.
const MIN_NATIONAL_DIGITS: usize = 7;

/// A phone number in E.164 (`+` country code, subscriber number, digits only), or `None` when
/// `raw` cannot be one (letters, two `+`, a bad `country_code`, fewer than 8 or more than 15
/// digits in all, or fewer than 7 after `country_code`).
///
/// Spaces (also no-break), dots, dashes, slashes and parentheses are ignored, and a `(0)` trunk
/// prefix written after the country code is dropped. Then:
/// - `+221 77 123 45 67` and `00221 77 123 45 67` are international already;
/// - `221771234567` (the country code without `+`, followed by at least 8 digits) too;
/// - anything else is national: one leading trunk `0` is dropped and `country_code` put in front
///   (`77-123-45-67` and `077 123 45 67` → `+221771234567` with country code 221).
pub fn normalize_phone(raw: &str, country_code: &str) -> Option<String> {
    let cc = parse_country_code(country_code)?;
    let mut digits = String::with_capacity(16);
    let mut plus = false;
    for c in raw.trim().replace("(0)", "").chars() {
        match c {
            '0'..='9' => digits.push(c),
            '+' if digits.is_empty() && !plus => plus = true,
            ' ' | '\t' | '\u{a0}' | '\u{202f}' | '.' | '-' | '/' | '(' | ')' => {}
            _ => return None,
        }
    }
    let international = if plus {
        digits
    } else if let Some(rest) = digits.strip_prefix("00") {
        rest.to_owned()
    } else if digits.starts_with(&cc) && digits.len() >= cc.len() + 8 {
        digits
    } else {
        let national = digits.strip_prefix('0').unwrap_or(&digits);
        format!("{cc}{national}")
    };
    let cut_short = international
        .strip_prefix(cc.as_str())
        .is_some_and(|national| national.len() < MIN_NATIONAL_DIGITS);
    (PHONE_DIGITS.contains(&international.len()) && !international.starts_with('0') && !cut_short)
        .then(|| format!("+{international}"))
}

/// Sex as kadi stores it (`M`, `F` or `U`) from the spellings DHIS2 deployments use: M/F,
/// Male/Female, Masculin/Féminin, Homme/Femme, H (Homme), Masculino/Feminino, Homem/Mulher, 1/2,
/// and Unknown/Inconnu/Other/Autre/Outro/0/9 for U. `None` when the value is none of these.
pub fn normalize_sex(value: &str) -> Option<&'static str> {
    let v = kadi_normalize(value);
    match v.as_str() {
        "m" | "male" | "masculin" | "masculine" | "masculino" | "homme" | "h" | "homem" | "man"
        | "men" | "1" | "sex male" | "gender male" => Some("M"),
        "f" | "female" | "feminin" | "feminine" | "feminino" | "femme" | "mulher" | "woman"
        | "women" | "2" | "sex female" | "gender female" => Some("F"),
        "u" | "unknown" | "inconnu" | "inconnue" | "desconhecido" | "other" | "autre" | "outro"
        | "0" | "9" | "not specified" | "non specifie" => Some("U"),
        _ => None,
    }
}

/// Whole words that mark an attribute as sensitive (English, French, Portuguese), compared with
/// the attribute's words after folding case and accents.
const SENSITIVE_WORDS: &[&str] = &[
    // HIV and its treatment.
    "hiv",
    "vih",
    "aids",
    "sida",
    "plhiv",
    "pvvih",
    "art",
    "arv",
    "arvs",
    "haart",
    "tarv",
    "cd4",
    "pmtct",
    "ptme",
    "prep",
    "viremia",
    "viremie",
    // Sexually transmitted infections.
    "sti",
    "stis",
    "std",
    "stds",
    "ist",
    "ists",
    "syphilis",
    "sifilis",
    "gonorrhea",
    "gonorrhoea",
    "gonorrhee",
    "gonorreia",
    "chlamydia",
    "hepatitis",
    "hepatite",
    "hbsag",
    "hcv",
    "hbv",
    // Tuberculosis.
    "tb",
    "mdr",
    "xdr",
    // Serology, diagnoses, medical conditions.
    "serostatus",
    "diagnosis",
    "diagnoses",
    "diagnostic",
    "diagnostics",
    "diagnostico",
    "icd",
    // Mental health.
    "depression",
    "depressao",
    "schizophrenia",
    "schizophrenie",
    "esquizofrenia",
    "suicide",
    "suicidio",
    "psychosis",
    "psychose",
    // Pregnancy outcomes.
    "abortion",
    "avortement",
    "aborto",
    "miscarriage",
    "stillbirth",
    "mortinaissance",
    "natimorto",
    // Disability.
    "disability",
    "disabilities",
    "disabled",
    "handicap",
    "handicape",
    "deficiencia",
    "incapacidade",
    // Religion, ethnicity, sexuality.
    "religion",
    "religious",
    "religiao",
    "confession",
    "ethnicity",
    "ethnic",
    "ethnie",
    "etnia",
    "tribe",
    "tribu",
    "caste",
    "lgbt",
    "lgbti",
    "lgbtq",
    "msm",
    "hsh",
    "sexuality",
    "sexualite",
    "sexualidade",
    // Biometrics.
    "biometric",
    "biometrics",
    "fingerprint",
    "fingerprints",
    "empreinte",
    "empreintes",
    "iris",
    // Income and wealth.
    "income",
    "revenu",
    "revenus",
    "salary",
    "salaire",
    "salario",
    "renda",
    "rendimento",
    "wealth",
    "richesse",
];

/// Word stems (at least six letters, so they cannot hide inside ordinary words) that mark an
/// attribute as sensitive when a word starts with them.
const SENSITIVE_STEMS: &[&str] = &[
    "antiretrovir",
    "antirretrovir",
    "tubercul",
    "serolog",
    "diagnos",
    "psychiatr",
    "psiquiatr",
    "psycholog",
    "biometr",
    "religi",
    "ethnic",
    "disabil",
    "handicap",
    "syphil",
    "hivstatus",
    "hivtest",
    "hivpos",
    "hivneg",
    "vihstat",
    "viralload",
    "chargevirale",
    "cargaviral",
];

/// Consecutive words that together mark an attribute as sensitive.
const SENSITIVE_PHRASES: &[&[&str]] = &[
    &["viral", "load"],
    &["charge", "virale"],
    &["carga", "viral"],
    &["mental", "health"],
    &["sante", "mentale"],
    &["saude", "mental"],
    &["sexual", "orientation"],
    &["orientation", "sexuelle"],
    &["orientacao", "sexual"],
    &["pregnancy", "outcome"],
    &["issue", "de", "grossesse"],
    &["resultado", "da", "gravidez"],
    &["sex", "worker"],
    &["sex", "work"],
    &["travailleuse", "du", "sexe"],
    &["key", "population"],
    &["population", "cle"],
    &["populacao", "chave"],
    &["blood", "group"],
    &["groupe", "sanguin"],
];

/// The words of an attribute code or name: folded like names, split on anything that is not a
/// letter or digit and on camelCase boundaries (`hivStatus`, `HIV_STATUS`, `Statut VIH`).
fn words(code_or_name: &str) -> Vec<String> {
    let mut spaced = String::with_capacity(code_or_name.len() + 8);
    let mut prev_lower = false;
    for c in code_or_name.chars() {
        if c.is_uppercase() && prev_lower {
            spaced.push(' ');
        }
        prev_lower = c.is_lowercase() || c.is_ascii_digit();
        spaced.push(if c == '_' || c == '\'' { ' ' } else { c });
    }
    kadi_normalize(&spaced)
        .split(' ')
        .filter(|w| !w.is_empty())
        .map(str::to_owned)
        .collect()
}

/// True when an attribute code or name denotes data that must never reach a card: HIV/ART/viral
/// load/CD4, STIs, TB, mental health, serology, diagnoses, pregnancy outcomes, disability,
/// religion, ethnicity, sexual orientation, biometrics, income (English, French, Portuguese).
/// Matching is on whole folded words, so `ARTHUR`, `PARTNER` or `start_date` are not flagged
/// while `ART_START`, `hivStatus` and `Charge virale` are.
pub fn is_sensitive(code_or_name: &str) -> bool {
    let w = words(code_or_name);
    let joined: String = w.concat();
    w.iter().any(|word| {
        SENSITIVE_WORDS.contains(&word.as_str())
            || SENSITIVE_STEMS.iter().any(|stem| word.starts_with(stem))
    }) || SENSITIVE_STEMS
        .iter()
        .any(|stem| stem.len() >= 8 && joined.starts_with(stem))
        || SENSITIVE_PHRASES.iter().any(|phrase| {
            w.windows(phrase.len())
                .any(|win| win.iter().zip(phrase.iter()).all(|(a, b)| a == b))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attr(code: &str, name: &str, value: &str) -> Attr {
        Attr {
            attribute: Some(format!("uid{code}")),
            code: Some(code.into()),
            display_name: Some(name.into()),
            value: Some(value.into()),
        }
    }

    fn entry(code: &str, field: &str) -> MappingEntry {
        MappingEntry {
            dhis2_attribute_code: Some(code.into()),
            card_field: field.into(),
            ..Default::default()
        }
    }

    #[test]
    fn sensitive_attributes_are_found_by_word_in_three_languages() {
        for s in [
            "HIV_STATUS",
            "hivStatus",
            "ART start date",
            "Charge virale",
            "CD4 count",
            "Statut sérologique",
            "Religion",
            "Ethnie",
            "Sexual orientation",
            "Empreinte digitale",
            "Pregnancy outcome",
            "Tuberculose",
            "Santé mentale",
            "TB_DIAGNOSIS",
            "Renda mensal",
            "Carga viral",
            "TARV",
            "Deficiência",
            "monthly_income",
        ] {
            assert!(is_sensitive(s), "{s} should be sensitive");
        }
    }

    #[test]
    fn ordinary_attributes_that_contain_sensitive_letters_are_not_flagged() {
        for s in [
            "ARTHUR",
            "PARTNER",
            "start_date",
            "First name",
            "Heart rate",
            "Departement",
            "Zone",
            "Phone number",
            "Date of birth",
            "Smart card",
            "Tbilisi",
            "Bartholomew",
            "Mist",
            "Istanbul",
            "artisan",
        ] {
            assert!(!is_sensitive(s), "{s} should not be sensitive");
        }
    }

    #[test]
    fn sex_spellings_map_to_m_f_u() {
        for (v, want) in [
            ("M", "M"),
            ("Male", "M"),
            ("MASCULIN", "M"),
            ("Homme", "M"),
            ("1", "M"),
            ("Masculino", "M"),
            ("F", "F"),
            ("female", "F"),
            ("Féminin", "F"),
            ("Femme", "F"),
            ("2", "F"),
            ("FEMININO", "F"),
            ("Unknown", "U"),
        ] {
            assert_eq!(normalize_sex(v), Some(want), "{v}");
        }
        assert_eq!(normalize_sex("banana"), None);
    }

    #[test]
    fn mapping_fills_fields_applies_value_maps_and_withholds_sensitive_ones() {
        let attrs = vec![
            attr("FIRST", "First name", " Awa "),
            attr("SEX", "Sex", "FEMALE"),
            attr("HIV", "HIV status", "Positive"),
            attr("DOB", "Date of birth", "1990-05-01T00:00:00.000"),
        ];
        let mut sex = entry("SEX", "gender");
        sex.value_map = Some([("FEMALE".to_string(), "F".to_string())].into());
        let mapping = Mapping {
            programme_uid: None,
            phone_country_code: None,
            mappings: vec![
                entry("first", "first_name"),
                sex,
                entry("HIV", "beneficiary_id"),
                entry("DOB", "date_of_birth"),
            ],
        };
        let (card, blocked) = map_attributes(&attrs, &mapping).expect("a valid mapping");
        assert_eq!(card.get("first_name"), Some(&Value::String("Awa".into())));
        assert_eq!(card.get("gender"), Some(&Value::String("F".into())));
        assert_eq!(
            card.get("date_of_birth"),
            Some(&Value::String("1990-05-01".into()))
        );
        assert!(!card.contains_key("beneficiary_id"));
        assert_eq!(blocked, vec!["HIV status".to_string()]);
    }

    #[test]
    fn unknown_card_fields_and_empty_selectors_are_errors_naming_the_entry() {
        let bad = Mapping {
            programme_uid: None,
            phone_country_code: None,
            mappings: vec![entry("X", "favourite_colour")],
        };
        assert!(map_attributes(&[], &bad).is_err_and(|e| e.to_string().contains("entry 1")));
        let empty = Mapping {
            programme_uid: None,
            phone_country_code: None,
            mappings: vec![MappingEntry {
                card_field: "zone".into(),
                ..Default::default()
            }],
        };
        assert!(matches!(
            map_attributes(&[], &empty),
            Err(MappingError::NoSelector { entry: 1, .. })
        ));
    }

    #[test]
    fn phone_numbers_become_e164_from_the_ways_people_write_them() {
        for (raw, cc, want) in [
            ("+221 77 123 45 67", "221", Some("+221771234567")),
            ("+221771234567", "221", Some("+221771234567")),
            ("00221 77 123 45 67", "221", Some("+221771234567")),
            ("00221771234567", "221", Some("+221771234567")),
            ("221771234567", "221", Some("+221771234567")),
            ("221 77 123 45 67", "221", Some("+221771234567")),
            ("77 123 45 67", "221", Some("+221771234567")),
            ("77-123-45-67", "221", Some("+221771234567")),
            ("77.123.45.67", "221", Some("+221771234567")),
            ("(77) 123 45 67", "221", Some("+221771234567")),
            ("771234567", "221", Some("+221771234567")),
            ("077 123 45 67", "221", Some("+221771234567")),
            (" 33 821 00 00 ", "221", Some("+221338210000")),
            ("+221 (0) 77 123 45 67", "221", Some("+221771234567")),
            ("77\u{a0}123\u{a0}45\u{a0}67", "221", Some("+221771234567")),
            ("77 123 45 67", "+221", Some("+221771234567")),
            ("77 123 45 67", "00221", Some("+221771234567")),
            // Another country's number keeps its own code.
            ("+33 6 12 34 56 78", "221", Some("+33612345678")),
            ("0033 6 12 34 56 78", "221", Some("+33612345678")),
            // A trunk 0 is dropped with another default country code.
            ("06 12 34 56 78", "33", Some("+33612345678")),
            ("(202) 555-0123", "1", Some("+12025550123")),
            ("1-202-555-0123", "1", Some("+12025550123")),
            ("+225 07 07 12 34 56", "225", Some("+2250707123456")),
            // Not phone numbers: kept as typed by the caller.
            ("", "221", None),
            ("pas de téléphone", "221", None),
            ("N/A", "221", None),
            ("77 123 45 67 ext 2", "221", None),
            ("12 34", "221", None),
            ("+221 77 123", "221", None),
            ("+22177123456789012", "221", None),
            ("77 123 45 67 / 76 123 45 67", "221", None),
            ("++221771234567", "221", None),
            ("77+1234567", "221", None),
            ("+0 77 123 45 67", "221", None),
            // A country code that is not one.
            ("77 123 45 67", "", None),
            ("77 123 45 67", "2210", None),
            ("77 123 45 67", "SN", None),
        ] {
            assert_eq!(
                normalize_phone(raw, cc).as_deref(),
                want,
                "{raw:?} with {cc:?}"
            );
        }
    }

    #[test]
    fn country_codes_are_read_as_people_write_them() {
        for (raw, want) in [
            ("221", Some("221")),
            ("+221", Some("221")),
            ("00221", Some("221")),
            (" 1 ", Some("1")),
            ("0", None),
            ("2210", None),
            ("+", None),
            ("SN", None),
        ] {
            assert_eq!(parse_country_code(raw).as_deref(), want, "{raw:?}");
        }
    }

    #[test]
    fn a_mapped_phone_is_e164_with_the_mappings_country_code_or_kept_as_typed() {
        let mapping = |cc: Option<&str>| Mapping {
            programme_uid: None,
            phone_country_code: cc.map(str::to_owned),
            mappings: vec![entry("PHONE", "phone_number")],
        };
        let phone = |value: &str, cc: Option<&str>| {
            map_attributes(&[attr("PHONE", "Phone", value)], &mapping(cc))
                .map(|(card, _)| card.get("phone_number").cloned())
        };
        let text = |s: &str| Ok(Some(Value::String(s.into())));
        assert_eq!(phone("77-123-45-67", None), text("+221771234567"));
        assert_eq!(phone("06 12 34 56 78", Some("+33")), text("+33612345678"));
        assert_eq!(phone(" pas de téléphone ", None), text("pas de téléphone"));
        assert!(matches!(
            phone("77 123 45 67", Some("Senegal")),
            Err(MappingError::BadCountryCode { .. })
        ));
    }
}
