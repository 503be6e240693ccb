//! `kadi sync` and `kadi schedule`: command-line arguments and their handlers.
use kadi::actor::Actor;
use kadi::output::{report, AlreadyReported};
use kadi::store::Store;
use std::path::Path;

/// Arguments of `kadi sync`.
#[derive(Debug, clap::Args)]
pub struct SyncArgs {
    #[command(subcommand)]
    pub command: Option<SyncCommand>,
    /// The DHIS2 program to sync (default: the only program with a mapping).
    #[arg(long)]
    pub program: Option<String>,
    /// Force a UID reconciliation (finds records deleted on servers up to 2.40).
    #[arg(long)]
    pub reconcile: bool,
    /// Pull program metadata and org units only (before `kadi map set`).
    #[arg(long)]
    pub metadata_only: bool,
    /// Pull and store only: leave identity resolution for `kadi mpi resolve` or the next sync
    /// (the records stay pending). Resolution needs no network, so a box with a short window
    /// online can spend all of it pulling.
    #[arg(long)]
    pub no_mpi: bool,
    /// Tracked entities per page.
    #[arg(long, default_value_t = 500)]
    pub page_size: u32,
    /// Restrict to this org unit and its descendants (repeatable).
    #[arg(long = "org-unit")]
    pub org_units: Vec<String>,
    /// Print one JSON document instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Subcommands of `kadi sync`.
#[derive(Debug, clap::Subcommand)]
pub enum SyncCommand {
    /// Preview synced enrollments (Oomus `preview-enrollments` shape).
    Preview(PreviewArgs),
    /// The most recent sync runs with their reports.
    Runs {
        /// How many runs to show, newest first.
        #[arg(long, default_value_t = 10)]
        limit: u32,
        /// Print one JSON document instead of text.
        #[arg(long)]
        json: bool,
    },
}

/// Arguments of `kadi dhis2 preview` and `kadi sync preview`: enrollments as the box holds them
/// after its last sync, in the shape of the product model's `preview-enrollments`.
#[derive(Debug, clap::Args)]
pub struct PreviewArgs {
    /// The program whose enrollments to show.
    #[arg(long)]
    pub program: String,
    /// Only enrollments at this org unit or below it.
    #[arg(long = "org-unit")]
    pub org_unit: Option<String>,
    /// First enrollment date, YYYY-MM-DD.
    #[arg(long)]
    pub from: Option<String>,
    /// Last enrollment date, YYYY-MM-DD.
    #[arg(long)]
    pub to: Option<String>,
    /// How many enrollments to list.
    #[arg(long, default_value_t = 10)]
    pub limit: u32,
    /// Print one JSON document instead of text.
    #[arg(long)]
    pub json: bool,
}

impl PreviewArgs {
    /// Runs the preview against the database at `db`.
    pub fn run(self, db: &Path) -> anyhow::Result<()> {
        self.run_on(&Store::open(db)?)
    }

    fn run_on(self, store: &Store) -> anyhow::Result<()> {
        let r = kadi::sync::preview(
            store,
            &self.program,
            self.org_unit.as_deref(),
            self.from.as_deref(),
            self.to.as_deref(),
            Some(self.limit),
        )?;
        report(self.json, &r, || {
            let mut s = format!(
                "{} enrollments in {}",
                r.total_enrollments,
                r.programme_name.as_deref().unwrap_or(&self.program)
            );
            for p in &r.preview {
                s.push_str(&format!(
                    "\n  {} {} {}",
                    p.enrollment_id,
                    p.enrollment_date.as_deref().unwrap_or("-"),
                    p.org_unit_name.as_deref().unwrap_or("-")
                ));
            }
            s
        })
    }
}

impl SyncArgs {
    /// Runs the command against the database at `db`.
    pub fn run(self, db: &Path) -> anyhow::Result<()> {
        let store = Store::open(db)?;
        match self.command {
            Some(SyncCommand::Preview(a)) => a.run_on(&store),
            Some(SyncCommand::Runs { limit, json }) => {
                let runs = store.sync_runs(limit)?;
                report(json, &runs, || {
                    runs.iter()
                        .map(|r| {
                            let mut line = format!(
                                "#{} {} {} {}",
                                r.id, r.program_uid, r.started_at, r.status
                            );
                            let count = |k: &str| {
                                r.report.as_ref().and_then(|j| j[k].as_u64()).unwrap_or(0)
                            };
                            for (k, what) in
                                [("quarantined", "quarantined"), ("missing", "missing")]
                            {
                                if count(k) > 0 {
                                    line.push_str(&format!(", {} {what}", count(k)));
                                }
                            }
                            line
                        })
                        .collect::<Vec<_>>()
                        .join("\n")
                })
            }
            None => {
                let program = match self.program {
                    Some(p) => p,
                    None => default_program(&store)?,
                };
                // `--metadata-only` (or `kadi map set`) is how a new program's metadata comes in;
                // once the box knows programs, another UID is a mistyped one. (On a fresh box
                // the sync's own error says to map the program first.)
                if !self.metadata_only && !store.known_programs()?.is_empty() {
                    store.require_program(&program)?;
                }
                let bar = (!self.json && std::io::IsTerminal::is_terminal(&std::io::stderr()))
                    .then(progress_bar);
                let opts = kadi::sync::SyncOptions {
                    page_size: self.page_size,
                    reconcile: self.reconcile,
                    metadata_only: self.metadata_only,
                    resolve_mpi: !self.no_mpi,
                    org_units: self.org_units,
                    progress: kadi::sync::Progress(bar.clone().map(|bar| {
                        std::sync::Arc::new(move |pulled: u64, total: Option<u64>| {
                            if let Some(t) = total {
                                bar.set_length(t);
                            }
                            bar.set_position(pulled);
                        }) as std::sync::Arc<kadi::sync::ProgressFn>
                    })),
                    ..Default::default()
                };
                let (r, result) = kadi::jobs::sync_program(&store, &program, &opts);
                if let Some(bar) = bar {
                    bar.finish_and_clear();
                }
                match result {
                    Ok(()) => report(self.json, &r, || human(&r)),
                    Err(e) if self.json => {
                        report(true, &r, String::new)?;
                        eprintln!("kadi: error: {e:#}");
                        Err(AlreadyReported(1).into())
                    }
                    Err(e) => Err(e),
                }
            }
        }
    }
}

fn progress_bar() -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(0);
    let style = indicatif::ProgressStyle::with_template(
        "{spinner} {pos} tracked entities {wide_bar} {percent}% eta {eta}",
    )
    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
    bar.set_style(style);
    bar
}

fn default_program(store: &Store) -> anyhow::Result<String> {
    let programs = store.mapped_programs()?;
    match programs.as_slice() {
        [one] => Ok(one.clone()),
        [] => anyhow::bail!(
            "which program? pass --program UID (then map it: `kadi map set --program UID --file mapping.json`)"
        ),
        many => anyhow::bail!("several programs are mapped ({}): pass --program UID", many.join(", ")),
    }
}

fn human(r: &kadi::sync::SyncReport) -> String {
    let mut s = format!(
        "synced {}: pulled {}, created {}, updated {}, deleted {}; MPI resolved {}, new {}, to review {}; {} pages, {} bytes in {:.1} s",
        r.program_uid,
        r.pulled,
        r.created,
        r.updated,
        r.deleted,
        r.mpi_resolved,
        r.mpi_created,
        r.mpi_pending_review,
        r.pages,
        r.bytes,
        r.seconds
    );
    if r.reconciled {
        s.push_str("\nreconciled deletions with the server's list of UIDs");
    }
    if r.fetched_by_uid > 0 {
        s.push_str(&format!(
            "\nfetched {} tracked entities by UID after checking the server's list",
            r.fetched_by_uid
        ));
    }
    if let Some(cap) = r.page_size_cap {
        s.push_str(&format!(
            "\nthe server caps pages at {cap} records: paged at {cap}"
        ));
    }
    if !r.partial_reasons.is_empty() {
        s.push_str(&format!(
            "\nPARTIAL: {} (the next sync retries)",
            r.partial_reasons.join("; ")
        ));
    }
    for q in &r.quarantine {
        s.push_str(&format!("\nquarantined {}: {}", q.uid, q.reason));
    }
    if let Some(page) = r.resumed_from_page {
        s.push_str(&format!("\nresumed an interrupted run at page {page}"));
    }
    if r.sensitive_blocked > 0 {
        let names: Vec<&str> = r
            .sensitive_attributes
            .iter()
            .map(|a| a.attribute.as_str())
            .collect();
        s.push_str(&format!(
            "\nblocked {} sensitive values ({})",
            r.sensitive_blocked,
            names.join(", ")
        ));
    }
    if r.retries > 0 {
        s.push_str(&format!(
            "\n{} retries: waited {:.1} s between them ({:.1} s because the server asked to slow down), {:.1} s in attempts that failed",
            r.retries, r.retry_wait_seconds, r.rate_limit_wait_seconds, r.failed_attempt_seconds
        ));
    }
    if let Some(size) = r.page_size_reduced_to {
        s.push_str(&format!(
            "\npages timed out: went on with pages of {size} (pass a smaller --page-size on this link)"
        ));
    }
    if !r.errors.is_empty() {
        s.push_str(&format!(
            "\n{} transient errors (see --json)",
            r.errors.len()
        ));
    }
    s
}

/// Arguments of `kadi schedule`.
#[derive(Debug, clap::Args)]
pub struct ScheduleArgs {
    #[command(subcommand)]
    pub command: ScheduleCommand,
}

/// Subcommands of `kadi schedule`.
#[derive(Debug, clap::Subcommand)]
pub enum ScheduleCommand {
    /// Set a program's automatic sync.
    Set {
        /// The program (UID) to sync automatically; it must be known to the box.
        #[arg(long)]
        program: String,
        /// Minutes between runs: 10, 15, 30, 60 or 180.
        #[arg(long)]
        interval: u32,
        /// `false` turns the automatic sync off (the interval is kept).
        #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
        enabled: bool,
        /// Render the program's new and changed cards after each scheduled sync.
        #[arg(long, default_value_t = false, action = clap::ArgAction::Set)]
        auto_generate_cards: bool,
        /// Print one JSON document instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Show every schedule.
    Show {
        /// Print one JSON document instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Run the scheduler once now (what `kadi serve` does every 30 s).
    Tick {
        /// Print one JSON document instead of text.
        #[arg(long)]
        json: bool,
    },
}

impl ScheduleArgs {
    /// Runs the command against the database at `db`.
    pub fn run(self, db: &Path) -> anyhow::Result<()> {
        let store = Store::open(db)?;
        match self.command {
            ScheduleCommand::Set {
                program,
                interval,
                enabled,
                auto_generate_cards,
                json,
            } => {
                // The same library call as `POST /dhis2/sync-schedule` and the schedule page.
                let request = kadi::jobs::ScheduleRequest {
                    programme_uid: Some(program.clone()),
                    interval_minutes: Some(interval),
                    enabled: Some(enabled),
                    auto_generate_cards: Some(auto_generate_cards),
                };
                let r = kadi::jobs::apply_schedule(&store, &Actor::Cli, &request)?;
                report(json, &r, || match &r.next_sync {
                    Some(n) => format!("{program}: every {interval} min, next sync at {n}"),
                    None => format!("{program}: automatic sync disabled"),
                })
            }
            ScheduleCommand::Show { json } => {
                let all = store.sync_schedules()?;
                report(json, &all, || {
                    all.iter()
                        .map(|s| {
                            format!(
                                "{}: every {} min, {}, next {}",
                                s.program_uid,
                                s.interval_minutes,
                                if s.enabled { "enabled" } else { "disabled" },
                                s.next_sync_at.as_deref().unwrap_or("-")
                            )
                        })
                        .collect::<Vec<_>>()
                        .join("\n")
                })
            }
            ScheduleCommand::Tick { json } => {
                // The same pass as `kadi serve`'s scheduler, cards included.
                let runs = kadi::jobs::scheduler_tick_with(&store, &kadi::jobs::cards_after_sync)?;
                report(json, &runs, || format!("{} runs", runs.len()))
            }
        }
    }
}
