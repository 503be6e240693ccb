//! `kadi serve`: command-line arguments and their handler.
use std::path::Path;

/// Arguments of `kadi serve`.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Print one JSON document instead of text.
    #[arg(long)]
    pub json: bool,
}

impl ServeArgs {
    /// Runs the command against the database at `db`.
    pub fn run(self, db: &Path) -> anyhow::Result<()> {
        let _ = db;
        anyhow::bail!("kadi serve is not implemented yet")
    }
}
