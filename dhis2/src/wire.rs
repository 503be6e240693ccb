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

/// An attribute value: a JSON scalar read as text (`"42"`, `42`, `true`), `null` as absent. An
/// object or a list is no value DHIS2 stores: the record is refused (and quarantined by sync)
/// rather than storing the JSON text as if it were the value.
fn scalar_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    match Option::<serde_json::Value>::deserialize(d)? {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::String(s)) => Ok(Some(s)),
        Some(v @ (serde_json::Value::Number(_) | serde_json::Value::Bool(_))) => {
            Ok(Some(v.to_string()))
        }
        Some(other) => Err(serde::de::Error::custom(format!(
            "an attribute value must be text, not {}",
            if other.is_array() {
                "a list"
            } else {
                "an object"
            }
        ))),
    }
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
            rejected: Vec::new(),
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
    #[serde(default, deserialize_with = "scalar_string")]
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

/// Only the UID of a tracked entity (`fields=trackedEntity`: the one-entity page that asks the count).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct WireUidOnly {
    #[serde(alias = "trackedEntityInstance")]
    pub tracked_entity: String,
}

/// A tracked entity's UID, `updatedAt` and deleted flag (the completeness listing).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct WireStamp {
    #[serde(alias = "trackedEntityInstance")]
    pub tracked_entity: String,
    #[serde(alias = "lastUpdated")]
    pub updated_at: Option<String>,
    pub deleted: Option<bool>,
}

impl WireStamp {
    pub fn into_model(self) -> EntityStamp {
        EntityStamp {
            uid: self.tracked_entity,
            updated_at: self.updated_at,
            deleted: self.deleted.unwrap_or(false),
        }
    }
}

/// Decodes a page of tracked entities record by record: the fast path reads the page at once;
/// when that fails for anything but a cut-short body (an invalid UTF-8 byte, a value of the wrong
/// shape), the page is read again as generic JSON and each record decoded alone, so the records
/// that decode are kept and the others are named in [`Page::rejected`]. Invalid bytes are made
/// visible (U+FFFD) only to find the records that carry them: those records are rejected, never
/// stored with a replaced character. Records with an unreadable date are rejected too.
pub(crate) fn decode_tracked_entities(
    bytes: &[u8],
    program: &str,
    requested_page: u32,
    requested_size: u32,
) -> Result<Page<TrackedEntity>, serde_json::Error> {
    let wire = match serde_json::from_slice::<WireTrackerPage<WireTrackedEntity>>(bytes) {
        Ok(w) => w,
        Err(e) if e.classify() == serde_json::error::Category::Eof => return Err(e),
        Err(e) => return decode_one_by_one(bytes, program, requested_page, requested_size, e),
    };
    let mut rejected = Vec::new();
    let mut page = wire.into_page(requested_page, requested_size, bytes.len() as u64, |te| {
        te.into_model(program)
    });
    page.items.retain(|te| match bad_date(te) {
        Some(reason) => {
            rejected.push(RejectedRecord {
                uid: te.uid.clone(),
                reason,
            });
            false
        }
        None => true,
    });
    page.rejected = rejected;
    Ok(page)
}

fn decode_one_by_one(
    bytes: &[u8],
    program: &str,
    requested_page: u32,
    requested_size: u32,
    first_error: serde_json::Error,
) -> Result<Page<TrackedEntity>, serde_json::Error> {
    let text = String::from_utf8_lossy(bytes);
    let bad_utf8 = matches!(text, std::borrow::Cow::Owned(_));
    let wire: WireTrackerPage<serde_json::Value> = match serde_json::from_str(&text) {
        Ok(w) => w,
        // Cut short (retryable), whatever else the page holds.
        Err(e) if e.classify() == serde_json::error::Category::Eof => return Err(e),
        // Not a page at all (HTML, another shape): the first error says it best.
        Err(_) => return Err(first_error),
    };
    let mut rejected = Vec::new();
    let values = wire.into_page(requested_page, requested_size, bytes.len() as u64, |v| v);
    let mut items = Vec::with_capacity(values.items.len());
    for v in values.items {
        let uid = ["trackedEntity", "trackedEntityInstance"]
            .iter()
            .find_map(|k| v.get(*k).and_then(|u| u.as_str()))
            .unwrap_or("")
            .to_string();
        if bad_utf8 {
            if let Some(path) = replacement_path(&v, "") {
                rejected.push(RejectedRecord {
                    uid,
                    reason: format!("invalid UTF-8 in {path}"),
                });
                continue;
            }
        }
        match serde_json::from_value::<WireTrackedEntity>(v) {
            Ok(w) => {
                let te = w.into_model(program);
                match bad_date(&te) {
                    Some(reason) => rejected.push(RejectedRecord { uid, reason }),
                    None => items.push(te),
                }
            }
            Err(e) => rejected.push(RejectedRecord {
                uid,
                reason: e.to_string(),
            }),
        }
    }
    Ok(Page {
        items,
        page: values.page,
        page_size: values.page_size,
        total: values.total,
        bytes: values.bytes,
        rejected,
    })
}

/// Where in `v` a U+FFFD stands (the mark of an invalid byte after lossy decoding), as a path
/// such as `attributes[0].value`.
fn replacement_path(v: &serde_json::Value, at: &str) -> Option<String> {
    match v {
        serde_json::Value::String(s) if s.contains('\u{FFFD}') => Some(at.to_string()),
        serde_json::Value::Array(a) => a
            .iter()
            .enumerate()
            .find_map(|(i, x)| replacement_path(x, &format!("{at}[{i}]"))),
        serde_json::Value::Object(o) => o.iter().find_map(|(k, x)| {
            let here = if at.is_empty() {
                k.clone()
            } else {
                format!("{at}.{k}")
            };
            if k.contains('\u{FFFD}') {
                return Some(here);
            }
            replacement_path(x, &here)
        }),
        _ => None,
    }
}

/// Why a record's dates cannot be used (the store de-duplicates and the watermark moves by
/// `updatedAt`), if they cannot.
fn bad_date(te: &TrackedEntity) -> Option<String> {
    let dates = [
        ("updatedAt", te.updated_at.as_deref()),
        ("createdAt", te.created_at.as_deref()),
    ];
    let enrollment_dates = te
        .enrollments
        .iter()
        .flat_map(|e| [("enrolledAt", e.enrolled_at.as_deref())]);
    dates
        .into_iter()
        .chain(enrollment_dates)
        .find_map(|(name, d)| {
            d.filter(|d| !is_timestamp(d))
                .map(|d| format!("bad date in {name}: {d:?}"))
        })
}

/// `YYYY-MM-DD`, optionally followed by `T` and a time: what DHIS2 sends for every date.
pub(crate) fn is_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() < 10 {
        return false;
    }
    let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    if !(digits(0..4) && b[4] == b'-' && digits(5..7) && b[7] == b'-' && digits(8..10)) {
        return false;
    }
    let (m, d) = (
        (b[5] - b'0') * 10 + (b[6] - b'0'),
        (b[8] - b'0') * 10 + (b[9] - b'0'),
    );
    (1..=12).contains(&m)
        && (1..=31).contains(&d)
        && (b.len() == 10 || b[10] == b'T' || b[10] == b' ')
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::{Path, PathBuf};

    fn samples_dir() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/dhis2-samples")
    }

    fn read(name: &str) -> Vec<u8> {
        std::fs::read(samples_dir().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
    }

    fn te_page(name: &str) -> Page<TrackedEntity> {
        let bytes = read(name);
        let wire: WireTrackerPage<WireTrackedEntity> =
            serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        wire.into_page(1, 50, bytes.len() as u64, |te| te.into_model(""))
    }

    #[test]
    fn tracker_pages_of_every_version_parse_into_one_shape() {
        let p = te_page("tracker_trackedEntities_page_2.36-2.40.json");
        assert_eq!(
            (p.items.len(), p.page, p.page_size, p.total),
            (2, 1, 50, None)
        );
        assert_eq!(p.items[0].uid, "nWrB0TfWlvh");
        assert_eq!(p.items[0].attributes[0].value, "4081507");
        let p41 = te_page("tracker_trackedEntities_page_2.41.json");
        assert_eq!(p41.items, p.items);
        assert_eq!((p41.page, p41.page_size), (1, 50));
        let p36 = te_page("tracker_trackedEntities_page_2.36.json");
        assert_eq!(
            (p36.items.len(), p36.page_size, p36.total),
            (1, 1, Some(39))
        );
        assert_eq!(
            p36.items[0].attributes[0].code.as_deref(),
            Some("MMD_PER_ADR1")
        );
        let p42 = te_page("tracker_trackedEntities_page_2.42.json");
        assert_eq!((p42.items.len(), p42.page, p42.page_size), (1, 1, 1));
        assert_eq!(p42.items[0].attributes[1].value, "Sarah");
        assert_eq!(
            p42.items[0].updated_at.as_deref(),
            Some("2019-08-21T13:31:33.410")
        );
        assert_eq!(
            te_page("tracker_trackedEntities_page_2.41_docs.json").items,
            p42.items
        );
        let empty = te_page("tracker_trackedEntities_empty_2.36-2.40.json");
        assert!(empty.items.is_empty());
        let full = te_page("tracker_trackedEntities_full_page_2.36-2.40.json");
        assert!(!full.items.is_empty());
        assert!(full.items.iter().any(|te| !te.enrollments.is_empty()));
        assert_eq!(
            full.items[0].enrollments[0].tracked_entity,
            full.items[0].uid
        );
        let old = te_page("old_api_trackedEntityInstances_page_2.36-2.41.json");
        assert_eq!(old.items[0].uid, "nWrB0TfWlvh");
        assert_eq!(
            old.items[0].updated_at.as_deref(),
            Some("2019-01-10T13:40:28.592")
        );
        assert!(old.items[0]
            .enrollments
            .iter()
            .all(|e| e.enrolled_at.is_some()));
    }

    #[test]
    fn single_tracked_entities_and_enrollments_parse() {
        for name in [
            "tracker_trackedEntity_single_2.36.json",
            "tracker_trackedEntity_single_with_enrollments_2.41.json",
        ] {
            let te: WireTrackedEntity =
                serde_json::from_slice(&read(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
            let te = te.into_model("");
            assert_eq!(te.uid.len(), 11, "{name}");
            assert!(!te.enrollments.is_empty(), "{name}");
            assert!(
                te.enrollments.iter().all(|e| e.enrolled_at.is_some()),
                "{name}"
            );
        }
        for name in [
            "tracker_enrollment_single_2.36-2.40.json",
            "old_api_enrollment_single_2.36-2.41.json",
        ] {
            let e: WireEnrollment =
                serde_json::from_slice(&read(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
            let e = e.into_model(None);
            assert!(
                e.enrolled_at.is_some() && !e.tracked_entity.is_empty() && !e.program.is_empty(),
                "{name}"
            );
        }
        for (name, n, size) in [
            ("tracker_enrollments_page_2.36.json", 1, 5),
            ("tracker_enrollments_page_2.41.json", 1, 1),
        ] {
            let bytes = read(name);
            let w: WireTrackerPage<WireEnrollment> = serde_json::from_slice(&bytes).unwrap();
            let p = w.into_page(1, 50, 0, |e| e.into_model(None));
            assert_eq!((p.items.len(), p.page_size), (n, size), "{name}");
            assert!(p.items[0].enrolled_at.is_some());
        }
    }

    #[test]
    fn metadata_samples_parse() {
        let info: WireSystemInfo = serde_json::from_slice(&read("system_info_2.41.json")).unwrap();
        assert_eq!(
            info.version
                .as_deref()
                .and_then(super::super::client::parse_version),
            Some((2, 41))
        );
        assert_eq!(info.server_date.as_deref(), Some("2017-11-29T11:27:46.935"));
        for name in ["me_2.37.json", "me_2.38plus.json"] {
            let me: WireMe = serde_json::from_slice(&read(name)).unwrap();
            let me = me.into_model();
            assert_eq!(me.username.as_deref(), Some("android"), "{name}");
            assert_eq!(me.org_units, vec!["YuQRtpLP10I".to_string()]);
        }
        let programs: WirePrograms = serde_json::from_slice(&read("programs_list.json")).unwrap();
        let programs: Vec<Program> = programs
            .programs
            .into_iter()
            .map(WireProgram::into_model)
            .collect();
        let child = programs.iter().find(|p| p.uid == "IpHINAT79UW").unwrap();
        assert_eq!(child.tracked_entity_type.as_deref(), Some("nEenWmSyUEp"));
        assert!(child
            .attributes
            .iter()
            .any(|a| a.uid == "cejWyOfXge6" && a.mandatory && a.name == "Child Programme Gender"));
        let pa: WireProgramAttribute =
            serde_json::from_slice(&read("programTrackedEntityAttribute_single.json")).unwrap();
        assert_eq!(
            pa.tracked_entity_attribute.map(|t| t.id).as_deref(),
            Some("cejWyOfXge6")
        );
        let ous: WireOrgUnits =
            serde_json::from_slice(&read("organisationUnits_list.json")).unwrap();
        let ous: Vec<OrgUnit> = ous
            .organisation_units
            .into_iter()
            .map(WireOrgUnit::into_model)
            .collect();
        assert_eq!(ous.len(), 3);
        assert_eq!(ous[1].parent_uid.as_deref(), Some("YuQRtpLP10I"));
        assert_eq!(ous[1].level, Some(4));
        let levels: WireOrgUnitLevels =
            serde_json::from_slice(&read("organisationUnitLevels_list.json")).unwrap();
        let levels = levels.into_model();
        assert_eq!(
            levels.iter().map(|l| l.level).collect::<Vec<_>>(),
            vec![1, 2, 3, 4]
        );
        assert_eq!(levels[0].name, "National");
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct OptionSets {
            option_sets: Vec<WireOptionSet>,
        }
        let sets: OptionSets = serde_json::from_slice(&read("optionSets_list.json")).unwrap();
        assert_eq!(sets.option_sets.len(), 2);
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Teas {
            tracked_entity_attributes: Vec<WireTrackedEntityAttribute>,
        }
        let teas: Teas =
            serde_json::from_slice(&read("trackedEntityAttributes_list.json")).unwrap();
        assert!(teas
            .tracked_entity_attributes
            .iter()
            .any(|t| t.option_set.is_some()));
    }

    /// A page of three records: the first carries an invalid UTF-8 byte in a name, the second
    /// an attribute value that is an object, the third is fine; `updatedAt` of the third may be
    /// replaced to test date checks.
    fn page_with_bad_records(third_updated: &str) -> Vec<u8> {
        let te = |uid: &str, value: &str, updated: &str| {
            format!(
                r#"{{"trackedEntity":"{uid}","updatedAt":"{updated}","attributes":[{{"attribute":"w75KJ2mc4zz","value":{value}}}]}}"#
            )
        };
        let mut body = br#"{"page":1,"pageSize":3,"instances":["#.to_vec();
        body.extend(te("Aaaaaaaaaa1", "\"AwaX\"", "2026-01-01T00:00:00.000").into_bytes());
        // Replace the X with a lone continuation byte: invalid UTF-8 inside the string.
        let x = body.iter().rposition(|b| *b == b'X').unwrap();
        body[x] = 0xFF;
        body.push(b',');
        body.extend(te("Bbbbbbbbbb2", r#"{"x":1}"#, "2026-01-01T00:00:00.000").into_bytes());
        body.push(b',');
        body.extend(te("Ccccccccc3", "\"Moussa\"", third_updated).into_bytes());
        body.extend(b"]}");
        body
    }

    #[test]
    fn a_page_with_undecodable_records_keeps_the_others_and_names_the_bad_ones() {
        let p =
            decode_tracked_entities(&page_with_bad_records("2026-01-02T00:00:00.000"), "", 1, 3)
                .unwrap();
        assert_eq!(p.items.len(), 1);
        assert_eq!(p.items[0].uid, "Ccccccccc3");
        assert_eq!(p.items[0].attributes[0].value, "Moussa");
        let why: Vec<(&str, &str)> = p
            .rejected
            .iter()
            .map(|r| (r.uid.as_str(), r.reason.as_str()))
            .collect();
        assert_eq!(why[0].0, "Aaaaaaaaaa1");
        assert!(
            why[0].1.contains("invalid UTF-8 in attributes[0].value"),
            "{why:?}"
        );
        assert_eq!(why[1].0, "Bbbbbbbbbb2");
        assert!(why[1].1.contains("must be text, not an object"), "{why:?}");
        // A bad date is refused in both paths.
        let p = decode_tracked_entities(&page_with_bad_records("2026-13-02T00:00:00"), "", 1, 3)
            .unwrap();
        assert!(p.items.is_empty());
        assert!(
            p.rejected[2].reason.contains("bad date in updatedAt"),
            "{:?}",
            p.rejected
        );
        let clean = br#"{"instances":[{"trackedEntity":"Ddddddddd4","updatedAt":"yesterday"}]}"#;
        let p = decode_tracked_entities(clean, "", 1, 50).unwrap();
        assert_eq!((p.items.len(), p.rejected.len()), (0, 1));
        // A body cut short is still an error of the whole page (retried), not a rejection.
        let body = page_with_bad_records("2026-01-02T00:00:00.000");
        let err = decode_tracked_entities(&body[..body.len() - 10], "", 1, 3).unwrap_err();
        assert_eq!(err.classify(), serde_json::error::Category::Eof);
        assert!(decode_tracked_entities(b"<html>login</html>", "", 1, 3).is_err());
    }

    #[test]
    fn timestamps_are_checked_for_shape_and_range() {
        for ok in [
            "2026-01-02",
            "2026-01-02T03:04:05.678",
            "2019-08-21T13:31:33.410Z",
        ] {
            assert!(is_timestamp(ok), "{ok}");
        }
        for bad in [
            "",
            "2026-1-02",
            "2026-00-10",
            "2026-02-32",
            "yesterday",
            "2026-01-02X",
        ] {
            assert!(!is_timestamp(bad), "{bad}");
        }
    }

    #[test]
    fn error_bodies_give_dhis2_message() {
        let e: WireError =
            serde_json::from_slice(&read("error_401_unauthorized_all.json")).unwrap();
        assert_eq!(e.message.as_deref(), Some("Unauthorized"));
        let e: WireError = serde_json::from_slice(&read("error_500_internal_all.json")).unwrap();
        assert_eq!(
            e.message.as_deref(),
            Some("A wild internal server error appeared!")
        );
    }

    #[test]
    fn every_sample_file_is_json_kadi_can_read() {
        let mut n = 0;
        for entry in std::fs::read_dir(samples_dir()).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().and_then(|e| e.to_str()) != Some("json") {
                continue;
            }
            let bytes = std::fs::read(&path).unwrap();
            // Import reports and job logs belong to the later import work; they must at least be
            // JSON whose error message (when any) kadi can extract.
            let v: serde_json::Value = serde_json::from_slice(&bytes)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert!(v.is_object() || v.is_array(), "{}", path.display());
            if v.is_object() {
                let _: WireError = serde_json::from_slice(&bytes)
                    .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            }
            n += 1;
        }
        assert!(n >= 37, "expected the shared samples, found {n}");
    }
}
