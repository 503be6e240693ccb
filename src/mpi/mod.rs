//! The Master Patient Index: blocking keys, candidate scoring with `kadi_sqlext::mpi`, the link /
//! review / new bands, review decisions, link/unlink/merge/split with an audit trail, MPI IDs.
pub mod cli;
