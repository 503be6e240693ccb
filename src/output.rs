//! How commands report: one JSON document on stdout with `--json`, a short human text otherwise.
use serde::Serialize;

/// Prints `value` as pretty JSON when `json` is set, else the `human` text.
pub fn report<T: Serialize>(
    json: bool,
    value: &T,
    human: impl FnOnce() -> String,
) -> anyhow::Result<()> {
    if json {
        print_line(&serde_json::to_string_pretty(value)?)
    } else {
        print_line(&human())
    }
}

/// Prints `text` and a newline on stdout. A closed stdout (`kadi ... --json | head -c1`) is the
/// [`StdoutClosed`] error, which `main` turns into a quiet exit 0, where `println!` panics.
pub fn print_line(text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match writeln!(out, "{text}").and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Err(StdoutClosed.into()),
        Err(e) => Err(anyhow::Error::new(e).context("writing to standard output")),
    }
}

/// Whether `e` (or its cause) is a closed stdout.
pub fn is_stdout_closed(e: &anyhow::Error) -> bool {
    e.chain().any(|c| c.is::<StdoutClosed>())
}

/// `result`, with a closed stdout not counted as a failure (for `kadi serve`, which must keep
/// serving when nobody reads its start line).
pub fn ignore_closed_stdout(result: anyhow::Result<()>) -> anyhow::Result<()> {
    match result {
        Err(e) if is_stdout_closed(&e) => Ok(()),
        other => other,
    }
}

/// The reader of stdout went away (a pipe closed early): nothing more to say, not a failure.
#[derive(Debug)]
pub struct StdoutClosed;

impl std::fmt::Display for StdoutClosed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "standard output was closed")
    }
}

impl std::error::Error for StdoutClosed {}

/// An error whose message was already printed (e.g. a JSON report with `"status":"auth_failed"`):
/// `main` exits with `code` and prints nothing more.
#[derive(Debug)]
pub struct AlreadyReported(pub i32);

impl std::fmt::Display for AlreadyReported {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "failed (reported above)")
    }
}

impl std::error::Error for AlreadyReported {}
