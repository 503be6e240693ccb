//! A DHIS2 simulator (tiny_http) speaking the documented shapes of 2.36-2.42 with deterministic
//! synthetic data for a seed, near-duplicates with exportable truth, and fault injection. Used by
//! tests, benchmarks and `kadi demo`.
pub mod cli;
