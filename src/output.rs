//! How commands report: one JSON document on stdout with `--json`, a short human text otherwise.
use serde::Serialize;

/// Prints `value` as pretty JSON when `json` is set, else the `human` text.
pub fn report<T: Serialize>(
    json: bool,
    value: &T,
    human: impl FnOnce() -> String,
) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(value)?);
    } else {
        println!("{}", human());
    }
    Ok(())
}

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
