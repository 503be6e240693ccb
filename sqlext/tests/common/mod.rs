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

/// The environment variable naming the tools a run may lack on purpose (comma separated, e.g.
/// `sqlite3`); `all` allows any. The same one as the root crate's test harness.
pub const ALLOW_MISSING: &str = "KADI_TEST_ALLOW_MISSING";

/// The full path of a tool a test drives. A missing tool FAILS the test with a clear message,
/// unless `KADI_TEST_ALLOW_MISSING` names it: then the skip is printed and `None` is returned, and
/// the test returns at once. `bash .ci/run` installs the tools.
pub fn require_tool(name: &str) -> Option<PathBuf> {
    let candidates = ["/usr/bin", "/usr/local/bin", "/bin"].map(|dir| Path::new(dir).join(name));
    if let Some(found) = candidates.iter().find(|p| p.exists()) {
        return Some(found.clone());
    }
    let allowed = std::env::var(ALLOW_MISSING).unwrap_or_default();
    if allowed
        .split(',')
        .map(str::trim)
        .any(|t| t == name || t == "all")
    {
        eprintln!("SKIPPED on purpose: {name} is not installed and {ALLOW_MISSING}={allowed}");
        return None;
    }
    panic!(
        "{name} is not installed (looked at {candidates:?}): this test needs it (bash .ci/run \
         installs it; apt-get install {name}); set {ALLOW_MISSING}={name} to skip it on purpose"
    );
}

/// The stock `sqlite3` shell (see `require_tool`).
pub fn sqlite3_shell() -> Option<PathBuf> {
    require_tool("sqlite3")
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
