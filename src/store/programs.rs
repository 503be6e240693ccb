//! Which programs the box knows: those whose metadata a sync (or `kadi map set`) brought into the
//! store. Every command and route that takes a program checks it here first, so a mistyped
//! `--program` is an error that lists the known ones instead of an empty answer ("0 enrollments",
//! "0 cards ready") that looks like a result.
use super::Store;
use anyhow::{Context, Result};
use serde::Serialize;

/// The error of [`Store::require_program`]: callers that answer HTTP make it a 404.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownProgram {
    /// What to tell the person: the program asked for and the ones the box knows.
    pub message: String,
}

impl std::fmt::Display for UnknownProgram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for UnknownProgram {}

/// A program the store holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KnownProgram {
    pub uid: String,
    pub name: String,
}

impl Store {
    /// Every program whose metadata is in the store, by name.
    pub fn known_programs(&self) -> Result<Vec<KnownProgram>> {
        let mut stmt = self
            .conn()
            .prepare("SELECT uid, name FROM programs ORDER BY name, uid")?;
        let rows = stmt.query_map([], |r| {
            Ok(KnownProgram {
                uid: r.get(0)?,
                name: r.get(1)?,
            })
        })?;
        rows.collect::<rusqlite::Result<_>>()
            .context("listing the programs the box knows")
    }

    /// The program `uid` when the store knows it; otherwise an error naming the known programs
    /// and how to bring a new one in.
    pub fn require_program(&self, uid: &str) -> Result<KnownProgram> {
        let known = self.known_programs()?;
        if let Some(p) = known.iter().find(|p| p.uid == uid) {
            return Ok(p.clone());
        }
        let uid_shown = crate::output::escape_log(uid, 40);
        let message = if known.is_empty() {
            format!("unknown program {uid_shown}: this box holds no program yet; pull its metadata first with `kadi sync --metadata-only --program UID` (or `kadi map set`)")
        } else {
            let list: Vec<String> = known
                .iter()
                .map(|p| format!("{} ({})", p.uid, p.name))
                .collect();
            format!(
                "unknown program {uid_shown}: the programs this box knows are {} (a new program comes in with `kadi map set --program UID --file mapping.json`)",
                list.join(", ")
            )
        };
        Err(UnknownProgram { message }.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_program_is_an_error_that_lists_the_known_ones() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(&dir.path().join("kadi.db")).unwrap();
        let e = s.require_program("WRONGPROG").unwrap_err().to_string();
        assert!(e.contains("no program yet"), "{e}");
        s.conn()
            .execute(
                "INSERT INTO programs(uid, name, fetched_at) VALUES ('P3jJH5Tu5VC', 'Child health', 'x')",
                [],
            )
            .unwrap();
        assert_eq!(
            s.require_program("P3jJH5Tu5VC").unwrap().name,
            "Child health"
        );
        let e = s.require_program("WRONGPROG").unwrap_err().to_string();
        assert!(
            e.contains("WRONGPROG") && e.contains("P3jJH5Tu5VC (Child health)"),
            "{e}"
        );
    }
}
