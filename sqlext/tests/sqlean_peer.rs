//! sqlean's own SQL tests (`../shared/peer-tests/sqlean/`, verbatim from nalgeon/sqlean) run
//! against kadi's extension in the real `sqlite3` shell. Function names are mapped to kadi's;
//! checks of functions kadi does not provide are skipped (and counted, so a change is visible);
//! every check whose meaning kadi shares must print `NN|1`.
mod common;

/// sqlean name -> kadi name, for functions whose meaning kadi shares.
const SHARED: &[(&str, &str)] = &[
    ("fuzzy_damlev", "damerau_levenshtein"),
    ("dlevenshtein", "damerau_levenshtein"),
    ("fuzzy_jarowin", "jaro_winkler"),
    ("fuzzy_leven", "levenshtein"),
    ("fuzzy_soundex", "soundex"),
    ("casefold", "kadi_normalize"),
    ("unaccent", "kadi_normalize"),
];

/// Functions of sqlean that kadi deliberately does not provide (see the README).
const NOT_PROVIDED: &[&str] = &[
    "fuzzy_hamming",
    "fuzzy_osadist",
    "fuzzy_editdist",
    "fuzzy_phonetic",
    "fuzzy_rsoundex",
    "fuzzy_caver",
    "lower(",
    "nlower",
    "upper(",
    "nupper",
    "like(",
    " like ",
];

/// The checks of one sqlean test file that kadi shares, rewritten to kadi's names, with their ids.
fn shared_checks(file: &str) -> (Vec<(String, String)>, usize) {
    let path = common::shared().join("peer-tests/sqlean").join(file);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let mut checks = Vec::new();
    let mut skipped = 0;
    for line in text.lines().filter(|l| l.starts_with("select '")) {
        let id = line.split('\'').nth(1).unwrap_or_default().to_owned();
        let body = line.split_once(", ").map(|(_, b)| b).unwrap_or_default();
        if NOT_PROVIDED.iter().any(|f| body.contains(f))
            || !SHARED
                .iter()
                .any(|(from, _)| body.contains(&format!("{from}(")))
        {
            skipped += 1;
            continue;
        }
        let mut rewritten = line.to_owned();
        for (from, to) in SHARED {
            rewritten = rewritten.replace(&format!("{from}("), &format!("{to}("));
        }
        checks.push((id, rewritten));
    }
    (checks, skipped)
}

fn run_checks(file: &str, expected_shared: usize) {
    let Some(shell) = common::sqlite3_shell() else {
        return;
    };
    let (checks, skipped) = shared_checks(file);
    assert_eq!(
        checks.len(),
        expected_shared,
        "{file}: shared checks changed ({skipped} skipped)"
    );
    let script: String = checks.iter().map(|(_, sql)| format!("{sql}\n")).collect();
    let run = common::run_shell(&shell, &script);
    let lines: Vec<&str> = run.stdout.lines().collect();
    // A check that errors prints nothing, so count the lines as well as their content.
    assert_eq!(
        lines.len(),
        checks.len(),
        "{file}: some checks printed nothing; stderr: {}",
        run.stderr
    );
    for ((id, sql), line) in checks.iter().zip(&lines) {
        assert_eq!(*line, format!("{id}|1"), "{file} check {id} failed: {sql}");
    }
}

#[test]
fn sqleans_fuzzy_checks_pass_where_kadi_shares_their_meaning() {
    // 7 Damerau-Levenshtein + 5 Jaro-Winkler + 7 Levenshtein + 5 Soundex checks.
    run_checks("fuzzy.sql", 24);
}

#[test]
fn sqleans_unicode_casefold_and_unaccent_checks_pass_with_kadi_normalize() {
    run_checks("unicode.sql", 3);
}
