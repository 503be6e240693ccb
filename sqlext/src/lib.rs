//! kadi's SQL functions as plain Rust, plus one [`register`] that installs them on a SQLite
//! connection. The binary (static SQLite) and the loadable extension for the stock `sqlite3` shell
//! (`sqlext/loadable`) both call `register`, so analysts and the box compute the very same values.
//!
//! One file per function family; the SQLite glue lives in `register.rs` only and the other
//! modules do not know SQLite:
//! - [`text`]: Jaro, Jaro-Winkler, Levenshtein, Damerau-Levenshtein on grapheme clusters,
//!   equal to Python `jellyfish` 1.3.0 on the shared reference vectors;
//! - [`phonetic`]: jellyfish-exact `soundex`, `metaphone`, `nysiis`, and [`phonetic::kadi_phonetic`];
//! - [`normalize`]: [`normalize::kadi_normalize`], the name folding every comparison starts with;
//! - [`mpi`]: the MPI scorer (owned by the MPI module; registered here);
//! - [`mapping`]: DHIS2 attributes -> card fields and the sensitive-data guardrail;
//! - [`dhis2`]: offline UIDs and period identifiers;
//! - [`card`]: the signed card payload (COSE_Sign1, Ed25519, Base45) and `kadi_verify`.
//!
//! What this crate deliberately does not do: I/O, SQL on kadi's tables, or anything that needs
//! the org-unit tree (that is the binary's `mapping` and `store` modules).

mod calendar;
pub mod card;
pub mod dhis2;
pub mod mapping;
pub mod mpi;
pub mod normalize;
pub mod phonetic;
pub mod register;
pub mod text;

pub use register::register;
