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

/// Makes untrusted text (a request path, a user name) safe for one log line: control characters
/// and other invisible or terminal-steering characters become visible escapes (`\n`, `\x1b`,
/// `\u{202e}`), a backslash is doubled so escapes stay unambiguous, and the result is cut at
/// `max_chars` characters of input with a note of how much was left out. Without this, a path
/// with `%0a` forges log lines and one with `\x1b[` rewrites the operator's terminal.
pub fn escape_log(text: &str, max_chars: usize) -> String {
    let mut out = String::with_capacity(text.len().min(max_chars) + 8);
    for (taken, c) in text.chars().enumerate() {
        if taken == max_chars {
            let left = text.chars().count() - taken;
            out.push_str(&format!("…(+{left} chars)"));
            break;
        }
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x80 && (c.is_ascii_control()) => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c if c.is_control() || is_invisible_format(c) => {
                out.push_str(&format!("\\u{{{:x}}}", c as u32))
            }
            c => out.push(c),
        }
    }
    out
}

/// Unicode format characters that reorder or hide text on a terminal (bidi overrides, zero-width).
fn is_invisible_format(c: char) -> bool {
    matches!(c as u32,
        0x00AD | 0x061C | 0x180E | 0x200B..=0x200F | 0x2028..=0x202E | 0x2060..=0x206F | 0xFEFF | 0xFFF9..=0xFFFB)
}

#[cfg(test)]
mod tests {
    use super::escape_log;

    #[test]
    fn log_text_shows_control_characters_as_escapes_and_is_bounded() {
        assert_eq!(
            escape_log("/\x1b[31mred\nGET /x 200\r\t\\", 100),
            "/\\x1b[31mred\\nGET /x 200\\r\\t\\\\"
        );
        assert_eq!(
            escape_log("/é\u{9b}\u{202e}\u{7f}", 100),
            "/é\\u{9b}\\u{202e}\\x7f"
        );
        assert_eq!(escape_log("abcdef", 3), "abc…(+3 chars)");
        assert_eq!(escape_log("abc", 3), "abc");
    }
}
