//! kadi: an offline-first clinic box that syncs tracker data from DHIS2, resolves identities in a
//! Master Patient Index and prints ID cards. Data flows one way:
//! `dhis2` -> `sync` -> `store` <- `mpi`, `store` -> `cards` -> `web` / `send`.
//!
//! `main.rs` only parses arguments; every capability is a module here with a small public surface.

pub mod actor;
pub mod cards;
pub mod clock;
pub mod demo;
pub mod dhis2;
pub mod fsx;
pub mod jobs;
pub mod mapping;
pub mod mpi;
pub mod notify;
pub mod output;
pub mod record;
pub mod secret;
pub mod send;
pub mod sim;
pub mod store;
pub mod sync;
pub mod web;

/// kadi's version as built (crate version plus git commit when available).
pub const VERSION: &str = env!("KADI_BUILD_VERSION");
