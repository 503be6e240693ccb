//! Identity resolution on real SQLite files: bands, transitivity, order independence, review
//! decisions and their memory, merge/unmerge round trips, audit trail.
mod support;

use kadi::actor::Actor;
use kadi::mpi::review::{self, Decision};
use kadi::mpi::{id::is_valid_mpi_id, mpi_id_for, resolve_pending, ResolveReport, ReviewStatus};
use kadi::record::CardFields;
use kadi::store::Store;
use std::collections::{BTreeMap, BTreeSet};
use support::{open_store, put_card_record};

/// A staff member deciding on the page.
fn staff(name: &str) -> Actor {
    Actor::Staff(name.to_string())
}

fn fields(first: &str, last: &str, dob: &str, phone: &str) -> CardFields {
    CardFields {
        first_name: Some(first.into()),
        last_name: Some(last.into()),
        date_of_birth: Some(dob.into()),
        gender: Some("F".into()),
        phone_number: (!phone.is_empty()).then(|| phone.into()),
        health_center: Some("Pikine".into()),
        ..Default::default()
    }
}

fn put(store: &Store, uid: &str, f: CardFields) {
    put_card_record(store, uid, f)
}

fn open() -> (tempfile::TempDir, Store) {
    open_store()
}

/// The people of the tests: three records of Aminata (typos), a twin, a stranger.
fn people() -> Vec<(&'static str, CardFields)> {
    vec![
        (
            "e1",
            fields("Aminata", "Diallo", "1990-03-12", "+221771234567"),
        ),
        (
            "e2",
            fields("Aminatta", "Diallo", "1990-03-12", "771234567"),
        ),
        (
            "e3",
            fields("Aminata", "Dialo", "1990-12-03", "+221771234567"),
        ),
        (
            "e4",
            fields("Fatou", "Diallo", "1990-03-12", "+221771234567"),
        ),
        ("e5", fields("Khady", "Sarr", "1975-06-30", "+221700000000")),
    ]
}

fn partition(store: &Store, uids: &[&str]) -> Identities {
    let mut by_id: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for u in uids {
        by_id
            .entry(mpi_id_for(store, u).unwrap().unwrap())
            .or_default()
            .insert(u.to_string());
    }
    by_id.into_values().collect()
}

/// Stores the people of [`people`] at these indices, in this order.
fn put_people(store: &Store, order: &[usize]) {
    let p = people();
    for &i in order {
        put(store, p[i].0, p[i].1.clone());
    }
}

/// IDs of the pending review items, oldest first.
fn pending_ids(store: &Store) -> Vec<i64> {
    review::review_list(store)
        .unwrap()
        .iter()
        .map(|i| i.id)
        .collect()
}

#[test]
fn duplicates_link_twins_go_to_review_and_strangers_get_their_own_identity() {
    let (_d, store) = open();
    for (u, f) in people() {
        put(&store, u, f);
    }
    let report = resolve_pending(&store).unwrap();
    assert_eq!(report.resolved, 2, "{report:?}");
    assert_eq!(report.created, 3, "{report:?}");
    let a = mpi_id_for(&store, "e1").unwrap().unwrap();
    assert!(is_valid_mpi_id(&a), "{a}");
    assert_eq!(
        mpi_id_for(&store, "e2").unwrap().as_deref(),
        Some(a.as_str())
    );
    assert_eq!(
        mpi_id_for(&store, "e3").unwrap().as_deref(),
        Some(a.as_str())
    );
    assert_ne!(
        mpi_id_for(&store, "e4").unwrap().as_deref(),
        Some(a.as_str())
    );
    assert_ne!(
        mpi_id_for(&store, "e5").unwrap().as_deref(),
        Some(a.as_str())
    );
    let items = review::review_list(&store).unwrap();
    assert_eq!(items.len(), 1, "{items:?}");
    assert_eq!(items[0].record.enrollment_uid, "e4");
    assert_eq!(
        items[0].explain["fields"]["first_name"]["level"],
        "disagree"
    );
    // The record asked about waits in review; every other one is resolved.
    let states: Vec<(String, String)> = rusqlite::Connection::open(store.path())
        .unwrap()
        .prepare("SELECT enrollment_uid, mpi_state FROM card_records ORDER BY enrollment_uid")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let expected: Vec<(String, String)> = ["e1", "e2", "e3", "e4", "e5"]
        .iter()
        .map(|u| {
            (
                u.to_string(),
                if *u == "e4" { "review" } else { "resolved" }.to_string(),
            )
        })
        .collect();
    assert_eq!(states, expected);
    // Resolving again does nothing: the pass is idempotent.
    assert_eq!(resolve_pending(&store).unwrap().comparisons, 0);
}

#[test]
fn the_same_records_in_any_order_end_in_the_same_identities() {
    let uids: Vec<&str> = people().iter().map(|p| p.0).collect();
    let mut seen = BTreeSet::new();
    // Enrollment UIDs fix the pass order, so rename them to change the arrival order.
    for order in [
        [0, 1, 2, 3, 4],
        [4, 3, 2, 1, 0],
        [2, 0, 4, 1, 3],
        [3, 2, 1, 4, 0],
    ] {
        let (_d, store) = open();
        let mut names = BTreeMap::new();
        for (rank, &i) in order.iter().enumerate() {
            let (u, f) = people()[i].clone();
            let renamed = format!("r{rank}-{u}");
            put(&store, &renamed, f);
            names.insert(renamed, u);
        }
        resolve_pending(&store).unwrap();
        let renamed: Vec<&str> = names.keys().map(|s| s.as_str()).collect();
        let p: BTreeSet<BTreeSet<String>> = partition(&store, &renamed)
            .into_iter()
            .map(|set| set.into_iter().map(|r| names[&r].to_string()).collect())
            .collect();
        seen.insert(p);
    }
    assert_eq!(seen.len(), 1, "partitions differ by order: {seen:?}");
    assert_eq!(uids.len(), 5);
}

#[test]
fn a_record_linking_two_identities_merges_them_and_both_ids_stay_resolvable() {
    let (_d, store) = open();
    // Two records too different to link directly (no date, other phone), and a bridge that
    // links to each: the bridge proves they are one person.
    put(
        &store,
        "a",
        fields("Aminata", "Diallo", "1990-03-12", "+221771234567"),
    );
    let mut no_date = fields("Aminata", "Diallo", "", "+221765555555");
    no_date.date_of_birth = None;
    put(&store, "b", no_date);
    resolve_pending(&store).unwrap();
    let (ida, idb) = (
        mpi_id_for(&store, "a").unwrap().unwrap(),
        mpi_id_for(&store, "b").unwrap().unwrap(),
    );
    assert_ne!(ida, idb, "not linked directly");
    put(
        &store,
        "c",
        fields("Aminata", "Diallo", "1990-03-12", "+221765555555"),
    );
    let r = resolve_pending(&store).unwrap();
    assert_eq!(
        mpi_id_for(&store, "a").unwrap(),
        mpi_id_for(&store, "b").unwrap(),
        "{r:?}"
    );
    let survivor = mpi_id_for(&store, "a").unwrap().unwrap();
    assert_eq!(kadi::mpi::current_mpi_id(&store, &ida).unwrap(), survivor);
    assert_eq!(kadi::mpi::current_mpi_id(&store, &idb).unwrap(), survivor);
}

#[test]
fn a_pair_decided_different_is_never_proposed_again() {
    let (_d, store) = open();
    for (u, f) in people() {
        put(&store, u, f);
    }
    resolve_pending(&store).unwrap();
    let item = review::review_list(&store).unwrap().remove(0);
    review::review_decide(&store, item.id, Decision::Different, &staff("awa.staff")).unwrap();
    assert!(review::review_list(&store).unwrap().is_empty());
    // The twin's record changes (new phone format): it is resolved again, and not proposed again.
    let mut twin = people()[3].1.clone();
    twin.phone_number = Some("77 123 45 67".into());
    put(&store, "e4", twin);
    resolve_pending(&store).unwrap();
    let again = review::review_list(&store).unwrap();
    assert!(
        again.iter().all(|i| !(i.record.enrollment_uid == "e4"
            && i.candidate.enrollment_uid == item.candidate.enrollment_uid)),
        "{again:?}"
    );
    assert!(
        review::review_decide(&store, item.id, Decision::Same, &staff("awa.staff")).is_err(),
        "a decided item cannot be decided twice"
    );
    assert!(store.count("audit_log").unwrap() > 0);
}

#[test]
fn deciding_same_merges_the_two_identities_and_is_audited() {
    let (_d, store) = open();
    for (u, f) in people() {
        put(&store, u, f);
    }
    resolve_pending(&store).unwrap();
    let item = review::review_list(&store).unwrap().remove(0);
    let before = store.count("audit_log").unwrap();
    review::review_decide(&store, item.id, Decision::Same, &staff("awa.staff")).unwrap();
    assert_eq!(
        mpi_id_for(&store, "e4").unwrap(),
        mpi_id_for(&store, "e1").unwrap()
    );
    assert_eq!(store.mpi_link("e4").unwrap().unwrap().method, "human");
    assert!(
        store.count("audit_log").unwrap() >= before + 2,
        "merge and decision are both audited"
    );
    assert!(review::review_decide(&store, 999, Decision::Same, &staff("awa.staff")).is_err());
}

#[test]
fn merge_then_unmerge_restores_both_identities_exactly() {
    let (_d, store) = open();
    for (u, f) in people() {
        put(&store, u, f);
    }
    resolve_pending(&store).unwrap();
    let uids = ["e1", "e2", "e3", "e4", "e5"];
    let before = partition(&store, &uids);
    let a = mpi_id_for(&store, "e1").unwrap().unwrap();
    let b = mpi_id_for(&store, "e5").unwrap().unwrap();
    review::merge(&store, &a, &b, &staff("admin")).unwrap();
    assert_eq!(
        mpi_id_for(&store, "e5").unwrap().as_deref(),
        Some(a.as_str())
    );
    assert_eq!(
        kadi::mpi::current_mpi_id(&store, &b).unwrap(),
        a,
        "the old ID points to the survivor"
    );
    review::unmerge(&store, &b, &staff("admin")).unwrap();
    assert_eq!(partition(&store, &uids), before);
    assert_eq!(
        mpi_id_for(&store, "e5").unwrap().as_deref(),
        Some(b.as_str())
    );
    assert!(
        review::unmerge(&store, &b, &staff("admin")).is_err(),
        "nothing left to unmerge"
    );
}

#[test]
fn unlink_and_link_move_one_record_and_golden_records_follow_survivorship() {
    let (_d, store) = open();
    for (u, f) in people() {
        put(&store, u, f);
    }
    resolve_pending(&store).unwrap();
    let a = mpi_id_for(&store, "e1").unwrap().unwrap();
    let golden: CardFields =
        serde_json::from_str(&store.mpi_identity(&a).unwrap().unwrap().golden_json).unwrap();
    assert_eq!(
        golden.first_name.as_deref(),
        Some("Aminata"),
        "most frequent value wins"
    );
    assert_eq!(golden.last_name.as_deref(), Some("Diallo"));
    let own = review::unlink(&store, "e3", &staff("admin")).unwrap();
    assert_ne!(own, a);
    assert_eq!(
        mpi_id_for(&store, "e3").unwrap().as_deref(),
        Some(own.as_str())
    );
    review::link(&store, "e3", &a, &staff("admin")).unwrap();
    assert_eq!(
        mpi_id_for(&store, "e3").unwrap().as_deref(),
        Some(a.as_str())
    );
    assert!(review::link(&store, "nope", &a, &staff("admin")).is_err());
}

#[test]
fn records_with_every_field_missing_get_their_own_identity_and_never_merge() {
    let (_d, store) = open();
    put(&store, "x1", CardFields::default());
    put(&store, "x2", CardFields::default());
    put(
        &store,
        "x3",
        CardFields {
            date_of_birth: Some("1900-00-00".into()),
            first_name: Some("a".repeat(10_000)),
            ..Default::default()
        },
    );
    let r = resolve_pending(&store).unwrap();
    assert_eq!(r.created, 3, "{r:?}");
    assert_ne!(
        mpi_id_for(&store, "x1").unwrap(),
        mpi_id_for(&store, "x2").unwrap()
    );
}

#[test]
fn huge_blocks_are_capped_and_reported() {
    let (_d, store) = open();
    store.set_setting("test", "mpi.block_cap", "20").unwrap();
    for i in 0..60 {
        // Same family name and 1 January birth date: one big block.
        put(
            &store,
            &format!("p{i:03}"),
            fields(&format!("Name{i}x{}", i * 7), "Ndiaye", "1980-01-01", ""),
        );
    }
    let r = resolve_pending(&store).unwrap();
    assert!(r.capped_blocks > 0, "{r:?}");
    assert!(r.comparisons <= 60 * 20 * 6, "{r:?}");
}

/// People as sets of enrollments ([`partition`]).
type Identities = BTreeSet<BTreeSet<String>>;

/// Review questions as (record, candidate).
type Questions = BTreeSet<(String, String)>;

/// `records` resolved in a new store with `mpi.block_cap` and `mpi.pass_records` set; when
/// `prior`, after one unrelated identity, so that the pass reads the blocking table (a later
/// pass) instead of keeping its own index (a first pass). The identities, the pass's report,
/// the review questions (record, candidate) and the store's directory.
fn resolve_in_new_store(
    records: &[(String, CardFields)],
    prior: bool,
    block_cap: &str,
    pass_records: &str,
) -> (Identities, ResolveReport, Questions, tempfile::TempDir) {
    let (dir, store) = open();
    store
        .set_setting("test", "mpi.block_cap", block_cap)
        .unwrap();
    store
        .set_setting("test", "mpi.pass_records", pass_records)
        .unwrap();
    if prior {
        put(
            &store,
            "a-prior",
            fields("Zyx", "Qwv", "1901-02-03", "+221709999999"),
        );
        resolve_pending(&store).unwrap();
    }
    for (uid, f) in records {
        put(&store, uid, f.clone());
    }
    let report = resolve_pending(&store).unwrap();
    let uids: Vec<&str> = records.iter().map(|(u, _)| u.as_str()).collect();
    let questions = review::review_list(&store)
        .unwrap()
        .into_iter()
        .map(|r| (r.record.enrollment_uid, r.candidate.enrollment_uid))
        .collect();
    (partition(&store, &uids), report, questions, dir)
}

/// A first pass (empty blocking table) reads candidates from its own in-memory index; later
/// passes read them from `mpi_block_keys`. Both must find the same candidates: the same records
/// resolved both ways (the second store already holding one unrelated identity, so its pass reads
/// the table) end in the same identities after the same number of comparisons and capped keys,
/// and so does a first pass that may keep only a few prepared records in memory.
#[test]
fn a_first_pass_and_a_later_pass_find_the_same_candidates() {
    let firsts = ["Aminata", "Fatou", "Moussa", "Ibrahima", "Awa", "Mamadou"];
    let lasts = ["Diallo", "Ndiaye", "Sow", "Fall", "Ba"];
    let mut records = Vec::new();
    let mut seed = 7u64;
    let mut next = |n: u64| {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (seed >> 33) % n
    };
    for i in 0..240 {
        let first = firsts[next(firsts.len() as u64) as usize];
        let last = lasts[next(lasts.len() as u64) as usize];
        // Few distinct dates: blocks grow past the cap below.
        let dob = format!("19{:02}-0{}-1{}", 80 + next(3), 1 + next(3), next(3));
        let phone = if next(2) == 0 {
            format!("+22177{:07}", next(40))
        } else {
            String::new()
        };
        let mut f = fields(first, last, &dob, &phone);
        if i % 7 == 0 {
            // A typo: the duplicates the MPI is for.
            f.first_name = Some(format!("{first}h"));
        }
        // Records without a date read the weak-date keys of dated ones, which file them but
        // never read them: both passes must read the same.
        f.zone = Some("Pikine".into());
        if i % 5 == 0 {
            f.date_of_birth = None;
        }
        records.push((format!("r{i:03}"), f));
    }
    let resolve = |prior: bool, pass_records: &str| {
        let (identities, report, _, dir) =
            resolve_in_new_store(&records, prior, "12", pass_records);
        (identities, report, dir)
    };
    let (first_pass, r1, _d1) = resolve(false, "131072");
    let (later_pass, r2, _d2) = resolve(true, "131072");
    // A first pass keeping only 16 prepared records reads the others again: same outcome.
    let (small_pass, r3, _d3) = resolve(false, "16");
    assert_eq!(first_pass, small_pass);
    assert_eq!(r1, r3);
    assert!(r1.capped_blocks > 0, "the cap must be exercised: {r1:?}");
    assert!(
        r1.resolved > 0 && r1.pending_review + r1.resolved > 20,
        "{r1:?}"
    );
    assert_eq!(r1.comparisons, r2.comparisons);
    assert_eq!(r1.capped_blocks, r2.capped_blocks);
    assert_eq!((r1.resolved, r1.created), (r2.resolved, r2.created));
    assert_eq!(first_pass, later_pass);
}

/// Records of people spread over several batches (a first pass reads 250, 750, then 2,000 at a
/// time): `b00000`..`b02999` and, for every other one of them, a second record with a slip
/// (`d00000`..), which sorts after every `b`: a person's two records are decided in different
/// batches. Few family names and birth years, so blocks reach the cap of 40 set by the test.
fn across_batches() -> Vec<(String, CardFields)> {
    let firsts = [
        "Aminata",
        "Fatou",
        "Moussa",
        "Ibrahima",
        "Awa",
        "Mamadou",
        "Khady",
        "Ousmane",
        "Mariama",
        "Cheikh",
        "Ndeye",
        "Abdoulaye",
        "Seynabou",
        "Babacar",
        "Coumba",
        "Lamine",
    ];
    let lasts = [
        "Diallo", "Ndiaye", "Sow", "Fall", "Ba", "Sarr", "Diop", "Faye",
    ];
    let mut seed = 11u64;
    let mut next = |n: u64| {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (seed >> 33) % n
    };
    let mut records = Vec::new();
    let mut seconds = Vec::new();
    for i in 0..3000 {
        let first = firsts[next(firsts.len() as u64) as usize];
        let last = lasts[next(lasts.len() as u64) as usize];
        let dob = format!("{}-{:02}-{:02}", 1960 + next(8), 1 + next(12), 1 + next(28));
        // A shared phone now and then: households.
        let phone = format!("+22177{:07}", next(1500));
        let mut f = fields(first, last, &dob, &phone);
        f.gender = Some(if next(2) == 0 { "F" } else { "M" }.into());
        if i % 2 == 0 {
            let mut again = f.clone();
            match next(4) {
                0 => again.first_name = Some(format!("{first}e")),
                1 => again.phone_number = None,
                2 => again.last_name = Some(last.replacen('a', "aa", 1)),
                _ => again.date_of_birth = Some(format!("{}-01-01", &dob[..4])),
            }
            seconds.push((format!("d{i:05}"), again));
        }
        records.push((format!("b{i:05}"), f));
    }
    records.extend(seconds);
    records
}

/// A first pass reads, prepares, files and scores the next batch while it decides the one
/// before (`src/mpi/first_pass.rs`). Over four batches, with each person's records in
/// different batches, it must end exactly where a later pass ends (candidates from the table,
/// nothing done ahead): the same identities, comparisons, capped keys, links, merges and review
/// questions.
#[test]
fn a_first_pass_over_several_batches_decides_as_a_later_pass_does() {
    let records = across_batches();
    assert!(
        records.len() > 3000,
        "four batches: 250, 750, 2,000 and the rest"
    );
    let resolve =
        |prior: bool, pass_records: &str| resolve_in_new_store(&records, prior, "40", pass_records);
    let (first, r1, q1, _d1) = resolve(false, "131072");
    let (later, r2, q2, _d2) = resolve(true, "131072");
    // Keeping only 300 prepared records: candidates filed batches before are scored by the
    // decisions, from the store.
    let (small, r3, q3, _d3) = resolve(false, "300");
    // The run must exercise what it pins: people joined across batches, capped keys, review.
    let across = first
        .iter()
        .filter(|id| id.iter().any(|u| u.starts_with('b')) && id.iter().any(|u| u.starts_with('d')))
        .count();
    assert!(across > 500, "{across} identities span batches; {r1:?}");
    assert!(r1.capped_blocks > 0, "{r1:?}");
    assert!(!q1.is_empty(), "{r1:?}");
    assert_eq!(r1, r2);
    assert_eq!(q1, q2);
    assert_eq!(first, later);
    assert_eq!((r1, q1, first), (r3, q3, small));
}

/// A record whose fields cannot be read fails the pass with its name, in a first pass too,
/// where batches are prepared while the one before is decided (the failure can come from
/// either side: the decisions read every record's phone and address once a pair needs them).
/// Nothing is half done: every record is pending or linked, a batch is all or nothing, and
/// the next pass, once the record is mended, ends where a pass that never failed ends.
#[test]
fn an_unreadable_record_fails_a_first_pass_with_its_name_and_the_next_pass_resumes() {
    let records = across_batches();
    let (dir, store) = open();
    for (uid, f) in &records {
        put(&store, uid, f.clone());
    }
    let side = rusqlite::Connection::open(dir.path().join("kadi.db")).unwrap();
    let bad = "b02500";
    let good_json: String = side
        .query_row(
            "SELECT fields_json FROM card_records WHERE enrollment_uid = ?1",
            [bad],
            |r| r.get(0),
        )
        .unwrap();
    side.execute(
        "UPDATE card_records SET fields_json = '{\"first_name\": [' WHERE enrollment_uid = ?1",
        [bad],
    )
    .unwrap();
    let err = format!("{:#}", resolve_pending(&store).unwrap_err());
    assert!(err.contains(bad), "{err}");
    let half_done: i64 = side
        .query_row(
            "SELECT count(*) FROM card_records c LEFT JOIN mpi_links l USING (enrollment_uid)
              WHERE (c.mpi_state = 'pending') = (l.enrollment_uid IS NOT NULL)",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(half_done, 0);
    side.execute(
        "UPDATE card_records SET fields_json = ?2 WHERE enrollment_uid = ?1",
        [bad, good_json.as_str()],
    )
    .unwrap();
    resolve_pending(&store).unwrap();
    let pending: i64 = side
        .query_row(
            "SELECT count(*) FROM card_records WHERE mpi_state = 'pending'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(pending, 0);
    // One pass or two: the same people.
    let (_d2, clean) = open();
    for (uid, f) in &records {
        put(&clean, uid, f.clone());
    }
    resolve_pending(&clean).unwrap();
    let uids: Vec<&str> = records.iter().map(|(u, _)| u.as_str()).collect();
    assert_eq!(partition(&store, &uids), partition(&clean, &uids));
}

#[test]
fn equal_review_scores_give_the_same_review_item_on_every_run() {
    // Three sisters born the same day: every pair is guarded (twins) and capped at one score, so
    // the third record's one review item has two equal candidates. The tie used to go to the
    // smaller MPI ID, which is random: the queue (and evaluations) changed from run to run.
    for _ in 0..6 {
        let (_dir, store) = open();
        for (uid, first) in [("e1", "Fatou"), ("e2", "Awa"), ("e3", "Khady")] {
            put(
                &store,
                uid,
                fields(first, "Diallo", "1990-03-12", "+221771234567"),
            );
        }
        resolve_pending(&store).unwrap();
        let items = store.mpi_review_items(ReviewStatus::Pending).unwrap();
        let of_e3: Vec<&str> = items
            .iter()
            .filter(|r| r.enrollment_uid == "e3")
            .map(|r| r.candidate_enrollment_uid.as_str())
            .collect();
        assert_eq!(of_e3, ["e1"]);
    }
}

/// The (key, enrollment) pairs `sql` selects, read through a plain connection.
fn key_pairs(db: &std::path::Path, sql: &str) -> BTreeSet<(String, String)> {
    let c = rusqlite::Connection::open(db).unwrap();
    let mut stmt = c.prepare(sql).unwrap();
    let rows = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    rows
}

/// Every blocking key row, as (key, enrollment), from `table`.
fn key_rows(db: &std::path::Path, table: &str) -> BTreeSet<(String, String)> {
    key_pairs(
        db,
        &format!("SELECT block_key, enrollment_uid FROM {table}"),
    )
}

/// The keys each stored card record should have, computed by the scorer from its fields.
fn expected_keys(db: &std::path::Path) -> BTreeSet<(String, String)> {
    let c = rusqlite::Connection::open(db).unwrap();
    let mut stmt = c
        .prepare("SELECT enrollment_uid, fields_json FROM card_records")
        .unwrap();
    let records: Vec<(String, String)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let mut keys = BTreeSet::new();
    for (uid, json) in records {
        let p = kadi_sqlext::mpi::PreparedRecord::from_json(&json, 1).unwrap();
        for k in kadi_sqlext::mpi::block_keys(&p) {
            keys.insert((k, uid.clone()));
        }
    }
    keys
}

/// A store holding `people()`, resolved by a first pass; with the database's path.
fn people_resolved() -> (tempfile::TempDir, Store, std::path::PathBuf) {
    let (dir, store) = open();
    let db = dir.path().join("kadi.db");
    for (uid, f) in people() {
        put(&store, uid, f);
    }
    resolve_pending(&store).unwrap();
    (dir, store, db)
}

/// A first pass stages its blocking keys and sorts them into `mpi_block_keys` at its end: the
/// table then holds exactly every record's keys and nothing stays staged. Keys a killed pass
/// left staged are moved by the next pass before it reads the table, and staged keys of a card
/// record deleted meanwhile go with it.
#[test]
fn a_first_pass_leaves_every_blocking_key_in_the_table() {
    let (_dir, _store, db) = people_resolved();
    let expected = expected_keys(&db);
    assert!(expected.len() > 10, "{expected:?}");
    assert_eq!(key_rows(&db, "mpi_block_keys"), expected);
    assert!(key_rows(&db, "mpi_block_keys_staged").is_empty());

    // As a pass killed before its end leaves it: e1 and e5 resolved, their keys still staged,
    // the table empty. A new record like e1 must find it (through the table, once moved).
    let (dir, store) = open();
    let db = dir.path().join("kadi.db");
    let all = people();
    put(&store, "e1", all[0].1.clone());
    put(&store, "e5", all[4].1.clone());
    resolve_pending(&store).unwrap();
    {
        let c = rusqlite::Connection::open(&db).unwrap();
        c.execute_batch(
            "PRAGMA foreign_keys = ON;
             -- e1's keys in one row (a JSON array, as a pass stages them now), e5's one row
             -- a key (as earlier versions staged them): the move takes both.
             INSERT INTO mpi_block_keys_staged SELECT enrollment_uid, json_group_array(block_key)
               FROM mpi_block_keys WHERE enrollment_uid = 'e1' GROUP BY enrollment_uid;
             INSERT INTO mpi_block_keys_staged SELECT enrollment_uid, block_key FROM mpi_block_keys
               WHERE enrollment_uid = 'e5';
             DELETE FROM mpi_block_keys;
             -- e5 is deleted on the server before the next pass: its staged keys go with it.
             DELETE FROM card_records WHERE enrollment_uid = 'e5';",
        )
        .unwrap();
    }
    assert!(!key_rows(&db, "mpi_block_keys_staged").is_empty());
    put(&store, "e2", all[1].1.clone());
    let r = resolve_pending(&store).unwrap();
    assert_eq!((r.resolved, r.created), (1, 0), "{r:?}");
    assert_eq!(
        mpi_id_for(&store, "e2").unwrap(),
        mpi_id_for(&store, "e1").unwrap()
    );
    let keys = key_rows(&db, "mpi_block_keys");
    assert!(keys.iter().all(|(_, u)| u != "e5"), "{keys:?}");
    assert_eq!(keys, expected_keys(&db));
    assert!(key_rows(&db, "mpi_block_keys_staged").is_empty());
    // The move runs with foreign keys off; the store enforces them again afterwards.
    let e1 = mpi_id_for(&store, "e1").unwrap().unwrap();
    let orphan = store.mpi_set_link("no-such-record", &e1, None, kadi::mpi::LinkMethod::New);
    assert!(orphan.is_err(), "a link to no card record was accepted");
}

/// Aminata's records arriving after her twin's: each would ask again whether the twin is her.
#[test]
fn each_pair_of_identities_is_asked_once_and_an_answer_covers_later_records() {
    let (_d, store) = open();
    let p = people();
    // e1 (Aminata), then the twin e4, then Aminata's other records e2, e3.
    put_people(&store, &[0, 3, 1, 2]);
    resolve_pending(&store).unwrap();
    let a = mpi_id_for(&store, "e1").unwrap().unwrap();
    assert_eq!(partition(&store, &["e1", "e2", "e3"]).len(), 1);
    let items = review::review_list(&store).unwrap();
    assert_eq!(
        items.len(),
        1,
        "one question, not one per record: {items:?}"
    );
    assert_eq!(items[0].record.enrollment_uid, "e4");
    assert_eq!(items[0].candidate.mpi_id.as_deref(), Some(a.as_str()));
    assert_eq!(
        store.mpi_link("e2").unwrap().unwrap().method,
        "auto",
        "a record whose question is already asked still links"
    );
    // Another record of Aminata in a later sync: still one open question.
    let mut again = p[0].1.clone();
    again.phone_number = Some("77 123 45 67".into());
    put(&store, "e6", again.clone());
    resolve_pending(&store).unwrap();
    assert_eq!(review::review_list(&store).unwrap().len(), 1);
    // "Different" answers it for the identity: a later record of Aminata does not ask again.
    review::review_decide(
        &store,
        items[0].id,
        Decision::Different,
        &staff("awa.staff"),
    )
    .unwrap();
    put(&store, "e7", again);
    resolve_pending(&store).unwrap();
    assert!(review::review_list(&store).unwrap().is_empty());
    assert_eq!(
        mpi_id_for(&store, "e7").unwrap().as_deref(),
        Some(a.as_str())
    );
    assert_ne!(
        mpi_id_for(&store, "e4").unwrap().as_deref(),
        Some(a.as_str())
    );
}

/// A queue holding one question several times (items made before their identities merged, or
/// by an older version): one decision answers all of them, each closing audited.
#[test]
fn a_decision_closes_the_other_items_that_ask_the_same_question() {
    for decision in [Decision::Same, Decision::Different] {
        let (_d, store) = open();
        let p = people();
        put_people(&store, &[0, 1, 2, 3]);
        resolve_pending(&store).unwrap();
        let a = mpi_id_for(&store, "e1").unwrap().unwrap();
        let twin = mpi_id_for(&store, "e4").unwrap().unwrap();
        assert_eq!(review::review_list(&store).unwrap().len(), 1);
        // The same question twice more, from Aminata's side.
        store
            .mpi_insert_review("e2", "e4", &twin, 0.9, "{}")
            .unwrap();
        store
            .mpi_insert_review("e3", "e4", &twin, 0.9, "{}")
            .unwrap();
        // And an unrelated question that must stay open.
        put(&store, "e5", p[4].1.clone());
        resolve_pending(&store).unwrap();
        let stranger = mpi_id_for(&store, "e5").unwrap().unwrap();
        let other = store.mpi_insert_review("e5", "e1", &a, 0.8, "{}").unwrap();
        let items = review::review_list(&store).unwrap();
        assert_eq!(items.len(), 4);
        let audit_before = store.count("audit_log").unwrap();
        review::review_decide(&store, items[0].id, decision, &staff("awa.staff")).unwrap();
        let left = pending_ids(&store);
        assert_eq!(left, vec![other], "{decision:?}");
        // The decision, each closing, and (for "same") the merge.
        assert!(store.count("audit_log").unwrap() >= audit_before + 3);
        let now_a = mpi_id_for(&store, "e1").unwrap().unwrap();
        match decision {
            Decision::Same => {
                assert_eq!(mpi_id_for(&store, "e4").unwrap(), Some(now_a.clone()))
            }
            Decision::Different => {
                let mut remembered = store.mpi_not_same_as("e4").unwrap();
                remembered.sort();
                assert_eq!(remembered, vec!["e1", "e2", "e3"]);
            }
        }
        assert_eq!(mpi_id_for(&store, "e5").unwrap(), Some(stranger));
        for uid in ["e2", "e3"] {
            assert_eq!(store.mpi_pending_review_count(uid).unwrap(), 0);
        }
    }
}

/// "Different" on an item whose two records were merged into one identity since it was made
/// speaks of those two records only: other items inside that identity stay open.
#[test]
fn different_inside_one_identity_closes_only_its_own_item() {
    let (_d, store) = open();
    put_people(&store, &[0, 1, 2]);
    resolve_pending(&store).unwrap();
    let a = mpi_id_for(&store, "e1").unwrap().unwrap();
    assert_eq!(partition(&store, &["e1", "e2", "e3"]).len(), 1);
    // Two items left from before the records were joined (an older queue).
    let first = store.mpi_insert_review("e2", "e1", &a, 0.9, "{}").unwrap();
    let second = store.mpi_insert_review("e3", "e1", &a, 0.9, "{}").unwrap();
    review::review_decide(&store, first, Decision::Different, &staff("awa.staff")).unwrap();
    let left = pending_ids(&store);
    assert_eq!(left, vec![second]);
    assert_eq!(store.mpi_not_same_as("e3").unwrap(), Vec::<String>::new());
}

/// A household of forty under one phone and family name: a record has forty candidates, scored
/// on several threads, and a second registration of one of them still finds that one person
/// (and only her), as a pass scoring one candidate at a time did.
#[test]
fn a_record_with_many_candidates_joins_the_one_person_it_repeats() {
    let (_d, store) = open();
    let names = [
        "Aby",
        "Bineta",
        "Coumba",
        "Daba",
        "Elisabeth",
        "Fama",
        "Gnagna",
        "Hawa",
        "Isseu",
        "Jeanne",
        "Kine",
        "Lala",
        "Mame",
        "Nabou",
        "Oulimata",
        "Penda",
        "Quinta",
        "Rama",
        "Sokhna",
        "Thioro",
        "Ute",
        "Victoire",
        "Wore",
        "Xadija",
        "Yacine",
        "Zeyna",
        "Adja",
        "Bousso",
        "Codou",
        "Dior",
        "Eugenie",
        "Florence",
        "Gisele",
        "Helene",
        "Irene",
        "Josephine",
        "Karima",
        "Lucie",
        "Madeleine",
        "Nogaye",
    ];
    for (i, first) in names.iter().enumerate() {
        let dob = format!("{}-05-17", 1941 + 2 * i);
        put(
            &store,
            &format!("h{i:02}"),
            fields(first, "Ndiaye", &dob, "+221779990000"),
        );
    }
    let r = resolve_pending(&store).unwrap();
    assert_eq!(r.created, names.len() as u64, "{r:?}");
    put(
        &store,
        "again",
        fields("Josephine", "Ndiaye", "2011-05-17", "779990000"),
    );
    let r = resolve_pending(&store).unwrap();
    assert!(r.comparisons >= names.len() as u64, "{r:?}");
    assert_eq!((r.resolved, r.created), (1, 0), "{r:?}");
    assert_eq!(
        mpi_id_for(&store, "again").unwrap(),
        mpi_id_for(&store, "h35").unwrap()
    );
}

/// The weak-date pass end to end: a registration without a birth date and with its family name
/// misread ("Gomls") is compared with the dated one in its district; two dated records filed
/// under the same weak-date keys are not compared (nothing else brings them together).
#[test]
fn a_record_without_a_date_is_compared_with_a_dated_one_of_a_misread_name() {
    let person = |first: &str, last: &str, dob: Option<&str>| CardFields {
        first_name: Some(first.into()),
        last_name: Some(last.into()),
        date_of_birth: dob.map(Into::into),
        gender: Some("F".into()),
        health_center: Some("Ndioum".into()),
        zone: Some("Podor".into()),
        ..Default::default()
    };
    let (_dir, store) = open();
    put(&store, "a1", person("Awa", "Gomis", Some("1990-05-07")));
    put(&store, "a2", person("Awa", "Gomls", Some("1985-02-03")));
    let r = resolve_pending(&store).unwrap();
    assert_eq!(r.comparisons, 0, "two dated records: {r:?}");
    // A later pass (candidates from the table) and a record without a date.
    put(&store, "a3", person("Awa", "Gomls", None));
    let r = resolve_pending(&store).unwrap();
    assert_eq!(r.comparisons, 2, "the undated record meets both: {r:?}");
}

/// Each record's keys as `mpi_record_keys` lists them (the way back from a record to its rows
/// in `mpi_block_keys`, which has no index by enrollment since v16).
fn record_key_rows(db: &std::path::Path) -> BTreeSet<(String, String)> {
    key_pairs(
        db,
        "SELECT j.value, r.enrollment_uid FROM mpi_record_keys r, json_each(r.keys_json) j",
    )
}

/// The blocking index stays exact through the life of a record: after a first pass, after a
/// record changes (its old keys leave, its new ones come), and after a record is deleted (its
/// keys go with it, through `mpi_record_keys`' cascade and trigger), in the box's store and in
/// a plain SQLite connection that knows nothing of kadi.
#[test]
fn blocking_keys_follow_a_record_that_changes_and_is_deleted() {
    let (_dir, store, db) = people_resolved();
    assert_eq!(key_rows(&db, "mpi_block_keys"), expected_keys(&db));
    assert_eq!(record_key_rows(&db), expected_keys(&db));

    // e1 moves and changes number: a later pass re-keys it.
    let mut moved = people()[0].1.clone();
    moved.phone_number = Some("+221781112233".into());
    moved.date_of_birth = Some("1991-04-13".into());
    let before: BTreeSet<_> = key_rows(&db, "mpi_block_keys")
        .into_iter()
        .filter(|(_, u)| u == "e1")
        .collect();
    put(&store, "e1", moved);
    resolve_pending(&store).unwrap();
    let after: BTreeSet<_> = key_rows(&db, "mpi_block_keys")
        .into_iter()
        .filter(|(_, u)| u == "e1")
        .collect();
    assert_ne!(before, after, "the change must change e1's keys");
    assert_eq!(key_rows(&db, "mpi_block_keys"), expected_keys(&db));
    assert_eq!(record_key_rows(&db), expected_keys(&db));

    // e3 and e4 are deleted (as a sync does when the server deletes an enrollment), from a
    // plain SQLite connection with foreign keys on: the cascade and trigger are SQL, not kadi.
    {
        let c = rusqlite::Connection::open(&db).unwrap();
        c.execute_batch(
            "PRAGMA foreign_keys = ON;
             DELETE FROM card_records WHERE enrollment_uid IN ('e3', 'e4');",
        )
        .unwrap();
    }
    let keys = key_rows(&db, "mpi_block_keys");
    assert!(keys.iter().all(|(_, u)| u != "e3" && u != "e4"), "{keys:?}");
    assert_eq!(keys, expected_keys(&db));
    assert_eq!(record_key_rows(&db), expected_keys(&db));
}
