//! The outbox worker: one pass ([`flush`]) and the thread of `kadi serve` ([`OutboxWorker`]).
use crate::store::Store;
use anyhow::Result;
use serde::Serialize;
use std::path::Path;

/// How a pass runs.
#[derive(Debug, Clone, Default)]
pub struct FlushOptions {
    /// Stop the pass after this long (None: when nothing is due).
    pub max_duration: Option<std::time::Duration>,
}

/// What a pass did, and what is left.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct FlushReport {
    /// Messages the provider accepted in this pass.
    pub accepted: u64,
    /// Messages that failed for good in this pass.
    pub failed: u64,
    /// Messages waiting for a retry (after this pass).
    pub retrying: u64,
    /// Messages found mid-send by a crash, or with no answer: staff decide.
    pub unknown: u64,
    /// Messages still queued (channel offline, stopped or paced).
    pub queued: u64,
    /// Channels stopped (with the reason): a person must act.
    pub stopped: Vec<String>,
}

/// One pass over the outbox.
pub fn flush(_store: &Store, _opts: &FlushOptions) -> Result<FlushReport> {
    anyhow::bail!("not yet")
}

/// The outbox worker thread of `kadi serve`.
pub struct OutboxWorker {}

impl OutboxWorker {
    /// Starts the worker on its own thread and database connection.
    pub fn spawn(_db: &Path) -> Result<OutboxWorker> {
        Ok(OutboxWorker {})
    }
}
