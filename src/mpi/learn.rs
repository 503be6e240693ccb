//! Learning the scorer's parameters from the box's own card records (`kadi mpi train`): the
//! estimation itself is the scorer crate's ([`kadi_sqlext::mpi::train`]); this reads the store,
//! keeps every trained table and puts one in force only when asked. Why and how:
//! `docs/mpi.md`, Learned parameters.
use crate::actor::Actor;
use crate::store::Store;
use anyhow::{anyhow, Context, Result};
use kadi_sqlext::mpi::{train, Params, TrainOptions};

/// Trains parameters on every card record of the store. Changes nothing.
pub fn train_store(store: &Store, opts: &TrainOptions) -> Result<Params> {
    let mut records = Vec::new();
    super::for_each_prepared(store, |mut r| {
        r.shrink_to_fit();
        records.push(r);
        Ok(())
    })?;
    train(&records, opts).map_err(|e| anyhow!("cannot train the MPI scorer: {e}"))
}

/// Keeps a trained table in the store (audited), in force when `activate`; returns its ID.
pub fn keep(store: &Store, params: &Params, activate: bool, by: &Actor) -> Result<i64> {
    let records = params.trained.as_ref().map_or(0, |t| t.records as i64);
    store
        .mpi_params_insert(&params.to_json(), records, by.as_str(), activate)
        .context("storing the trained MPI parameters")
}
