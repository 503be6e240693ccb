//! DHIS2 tracked-entity attributes -> card fields, with value maps, sex codes and the
//! sensitive-data guardrail. Plain Rust: the SQL functions `dhis2_map`, `card_field` and
//! `is_sensitive` and the binary's `mapping` module both call [`map_attributes`], so a card
//! printed by the box and a query run by an analyst show the same fields.
//!
//! Invariant: an attribute that [`is_sensitive`] says is sensitive never reaches a card, whatever
//! the mapping says; it is reported back instead so the caller can warn the data manager.
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

/// Checks every entry once, before any attribute is looked at.
fn validate(mapping: &Mapping) -> Result<(), MappingError> {
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
    Ok(())
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
fn card_value(entry: &MappingEntry, raw: &str) -> Option<String> {
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
    validate(mapping)?;
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
            if let Some(v) = attr.value.as_deref().and_then(|raw| card_value(entry, raw)) {
                card.insert(entry.card_field.clone(), Value::String(v));
                break;
            }
        }
    }
    Ok((card, blocked))
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
            mappings: vec![entry("X", "favourite_colour")],
        };
        assert!(map_attributes(&[], &bad).is_err_and(|e| e.to_string().contains("entry 1")));
        let empty = Mapping {
            programme_uid: None,
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
}
