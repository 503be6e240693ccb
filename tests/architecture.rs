//! The house follows its arrows: every `crate::…` reference in the library goes down the layers
//! of `docs/architecture.md`, never up or sideways.
//!
//! The crate split makes the big boundaries a compile error (`kadi-dhis2` cannot name the store,
//! `kadi-sim` is only reachable behind the `demo` feature, the command line lives in the binary
//! and the library cannot name it). Inside the library, modules of one crate can name each other
//! freely as far as rustc cares; this test is what makes an import against the arrows fail the
//! build's test run instead of slipping through review. It reads the source, so it needs no
//! tool: comments are ignored, `use crate::{a, b::c}` groups and `super::super::x` paths count.
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// What each library module may import (besides itself). Foundation modules (no kadi imports of
/// their own, or only other foundation ones) are allowed everywhere and listed in `FOUNDATION`.
const FOUNDATION: &[&str] = &[
    "actor", "clock", "fsx", "output", "record", "notify", "secret", "sql_enum",
];

/// The binary's modules (declared in src/main.rs, not lib.rs): over the library, in no layer.
const BINARY_MODULES: &[&str] = &["cli", "alloc"];

/// Files allowed one import more than their module, and why.
const FILE_EXCEPTIONS: &[(&str, &str)] = &[
    // The in-process fake DHIS2 serves the simulator's generated data (same records as the HTTP
    // simulator for a seed); it is compiled only with the `demo` feature, like the simulator.
    ("sync/fake.rs", "sim"),
];

fn allowed() -> BTreeMap<&'static str, &'static [&'static str]> {
    BTreeMap::from([
        // Foundation: secret seals with fsx's atomic writes; the rest import nothing of kadi.
        ("actor", &[][..]),
        ("clock", &[][..]),
        ("fsx", &[][..]),
        ("output", &[][..]),
        ("record", &[][..]),
        ("notify", &[][..]),
        ("secret", &["fsx"][..]),
        ("sql_enum", &[][..]),
        // SQL only: no DHIS2 shapes, no identities, no web shapes.
        ("store", &[][..]),
        // The box's link to its DHIS2: the sealed connection in the store made into a client.
        ("link", &["store", "dhis2"][..]),
        // Capabilities over the store; none of them knows another, or the network.
        ("mapping", &["store"][..]),
        ("mpi", &["store"][..]),
        // Cards draw the signed payload that `verify` makes.
        ("cards", &["store", "verify"][..]),
        // Signed cards (s11-v): keys and revocations in the store, exchanged through DHIS2's
        // dataStore over the box's link.
        ("verify", &["store", "link", "dhis2"][..]),
        // DHIS2 -> store, through the mapping and the guardrail. Knows neither MPI nor cards.
        ("sync", &["dhis2", "link", "mapping", "store"][..]),
        // Sync a program, resolve identities, make cards: the one place that chains them.
        (
            "jobs",
            &[
                "sync", "link", "mapping", "mpi", "cards", "store", "dhis2", "verify",
            ][..],
        ),
        // The page and the outbox sit on top of everything but the demo.
        (
            "web",
            &[
                "jobs", "sync", "link", "mapping", "mpi", "cards", "store", "dhis2", "send",
                "verify",
            ][..],
        ),
        // The outbox: card images from cards, SMS through the DHIS2 link (s11-s).
        ("send", &["cards", "store", "mpi", "link", "dhis2"][..]),
        // The demo runs the whole pipeline against the in-process simulator.
        (
            "demo",
            &[
                "sim", "jobs", "sync", "link", "mapping", "mpi", "cards", "store", "dhis2", "web",
                "send", "verify",
            ][..],
        ),
    ])
}

/// The module a source file belongs to (`src/sync/mod.rs` -> `sync`), or None for the crate root.
fn module_of(src: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(src).ok()?;
    let first = rel.components().next()?.as_os_str().to_str()?.to_string();
    match first.as_str() {
        "lib.rs" | "main.rs" => None,
        f => Some(f.trim_end_matches(".rs").to_string()),
    }
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The code of one line without its `//` comment (doc comments included).
fn code(line: &str) -> &str {
    match line.find("//") {
        Some(i) => &line[..i],
        None => line,
    }
}

/// The lines of a file before its `#[cfg(test)] mod tests` (tests may set up with anything).
fn production(text: &str) -> Vec<&str> {
    let lines: Vec<&str> = text.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        if line.trim() == "#[cfg(test)]" {
            let next = lines[i + 1..].iter().find(|l| !l.trim().is_empty());
            if next.is_some_and(|l| l.trim_start().starts_with("mod test")) {
                return lines[..i].to_vec();
            }
        }
    }
    lines
}

/// Every kadi module a file names: `crate::x`, `crate::{x, y::z}`, and `super::…` paths that climb
/// out of the file's own module.
fn references(file: &Path, src: &Path) -> BTreeSet<String> {
    let text = std::fs::read_to_string(file).unwrap();
    let body: String = production(&text)
        .iter()
        .map(|l| code(l))
        .collect::<Vec<_>>()
        .join("\n");
    let mut found = BTreeSet::new();
    let mut rest = body.as_str();
    while let Some(i) = rest.find("crate::") {
        let after = &rest[i + "crate::".len()..];
        if let Some(group) = after.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            for item in group[..end].split(',') {
                let name: String = item
                    .trim()
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() {
                    found.insert(name);
                }
            }
        } else {
            let name: String = after
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            found.insert(name);
        }
        rest = after;
    }
    // The workspace crates, named directly instead of through lib.rs's re-exports.
    for (krate, module) in [("kadi_dhis2", "dhis2"), ("kadi_sim", "sim")] {
        if body.contains(krate) {
            found.insert(module.to_string());
        }
    }
    // `super::` climbs one module per step from the file's module path (`a/b.rs` is `a::b`,
    // `a/mod.rs` is `a`); a path that reaches the crate root names a top-level module.
    let rel = file.strip_prefix(src).unwrap();
    let mut depth = rel.components().count(); // src/a/b.rs: 2 (a, b); src/a/mod.rs: 2 but is `a`
    if rel.file_name().is_some_and(|n| n == "mod.rs") {
        depth -= 1;
    }
    let mut rest = body.as_str();
    while let Some(i) = rest.find("super::") {
        let mut after = &rest[i..];
        let mut climbs = 0;
        while let Some(a) = after.strip_prefix("super::") {
            climbs += 1;
            after = a;
        }
        if climbs >= depth {
            let name: String = after
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            found.insert(name);
        }
        rest = &rest[i + climbs * "super::".len()..];
    }
    found
}

#[test]
fn every_library_import_goes_down_the_layers_of_the_architecture() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let allowed = allowed();
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    let mut violations = Vec::new();
    let mut modules_seen = BTreeSet::new();
    // Items of the crate root (`crate::VERSION`) and names inside a file's own inline modules are
    // not modules: only references to a top-level module (or a re-exported crate) count.
    let mut top_level: BTreeSet<String> = files.iter().filter_map(|f| module_of(&src, f)).collect();
    top_level.extend(["dhis2".to_string(), "sim".to_string()]);
    for file in &files {
        let Some(module) = module_of(&src, file) else {
            continue;
        };
        if BINARY_MODULES.contains(&module.as_str()) {
            continue; // the binary's own modules: checked below
        }
        modules_seen.insert(module.clone());
        let Some(may) = allowed.get(module.as_str()) else {
            violations.push(format!(
                "{}: module `{module}` is not in the architecture table (add it, with its layer)",
                file.display()
            ));
            continue;
        };
        for target in references(file, &src) {
            if target == module || !top_level.contains(&target) {
                continue;
            }
            let foundation_ok =
                FOUNDATION.contains(&target.as_str()) && !FOUNDATION.contains(&module.as_str());
            if foundation_ok || may.contains(&target.as_str()) {
                continue;
            }
            let rel = file
                .strip_prefix(&src)
                .unwrap()
                .to_string_lossy()
                .to_string();
            if FILE_EXCEPTIONS.contains(&(rel.as_str(), target.as_str())) {
                continue;
            }
            violations.push(format!(
                "{}: `{module}` imports `{target}`, against the arrows",
                file.display()
            ));
        }
    }
    assert!(
        violations.is_empty(),
        "imports against docs/architecture.md:\n  {}",
        violations.join("\n  ")
    );
    // The table must not keep modules that no longer exist (it would allow what nothing checks).
    for m in allowed.keys() {
        assert!(
            modules_seen.contains(*m) || *m == "dhis2" || *m == "sim",
            "architecture table names `{m}`, which is not a module of src/"
        );
    }
}

#[test]
fn the_library_names_no_command_line_type() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let lib = std::fs::read_to_string(src.join("lib.rs")).unwrap();
    assert!(
        !lib.lines().map(code).any(|l| l.contains("mod cli")),
        "lib.rs declares a cli module: the command line lives in the binary (src/main.rs, src/cli/)"
    );
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    for file in files {
        if module_of(&src, &file).as_deref() == Some("cli") || file.ends_with("main.rs") {
            continue;
        }
        let text = std::fs::read_to_string(&file).unwrap();
        for (n, line) in text.lines().enumerate() {
            let line = code(line);
            assert!(
                !line.contains("clap::") && !line.contains("use clap"),
                "{}:{}: a clap type in the library: it belongs in src/cli/",
                file.display(),
                n + 1
            );
        }
    }
}

#[test]
fn the_dhis2_client_and_the_simulator_know_nothing_of_the_app() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for (krate, may) in [("dhis2", &[][..]), ("sim", &["kadi-dhis2"][..])] {
        let manifest = std::fs::read_to_string(root.join(krate).join("Cargo.toml"))
            .unwrap_or_else(|e| panic!("{krate}/Cargo.toml: {e}"));
        for line in manifest.lines() {
            let dep = line.split('=').next().unwrap_or("").trim();
            if dep.starts_with("kadi") {
                assert!(
                    may.contains(&dep),
                    "{krate}/Cargo.toml depends on {dep}: only {may:?} are allowed"
                );
            }
        }
    }
}

/// The checker itself: a made-up file with each kind of path must report each module.
#[test]
fn the_import_reader_sees_grouped_nested_and_super_paths() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    std::fs::create_dir_all(src.join("sync")).unwrap();
    let file = src.join("sync").join("inner.rs");
    std::fs::write(
        &file,
        "use crate::{store::Store, mpi};\n\
         // crate::cards is only a comment\n\
         fn f() { crate::mapping::x(); super::super::web::y(); super::holder::z(); }\n\
         fn g() -> kadi_sim::SimHandle { todo!() }\n",
    )
    .unwrap();
    let found = references(&file, &src);
    let want: BTreeSet<String> = ["store", "mpi", "mapping", "web", "sim"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(found, want);
}
