//! kadi's SQL functions as plain Rust, plus one [`register`] that installs them on a SQLite
//! connection. The binary (static SQLite) and the loadable extension for the stock `sqlite3` shell
//! (`sqlext/loadable`) both call `register`, so analysts and the box compute the very same values.
//!
//! One file per function family; the SQLite glue lives in `register.rs` only.

pub mod dhis2;
pub mod mapping;
pub mod mpi;
pub mod normalize;
pub mod phonetic;
pub mod register;
pub mod text;

pub use register::register;
