//! The command line speaks with one voice: every failure prints `kadi: error: ...` (plus
//! context lines) and exits non-zero; an unknown program is an error for every subcommand that
//! takes `--program` (found by walking `kadi help`, so a new one is covered); `kadi help
//! SUBCOMMAND` describes every flag; and no message shows an internal type name or Debug output
//! (`Dhis2Error::…`, `StaffRole`, `Some(…)`, `{ field: … }`).
mod support;

use std::collections::BTreeSet;
use support::*;

/// Every subcommand path (`["sync", "preview"]`, ...) that `kadi help` lists, recursively.
fn subcommands(db: &std::path::Path, path: &[String], out: &mut Vec<Vec<String>>) {
    let mut args: Vec<&str> = path.iter().map(String::as_str).collect();
    args.push("--help");
    let (ok, help, err) = kadi(db, &args, None);
    assert!(ok, "kadi {args:?}: {err}");
    let mut in_commands = false;
    for line in help.lines() {
        if line.starts_with("Commands:") {
            in_commands = true;
            continue;
        }
        if in_commands {
            let Some(name) = line
                .strip_prefix("  ")
                .and_then(|l| l.split_whitespace().next())
            else {
                break;
            };
            if name == "help" {
                continue;
            }
            let mut sub = path.to_vec();
            sub.push(name.to_string());
            out.push(sub.clone());
            subcommands(db, &sub, out);
        }
    }
}

/// Text that looks like Rust internals rather than words for a person.
fn internals(stderr: &str) -> Option<&'static str> {
    for shape in [
        "::",
        "Some(",
        "None,",
        "Error {",
        "Dhis2Error",
        "StaffRole",
        "panicked",
    ] {
        if stderr.contains(shape) {
            return Some(shape);
        }
    }
    // A Debug struct: `Name { field: value }`.
    let debug_struct = stderr.split("{ ").skip(1).any(|rest| {
        rest.split_once(':').is_some_and(|(field, _)| {
            !field.is_empty() && field.chars().all(|c| c.is_ascii_lowercase() || c == '_')
        })
    });
    debug_struct.then_some("{ field: ... }")
}

#[track_caller]
fn assert_error_shape(args: &[&str], out: &std::process::Output) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "kadi {args:?} succeeded: {stderr}");
    let first = stderr.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    assert!(
        first.starts_with("kadi: error: "),
        "kadi {args:?}: the first line is not `kadi: error: ...`:\n{stderr}"
    );
    if let Some(shape) = internals(&stderr) {
        panic!("kadi {args:?}: internal shape {shape:?} in:\n{stderr}");
    }
}

/// Extra arguments a subcommand needs besides `--program` to get as far as checking it.
fn with_required(path: &[String], dhis2_url: &str) -> Vec<String> {
    let mut args = path.to_vec();
    let extra: &[&str] = match path.join(" ").as_str() {
        "schedule set" => &["--interval", "10"],
        "dhis2 config" => &[
            "--url",
            dhis2_url,
            "--username",
            "admin",
            "--password-stdin",
        ],
        "map set" => &["--file", "-"],
        "cards preview" => &["--enrollment", "E0000000000", "--out", "/tmp/never.png"],
        _ => &[],
    };
    args.extend(extra.iter().map(|s| s.to_string()));
    args.extend(["--program".to_string(), "WRONGPROG".to_string()]);
    args
}

#[test]
fn every_subcommand_that_takes_a_program_refuses_an_unknown_one_in_the_error_shape() {
    let sim = sim("2.41", 8);
    let b = TestBox::new();
    drop(mapped_sim_store(b.dir.path(), &sim));
    let mut all = Vec::new();
    subcommands(&b.db, &[], &mut all);
    assert!(all.len() > 30, "the walk found only {all:?}");
    let mut checked = BTreeSet::new();
    for path in &all {
        let mut help_args: Vec<&str> = path.iter().map(String::as_str).collect();
        help_args.push("--help");
        let (_, help, _) = kadi(&b.db, &help_args, None);
        if !help.contains("--program") {
            continue;
        }
        let args = with_required(path, &sim.base_url);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = b.kadi(&args, "{\"programme_uid\":\"WRONGPROG\",\"mappings\":[]}");
        assert_error_shape(&args, &out);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("WRONGPROG"), "kadi {args:?}: {stderr}");
        checked.insert(path.join(" "));
    }
    for expected in [
        "sync",
        "sync preview",
        "dhis2 preview",
        "dhis2 config",
        "schedule set",
        "map show",
        "map set",
    ] {
        assert!(
            checked.contains(expected),
            "{expected} not walked: {checked:?}"
        );
    }
}

#[test]
fn failing_commands_print_one_error_shape_without_internal_names() {
    let b = TestBox::new();
    assert_success(&b.kadi(&["init"], ""));
    let failing: &[&[&str]] = &[
        &["dhis2", "test"],
        &["dhis2", "test", "--json"],
        &[
            "dhis2",
            "config",
            "--url",
            "ftp://x",
            "--username",
            "a",
            "--password-stdin",
        ],
        &["sync"],
        &[
            "schedule",
            "set",
            "--program",
            "P3jJH5Tu5VC",
            "--interval",
            "20",
        ],
        &["staff", "remove", "--username", "nobody"],
        &["staff", "add", "--username", "cli", "--pin-stdin"],
        &["token", "revoke", "nobody"],
        &["token", "create", "--name", "a b", "--role", "staff"],
        &["mpi", "show", "SN-DKR-26-NOPE"],
        &["mpi", "check-id", "SN-DKR-26-NOPE"],
        &["mpi", "explain", "{", "{}"],
        &["restore", "--from", "/no/such/backup.db"],
        &["map", "show", "--program", "P3jJH5Tu5VC"],
    ];
    for args in failing {
        let out = b.kadi(args, "1234\n");
        if args == &["mpi", "check-id", "SN-DKR-26-NOPE"] {
            // A report command: its answer is the report (INVALID) and the exit status.
            assert!(!out.status.success());
            continue;
        }
        assert_error_shape(args, &out);
    }
    // Usage errors are clap's, in clap's own `error:` shape, and exit 2.
    let out = b.kadi(&["token", "create", "--name", "x", "--role", "root"], "");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("possible values: staff, admin"));
}

/// `kadi help SUBCOMMAND` answers for every subcommand (that each flag has a description is
/// checked on clap's own model by the binary's unit test `kadi_help_documents_every_subcommand_and_flag`).
#[test]
fn kadi_help_answers_for_every_subcommand() {
    let b = TestBox::new();
    let mut all = Vec::new();
    subcommands(&b.db, &[], &mut all);
    for path in &all {
        let mut args: Vec<&str> = vec!["help"];
        args.extend(path.iter().map(String::as_str));
        let (ok, help, err) = kadi(&b.db, &args, None);
        assert!(ok, "kadi {args:?}: {err}");
        assert!(help.contains("Usage: kadi"), "kadi {args:?}: {help}");
    }
}
