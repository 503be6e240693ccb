//! Relearning safely: `kadi mpi recheck` on a real SQLite store through the built binary. A link
//! made automatically by an older scorer that the current one would not make is listed
//! (`--dry-run`, nothing changes) or queued for a person as a split item; nothing is unlinked
//! automatically, and resolution never changes a link already made.
mod support;

use kadi::mpi::{mpi_id_for, resolve_pending, LinkMethod, MpiState};
use kadi::record::CardFields;
use kadi::store::Store;
use rusqlite::Connection;
use std::path::Path;
use support::{open_store, put_card_record};

/// A man of one household (one family name, phone, address and clinic), born `dob`.
fn man(first: &str, dob: &str) -> CardFields {
    CardFields {
        first_name: Some(first.into()),
        last_name: Some("Traoré".into()),
        date_of_birth: Some(dob.into()),
        gender: Some("M".into()),
        phone_number: Some("+221770000001".into()),
        address: Some("137 Médina".into()),
        health_center: Some("Médina".into()),
        ..Default::default()
    }
}

/// A store where a father and his son were linked into one identity automatically (as an older,
/// household-blind scorer did), plus a correct identity of two records of one woman.
fn store_with_wrong_link() -> (tempfile::TempDir, Store) {
    let (dir, store) = open_store();
    put_card_record(&store, "father", man("Demba", "1951-02-05"));
    put_card_record(&store, "son", man("Mamadou", "1984-07-02"));
    let awa = CardFields {
        first_name: Some("Awa".into()),
        last_name: Some("Ndiaye".into()),
        date_of_birth: Some("1990-03-14".into()),
        gender: Some("F".into()),
        phone_number: Some("+221770000009".into()),
        ..Default::default()
    };
    put_card_record(&store, "awa1", awa.clone());
    put_card_record(&store, "awa2", awa);
    resolve_pending(&store).unwrap();
    assert_ne!(
        id(&store, "father"),
        id(&store, "son"),
        "today's scorer keeps them apart"
    );
    assert_eq!(id(&store, "awa1"), id(&store, "awa2"));
    // The old, wrong automatic link.
    let father = id(&store, "father");
    let son = id(&store, "son");
    store
        .mpi_set_link("son", &father, Some(0.961), LinkMethod::Auto)
        .unwrap();
    store.mpi_set_merged_into(&son, Some(&father)).unwrap();
    store.mpi_set_state("son", MpiState::Resolved).unwrap();
    (dir, store)
}

fn id(store: &Store, uid: &str) -> String {
    mpi_id_for(store, uid).unwrap().unwrap()
}

fn db(dir: &tempfile::TempDir) -> std::path::PathBuf {
    dir.path().join("kadi.db")
}

fn kadi_json(db: &Path, args: &[&str]) -> serde_json::Value {
    let out = support::run(db, args, None);
    support::assert_success(&out);
    support::parse_json(&args.join(" "), &out.stdout)
}

/// Rows of a query, each as text, for comparing states before and after.
fn rows(db: &Path, sql: &str) -> Vec<String> {
    let c = Connection::open(db).unwrap();
    let mut stmt = c.prepare(sql).unwrap();
    let n = stmt.column_count();
    stmt.query_map([], |r| {
        Ok((0..n)
            .map(|i| format!("{:?}", r.get::<_, rusqlite::types::Value>(i).unwrap()))
            .collect::<Vec<_>>()
            .join("|"))
    })
    .unwrap()
    .map(|r| r.unwrap())
    .collect()
}

fn state(db: &Path) -> Vec<Vec<String>> {
    [
        "SELECT * FROM mpi_identities ORDER BY mpi_id",
        "SELECT * FROM mpi_links ORDER BY enrollment_uid",
        "SELECT * FROM review_items ORDER BY id",
        "SELECT * FROM audit_log ORDER BY id",
        "SELECT enrollment_uid, mpi_state FROM card_records ORDER BY 1",
    ]
    .iter()
    .map(|sql| rows(db, sql))
    .collect()
}

fn split_items(db: &Path) -> serde_json::Value {
    let list = kadi_json(db, &["mpi", "review", "list", "--json"]);
    serde_json::Value::Array(
        list.as_array()
            .unwrap()
            .iter()
            .filter(|i| i["kind"] == "split")
            .cloned()
            .collect(),
    )
}

#[test]
fn recheck_dry_run_lists_a_wrong_automatic_link_and_changes_nothing() {
    let (dir, _store) = store_with_wrong_link();
    let db = db(&dir);
    let before = state(&db);
    let r = kadi_json(&db, &["mpi", "recheck", "--dry-run", "--json"]);
    assert_eq!(r["dry_run"], true);
    let flagged = r["flagged"].as_array().unwrap();
    assert_eq!(flagged.len(), 1, "{r}");
    assert_eq!(flagged[0]["enrollment"], "son");
    assert!(flagged[0]["score_now"].as_f64().unwrap() < 0.95, "{r}");
    let reason = flagged[0]["reason"].as_str().unwrap();
    assert!(reason.contains("birth dates 33 years apart"), "{reason}");
    assert!(flagged[0]["review_item"].is_null());
    assert_eq!(
        state(&db),
        before,
        "a dry run changes nothing, audit included"
    );
}

#[test]
fn recheck_queues_one_split_item_once_and_different_splits_with_an_audit_row() {
    let (dir, store) = store_with_wrong_link();
    let db = db(&dir);
    let r = kadi_json(&db, &["mpi", "recheck", "--json"]);
    assert_eq!(r["queued"], 1, "{r}");
    assert_eq!(
        id(&store, "son"),
        id(&store, "father"),
        "nothing unlinked automatically"
    );
    let again = kadi_json(&db, &["mpi", "recheck", "--json"]);
    assert_eq!(again["queued"], 0, "{again}");
    assert_eq!(again["flagged"][0]["already_queued"], true, "{again}");
    let items = split_items(&db);
    assert_eq!(items.as_array().unwrap().len(), 1, "{items}");
    let item = &items[0];
    assert_eq!(item["record"]["enrollment_uid"], "son");
    assert!(
        item["reasons"]["disagree"]
            .as_array()
            .unwrap()
            .contains(&"birth date".into()),
        "{item}"
    );
    let audited = rows(
        &db,
        "SELECT actor FROM audit_log WHERE action = 'mpi.recheck.queue'",
    );
    assert_eq!(audited, ["Text(\"cli\")"]);
    let item_id = item["id"].to_string();
    kadi_json(
        &db,
        &[
            "mpi",
            "review",
            "decide",
            &item_id,
            "--different",
            "--by",
            "awa",
            "--json",
        ],
    );
    assert_ne!(id(&store, "son"), id(&store, "father"), "split out");
    let decided = rows(
        &db,
        &format!("SELECT actor FROM audit_log WHERE action = 'mpi.review.decide' AND entity = 'review_item:{item_id}'"),
    );
    assert_eq!(decided, ["Text(\"awa\")"]);
    assert_eq!(
        rows(
            &db,
            "SELECT actor FROM audit_log WHERE action = 'mpi.split'"
        ),
        ["Text(\"awa\")"]
    );
    let after = kadi_json(&db, &["mpi", "recheck", "--json"]);
    assert_eq!(after["flagged"].as_array().unwrap().len(), 0, "{after}");
}

#[test]
fn deciding_same_on_a_split_item_keeps_the_link_and_it_is_not_queued_again() {
    let (dir, store) = store_with_wrong_link();
    let db = db(&dir);
    kadi_json(&db, &["mpi", "recheck", "--json"]);
    let item_id = split_items(&db)[0]["id"].to_string();
    kadi_json(
        &db,
        &[
            "mpi", "review", "decide", &item_id, "--same", "--by", "awa", "--json",
        ],
    );
    assert_eq!(
        id(&store, "son"),
        id(&store, "father"),
        "a person kept the link"
    );
    assert_eq!(
        store.mpi_link("son").unwrap().unwrap().method,
        LinkMethod::Human
    );
    let again = kadi_json(&db, &["mpi", "recheck", "--json"]);
    assert_eq!(again["queued"], 0, "{again}");
    assert_eq!(split_items(&db).as_array().unwrap().len(), 0);
    let decided = rows(
        &db,
        &format!("SELECT actor FROM audit_log WHERE action = 'mpi.review.decide' AND entity = 'review_item:{item_id}'"),
    );
    assert_eq!(decided, ["Text(\"awa\")"]);
}

#[test]
fn resolution_never_changes_a_link_already_made() {
    let (dir, store) = store_with_wrong_link();
    let db = db(&dir);
    let links = rows(&db, "SELECT * FROM mpi_links ORDER BY enrollment_uid");
    // Stricter settings and a new record of the same household: the old links stay as they are.
    store
        .set_setting("test", "mpi.link_threshold", "0.99")
        .unwrap();
    put_card_record(&store, "grandson", man("Demba", "2010-11-20"));
    resolve_pending(&store).unwrap();
    let mut after = rows(&db, "SELECT * FROM mpi_links ORDER BY enrollment_uid");
    after.retain(|r| !r.starts_with("Text(\"grandson\")"));
    assert_eq!(after, links);
}

#[test]
fn a_stricter_link_band_lists_links_under_it_without_touching_them() {
    let (dir, store) = store_with_wrong_link();
    let db = db(&dir);
    store
        .set_setting("test", "mpi.link_threshold", "1.0")
        .unwrap();
    let before = state(&db);
    let r = kadi_json(&db, &["mpi", "recheck", "--dry-run", "--json"]);
    let flagged = r["flagged"].as_array().unwrap();
    let awa = flagged
        .iter()
        .find(|f| f["enrollment"] == "awa2")
        .unwrap_or_else(|| panic!("{r}"));
    let reason = awa["reason"].as_str().unwrap();
    assert!(reason.contains("under the link band"), "{reason}");
    assert_eq!(flagged.len(), 2, "{r}");
    assert_eq!(state(&db), before);
}

/// Links `uid` automatically into `onto`'s identity, as an older scorer without today's rules
/// did: its own identity (if it had one) points there, its pending review items are gone.
fn force_auto_link(store: &Store, uid: &str, onto: &str) {
    let target = id(store, onto);
    let own = id(store, uid);
    store.mpi_delete_pending_reviews(uid).unwrap();
    store
        .mpi_set_link(uid, &target, Some(0.99), LinkMethod::Auto)
        .unwrap();
    if own != target {
        store.mpi_set_merged_into(&own, Some(&target)).unwrap();
    }
    store.mpi_set_state(uid, MpiState::Resolved).unwrap();
}

/// A member of the Diallo household (one phone, one address, one clinic).
fn diallo(first: &str, dob: &str, sex: &str) -> CardFields {
    CardFields {
        first_name: Some(first.into()),
        last_name: Some("Diallo".into()),
        date_of_birth: Some(dob.into()),
        gender: Some(sex.into()),
        phone_number: Some("+221770000042".into()),
        address: Some("12 Rue 5 Grand Yoff".into()),
        health_center: Some("Grand Yoff".into()),
        ..Default::default()
    }
}

fn links(db: &Path) -> Vec<String> {
    rows(db, "SELECT * FROM mpi_links ORDER BY enrollment_uid")
}

#[test]
fn recheck_applies_the_household_rule_the_resolver_applies() {
    // Twin brothers "Amadou" and "Mamadou" Diallo, one birth date, with their mother at the
    // household's phone and address; both given names are names in use in the store (other
    // families' records). The scorer alone puts the twins in the link band (one letter apart);
    // the resolver's household rule ("two given names in use") sends them to a person.
    let (dir, store) = open_store();
    put_card_record(&store, "mother", diallo("Mariama", "1968-04-02", "F"));
    put_card_record(&store, "twin1", diallo("Amadou", "2001-09-17", "M"));
    put_card_record(&store, "twin2", diallo("Mamadou", "2001-09-17", "M"));
    for (i, (first, last)) in [
        ("Amadou", "Sow"),
        ("Amadou", "Ba"),
        ("Amadou", "Faye"),
        ("Mamadou", "Ndiaye"),
        ("Mamadou", "Gueye"),
        ("Mamadou", "Sarr"),
    ]
    .into_iter()
    .enumerate()
    {
        let other = CardFields {
            first_name: Some(first.into()),
            last_name: Some(last.into()),
            date_of_birth: Some(format!("19{}-0{}-1{i}", 50 + 4 * i, 1 + i)),
            gender: Some("M".into()),
            phone_number: Some(format!("+22177100{i:04}")),
            ..Default::default()
        };
        put_card_record(&store, &format!("other{i}"), other);
    }
    let [twin1, twin2] = [
        diallo("Amadou", "2001-09-17", "M"),
        diallo("Mamadou", "2001-09-17", "M"),
    ]
    .map(|f| serde_json::to_string(&f).unwrap());
    let scored = kadi_sqlext::mpi::score_json(&twin1, &twin2).unwrap();
    assert!(scored >= 0.95, "the scorer alone would link them: {scored}");
    resolve_pending(&store).unwrap();
    assert_ne!(
        id(&store, "twin1"),
        id(&store, "twin2"),
        "today's resolver waits"
    );
    force_auto_link(&store, "twin2", "twin1");
    let db = db(&dir);
    let before = state(&db);
    let r = kadi_json(&db, &["mpi", "recheck", "--dry-run", "--json"]);
    let flagged = r["flagged"].as_array().unwrap();
    assert_eq!(flagged.len(), 1, "{r}");
    assert_eq!(flagged[0]["enrollment"], "twin2");
    let reason = flagged[0]["reason"].as_str().unwrap();
    assert!(reason.contains("two given names in use"), "{reason}");
    assert_eq!(state(&db), before, "a dry run changes nothing");
    let linked = links(&db);
    let r = kadi_json(&db, &["mpi", "recheck", "--json"]);
    assert_eq!(r["queued"], 1, "{r}");
    assert_eq!(links(&db), linked, "nothing linked or unlinked silently");
    let items = split_items(&db);
    assert_eq!(items.as_array().unwrap().len(), 1, "{items}");
    assert_eq!(items[0]["record"]["enrollment_uid"], "twin2");
}

#[test]
fn recheck_flags_a_record_that_merged_two_people() {
    // Two women of one name, birth date and phone holding two national IDs (two people), and a
    // card without an ID that looks like both. An older resolver let that card merge them;
    // today's resolver sends it to a person ("fits two identities that are two people").
    let (dir, store) = open_store();
    let awa = |nid: Option<&str>| CardFields {
        first_name: Some("Awa".into()),
        last_name: Some("Ndiaye".into()),
        date_of_birth: Some("1990-03-14".into()),
        gender: Some("F".into()),
        phone_number: Some("+221770000009".into()),
        national_id: nid.map(str::to_string),
        ..Default::default()
    };
    put_card_record(&store, "awa_a", awa(Some("1751199000123")));
    put_card_record(&store, "awa_b", awa(Some("2860457000981")));
    put_card_record(&store, "card", awa(None));
    resolve_pending(&store).unwrap();
    let ids: Vec<String> = ["awa_a", "awa_b", "card"].map(|u| id(&store, u)).into();
    assert_ne!(ids[0], ids[1], "two IDs: two people");
    assert!(
        ids[2] != ids[0] && ids[2] != ids[1],
        "today's resolver joins the card to neither"
    );
    force_auto_link(&store, "card", "awa_a");
    force_auto_link(&store, "awa_b", "awa_a");
    let db = db(&dir);
    let r = kadi_json(&db, &["mpi", "recheck", "--dry-run", "--json"]);
    let flagged = r["flagged"].as_array().unwrap();
    let reason = |uid: &str| {
        flagged
            .iter()
            .find(|f| f["enrollment"] == uid)
            .and_then(|f| f["reason"].as_str())
            .unwrap_or_else(|| panic!("{uid} not listed: {r}"))
            .to_string()
    };
    assert!(
        reason("card").contains("fits two identities that are two people"),
        "{r}"
    );
    assert!(
        reason("awa_b").contains("national IDs differ with member awa_a"),
        "{r}"
    );
    let linked = links(&db);
    let r = kadi_json(&db, &["mpi", "recheck", "--json"]);
    assert_eq!(r["queued"], 2, "{r}");
    assert_eq!(links(&db), linked, "nothing linked or unlinked silently");
}
