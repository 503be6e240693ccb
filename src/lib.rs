//! kadi: an offline-first clinic box that syncs tracker data from DHIS2, resolves identities in a
//! Master Patient Index and prints ID cards. Data flows one way:
//! `dhis2` -> `sync` -> `store` <- `mpi`, `store` -> `cards` -> `web` / `send`.
//! `dhis2` (crate `kadi-dhis2`) and `sim` (crate `kadi-sim`, feature `demo`) are their own crates,
//! so an import against the arrows fails to compile.
//!
//! `main.rs` only parses arguments; every capability is a module here with a small public surface.

pub mod actor;
pub mod cards;
pub mod clock;
#[cfg(feature = "demo")]
pub mod demo;
pub mod fsx;
pub mod jobs;
pub mod link;
pub mod mapping;
pub mod mpi;
pub mod notify;
pub mod output;
pub mod record;
pub mod secret;
pub mod send;
pub mod sql_enum;
pub mod store;
pub mod sync;
pub mod verify;
pub mod web;

/// The DHIS2 client (crate `kadi-dhis2`), under the path the rest of kadi has always used.
pub use kadi_dhis2 as dhis2;
/// The DHIS2 simulator (crate `kadi-sim`), only in builds with the `demo` feature.
#[cfg(feature = "demo")]
pub use kadi_sim as sim;

/// kadi's version as built (crate version plus git commit when available).
pub const VERSION: &str = env!("KADI_BUILD_VERSION");
