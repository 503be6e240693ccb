//! The DHIS2 Web API client (blocking, `ureq`). Version differences between DHIS2 2.36 and 2.42+
//! (wrapper keys, pager shapes, parameter names, `fields` behaviour) are handled here and nowhere
//! else: the rest of kadi sees the version-neutral shapes of [`model`].
//!
//! Errors separate `Unreachable`, `TimedOut`, `Interrupted`, `AuthFailed`, `Rejected`,
//! `RetryLater` and `Malformed` because the sync engine and the page react differently to each
//! (a dead link is given up on, a timeout asks a smaller page, a rate limit is waited out). A 401 is never retried: DHIS2 locks an account after
//! four failed logins.
//!
//! This crate knows no kadi module (no store, sync or simulator): the app turns its stored,
//! sealed connection into a [`Client`] (`kadi::link`), and the simulator serves [`model`]'s
//! shapes by depending on this crate, never the reverse.

pub mod client;
pub mod model;
mod wire;

pub use client::{
    normalize_base_url, parse_version, Auth, Client, ConnectionConfig, Dhis2Error,
    TrackedEntityQuery,
};

use serde::Serialize;

/// The outcome of a connection test, shaped as `kadi dhis2 test --json` and the settings page
/// report it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConnectionTest {
    /// `connected`, `auth_failed`, `unreachable`, `rejected` or `malformed`.
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dhis2_version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_date: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub programmes_available: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub organisation_units: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl ConnectionTest {
    fn failed(e: &Dhis2Error) -> ConnectionTest {
        ConnectionTest {
            status: e.kind().to_string(),
            dhis2_version: None,
            server_date: None,
            programmes_available: None,
            organisation_units: None,
            error: Some(e.to_string()),
        }
    }
}

/// Tests a connection: `/api/system/info` first (a wrong password costs exactly one failed
/// login), then programs and the org unit count. Never panics, never retries.
pub fn test_connection(client: &Client) -> ConnectionTest {
    let info = match client.system_info() {
        Ok(i) => i,
        Err(e) => return ConnectionTest::failed(&e),
    };
    let programs = match client.programs() {
        Ok(p) => p,
        Err(e) => return ConnectionTest::failed(&e),
    };
    let org_units = match client.org_unit_count() {
        Ok(n) => n,
        Err(e) => return ConnectionTest::failed(&e),
    };
    ConnectionTest {
        status: "connected".into(),
        dhis2_version: Some(info.version),
        server_date: Some(info.server_date),
        programmes_available: Some(programs.len()),
        organisation_units: Some(org_units),
        error: None,
    }
}
