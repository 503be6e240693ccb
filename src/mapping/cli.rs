//! `kadi map`: command-line arguments and their handler.
use std::path::Path;

/// Arguments of `kadi map`.
#[derive(Debug, clap::Args)]
pub struct MapArgs {
    /// Print one JSON document instead of text.
    #[arg(long)]
    pub json: bool,
}

impl MapArgs {
    /// Runs the command against the database at `db`.
    pub fn run(self, db: &Path) -> anyhow::Result<()> {
        let _ = db;
        anyhow::bail!("kadi map is not implemented yet")
    }
}
