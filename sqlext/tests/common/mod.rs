//! Helpers shared by the integration tests: the shared data folder, the loadable extension
//! (built on demand), the stock `sqlite3` shell, and an in-process connection with kadi's
//! functions.
#![allow(dead_code)]
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

/// `../shared` beside the repository root, as CI lays it out.
pub fn shared() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared")
}

/// The repository root (the workspace holding `sqlext/`).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// An in-memory connection (bundled SQLite) with kadi's functions registered.
pub fn conn() -> rusqlite::Connection {
    let c = rusqlite::Connection::open_in_memory().expect("in-memory SQLite opens");
    kadi_sqlext::register(&c).expect("kadi functions register");
    c
}

/// Parses RFC 4180 CSV (quoted fields, doubled quotes, newlines inside quotes).
pub fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') => quoted = true,
            (false, ',') => row.push(std::mem::take(&mut field)),
            (false, '\n') => {
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
            }
            (false, '\r') if chars.peek() == Some(&'\n') => {}
            (false, c) => field.push(c),
        }
    }
    if !field.is_empty() || !row.is_empty() {
        row.push(field);
        rows.push(row);
    }
    rows
}

/// The stock `sqlite3` shell, or `None` (with a loud message) when it is not installed.
pub fn sqlite3_shell() -> Option<PathBuf> {
    let candidates = ["/usr/bin/sqlite3", "/usr/local/bin/sqlite3"];
    let found = candidates.iter().map(PathBuf::from).find(|p| p.exists());
    if found.is_none() {
        eprintln!("\n!!!!! SKIPPED: no sqlite3 shell found at {candidates:?}; install sqlite3 to run this test !!!!!\n");
    }
    found
}

/// Builds the loadable extension (release, its own workspace and target dir: a no-op when fresh)
/// and returns the path to give `.load` (without the `.so`).
pub fn loadable() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let root = repo_root();
            let manifest = root.join("sqlext/loadable/Cargo.toml");
            let target = root.join("sqlext/loadable/target");
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
            let status = Command::new(cargo)
                .args(["build", "--release", "--quiet", "--manifest-path"])
                .arg(&manifest)
                .arg("--target-dir")
                .arg(&target)
                .env_remove("CARGO_TARGET_DIR")
                .env_remove("RUSTFLAGS")
                .env_remove("CARGO_ENCODED_RUSTFLAGS")
                .status()
                .expect("cargo runs to build the loadable extension");
            assert!(status.success(), "building {} failed", manifest.display());
            target.join("release/libkadi_sqlext")
        })
        .clone()
}

/// Output of the `sqlite3` shell run on `script` (stdin) against an in-memory database with
/// kadi's extension loaded first.
pub struct ShellRun {
    pub stdout: String,
    pub stderr: String,
    pub status: std::process::ExitStatus,
}

pub fn run_shell(shell: &Path, script: &str) -> ShellRun {
    use std::io::Write;
    let full = format!(".load {}\n{script}", loadable().display());
    let mut child = Command::new(shell)
        .arg(":memory:")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("sqlite3 starts");
    let mut stdin = child.stdin.take().expect("piped stdin");
    let writer = std::thread::spawn(move || stdin.write_all(full.as_bytes()));
    let out = child.wait_with_output().expect("sqlite3 finishes");
    let _ = writer.join();
    ShellRun {
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        status: out.status,
    }
}

/// splitmix64: a tiny deterministic generator, so a failure replays with its seed.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}
