//! `kadi dhis2`: command-line arguments and their handler.
use anyhow::Context;
use kadi::dhis2::{Auth, ConnectionTest};
use kadi::output::AlreadyReported;
use kadi::store::Store;
use std::io::Read;
use std::path::Path;

/// Arguments of `kadi dhis2`.
#[derive(Debug, clap::Args)]
pub struct Dhis2Args {
    #[command(subcommand)]
    pub command: Dhis2Command,
}

/// `kadi dhis2` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Dhis2Command {
    /// Store the DHIS2 connection (URL and credentials; the secret is read from stdin and sealed).
    Config(ConfigArgs),
    /// Test the stored connection: version, server date, programmes, org units.
    Test(TestArgs),
    /// Preview the program's enrollments as synced (preview-enrollments shape; limit 10 by default).
    Preview(super::sync::PreviewArgs),
}

/// Arguments of `kadi dhis2 config`.
#[derive(Debug, clap::Args)]
pub struct ConfigArgs {
    /// The DHIS2 address (a trailing slash or a pasted `/api` is removed).
    #[arg(long)]
    pub url: String,
    /// DHIS2 username (with --password-stdin).
    #[arg(long, requires = "password_stdin")]
    pub username: Option<String>,
    /// Read the password from the first line of stdin.
    #[arg(long, conflicts_with = "token_stdin", requires = "username")]
    pub password_stdin: bool,
    /// Read a personal access token (DHIS2 2.37+) from the first line of stdin.
    #[arg(long)]
    pub token_stdin: bool,
    /// Print one JSON document instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `kadi dhis2 test`.
#[derive(Debug, clap::Args)]
pub struct TestArgs {
    /// Print one JSON document instead of text.
    #[arg(long)]
    pub json: bool,
}

impl Dhis2Args {
    /// Runs the command against the database at `db`.
    pub fn run(self, db: &Path) -> anyhow::Result<()> {
        match self.command {
            Dhis2Command::Config(a) => a.run(db),
            Dhis2Command::Test(a) => a.run(db),
            Dhis2Command::Preview(a) => a.run(db),
        }
    }
}

fn read_secret_line() -> anyhow::Result<String> {
    let mut input = String::new();
    std::io::stdin()
        .read_to_string(&mut input)
        .context("reading the secret from stdin")?;
    Ok(input
        .lines()
        .next()
        .unwrap_or("")
        .trim_end_matches('\r')
        .to_string())
}

impl ConfigArgs {
    fn run(self, db: &Path) -> anyhow::Result<()> {
        anyhow::ensure!(
            self.password_stdin || self.token_stdin,
            "give --username U --password-stdin or --token-stdin (secrets are never taken on the command line)"
        );
        let secret = read_secret_line()?;
        let auth = match (self.password_stdin, self.username) {
            (true, Some(username)) => Auth::Basic {
                username,
                password: secret,
            },
            _ => Auth::Token(secret),
        };
        let store = Store::open(db)?;
        let url = kadi::link::save_connection(&store, &kadi::actor::Actor::Cli, &self.url, &auth)?;
        let (kind, user) = match &auth {
            Auth::Basic { username, .. } => ("basic", Some(username.clone())),
            Auth::Token(_) => ("token", None),
        };
        let report = serde_json::json!({ "status": "saved", "base_url": url, "auth": kind, "username": user });
        kadi::output::report(self.json, &report, || {
            match &user {
            Some(u) => format!("DHIS2 connection saved: {url} as {u} (password sealed); run `kadi dhis2 test`"),
            None => format!("DHIS2 connection saved: {url} with a personal access token (sealed); run `kadi dhis2 test`"),
        }
        })
    }
}

impl TestArgs {
    fn run(self, db: &Path) -> anyhow::Result<()> {
        let store = Store::open(db)?;
        if store.dhis2_connection()?.is_none() {
            let message = "no DHIS2 connection configured: run `kadi dhis2 config --url URL --username U --password-stdin`";
            if self.json {
                let v = serde_json::json!({ "status": "not_configured", "error": message });
                kadi::output::print_line(&serde_json::to_string_pretty(&v)?)?;
            } else {
                eprintln!("not_configured: {message}");
            }
            return Err(AlreadyReported(5).into());
        }
        let client = kadi::link::client_from_store(&store)?;
        let result: ConnectionTest = kadi::dhis2::test_connection(&client);
        store.record_dhis2_test(&result.status, result.dhis2_version.as_deref())?;
        if let Some(d) = &result.server_date {
            store.record_server_date(d)?;
        }
        let code = match result.status.as_str() {
            "connected" => 0,
            "auth_failed" => 2,
            "unreachable" => 3,
            _ => 4,
        };
        if self.json {
            kadi::output::print_line(&serde_json::to_string_pretty(&result)?)?;
        } else if code == 0 {
            kadi::output::print_line(&format!(
                "connected to DHIS2 {} at {} (server time {}): {} programmes, {} organisation units",
                result.dhis2_version.as_deref().unwrap_or("?"),
                client.base_url(),
                result.server_date.as_deref().unwrap_or("?"),
                result.programmes_available.unwrap_or(0),
                result.organisation_units.unwrap_or(0)
            ))?;
        } else {
            eprintln!(
                "{}: {}",
                result.status,
                result.error.as_deref().unwrap_or("")
            );
        }
        if code != 0 {
            return Err(AlreadyReported(code).into());
        }
        Ok(())
    }
}
