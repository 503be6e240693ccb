//! `kadi mpi` driven as a user would: the built binary, real files.
use std::path::{Path, PathBuf};

mod support;

/// `kadi --db DB ARGS` through the harness, nothing on stdin.
fn kadi(db: &Path, args: &[&str]) -> std::process::Output {
    support::run(db, args, None)
}

fn shared() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/mpi-data")
}

#[test]
fn eval_on_febrl1_prints_exactly_the_issue_keys_and_auto_links_are_precise() {
    let dir = tempfile::tempdir().unwrap();
    let d = shared();
    for without in [None, Some("national_id")] {
        let mut args = vec!["mpi", "eval", "--json", "--febrl"];
        let (f, t) = (d.join("febrl1.csv"), d.join("febrl1_truth.csv"));
        args.push(f.to_str().unwrap());
        args.push("--febrl-truth");
        args.push(t.to_str().unwrap());
        if let Some(w) = without {
            args.extend(["--without", w]);
        }
        let out = kadi(&dir.path().join("unused.db"), &args);
        support::assert_success(&out);
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(|k| k.as_str()).collect();
        let mut want = vec![
            "records",
            "true_pairs",
            "auto",
            "auto_plus_review",
            "review_items",
            "new_identity_true_pairs",
            "blocking_recall",
            "comparisons",
            "seconds",
            "peak_rss_mb",
        ];
        let mut got = keys.clone();
        got.sort();
        want.sort();
        assert_eq!(got, want);
        assert_eq!(v["records"], 1000);
        assert_eq!(v["true_pairs"], 500);
        assert!(v["auto"]["precision"].as_f64().unwrap() >= 0.999, "{v}");
        assert!(v["auto_plus_review"]["f1"].as_f64().unwrap() >= 0.95, "{v}");
        assert!(v["review_items"].as_u64().unwrap() <= 100, "{v}");
    }
}

#[test]
fn eval_refuses_duplicate_ids_and_unknown_truth_ids_with_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let recs = dir.path().join("r.csv");
    let truth = dir.path().join("t.csv");
    // `kadi mpi eval --json --records r.csv --truth t.csv`, plus `extra`.
    let eval = |extra: &[&str]| {
        let mut args = vec![
            "mpi",
            "eval",
            "--json",
            "--records",
            recs.to_str().unwrap(),
            "--truth",
            truth.to_str().unwrap(),
        ];
        args.extend(extra);
        kadi(&dir.path().join("x.db"), &args)
    };
    let stderr = |out: &std::process::Output| String::from_utf8_lossy(&out.stderr).to_string();
    std::fs::write(&recs, "id,first_name,last_name\n1,Awa,Ba\n1,Awa,Ba\n").unwrap();
    std::fs::write(&truth, "id_a,id_b\n1,2\n").unwrap();
    let out = eval(&[]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("duplicate id"), "{}", stderr(&out));
    std::fs::write(
        &recs,
        "id,first_name,last_name,date_of_birth\n1,Awa,Ba,1990-01-02\n2,Awa,Ba,1990-01-02\n",
    )
    .unwrap();
    std::fs::write(&truth, "id_a,id_b\n1,3\n").unwrap();
    assert!(stderr(&eval(&[])).contains("unknown record id"));
    std::fs::write(&truth, "id_a,id_b\n1,2\n").unwrap();
    let out = eval(&[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["auto"]["recall"], 1.0, "{v}");
    // `--store` keeps the evaluation store; naming one that exists is refused, since its records
    // were resolved by an earlier run and this one would measure nothing.
    let kept = dir.path().join("kept.db");
    let first = eval(&["--store", kept.to_str().unwrap()]);
    assert!(first.status.success(), "{}", stderr(&first));
    let v: serde_json::Value = serde_json::from_slice(&first.stdout).unwrap();
    assert_eq!(v["comparisons"], 1, "{v}");
    let again = eval(&["--store", kept.to_str().unwrap()]);
    assert!(!again.status.success());
    assert!(stderr(&again).contains("exists"), "{}", stderr(&again));
}

#[test]
fn review_list_is_json_and_a_mistyped_mpi_id_is_detected() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("kadi.db");
    let out = kadi(&db, &["mpi", "review", "list", "--json"]);
    support::assert_success(&out);
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap(),
        serde_json::json!([])
    );
    let id = kadi::mpi::id::new_mpi_id("SN-DKR", 26).unwrap();
    assert!(kadi(&db, &["mpi", "check-id", &id]).status.success());
    let mut typo: Vec<char> = id.chars().collect();
    typo.swap(10, 11);
    if typo[10] != typo[11] {
        let typo: String = typo.into_iter().collect();
        assert!(
            !kadi(&db, &["mpi", "check-id", &typo]).status.success(),
            "{typo}"
        );
    }
    let out = kadi(
        &db,
        &["mpi", "review", "decide", "7", "--same", "--by", "awa"],
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("no review item 7"));
}
