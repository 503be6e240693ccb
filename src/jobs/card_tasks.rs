//! The card task worker of `kadi serve`: renders the generations the page and the API queued
//! ([`crate::cards::queue`]) on its own thread and database connection, one task at a time, with
//! the same code `kadi cards generate` runs ([`crate::cards::run_queued`]). Tasks live in the
//! `tasks` table, so a task a killed server left `generating` is picked up again by the next
//! start and resumes where its last batch ended (cards already written are not rendered again).
//!
//! It runs whether or not the sync scheduler does (`--no-scheduler` turns off syncing, not
//! printing); rendering uses rayon's pool, so a big sheet task shares the cores with the page.
use crate::store::Store;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// How often the worker looks for queued tasks when idle: the page shows `pending` meanwhile.
const POLL: Duration = Duration::from_millis(300);

/// The worker thread; stops when dropped or [`CardTaskWorker::stop`]ped.
pub struct CardTaskWorker {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// Runs every queued task that is not finished, oldest first; answers how many it ran. A task
/// that fails is marked failed (with the reason) and the next one runs.
pub fn run_queued_tasks(store: &Store) -> anyhow::Result<usize> {
    let tasks = store.queued_tasks()?;
    for task in &tasks {
        if let Err(e) = crate::cards::run_queued(store, task) {
            eprintln!(
                "kadi: card task {}: {}",
                task.id,
                crate::output::escape_log(&format!("{e:#}"), 2000)
            );
        }
    }
    Ok(tasks.len())
}

fn worker_loop(db: &Path, stop: &AtomicBool) {
    let mut store: Option<Store> = None;
    while !stop.load(Ordering::Relaxed) {
        if store.is_none() {
            match Store::open(db) {
                Ok(s) => store = Some(s),
                Err(e) => eprintln!(
                    "kadi: card tasks: {}",
                    crate::output::escape_log(&format!("{e:#}"), 2000)
                ),
            }
        }
        if let Some(s) = &store {
            let pass =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run_queued_tasks(s)));
            match pass {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => eprintln!(
                    "kadi: card tasks: {}",
                    crate::output::escape_log(&format!("{e:#}"), 2000)
                ),
                Err(_) => {
                    eprintln!(
                        "kadi: card tasks: internal error: a pass panicked; reopening the database"
                    );
                    store = None;
                }
            }
        }
        std::thread::sleep(POLL);
    }
}

impl CardTaskWorker {
    /// Starts the worker on its own thread with its own connection to `db`; its first pass (the
    /// resume of tasks a previous server left unfinished) runs at once.
    pub fn spawn(db: &Path) -> anyhow::Result<CardTaskWorker> {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let db: PathBuf = db.to_path_buf();
        let thread = std::thread::Builder::new()
            .name("kadi-card-tasks".into())
            .spawn(move || worker_loop(&db, &flag))
            .map_err(|e| anyhow::anyhow!("starting the card task worker: {e}"))?;
        Ok(CardTaskWorker {
            stop,
            thread: Some(thread),
        })
    }

    /// Asks the worker to stop after the task in hand (if any); does not wait for it: a task cut
    /// by the process's exit resumes at the next start.
    pub fn stop(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.take();
    }
}

impl Drop for CardTaskWorker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}
