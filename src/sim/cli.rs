//! `kadi sim`: command-line arguments and their handler.
use std::path::Path;

/// Arguments of `kadi sim`.
#[derive(Debug, clap::Args)]
pub struct SimArgs {
    /// Print one JSON document instead of text.
    #[arg(long)]
    pub json: bool,
}

impl SimArgs {
    /// Runs the command against the database at `db`.
    pub fn run(self, db: &Path) -> anyhow::Result<()> {
        let _ = db;
        anyhow::bail!("kadi sim is not implemented yet")
    }
}
