//! `kadi_key_rows(?1)`: blocking-key rows handed to SQLite from memory, already in the order of
//! `mpi_block_keys`' primary key, so `INSERT ... SELECT` appends them without sorting.
//!
//! A first pass stages each record's keys as one JSON array and moves them into
//! `mpi_block_keys` at its end, sorted, so every B-tree page is written once, full. SQLite's
//! sorter was most of that move (at 5,000 household records 21 of ~32 ms: 78,000 rows whose
//! every comparison decodes two records); sorted here, on every core, with the keys compared as
//! bytes (SQLite's `BINARY` collation, the table's), the insert only appends.
use rusqlite::ffi;
use rusqlite::types::{ToSql, ToSqlOutput};
use rusqlite::vtab::{
    Context, Filters, IndexConstraintOp, IndexInfo, Module, VTab, VTabConnection, VTabCursor,
};
use rusqlite::{Connection, Result};
use std::borrow::Cow;
use std::ffi::{c_int, CStr};
use std::marker::PhantomData;
use std::rc::Rc;

const POINTER_TYPE: &CStr = c"kadi_key_rows";

/// Blocking keys of records, sorted by key then record, each (key, record) once.
#[derive(Default)]
pub struct KeyRows {
    /// Every key's text, one after another.
    text: String,
    /// Enrollment UIDs, in byte order (so a record's index orders as its UID does).
    uids: Vec<String>,
    /// The rows, in the order of [`KeyRows::sort`].
    rows: Vec<Row>,
}

/// One (key, record): the key's first eight bytes as a big-endian number (most comparisons end
/// there, without reading the text), where it is in `text`, and the record's index in `uids`.
#[derive(Clone, Copy)]
struct Row {
    prefix: u64,
    start: u32,
    len: u32,
    record: u32,
}

impl KeyRows {
    /// Room for `records` records and `text` bytes of keys (their JSON's length: an upper bound),
    /// so the rows are not copied as they grow (a third of reading them, at 5,000 records).
    pub fn with_capacity(records: usize, text: usize) -> KeyRows {
        KeyRows {
            text: String::with_capacity(text),
            uids: Vec::with_capacity(records),
            // A key takes ~16 bytes of its record's JSON array (~13 of text, quotes, a comma).
            rows: Vec::with_capacity(text / 12),
        }
    }

    /// Starts the keys of record `uid`, or goes on with it when it is the last one started.
    /// Records come in increasing UID byte order (a record's index then orders as its UID).
    pub fn record(&mut self, uid: &str) {
        if self.uids.last().is_some_and(|u| u == uid) {
            return;
        }
        debug_assert!(self.uids.last().is_none_or(|u| u.as_str() < uid));
        self.uids.push(uid.to_owned());
    }

    /// Adds a key of the last record started (at least one must be).
    pub fn key(&mut self, key: &str) {
        debug_assert!(!self.uids.is_empty());
        let mut head = [0u8; 8];
        let n = key.len().min(8);
        head[..n].copy_from_slice(&key.as_bytes()[..n]);
        let start = self.text.len() as u32;
        self.text.push_str(key);
        self.rows.push(Row {
            prefix: u64::from_be_bytes(head),
            start,
            len: key.len() as u32,
            record: self.uids.len() as u32 - 1,
        });
    }

    fn key_of(&self, row: &Row) -> &str {
        &self.text[row.start as usize..(row.start + row.len) as usize]
    }

    /// Sorts the rows by key (bytes), then record, and drops repeats.
    pub fn sort(&mut self) {
        use rayon::slice::ParallelSliceMut;
        let mut rows = std::mem::take(&mut self.rows);
        // Byte order of the whole key: the prefixes order as the first eight bytes do (a shorter
        // key's zero padding sorts before any byte, as its end does).
        rows.par_sort_unstable_by(|a, b| {
            a.prefix
                .cmp(&b.prefix)
                .then_with(|| self.key_of(a).as_bytes().cmp(self.key_of(b).as_bytes()))
                .then(a.record.cmp(&b.record))
        });
        rows.dedup_by(|a, b| a.record == b.record && self.key_of(a) == self.key_of(b));
        self.rows = rows;
    }
}

/// Bound as `?1` of `kadi_key_rows(?1)`.
pub struct KeyRowsParam(pub Rc<KeyRows>);

impl ToSql for KeyRowsParam {
    fn to_sql(&self) -> Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::from_rc(self.0.clone(), POINTER_TYPE))
    }
}

/// Registers `kadi_key_rows` on a connection.
pub fn load_module(conn: &Connection) -> Result<()> {
    const MODULE: Module<KeyRowsTab> = Module::eponymous_only_module();
    conn.create_module(POINTER_TYPE, &MODULE, None)
}

const COLUMN_POINTER: c_int = 2;

#[repr(C)]
struct KeyRowsTab {
    /// Base class. Must be first.
    base: ffi::sqlite3_vtab,
}

// SAFETY: `KeyRowsTab` is `repr(C)` with the `sqlite3_vtab` base first, as rusqlite requires.
unsafe impl<'vtab> VTab<'vtab> for KeyRowsTab {
    type Aux = ();
    type Cursor = KeyRowsCursor<'vtab>;

    fn connect(
        _: &mut VTabConnection,
        _aux: Option<&()>,
        _module_name: &[u8],
        _database_name: &[u8],
        _table_name: &[u8],
        _args: &[&[u8]],
    ) -> Result<(Cow<'static, CStr>, Self)> {
        Ok((
            Cow::Borrowed(c"CREATE TABLE x(block_key, enrollment_uid, pointer hidden)"),
            KeyRowsTab {
                base: ffi::sqlite3_vtab::default(),
            },
        ))
    }

    fn best_index(&self, info: &mut IndexInfo) -> Result<bool> {
        let mut bound = false;
        for (constraint, mut usage) in info.constraints_and_usages() {
            if constraint.is_usable()
                && constraint.operator() == IndexConstraintOp::SQLITE_INDEX_CONSTRAINT_EQ
                && constraint.column() == COLUMN_POINTER
            {
                bound = true;
                usage.set_argv_index(1);
                usage.set_omit(true);
            }
        }
        // Without its rows the table has no plan: a query that forgets them fails ("no query
        // solution") instead of reading an empty table and moving nothing.
        if bound {
            info.set_estimated_cost(1.0);
            info.set_idx_num(1);
        }
        Ok(bound)
    }

    fn open(&'vtab mut self) -> Result<KeyRowsCursor<'vtab>> {
        Ok(KeyRowsCursor::default())
    }
}

#[derive(Default)]
#[repr(C)]
struct KeyRowsCursor<'vtab> {
    /// Base class. Must be first.
    base: ffi::sqlite3_vtab_cursor,
    at: usize,
    rows: Option<&'vtab KeyRows>,
    phantom: PhantomData<&'vtab KeyRowsTab>,
}

// SAFETY: `KeyRowsCursor` is `repr(C)` with the `sqlite3_vtab_cursor` base first; the pointer
// it reads is the `Rc<KeyRows>` bound by `KeyRowsParam`, alive while the statement runs.
unsafe impl VTabCursor for KeyRowsCursor<'_> {
    fn filter(&mut self, idx_num: c_int, _idx_str: Option<&str>, args: &Filters<'_>) -> Result<()> {
        // Nothing here may panic (this runs inside SQLite). A bound pointer reads as NULL;
        // anything else (text, a number) is not rows, and rusqlite's `get_pointer` asserts the
        // NULL in debug builds, so it is only asked for one.
        let is_null = idx_num == 1
            && !args.is_empty()
            && matches!(
                args.get::<rusqlite::types::Value>(0),
                Ok(rusqlite::types::Value::Null)
            );
        self.rows = if is_null {
            // SAFETY: the pointer type tags a `KeyRows` (see `KeyRowsParam`).
            unsafe { args.get_pointer::<KeyRows>(0, POINTER_TYPE) }
        } else {
            None
        };
        if self.rows.is_none() {
            return Err(rusqlite::Error::ModuleError(
                "kadi_key_rows(?1) reads rows bound as ?1 (KeyRowsParam), not a value".into(),
            ));
        }
        self.at = 0;
        Ok(())
    }

    fn next(&mut self) -> Result<()> {
        self.at += 1;
        Ok(())
    }

    fn eof(&self) -> bool {
        self.rows.is_none_or(|r| self.at >= r.rows.len())
    }

    fn column(&self, ctx: &mut Context, i: c_int) -> Result<()> {
        let Some(rows) = self.rows else {
            return Ok(());
        };
        let row = &rows.rows[self.at];
        match i {
            0 => ctx.set_result(&rows.key_of(row)),
            1 => ctx.set_result(&rows.uids[row.record as usize].as_str()),
            _ => Ok(()),
        }
    }

    fn rowid(&self) -> Result<i64> {
        Ok(self.at as i64 + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows_read_back(rows: KeyRows) -> Vec<(String, String)> {
        let conn = Connection::open_in_memory().unwrap();
        load_module(&conn).unwrap();
        let mut stmt = conn
            .prepare("SELECT block_key, enrollment_uid FROM kadi_key_rows(?1)")
            .unwrap();
        stmt.query_map([KeyRowsParam(Rc::new(rows))], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap()
        .collect::<Result<_>>()
        .unwrap()
    }

    /// SQLite reads the rows in the order `ORDER BY block_key, enrollment_uid` gives (bytes,
    /// the `BINARY` collation), each pair once: keys sharing their first eight bytes, keys
    /// that differ early and late ("ab:zzzzz" before "ac:aaaaa"), a key that is the start of
    /// another, non-ASCII letters, a key a record has twice.
    #[test]
    fn rows_come_out_in_the_order_of_the_tables_primary_key_each_once() {
        let records: [(&str, &[&str]); 4] = [
            (
                "e1",
                &["fn:aminata", "fn:amina", "dob:1990", "fn:amina", "ab:zzzzz"],
            ),
            ("e2", &["fn:aminata", "ln:ndiaye", "fn:aminatou"]),
            ("e3", &["fn:amélie", "fn:amina", "dob:1990"]),
            ("e4", &["fn:aminatax", "dob:19901", "ac:aaaaa"]),
        ];
        let mut rows = KeyRows::default();
        let mut expected = Vec::new();
        for (uid, keys) in records {
            for k in keys {
                rows.record(uid);
                rows.key(k);
                expected.push((k.to_string(), uid.to_string()));
            }
        }
        rows.sort();
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE t(k TEXT, e TEXT)")
            .unwrap();
        for (k, e) in &expected {
            conn.execute("INSERT INTO t VALUES (?1, ?2)", [k, e])
                .unwrap();
        }
        let by_sqlite: Vec<(String, String)> = conn
            .prepare("SELECT DISTINCT k, e FROM t ORDER BY k, e")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_>>()
            .unwrap();
        assert_eq!(by_sqlite.len(), 13);
        assert_eq!(rows_read_back(rows), by_sqlite);
    }

    /// No rows read as an empty table; a query without rows bound fails, never reading as if
    /// there were none (a move would then delete the staged keys having moved nothing).
    #[test]
    fn no_rows_read_as_none_and_rows_not_bound_are_an_error() {
        assert!(rows_read_back(KeyRows::default()).is_empty());
        let conn = Connection::open_in_memory().unwrap();
        load_module(&conn).unwrap();
        for sql in [
            "SELECT count(*) FROM kadi_key_rows(NULL)",
            "SELECT count(*) FROM kadi_key_rows('x')",
            "SELECT count(*) FROM kadi_key_rows",
        ] {
            let n = conn.query_row(sql, [], |r| r.get::<_, i64>(0));
            assert!(n.is_err(), "{sql}: {n:?}");
        }
    }
}
