//! `kadi sync`: command-line arguments and their handler.
use std::path::Path;

/// Arguments of `kadi sync`.
#[derive(Debug, clap::Args)]
pub struct SyncArgs {
    /// Print one JSON document instead of text.
    #[arg(long)]
    pub json: bool,
}

impl SyncArgs {
    /// Runs the command against the database at `db`.
    pub fn run(self, db: &Path) -> anyhow::Result<()> {
        let _ = db;
        anyhow::bail!("kadi sync is not implemented yet")
    }
}

/// Arguments of `kadi schedule`.
#[derive(Debug, clap::Args)]
pub struct ScheduleArgs {
    /// Print one JSON document instead of text.
    #[arg(long)]
    pub json: bool,
}

impl ScheduleArgs {
    /// Runs the command against the database at `db`.
    pub fn run(self, db: &Path) -> anyhow::Result<()> {
        let _ = db;
        anyhow::bail!("kadi schedule is not implemented yet")
    }
}
