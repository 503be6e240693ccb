//! `kadi demo`: the whole pipeline with no DHIS2 needed (in-process simulator on a free loopback
//! port, configure, map, sync, resolve, render, serve).
use std::path::Path;

/// Arguments of `kadi demo`.
#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Run the pipeline once, print a summary and exit (no web server).
    #[arg(long)]
    pub once: bool,
    /// Print one JSON document instead of text.
    #[arg(long)]
    pub json: bool,
    /// How many beneficiaries the simulator makes.
    #[arg(long, default_value_t = 200)]
    pub records: usize,
}

impl DemoArgs {
    /// Runs the demo against the database at `db`.
    pub fn run(self, db: &Path) -> anyhow::Result<()> {
        let _ = db;
        anyhow::bail!("kadi demo is not implemented yet")
    }
}
