//! The command line of the `kadi` binary: clap argument types and their handlers over the
//! library (`kadi::...`). The library cannot reach them, so no capability depends on the CLI.

pub mod dhis2;
#[cfg(feature = "demo")]
pub mod sim;
