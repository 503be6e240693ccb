//! The `kadi` command: parses arguments and calls the library. Nothing else lives here.
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

/// kadi: DHIS2 sync, Master Patient Index and ID cards for an offline clinic box.
#[derive(Parser)]
#[command(name = "kadi", version = kadi::VERSION, about)]
struct Cli {
    /// The box's database file (created and upgraded as needed).
    #[arg(long, global = true, env = "KADI_DB", default_value = "kadi.db")]
    db: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create or upgrade the database.
    Init {
        /// Print one JSON document instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Configure and test the DHIS2 connection; preview enrollments.
    Dhis2(kadi::dhis2::cli::Dhis2Args),
    /// Pull a program's data from DHIS2 into the store, map it and resolve identities.
    Sync(kadi::sync::cli::SyncArgs),
    /// Set the automatic sync schedule.
    Schedule(kadi::sync::cli::ScheduleArgs),
    /// Map DHIS2 attributes to card fields.
    Map(kadi::mapping::cli::MapArgs),
    /// Master Patient Index: review duplicates, link, merge, evaluate.
    Mpi(kadi::mpi::cli::MpiArgs),
    /// Render ID cards.
    Cards(kadi::cards::cli::CardsArgs),
    /// Serve the local web page and JSON API.
    Serve(kadi::web::cli::ServeArgs),
    /// Manage the staff accounts that log in to the page.
    Staff(kadi::web::cli::StaffArgs),
    /// Run a DHIS2 simulator (for tests and demos).
    Sim(kadi::sim::cli::SimArgs),
    /// Run the whole pipeline against a built-in simulator.
    Demo(kadi::demo::DemoArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let db = cli.db;
    let result = match cli.command {
        Command::Init { json } => init(&db, json),
        Command::Dhis2(a) => a.run(&db),
        Command::Sync(a) => a.run(&db),
        Command::Schedule(a) => a.run(&db),
        Command::Map(a) => a.run(&db),
        Command::Mpi(a) => a.run(&db),
        Command::Cards(a) => a.run(&db),
        Command::Serve(a) => a.run(&db),
        Command::Staff(a) => a.run(&db),
        Command::Sim(a) => a.run(&db),
        Command::Demo(a) => a.run(&db),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if let Some(r) = e.downcast_ref::<kadi::output::AlreadyReported>() {
                return ExitCode::from(r.0.clamp(1, 255) as u8);
            }
            eprintln!("kadi: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init(db: &std::path::Path, json: bool) -> anyhow::Result<()> {
    let store = kadi::store::Store::open(db)?;
    let v = store.schema_version()?;
    let report = serde_json::json!({ "database": db.display().to_string(), "schema_version": v });
    kadi::output::report(json, &report, || {
        format!("database {} ready (schema version {v})", db.display())
    })
}
