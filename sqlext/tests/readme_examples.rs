//! Every example in `sqlext/README.md` runs in the real `sqlite3` shell with kadi's loadable
//! extension and prints exactly the result the README shows (`-- → …` under the statement).
mod common;

struct Example {
    sql: String,
    expected: String,
}

fn examples() -> Vec<Example> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let mut out = Vec::new();
    let mut in_sql = false;
    let mut pending = String::new();
    for line in text.lines() {
        if line.starts_with("```") {
            in_sql = line.trim() == "```sql";
            assert!(
                pending.trim().is_empty(),
                "README statement without an expected result: {pending}"
            );
            continue;
        }
        if !in_sql {
            continue;
        }
        if let Some(expected) = line.strip_prefix("-- →") {
            let expected = expected.strip_prefix(' ').unwrap_or(expected);
            out.push(Example {
                sql: std::mem::take(&mut pending).trim().to_owned(),
                expected: expected.to_owned(),
            });
        } else {
            pending.push_str(line);
            pending.push('\n');
        }
    }
    out
}

#[test]
fn the_readme_documents_every_registered_function_with_an_example() {
    let all: String = examples()
        .iter()
        .map(|e| e.sql.clone())
        .collect::<Vec<_>>()
        .join("\n");
    for (name, _) in kadi_sqlext::register::FUNCTIONS {
        assert!(
            all.contains(&format!("{name}(")),
            "no README example calls {name}"
        );
    }
}

#[test]
fn every_readme_example_prints_what_the_readme_shows() {
    let Some(shell) = common::sqlite3_shell() else {
        return;
    };
    let examples = examples();
    assert!(
        examples.len() >= 30,
        "only {} examples found",
        examples.len()
    );
    let mut failures = Vec::new();
    for ex in &examples {
        let run = common::run_shell(&shell, &format!("{}\n", ex.sql));
        let got = run.stdout.strip_suffix('\n').unwrap_or(&run.stdout);
        if got != ex.expected || !run.stderr.is_empty() {
            failures.push(format!(
                "{}\n   README: {:?}\n   shell:  {:?}\n   stderr: {}",
                ex.sql,
                ex.expected,
                got,
                run.stderr.trim()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} README examples differ:\n{}",
        failures.len(),
        examples.len(),
        failures.join("\n")
    );
}
