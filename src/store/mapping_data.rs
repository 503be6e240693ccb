//! Queries for mapping: the program's attributes and option sets as stored by sync, org units for
//! derived card fields, and the `mappings` table (one row per program and card field).
use super::{now_utc, Store};
use anyhow::{Context, Result};
use rusqlite::{params, OptionalExtension};

/// One program attribute as stored (what `kadi map set` resolves codes and names against).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredAttribute {
    pub attribute_uid: String,
    pub code: Option<String>,
    pub name: String,
    pub display_name: Option<String>,
    pub value_type: String,
    pub option_set_uid: Option<String>,
    pub sensitive: bool,
}

/// One stored option (code and display name) of an option set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredOption {
    pub code: String,
    pub name: String,
}

/// One stored org unit (for health_center, zone and org-unit lookups).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredOrgUnit {
    pub uid: String,
    pub name: String,
    pub level: Option<u32>,
    pub path: Option<String>,
}

/// One row of the `mappings` table: where a card field of a program comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MappingRow {
    pub card_field: String,
    /// The DHIS2 attribute feeding the field; `None` for org-unit and enrollment-derived fields.
    pub attribute_uid: Option<String>,
    /// `code`, `display_name`, `uid`, `org_unit` or `enrollment`.
    pub matched_by: String,
    /// What the user wrote (attribute code, name or UID), or the derivation (`name`, `level:3`, ...).
    pub matched_value: String,
    /// JSON object from DHIS2 value (option code or name) to card value, when one applies.
    pub value_map_json: Option<String>,
}

impl Store {
    /// The program's name, when its metadata has been synced.
    pub fn program_name(&self, program_uid: &str) -> Result<Option<String>> {
        Ok(self
            .conn()
            .query_row(
                "SELECT name FROM programs WHERE uid = ?1",
                params![program_uid],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// The attributes of a program, in the program's order.
    pub fn program_attributes(&self, program_uid: &str) -> Result<Vec<StoredAttribute>> {
        let mut stmt = self.conn().prepare_cached(
            "SELECT attribute_uid, code, name, display_name, value_type, option_set_uid, sensitive
             FROM program_attributes WHERE program_uid = ?1 ORDER BY sort_order, attribute_uid",
        )?;
        let rows = stmt.query_map(params![program_uid], |r| {
            Ok(StoredAttribute {
                attribute_uid: r.get(0)?,
                code: r.get(1)?,
                name: r.get(2)?,
                display_name: r.get(3)?,
                value_type: r.get(4)?,
                option_set_uid: r.get(5)?,
                sensitive: r.get::<_, i64>(6)? != 0,
            })
        })?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .with_context(|| format!("reading attributes of program {program_uid}"))
    }

    /// The name of an option set, if stored.
    pub fn option_set_name(&self, option_set_uid: &str) -> Result<Option<String>> {
        Ok(self
            .conn()
            .query_row(
                "SELECT name FROM option_sets WHERE uid = ?1",
                params![option_set_uid],
                |r| r.get(0),
            )
            .optional()?
            .flatten())
    }

    /// The options of an option set, in order.
    pub fn options(&self, option_set_uid: &str) -> Result<Vec<StoredOption>> {
        let mut stmt = self.conn().prepare_cached(
            "SELECT code, name FROM options WHERE option_set_uid = ?1 ORDER BY sort_order, code",
        )?;
        let rows = stmt.query_map(params![option_set_uid], |r| {
            Ok(StoredOption {
                code: r.get(0)?,
                name: r.get(1)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    /// Every stored org unit (a box holds thousands at most; mapping indexes them in memory).
    pub fn org_units_all(&self) -> Result<Vec<StoredOrgUnit>> {
        let mut stmt = self
            .conn()
            .prepare_cached("SELECT uid, name, level, path FROM org_units")?;
        let rows = stmt.query_map([], |r| {
            Ok(StoredOrgUnit {
                uid: r.get(0)?,
                name: r.get(1)?,
                level: r.get(2)?,
                path: r.get(3)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    /// The named org unit levels (level, name), lowest number first.
    pub fn org_unit_levels(&self) -> Result<Vec<(u32, String)>> {
        let mut stmt = self
            .conn()
            .prepare_cached("SELECT level, name FROM org_unit_levels ORDER BY level")?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    /// The mapping of a program, ordered by card field.
    pub fn mapping_rows(&self, program_uid: &str) -> Result<Vec<MappingRow>> {
        let mut stmt = self.conn().prepare_cached(
            "SELECT card_field, attribute_uid, matched_by, matched_value, value_map_json
             FROM mappings WHERE program_uid = ?1 ORDER BY card_field",
        )?;
        let rows = stmt.query_map(params![program_uid], |r| {
            Ok(MappingRow {
                card_field: r.get(0)?,
                attribute_uid: r.get(1)?,
                matched_by: r.get(2)?,
                matched_value: r.get(3)?,
                value_map_json: r.get(4)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    /// Replaces the whole mapping of a program (one transaction) and audits before/after.
    pub fn replace_mapping(
        &self,
        actor: &str,
        program_uid: &str,
        rows: &[MappingRow],
    ) -> Result<()> {
        let before = mapping_json(&self.mapping_rows(program_uid)?);
        let tx = self.conn().unchecked_transaction()?;
        tx.execute(
            "DELETE FROM mappings WHERE program_uid = ?1",
            params![program_uid],
        )?;
        let now = now_utc();
        {
            let mut stmt = tx.prepare_cached(
                "INSERT INTO mappings(program_uid, card_field, attribute_uid, matched_by, matched_value, value_map_json, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?;
            for row in rows {
                stmt.execute(params![
                    program_uid,
                    row.card_field,
                    row.attribute_uid,
                    row.matched_by,
                    row.matched_value,
                    row.value_map_json,
                    now
                ])
                .with_context(|| format!("storing the mapping of card field {}", row.card_field))?;
            }
        }
        tx.commit()?;
        let after = mapping_json(rows);
        self.audit(
            actor,
            "mapping.set",
            Some(program_uid),
            Some(&before),
            Some(&after),
        )
    }
}

fn mapping_json(rows: &[MappingRow]) -> String {
    let list: Vec<serde_json::Value> = rows
        .iter()
        .map(|r| {
            serde_json::json!({
                "card_field": r.card_field,
                "attribute_uid": r.attribute_uid,
                "matched_by": r.matched_by,
                "matched_value": r.matched_value,
                "value_map": r.value_map_json.as_deref().and_then(|j| serde_json::from_str::<serde_json::Value>(j).ok()),
            })
        })
        .collect();
    serde_json::Value::Array(list).to_string()
}

impl Store {
    /// Programs that have a mapping.
    pub fn mapped_programs(&self) -> Result<Vec<String>> {
        let mut stmt = self
            .conn()
            .prepare("SELECT DISTINCT program_uid FROM mappings ORDER BY program_uid")?;
        let rows = stmt.query_map([], |r| r.get(0))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}
