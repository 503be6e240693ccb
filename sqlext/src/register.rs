//! The SQLite glue: registers every kadi SQL function on a connection. Skeleton.
use rusqlite::functions::FunctionFlags;
use rusqlite::{Connection, Error, Result};

fn user_err(msg: String) -> Error {
    Error::UserFunctionError(msg.into())
}

/// Registers all of kadi's SQL functions on `conn`.
pub fn register(conn: &Connection) -> Result<()> {
    let det = FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC;
    conn.create_scalar_function("jaro_winkler", 2, det, |ctx| {
        let a: Option<String> = ctx.get(0)?;
        let b: Option<String> = ctx.get(1)?;
        Ok(match (a, b) {
            (Some(a), Some(b)) => Some(crate::text::jaro_winkler(&a, &b)),
            _ => None,
        })
    })?;
    conn.create_scalar_function("kadi_normalize", 1, det, |ctx| {
        let a: Option<String> = ctx.get(0)?;
        Ok(a.map(|a| crate::normalize::kadi_normalize(&a)))
    })?;
    conn.create_scalar_function("mpi_score", 2, det, |ctx| {
        let a: Option<String> = ctx.get(0)?;
        let b: Option<String> = ctx.get(1)?;
        match (a, b) {
            (Some(a), Some(b)) => crate::mpi::score_json(&a, &b)
                .map(Some)
                .map_err(|e| user_err(e.to_string())),
            _ => Ok(None),
        }
    })?;
    conn.create_scalar_function("mpi_band", 1, det, |ctx| {
        let s: Option<f64> = ctx.get(0)?;
        Ok(s.map(crate::mpi::band))
    })?;
    conn.create_scalar_function("dhis2_uid", 0, FunctionFlags::SQLITE_UTF8, |_| {
        Ok(crate::dhis2::dhis2_uid())
    })?;
    Ok(())
}
