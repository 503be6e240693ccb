//! A program's attributes as the mapping editor shows them (part s10-m): code, display name,
//! value type, options, whether the guardrail calls them sensitive, and the card field and value
//! map each feeds today. Read-only: saving goes through [`super::set_mapping`] (via
//! `jobs::map_program`), the very function `kadi map set` calls.
use super::{attribute_is_sensitive, AssignCodesBody, AttributeMapping};
use crate::store::Store;
use anyhow::Result;
use serde::Serialize;
use std::collections::BTreeMap;

/// One attribute of a program, for the editor.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AttributeLine {
    /// DHIS2 attribute UID (the editor maps by UID: codes may be missing).
    pub attribute_uid: String,
    /// DHIS2 attribute code, when it has one.
    pub code: Option<String>,
    /// Display name (the name when DHIS2 gave none).
    pub display_name: String,
    /// DHIS2 value type (`TEXT`, `DATE`, ...).
    pub value_type: String,
    /// Option codes and names of its option set (`MALE` / `Male`), in order.
    pub options: Vec<(String, String)>,
    /// True when the guardrail blocks it (by code, name, display name or option set name, or
    /// flagged at sync): it can never be mapped, and its values are never stored.
    pub sensitive: bool,
    /// The card field it feeds now, if any.
    pub card_field: Option<String>,
    /// Its value map now, if any.
    pub value_map: Option<BTreeMap<String, String>>,
}

/// The attributes of `program_uid` with their current mapping, in the program's order.
pub fn attribute_lines(store: &Store, program_uid: &str) -> Result<Vec<AttributeLine>> {
    let rows = store.mapping_rows(program_uid)?;
    let mut out = Vec::new();
    for a in store.program_attributes(program_uid)? {
        let option_set_name = match &a.option_set_uid {
            Some(os) => store.option_set_name(os)?,
            None => None,
        };
        let options = match &a.option_set_uid {
            Some(os) => store
                .options(os)?
                .into_iter()
                .map(|o| (o.code, o.name))
                .collect(),
            None => Vec::new(),
        };
        let sensitive = a.sensitive
            || attribute_is_sensitive(
                a.code.as_deref(),
                &a.name,
                a.display_name.as_deref(),
                option_set_name.as_deref(),
            );
        let mapped = rows
            .iter()
            .find(|r| r.attribute_uid.as_deref() == Some(a.attribute_uid.as_str()));
        out.push(AttributeLine {
            display_name: a.display_name.clone().unwrap_or_else(|| a.name.clone()),
            attribute_uid: a.attribute_uid,
            code: a.code,
            value_type: a.value_type,
            options,
            sensitive,
            card_field: mapped.map(|r| r.card_field.clone()),
            value_map: mapped
                .and_then(|r| r.value_map_json.as_deref())
                .and_then(|j| serde_json::from_str(j).ok()),
        });
    }
    Ok(out)
}

/// The org unit level the program's `zone` comes from, when the mapping derives it explicitly
/// (kept when the editor saves, which only edits attribute lines).
pub fn zone_level(store: &Store, program_uid: &str) -> Result<Option<u32>> {
    Ok(store
        .mapping_rows(program_uid)?
        .iter()
        .find(|r| r.card_field == "zone" && r.attribute_uid.is_none())
        .and_then(|r| r.matched_value.strip_prefix("level:")?.parse().ok()))
}

/// Parses a value map as the editor writes it: `MALE=M, FEMALE=F` (commas or new lines between
/// pairs). Empty text is no map; a pair without `=` is an error naming it.
pub fn parse_value_map(text: &str) -> Result<Option<BTreeMap<String, String>>> {
    let mut map = BTreeMap::new();
    for pair in text
        .split([',', '\n'])
        .map(str::trim)
        .filter(|p| !p.is_empty())
    {
        let Some((from, to)) = pair.split_once('=') else {
            anyhow::bail!("value map entry '{pair}' has no '=': write CODE=VALUE, e.g. MALE=M");
        };
        map.insert(from.trim().to_string(), to.trim().to_string());
    }
    Ok((!map.is_empty()).then_some(map))
}

/// The assign-codes body of an editor form: `(attribute UID, card field, value map text)` for
/// every attribute given a card field.
pub fn body_from_lines(
    program_uid: &str,
    lines: &[(String, String, String)],
    zone_level: Option<u32>,
) -> Result<AssignCodesBody> {
    let mut mappings = Vec::new();
    for (uid, field, map) in lines {
        mappings.push(AttributeMapping {
            dhis2_attribute_code: None,
            dhis2_attribute_display_name: None,
            dhis2_attribute_uid: Some(uid.clone()),
            card_field: field.clone(),
            value_map: parse_value_map(map)?,
        });
    }
    Ok(AssignCodesBody {
        programme_uid: program_uid.to_string(),
        mappings,
        zone_level,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_maps_parse_from_pairs_and_refuse_a_pair_without_equals() {
        let m = parse_value_map("MALE=M, FEMALE = F\nOTHER=U")
            .unwrap()
            .unwrap();
        assert_eq!(m.get("FEMALE").map(String::as_str), Some("F"));
        assert_eq!(m.len(), 3);
        assert_eq!(parse_value_map("  ").unwrap(), None);
        assert!(parse_value_map("MALE")
            .unwrap_err()
            .to_string()
            .contains("MALE"));
    }
}
