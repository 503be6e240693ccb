//! `kadi cards`: command-line arguments and their handler.
use std::path::Path;

/// Arguments of `kadi cards`.
#[derive(Debug, clap::Args)]
pub struct CardsArgs {
    /// Print one JSON document instead of text.
    #[arg(long)]
    pub json: bool,
}

impl CardsArgs {
    /// Runs the command against the database at `db`.
    pub fn run(self, db: &Path) -> anyhow::Result<()> {
        let _ = db;
        anyhow::bail!("kadi cards is not implemented yet")
    }
}
