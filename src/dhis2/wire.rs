//! DHIS2's JSON as the servers send it, 2.36 to 2.42+, and its conversion into [`super::model`].
//! One struct per shape, lenient where versions differ: list keys (`instances`,
//! `trackedEntities`, `enrollments`, the deprecated `trackedEntityInstances`), pager placement
//! (top level, `pager{}`, or both), old field names (`created`, `lastUpdated`, `enrollmentDate`),
//! and values that arrive as numbers. Absent and `null` mean the same here.

use super::model::*;
use serde::{Deserialize, Deserializer};

fn null_as_empty<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
}

/// A JSON scalar read as text (`"42"`, `42`, `true`), `null` as absent.
fn lenient_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match Option::<serde_json::Value>::deserialize(d)? {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::String(s)) => Some(s),
        Some(other) => Some(other.to_string()),
    })
}

#[derive(Debug, Deserialize)]
pub(crate) struct IdRef {
    pub id: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct WireSystemInfo {
    pub version: Option<String>,
    pub server_date: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct WireError {
    #[serde(default, deserialize_with = "lenient_string")]
    pub message: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub error: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct WirePager {
    pub page: Option<u32>,
    pub page_size: Option<u32>,
    pub total: Option<u64>,
    pub page_count: Option<u64>,
}

/// A tracker export page of any version: `instances` (2.36-2.40), `trackedEntities` or
/// `enrollments` (2.41+), `trackedEntityInstances` (deprecated API); paging at the top level,
/// in `pager{}`, or both.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", bound(deserialize = "T: Deserialize<'de>"))]
pub(crate) struct WireTrackerPage<T> {
    #[serde(
        rename = "instances",
        alias = "trackedEntities",
        alias = "enrollments",
        alias = "trackedEntityInstances",
        default = "Vec::new",
        deserialize_with = "null_as_empty"
    )]
    pub items: Vec<T>,
    pub page: Option<u32>,
    pub page_size: Option<u32>,
    pub total: Option<u64>,
    pub pager: Option<WirePager>,
}

impl<T> WireTrackerPage<T> {
    /// The page in kadi's shape; `pager{}` wins over the deprecated top-level copies.
    pub fn into_page<U>(
        self,
        requested_page: u32,
        requested_size: u32,
        bytes: u64,
        f: impl FnMut(T) -> U,
    ) -> Page<U> {
        let pager = self.pager.unwrap_or_default();
        Page {
            page: pager.page.or(self.page).unwrap_or(requested_page),
            page_size: pager.page_size.or(self.page_size).unwrap_or(requested_size),
            total: pager.total.or(self.total),
            bytes,
            items: self.items.into_iter().map(f).collect(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct WireAttribute {
    pub attribute: String,
    #[serde(default, deserialize_with = "lenient_string")]
    pub code: Option<String>,
    pub display_name: Option<String>,
    pub value_type: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub value: Option<String>,
    #[serde(alias = "lastUpdated")]
    pub updated_at: Option<String>,
}

impl WireAttribute {
    fn into_model(self) -> AttributeValue {
        AttributeValue {
            attribute: self.attribute,
            code: self.code,
            display_name: self.display_name,
            value_type: self.value_type,
            value: self.value.unwrap_or_default(),
            updated_at: self.updated_at,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct WireEnrollment {
    pub enrollment: String,
    pub program: Option<String>,
    #[serde(alias = "trackedEntityInstance")]
    pub tracked_entity: Option<String>,
    pub org_unit: Option<String>,
    #[serde(alias = "enrollmentDate")]
    pub enrolled_at: Option<String>,
    #[serde(alias = "incidentDate")]
    pub occurred_at: Option<String>,
    pub status: Option<String>,
    #[serde(alias = "lastUpdated")]
    pub updated_at: Option<String>,
    pub deleted: Option<bool>,
}

impl WireEnrollment {
    pub fn into_model(self, te_uid: Option<&str>) -> Enrollment {
        Enrollment {
            uid: self.enrollment,
            program: self.program.unwrap_or_default(),
            tracked_entity: self
                .tracked_entity
                .or_else(|| te_uid.map(str::to_string))
                .unwrap_or_default(),
            org_unit: self.org_unit,
            enrolled_at: self.enrolled_at,
            occurred_at: self.occurred_at,
            status: self.status,
            updated_at: self.updated_at,
            deleted: self.deleted.unwrap_or(false),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct WireTrackedEntity {
    #[serde(alias = "trackedEntityInstance")]
    pub tracked_entity: String,
    pub tracked_entity_type: Option<String>,
    pub org_unit: Option<String>,
    #[serde(alias = "created")]
    pub created_at: Option<String>,
    #[serde(alias = "lastUpdated")]
    pub updated_at: Option<String>,
    pub deleted: Option<bool>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub attributes: Vec<WireAttribute>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub enrollments: Vec<WireEnrollment>,
}

impl WireTrackedEntity {
    /// Converts, keeping only enrollments in `program` (all when empty).
    pub fn into_model(self, program: &str) -> TrackedEntity {
        let uid = self.tracked_entity;
        let enrollments = self
            .enrollments
            .into_iter()
            .filter(|e| program.is_empty() || e.program.as_deref().is_none_or(|p| p == program))
            .map(|e| e.into_model(Some(&uid)))
            .collect();
        TrackedEntity {
            tracked_entity_type: self.tracked_entity_type,
            org_unit: self.org_unit,
            created_at: self.created_at,
            updated_at: self.updated_at,
            deleted: self.deleted.unwrap_or(false),
            attributes: self
                .attributes
                .into_iter()
                .map(WireAttribute::into_model)
                .collect(),
            enrollments,
            uid,
        }
    }
}

/// Only the UID of a tracked entity (for deletion reconciliation with `fields=trackedEntity`).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct WireUidOnly {
    #[serde(alias = "trackedEntityInstance")]
    pub tracked_entity: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct WireOption {
    #[serde(default, deserialize_with = "lenient_string")]
    pub code: Option<String>,
    pub name: Option<String>,
    pub display_name: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct WireOptionSet {
    pub id: String,
    pub name: Option<String>,
    pub display_name: Option<String>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub options: Vec<WireOption>,
}

impl WireOptionSet {
    fn into_model(self) -> OptionSet {
        OptionSet {
            uid: self.id,
            name: self.name.or(self.display_name),
            options: self
                .options
                .into_iter()
                .map(|o| {
                    let name = o
                        .name
                        .or(o.display_name)
                        .or_else(|| o.code.clone())
                        .unwrap_or_default();
                    OptionItem {
                        code: o.code.unwrap_or_else(|| name.clone()),
                        name,
                    }
                })
                .collect(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct WireTrackedEntityAttribute {
    pub id: String,
    #[serde(default, deserialize_with = "lenient_string")]
    pub code: Option<String>,
    pub name: Option<String>,
    pub display_name: Option<String>,
    pub value_type: Option<String>,
    pub option_set: Option<WireOptionSet>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct WireProgramAttribute {
    pub mandatory: Option<bool>,
    pub value_type: Option<String>,
    pub name: Option<String>,
    pub display_name: Option<String>,
    pub tracked_entity_attribute: Option<WireTrackedEntityAttribute>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct WireProgram {
    pub id: String,
    pub name: Option<String>,
    pub display_name: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub code: Option<String>,
    pub tracked_entity_type: Option<IdRef>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub program_tracked_entity_attributes: Vec<WireProgramAttribute>,
}

impl WireProgram {
    pub fn into_model(self) -> Program {
        let attributes = self
            .program_tracked_entity_attributes
            .into_iter()
            .filter_map(|pa| {
                let tea = pa.tracked_entity_attribute?;
                let name = tea
                    .name
                    .clone()
                    .or(pa.name.clone())
                    .or(tea.display_name.clone())
                    .unwrap_or_else(|| tea.id.clone());
                Some(ProgramAttribute {
                    uid: tea.id,
                    code: tea.code,
                    display_name: tea
                        .display_name
                        .or(pa.display_name)
                        .or_else(|| Some(name.clone())),
                    name,
                    value_type: tea
                        .value_type
                        .or(pa.value_type)
                        .unwrap_or_else(|| "TEXT".into()),
                    mandatory: pa.mandatory.unwrap_or(false),
                    option_set: tea.option_set.map(WireOptionSet::into_model),
                })
            })
            .collect();
        Program {
            name: self
                .name
                .or(self.display_name)
                .unwrap_or_else(|| self.id.clone()),
            uid: self.id,
            code: self.code,
            tracked_entity_type: self.tracked_entity_type.map(|t| t.id),
            attributes,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct WirePrograms {
    #[serde(default, deserialize_with = "null_as_empty")]
    pub programs: Vec<WireProgram>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct WireOrgUnit {
    pub id: String,
    pub name: Option<String>,
    pub display_name: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub code: Option<String>,
    pub level: Option<u32>,
    pub path: Option<String>,
    pub parent: Option<IdRef>,
}

impl WireOrgUnit {
    pub fn into_model(self) -> OrgUnit {
        // The parent is also the second-to-last element of the path when `parent` was not sent.
        let parent_uid = self.parent.map(|p| p.id).or_else(|| {
            let parts: Vec<&str> = self
                .path
                .as_deref()?
                .split('/')
                .filter(|s| !s.is_empty())
                .collect();
            (parts.len() >= 2).then(|| parts[parts.len() - 2].to_string())
        });
        OrgUnit {
            name: self
                .name
                .or(self.display_name)
                .unwrap_or_else(|| self.id.clone()),
            uid: self.id,
            code: self.code,
            level: self.level,
            path: self.path,
            parent_uid,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct WireOrgUnits {
    #[serde(default, deserialize_with = "null_as_empty")]
    pub organisation_units: Vec<WireOrgUnit>,
    pub pager: Option<WirePager>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct WireOrgUnitLevel {
    pub level: u32,
    pub name: Option<String>,
    pub display_name: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct WireOrgUnitLevels {
    #[serde(default, deserialize_with = "null_as_empty")]
    pub organisation_unit_levels: Vec<WireOrgUnitLevel>,
}

impl WireOrgUnitLevels {
    pub fn into_model(self) -> Vec<OrgUnitLevel> {
        let mut levels: Vec<OrgUnitLevel> = self
            .organisation_unit_levels
            .into_iter()
            .map(|l| OrgUnitLevel {
                name: l
                    .name
                    .or(l.display_name)
                    .unwrap_or_else(|| format!("Level {}", l.level)),
                level: l.level,
            })
            .collect();
        levels.sort_by_key(|l| l.level);
        levels
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct WireCredentials {
    pub username: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct WireMe {
    pub id: String,
    pub username: Option<String>,
    pub user_credentials: Option<WireCredentials>,
    pub name: Option<String>,
    pub display_name: Option<String>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub organisation_units: Vec<IdRef>,
}

impl WireMe {
    pub fn into_model(self) -> Me {
        Me {
            uid: self.id,
            username: self
                .username
                .or(self.user_credentials.and_then(|c| c.username)),
            name: self.name.or(self.display_name),
            org_units: self.organisation_units.into_iter().map(|o| o.id).collect(),
        }
    }
}
