//! Households in the simulator and in `kadi mpi eval`: the generator draws families with the
//! shapes that fool a record linker (shared phone, address and family name, twins, namesakes),
//! writes which records share a household, and the evaluation counts a wrong link between two
//! members of one household as a household false link.

use kadi::sim::data::{
    orig_index, person, person_in, ErrorModel, Person, Shape, A_ADDRESS, A_DOB, A_FIRST, A_LAST,
    A_PHONE, A_SEX,
};
use kadi::sim::households::{household, household_of_slot};
use kadi::sim::{SimConfig, SimHandle};
use std::collections::{HashMap, HashSet};

const RECORDS: u64 = 4000;
const HOUSEHOLDS: Shape = Shape {
    households: true,
    error_model: ErrorModel::Clerk,
};

fn value(p: &Person, a: usize) -> &str {
    p.values[a].as_deref().unwrap_or("")
}

fn year(p: &Person) -> i64 {
    value(p, A_DOB)[..4].parse().unwrap()
}

/// First registrations (no re-registration noise) grouped by household, with their rank.
fn families(seed: u64) -> HashMap<u64, Vec<(u64, Person)>> {
    let mut out: HashMap<u64, Vec<(u64, Person)>> = HashMap::new();
    for i in (0..RECORDS).filter(|&i| orig_index(seed, i) == i) {
        let (h, rank, _) = household_of_slot(seed, i);
        out.entry(h)
            .or_default()
            .push((rank, person_in(seed, HOUSEHOLDS, i)));
    }
    out
}

#[test]
fn households_share_an_address_and_mostly_a_phone_and_children_carry_the_family_name() {
    let fams = families(42);
    let sizes: HashSet<usize> = fams.values().map(|m| m.len()).collect();
    assert!(
        sizes.contains(&2) && sizes.iter().any(|&s| s >= 6),
        "{sizes:?}"
    );
    let (mut members, mut on_shared_phone) = (0, 0);
    let mut child_sexes = HashSet::new();
    for m in fams.values().filter(|m| m.len() >= 2) {
        let address = value(&m[0].1, A_ADDRESS);
        assert!(
            address
                .split_once(' ')
                .is_some_and(|(n, q)| n.parse::<u32>().is_ok() && !q.is_empty()),
            "an address like \"137 Médina\": {address:?}"
        );
        let mut phones: HashMap<&str, usize> = HashMap::new();
        for (_, p) in m {
            assert_eq!(value(p, A_ADDRESS), address, "one address per household");
            *phones.entry(value(p, A_PHONE)).or_default() += 1;
        }
        members += m.len();
        on_shared_phone += phones.values().max().unwrap();
        let father = m.iter().find(|(r, _)| *r == 0).map(|(_, p)| p);
        for (_, child) in m.iter().filter(|(r, _)| *r >= 2) {
            child_sexes.insert(value(child, A_SEX).to_string());
            if let Some(f) = father {
                assert_eq!(value(child, A_LAST), value(f, A_LAST), "family name");
            }
        }
    }
    let share = on_shared_phone as f64 / members as f64;
    assert!(share > 0.7, "most members share one phone: {share:.2}");
    assert_eq!(child_sexes.len(), 2, "siblings of both sexes");
}

#[test]
fn parents_are_born_18_to_45_years_before_their_children_and_twins_share_a_birth_date() {
    let (mut children, mut twins) = (0, 0);
    let mut child_ages = Vec::new();
    for m in families(42).values() {
        let parents: Vec<&Person> = m.iter().filter(|(r, _)| *r < 2).map(|(_, p)| p).collect();
        let kids: Vec<&Person> = m.iter().filter(|(r, _)| *r >= 2).map(|(_, p)| p).collect();
        for k in &kids {
            children += 1;
            child_ages.push(2025 - year(k));
            for p in &parents {
                let gap = year(k) - year(p);
                assert!(
                    (18..=45).contains(&gap),
                    "parent born {gap} years before child"
                );
            }
        }
        for (x, a) in kids.iter().enumerate() {
            for b in &kids[x + 1..] {
                if value(a, A_DOB) == value(b, A_DOB) {
                    twins += 1;
                    assert_ne!(value(a, A_FIRST), value(b, A_FIRST), "twins' first names");
                }
            }
        }
    }
    assert!(children > 500, "{children}");
    assert!(twins >= 10, "twins: {twins}");
    let (min, max) = (
        child_ages.iter().min().unwrap(),
        child_ages.iter().max().unwrap(),
    );
    assert!(
        *min <= 5 && *max >= 30,
        "children of all ages: {min}..{max}"
    );
}

#[test]
fn namesakes_live_in_other_households_and_seeds_differ() {
    let mut by_name: HashMap<(String, String), HashSet<u64>> = HashMap::new();
    for (h, m) in families(42) {
        for (_, p) in m {
            by_name
                .entry((value(&p, A_FIRST).into(), value(&p, A_LAST).into()))
                .or_default()
                .insert(h);
        }
    }
    let namesakes = by_name.values().filter(|hs| hs.len() >= 2).count();
    assert!(
        namesakes >= 20,
        "names shared across households: {namesakes}"
    );
    let differ = (0..200)
        .filter(|&i| person_in(42, HOUSEHOLDS, i) != person_in(43, HOUSEHOLDS, i))
        .count();
    assert!(differ > 190, "{differ}");
}

#[test]
fn default_shape_keeps_todays_data_and_ocr_changes_only_second_registrations() {
    for i in 0..500 {
        let p = person(42, i);
        assert_eq!(p, person_in(42, Shape::default(), i));
        assert_eq!(p.values[A_ADDRESS], None);
        let ocr = person_in(
            42,
            Shape {
                households: false,
                error_model: ErrorModel::Ocr,
            },
            i,
        );
        if orig_index(42, i) == i {
            assert_eq!(
                p, ocr,
                "first registrations do not depend on the error model"
            );
        }
    }
    let changed = (0..2000)
        .filter(|&i| orig_index(42, i) != i)
        .filter(|&i| {
            let ocr = Shape {
                households: false,
                error_model: ErrorModel::Ocr,
            };
            person_in(42, ocr, i).values != person(42, i).values
        })
        .count();
    assert!(changed > 100, "{changed}");
}

fn start(records: usize, shape: Shape) -> SimHandle {
    kadi::sim::start(SimConfig {
        records,
        seed: 5,
        shape,
        ..SimConfig::default()
    })
    .expect("simulator starts")
}

#[test]
fn the_household_truth_file_names_every_record_and_true_pairs_share_a_household() {
    let dir = tempfile::tempdir().unwrap();
    let sim = start(600, HOUSEHOLDS);
    let path = dir.path().join("households.csv");
    assert_eq!(sim.write_households(&path).unwrap(), 600);
    let text = std::fs::read_to_string(&path).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("id,household"));
    let rows: HashMap<String, String> = lines
        .map(|l| {
            let (a, b) = l.split_once(',').unwrap();
            (a.to_string(), b.to_string())
        })
        .collect();
    assert_eq!(rows.len(), 600, "one row per record, ids unique");
    let households: HashSet<&String> = rows.values().collect();
    assert!(households.len() < 300, "{} households", households.len());
    let pairs = sim.truth_pairs();
    assert!(!pairs.is_empty());
    for (a, b) in &pairs {
        assert_eq!(rows[a], rows[b], "a re-registration lives in its household");
    }
    for i in 0..600u64 {
        assert_eq!(household(5, i), household(5, orig_index(5, i)));
    }
}

/// `kadi mpi eval --json --records … --truth … [--households …]`.
fn eval(dir: &std::path::Path, households: Option<&std::path::Path>) -> serde_json::Value {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_kadi"));
    cmd.arg("--db").arg(dir.join("unused.db"));
    cmd.args(["mpi", "eval", "--json", "--records"])
        .arg(dir.join("r.csv"))
        .arg("--truth")
        .arg(dir.join("t.csv"));
    if let Some(h) = households {
        cmd.arg("--households").arg(h);
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn eval_counts_a_wrong_link_between_two_household_members_as_a_household_false_link() {
    let dir = tempfile::tempdir().unwrap();
    // Records 1 and 2 are identical in every field, so any linker joins them; the truth says
    // they are two people of one household (1 and 3 are the true pair). Record 4 lives elsewhere.
    let row = "Awa,Diallo,1990-03-04,F,+221771234567,137 Médina,2199000011112";
    std::fs::write(
        dir.path().join("r.csv"),
        format!(
            "id,first_name,last_name,date_of_birth,gender,phone_number,address,national_id\n\
             1,{row}\n2,{row}\n3,{row}\n4,Cheikh,Ndiaye,1961-11-20,M,+221709998877,12 Pikine,1188000022223\n"
        ),
    )
    .unwrap();
    std::fs::write(dir.path().join("t.csv"), "id_a,id_b\n1,3\n").unwrap();
    let households = dir.path().join("h.csv");
    std::fs::write(&households, "id,household\n1,H1\n2,H1\n3,H1\n4,H9\n").unwrap();
    let v = eval(dir.path(), Some(&households));
    let h = &v["household_false_links"];
    // 1-2 and 2-3 are false pairs inside H1 (1-3 is the true one); same birth year.
    assert_eq!(h["auto"], 2, "{v}");
    assert_eq!(h["auto_plus_review"], 2, "{v}");
    assert_eq!(h["auto_born_10y_apart"], 0, "{v}");
    assert_eq!(v["auto"]["precision"].as_f64().unwrap(), 1.0 / 3.0, "{v}");
    // Without a household file the report has no such key rather than a count of zero.
    assert!(eval(dir.path(), None)
        .get("household_false_links")
        .is_none());
    // A household file naming an unknown record is refused.
    std::fs::write(&households, "id,household\n7,H1\n").unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_kadi"))
        .arg("--db")
        .arg(dir.path().join("unused.db"))
        .args(["mpi", "eval", "--records"])
        .arg(dir.path().join("r.csv"))
        .arg("--truth")
        .arg(dir.path().join("t.csv"))
        .arg("--households")
        .arg(&households)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown record id"));
}
