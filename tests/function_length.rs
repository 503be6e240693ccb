//! No function over 120 lines, anywhere in the workspace (library, binary, crates, tests,
//! benches). A long function is where a newcomer gets lost and where a change hides; the limit is
//! a tripwire, not a style: a function near it should be split by what it does.
//!
//! Functions are found by parsing every file with `syn` (not by counting braces, which strings and
//! format strings defeat); a function's length runs from its `fn` line to its closing brace,
//! doc comments and attributes not counted.
use proc_macro2::Span;
use std::path::{Path, PathBuf};
use syn::spanned::Spanned;
use syn::visit::Visit;

const LIMIT: usize = 120;

/// The source trees of the workspace (the loadable extension's own workspace has one `lib.rs`
/// of registration glue, included too).
const TREES: &[&str] = &[
    "src",
    "tests",
    "bench",
    "dhis2/src",
    "sim/src",
    "sqlext/src",
    "sqlext/loadable/src",
    "build.rs",
];

#[derive(Default)]
struct Lengths {
    found: Vec<(String, usize, usize)>, // (name, first line, lines)
}

impl Lengths {
    fn add(&mut self, name: String, start: Span, end: Span) {
        let first = start.start().line;
        let lines = end.end().line + 1 - first;
        self.found.push((name, first, lines));
    }
}

impl<'ast> Visit<'ast> for Lengths {
    fn visit_item_fn(&mut self, f: &'ast syn::ItemFn) {
        self.add(f.sig.ident.to_string(), f.sig.span(), f.block.span());
        syn::visit::visit_item_fn(self, f);
    }
    fn visit_impl_item_fn(&mut self, f: &'ast syn::ImplItemFn) {
        self.add(f.sig.ident.to_string(), f.sig.span(), f.block.span());
        syn::visit::visit_impl_item_fn(self, f);
    }
    fn visit_trait_item_fn(&mut self, f: &'ast syn::TraitItemFn) {
        if let Some(block) = &f.default {
            self.add(f.sig.ident.to_string(), f.sig.span(), block.span());
        }
        syn::visit::visit_trait_item_fn(self, f);
    }
}

fn rust_files(path: &Path, out: &mut Vec<PathBuf>) {
    if path.is_file() {
        out.push(path.to_path_buf());
        return;
    }
    let Ok(entries) = std::fs::read_dir(path) else {
        return;
    };
    for entry in entries {
        let path = entry.unwrap().path();
        if path.is_dir() {
            if path.file_name().is_some_and(|n| n == "target") {
                continue;
            }
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn lengths(file: &Path) -> Vec<(String, usize, usize)> {
    let text = std::fs::read_to_string(file).unwrap();
    let ast = syn::parse_file(&text).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    let mut v = Lengths::default();
    v.visit_file(&ast);
    v.found
}

#[test]
fn no_function_in_the_workspace_is_over_120_lines() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for tree in TREES {
        rust_files(&root.join(tree), &mut files);
    }
    assert!(files.len() > 50, "found only {} Rust files", files.len());
    let mut long = Vec::new();
    let mut longest = (String::new(), 0);
    for file in &files {
        for (name, line, lines) in lengths(file) {
            if lines > longest.1 {
                longest = (format!("{}:{line} {name}", file.display()), lines);
            }
            if lines > LIMIT {
                long.push(format!("{}:{line} `{name}`: {lines} lines", file.display()));
            }
        }
    }
    assert!(
        long.is_empty(),
        "functions over {LIMIT} lines (split them by what they do):\n  {}",
        long.join("\n  ")
    );
    eprintln!("longest function: {} ({} lines)", longest.0, longest.1);
}

/// The measure itself: a made-up file whose function is known to be 5 lines long, with a format
/// string full of braces that a brace counter would misread.
#[test]
fn a_functions_length_runs_from_its_fn_line_to_its_closing_brace() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("x.rs");
    std::fs::write(
        &file,
        "/// doc\n#[inline]\nfn five() {\n    let _ = format!(\"{{{{\");\n    let _ = '}';\n    // }\n}\nimpl S { fn one(&self) {} }\n",
    )
    .unwrap();
    let found = lengths(&file);
    assert_eq!(
        found,
        vec![("five".to_string(), 3, 5), ("one".to_string(), 8, 1)]
    );
}
