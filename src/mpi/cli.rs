//! `kadi mpi`: command-line arguments and their handler.
use std::path::Path;

/// Arguments of `kadi mpi`.
#[derive(Debug, clap::Args)]
pub struct MpiArgs {
    /// Print one JSON document instead of text.
    #[arg(long)]
    pub json: bool,
}

impl MpiArgs {
    /// Runs the command against the database at `db`.
    pub fn run(self, db: &Path) -> anyhow::Result<()> {
        let _ = db;
        anyhow::bail!("kadi mpi is not implemented yet")
    }
}
