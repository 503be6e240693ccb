//! Fixtures of the sync and mapping tests: a real SQLite store holding the simulator's program
//! metadata and org units, tracked entities shaped like the simulator's, the in-process simulator
//! and dumps to compare a box with it.
use kadi::dhis2::model::{
    AttributeValue, Enrollment, OptionItem, OptionSet, OrgUnit, Program, ProgramAttribute,
    TrackedEntity,
};
use kadi::store::Store;

use super::{kadi, PROGRAM};

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
        .upsert_program(&kadi::sync::program_row(&p, &|i| {
            p.attributes[i].code.as_deref() == Some("HIV_STATUS")
        }))
        .unwrap();
    let levels = vec![
        (1, "Country".into()),
        (2, "Region".into()),
        (3, "District".into()),
        (4, "Health Center".into()),
    ];
    store
        .upsert_org_units(&kadi::sync::org_unit_rows(&org_units()), &levels)
        .unwrap();
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

/// Starts the simulator imitating `version` with `records` beneficiaries.
pub fn sim(version: &str, records: usize) -> kadi::sim::SimHandle {
    kadi::sim::start(kadi::sim::SimConfig {
        version: version.into(),
        records,
        seed: 7,
        ..Default::default()
    })
    .unwrap()
}

/// Stores the simulator's connection (basic auth) in the database at `db`.
pub fn connect(store: &Store, sim: &kadi::sim::SimHandle) {
    let auth = kadi::dhis2::Auth::Basic {
        username: "admin".into(),
        password: "district".into(),
    };
    kadi::link::save_connection(
        store,
        &kadi::actor::Actor::Staff("test".into()),
        &sim.base_url,
        &auth,
    )
    .unwrap();
}

/// A store at `dir/kadi.db` connected to `sim` with the demo mapping (pulls metadata).
pub fn mapped_sim_store(dir: &std::path::Path, sim: &kadi::sim::SimHandle) -> Store {
    let store = Store::open(&dir.join("kadi.db")).unwrap();
    connect(&store, sim);
    kadi::jobs::map_program(
        &store,
        &kadi::actor::Actor::Cli,
        &kadi::demo::demo_mapping(),
    )
    .unwrap();
    store
}

/// What a complete sync must leave in the store, as sorted lines (no timestamps of the box):
/// live tracked entities with `updatedAt`, their attribute values, enrollments and card fields.
pub fn dump(db: &std::path::Path) -> Vec<String> {
    let c = rusqlite::Connection::open(db).unwrap();
    let mut out = Vec::new();
    for sql in [
        "SELECT 'te ' || uid || ' ' || ifnull(org_unit_uid,'') || ' ' || ifnull(server_updated_at,'') FROM tracked_entities WHERE deleted = 0",
        "SELECT 'av ' || a.tracked_entity_uid || ' ' || a.attribute_uid || ' ' || a.value FROM attribute_values a JOIN tracked_entities t ON t.uid = a.tracked_entity_uid WHERE t.deleted = 0",
        "SELECT 'en ' || uid || ' ' || tracked_entity_uid || ' ' || ifnull(org_unit_uid,'') || ' ' || ifnull(enrolled_at,'') FROM enrollments WHERE deleted = 0",
        "SELECT 'card ' || enrollment_uid || ' ' || fields_json FROM card_records",
    ] {
        let mut stmt = c.prepare(sql).unwrap();
        let rows = stmt.query_map([], |r| r.get::<_, String>(0)).unwrap();
        out.extend(rows.map(|r| r.unwrap()));
    }
    out.sort();
    out
}

/// The simulator's live records as the same kind of lines (tracked entities and values only).
pub fn sim_lines(sim: &kadi::sim::SimHandle) -> Vec<String> {
    record_lines(sim.snapshot())
}

/// Live records (of the simulator or the in-process fake) as `te`/`av` lines, what
/// `entity_lines(dump(..))` must equal after a sync; the guardrail's HIV status is left out.
pub fn record_lines(records: Vec<TrackedEntity>) -> Vec<String> {
    let mut out = Vec::new();
    for te in records.into_iter().filter(|t| !t.deleted) {
        out.push(format!(
            "te {} {} {}",
            te.uid,
            te.org_unit.clone().unwrap_or_default(),
            te.updated_at.clone().unwrap_or_default()
        ));
        for a in te
            .attributes
            .iter()
            .filter(|a| a.code.as_deref() != Some("HIV_STATUS"))
        {
            out.push(format!("av {} {} {}", te.uid, a.attribute, a.value));
        }
    }
    out.sort();
    out
}

/// A fresh store in a temporary directory (kept alive by the returned guard).
pub fn open_store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("kadi.db")).unwrap();
    (dir, store)
}

/// Stores one card record of the demo program as sync would (`uid` its enrollment).
pub fn put_card_record(store: &Store, uid: &str, fields: kadi::record::CardFields) {
    store
        .upsert_card_record(&kadi::record::CardRecord {
            enrollment_uid: uid.into(),
            tracked_entity_uid: format!("te-{uid}"),
            program_uid: PROGRAM.into(),
            fields,
        })
        .unwrap();
}

/// Only the `te` and `av` lines of a dump.
pub fn entity_lines(dump: &[String]) -> Vec<String> {
    dump.iter()
        .filter(|l| l.starts_with("te ") || l.starts_with("av "))
        .cloned()
        .collect()
}

/// Configures the simulator connection through `kadi dhis2 config` (password on stdin).
pub fn cli_connect(db: &std::path::Path, sim: &kadi::sim::SimHandle) {
    let (ok, out, err) = kadi(
        db,
        &[
            "dhis2",
            "config",
            "--url",
            &sim.base_url,
            "--username",
            "admin",
            "--password-stdin",
            "--json",
        ],
        Some("district\n"),
    );
    assert!(ok, "dhis2 config failed: {out} {err}");
}
