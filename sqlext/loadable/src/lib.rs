//! The loadable SQLite extension: `.load ./sqlext/loadable/target/release/libkadi_sqlext` in the
//! stock `sqlite3` shell. SQLite derives the entry point from the file name:
//! `libkadi_sqlext.so` -> `sqlite3_kadisqlext_init`.
use rusqlite::ffi;
use rusqlite::{Connection, Result};
use std::os::raw::{c_char, c_int};

/// Entry point called by SQLite's `.load`.
///
/// # Safety
/// Called by SQLite with valid pointers, as for any loadable extension.
#[no_mangle]
pub unsafe extern "C" fn sqlite3_kadisqlext_init(
    db: *mut ffi::sqlite3,
    pz_err_msg: *mut *mut c_char,
    p_api: *mut ffi::sqlite3_api_routines,
) -> c_int {
    Connection::extension_init2(db, pz_err_msg, p_api, init)
}

fn init(db: Connection) -> Result<bool> {
    kadi_sqlext::register(&db)?;
    Ok(false)
}
