//! Resolution never merges a family: household members stay apart, and identities do not chain
//! (a record joins an identity only if it contradicts none of its members), on real SQLite files.
mod support;

use kadi::mpi::review;
use kadi::mpi::{mpi_id_for, resolve_pending};
use kadi::record::CardFields;
use kadi::store::Store;
use support::{open_store, put_card_record};

fn person(first: &str, dob: &str, sex: Option<&str>, nid: Option<&str>) -> CardFields {
    CardFields {
        first_name: Some(first.into()),
        last_name: Some("Traoré".into()),
        date_of_birth: Some(dob.into()),
        gender: sex.map(Into::into),
        phone_number: Some("+221770000001".into()),
        address: Some("137 Médina".into()),
        national_id: nid.map(Into::into),
        health_center: Some("Médina".into()),
        ..Default::default()
    }
}

fn put(store: &Store, uid: &str, f: CardFields) {
    put_card_record(store, uid, f)
}

fn open() -> (tempfile::TempDir, Store) {
    open_store()
}

fn id(store: &Store, uid: &str) -> String {
    mpi_id_for(store, uid).unwrap().unwrap()
}

/// A: Mamadou, male. B: the same Mamadou, sex not written. C: fits B (sex missing there) but is
/// female (or holds another national ID): it contradicts A.
fn chain(c_contradicts: &str) -> [(&'static str, CardFields); 3] {
    let a = person("Mamadou", "1984-07-02", Some("M"), Some("1234567890"));
    let b = person("Mamadou", "1984-07-02", None, None);
    let c = match c_contradicts {
        "sex" => person("Mamadou", "1984-07-02", Some("F"), None),
        _ => person("Mamadou", "1984-07-02", Some("M"), Some("9876543210")),
    };
    [("e1", a), ("e2", b), ("e3", c)]
}

fn assert_c_waits_for_a_person(store: &Store, reason: &str) {
    assert_eq!(id(store, "e1"), id(store, "e2"), "A and B are one person");
    assert_ne!(
        id(store, "e3"),
        id(store, "e1"),
        "C must not join through B"
    );
    let items = review::review_list(store).unwrap();
    let item = items
        .iter()
        .find(|i| i.record.enrollment_uid == "e3")
        .unwrap_or_else(|| panic!("C waits for a person: {items:?}"));
    let veto = item.explain["veto"].as_str().unwrap_or_default();
    assert!(
        veto.contains(&format!("{reason} with member e1")),
        "{}",
        item.explain
    );
    assert!(item.score < 0.95, "{}", item.score);
}

#[test]
fn a_record_that_fits_one_member_but_contradicts_another_does_not_join_in_one_pass() {
    for (what, reason) in [("sex", "sexes differ"), ("nid", "national IDs differ")] {
        let (_d, store) = open();
        for (u, f) in chain(what) {
            put(&store, u, f);
        }
        resolve_pending(&store).unwrap();
        assert_c_waits_for_a_person(&store, reason);
    }
}

#[test]
fn a_record_that_fits_one_member_but_contradicts_another_does_not_join_in_a_later_pass() {
    let (_d, store) = open();
    let [a, b, c] = chain("sex");
    put(&store, a.0, a.1);
    put(&store, b.0, b.1);
    resolve_pending(&store).unwrap();
    put(&store, c.0, c.1);
    resolve_pending(&store).unwrap();
    assert_c_waits_for_a_person(&store, "sexes differ");
}

#[test]
fn a_father_and_son_of_one_household_stay_two_identities_with_nothing_to_review() {
    let (_d, store) = open();
    put(&store, "e1", person("Demba", "1951-02-05", Some("M"), None));
    put(
        &store,
        "e2",
        person("Mamadou", "1984-07-02", Some("M"), None),
    );
    // The son registered again, his name respelled and a new phone.
    let mut again = person("Mamadu", "1984-07-02", Some("M"), None);
    again.phone_number = Some("+221781112233".into());
    put(&store, "e3", again);
    let report = resolve_pending(&store).unwrap();
    assert_ne!(id(&store, "e1"), id(&store, "e2"));
    assert_eq!(id(&store, "e2"), id(&store, "e3"), "{report:?}");
    let items = review::review_list(&store).unwrap();
    assert!(items.is_empty(), "{items:?}");
}

/// A father and his twin sons, one phone and one address: three people (three birth years)
/// hold them, so they are the household's, and between the twins they say nothing about who is
/// who (`docs/mpi.md`, Household and veto).
fn father_and_twins(store: &Store) {
    put(store, "e1", person("Demba", "1951-02-05", Some("M"), None));
    put(store, "e2", person("Assane", "1984-07-02", Some("M"), None));
    put(
        store,
        "e3",
        person("Ousseynou", "1984-07-02", Some("M"), None),
    );
}

#[test]
fn twins_of_a_household_of_several_people_are_two_identities_and_nobody_is_asked() {
    let (_d, store) = open();
    father_and_twins(&store);
    resolve_pending(&store).unwrap();
    assert_ne!(id(&store, "e2"), id(&store, "e3"));
    let items = review::review_list(&store).unwrap();
    assert!(items.is_empty(), "{items:?}");
}

#[test]
fn two_records_alone_sharing_a_phone_and_address_still_wait_for_a_person() {
    // No third person holds the phone or the address: it may be one person's own, and a
    // replaced first name with the same birth date is then worth a person's look.
    let (_d, store) = open();
    put(
        &store,
        "e2",
        person("Assane", "1984-07-02", Some("M"), None),
    );
    put(
        &store,
        "e3",
        person("Ousseynou", "1984-07-02", Some("M"), None),
    );
    resolve_pending(&store).unwrap();
    assert_ne!(id(&store, "e2"), id(&store, "e3"));
    let items = review::review_list(&store).unwrap();
    assert_eq!(items.len(), 1, "{items:?}");
    assert_eq!(items[0].explain["veto"], "first names differ");
}

#[test]
fn a_namesake_son_in_a_household_of_several_people_is_not_asked_about() {
    let (_d, store) = open();
    put(
        &store,
        "e1",
        person("Mamadou", "1959-03-10", Some("M"), None),
    );
    put(&store, "e2", person("Awa", "1962-05-01", Some("F"), None));
    put(
        &store,
        "e3",
        person("Mamadou", "1984-07-02", Some("M"), None),
    );
    resolve_pending(&store).unwrap();
    assert_ne!(id(&store, "e1"), id(&store, "e3"));
    let items = review::review_list(&store).unwrap();
    assert!(items.is_empty(), "{items:?}");
    // The son registered again, a slip in his name: still one person, in the same household.
    put(
        &store,
        "e4",
        person("Mamadu", "1984-07-02", Some("M"), None),
    );
    resolve_pending(&store).unwrap();
    assert_eq!(id(&store, "e3"), id(&store, "e4"));
    assert_ne!(id(&store, "e1"), id(&store, "e4"));
}

#[test]
fn a_twin_registered_without_a_birth_date_is_told_apart_by_the_rest_of_the_household() {
    // The father's birth year shows the phone and address are a household's even though one
    // twin's card has no date (that card adds no year of its own).
    let (_d, store) = open();
    put(&store, "e1", person("Demba", "1951-02-05", Some("M"), None));
    put(
        &store,
        "e2",
        person("Assane", "1984-07-02", Some("M"), None),
    );
    let mut undated = person("Ousseynou", "1984-07-02", Some("M"), None);
    undated.date_of_birth = None;
    put(&store, "e3", undated);
    resolve_pending(&store).unwrap();
    assert_ne!(id(&store, "e2"), id(&store, "e3"));
    let items = review::review_list(&store).unwrap();
    assert!(items.is_empty(), "{items:?}");
}
