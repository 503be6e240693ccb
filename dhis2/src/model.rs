//! kadi's version-neutral view of DHIS2 data. Wire structs (per version) live in `client`; they
//! are converted into these before leaving the module.

use serde::{Deserialize, Serialize};

/// What `/api/system/info` tells kadi.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SystemInfo {
    /// As the server says it, e.g. `2.40.3.1` or `2.42-SNAPSHOT`.
    pub version: String,
    /// (major, minor) parsed from `version`, e.g. (2, 40).
    pub major_minor: (u32, u32),
    /// The server's own clock, zone-less as DHIS2 sends it (`2026-11-23T09:00:00.000`).
    pub server_date: String,
}

/// A tracker program with the attributes it carries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Program {
    pub uid: String,
    pub name: String,
    pub code: Option<String>,
    pub tracked_entity_type: Option<String>,
    pub attributes: Vec<ProgramAttribute>,
}

/// One tracked-entity attribute as a program uses it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProgramAttribute {
    pub uid: String,
    pub code: Option<String>,
    pub name: String,
    pub display_name: Option<String>,
    /// DHIS2 valueType: TEXT, DATE, AGE, PHONE_NUMBER, NUMBER, BOOLEAN, ...
    pub value_type: String,
    pub mandatory: bool,
    pub option_set: Option<OptionSet>,
}

/// An option set and its options.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OptionSet {
    pub uid: String,
    pub name: Option<String>,
    pub options: Vec<OptionItem>,
}

/// One option (code and display name).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OptionItem {
    pub code: String,
    pub name: String,
}

/// An organisation unit with its place in the tree.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrgUnit {
    pub uid: String,
    pub name: String,
    pub code: Option<String>,
    pub level: Option<u32>,
    /// `/root/child/.../self`
    pub path: Option<String>,
    pub parent_uid: Option<String>,
}

/// A named org unit level (1 = country, ...).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrgUnitLevel {
    pub level: u32,
    pub name: String,
}

/// One attribute value of a tracked entity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttributeValue {
    pub attribute: String,
    pub code: Option<String>,
    pub display_name: Option<String>,
    pub value_type: Option<String>,
    pub value: String,
    pub updated_at: Option<String>,
}

/// An enrollment of a tracked entity in a program.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Enrollment {
    pub uid: String,
    pub program: String,
    pub tracked_entity: String,
    pub org_unit: Option<String>,
    /// `enrolledAt` (2.36+ tracker API; `enrollmentDate` in the deprecated API).
    pub enrolled_at: Option<String>,
    pub occurred_at: Option<String>,
    pub status: Option<String>,
    pub updated_at: Option<String>,
    pub deleted: bool,
}

/// A tracked entity (a person) with its attributes and enrollments.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrackedEntity {
    pub uid: String,
    pub tracked_entity_type: Option<String>,
    pub org_unit: Option<String>,
    pub created_at: Option<String>,
    pub updated_at: Option<String>,
    pub deleted: bool,
    pub attributes: Vec<AttributeValue>,
    pub enrollments: Vec<Enrollment>,
}

/// One page of a tracker export, whatever the server version's wrapper and pager looked like.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub page: u32,
    pub page_size: u32,
    /// Only when the server reported it (totalPages=true); never used to stop paging.
    pub total: Option<u64>,
    /// Bytes of the response body as decoded, i.e. the JSON kadi parsed: after gzip, so more
    /// than the wire carried when the server compressed (for run reports).
    pub bytes: u64,
    /// Records of the page kadi could not decode (invalid UTF-8, a broken value, a bad date):
    /// left out of `items` so that one bad record does not stop the page, and named here so that
    /// sync can quarantine and retry them.
    pub rejected: Vec<RejectedRecord>,
}

/// A record of a page that could not be decoded, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RejectedRecord {
    /// Its tracked-entity UID; empty when even that could not be read.
    pub uid: String,
    pub reason: String,
}

/// What a cheap listing says of one tracked entity (`fields=trackedEntity,updatedAt,deleted`):
/// enough to compare the store with the server without the records themselves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntityStamp {
    pub uid: String,
    pub updated_at: Option<String>,
    pub deleted: bool,
}

/// The user kadi connects as (`/api/me`), whatever the version put where.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Me {
    pub uid: String,
    /// Top level from 2.38, under `userCredentials` before.
    pub username: Option<String>,
    pub name: Option<String>,
    /// UIDs of the user's capture org units.
    pub org_units: Vec<String>,
}
