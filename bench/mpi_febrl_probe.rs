//! Manual probe: score distribution of FEBRL true pairs and blocked non-pairs. It prints tables
//! and asserts nothing, so it is a bench target of `kadi-sqlext`, not a test:
//! `cargo bench -p kadi-sqlext --bench mpi_febrl_probe [-- probe|levels|misses|nonmatches]`
//! (all four when none is named). Needs `../shared/mpi-data` beside the repository.
use kadi_sqlext::mpi::*;
use std::collections::{HashMap, HashSet};

/// Records as (id, prepared record, entity) and the true pairs.
type Loaded = (
    Vec<(String, PreparedRecord, String)>,
    HashSet<(String, String)>,
);

fn load(name: &str, nid: bool) -> Loaded {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/mpi-data");
    let text = std::fs::read_to_string(dir.join(format!("{name}.csv"))).unwrap();
    let mut recs = Vec::new();
    for line in text.lines().skip(1) {
        let c: Vec<&str> = line.split(',').collect();
        let d = c[9];
        let dob = if d.len() == 8 {
            format!("{}-{}-{}", &d[..4], &d[4..6], &d[6..])
        } else {
            d.to_string()
        };
        let addr = [c[3], c[4], c[5], c[6], c[7], c[8]]
            .iter()
            .filter(|s| !s.is_empty())
            .cloned()
            .collect::<Vec<_>>()
            .join(" ");
        let f: HashMap<&str, String> = [
            ("first_name", c[1].to_string()),
            ("last_name", c[2].to_string()),
            ("date_of_birth", dob),
            ("address", addr),
            (
                "national_id",
                if nid {
                    c[10].to_string()
                } else {
                    String::new()
                },
            ),
        ]
        .into_iter()
        .collect();
        let p = PreparedRecord::from_fields(|k| f.get(k).map(|s| s.as_str()));
        recs.push((c[0].to_string(), p, line.to_string()));
    }
    let t = std::fs::read_to_string(dir.join(format!("{name}_truth.csv"))).unwrap();
    let truth = t
        .lines()
        .skip(1)
        .map(|l| {
            let (a, b) = l.split_once(',').unwrap();
            (a.to_string(), b.to_string())
        })
        .collect();
    (recs, truth)
}

fn probe() {
    for (name, nid) in [
        ("febrl1", true),
        ("febrl1", false),
        ("febrl2", true),
        ("febrl2", false),
    ] {
        let (recs, truth) = load(name, nid);
        let idx: HashMap<&str, usize> = recs
            .iter()
            .enumerate()
            .map(|(i, r)| (r.0.as_str(), i))
            .collect();
        let mut bands = HashMap::new();
        let mut low = Vec::new();
        for (a, b) in &truth {
            let (x, y) = (&recs[idx[a.as_str()]], &recs[idx[b.as_str()]]);
            let e = explain_prepared(&x.1, &y.1);
            *bands.entry(band(e.score)).or_insert(0) += 1;
            if e.score < REVIEW && low.len() < 8 {
                low.push(format!(
                    "{:.3}\n  {}\n  {}\n  {}",
                    e.score,
                    x.2,
                    y.2,
                    e.to_json()
                ));
            }
        }
        // non-matches in blocks
        let mut blocks: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, r) in recs.iter().enumerate() {
            for k in block_keys(&r.1) {
                blocks.entry(k).or_default().push(i);
            }
        }
        let mut seen = HashSet::new();
        let mut fp = HashMap::new();
        let mut covered = 0;
        let mut fps = Vec::new();
        for v in blocks.values() {
            for i in 0..v.len() {
                for j in i + 1..v.len() {
                    let (a, b) = (v[i].min(v[j]), v[i].max(v[j]));
                    if !seen.insert((a, b)) {
                        continue;
                    }
                    let (x, y) = (&recs[a], &recs[b]);
                    let key = pair_key(&x.0, &y.0);
                    if truth.contains(&key) {
                        covered += 1;
                        continue;
                    }
                    let s = score_prepared(&x.1, &y.1);
                    *fp.entry(band(s)).or_insert(0) += 1;
                    if s >= REVIEW && fps.len() < 5 {
                        fps.push(format!("{s:.3}\n  {}\n  {}", x.2, y.2));
                    }
                }
            }
        }
        println!("{name} nid={nid} true pairs {} bands {:?}; blocked pairs {} covered {} ; non-match bands {:?}", truth.len(), bands, seen.len(), covered, fp);
        for l in &low {
            println!("LOW {l}");
        }
        for l in &fps {
            println!("FP {l}");
        }
    }
}

fn probe_levels() {
    let (recs, truth) = load("febrl2", false);
    let idx: HashMap<&str, usize> = recs
        .iter()
        .enumerate()
        .map(|(i, r)| (r.0.as_str(), i))
        .collect();
    let mut pat: HashMap<String, usize> = HashMap::new();
    for (a, b) in &truth {
        let e = explain_prepared(&recs[idx[a.as_str()]].1, &recs[idx[b.as_str()]].1);
        if e.score >= REVIEW {
            continue;
        }
        let k = e
            .fields
            .iter()
            .filter(|f| f.1 != Level::Missing)
            .map(|f| format!("{}={}", &f.0[..4], f.1.as_str()))
            .collect::<Vec<_>>()
            .join(" ");
        *pat.entry(format!("{:.1} {k}", e.log_odds)).or_default() += 1;
    }
    let mut v: Vec<_> = pat.into_iter().collect();
    v.sort_by_key(|e| std::cmp::Reverse(e.1));
    for (k, n) in v.iter().take(25) {
        println!("{n:4} {k}");
    }
    let mut blocks: HashMap<String, Vec<usize>> = HashMap::new();
    for (i, r) in recs.iter().enumerate() {
        for k in block_keys(&r.1) {
            blocks.entry(k).or_default().push(i);
        }
    }
    let mut mx: Vec<f64> = Vec::new();
    for v in blocks.values() {
        for i in 0..v.len() {
            for j in i + 1..v.len() {
                let (x, y) = (&recs[v[i]], &recs[v[j]]);
                let key = if x.0 < y.0 {
                    (x.0.clone(), y.0.clone())
                } else {
                    (y.0.clone(), x.0.clone())
                };
                if truth.contains(&key) {
                    continue;
                }
                mx.push(explain_prepared(&x.1, &y.1).log_odds);
            }
        }
    }
    mx.sort_by(|a, b| b.partial_cmp(a).unwrap());
    println!("top non-match log-odds {:?}", &mx[..10.min(mx.len())]);
}

/// Every true pair below the link band: whether blocking brings the two together, the log-odds
/// and the field levels, with both records (for classifying misses).
fn probe_misses() {
    let set = std::env::var("PROBE_SET").unwrap_or_else(|_| "febrl2".into());
    let nid = std::env::var("PROBE_NID").is_ok();
    let (recs, truth) = load(&set, nid);
    let idx: HashMap<&str, usize> = recs
        .iter()
        .enumerate()
        .map(|(i, r)| (r.0.as_str(), i))
        .collect();
    let keys: Vec<HashSet<String>> = recs
        .iter()
        .map(|r| block_keys(&r.1).into_iter().collect())
        .collect();
    let mut truth: Vec<_> = truth.into_iter().collect();
    truth.sort();
    for (a, b) in &truth {
        let (i, j) = (idx[a.as_str()], idx[b.as_str()]);
        let e = explain_prepared(&recs[i].1, &recs[j].1);
        if e.score >= LINK && std::env::var("PROBE_ALL").is_err() {
            continue;
        }
        let blocked = !keys[i].is_disjoint(&keys[j]);
        let levels = levels(&e);
        println!(
            "MISS {} blocked={blocked} lo={:.2} {levels} swapped={}\n  {}\n  {}",
            band(e.score),
            e.log_odds,
            e.names_swapped,
            recs[i].2,
            recs[j].2
        );
    }
}

/// The highest-scoring blocked non-matches with their field levels (precision headroom).
fn probe_nonmatches() {
    let set = std::env::var("PROBE_SET").unwrap_or_else(|_| "febrl2".into());
    let nid = std::env::var("PROBE_NID").is_ok();
    let (recs, truth) = load(&set, nid);
    let mut blocks: HashMap<String, Vec<usize>> = HashMap::new();
    for (i, r) in recs.iter().enumerate() {
        for k in block_keys(&r.1) {
            blocks.entry(k).or_default().push(i);
        }
    }
    let mut seen = HashSet::new();
    let mut top: Vec<(f64, String)> = Vec::new();
    for v in blocks.values() {
        for i in 0..v.len() {
            for j in i + 1..v.len() {
                let (a, b) = (v[i].min(v[j]), v[i].max(v[j]));
                if a == b || !seen.insert((a, b)) {
                    continue;
                }
                let (x, y) = (&recs[a], &recs[b]);
                let key = pair_key(&x.0, &y.0);
                if truth.contains(&key) {
                    continue;
                }
                let e = explain_prepared(&x.1, &y.1);
                if e.log_odds > -3.0 {
                    top.push((e.log_odds, format!("{}\n  {}\n  {}", levels(&e), x.2, y.2)));
                }
            }
        }
    }
    top.sort_by(|a, b| b.0.partial_cmp(&a.0).unwrap());
    println!("blocked pairs {}", seen.len());
    for (lo, t) in &top {
        println!("NONMATCH lo={lo:.2} {t}");
    }
}

/// A pair of record IDs in truth-file order (smaller first).
fn pair_key(a: &str, b: &str) -> (String, String) {
    if a < b {
        (a.to_string(), b.to_string())
    } else {
        (b.to_string(), a.to_string())
    }
}

/// The compared fields of an explanation, one `name=level(weight)` each.
fn levels(e: &Explanation) -> String {
    e.fields
        .iter()
        .filter(|f| f.1 != Level::Missing)
        .map(|f| format!("{}={}({})", &f.0[..4], f.1.as_str(), f.2))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Runs the probes named on the command line (all when none is), ignoring cargo's `--bench`.
/// Trained parameters beside the truth: for each level, m by EM (no truth used) against the m
/// measured on the true pairs, and u and the weight. FEBRL1 only (the tuning set).
fn probe_train() {
    for nid in [false, true] {
        let (recs, truth) = load("febrl1", nid);
        let prepared: Vec<PreparedRecord> = recs.iter().map(|r| r.1.clone()).collect();
        let p = train(&prepared, &TrainOptions::default()).unwrap();
        let by_id: HashMap<&str, &PreparedRecord> =
            recs.iter().map(|r| (r.0.as_str(), &r.1)).collect();
        let mut count = [0.0f64; SLOT_COUNT];
        let mut present: HashMap<&str, f64> = HashMap::new();
        for (a, b) in &truth {
            let s = comparison_slots(by_id[a.as_str()], by_id[b.as_str()]);
            for (i, slot) in s.iter().enumerate() {
                if let Some(slot) = slot {
                    *present.entry(FIELDS[i]).or_default() += 1.0;
                    let slot = match (i, slot) {
                        (0, Slot::NamesBothDisagree) => Slot::FirstDisagree,
                        (1, Slot::NamesBothDisagree) => Slot::LastDisagree,
                        _ => *slot,
                    };
                    count[slot.index()] += 1.0;
                }
            }
        }
        println!("national_id {nid}: prior {:.3}, {:?}", p.prior, p.trained);
        println!(
            "{:<32} {:>8} {:>8} {:>10} {:>8} {:>6}",
            "level", "m EM", "m true", "u", "weight", "prior"
        );
        for (i, (slot, field, level, w0, _)) in SLOTS.iter().enumerate() {
            let t = count[i] / present.get(field).copied().unwrap_or(f64::NAN);
            println!(
                "{:<32} {:>8.4} {:>8.4} {:>10.6} {:>8.3} {:>6.1}",
                format!("{field}.{level}"),
                p.m[i].unwrap_or(f64::NAN),
                t,
                p.u[i].unwrap_or(f64::NAN),
                p.w(*slot),
                w0
            );
        }
    }
}

fn main() {
    let probes: [(&str, fn()); 5] = [
        ("train", probe_train),
        ("probe", probe),
        ("levels", probe_levels),
        ("misses", probe_misses),
        ("nonmatches", probe_nonmatches),
    ];
    let wanted: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    for (name, run) in probes {
        if wanted.is_empty() || wanted.iter().any(|w| w == name) {
            println!("== {name}");
            run();
        }
    }
}
