//! `kadi serve` and `kadi staff`: command-line arguments and their handlers.
use anyhow::{bail, Context, Result};
use kadi::actor::Actor;
use kadi::store::Store;
use kadi::web::staff;
use std::io::BufRead;
use std::path::Path;

/// Arguments of `kadi serve`.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on (`0.0.0.0:8080` for the clinic LAN).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: String,
    /// Worker threads answering requests.
    #[arg(long, default_value_t = 4)]
    pub threads: usize,
    /// A host name the page answers to (repeatable), e.g. `kadi.local` or a DNS name of the box.
    /// Always allowed: the listen address, `localhost`, and (listening on 0.0.0.0) the box's own
    /// interface addresses, which is what a clinic LAN user types: `http://192.168.1.10:8080`.
    #[arg(long = "host", value_name = "NAME")]
    pub hosts: Vec<String>,
    /// Do not run the sync scheduler in this process (the page only).
    #[arg(long)]
    pub no_scheduler: bool,
    /// Print one JSON document (the URL) at start instead of text.
    #[arg(long)]
    pub json: bool,
    /// Bounds of the HTTP front (hidden: the defaults are the documented values; tests shorten
    /// them so they need not wait out the real deadlines).
    #[command(flatten)]
    pub limits: FrontLimitArgs,
}

/// Hidden overrides of [`kadi::web::front::Limits`] for tests and benchmarks.
#[derive(Debug, clap::Args)]
pub struct FrontLimitArgs {
    /// Header section deadline in milliseconds (default 10000).
    #[arg(long, hide = true)]
    pub header_timeout_ms: Option<u64>,
    /// Body deadline base in milliseconds (default 10000, plus 1000 per 16 KiB).
    #[arg(long, hide = true)]
    pub body_timeout_ms: Option<u64>,
    /// Keep-alive idle timeout in milliseconds (default 30000).
    #[arg(long, hide = true)]
    pub idle_timeout_ms: Option<u64>,
    /// Write deadline in milliseconds (default 10000).
    #[arg(long, hide = true)]
    pub write_timeout_ms: Option<u64>,
    /// Most open connections (default 256).
    #[arg(long, hide = true)]
    pub max_connections: Option<usize>,
}

impl FrontLimitArgs {
    /// The defaults with the given overrides.
    pub fn limits(&self) -> kadi::web::front::Limits {
        let ms = std::time::Duration::from_millis;
        let mut l = kadi::web::front::Limits::default();
        if let Some(v) = self.header_timeout_ms {
            l.header_timeout = ms(v);
        }
        if let Some(v) = self.body_timeout_ms {
            l.body_timeout = ms(v);
            // Keep the per-16-KiB part in proportion so a shortened budget stays short.
            l.body_timeout_per_16k = ms(v / 10);
        }
        if let Some(v) = self.idle_timeout_ms {
            l.idle_timeout = ms(v);
        }
        if let Some(v) = self.write_timeout_ms {
            l.write_timeout = ms(v);
        }
        if let Some(v) = self.max_connections {
            l.max_connections = v.max(1);
        }
        l
    }
}

impl ServeArgs {
    /// Runs the command against the database at `db` (until killed).
    pub fn run(self, db: &Path) -> Result<()> {
        let store = Store::open(db)?;
        let staff = store.count("staff")?;
        drop(store);
        let running = kadi::web::start(&kadi::web::ServeConfig {
            db: db.to_path_buf(),
            listen: self.listen,
            threads: self.threads,
            hosts: self.hosts,
            limits: self.limits.limits(),
        })?;
        // The scheduler starts once the page is up (a port already taken starts nothing).
        let scheduler = if self.no_scheduler {
            None
        } else {
            Some(kadi::jobs::Scheduler::spawn(
                db,
                Box::new(kadi::jobs::cards_after_sync),
            )?)
        };
        // Sheets and generate-cards tasks queued by the page and the API run here, with or
        // without the sync scheduler; unfinished ones from a previous run resume now.
        let card_tasks = kadi::jobs::CardTaskWorker::spawn(db)?;
        // The outbox drains whenever a channel is reachable; what a previous process left
        // mid-send becomes `unknown` at its first pass (never resent blindly).
        let outbox = kadi::send::OutboxWorker::spawn(db)?;
        let url = running.url();
        let report = serde_json::json!({
            "url": url,
            "database": db.display().to_string(),
            "staff": staff,
            "scheduler": scheduler.is_some(),
        });
        // Nobody reading the start line (a closed stdout) is no reason to stop serving.
        let printed = kadi::output::report(self.json, &report, || {
            let mut s = format!("kadi serving {url} (database {})", db.display());
            if scheduler.is_none() {
                s.push_str("\nsync scheduler off (--no-scheduler)");
            }
            if staff == 0 {
                s.push_str("\nno staff account yet: add one with `kadi staff add --username NAME --pin-stdin`");
            }
            s
        });
        kadi::output::ignore_closed_stdout(printed)?;
        use std::io::Write;
        let _ = std::io::stdout().flush();
        // systemd: READY=1 now, WATCHDOG=1 while /healthz answers (see kadi::notify).
        kadi::notify::ready_and_watch(running.addr);
        // Returns only when a web thread died, always with an error: exit non-zero after the
        // scheduler has had a moment to stop cleanly.
        let result = running.wait();
        if let Some(s) = scheduler {
            s.stop(std::time::Duration::from_secs(5));
        }
        card_tasks.stop();
        outbox.stop();
        result
    }
}

/// Arguments of `kadi staff`.
#[derive(Debug, clap::Args)]
pub struct StaffArgs {
    #[command(subcommand)]
    pub command: StaffCommand,
}

/// What `kadi staff` does.
#[derive(Debug, clap::Subcommand)]
pub enum StaffCommand {
    /// Add a staff account, or set a new PIN for an existing one.
    Add {
        /// Login name (letters, digits, '.', '_', '-').
        #[arg(long)]
        username: String,
        /// Read the PIN (4 to 12 digits) from the first line of standard input.
        #[arg(long, required = true)]
        pin_stdin: bool,
        /// Name shown on the page.
        #[arg(long)]
        display_name: Option<String>,
        /// Give the account the admin role (settings, staff management).
        #[arg(long)]
        admin: bool,
        /// Print one JSON document instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Remove a staff account (and end its sessions).
    Remove {
        /// The account's login name.
        #[arg(long)]
        username: String,
        /// Print one JSON document instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Clear the login lock of a staff account (after too many wrong PINs), from every address.
    Unlock {
        /// The account's login name.
        #[arg(long)]
        username: String,
        /// Also clear this client address's budget across usernames (e.g. a shared clinic PC).
        #[arg(long)]
        address: Option<String>,
        /// Print one JSON document instead of text.
        #[arg(long)]
        json: bool,
    },
    /// List staff accounts.
    List {
        /// Print one JSON document instead of text.
        #[arg(long)]
        json: bool,
    },
}

impl StaffArgs {
    /// Runs the command against the database at `db`.
    pub fn run(self, db: &Path) -> Result<()> {
        let store = Store::open(db)?;
        match self.command {
            StaffCommand::Add {
                username,
                pin_stdin: _,
                display_name,
                admin,
                json,
            } => {
                if Actor::RESERVED.contains(&username.as_str()) {
                    bail!(
                        "{username} is reserved for the audit trail (it names {}); choose another username",
                        Actor::RESERVED.join(", ")
                    );
                }
                let mut line = String::new();
                std::io::stdin()
                    .lock()
                    .read_line(&mut line)
                    .context("reading the PIN from standard input")?;
                let pin = line.trim_end_matches(['\r', '\n']);
                staff::add_staff(
                    &store,
                    &Actor::Cli,
                    &username,
                    pin,
                    display_name.as_deref(),
                    admin,
                )?;
                let report = serde_json::json!({ "username": username, "role": if admin { "admin" } else { "staff" } });
                kadi::output::report(json, &report, || format!("staff account {username} saved"))
            }
            StaffCommand::Remove { username, json } => {
                if !staff::remove_staff(&store, &Actor::Cli, &username)? {
                    bail!("no staff account named {username}");
                }
                kadi::output::report(json, &serde_json::json!({ "removed": username }), || {
                    format!("staff account {username} removed")
                })
            }
            StaffCommand::Unlock {
                username,
                address,
                json,
            } => {
                let cleared =
                    staff::unlock_staff(&store, &Actor::Cli, &username, address.as_deref())?;
                let report = serde_json::json!({ "username": username, "address": address, "cleared": cleared });
                kadi::output::report(json, &report, || {
                    if cleared == 0 {
                        format!("{username} was not locked")
                    } else {
                        format!("{username} unlocked")
                    }
                })
            }
            StaffCommand::List { json } => {
                let staff = store.staff_list()?;
                kadi::output::report(json, &staff, || {
                    if staff.is_empty() {
                        return "no staff accounts".to_string();
                    }
                    staff
                        .iter()
                        .map(|s| format!("{}\t{}", s.username, s.role))
                        .collect::<Vec<_>>()
                        .join("\n")
                })
            }
        }
    }
}
