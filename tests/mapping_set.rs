//! `kadi map set` as a library call on a real SQLite file: resolution by code, display name and
//! UID, clear errors, the guardrail, type checks, and re-deriving existing card records.
mod support;

use kadi::demo::demo_mapping;
use kadi::mapping::{set_mapping, show_mapping, AssignCodesBody, AttributeMapping};
use support::*;

fn line(code: &str, field: &str) -> AttributeMapping {
    AttributeMapping {
        dhis2_attribute_code: Some(code.into()),
        card_field: field.into(),
        ..Default::default()
    }
}

fn body(mappings: Vec<AttributeMapping>) -> AssignCodesBody {
    AssignCodesBody {
        programme_uid: PROGRAM.into(),
        mappings,
        zone_level: None,
    }
}

/// Stores one tracked entity the way sync does (sensitive values already dropped).
fn store_entity(store: &kadi::store::Store, te: &kadi::dhis2::model::TrackedEntity) {
    let kept: Vec<(&str, &str, Option<&str>)> = te
        .attributes
        .iter()
        .filter(|a| a.code.as_deref() != Some("HIV_STATUS"))
        .map(|a| (a.attribute.as_str(), a.value.as_str(), None))
        .collect();
    store
        .write_tracked_entity(PROGRAM, &kadi::sync::entity_row(te), &kept)
        .unwrap();
}

#[test]
fn the_demo_mapping_maps_every_attribute_card_field_and_derives_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_with_metadata(dir.path());
    store_entity(
        &store,
        &tracked_entity("Tabcdefghij", "Awa", "2026-03-01T00:00:00.000"),
    );
    let r = set_mapping(&store, &kadi::actor::Actor::Cli, &demo_mapping()).unwrap();
    assert_eq!(r.programme_uid, PROGRAM);
    assert_eq!(r.mappings_configured, 7);
    assert!(
        r.unmapped_card_fields.is_empty(),
        "{:?}",
        r.unmapped_card_fields
    );
    assert_eq!(r.records_remapped, 1);
    let card = store
        .card_record("Eabcdefghij")
        .unwrap()
        .unwrap()
        .record
        .fields;
    assert_eq!(card.first_name.as_deref(), Some("Awa"));
    assert_eq!(card.gender.as_deref(), Some("F"));
    assert_eq!(card.date_of_birth.as_deref(), Some("1990-04-12"));
    // DHIS2 holds "00221 77 123 45 67": the card has it in E.164.
    assert_eq!(card.phone_number.as_deref(), Some("+221771234567"));
    assert_eq!(card.national_id.as_deref(), Some("1234567890123"));
    assert_eq!(
        card.health_center.as_deref(),
        Some("Centre de santé Thiaroye")
    );
    assert_eq!(card.org_unit.as_deref(), Some("DiszpKrYNg8"));
    assert_eq!(card.enrollment_date.as_deref(), Some("2026-02-03"));
    assert_eq!(
        card.zone.as_deref(),
        Some("Pikine"),
        "zone defaults to the district level"
    );
    let audited = store.count("audit_log").unwrap();
    assert!(audited >= 1, "map set is audited");
}

#[test]
fn remapping_re_derives_existing_card_records() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_with_metadata(dir.path());
    store_entity(
        &store,
        &tracked_entity("Tabcdefghij", "Awa", "2026-03-01T00:00:00.000"),
    );
    set_mapping(&store, &kadi::actor::Actor::Cli, &demo_mapping()).unwrap();
    // Swap first and last name, and use the region as zone.
    let mut b = body(vec![
        line("FIRST_NAME", "last_name"),
        line("LAST_NAME", "first_name"),
    ]);
    b.zone_level = Some(2);
    let r = set_mapping(&store, &kadi::actor::Actor::Cli, &b).unwrap();
    assert_eq!(r.records_remapped, 1);
    assert_eq!(
        r.unmapped_card_fields,
        vec!["date_of_birth", "gender", "beneficiary_id", "phone_number"]
    );
    let card = store
        .card_record("Eabcdefghij")
        .unwrap()
        .unwrap()
        .record
        .fields;
    assert_eq!(card.first_name.as_deref(), Some("Diop"));
    assert_eq!(card.last_name.as_deref(), Some("Awa"));
    assert_eq!(card.gender, None);
    assert_eq!(card.zone.as_deref(), Some("Dakar"));
}

#[test]
fn attributes_resolve_by_display_name_and_uid_too() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_with_metadata(dir.path());
    let b = body(vec![
        AttributeMapping {
            dhis2_attribute_display_name: Some("first name".into()),
            card_field: "first_name".into(),
            ..Default::default()
        },
        AttributeMapping {
            dhis2_attribute_uid: Some("zDhUuAYrxNC".into()),
            card_field: "last_name".into(),
            ..Default::default()
        },
    ]);
    set_mapping(&store, &kadi::actor::Actor::Cli, &b).unwrap();
    let shown = show_mapping(&store, PROGRAM).unwrap();
    let by = |f: &str| {
        shown
            .mappings
            .iter()
            .find(|m| m.card_field == f)
            .unwrap()
            .matched_by
            .clone()
    };
    assert_eq!(by("first_name"), "display_name");
    assert_eq!(by("last_name"), "uid");
    assert_eq!(by("zone"), "org_unit");
    assert!(shown.unmapped_card_fields.contains(&"gender".to_string()));
    assert_eq!(shown.sensitive_attributes, vec!["HIV_STATUS"]);
}

#[test]
fn an_unknown_attribute_code_is_a_clear_error_listing_known_codes() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_with_metadata(dir.path());
    let err = format!(
        "{:#}",
        set_mapping(
            &store,
            &kadi::actor::Actor::Cli,
            &body(vec![line("PRENOM", "first_name")])
        )
        .unwrap_err()
    );
    assert!(
        err.contains("unknown DHIS2 attribute code 'PRENOM'"),
        "{err}"
    );
    assert!(err.contains("FIRST_NAME"), "{err}");
    assert_eq!(
        store.mapping_rows(PROGRAM).unwrap().len(),
        0,
        "nothing stored on error"
    );
}

#[test]
fn an_unknown_card_field_is_a_clear_error_listing_card_fields() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_with_metadata(dir.path());
    let err = format!(
        "{:#}",
        set_mapping(
            &store,
            &kadi::actor::Actor::Cli,
            &body(vec![line("FIRST_NAME", "prenom")])
        )
        .unwrap_err()
    );
    assert!(err.contains("unknown card field 'prenom'"), "{err}");
    assert!(
        err.contains("first_name") && err.contains("national_id"),
        "{err}"
    );
}

#[test]
fn a_sensitive_attribute_can_never_be_mapped() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_with_metadata(dir.path());
    let err = format!(
        "{:#}",
        set_mapping(
            &store,
            &kadi::actor::Actor::Cli,
            &body(vec![line("HIV_STATUS", "beneficiary_id")])
        )
        .unwrap_err()
    );
    assert!(err.contains("sensitive"), "{err}");
    assert!(!err.contains("POSITIVE"));
}

#[test]
fn a_value_type_that_cannot_feed_the_card_field_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_with_metadata(dir.path());
    let err = format!(
        "{:#}",
        set_mapping(
            &store,
            &kadi::actor::Actor::Cli,
            &body(vec![line("FIRST_NAME", "date_of_birth")])
        )
        .unwrap_err()
    );
    assert!(
        err.contains("value type TEXT") && err.contains("DATE or AGE"),
        "{err}"
    );
    let err = format!(
        "{:#}",
        set_mapping(
            &store,
            &kadi::actor::Actor::Cli,
            &body(vec![line("DATE_OF_BIRTH", "phone_number")])
        )
        .unwrap_err()
    );
    assert!(err.contains("PHONE_NUMBER or TEXT"), "{err}");
}

#[test]
fn a_card_field_mapped_twice_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_with_metadata(dir.path());
    let err = format!(
        "{:#}",
        set_mapping(
            &store,
            &kadi::actor::Actor::Cli,
            &body(vec![
                line("FIRST_NAME", "first_name"),
                line("LAST_NAME", "first_name")
            ])
        )
        .unwrap_err()
    );
    assert!(err.contains("mapped twice"), "{err}");
}

#[test]
fn sex_option_codes_get_a_default_value_map() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_with_metadata(dir.path());
    store_entity(
        &store,
        &tracked_entity("Tabcdefghij", "Awa", "2026-03-01T00:00:00.000"),
    );
    set_mapping(
        &store,
        &kadi::actor::Actor::Cli,
        &body(vec![line("SEX", "gender")]),
    )
    .unwrap();
    let shown = show_mapping(&store, PROGRAM).unwrap();
    let map = shown
        .mappings
        .iter()
        .find(|m| m.card_field == "gender")
        .unwrap()
        .value_map
        .clone()
        .unwrap();
    assert_eq!(map.get("MALE").map(String::as_str), Some("M"));
    assert_eq!(map.get("FEMALE").map(String::as_str), Some("F"));
    let card = store
        .card_record("Eabcdefghij")
        .unwrap()
        .unwrap()
        .record
        .fields;
    assert_eq!(card.gender.as_deref(), Some("F"));
}

/// The tracked entity of `support` with another phone value.
fn entity_with_phone(uid: &str, phone: &str) -> kadi::dhis2::model::TrackedEntity {
    let mut te = tracked_entity(uid, "Awa", "2026-03-01T00:00:00.000");
    for a in &mut te.attributes {
        if a.code.as_deref() == Some("PHONE") {
            a.value = phone.into();
        }
    }
    te
}

fn card_phone(store: &kadi::store::Store, enrollment: &str) -> Option<String> {
    store
        .card_record(enrollment)
        .unwrap()
        .unwrap()
        .record
        .fields
        .phone_number
}

#[test]
fn phones_are_stored_e164_with_the_configured_country_code_or_kept_as_typed() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_with_metadata(dir.path());
    for (uid, phone) in [
        ("Taaaaaaaaaa", "77-123-45-67"),
        ("Tbbbbbbbbbb", "+221 76 000 11 22"),
        ("Tcccccccccc", "06 12 34 56 78"),
        ("Tdddddddddd", "pas de numéro"),
    ] {
        store_entity(&store, &entity_with_phone(uid, phone));
    }
    set_mapping(&store, &kadi::actor::Actor::Cli, &demo_mapping()).unwrap();
    assert_eq!(kadi::mapping::phone_country_code(&store).unwrap(), "221");
    assert_eq!(
        card_phone(&store, "Eaaaaaaaaaa").as_deref(),
        Some("+221771234567")
    );
    assert_eq!(
        card_phone(&store, "Ebbbbbbbbbb").as_deref(),
        Some("+221760001122")
    );
    assert_eq!(
        card_phone(&store, "Ecccccccccc").as_deref(),
        Some("+221612345678")
    );
    assert_eq!(
        card_phone(&store, "Edddddddddd").as_deref(),
        Some("pas de numéro")
    );

    // Another country: numbers without a code follow, numbers with one keep theirs.
    assert_eq!(
        kadi::mapping::set_phone_country_code(
            &store,
            &kadi::actor::Actor::Staff("test".into()),
            "+33"
        )
        .unwrap(),
        "33"
    );
    let r = set_mapping(&store, &kadi::actor::Actor::Cli, &demo_mapping()).unwrap();
    assert_eq!(r.records_remapped, 2, "the two national numbers changed");
    assert_eq!(
        card_phone(&store, "Ecccccccccc").as_deref(),
        Some("+33612345678")
    );
    assert_eq!(
        card_phone(&store, "Ebbbbbbbbbb").as_deref(),
        Some("+221760001122")
    );
    assert_eq!(
        show_mapping(&store, PROGRAM).unwrap().phone_country_code,
        "33"
    );

    let err = kadi::mapping::set_phone_country_code(
        &store,
        &kadi::actor::Actor::Staff("test".into()),
        "Senegal",
    )
    .unwrap_err();
    assert!(err.to_string().contains("country calling code"), "{err}");
    store
        .set_setting("test", "mapping.phone_country_code", "Senegal")
        .unwrap();
    let err = format!(
        "{:#}",
        set_mapping(&store, &kadi::actor::Actor::Cli, &demo_mapping()).unwrap_err()
    );
    assert!(err.contains("mapping.phone_country_code"), "{err}");
}

#[test]
fn map_set_takes_the_phone_country_code_on_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_with_metadata(dir.path());
    store_entity(&store, &entity_with_phone("Taaaaaaaaaa", "06 12 34 56 78"));
    let db = store.path().to_path_buf();
    let (ok, out, err) = kadi(
        &db,
        &[
            "map",
            "set",
            "--program",
            PROGRAM,
            "--demo",
            "--phone-country-code",
            "00 33",
            "--json",
        ],
        None,
    );
    assert!(!ok && err.contains("country calling code"), "{out} {err}");
    let (ok, out, err) = kadi(
        &db,
        &[
            "map",
            "set",
            "--program",
            PROGRAM,
            "--demo",
            "--phone-country-code",
            "+33",
            "--json",
        ],
        None,
    );
    assert!(ok, "{out} {err}");
    assert_eq!(
        card_phone(&store, "Eaaaaaaaaaa").as_deref(),
        Some("+33612345678")
    );
    let (ok, out, _) = kadi(&db, &["map", "show", "--program", PROGRAM, "--json"], None);
    assert!(ok, "{out}");
    let shown: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(shown["phone_country_code"], "33", "{out}");
}
