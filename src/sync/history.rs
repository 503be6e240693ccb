//! The sync history in plain words: each run's status, counts, and its errors and partial
//! reasons said so that clinic staff and an admin know what happened and what to do. The admin
//! page (`/admin/sync-history`) and `kadi sync runs` show these; the raw report stays in
//! `sync_runs.report_json` (and `kadi sync runs --json`).
use crate::store::Store;
use anyhow::Result;
use serde::Serialize;

/// One run as the history shows it (times are UTC; the page shows them in local time).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunSummary {
    pub id: i64,
    pub program_uid: String,
    /// The program's name, when the store has it.
    pub program_name: Option<String>,
    pub started_at: String,
    pub finished_at: Option<String>,
    /// `running`, `ok`, `partial`, `failed` or `interrupted`.
    pub status: String,
    /// What the status means, in a sentence.
    pub status_words: String,
    pub pulled: u64,
    pub created: u64,
    pub updated: u64,
    pub deleted: u64,
    pub new_identities: u64,
    pub to_review: u64,
    /// Why a partial run is partial, in plain words.
    pub partial_reasons: Vec<String>,
    /// The run's errors in plain words (the same error repeated is said once, with a count).
    pub errors: Vec<String>,
}

/// The newest `limit` runs, newest first.
pub fn history(store: &Store, limit: u32) -> Result<Vec<RunSummary>> {
    let runs = store.sync_runs(limit)?;
    let mut out = Vec::with_capacity(runs.len());
    for r in runs {
        let report = r.report.unwrap_or(serde_json::Value::Null);
        let n = |k: &str| report[k].as_u64().unwrap_or(0);
        let strings = |k: &str| -> Vec<String> {
            report[k]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default()
        };
        out.push(RunSummary {
            id: r.id,
            program_name: store.program_name(&r.program_uid)?,
            program_uid: r.program_uid,
            started_at: r.started_at,
            finished_at: r.finished_at,
            status_words: status_words(&r.status).to_string(),
            status: r.status,
            // Records fetched one by one after the listing were received too.
            pulled: n("pulled") + n("fetched_by_uid"),
            created: n("created"),
            updated: n("updated"),
            deleted: n("deleted"),
            new_identities: n("mpi_created"),
            to_review: n("mpi_pending_review"),
            partial_reasons: strings("partial_reasons")
                .iter()
                .map(|r| plain_partial(r))
                .collect(),
            errors: dedup(strings("errors").iter().map(|e| plain_error(e)).collect()),
        });
    }
    Ok(out)
}

/// What a run's status means.
pub fn status_words(status: &str) -> &'static str {
    match status {
        "ok" => "Finished: the box holds everything DHIS2 had for this program.",
        "partial" => "Finished, but some records could not be brought in; the next sync tries them again. The records already here are up to date and usable.",
        "failed" => "Stopped with an error; nothing is lost, and the next sync starts where this one stopped.",
        "interrupted" => "Cut off (the box restarted or lost power); the next sync resumes it.",
        "running" => "Running now.",
        _ => "Unknown state.",
    }
}

/// One error of a run report in plain words, with what to do.
pub fn plain_error(message: &str) -> String {
    let m = message.to_ascii_lowercase();
    let said = if m.contains("authentication failed") {
        "DHIS2 refused the box's username and password: an admin must enter them again on the DHIS2 connection page."
    } else if m.contains("retry later") || m.contains("429") {
        "DHIS2 was busy and asked kadi to wait; kadi waited and tried again."
    } else if m.contains("unreachable") || m.contains("timed out") {
        "DHIS2 could not be reached (no network, or the server did not answer in time); kadi tries again."
    } else if m.contains("rejected the request (5") {
        "DHIS2 had an internal problem answering; kadi tries again later."
    } else if m.contains("rejected the request (404") || m.contains("not readable") {
        "DHIS2 does not show this program to the box's user: check the programme on the DHIS2 connection page."
    } else if m.contains("rejected the request") {
        "DHIS2 refused a request of the box; ask the DHIS2 administrator if this repeats."
    } else if m.contains("cannot read") || m.contains("malformed") {
        "DHIS2 sent an answer kadi could not read; kadi tries again."
    } else if m.contains("no card mapping") {
        "No card mapping is set for this program: an admin must map its attributes to card fields."
    } else {
        return message.to_string();
    };
    said.to_string()
}

/// Why a run is partial, in plain words (the report's reasons name DHIS2's "tracked entities").
pub fn plain_partial(reason: &str) -> String {
    let count = reason.split_whitespace().next().unwrap_or("Some");
    let (records, them) = if count == "1" {
        ("record", "it")
    } else {
        ("records", "them")
    };
    if reason.contains("wait in quarantine") {
        format!("{count} {records} sent by DHIS2 could not be read (a damaged or unexpected value); kadi asks for {them} again at every sync.")
    } else if reason.contains("could not be fetched") {
        format!("{count} {records} DHIS2 listed could not be fetched; the next sync asks for {them} again.")
    } else if reason.contains("without a readable UID") {
        "A record DHIS2 sent could not be read at all; the next sync asks again.".to_string()
    } else if let Some(rest) = reason.strip_prefix("the server counted ") {
        format!(
            "DHIS2 counted {}; the next sync checks again.",
            rest.replace("tracked entities", "records")
                .replace("but listed", "but listed only")
        )
    } else {
        reason.replace("tracked entities", "records")
    }
}

/// The same sentence once, with how many times it happened.
fn dedup(sentences: Vec<String>) -> Vec<String> {
    let mut out: Vec<(String, usize)> = Vec::new();
    for s in sentences {
        match out.iter_mut().find(|(x, _)| *x == s) {
            Some((_, n)) => *n += 1,
            None => out.push((s, 1)),
        }
    }
    out.into_iter()
        .map(|(s, n)| if n > 1 { format!("{s} ({n} times)") } else { s })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_said_in_plain_words_once_each() {
        let said = dedup(
            [
                "DHIS2 unreachable: connection refused",
                "DHIS2 unreachable: connection refused",
                "DHIS2 authentication failed: 401",
            ]
            .iter()
            .map(|e| plain_error(e))
            .collect(),
        );
        assert_eq!(said.len(), 2, "{said:?}");
        assert!(said[0].contains("could not be reached") && said[0].ends_with("(2 times)"));
        assert!(said[1].contains("enter them again"));
        assert_eq!(plain_error("something new"), "something new");
        let partial =
            plain_partial("2 tracked entities could not be decoded and wait in quarantine");
        assert!(
            partial.starts_with("2 records sent by DHIS2 could not be read"),
            "{partial}"
        );
        assert_eq!(
            plain_partial("the server counted 50 tracked entities but listed 48"),
            "DHIS2 counted 50 records but listed only 48; the next sync checks again."
        );
    }
}
