//! `kadi demo`: arguments and the page it serves after the pipeline ([`kadi::demo`]).
use anyhow::Result;
use kadi::demo::{run_pipeline, DemoSummary};
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
    /// Seed of the simulator's synthetic data (same seed, same people).
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Where the page listens (a free port is used if this one is taken).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: String,
}

impl DemoArgs {
    /// Runs the demo against the database at `db`. It serves the page without a sync scheduler:
    /// the pipeline just synced against its own simulator and "Sync now" syncs again; a scheduler
    /// would only add runs nobody asked for.
    pub fn run(self, db: &Path) -> Result<()> {
        let progress = !self.json;
        let (sim, mut summary) = run_pipeline(db, self.records, self.seed, progress)?;
        if self.once {
            return kadi::output::report(self.json, &summary, || human_summary(&summary));
        }
        let config = kadi::web::ServeConfig {
            db: db.to_path_buf(),
            listen: self.listen.clone(),
            threads: 4,
            hosts: Vec::new(),
            limits: Default::default(),
        };
        let running = match kadi::web::start(&config) {
            Ok(r) => r,
            Err(e) => {
                eprintln!("kadi demo: {e:#}; using a free port instead");
                kadi::web::start(&kadi::web::ServeConfig {
                    listen: "127.0.0.1:0".into(),
                    ..config
                })?
            }
        };
        summary.url = Some(running.url());
        kadi::output::report(self.json, &summary, || {
            format!(
                "{}\n\nOpen {} and log in as `{}` with PIN {} (Ctrl-C stops the demo).",
                human_summary(&summary),
                running.url(),
                summary.staff_username,
                summary.staff_pin
            )
        })?;
        use std::io::Write;
        let _ = std::io::stdout().flush();
        let result = running.wait();
        drop(sim);
        result
    }
}

fn human_summary(s: &DemoSummary) -> String {
    format!(
        "kadi demo: {} records synced from the simulator ({}), {} MPI identities ({} linked, {} new, {} to review), \
         {} cards in {} ({:.1} s)\ndatabase: {}\nstaff login: {} / PIN {}",
        s.records,
        s.simulator_url,
        s.mpi_identities,
        s.mpi_resolved,
        s.mpi_created,
        s.mpi_pending_review,
        s.cards_written,
        s.cards_dir,
        s.seconds.total,
        s.database,
        s.staff_username,
        s.staff_pin
    )
}
