//! `kadi dhis2`: command-line arguments and their handler.
use anyhow::Context;
use kadi::link::{ConnectionReport, Dhis2Settings};
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
    /// The DHIS2 programme (UID) the box works with; `kadi dhis2 test` checks DHIS2 shows it.
    #[arg(long, alias = "program")]
    pub programme: Option<String>,
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
        // The same library call as `POST /dhis2/config` and the settings page.
        let settings = Dhis2Settings {
            dhis2_url: self.url,
            username: self.username.filter(|_| self.password_stdin),
            password: self.password_stdin.then(|| secret.clone()),
            personal_access_token: (!self.password_stdin).then_some(secret),
            programme_uid: self.programme,
        };
        let store = Store::open(db)?;
        let view = kadi::link::save_settings(&store, &kadi::actor::Actor::Cli, &settings)?;
        let url = view.dhis2_url.clone();
        let report = serde_json::json!({
            "status": "saved", "base_url": url, "auth": view.auth, "username": view.username,
            "config": view,
        });
        kadi::output::report(self.json, &report, || {
            match &view.username {
            Some(u) => format!(
                "DHIS2 connection saved: {url} as {u} (password sealed); run `kadi dhis2 test`"
            ),
            None => format!("DHIS2 connection saved: {url} with a personal access token (sealed); run `kadi dhis2 test`"),
        }
        })
    }
}

impl TestArgs {
    fn run(self, db: &Path) -> anyhow::Result<()> {
        let store = Store::open(db)?;
        // The same library call as `POST /dhis2/test-connection` and the settings page.
        let result: ConnectionReport = kadi::link::test_stored_connection(&store)?;
        let code = match result.status.as_str() {
            "connected" => 0,
            "auth_failed" => 2,
            "unreachable" => 3,
            "not_configured" => 5,
            _ => 4,
        };
        if self.json {
            kadi::output::print_line(&serde_json::to_string_pretty(&result)?)?;
        } else if code == 0 {
            kadi::output::print_line(&human(&result))?;
        }
        if code != 0 {
            // One line in the shape of every kadi error (the JSON report, if asked, is on stdout).
            let why = match result.status.as_str() {
                "not_configured" => "no DHIS2 connection configured: run `kadi dhis2 config --url URL --username U --password-stdin`",
                _ => result.error.as_deref().unwrap_or("the connection test failed"),
            };
            eprintln!("kadi: error: {}: {why}", result.status.replace('_', " "));
            return Err(AlreadyReported(code).into());
        }
        Ok(())
    }
}

/// The text of a successful test: version, programmes and the user's org units by name.
fn human(r: &ConnectionReport) -> String {
    let mut s = format!(
        "connected to DHIS2 {} at {} (server time {}): {} programmes, {} organisation units",
        r.dhis2_version.as_deref().unwrap_or("?"),
        r.dhis2_url.as_deref().unwrap_or("?"),
        r.server_date.as_deref().unwrap_or("?"),
        r.programmes_available.unwrap_or(0),
        r.organisation_units.unwrap_or(0)
    );
    for p in &r.programs {
        s.push_str(&format!("\n  programme {} ({})", p.name, p.uid));
    }
    for o in &r.org_units {
        s.push_str(&format!("\n  org unit {} ({})", o.name, o.uid));
    }
    if let Some(e) = &r.error {
        s.push_str(&format!("\n{e}"));
    }
    s
}
