//! `score_prepared_from` skips the name comparisons when the other fields rule a floor out. It
//! must never skip a pair that reaches the floor, and when it scores, it must give exactly
//! `score_prepared`'s score. Checked on every pair the blocking keys bring together in FEBRL1 and
//! FEBRL2 (with and without national IDs: the pairs resolution actually compares), plus swapped
//! and emptied variants, at the review and link bands and a few other floors.
mod common;

use kadi_sqlext::mpi::{block_keys, score_prepared, score_prepared_from, PreparedRecord};
use std::collections::{BTreeSet, HashMap};

fn records(set: &str, national_id: bool) -> Vec<PreparedRecord> {
    let text = std::fs::read_to_string(common::shared().join(format!("mpi-data/{set}.csv")))
        .expect("FEBRL set in ../shared/mpi-data");
    let rows = common::parse_csv(&text);
    let header = &rows[0];
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    rows[1..]
        .iter()
        .filter(|r| r.len() == header.len())
        .map(|r| {
            let d = &r[col("date_of_birth")];
            let dob = if d.len() == 8 {
                format!("{}-{}-{}", &d[..4], &d[4..6], &d[6..])
            } else {
                d.clone()
            };
            let address = [
                "street_number",
                "address_1",
                "address_2",
                "suburb",
                "postcode",
                "state",
            ]
            .iter()
            .map(|c| r[col(c)].as_str())
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(" ");
            let nid = if national_id {
                r[col("soc_sec_id")].clone()
            } else {
                String::new()
            };
            let f: HashMap<&str, String> = [
                ("first_name", r[col("given_name")].clone()),
                ("last_name", r[col("surname")].clone()),
                ("date_of_birth", dob),
                ("address", address),
                ("national_id", nid),
            ]
            .into_iter()
            .collect();
            PreparedRecord::from_fields(|k| f.get(k).map(String::as_str).filter(|s| !s.is_empty()))
        })
        .collect()
}

/// Every pair of records sharing a blocking key (as resolution compares them, without a cap).
fn blocked_pairs(recs: &[PreparedRecord]) -> BTreeSet<(usize, usize)> {
    let mut by_key: HashMap<String, Vec<usize>> = HashMap::new();
    for (i, r) in recs.iter().enumerate() {
        for k in block_keys(r) {
            by_key.entry(k).or_default().push(i);
        }
    }
    let mut pairs = BTreeSet::new();
    for members in by_key.values().filter(|m| m.len() <= 200) {
        for (x, &i) in members.iter().enumerate() {
            for &j in &members[x + 1..] {
                pairs.insert((i, j));
            }
        }
    }
    pairs
}

#[test]
fn the_bound_never_skips_a_pair_that_reaches_the_floor() {
    let mut checked = 0usize;
    let mut skipped = 0usize;
    for set in ["febrl1", "febrl2"] {
        for nid in [true, false] {
            let recs = records(set, nid);
            let pairs = blocked_pairs(&recs);
            assert!(pairs.len() > 500, "{set}: {} pairs", pairs.len());
            for &(i, j) in &pairs {
                let (a, b) = (&recs[i], &recs[j]);
                let exact = score_prepared(a, b);
                for floor in [0.5, kadi_sqlext::mpi::REVIEW, 0.9, kadi_sqlext::mpi::LINK] {
                    checked += 1;
                    match score_prepared_from(a, b, floor) {
                        Some(s) => assert_eq!(s, exact, "{set} pair {i}/{j}"),
                        None => {
                            skipped += 1;
                            assert!(
                                exact < floor,
                                "{set} pair {i}/{j}: skipped at floor {floor} but scores {exact}"
                            );
                        }
                    }
                    // Either argument order: the same answer.
                    assert_eq!(
                        score_prepared_from(b, a, floor).is_some(),
                        score_prepared_from(a, b, floor).is_some()
                    );
                }
            }
        }
    }
    // The bound must also earn its keep (FEBRL's blocked pairs are rich in true pairs: 40% are
    // skipped here; on 100,000 synthetic records, most are).
    assert!(
        skipped * 4 > checked,
        "only {skipped} of {checked} comparisons skipped the names"
    );
}

#[test]
fn floors_outside_the_open_interval_always_score() {
    let a = PreparedRecord::from_fields(|k| match k {
        "first_name" => Some("Awa"),
        "last_name" => Some("Sow"),
        "date_of_birth" => Some("1990-01-02"),
        _ => None,
    });
    let b = PreparedRecord::from_fields(|k| match k {
        "first_name" => Some("Moussa"),
        "last_name" => Some("Ba"),
        "date_of_birth" => Some("1950-07-09"),
        "gender" => Some("M"),
        _ => None,
    });
    for floor in [0.0, -1.0, 1.0, 2.0, f64::NAN] {
        assert_eq!(
            score_prepared_from(&a, &b, floor),
            Some(score_prepared(&a, &b)),
            "floor {floor}"
        );
    }
    assert_eq!(score_prepared_from(&a, &b, 0.75), None);
}
