//! `kadi wallet`: Google Wallet save links made on the box (s11-w). Handlers call
//! `kadi::send::wallet`; the service account's key is read from stdin, sealed, and never printed.
use anyhow::Context;
use clap::{Args, Subcommand};
use kadi::actor::Actor;
use kadi::cards::EnrollmentFilter;
use kadi::output::report;
use kadi::send::wallet::{self, WalletConfigChange};
use kadi::store::Store;
use std::io::Read;
use std::path::Path;

/// Arguments of `kadi wallet`.
#[derive(Debug, Args)]
pub struct WalletArgs {
    #[command(subcommand)]
    pub command: WalletCommand,
}

/// What `kadi wallet` does.
#[derive(Debug, Subcommand)]
pub enum WalletCommand {
    /// Store the Google Wallet issuer, pass class and service-account key (read from stdin, sealed).
    Config(ConfigArgs),
    /// Show the Wallet configuration (never the key).
    Show {
        /// Print one JSON document instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Make the "Add to Google Wallet" link of one card, offline.
    Link {
        /// Enrollment UID (or an MPI ID).
        #[arg(long)]
        enrollment: String,
        /// Print one JSON document instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Make one save link per card of a program (filters as `kadi cards generate`).
    Bulk(BulkArgs),
}

/// `kadi wallet config`.
#[derive(Debug, Args)]
pub struct ConfigArgs {
    /// Google Wallet issuer ID (digits, from the Google Pay & Wallet console).
    #[arg(long)]
    pub issuer_id: Option<String>,
    /// Generic pass class ID (`ISSUER.suffix`, or the suffix alone), made once in the console.
    #[arg(long)]
    pub class_id: Option<String>,
    /// Read the service account's JSON key file from stdin (it is sealed, never shown again).
    #[arg(long)]
    pub service_account_stdin: bool,
    /// Title line of the pass (default "Carte de santé").
    #[arg(long)]
    pub card_title: Option<String>,
    /// A web origin allowed to show a save button (repeatable; links opened from a message need none).
    #[arg(long = "origin")]
    pub origins: Vec<String>,
    /// Days a saved pass stays valid (default 365).
    #[arg(long)]
    pub valid_days: Option<u32>,
    /// Background colour of the pass (#rrggbb).
    #[arg(long)]
    pub background: Option<String>,
    /// Language tag of the pass's texts (default fr).
    #[arg(long)]
    pub language: Option<String>,
    /// Print one JSON document instead of text.
    #[arg(long)]
    pub json: bool,
}

/// `kadi wallet bulk`.
#[derive(Debug, Args)]
pub struct BulkArgs {
    /// Program UID.
    #[arg(long, alias = "programme")]
    pub program: String,
    #[command(flatten)]
    pub select: super::cards::EnrollmentFilterArgs,
    /// Print one JSON document instead of text.
    #[arg(long)]
    pub json: bool,
}

impl WalletArgs {
    /// Runs the command against the database at `db`.
    pub fn run(self, db: &Path) -> anyhow::Result<()> {
        let store = Store::open(db)?;
        match self.command {
            WalletCommand::Config(a) => config(&store, a),
            WalletCommand::Show { json } => {
                let view = wallet::config_view(&store)?;
                report(json, &view, || match &view {
                    None => "Google Wallet is not configured (kadi wallet config)".to_string(),
                    Some(v) => describe(v),
                })
            }
            WalletCommand::Link { enrollment, json } => {
                let link = wallet::link_for(&store, &enrollment)?;
                report(json, &link, || {
                    let mut text = link.save_url.clone();
                    if !link.left_out.is_empty() {
                        text.push_str(&format!(
                            "\n({} characters; left out to stay under {}: {})",
                            link.link_chars,
                            wallet::MAX_LINK_CHARS,
                            link.left_out.join(", ")
                        ));
                    }
                    text
                })
            }
            WalletCommand::Bulk(a) => bulk(&store, a),
        }
    }
}

fn describe(v: &wallet::WalletConfigView) -> String {
    let s = &v.settings;
    format!(
        "issuer {}\nclass {}\nservice account {}\nkey stored: {}\ntitle {}\norigins: {}\npasses valid {} days, background {}, language {}",
        s.issuer_id,
        s.class_id,
        s.service_account_email,
        if v.key_stored { "yes (sealed)" } else { "no" },
        s.card_title,
        if s.origins.is_empty() { "none".to_string() } else { s.origins.join(", ") },
        s.valid_days,
        s.background,
        s.language
    )
}

fn config(store: &Store, a: ConfigArgs) -> anyhow::Result<()> {
    let service_account_json = if a.service_account_stdin {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("reading the service account key from stdin")?;
        Some(text)
    } else {
        None
    };
    let change = WalletConfigChange {
        issuer_id: a.issuer_id,
        class_id: a.class_id,
        service_account_json,
        card_title: a.card_title,
        origins: (!a.origins.is_empty()).then_some(a.origins),
        valid_days: a.valid_days,
        background: a.background,
        language: a.language,
    };
    let view = wallet::configure(store, &Actor::Cli, &change)?;
    report(a.json, &view, || {
        format!("Google Wallet configured\n{}", describe(&view))
    })
}

fn bulk(store: &Store, a: BulkArgs) -> anyhow::Result<()> {
    let mut filter = EnrollmentFilter::default();
    a.select.apply_to(&mut filter);
    let links = wallet::links_for_program(store, &a.program, &filter)?;
    report(a.json, &links, || {
        let mut lines: Vec<String> = links
            .wallet_links
            .iter()
            .map(|l| format!("{}\t{}", l.enrollment_id, l.save_url))
            .collect();
        for e in &links.errors {
            lines.push(format!("{}\terror: {}", e.enrollment_id, e.error));
        }
        lines.push(format!(
            "{} of {} cards have a save link",
            links.processed, links.total
        ));
        lines.join("\n")
    })
}
