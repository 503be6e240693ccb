//! Learned parameters (`kadi mpi train`): estimation on generated stores (no evaluation set),
//! the bounds that keep a small or household-shaped store from teaching nonsense, term
//! frequencies, the JSON form and the SQL functions' third argument.
mod common;

use kadi_sqlext::mpi::*;
use rusqlite::types::Value;

/// A small deterministic generator (SplitMix64), so every test sees the same store.
struct Gen(u64);
impl Gen {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn chance(&mut self, p: f64) -> bool {
        (self.next() % 10_000) as f64 / 10_000.0 < p
    }
}

const FIRST: [&str; 40] = [
    "amadou",
    "fatou",
    "ibrahima",
    "aminata",
    "moussa",
    "mariama",
    "ousmane",
    "khadija",
    "cheikh",
    "astou",
    "abdoulaye",
    "ndeye",
    "babacar",
    "coumba",
    "modou",
    "awa",
    "lamine",
    "bineta",
    "pape",
    "sokhna",
    "alioune",
    "dieynaba",
    "seydou",
    "rokhaya",
    "malick",
    "adama",
    "souleymane",
    "yacine",
    "mamadou",
    "oumou",
    "thierno",
    "penda",
    "boubacar",
    "maimouna",
    "samba",
    "ramata",
    "demba",
    "kine",
    "idrissa",
    "nogaye",
];
const LAST: [&str; 30] = [
    "diallo", "ndiaye", "diop", "fall", "sow", "ba", "sy", "gueye", "faye", "sarr", "mbaye",
    "cisse", "kane", "thiam", "niang", "seck", "diouf", "camara", "toure", "dieng", "mane",
    "badji", "sagna", "diatta", "kebe", "wade", "lo", "sene", "ka", "samb",
];

/// A typo: two neighbouring letters swapped.
fn typo(s: &str, g: &mut Gen) -> String {
    let mut b: Vec<char> = s.chars().collect();
    if b.len() > 3 {
        let i = 1 + g.below(b.len() - 2);
        b.swap(i, i - 1);
    }
    b.into_iter().collect()
}

fn record(first: &str, last: &str, dob: &str, sex: &str, phone: &str, addr: &str) -> String {
    format!(
        r#"{{"first_name":"{first}","last_name":"{last}","date_of_birth":"{dob}","gender":"{sex}","phone_number":"{phone}","address":"{addr}"}}"#
    )
}

/// `people` people drawn independently (names weighted toward the first of each list, as real
/// names are), a fifth registered twice with slips.
fn independent_store(people: usize, seed: u64) -> Vec<String> {
    let mut g = Gen(seed);
    let mut out = Vec::new();
    for p in 0..people {
        // Zipf-like: the first names of the list are far commoner.
        let f = FIRST[(g.below(FIRST.len()) * g.below(FIRST.len())) / FIRST.len()];
        let l = LAST[(g.below(LAST.len()) * g.below(LAST.len())) / LAST.len()];
        let dob = format!(
            "{}-{:02}-{:02}",
            1950 + g.below(70),
            1 + g.below(12),
            1 + g.below(28)
        );
        let sex = if g.chance(0.5) { "F" } else { "M" };
        let phone = format!("+2217{:08}", p * 7919 % 100_000_000);
        let addr = format!("{} rue {} dakar", 1 + g.below(200), 1 + g.below(90));
        out.push(record(f, l, &dob, sex, &phone, &addr));
        if g.chance(0.2) {
            let f2 = if g.chance(0.3) {
                typo(f, &mut g)
            } else {
                f.to_string()
            };
            let phone2 = if g.chance(0.2) {
                String::new()
            } else {
                phone.clone()
            };
            out.push(record(&f2, l, &dob, sex, &phone2, &addr));
        }
    }
    out
}

/// The second child is a twin of the first now and then.
fn twin_of_previous(k: usize, g: &mut Gen) -> bool {
    k == 1 && g.chance(0.3)
}

/// Households: a family shares family name, phone and address; children of both sexes born
/// years apart, twins with one date; some members registered twice.
fn household_store(families: usize, seed: u64) -> (Vec<String>, Vec<(usize, usize)>) {
    let mut g = Gen(seed);
    let mut out = Vec::new();
    let mut siblings = Vec::new();
    for h in 0..families {
        let l = LAST[g.below(LAST.len())];
        let phone = format!("+2217{:08}", h * 104_729 % 100_000_000);
        let addr = format!("{} medina", 1 + h);
        let start = out.len();
        let kids = 2 + g.below(4);
        let mut year = 1990 + g.below(20);
        let mut used = Vec::new();
        for k in 0..kids {
            let mut f = FIRST[g.below(FIRST.len())];
            while used.contains(&f) {
                f = FIRST[g.below(FIRST.len())];
            }
            used.push(f);
            let dob = if twin_of_previous(k, &mut g) {
                out.last()
                    .map(|r: &String| r[r.find("date_of_birth").unwrap() + 16..][..10].to_string())
                    .unwrap()
            } else {
                year += 1 + g.below(4);
                format!("{year}-{:02}-{:02}", 1 + g.below(12), 1 + g.below(28))
            };
            let sex = if g.chance(0.5) { "F" } else { "M" };
            out.push(record(f, l, &dob, sex, &phone, &addr));
            if g.chance(0.15) {
                out.push(record(f, l, &dob, sex, &phone, &addr));
            }
        }
        for i in start..out.len() {
            for j in i + 1..out.len() {
                if out[i] != out[j] {
                    siblings.push((i, j));
                }
            }
        }
    }
    (out, siblings)
}

fn prepared(records: &[String]) -> Vec<PreparedRecord> {
    records
        .iter()
        .map(|r| PreparedRecord::from_json(r, 1).unwrap())
        .collect()
}

fn slot(p: &Params, s: Slot) -> (f64, f64, f64) {
    (p.m[s.index()].unwrap(), p.u[s.index()].unwrap(), p.w(s))
}

#[test]
fn training_measures_u_on_random_pairs_and_m_by_em_on_its_own_records() {
    let records = independent_store(3000, 1);
    let p = train(&prepared(&records), &TrainOptions::default()).unwrap();
    let t = p.trained.clone().unwrap();
    assert_eq!(t.records as usize, records.len());
    assert!(t.converged, "{t:?}");
    // Most true pairs agree on the birth date; different people almost never do.
    let (m, u, w) = slot(&p, Slot::DobExact);
    assert!(m > 0.8 && u < 0.001, "dob exact m {m} u {u}");
    assert!(
        w > slot(&p, Slot::DobClose).2 && w > 5.0,
        "dob exact weight {w}"
    );
    // A disagreeing given name is rare in true pairs, common between people.
    let (m, u, w) = slot(&p, Slot::FirstDisagree);
    assert!(
        m < 0.2 && u > 0.8 && w < -1.0,
        "first disagree m {m} u {u} w {w}"
    );
    // About a fifth of people are registered twice: the expected matches say so (within 30%).
    let duplicates = records.len() as f64 - 3000.0;
    assert!(
        (t.expected_matches - duplicates).abs() < 0.3 * duplicates,
        "expected {} true pairs, {duplicates} made",
        t.expected_matches
    );
    // The prior is the log-odds of a true pair among all pairs of the store.
    let n = records.len() as f64;
    let want = (duplicates / (n * (n - 1.0) / 2.0)).ln();
    assert!((p.prior - want).abs() < 0.5, "prior {} vs {want}", p.prior);
    // Deterministic: the same store trains to the same parameters.
    let again = train(&prepared(&records), &TrainOptions::default()).unwrap();
    assert_eq!(p.to_json(), again.to_json());
}

#[test]
fn a_household_shaped_store_cannot_teach_that_one_family_is_one_person() {
    let (records, siblings) = household_store(600, 2);
    let prepared = prepared(&records);
    let p = train(&prepared, &TrainOptions::default()).unwrap();
    // EM may not learn that a different birth date or national ID is common among true pairs.
    let (m_dob, _, _) = slot(&p, Slot::DobDisagree);
    assert!(m_dob < 0.2, "m of a disagreeing birth date {m_dob}");
    // No two members of a household born on different days link, with learned or a-priori
    // parameters (twins, one date and other first names, are the vetoes' case: mpi_family.rs).
    let dob = |r: &String| r[r.find("date_of_birth").unwrap() + 16..][..10].to_string();
    for params in [&p, default_params()] {
        for &(i, j) in siblings
            .iter()
            .filter(|(i, j)| dob(&records[*i]) != dob(&records[*j]))
        {
            let s = score_prepared_with(params, &prepared[i], &prepared[j]);
            assert!(
                s < LINK,
                "siblings {} / {} score {s}",
                records[i],
                records[j]
            );
        }
    }
}

#[test]
fn a_small_store_keeps_the_a_priori_weights_of_levels_it_barely_saw() {
    let records = independent_store(120, 3);
    let p = train(&prepared(&records), &TrainOptions::default()).unwrap();
    // National IDs, clinics and zones are absent: their weights are the a-priori ones.
    for s in [Slot::NidExact, Slot::ClinicDisagree, Slot::ZoneExact] {
        assert_eq!(p.w(s), s.prior_weight(), "{s:?}");
    }
    // Levels seen a handful of times stay near the a-priori weight.
    let (_, _, w) = slot(&p, Slot::DobCloseEstimated);
    assert!(
        (w - Slot::DobCloseEstimated.prior_weight()).abs() < 1.0,
        "{w}"
    );
    // Every weight within the bounds; agreements never count against, disagreements never for.
    for (i, (_, field, level, _, _)) in SLOTS.iter().enumerate() {
        let w = p.weights[i];
        assert!(
            (WEIGHT_RANGE.0..=WEIGHT_RANGE.1).contains(&w),
            "{field}.{level} {w}"
        );
        if level.starts_with("exact") {
            assert!(w >= 0.0, "{field}.{level} {w}");
        }
        if level.contains("disagree") {
            assert!(w <= 0.0, "{field}.{level} {w}");
        }
    }
    // Term frequencies need more records.
    assert!(p.tf.is_none());
    assert!(p.trained.unwrap().tf_off.unwrap().contains("records"));
    // And a store too small to learn from is refused with a reason.
    let err = train(
        &prepared(&independent_store(30, 4)),
        &TrainOptions::default(),
    )
    .unwrap_err();
    assert!(err.contains("at least"), "{err}");
}

#[test]
fn a_common_name_agreeing_weighs_less_than_a_rare_one() {
    let mut records = independent_store(2500, 5);
    // One rare given name, held by two records of one person.
    records.push(record("zeinabou", "kane", "1971-03-09", "F", "", ""));
    records.push(record("zeinabou", "kane", "1971-03-09", "F", "", ""));
    let p = train(&prepared(&records), &TrainOptions::default()).unwrap();
    let tf = p.tf.as_ref().expect("term frequencies on 3,000 records");
    let common = FIRST[0];
    assert!(tf.first_name.counts.get(common).copied().unwrap_or(0) > 50);
    let pair = |f: &str| {
        let a = PreparedRecord::from_json(&record(f, "x", "", "", "", ""), 1).unwrap();
        let b = PreparedRecord::from_json(&record(f, "y", "", "", "", ""), 1).unwrap();
        explain_prepared_with(&p, &a, &b).fields[0].2
    };
    assert!(
        pair("zeinabou") > pair(common) + 1.0,
        "rare {} common {}",
        pair("zeinabou"),
        pair(common)
    );
    // The adjustment is bounded both ways.
    assert!(pair("zeinabou") <= p.w(Slot::FirstExact) + TF_MAX_UP + 1e-9);
    assert!(pair(common) >= p.w(Slot::FirstExact) - TF_MAX_DOWN - 1e-9);
}

#[test]
fn uniformly_drawn_names_get_no_term_frequencies() {
    // Every given name equally often (as a synthetic generator draws them): counts differ only
    // by chance, so they say nothing about a name.
    let mut g = Gen(6);
    let records: Vec<String> = (0..3000)
        .map(|i| {
            record(
                FIRST[i % FIRST.len()],
                LAST[g.below(LAST.len())],
                &format!("19{:02}-0{}-1{}", g.below(99), 1 + g.below(9), g.below(9)),
                "F",
                "",
                "",
            )
        })
        .collect();
    let p = train(&prepared(&records), &TrainOptions::default()).unwrap();
    let why = p.trained.unwrap().tf_off.unwrap_or_default();
    assert!(why.contains("first_name: values are near-uniform"), "{why}");
    assert!(p.tf.unwrap().first_name.counts.is_empty());
}

#[test]
fn parameters_round_trip_through_json_and_bad_ones_are_refused() {
    let p = train(
        &prepared(&independent_store(1500, 7)),
        &TrainOptions::default(),
    )
    .unwrap();
    let back = Params::from_json(&p.to_json()).unwrap();
    let recs = prepared(&independent_store(200, 8));
    for w in recs.windows(2) {
        assert_eq!(
            score_prepared_with(&p, &w[0], &w[1]),
            score_prepared_with(&back, &w[0], &w[1])
        );
    }
    // The a-priori table round-trips to the very scores of the plain functions.
    let d = Params::from_json(&default_params().to_json()).unwrap();
    for w in recs.windows(2) {
        assert_eq!(
            score_prepared(&w[0], &w[1]),
            score_prepared_with(&d, &w[0], &w[1])
        );
    }
    for (bad, needle) in [
        ("{}", "missing field"),
        (r#"{"format":2,"prior":-8,"levels":{}}"#, "format 2"),
        (
            r#"{"format":1,"prior":-8,"levels":{"first_name":{"exactt":{"weight":1}}}}"#,
            "first_name.exactt",
        ),
        (r#"{"format":1,"prior":1e9,"levels":{}}"#, "prior"),
        (
            r#"{"format":1,"prior":-8,"levels":{"gender":{"exact":{"weight":1e300}}}}"#,
            "out of range",
        ),
    ] {
        let err = Params::from_json(bad).unwrap_err();
        assert!(err.contains(needle), "{bad}: {err}");
    }
}

#[test]
fn sql_functions_take_parameters_as_a_third_argument() {
    let conn = common::conn();
    let p = train(
        &prepared(&independent_store(1500, 9)),
        &TrainOptions::default(),
    )
    .unwrap();
    let json = p.to_json();
    let a = record(
        "fatou",
        "diop",
        "1980-02-03",
        "F",
        "+221771234567",
        "12 rue 5 dakar",
    );
    let b = record("fatuo", "diop", "1980-02-03", "F", "", "12 rue 5 dakar");
    let sql = |q: &str, params: &[&dyn rusqlite::ToSql]| -> rusqlite::Result<Value> {
        conn.query_row(q, params, |r| r.get(0))
    };
    let trained = sql("SELECT mpi_score(?1, ?2, ?3)", &[&a, &b, &json]).unwrap();
    assert_eq!(
        trained,
        Value::Real(score_json_with(&p, &a, &b).unwrap()),
        "the SQL function and the scorer agree"
    );
    // NULL parameters (an untrained box's `mpi_params` holds no row): the a-priori table.
    let null = sql("SELECT mpi_score(?1, ?2, NULL)", &[&a, &b]).unwrap();
    assert_eq!(null, Value::Real(score_json(&a, &b).unwrap()));
    // Parameters from a table, as the box keeps them.
    conn.execute_batch("CREATE TABLE mpi_params(params_json TEXT, active INTEGER)")
        .unwrap();
    conn.execute("INSERT INTO mpi_params VALUES (?1, 1)", [&json])
        .unwrap();
    let from_table = sql(
        "SELECT mpi_score(?1, ?2, (SELECT params_json FROM mpi_params WHERE active = 1))",
        &[&a, &b],
    )
    .unwrap();
    assert_eq!(from_table, trained);
    let explain = sql("SELECT mpi_explain(?1, ?2, ?3)", &[&a, &b, &json]).unwrap();
    let Value::Text(explain) = explain else {
        panic!("mpi_explain gives text")
    };
    assert!(explain.contains(&format!("\"prior\":{}", (p.prior * 1e6).round() / 1e6)));
    // Garbage parameters are an SQL error naming the argument, never a crash or a default.
    for bad in ["not json", "{\"format\":1}", "[1,2]"] {
        let err = sql("SELECT mpi_score(?1, ?2, ?3)", &[&a, &b, &bad.to_string()]).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("mpi_score") && text.contains("argument 3"),
            "{bad}: {text}"
        );
    }
}
