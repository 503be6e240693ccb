//! Shared fixtures of the sync and mapping tests: a real SQLite store holding the simulator's
//! program metadata and org units, and tracked entities shaped like the simulator's.
#![allow(dead_code)]
use kadi::dhis2::model::{
    AttributeValue, Enrollment, OptionItem, OptionSet, OrgUnit, Program, ProgramAttribute,
    TrackedEntity,
};
use kadi::store::Store;

pub const PROGRAM: &str = "P3jJH5Tu5VC";

/// (uid, code, name, valueType)
pub const ATTRIBUTES: [(&str, &str, &str, &str); 8] = [
    ("w75KJ2mc4zz", "FIRST_NAME", "First name", "TEXT"),
    ("zDhUuAYrxNC", "LAST_NAME", "Last name", "TEXT"),
    ("iESIqZ0R0R0", "DATE_OF_BIRTH", "Date of birth", "DATE"),
    ("cejWyOfXge6", "SEX", "Sex", "TEXT"),
    ("P2cwLGskgxn", "PHONE", "Phone number", "PHONE_NUMBER"),
    ("AuPLng5hLbE", "NATIONAL_ID", "National ID", "TEXT"),
    ("lZGmxYbs97q", "BENEFICIARY_ID", "Beneficiary ID", "TEXT"),
    ("Bpx0589u8y0", "HIV_STATUS", "HIV status", "TEXT"),
];

pub fn program() -> Program {
    Program {
        uid: PROGRAM.into(),
        name: "Child Programme".into(),
        code: None,
        tracked_entity_type: Some("nEenWmSyUEp".into()),
        attributes: ATTRIBUTES
            .iter()
            .map(|(uid, code, name, vt)| ProgramAttribute {
                uid: uid.to_string(),
                code: Some(code.to_string()),
                name: name.to_string(),
                display_name: Some(name.to_string()),
                value_type: vt.to_string(),
                mandatory: false,
                option_set: (*code == "SEX").then(|| OptionSet {
                    uid: "pC3N9N77UmT".into(),
                    name: Some("Sex".into()),
                    options: vec![
                        OptionItem {
                            code: "MALE".into(),
                            name: "Male".into(),
                        },
                        OptionItem {
                            code: "FEMALE".into(),
                            name: "Female".into(),
                        },
                    ],
                }),
            })
            .collect(),
    }
}

pub fn org_units() -> Vec<OrgUnit> {
    let ou = |uid: &str, name: &str, level: u32, path: &str, parent: Option<&str>| OrgUnit {
        uid: uid.into(),
        name: name.into(),
        code: None,
        level: Some(level),
        path: Some(path.into()),
        parent_uid: parent.map(str::to_string),
    };
    vec![
        ou("ImspTQPwCqd", "Senegal", 1, "/ImspTQPwCqd", None),
        ou(
            "O6uvpzGd5pu",
            "Dakar",
            2,
            "/ImspTQPwCqd/O6uvpzGd5pu",
            Some("ImspTQPwCqd"),
        ),
        ou(
            "YuQRtpLP10I",
            "Pikine",
            3,
            "/ImspTQPwCqd/O6uvpzGd5pu/YuQRtpLP10I",
            Some("O6uvpzGd5pu"),
        ),
        ou(
            "DiszpKrYNg8",
            "Centre de santé Thiaroye",
            4,
            "/ImspTQPwCqd/O6uvpzGd5pu/YuQRtpLP10I/DiszpKrYNg8",
            Some("YuQRtpLP10I"),
        ),
    ]
}

/// A store with the simulator's program (HIV_STATUS flagged sensitive) and org units.
pub fn store_with_metadata(dir: &std::path::Path) -> Store {
    let store = Store::open(&dir.join("kadi.db")).unwrap();
    let p = program();
    store
        .upsert_program(&p, &|i| {
            p.attributes[i].code.as_deref() == Some("HIV_STATUS")
        })
        .unwrap();
    let levels = vec![
        (1, "Country".into()),
        (2, "Region".into()),
        (3, "District".into()),
        (4, "Health Center".into()),
    ];
    store.upsert_org_units(&org_units(), &levels).unwrap();
    store
}

/// A tracked entity enrolled at the health center, with every simulator attribute.
pub fn tracked_entity(uid: &str, first: &str, updated_at: &str) -> TrackedEntity {
    let value = |code: &str, v: &str| {
        let (attr, ..) = ATTRIBUTES.iter().find(|a| a.1 == code).unwrap();
        AttributeValue {
            attribute: attr.to_string(),
            code: Some(code.into()),
            display_name: None,
            value_type: None,
            value: v.into(),
            updated_at: None,
        }
    };
    TrackedEntity {
        uid: uid.into(),
        tracked_entity_type: Some("nEenWmSyUEp".into()),
        org_unit: Some("DiszpKrYNg8".into()),
        created_at: Some("2026-01-01T00:00:00.000".into()),
        updated_at: Some(updated_at.into()),
        deleted: false,
        attributes: vec![
            value("FIRST_NAME", first),
            value("LAST_NAME", "Diop"),
            value("DATE_OF_BIRTH", "1990-04-12"),
            value("SEX", "FEMALE"),
            value("PHONE", "00221 77 123 45 67"),
            value("NATIONAL_ID", "1234567890123"),
            value("BENEFICIARY_ID", "BEN-0001"),
            value("HIV_STATUS", "POSITIVE"),
        ],
        enrollments: vec![Enrollment {
            uid: format!("E{}", &uid[1..]),
            program: PROGRAM.into(),
            tracked_entity: uid.into(),
            org_unit: Some("DiszpKrYNg8".into()),
            enrolled_at: Some("2026-02-03T10:00:00.000".into()),
            occurred_at: None,
            status: Some("ACTIVE".into()),
            updated_at: Some(updated_at.into()),
            deleted: false,
        }],
    }
}
