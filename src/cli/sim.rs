//! `kadi sim`: command-line arguments and their handler.
use kadi::sim::{Faults, SimConfig};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Arguments of `kadi sim`.
#[derive(Debug, clap::Args)]
pub struct SimArgs {
    #[command(subcommand)]
    pub command: SimCommand,
}

/// What to simulate.
#[derive(Debug, clap::Subcommand)]
pub enum SimCommand {
    /// Serve a simulated DHIS2 Web API until interrupted.
    Dhis2(SimDhis2Args),
}

/// Arguments of `kadi sim dhis2`.
#[derive(Debug, clap::Args)]
pub struct SimDhis2Args {
    /// Address to listen on (`127.0.0.1:0` picks a free port; the URL is printed).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: String,
    /// DHIS2 version to imitate: 2.36 ... 2.42 (or a full version such as 2.40.3.1).
    #[arg(long, default_value = "2.41")]
    pub version: String,
    /// Number of beneficiaries.
    #[arg(long, default_value_t = 1000)]
    pub records: usize,
    /// Seed of the synthetic data (same seed, same data).
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Write the true duplicate pairs (CSV `id_a,id_b` of enrollment UIDs) to this file.
    #[arg(long)]
    pub truth: Option<PathBuf>,
    /// Draw families of 2-8 (shared family name, phone and address; twins; namesakes) instead
    /// of independent people: the hard negatives of a real registration set. Default off.
    #[arg(long)]
    pub households: bool,
    /// Write which household each record belongs to (CSV `id,household`, enrollment UIDs) to
    /// this file, for `kadi mpi eval --households`.
    #[arg(long)]
    pub households_truth: Option<PathBuf>,
    /// How second registrations differ: `clerk` (today's model) or `ocr` (held-out: OCR
    /// confusions, phonetic respellings, nicknames, day/month swaps, missing fields).
    #[arg(long, default_value = "clerk")]
    pub error_model: kadi::sim::data::ErrorModel,
    /// Basic-auth user.
    #[arg(long, default_value = "admin")]
    pub username: String,
    /// Basic-auth password.
    #[arg(long, default_value = "district")]
    pub password: String,
    /// Personal access token accepted as `Authorization: ApiToken …` (2.37+).
    #[arg(long, default_value = kadi::sim::DEFAULT_TOKEN)]
    pub token: String,
    /// Share (0-1) of tracker answers that are 500.
    #[arg(long, default_value_t = 0.0)]
    pub fail_500: f64,
    /// Share (0-1) of tracker answers that are 503 (proxy HTML).
    #[arg(long, default_value_t = 0.0)]
    pub fail_503: f64,
    /// Share (0-1) of tracker answers whose connection is closed midway through the body.
    #[arg(long, default_value_t = 0.0)]
    pub drop: f64,
    /// Share (0-1) of tracker answers whose body is cut in half.
    #[arg(long, default_value_t = 0.0)]
    pub truncate: f64,
    /// Share (0-1) of tracker answers delayed by --slow-ms.
    #[arg(long, default_value_t = 0.0)]
    pub slow: f64,
    /// Delay of a slow answer (ms).
    #[arg(long, default_value_t = 2000)]
    pub slow_ms: u64,
    /// Largest tracker page size served.
    #[arg(long)]
    pub max_page_size: Option<u32>,
    /// Never gzip answers (by default they are gzipped when the request accepts it, as nginx in
    /// front of DHIS2 does).
    #[arg(long)]
    pub no_gzip: bool,
    /// Print one JSON line (`{"base_url":…}`) instead of text.
    #[arg(long)]
    pub json: bool,
}

impl SimArgs {
    /// Runs the command (the simulator needs no database; `db` is unused).
    pub fn run(self, _db: &Path) -> anyhow::Result<()> {
        match self.command {
            SimCommand::Dhis2(a) => a.run(),
        }
    }
}

impl SimDhis2Args {
    fn run(self) -> anyhow::Result<()> {
        for (name, share) in [
            ("--fail-500", self.fail_500),
            ("--fail-503", self.fail_503),
            ("--drop", self.drop),
            ("--truncate", self.truncate),
            ("--slow", self.slow),
        ] {
            anyhow::ensure!(
                (0.0..=1.0).contains(&share),
                "{name} is a share between 0 and 1, not {share}"
            );
        }
        let config = SimConfig {
            listen: self.listen,
            version: self.version,
            records: self.records,
            seed: self.seed,
            username: self.username,
            password: self.password,
            token: Some(self.token).filter(|t| !t.is_empty()),
            faults: Faults {
                error_500: self.fail_500,
                error_503: self.fail_503,
                drop: self.drop,
                truncate: self.truncate,
                slow: self.slow,
                slow_ms: self.slow_ms,
                max_page_size: self.max_page_size,
            },
            gzip: !self.no_gzip,
            shape: kadi::sim::data::Shape {
                households: self.households,
                error_model: self.error_model,
            },
            ..SimConfig::default()
        };
        let sim = kadi::sim::start(config)?;
        let truth_pairs = match &self.truth {
            Some(path) => Some(sim.write_truth(path)?),
            None => None,
        };
        if let Some(path) = &self.households_truth {
            sim.write_households(path)?;
        }
        let mut out = std::io::stdout().lock();
        if self.json {
            let v = serde_json::json!({
                "base_url": sim.base_url, "version": sim.version(), "records": sim.record_count(),
                "seed": sim.seed(), "truth_pairs": truth_pairs
            });
            writeln!(out, "{v}")?;
        } else {
            writeln!(
                out,
                "DHIS2 {} simulator listening on {} ({} records, seed {}); user admin; Ctrl-C stops it",
                sim.version(),
                sim.base_url,
                sim.record_count(),
                sim.seed()
            )?;
            if let (Some(n), Some(p)) = (truth_pairs, &self.truth) {
                writeln!(out, "{n} true duplicate pairs written to {}", p.display())?;
            }
        }
        out.flush()?;
        drop(out);
        loop {
            std::thread::park();
        }
    }
}
