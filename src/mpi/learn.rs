//! Learning the scorer's parameters from the box's own card records (`kadi mpi train`): the
//! estimation itself is the scorer crate's ([`kadi_sqlext::mpi::train`]); this reads the store,
//! keeps every trained table and puts one in force only when asked. Why and how:
//! `docs/mpi.md`, Learned parameters.
use crate::actor::Actor;
use crate::record::CardFields;
use crate::store::Store;
use anyhow::{anyhow, Context, Result};
use kadi_sqlext::mpi::{train, Params, PreparedRecord, TrainOptions};
use rayon::prelude::*;

/// Trains parameters on every card record of the store. Changes nothing.
pub fn train_store(store: &Store, opts: &TrainOptions) -> Result<Params> {
    let mut records = Vec::new();
    super::for_each_prepared(store, |_, r| {
        records.push(r);
        Ok(())
    })?;
    train(&records, opts).map_err(|e| anyhow!("cannot train the MPI scorer: {e}"))
}

/// Trains parameters on card fields that are not read from a store (`kadi mpi eval --train`
/// trains on its records while it inserts them): prepared as [`train_store`] reads them back,
/// in enrollment order, so the parameters are the same byte for byte.
pub fn train_fields(records: &[(String, CardFields)], opts: &TrainOptions) -> Result<Params> {
    let mut order: Vec<&(String, CardFields)> = records.iter().collect();
    // The store's order: enrollment UIDs compared as bytes (SQLite's BINARY collation).
    order.par_sort_unstable_by(|a, b| a.0.cmp(&b.0));
    let prepared: Vec<PreparedRecord> = order
        .par_iter()
        .map(|(_, fields)| {
            let mut r = PreparedRecord::from_fields(|name| fields.get(name));
            r.shrink_to_fit();
            r
        })
        .collect();
    train(&prepared, opts).map_err(|e| anyhow!("cannot train the MPI scorer: {e}"))
}

/// Keeps a trained table in the store (audited), in force when `activate`; returns its ID.
pub fn keep(store: &Store, params: &Params, activate: bool, by: &Actor) -> Result<i64> {
    let records = params.trained.as_ref().map_or(0, |t| t.records as i64);
    store
        .mpi_params_insert(&params.to_json(), records, by.as_str(), activate)
        .context("storing the trained MPI parameters")
}
