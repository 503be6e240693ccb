//! kadi's string metrics against the independent reference values computed with Python
//! `jellyfish` 1.3.0 (`../shared/mpi-data/string-metric-vectors.csv`): distances and codes
//! exactly, similarities within 1e-9, both as plain Rust and through SQL.
mod common;

use kadi_sqlext::{phonetic, text};

struct Row {
    id: String,
    a: String,
    b: String,
    jaro: f64,
    jaro_winkler: f64,
    levenshtein: usize,
    damerau: usize,
    soundex: [String; 2],
    metaphone: [String; 2],
    nysiis: [String; 2],
}

fn rows() -> Vec<Row> {
    let path = common::shared().join("mpi-data/string-metric-vectors.csv");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let mut rows = common::parse_csv(&text).into_iter();
    let header = rows.next().expect("a header row");
    assert_eq!(header[0], "id");
    rows.map(|r| {
        assert_eq!(r.len(), 14, "row {:?} has {} fields", r.first(), r.len());
        let f = |i: usize| {
            r[i].parse::<f64>()
                .unwrap_or_else(|e| panic!("row {} field {i}: {e}", r[0]))
        };
        let n = |i: usize| {
            r[i].parse::<usize>()
                .unwrap_or_else(|e| panic!("row {} field {i}: {e}", r[0]))
        };
        Row {
            id: r[0].clone(),
            a: r[2].clone(),
            b: r[3].clone(),
            jaro: f(4),
            jaro_winkler: f(5),
            levenshtein: n(6),
            damerau: n(7),
            soundex: [r[8].clone(), r[9].clone()],
            metaphone: [r[10].clone(), r[11].clone()],
            nysiis: [r[12].clone(), r[13].clone()],
        }
    })
    .collect()
}

#[test]
fn the_reference_file_has_all_436_pairs() {
    assert_eq!(rows().len(), 436);
}

#[test]
fn rust_metrics_equal_jellyfish_on_every_reference_pair() {
    let mut failures = Vec::new();
    for r in rows() {
        let (a, b) = (r.a.as_str(), r.b.as_str());
        let mut check = |what: &str, ok: bool, got: String, want: String| {
            if !ok {
                failures.push(format!(
                    "row {} {what}({a:?}, {b:?}) = {got}, want {want}",
                    r.id
                ));
            }
        };
        let j = text::jaro(a, b);
        check(
            "jaro",
            (j - r.jaro).abs() <= 1e-9,
            j.to_string(),
            r.jaro.to_string(),
        );
        let jw = text::jaro_winkler(a, b);
        check(
            "jaro_winkler",
            (jw - r.jaro_winkler).abs() <= 1e-9,
            jw.to_string(),
            r.jaro_winkler.to_string(),
        );
        let jw_rev = text::jaro_winkler(b, a);
        check(
            "jaro_winkler reversed",
            (jw_rev - r.jaro_winkler).abs() <= 1e-9,
            jw_rev.to_string(),
            r.jaro_winkler.to_string(),
        );
        let l = text::levenshtein(a, b);
        check(
            "levenshtein",
            l == r.levenshtein,
            l.to_string(),
            r.levenshtein.to_string(),
        );
        let d = text::damerau_levenshtein(a, b);
        check(
            "damerau_levenshtein",
            d == r.damerau,
            d.to_string(),
            r.damerau.to_string(),
        );
        for (k, s) in [a, b].into_iter().enumerate() {
            let so = phonetic::soundex(s);
            check(
                "soundex",
                so == r.soundex[k],
                so.clone(),
                r.soundex[k].clone(),
            );
            let me = phonetic::metaphone(s);
            check(
                "metaphone",
                me == r.metaphone[k],
                me.clone(),
                r.metaphone[k].clone(),
            );
            let ny = phonetic::nysiis(s);
            check("nysiis", ny == r.nysiis[k], ny.clone(), r.nysiis[k].clone());
        }
    }
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn sql_functions_equal_jellyfish_on_every_reference_pair() {
    let conn = common::conn();
    let mut stmt = conn
        .prepare(
            "SELECT jaro(?1, ?2), jaro_winkler(?1, ?2), levenshtein(?1, ?2), damerau_levenshtein(?1, ?2), \
             soundex(?1), soundex(?2), metaphone(?1), metaphone(?2), nysiis(?1), nysiis(?2)",
        )
        .expect("query prepares");
    let mut failures = Vec::new();
    for r in rows() {
        let got = stmt
            .query_row([&r.a, &r.b], |row| {
                Ok((
                    row.get::<_, f64>(0)?,
                    row.get::<_, f64>(1)?,
                    row.get::<_, i64>(2)?,
                    row.get::<_, i64>(3)?,
                    [row.get::<_, String>(4)?, row.get::<_, String>(5)?],
                    [row.get::<_, String>(6)?, row.get::<_, String>(7)?],
                    [row.get::<_, String>(8)?, row.get::<_, String>(9)?],
                ))
            })
            .expect("query runs");
        let ok = (got.0 - r.jaro).abs() <= 1e-9
            && (got.1 - r.jaro_winkler).abs() <= 1e-9
            && got.2 as usize == r.levenshtein
            && got.3 as usize == r.damerau
            && got.4 == r.soundex
            && got.5 == r.metaphone
            && got.6 == r.nysiis;
        if !ok {
            failures.push(format!("row {}: {:?}", r.id, got));
        }
    }
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
