//! Attribute -> card field mapping (by code, display name or UID), value maps (sex option codes),
//! org-unit-derived fields (health_center, zone), type checks, and the sensitive-data guardrail.
//!
//! Invariants: a sensitive attribute (by code, name, display name or option set name) can never
//! be mapped, and the sync engine drops its values before the store ([`Guardrail`]).
//! `health_center`, `org_unit`, `enrollment_date` and `zone` are derived from the enrollment unless
//! mapped explicitly. A mapped `phone_number` is stored in E.164, numbers written without a
//! country code taking the setting `mapping.phone_country_code` (default 221, Senegal); a value
//! that cannot be a phone number is kept as typed. Called by `sync` (each page, and after
//! `map set`) and by the web page.

pub mod attributes;

use crate::actor::Actor;
use crate::record::{CardFields, CardRecord, CARD_FIELDS};
use crate::store::mapping_data::{MappingRow, StoredAttribute, StoredOrgUnit};
use crate::store::Store;
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

/// Fields a mapping may target besides the card fields: used by the MPI only, never printed.
pub const MPI_ONLY_FIELDS: [&str; 2] = ["national_id", "address"];

/// The setting holding the country calling code of phone numbers written without one.
pub const PHONE_COUNTRY_CODE_SETTING: &str = "mapping.phone_country_code";

/// The country calling code phone numbers without one get (setting
/// [`PHONE_COUNTRY_CODE_SETTING`], default 221); a malformed setting is an error naming it.
pub fn phone_country_code(store: &Store) -> Result<String> {
    match store.setting(PHONE_COUNTRY_CODE_SETTING)? {
        None => Ok(kadi_sqlext::mapping::DEFAULT_PHONE_COUNTRY_CODE.to_string()),
        Some(v) => kadi_sqlext::mapping::parse_country_code(&v).with_context(|| {
            format!(
                "setting {PHONE_COUNTRY_CODE_SETTING} = {v:?} is not a country calling code: set 1 to 3 digits such as 221"
            )
        }),
    }
}

/// Stores the country calling code for phone numbers written without one (`221`, `+221` or
/// `00221`; stored as digits, audited). Existing cards change at the next remap (`map set`).
pub fn set_phone_country_code(store: &Store, actor: &Actor, code: &str) -> Result<String> {
    let Some(digits) = kadi_sqlext::mapping::parse_country_code(code) else {
        bail!("'{code}' is not a country calling code: give 1 to 3 digits such as 221 (Senegal) or 33 (France)");
    };
    store.set_setting(actor.as_str(), PHONE_COUNTRY_CODE_SETTING, &digits)?;
    Ok(digits)
}

/// Card fields derived from the enrollment when no attribute is mapped to them.
pub const DERIVED_FIELDS: [&str; 4] = ["health_center", "org_unit", "enrollment_date", "zone"];

/// The assign-codes body (Oomus CampaignID shape): which DHIS2 attribute feeds which card field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AssignCodesBody {
    pub programme_uid: String,
    pub mappings: Vec<AttributeMapping>,
    /// Org unit level whose ancestor is the card's `zone` (default: the district level).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zone_level: Option<u32>,
}

/// One line of the assign-codes body (code, display name or UID, a card field, an optional value
/// map): the very type the SQL function `dhis2_map` reads, so box and analyst agree.
pub use kadi_sqlext::mapping::MappingEntry as AttributeMapping;

/// What `kadi map set` answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MapSetReport {
    pub programme_uid: String,
    pub mappings_configured: usize,
    pub unmapped_card_fields: Vec<String>,
    /// Existing card records whose fields changed under the new mapping.
    pub records_remapped: u64,
}

/// What `kadi map show` answers.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MapShowReport {
    pub programme_uid: String,
    pub mappings: Vec<MappingView>,
    pub unmapped_card_fields: Vec<String>,
    /// Attributes the guardrail blocks (never mapped, never stored).
    pub sensitive_attributes: Vec<String>,
    /// Country calling code given to phone numbers written without one.
    pub phone_country_code: String,
}

/// One card field and where its value comes from.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MappingView {
    pub card_field: String,
    pub source: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dhis2_attribute_uid: Option<String>,
    pub matched_by: String,
    pub matched_value: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value_map: Option<BTreeMap<String, String>>,
}

/// True when an attribute is sensitive by its code, name, display name or option set name.
/// The word list lives in `kadi_sqlext::mapping::is_sensitive` (shared with the SQL function).
pub fn attribute_is_sensitive(
    code: Option<&str>,
    name: &str,
    display_name: Option<&str>,
    option_set_name: Option<&str>,
) -> bool {
    [code, Some(name), display_name, option_set_name]
        .into_iter()
        .flatten()
        .any(kadi_sqlext::mapping::is_sensitive)
}

/// Folds a sex value (option code or name, any language kadi knows) to `M`, `F` or `U`.
pub fn normalize_sex(value: &str) -> &'static str {
    kadi_sqlext::mapping::normalize_sex(value).unwrap_or("U")
}

/// Which DHIS2 value types can feed a card field (`None`: any type).
fn allowed_value_types(card_field: &str) -> Option<&'static [&'static str]> {
    const NAME: &[&str] = &["TEXT", "LONG_TEXT", "LETTER"];
    const ID: &[&str] = &[
        "TEXT",
        "NUMBER",
        "INTEGER",
        "INTEGER_POSITIVE",
        "INTEGER_ZERO_OR_POSITIVE",
        "PHONE_NUMBER",
        "EMAIL",
    ];
    match card_field {
        "first_name" | "last_name" => Some(NAME),
        "date_of_birth" => Some(&["DATE", "AGE"]),
        "enrollment_date" => Some(&["DATE", "DATETIME"]),
        "gender" => Some(&["TEXT", "LETTER", "INTEGER", "INTEGER_POSITIVE", "NUMBER"]),
        "phone_number" => Some(&["PHONE_NUMBER", "TEXT"]),
        "beneficiary_id" | "national_id" => Some(ID),
        "health_center" | "zone" => Some(&["TEXT", "LONG_TEXT", "ORGANISATION_UNIT"]),
        "org_unit" => Some(&["TEXT", "ORGANISATION_UNIT"]),
        "address" => Some(&["TEXT", "LONG_TEXT"]),
        _ => None,
    }
}

fn is_target_field(field: &str) -> bool {
    CARD_FIELDS.contains(&field) || MPI_ONLY_FIELDS.contains(&field)
}

/// Validates the assign-codes body against the program's stored attributes, stores it, and
/// re-derives the program's existing card records. Errors name the bad code or field and the fix.
/// Works on what the store has: a caller that may lack the program's metadata pulls it first
/// ([`crate::jobs::map_program`]).
pub fn set_mapping(store: &Store, actor: &Actor, body: &AssignCodesBody) -> Result<MapSetReport> {
    let program = body.programme_uid.trim();
    if store.program_name(program)?.is_none() {
        bail!("program {program} is not in the store: pull its metadata first (`kadi sync --program {program} --metadata-only`)");
    }
    let attributes = store.program_attributes(program)?;
    if body.mappings.is_empty() {
        bail!("the mapping for program {program} is empty: list at least one {{\"dhis2_attribute_code\", \"card_field\"}}");
    }
    let mut rows: Vec<MappingRow> = Vec::new();
    for m in &body.mappings {
        let field = m.card_field.trim();
        if is_target_field(field) && rows.iter().any(|r| r.card_field == field) {
            bail!("card field '{field}' is mapped twice: keep one line for it");
        }
        rows.push(mapping_row(store, &attributes, m, program)?);
    }
    if let Some(level) = body.zone_level {
        if !rows.iter().any(|r| r.card_field == "zone") {
            rows.push(zone_row(store, level)?);
        }
    }
    store.replace_mapping(actor.as_str(), program, &rows)?;
    let records_remapped = remap_program(store, program)?;
    Ok(MapSetReport {
        programme_uid: program.to_string(),
        mappings_configured: body.mappings.len(),
        unmapped_card_fields: unmapped_card_fields(&rows),
        records_remapped,
    })
}

/// One line of the body checked against the program's attributes: a known target field, an
/// attribute that exists, is not sensitive and has a value type the field can take.
fn mapping_row(
    store: &Store,
    attributes: &[StoredAttribute],
    m: &AttributeMapping,
    program: &str,
) -> Result<MappingRow> {
    let field = m.card_field.trim();
    if !is_target_field(field) {
        bail!(
            "unknown card field '{field}': card fields are {}; MPI-only fields are {}",
            CARD_FIELDS.join(", "),
            MPI_ONLY_FIELDS.join(", ")
        );
    }
    let (attr, matched_by, matched_value) = resolve_attribute(attributes, m, program)?;
    check_attribute(store, attr, field)?;
    let value_map = match (&m.value_map, field, &attr.option_set_uid) {
        (Some(map), _, _) => Some(map.clone()),
        (None, "gender", Some(os)) => Some(sex_value_map(store, os)?),
        _ => None,
    };
    Ok(MappingRow {
        card_field: field.to_string(),
        attribute_uid: Some(attr.attribute_uid.clone()),
        matched_by: matched_by.into(),
        matched_value,
        value_map_json: value_map.map(|m| serde_json::to_string(&m)).transpose()?,
    })
}

/// Refuses a sensitive attribute, or one whose value type cannot feed `field`.
fn check_attribute(store: &Store, attr: &StoredAttribute, field: &str) -> Result<()> {
    let option_set_name = attr
        .option_set_uid
        .as_deref()
        .map(|u| store.option_set_name(u))
        .transpose()?
        .flatten();
    if attr.sensitive
        || attribute_is_sensitive(
            attr.code.as_deref(),
            &attr.name,
            attr.display_name.as_deref(),
            option_set_name.as_deref(),
        )
    {
        bail!(
            "attribute {} ({}) is sensitive and can never be mapped to a card field: remove the line for '{field}'",
            attr.code.as_deref().unwrap_or(&attr.attribute_uid),
            attr.name
        );
    }
    if let Some(allowed) = allowed_value_types(field) {
        if !allowed.contains(&attr.value_type.as_str()) {
            bail!(
                "attribute {} ({}) has value type {} which cannot feed card field '{field}' (needs {})",
                attr.code.as_deref().unwrap_or(&attr.attribute_uid),
                attr.name,
                attr.value_type,
                allowed.join(" or ")
            );
        }
    }
    Ok(())
}

/// Sex option sets get a default value map from both option codes and names.
fn sex_value_map(store: &Store, option_set_uid: &str) -> Result<BTreeMap<String, String>> {
    let mut map = BTreeMap::new();
    for o in store.options(option_set_uid)? {
        let sex = normalize_sex(&o.code);
        let sex = if sex == "U" {
            normalize_sex(&o.name)
        } else {
            sex
        };
        map.insert(o.code.clone(), sex.to_string());
    }
    Ok(map)
}

/// The `zone` field derived from the org unit's ancestor at `level` (checked against the
/// server's levels when the store knows them).
fn zone_row(store: &Store, level: u32) -> Result<MappingRow> {
    let known = store.org_unit_levels()?;
    if !known.is_empty() && !known.iter().any(|(l, _)| *l == level) {
        bail!(
            "zone_level {level} is not an org unit level of this server (levels: {})",
            known
                .iter()
                .map(|(l, n)| format!("{l} {n}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    Ok(MappingRow {
        card_field: "zone".into(),
        attribute_uid: None,
        matched_by: "org_unit".into(),
        matched_value: format!("level:{level}"),
        value_map_json: None,
    })
}

fn resolve_attribute<'a>(
    attrs: &'a [StoredAttribute],
    m: &AttributeMapping,
    program: &str,
) -> Result<(&'a StoredAttribute, &'static str, String)> {
    let list = |f: &dyn Fn(&StoredAttribute) -> Option<String>| {
        attrs.iter().filter_map(f).collect::<Vec<_>>().join(", ")
    };
    if let Some(code) = m.dhis2_attribute_code.as_deref().map(str::trim) {
        let found = attrs.iter().find(|a| {
            a.code
                .as_deref()
                .is_some_and(|c| c.eq_ignore_ascii_case(code))
        });
        return match found {
            Some(a) => Ok((a, "code", code.to_string())),
            None => bail!(
                "unknown DHIS2 attribute code '{code}' in program {program}: known codes are {} (or match by dhis2_attribute_display_name)",
                list(&|a| a.code.clone())
            ),
        };
    }
    if let Some(name) = m.dhis2_attribute_display_name.as_deref().map(str::trim) {
        let found = attrs.iter().find(|a| {
            a.display_name
                .as_deref()
                .unwrap_or(&a.name)
                .eq_ignore_ascii_case(name)
                || a.name.eq_ignore_ascii_case(name)
        });
        return match found {
            Some(a) => Ok((a, "display_name", name.to_string())),
            None => bail!(
                "unknown DHIS2 attribute display name '{name}' in program {program}: known names are {}",
                list(&|a| Some(a.display_name.clone().unwrap_or_else(|| a.name.clone())))
            ),
        };
    }
    if let Some(uid) = m.dhis2_attribute_uid.as_deref().map(str::trim) {
        return match attrs.iter().find(|a| a.attribute_uid == uid) {
            Some(a) => Ok((a, "uid", uid.to_string())),
            None => bail!(
                "unknown DHIS2 attribute UID '{uid}' in program {program}: known UIDs are {}",
                list(&|a| Some(a.attribute_uid.clone()))
            ),
        };
    }
    bail!(
        "the mapping line for card field '{}' names no attribute: give dhis2_attribute_code, dhis2_attribute_display_name or dhis2_attribute_uid",
        m.card_field
    )
}

fn unmapped_card_fields(rows: &[MappingRow]) -> Vec<String> {
    CARD_FIELDS
        .iter()
        .filter(|f| !DERIVED_FIELDS.contains(f) && !rows.iter().any(|r| r.card_field == **f))
        .map(|f| f.to_string())
        .collect()
}

/// The stored mapping of a program, with derived fields and what stays unmapped.
pub fn show_mapping(store: &Store, program_uid: &str) -> Result<MapShowReport> {
    store.require_program(program_uid)?;
    let rows = store.mapping_rows(program_uid)?;
    let plan = MappingPlan::load(store, program_uid).ok();
    let levels = store.org_unit_levels()?;
    let attrs = store.program_attributes(program_uid)?;
    let mut mappings: Vec<MappingView> = rows
        .iter()
        .map(|r| MappingView {
            card_field: r.card_field.clone(),
            source: match &r.attribute_uid {
                Some(uid) => attrs
                    .iter()
                    .find(|a| &a.attribute_uid == uid)
                    .map(|a| {
                        format!(
                            "attribute {} ({})",
                            a.code.as_deref().unwrap_or(uid),
                            a.name
                        )
                    })
                    .unwrap_or_else(|| format!("attribute {uid} (no longer in the program)")),
                None => format!("org unit ancestor at {}", r.matched_value),
            },
            dhis2_attribute_uid: r.attribute_uid.clone(),
            matched_by: r.matched_by.clone(),
            matched_value: r.matched_value.clone(),
            value_map: r
                .value_map_json
                .as_deref()
                .and_then(|j| serde_json::from_str(j).ok()),
        })
        .collect();
    for field in DERIVED_FIELDS {
        if !rows.iter().any(|r| r.card_field == field) {
            let source = match field {
                "health_center" => "enrollment org unit name".to_string(),
                "org_unit" => "enrollment org unit UID".to_string(),
                "enrollment_date" => "enrollment date (enrolledAt)".to_string(),
                _ => {
                    let level = plan.as_ref().map(|p| p.zone_level).unwrap_or(3);
                    match levels.iter().find(|(l, _)| *l == level) {
                        Some((_, name)) => format!("org unit ancestor at level {level} ({name})"),
                        None => format!("org unit ancestor at level {level}"),
                    }
                }
            };
            mappings.push(MappingView {
                card_field: field.into(),
                source,
                dhis2_attribute_uid: None,
                matched_by: if field == "enrollment_date" {
                    "enrollment".into()
                } else {
                    "org_unit".into()
                },
                matched_value: "derived".into(),
                value_map: None,
            });
        }
    }
    Ok(MapShowReport {
        programme_uid: program_uid.to_string(),
        mappings,
        unmapped_card_fields: if rows.is_empty() {
            CARD_FIELDS
                .iter()
                .filter(|f| !DERIVED_FIELDS.contains(f))
                .map(|f| f.to_string())
                .collect()
        } else {
            unmapped_card_fields(&rows)
        },
        sensitive_attributes: attrs
            .iter()
            .filter(|a| a.sensitive)
            .map(|a| a.code.clone().unwrap_or_else(|| a.attribute_uid.clone()))
            .collect(),
        phone_country_code: phone_country_code(store)?,
    })
}

/// Org units by UID, for the enrollment-derived fields.
#[derive(Debug, Default)]
pub struct OrgUnitIndex {
    by_uid: HashMap<String, StoredOrgUnit>,
}

impl OrgUnitIndex {
    /// Loads every stored org unit.
    pub fn load(store: &Store) -> Result<OrgUnitIndex> {
        Ok(OrgUnitIndex {
            by_uid: store
                .org_units_all()?
                .into_iter()
                .map(|o| (o.uid.clone(), o))
                .collect(),
        })
    }

    /// The name of an org unit.
    pub fn name(&self, uid: &str) -> Option<&str> {
        self.by_uid.get(uid).map(|o| o.name.as_str())
    }

    /// The name of the ancestor (or self) of `uid` at `level` (1 = root), from its path.
    pub fn ancestor_name_at(&self, uid: &str, level: u32) -> Option<&str> {
        let path = self.by_uid.get(uid)?.path.as_deref()?;
        let ancestor = path
            .split('/')
            .filter(|s| !s.is_empty())
            .nth(level.checked_sub(1)? as usize)?;
        self.name(ancestor)
    }
}

/// Where one card field's value comes from.
#[derive(Debug, Clone, PartialEq)]
enum Source {
    /// Filled by `kadi_sqlext::mapping::map_attributes` with the plan's attribute mapping.
    Attribute,
    OrgUnitName,
    OrgUnitUid,
    EnrollmentDate,
    Zone,
}

/// What mapping needs to know about an enrollment.
#[derive(Debug, Clone, Copy)]
pub struct EnrollmentFacts<'a> {
    pub enrollment_uid: &'a str,
    pub tracked_entity_uid: &'a str,
    pub org_unit_uid: Option<&'a str>,
    pub enrolled_at: Option<&'a str>,
}

/// A program's mapping compiled for fast use on many records, with its guardrail and org units.
#[derive(Debug)]
pub struct MappingPlan {
    pub program_uid: String,
    fields: Vec<(&'static str, Source)>,
    /// The attribute-fed fields, by attribute UID, in the shape the SQL function `dhis2_map` reads.
    attribute_mapping: kadi_sqlext::mapping::Mapping,
    /// Ancestor level used for `zone`.
    pub zone_level: u32,
    pub org_units: OrgUnitIndex,
}

impl MappingPlan {
    /// Compiles the stored mapping of a program; a missing mapping is an error naming the fix.
    pub fn load(store: &Store, program_uid: &str) -> Result<MappingPlan> {
        let rows = store.mapping_rows(program_uid)?;
        if !rows.iter().any(|r| r.attribute_uid.is_some()) {
            bail!(
                "no card mapping for program {program_uid}: run `kadi map set --program {program_uid} --file mapping.json` \
                 (assign-codes body: {{\"programme_uid\":\"{program_uid}\",\"mappings\":[{{\"dhis2_attribute_code\":\"FIRST_NAME\",\"card_field\":\"first_name\"}}]}})"
            );
        }
        let attrs = store.program_attributes(program_uid)?;
        let levels = store.org_unit_levels()?;
        let mut zone_level = default_zone_level(&levels);
        let mut fields: Vec<(&'static str, Source)> = Vec::new();
        let mut attribute_mapping = kadi_sqlext::mapping::Mapping {
            programme_uid: Some(program_uid.to_string()),
            mappings: Vec::new(),
            phone_country_code: Some(phone_country_code(store)?),
        };
        for r in &rows {
            let Some(field) = CARD_FIELDS
                .iter()
                .chain(MPI_ONLY_FIELDS.iter())
                .find(|f| **f == r.card_field)
            else {
                continue;
            };
            match &r.attribute_uid {
                Some(uid) => {
                    let Some(attr) = attrs.iter().find(|a| &a.attribute_uid == uid) else {
                        continue;
                    };
                    if attr.sensitive {
                        continue; // metadata changed since `map set`: the guardrail still wins
                    }
                    let value_map = r
                        .value_map_json
                        .as_deref()
                        .map(serde_json::from_str)
                        .transpose()
                        .with_context(|| {
                            format!("stored value map of card field {field} is unreadable")
                        })?;
                    attribute_mapping.mappings.push(AttributeMapping {
                        dhis2_attribute_uid: Some(uid.clone()),
                        card_field: field.to_string(),
                        value_map,
                        ..Default::default()
                    });
                    fields.push((field, Source::Attribute));
                }
                None => {
                    if let Some(l) = r
                        .matched_value
                        .strip_prefix("level:")
                        .and_then(|l| l.parse().ok())
                    {
                        zone_level = l;
                    }
                }
            }
        }
        for (field, source) in [
            ("health_center", Source::OrgUnitName),
            ("org_unit", Source::OrgUnitUid),
            ("enrollment_date", Source::EnrollmentDate),
            ("zone", Source::Zone),
        ] {
            if !fields.iter().any(|(f, _)| *f == field) {
                fields.push((field, source));
            }
        }
        Ok(MappingPlan {
            program_uid: program_uid.to_string(),
            fields,
            attribute_mapping,
            zone_level,
            org_units: OrgUnitIndex::load(store)?,
        })
    }

    /// Maps one enrollment. `attributes` are the tracked entity's (non-sensitive) values as
    /// (attribute UID, value).
    pub fn map(&self, e: EnrollmentFacts<'_>, attributes: &[(&str, &str)]) -> CardRecord {
        let attrs: Vec<kadi_sqlext::mapping::Attr> = attributes
            .iter()
            .map(|(uid, value)| kadi_sqlext::mapping::Attr {
                attribute: Some(uid.to_string()),
                value: Some(value.to_string()),
                ..Default::default()
            })
            .collect();
        // The mapping was validated at `map set`; an error here leaves the attribute fields empty.
        let (from_attributes, _blocked) =
            kadi_sqlext::mapping::map_attributes(&attrs, &self.attribute_mapping)
                .unwrap_or_default();
        let mut fields = CardFields::default();
        for (field, source) in &self.fields {
            let value = match source {
                Source::Attribute => from_attributes
                    .get(*field)
                    .and_then(|v| v.as_str())
                    .map(str::to_string),
                Source::OrgUnitName => e
                    .org_unit_uid
                    .and_then(|u| self.org_units.name(u))
                    .map(str::to_string),
                Source::OrgUnitUid => e.org_unit_uid.map(str::to_string),
                Source::EnrollmentDate => e.enrolled_at.and_then(date_part),
                Source::Zone => e
                    .org_unit_uid
                    .and_then(|u| self.org_units.ancestor_name_at(u, self.zone_level))
                    .map(str::to_string),
            };
            fields.set(field, value);
        }
        CardRecord {
            enrollment_uid: e.enrollment_uid.to_string(),
            tracked_entity_uid: e.tracked_entity_uid.to_string(),
            program_uid: self.program_uid.clone(),
            fields,
        }
    }
}

/// The district level by name, else the level above the deepest, else 3.
fn default_zone_level(levels: &[(u32, String)]) -> u32 {
    if let Some((l, _)) = levels.iter().find(|(_, n)| {
        let n = n.to_lowercase();
        n.contains("district") || n.contains("département") || n.contains("departement")
    }) {
        return *l;
    }
    levels
        .iter()
        .map(|(l, _)| *l)
        .max()
        .filter(|m| *m > 1)
        .map(|m| m - 1)
        .unwrap_or(3)
}

fn date_part(s: &str) -> Option<String> {
    let d = s.get(..10)?;
    chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d")
        .ok()
        .map(|_| d.to_string())
}

/// Which attributes the guardrail blocks for a program, and counts what it blocked.
#[derive(Debug, Default)]
pub struct Guardrail {
    /// Attribute UID -> `Some(label)` when sensitive, `None` when allowed. Pre-filled from the
    /// program's flags; attributes the program does not declare are judged once by their code
    /// and name (judging every value would cost more than storing it).
    verdicts: HashMap<String, Option<String>>,
    /// "uid CODE" -> values blocked
    pub blocked: BTreeMap<String, u64>,
}

impl Guardrail {
    /// Builds the guardrail from the program's stored attribute flags.
    pub fn load(store: &Store, program_uid: &str) -> Result<Guardrail> {
        let verdicts = store
            .program_attributes(program_uid)?
            .into_iter()
            .map(|a| {
                let label = a.sensitive.then(|| {
                    format!(
                        "{} {}",
                        a.attribute_uid,
                        a.code.as_deref().unwrap_or(&a.name)
                    )
                });
                (a.attribute_uid, label)
            })
            .collect();
        Ok(Guardrail {
            verdicts,
            blocked: BTreeMap::new(),
        })
    }

    /// True when the value may be stored; false (and counted) when it is sensitive, by the
    /// program's flags or by the code/name the value carries.
    pub fn allows(
        &mut self,
        attribute_uid: &str,
        code: Option<&str>,
        display_name: Option<&str>,
    ) -> bool {
        if !self.verdicts.contains_key(attribute_uid) {
            let sensitive = code.is_some_and(kadi_sqlext::mapping::is_sensitive)
                || display_name.is_some_and(kadi_sqlext::mapping::is_sensitive);
            let label = sensitive.then(|| {
                format!(
                    "{attribute_uid} {}",
                    code.or(display_name).unwrap_or(attribute_uid)
                )
            });
            self.verdicts.insert(attribute_uid.to_string(), label);
        }
        match self.verdicts.get(attribute_uid) {
            Some(Some(label)) => {
                match self.blocked.get_mut(label) {
                    Some(n) => *n += 1,
                    None => {
                        self.blocked.insert(label.clone(), 1);
                    }
                }
                false
            }
            _ => true,
        }
    }

    /// Values blocked in total.
    pub fn blocked_total(&self) -> u64 {
        self.blocked.values().sum()
    }
}

/// Re-derives every live card record of a program from the stored attribute values (after
/// `map set`, or when org units changed). Returns how many records changed.
pub fn remap_program(store: &Store, program_uid: &str) -> Result<u64> {
    let plan = MappingPlan::load(store, program_uid)?;
    let mut after = String::new();
    let mut changed = 0u64;
    loop {
        let batch = store.enrollments_for_mapping(program_uid, &after, 1000)?;
        let Some(last) = batch.last() else { break };
        after = last.enrollment_uid.clone();
        changed += store.in_transaction(|s| {
            let mut n = 0;
            for e in &batch {
                let facts = EnrollmentFacts {
                    enrollment_uid: &e.enrollment_uid,
                    tracked_entity_uid: &e.tracked_entity_uid,
                    org_unit_uid: e.org_unit_uid.as_deref(),
                    enrolled_at: e.enrolled_at.as_deref(),
                };
                let attrs: Vec<(&str, &str)> = e
                    .attributes
                    .iter()
                    .map(|(a, v)| (a.as_str(), v.as_str()))
                    .collect();
                let rec = plan.map(facts, &attrs);
                if s.upsert_card_record(&rec)
                    .with_context(|| format!("storing card record {}", rec.enrollment_uid))?
                {
                    n += 1;
                }
            }
            Ok(n)
        })?;
    }
    Ok(changed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sex_codes_in_several_languages_fold_to_m_f_u() {
        for (v, want) in [
            ("M", "M"),
            ("MALE", "M"),
            ("Male", "M"),
            ("Masculin", "M"),
            ("1", "M"),
            ("F", "F"),
            ("Female", "F"),
            ("Féminin", "F"),
            ("2", "F"),
            ("other", "U"),
        ] {
            assert_eq!(normalize_sex(v), want, "{v}");
        }
    }

    #[test]
    fn hiv_status_is_sensitive_by_code_name_or_option_set() {
        assert!(attribute_is_sensitive(
            Some("HIV_STATUS"),
            "Status",
            None,
            None
        ));
        assert!(attribute_is_sensitive(None, "HIV status", None, None));
        assert!(attribute_is_sensitive(
            Some("X"),
            "Result",
            None,
            Some("HIV results")
        ));
        assert!(!attribute_is_sensitive(
            Some("FIRST_NAME"),
            "First name",
            None,
            None
        ));
    }

    #[test]
    fn the_district_level_is_the_default_zone() {
        let levels = vec![
            (1, "Country".into()),
            (2, "Region".into()),
            (3, "District".into()),
            (4, "Health Center".into()),
        ];
        assert_eq!(default_zone_level(&levels), 3);
        assert_eq!(
            default_zone_level(&[(1, "A".into()), (2, "B".into()), (3, "C".into())]),
            2
        );
        assert_eq!(default_zone_level(&[]), 3);
    }
}
