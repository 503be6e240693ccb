//! Every kadi SQL function called through SQLite with random values: NULLs, integers, reals,
//! random and hostile text, random BLOBs, invalid UTF-8, 1 MB strings, malformed and valid JSON.
//! Nothing may panic (a panic hook counts them, since rusqlite would otherwise hide a panic
//! behind an SQL error), NULL in must give NULL out, errors must name the function, and the
//! real `sqlite3` shell must survive the nastiest inputs.
mod common;

use kadi_sqlext::register::FUNCTIONS;
use rusqlite::types::Value;
use std::sync::atomic::{AtomicUsize, Ordering};

static PANICS: AtomicUsize = AtomicUsize::new(0);

use common::Rng;

const PIECES: &[&str] = &[
    "a",
    "Z",
    " ",
    "  ",
    "\t",
    "\r\n",
    "\r",
    "\n",
    "\0",
    "'",
    "\"",
    "-",
    ".",
    ",",
    "é",
    "e\u{301}",
    "\u{301}",
    "ñ",
    "ß",
    "İ",
    "Ɓ",
    "Ŋ",
    "ǃ",
    "😀",
    "👩‍👩‍👧",
    "🇸🇳",
    "王",
    "محمد",
    "አበበ",
    "\u{200d}",
    "\u{feff}",
    "\u{fffd}",
    "Ａ",
    "ﬁ",
    "0",
    "9",
    "MAC",
    "KN",
    "SCH",
    "PH",
    "IE",
    "DT",
    "Mamadou",
    "N'Diaye",
    "Ndèye",
    "{",
    "}",
    "[",
    "]",
    ":",
    "null",
    "\\",
    "%",
    "_",
];

const JSONS: &[&str] = &[
    "", "{", "[", "}", "null", "true", "1", "\"x\"", "[]", "{}", "[{}]", "{\"a\":", "[{\"value\":1}]", "{\"mappings\":null}",
    "{\"mappings\":[{\"card_field\":\"first_name\"}]}",
    "{\"mappings\":[{\"dhis2_attribute_code\":\"FN\",\"card_field\":\"first_name\"}]}",
    "{\"mappings\":[{\"dhis2_attribute_code\":\"SEX\",\"card_field\":\"gender\",\"value_map\":{\"1\":\"M\"}}]}",
    "{\"mappings\":[{\"dhis2_attribute_display_name\":\"HIV status\",\"card_field\":\"zone\"}]}",
    "[{\"attribute\":\"w75KJ2mc4zz\",\"code\":\"FN\",\"displayName\":\"First name\",\"value\":\"Awa\"},{\"code\":\"SEX\",\"value\":1}]",
    "[{\"displayName\":\"HIV status\",\"value\":\"positive\"}]",
    "{\"first_name\":\"Awa\",\"last_name\":\"Diallo\",\"date_of_birth\":\"1990-01-01\",\"gender\":\"F\"}",
    "{\"first_name\":\"Awa\",\"last_name\":null,\"date_of_birth\":12,\"gender\":[]}",
    "{\"first_name\":\"\",\"national_id\":\"SN123\"}",
];

/// Arguments that cannot be bound from Rust: TEXT that is not UTF-8, empty and zero BLOBs.
const NASTY_SQL: &[&str] = &[
    "CAST(x'ff' AS TEXT)",
    "CAST(x'c328' AS TEXT)",
    "CAST(x'6162ed' AS TEXT)",
    "x''",
    "zeroblob(10)",
];

fn random_text(rng: &mut Rng, max_pieces: usize) -> String {
    let n = rng.below(max_pieces + 1);
    (0..n).map(|_| *rng.pick(PIECES)).collect()
}

/// One argument: either a bound value or a literal SQL expression (for invalid UTF-8 TEXT).
enum Arg {
    Bound(Value),
    Sql(&'static str),
}

fn random_arg(rng: &mut Rng) -> Arg {
    match rng.below(20) {
        0..=2 => Arg::Bound(Value::Null),
        3 => Arg::Bound(Value::Integer(*rng.pick(&[
            0,
            1,
            2,
            -1,
            i64::MIN,
            i64::MAX,
            20260515,
        ]))),
        4 => Arg::Bound(Value::Real(*rng.pick(&[
            0.0,
            -0.0,
            0.75,
            0.95,
            1.5,
            -3.25,
            f64::INFINITY,
            1e300,
        ]))),
        5..=9 => Arg::Bound(Value::Text(random_text(rng, 12))),
        10 => Arg::Bound(Value::Text(rng.pick(PIECES).repeat(rng.below(40) + 1))),
        11 | 12 => Arg::Bound(Value::Text((*rng.pick(JSONS)).to_owned())),
        13 => Arg::Bound(Value::Blob(
            (0..rng.below(64)).map(|_| rng.next() as u8).collect(),
        )),
        14 => Arg::Bound(Value::Blob(random_text(rng, 8).into_bytes())),
        15 => Arg::Sql(NASTY_SQL[rng.below(NASTY_SQL.len())]),
        16 => Arg::Bound(Value::Text(
            rng.pick(&[
                "2026-05-15",
                "2026-02-29",
                "2024-12-30",
                "Weekly",
                "FinancialJuly",
                "Daily",
            ])
            .to_string(),
        )),
        17 => Arg::Bound(Value::Text(
            rng.pick(&["first_name", "gender", "zone", "nope", "P3jJH5Tu5VC"])
                .to_string(),
        )),
        _ => Arg::Bound(Value::Text(
            rng.pick(&["HIV", "ARTHUR", "Charge virale", "Male", "link", "0.96"])
                .to_string(),
        )),
    }
}

fn call(conn: &rusqlite::Connection, name: &str, args: &[Arg]) -> rusqlite::Result<Value> {
    let mut params = Vec::new();
    let exprs: Vec<String> = args
        .iter()
        .map(|a| match a {
            Arg::Bound(v) => {
                params.push(v.clone());
                format!("?{}", params.len())
            }
            Arg::Sql(s) => (*s).to_owned(),
        })
        .collect();
    let sql = format!("SELECT {name}({})", exprs.join(", "));
    conn.query_row(&sql, rusqlite::params_from_iter(params), |r| {
        r.get::<_, Value>(0)
    })
}

#[test]
fn random_values_never_panic_and_null_in_gives_null_out() {
    std::panic::set_hook(Box::new(|info| {
        PANICS.fetch_add(1, Ordering::SeqCst);
        eprintln!("PANIC inside a kadi function: {info}");
    }));
    let conn = common::conn();
    let seed = std::env::var("KADI_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x6b61_6469);
    let rounds: usize = std::env::var("KADI_FUZZ_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(400);
    let mut rng = Rng(seed);
    let mut calls = 0;
    for round in 0..rounds {
        for (name, arity) in FUNCTIONS {
            let args: Vec<Arg> = (0..*arity).map(|_| random_arg(&mut rng)).collect();
            // A NULL parameter table (mpi_score/mpi_explain's third argument) means "the a-priori
            // table", the two-argument form, not a NULL result: only the records count here.
            let data_args = if name.starts_with("mpi_") && *arity == 3 {
                2
            } else {
                *arity
            };
            let has_null = args[..data_args]
                .iter()
                .any(|a| matches!(a, Arg::Bound(Value::Null)));
            let got = call(&conn, name, &args);
            calls += 1;
            match &got {
                // kadi_verify answers a verdict for everything, NULL included (`unreadable`).
                Ok(Value::Text(v)) if has_null && *name == "kadi_verify" => {
                    assert!(v.contains("\"unreadable\""), "{v}")
                }
                Ok(v) if has_null => assert_eq!(
                    *v,
                    Value::Null,
                    "{name} with a NULL argument (seed {seed}, round {round})"
                ),
                Ok(_) => {}
                Err(e) => {
                    let msg = e.to_string();
                    assert!(msg.contains(name), "{name}: error does not name the function: {msg} (seed {seed}, round {round}, args {})", describe(&args));
                }
            }
        }
    }
    assert!(calls >= rounds * FUNCTIONS.len());
    assert_eq!(
        PANICS.load(Ordering::SeqCst),
        0,
        "kadi functions panicked (seed {seed})"
    );
}

#[test]
fn huge_strings_are_answered_or_refused_quickly_never_hung() {
    let conn = common::conn();
    let mega_ascii = "x".repeat(1 << 20);
    let mega_accents = "é".repeat(1 << 19);
    for (name, arity) in FUNCTIONS.iter().filter(|(_, a)| *a > 0) {
        for huge in [&mega_ascii, &mega_accents] {
            let started = std::time::Instant::now();
            let args: Vec<Arg> = (0..*arity)
                .map(|_| Arg::Bound(Value::Text(huge.clone())))
                .collect();
            let got = call(&conn, name, &args);
            if let Err(e) = &got {
                assert!(e.to_string().contains(name), "{name}: {e}");
            }
            // Generous: this is a hang detector, not a benchmark.
            assert!(
                started.elapsed().as_secs() < 20,
                "{name} took {:?} on a 1 MB string",
                started.elapsed()
            );
        }
    }
    let err = call(
        &conn,
        "levenshtein",
        &[
            Arg::Bound(Value::Text(mega_ascii.clone())),
            Arg::Bound(Value::Text("a".into())),
        ],
    )
    .expect_err("1 MB is over the limit");
    assert!(err.to_string().contains("argument 1"), "{err}");
}

#[test]
fn blobs_that_are_not_utf8_are_errors_naming_the_argument() {
    let conn = common::conn();
    for (sql, needle) in [
        ("SELECT jaro_winkler('a', x'ff')", "argument 2"),
        ("SELECT soundex(CAST(x'c328' AS TEXT))", "argument 1"),
        ("SELECT dhis2_map('[]', x'80')", "argument 2"),
        (
            "SELECT card_field('[]', '{\"mappings\":[]}', x'ff')",
            "argument 3",
        ),
    ] {
        let err = conn
            .query_row(sql, [], |r| r.get::<_, Value>(0))
            .expect_err(sql);
        assert!(err.to_string().contains(needle), "{sql}: {err}");
    }
}

#[test]
fn malformed_json_is_an_error_naming_the_argument() {
    let conn = common::conn();
    for (sql, needle) in [
        ("SELECT dhis2_map('[', '{}')", "argument 1"),
        ("SELECT dhis2_map('[]', '{\"mappings\":')", "argument 2"),
        ("SELECT card_field('{}', '{}', 'zone')", "argument 1"),
        ("SELECT dhis2_map('[]', '{\"mappings\":[{\"card_field\":\"shoe_size\",\"dhis2_attribute_code\":\"X\"}]}')", "shoe_size"),
        ("SELECT dhis2_period('2026-13-01', 'Monthly')", "argument 1"),
        ("SELECT dhis2_period('2026-05-01', 'Fortnightly')", "argument 2"),
        ("SELECT mpi_band('high')", "argument 1"),
    ] {
        let err = conn.query_row(sql, [], |r| r.get::<_, Value>(0)).expect_err(sql);
        assert!(err.to_string().contains(needle), "{sql}: {err}");
    }
    let mpi = conn
        .query_row("SELECT mpi_score('{', '{}')", [], |r| r.get::<_, Value>(0))
        .expect_err("malformed record");
    assert!(mpi.to_string().contains("mpi_score"), "{mpi}");
}

#[test]
fn a_wrong_argument_count_is_an_sql_error_for_every_function() {
    let conn = common::conn();
    for (name, _) in FUNCTIONS {
        // One more argument than the largest arity the name is registered with.
        let arity = FUNCTIONS
            .iter()
            .filter(|f| f.0 == *name)
            .map(|f| f.1)
            .max()
            .unwrap();
        let args = vec!["'a'"; arity + 1].join(", ");
        let err = conn
            .prepare(&format!("SELECT {name}({args})"))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            err.contains("wrong number of arguments") && err.contains(name),
            "{name}: {err}"
        );
    }
}

#[test]
fn every_function_but_dhis2_uid_is_registered_as_deterministic() {
    let conn = common::conn();
    const SQLITE_DETERMINISTIC: i64 = 0x800;
    for (name, arity) in FUNCTIONS {
        let flags: i64 = conn
            .query_row(
                "SELECT flags FROM pragma_function_list WHERE name = ?1 AND narg = ?2",
                rusqlite::params![name, *arity as i64],
                |r| r.get(0),
            )
            .unwrap_or_else(|e| panic!("{name} is not in pragma_function_list: {e}"));
        assert_eq!(
            flags & SQLITE_DETERMINISTIC != 0,
            // dhis2_uid draws at random; kadi_verify reads the keys and revocations tables.
            *name != "dhis2_uid" && *name != "kadi_verify",
            "{name} flags {flags:#x}"
        );
    }
}

#[test]
fn the_sqlite3_shell_survives_nasty_inputs() {
    let Some(shell) = common::sqlite3_shell() else {
        return;
    };
    let script = "\
SELECT 'r1', levenshtein(CAST(x'ff' AS TEXT), 'a');
SELECT 'r2', jaro_winkler(randomblob(1000), 'a');
SELECT 'r3', length(kadi_normalize(printf('%.*c', 1000000, 'x')));
SELECT 'r4', levenshtein(zeroblob(2000000), 'a');
SELECT 'r5', dhis2_map('[', '{}');
SELECT 'r6', mpi_score('{', '{}');
SELECT 'r7', length(nysiis(printf('%.*c', 1000000, 'y')));
SELECT 'r8', jaro_winkler('a');
SELECT 'r9', damerau_levenshtein(printf('%.*c', 3000, 'a'), 'b');
SELECT 'r10', metaphone(x'e282ac'), soundex(NULL) IS NULL;
SELECT 'alive';
";
    let run = common::run_shell(&shell, script);
    assert!(
        run.status.code().is_some(),
        "sqlite3 was killed: {:?}\nstderr: {}",
        run.status,
        run.stderr
    );
    assert!(
        run.stdout.trim_end().ends_with("alive"),
        "stdout: {}\nstderr: {}",
        run.stdout,
        run.stderr
    );
    assert!(run.stdout.contains("r3|1000000"), "{}", run.stdout);
    assert!(run.stdout.contains("r10||1"), "{}", run.stdout);
    for needle in [
        "levenshtein: argument 1",
        "argument 1 has 2000000",
        "dhis2_map: argument 1",
        "wrong number of arguments",
        "damerau_levenshtein: argument 1",
    ] {
        assert!(
            run.stderr.contains(needle),
            "stderr lacks {needle:?}: {}",
            run.stderr
        );
    }
}

fn describe(args: &[Arg]) -> String {
    let parts: Vec<String> = args
        .iter()
        .map(|a| match a {
            Arg::Bound(Value::Text(t)) if t.len() > 80 => format!("Text({} bytes)", t.len()),
            Arg::Bound(v) => format!("{v:?}"),
            Arg::Sql(s) => (*s).to_owned(),
        })
        .collect();
    parts.join(", ")
}
