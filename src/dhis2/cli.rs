//! `kadi dhis2`: command-line arguments and their handler.
use std::path::Path;

/// Arguments of `kadi dhis2`.
#[derive(Debug, clap::Args)]
pub struct Dhis2Args {
    /// Print one JSON document instead of text.
    #[arg(long)]
    pub json: bool,
}

impl Dhis2Args {
    /// Runs the command against the database at `db`.
    pub fn run(self, db: &Path) -> anyhow::Result<()> {
        let _ = db;
        anyhow::bail!("kadi dhis2 is not implemented yet")
    }
}
