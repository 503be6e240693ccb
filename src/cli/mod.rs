//! The `kadi` command line: every clap argument type and its handler. The library knows nothing
//! of clap; these handlers parse, call library functions with [`Actor::Cli`](kadi::actor::Actor)
//! and print reports.
pub mod cards;
#[cfg(feature = "demo")]
pub mod demo;
pub mod dhis2;
pub mod mapping;
pub mod mpi;
pub mod send;
#[cfg(feature = "demo")]
pub mod sim;
pub mod sync;
pub mod token;
pub mod verify;
pub mod wallet;
pub mod web;

use clap::{Parser, Subcommand};
use std::path::PathBuf;

/// kadi: DHIS2 sync, Master Patient Index and ID cards for an offline clinic box.
#[derive(Parser)]
#[command(name = "kadi", version = kadi::VERSION, about)]
pub struct Cli {
    /// The box's database file (created and upgraded as needed).
    #[arg(long, global = true, env = "KADI_DB", default_value = "kadi.db")]
    pub db: PathBuf,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Create or upgrade the database.
    Init {
        /// Print one JSON document instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Configure and test the DHIS2 connection; preview enrollments.
    Dhis2(dhis2::Dhis2Args),
    /// Pull a program's data from DHIS2 into the store, map it and resolve identities.
    Sync(sync::SyncArgs),
    /// Set the automatic sync schedule.
    Schedule(sync::ScheduleArgs),
    /// Map DHIS2 attributes to card fields.
    Map(mapping::MapArgs),
    /// Master Patient Index: review duplicates, link, merge, evaluate.
    Mpi(mpi::MpiArgs),
    /// Render ID cards.
    Cards(cards::CardsArgs),
    /// Send cards by WhatsApp or SMS through the outbox; the distribution log.
    Send(send::SendArgs),
    /// Serve the local web page and JSON API.
    Serve(web::ServeArgs),
    /// Manage the staff accounts that log in to the page.
    Staff(web::StaffArgs),
    /// Manage API tokens for the JSON API (`Authorization: Bearer`).
    Token(token::TokenArgs),
    /// Google Wallet save links for cards, made on the box (s11-w).
    Wallet(wallet::WalletArgs),
    /// Run a DHIS2 simulator (for tests and demos).
    #[cfg(feature = "demo")]
    Sim(sim::SimArgs),
    /// Run the whole pipeline against a built-in simulator.
    #[cfg(feature = "demo")]
    Demo(demo::DemoArgs),
    /// Verify a card's QR payload (or a card image) offline: valid, revoked, expired, ...
    Verify(verify::VerifyArgs),
    /// This box's card signing keys: rotate, list.
    Keys(verify::KeysArgs),
    /// Revoke or reissue a printed card.
    Card(verify::CardArgs),
    /// Back the database (and its key file) up into a directory, online.
    Backup {
        /// Directory for the backup files (`kadi-<UTC stamp>.db`, created 0700).
        #[arg(long)]
        to: PathBuf,
        /// Keep only the newest N backups in that directory.
        #[arg(long)]
        keep: Option<usize>,
        /// Print one JSON document instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Replace the database (and its key file) with a backup, after checking it. Stop
    /// `kadi serve` first.
    Restore {
        /// The backup file (`kadi-<UTC stamp>.db`).
        #[arg(long)]
        from: PathBuf,
        /// Print one JSON document instead of text.
        #[arg(long)]
        json: bool,
    },
}

impl Cli {
    /// Runs the parsed command.
    pub fn run(self) -> anyhow::Result<()> {
        let db = self.db;
        match self.command {
            Command::Init { json } => init(&db, json),
            Command::Dhis2(a) => a.run(&db),
            Command::Sync(a) => a.run(&db),
            Command::Schedule(a) => a.run(&db),
            Command::Map(a) => a.run(&db),
            Command::Mpi(a) => a.run(&db),
            Command::Cards(a) => a.run(&db),
            Command::Send(a) => a.run(&db),
            Command::Serve(a) => a.run(&db),
            Command::Staff(a) => a.run(&db),
            Command::Token(a) => a.run(&db),
            Command::Wallet(a) => a.run(&db),
            #[cfg(feature = "demo")]
            Command::Sim(a) => a.run(&db),
            #[cfg(feature = "demo")]
            Command::Demo(a) => a.run(&db),
            Command::Verify(a) => a.run(&db),
            Command::Keys(a) => a.run(&db),
            Command::Card(a) => a.run(&db),
            Command::Backup { to, keep, json } => backup(&db, &to, keep, json),
            Command::Restore { from, json } => restore(&db, &from, json),
        }
    }
}

fn init(db: &std::path::Path, json: bool) -> anyhow::Result<()> {
    let store = kadi::store::Store::create(db)?;
    let v = store.schema_version()?;
    let report = serde_json::json!({ "database": db.display().to_string(), "schema_version": v });
    kadi::output::report(json, &report, || {
        format!("database {} ready (schema version {v})", db.display())
    })
}

fn backup(
    db: &std::path::Path,
    to: &std::path::Path,
    keep: Option<usize>,
    json: bool,
) -> anyhow::Result<()> {
    let r = kadi::store::backup::backup(db, to, keep)?;
    kadi::output::report(json, &r, || {
        let mut s = format!(
            "backed up {} to {} ({} bytes)",
            db.display(),
            r.file,
            r.bytes
        );
        if !r.includes_key {
            s.push_str("\nno key file yet: nothing sealed to open");
        }
        for p in &r.pruned {
            s.push_str(&format!("\nremoved old backup {p}"));
        }
        s
    })
}

fn restore(db: &std::path::Path, from: &std::path::Path, json: bool) -> anyhow::Result<()> {
    let r = kadi::store::backup::restore(db, from, &kadi::actor::Actor::Cli)?;
    kadi::output::report(json, &r, || {
        format!(
            "restored {} from {} ({} MPI identities, {} staff{})",
            r.database,
            r.from,
            r.mpi_identities,
            r.staff,
            if r.key_restored {
                ", key file restored"
            } else {
                ""
            }
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// clap checks its own definitions (groups, `requires`, `conflicts_with` naming real
    /// arguments) only when asked: a typo there would otherwise surface as a panic at run time.
    #[test]
    fn the_command_line_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }

    /// Every argument of every subcommand that `kadi help SUBCOMMAND` lists, and every
    /// subcommand, has a description (a doc comment on the clap field or variant).
    fn undocumented(cmd: &clap::Command, path: &str, out: &mut Vec<String>) {
        for arg in cmd.get_arguments() {
            let id = arg.get_id().as_str();
            if arg.is_hide_set() || id == "help" || id == "version" {
                continue;
            }
            if arg.get_help().is_none() && arg.get_long_help().is_none() {
                out.push(format!("{path} --{}", arg.get_long().unwrap_or(id)));
            }
        }
        for sub in cmd.get_subcommands() {
            let sub_path = format!("{path} {}", sub.get_name());
            if sub.get_name() != "help" && sub.get_about().is_none() {
                out.push(format!("{sub_path} (no description)"));
            }
            undocumented(sub, &sub_path, out);
        }
    }

    #[test]
    fn kadi_help_documents_every_subcommand_and_flag() {
        use clap::CommandFactory;
        let mut missing = Vec::new();
        undocumented(&Cli::command(), "kadi", &mut missing);
        assert!(missing.is_empty(), "undocumented:\n{}", missing.join("\n"));
    }
}
