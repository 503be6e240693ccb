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

pub use client::{Auth, Client, ConnectionConfig, Dhis2Error};
