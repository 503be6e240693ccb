//! The process's memory allocator: mimalloc, for Rust's allocations and for SQLite's.
//!
//! A resolution pass allocates and frees millions of small blocks from several threads: prepared
//! names and keys on rayon's threads, rows, statements' records and pages in SQLite on the pass's
//! thread. With glibc's malloc, a profile of a 5,000-record household evaluation spent 14% of the
//! pass's thread in malloc, free and their consolidation, and threads allocating side by side
//! needed an arena each (the `M_ARENA_MAX` this replaces). mimalloc keeps a free list per thread
//! and page; measured in `docs/mpi.md` (Session 15). SQLite is told to use it too
//! (`SQLITE_CONFIG_MALLOC`): half of the gain is SQLite's own allocations.
//!
//! Only the `kadi` binary does this: the SQLite extension runs inside its host's process and uses
//! the host's allocator, and the library's tests use the system one.
use libmimalloc_sys as mi;
use rusqlite::ffi;
use std::ffi::{c_int, c_void};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

unsafe extern "C" fn sqlite_malloc(n: c_int) -> *mut c_void {
    match usize::try_from(n) {
        Ok(n) if n > 0 => unsafe { mi::mi_malloc(n) },
        _ => std::ptr::null_mut(),
    }
}

unsafe extern "C" fn sqlite_free(p: *mut c_void) {
    unsafe { mi::mi_free(p) }
}

unsafe extern "C" fn sqlite_realloc(p: *mut c_void, n: c_int) -> *mut c_void {
    match usize::try_from(n) {
        Ok(n) if n > 0 => unsafe { mi::mi_realloc(p, n) },
        // SQLite never asks for this (it frees instead); refusing leaves `p` as it was.
        _ => std::ptr::null_mut(),
    }
}

unsafe extern "C" fn sqlite_size(p: *mut c_void) -> c_int {
    c_int::try_from(unsafe { mi::mi_usable_size(p) }).unwrap_or(c_int::MAX)
}

/// The size an allocation of `n` bytes really gets: SQLite then reuses a block on a `realloc`
/// that fits in it.
unsafe extern "C" fn sqlite_roundup(n: c_int) -> c_int {
    match usize::try_from(n) {
        Ok(n) => c_int::try_from(unsafe { mi::mi_good_size(n) }).unwrap_or(n as c_int),
        Err(_) => n,
    }
}

unsafe extern "C" fn sqlite_init(_: *mut c_void) -> c_int {
    ffi::SQLITE_OK
}

unsafe extern "C" fn sqlite_shutdown(_: *mut c_void) {}

/// Makes SQLite allocate through mimalloc. Must run before SQLite is first used in the process
/// (opening any connection initialises it); false when it was already in use, and SQLite then
/// keeps the system allocator (slower, nothing else changes).
pub fn configure_sqlite() -> bool {
    let methods = ffi::sqlite3_mem_methods {
        xMalloc: Some(sqlite_malloc),
        xFree: Some(sqlite_free),
        xRealloc: Some(sqlite_realloc),
        xSize: Some(sqlite_size),
        xRoundup: Some(sqlite_roundup),
        xInit: Some(sqlite_init),
        xShutdown: Some(sqlite_shutdown),
        pAppData: std::ptr::null_mut(),
    };
    // SQLite copies the methods (`sqlite3GlobalConfig.m = *va_arg(...)`): a local is enough.
    unsafe {
        ffi::sqlite3_config(
            ffi::SQLITE_CONFIG_MALLOC,
            &methods as *const ffi::sqlite3_mem_methods,
        ) == ffi::SQLITE_OK
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The binary's other tests never open SQLite, so this one configures it first, as `main`
    /// does; it fails if SQLite's or Rust's memory does not come from mimalloc.
    #[test]
    fn sqlite_and_rust_allocate_from_mimalloc() {
        assert!(
            configure_sqlite(),
            "SQLite was in use before its allocator was set"
        );
        let conn = rusqlite::Connection::open_in_memory().expect("open");
        conn.execute_batch(
            "CREATE TABLE t(x);
             WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 200)
             INSERT INTO t SELECT randomblob(500) FROM n;",
        )
        .expect("write");
        let rows: i64 = conn
            .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .expect("read");
        assert_eq!(rows, 200);
        unsafe {
            let p = ffi::sqlite3_malloc(1000);
            assert!(!p.is_null());
            assert!(
                mi::mi_is_in_heap_region(p),
                "SQLite's block is not mimalloc's"
            );
            assert!(ffi::sqlite3_msize(p) >= 1000);
            let q = ffi::sqlite3_realloc(p, 5000);
            assert!(mi::mi_is_in_heap_region(q));
            ffi::sqlite3_free(q);
        }
        let boxed = Box::new([7u8; 100]);
        assert!(
            unsafe { mi::mi_is_in_heap_region(boxed.as_ptr().cast()) },
            "Rust's block is not mimalloc's"
        );
        // Set once: a second call after SQLite started is refused, and says so.
        assert!(!configure_sqlite());
    }
}
