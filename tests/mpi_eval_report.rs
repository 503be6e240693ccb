//! What `kadi mpi eval` reports for the held-out protocol (`bench/mpi_eval.sh`): blocking recall
//! from the resolver's own blocking keys and cap, the score calibration of the pairs it scored,
//! and the export of the records exactly as evaluated for a peer tool.
use std::path::{Path, PathBuf};

mod support;

fn shared() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/mpi-data")
}

/// `kadi mpi eval --json ARGS`, its report.
fn eval(dir: &Path, args: &[&str]) -> serde_json::Value {
    let mut all = vec!["mpi", "eval", "--json"];
    all.extend(args);
    let out = support::run(&dir.join("unused.db"), &all, None);
    support::assert_success(&out);
    support::parse_json("mpi eval", &out.stdout)
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A made-up first name for number `i`: a distinct blocking code for every `i` below 432
/// (first letter, then two consonants of different sound classes), so two such names share no key.
fn made_up_name(i: usize) -> String {
    let first = ["B", "D", "F", "G", "K", "L", "M", "N", "P", "R", "S", "T"];
    let classes = ["b", "k", "d", "l", "m", "r"];
    format!(
        "{}a{}a{}o",
        first[i % 12],
        classes[(i / 12) % 6],
        classes[(i / 72) % 6]
    )
}

#[test]
fn blocking_recall_counts_a_true_pair_sharing_no_key_and_one_beyond_the_block_cap_as_unreachable() {
    let dir = tempfile::tempdir().unwrap();
    // 120 people of one family name born in 1990, each with its own first name and month-day
    // (day > 12, so no day/month swap meets another): they share only the family-name-and-year
    // key, which holds more than the resolver's cap of 100.
    let mut csv = String::from("id,first_name,last_name,date_of_birth\n");
    for i in 0..120 {
        csv.push_str(&format!(
            "r{i:03},{},Faye,1990-{:02}-{}\n",
            made_up_name(i),
            1 + i % 12,
            13 + i / 12
        ));
    }
    // One exact duplicate (shares every key) and one pair written as two strangers (no key).
    csv.push_str("s1,Awa,Ba,1984-03-14\ns2,Awa,Ba,1984-03-14\n");
    csv.push_str("t1,Khadim,Sarr,1970-11-05\nt2,Zeynab,Ndoye,2001-02-19\n");
    // A true pair the cap hides: records 110 and 115 (after the first 100 under the key).
    let truth = "id_a,id_b\ns1,s2\nt1,t2\nr110,r115\n";
    let (recs, pairs) = (dir.path().join("r.csv"), dir.path().join("t.csv"));
    std::fs::write(&recs, csv).unwrap();
    std::fs::write(&pairs, truth).unwrap();
    let r = eval(
        dir.path(),
        &[
            "--calibration",
            "--records",
            path(&recs),
            "--truth",
            path(&pairs),
        ],
    );
    let b = &r["blocking"];
    assert_eq!(b["block_cap"], 100, "{r}");
    // s1-s2 and r110-r115 share a key; t1-t2 none.
    assert_eq!(b["true_pairs_sharing_a_key"], 2, "{r}");
    // Only s1-s2 is within the cap, and exactly that pair was scored.
    assert_eq!(b["true_pairs_within_cap"], 1, "{r}");
    assert_eq!(b["true_pairs_scored"], 1, "{r}");
    assert_eq!(r["blocking_recall"].as_f64().unwrap(), 1.0 / 3.0, "{r}");
}

#[test]
fn calibration_bands_add_up_to_every_comparison_and_every_true_pair_scored() {
    let dir = tempfile::tempdir().unwrap();
    let d = shared();
    let r = eval(
        dir.path(),
        &[
            "--calibration",
            "--febrl",
            path(&d.join("febrl1.csv")),
            "--febrl-truth",
            path(&d.join("febrl1_truth.csv")),
            "--without",
            "national_id",
        ],
    );
    let c = &r["calibration"];
    let bands = ["link", "review", "below"];
    let sum = |key: &str| -> u64 { bands.iter().map(|b| c[b][key].as_u64().unwrap()).sum() };
    assert_eq!(sum("pairs"), r["comparisons"].as_u64().unwrap(), "{r}");
    assert_eq!(
        sum("true_pairs"),
        r["blocking"]["true_pairs_scored"].as_u64().unwrap(),
        "{r}"
    );
    for b in bands {
        let (pairs, t) = (
            c[b]["pairs"].as_u64().unwrap(),
            c[b]["true_pairs"].as_u64().unwrap(),
        );
        assert!(t <= pairs, "{r}");
        assert_eq!(
            c[b]["share_true"].as_f64().unwrap(),
            t as f64 / pairs as f64
        );
    }
    assert!(c["stopped_early"].as_u64().unwrap() <= c["below"]["pairs"].as_u64().unwrap());
}

#[test]
fn the_exported_records_evaluate_to_the_same_report() {
    let dir = tempfile::tempdir().unwrap();
    let d = shared();
    let export = dir.path().join("febrl1_eval.csv");
    let first = eval(
        dir.path(),
        &[
            "--calibration",
            "--febrl",
            path(&d.join("febrl1.csv")),
            "--febrl-truth",
            path(&d.join("febrl1_truth.csv")),
            "--without",
            "national_id",
            "--export-csv",
            path(&export),
        ],
    );
    let text = std::fs::read_to_string(&export).unwrap();
    let header: Vec<&str> = text.lines().next().unwrap().split(',').collect();
    assert_eq!(header[0], "id");
    assert!(header.contains(&"address") && header.contains(&"national_id"));
    // Dropped by --without: the column is there, every value empty.
    let nid = header.iter().position(|h| *h == "national_id").unwrap();
    let rows = kadi::mpi::eval::parse_csv(&text);
    assert_eq!(rows.len(), 1001);
    assert!(rows[1..].iter().all(|r| r[nid].is_empty()));
    let truth = dir.path().join("febrl1_eval_truth.csv");
    assert_eq!(
        std::fs::read_to_string(&truth).unwrap().lines().count(),
        501
    );
    let again = eval(
        dir.path(),
        &[
            "--calibration",
            "--records",
            path(&export),
            "--truth",
            path(&truth),
        ],
    );
    for key in [
        "records",
        "true_pairs",
        "auto",
        "auto_plus_review",
        "review_items",
        "new_identity_true_pairs",
        "blocking_recall",
        "comparisons",
        "calibration",
        "blocking",
    ] {
        assert_eq!(first[key], again[key], "{key}");
    }
}
