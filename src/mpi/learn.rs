//! Learning the scorer's parameters from the box's own card records (`kadi mpi train`): the
//! estimation itself is the scorer crate's ([`kadi_sqlext::mpi::train`]); this reads the store,
//! keeps every trained table and puts one in force only when asked. Why and how:
//! `docs/mpi.md`, Learned parameters.
use crate::actor::Actor;
use crate::store::Store;
use anyhow::{anyhow, Context, Result};
use kadi_sqlext::mpi::{train, Params, PreparedRecord, TrainOptions};
use rayon::prelude::*;

/// Trains parameters on every card record of the store. Changes nothing.
pub fn train_store(store: &Store, opts: &TrainOptions) -> Result<Params> {
    let mut records = Vec::new();
    let mut chunk: Vec<(String, String)> = Vec::with_capacity(PREPARE_CHUNK);
    store.for_each_card_fields(|uid, json| {
        chunk.push((uid.to_string(), json.to_string()));
        if chunk.len() == PREPARE_CHUNK {
            prepare_chunk(&mut chunk, &mut records)?;
        }
        Ok(())
    })?;
    prepare_chunk(&mut chunk, &mut records)?;
    train(&records, opts).map_err(|e| anyhow!("cannot train the MPI scorer: {e}"))
}

/// Records read per round of [`train_store`], prepared on rayon's threads (on one thread,
/// preparing was a tenth of training 5,000 records).
const PREPARE_CHUNK: usize = 4096;

/// Prepares `chunk`'s records in parallel onto `records`, in order; empties `chunk`.
fn prepare_chunk(
    chunk: &mut Vec<(String, String)>,
    records: &mut Vec<PreparedRecord>,
) -> Result<()> {
    let prepared: Vec<Result<PreparedRecord>> = chunk
        .par_iter()
        .map(|(uid, json)| {
            let mut r = PreparedRecord::from_json(json, 1)
                .map_err(|e| anyhow!("card record {uid} has unreadable fields: {e}"))?;
            r.shrink_to_fit();
            Ok(r)
        })
        .collect();
    for r in prepared {
        records.push(r?);
    }
    chunk.clear();
    Ok(())
}

/// Keeps a trained table in the store (audited), in force when `activate`; returns its ID.
pub fn keep(store: &Store, params: &Params, activate: bool, by: &Actor) -> Result<i64> {
    let records = params.trained.as_ref().map_or(0, |t| t.records as i64);
    store
        .mpi_params_insert(&params.to_json(), records, by.as_str(), activate)
        .context("storing the trained MPI parameters")
}
