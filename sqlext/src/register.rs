//! The SQLite glue: [`register`] installs every kadi SQL function on a connection. The binary
//! (static SQLite) and the loadable extension (stock `sqlite3` shell) both call it.
//!
//! Conventions every function follows, so analysts can rely on them:
//! - a NULL argument gives NULL (except `dhis2_uid()`, which takes none);
//! - text comes as TEXT, as a BLOB holding UTF-8, or as a number (used as its decimal text);
//!   a BLOB that is not UTF-8 is an error naming the argument;
//! - malformed JSON, an impossible date or an over-long string is an error naming the function,
//!   the argument and the reason; nothing here panics, and rusqlite would turn a panic into an
//!   SQL error anyway (`panic = "unwind"`), so the user's shell survives;
//! - arguments are read as borrowed `ValueRef`s, so the ASCII path of the metrics allocates
//!   nothing per call.
use crate::{card, dhis2, mapping, mpi, normalize, phonetic, text};
use rusqlite::functions::{Context, FunctionFlags};
use rusqlite::types::ValueRef;
use rusqlite::{Connection, Error, Result};
use std::borrow::Cow;
use std::sync::Arc;

/// Every SQL function kadi registers, with its number of arguments.
pub const FUNCTIONS: &[(&str, usize)] = &[
    ("jaro", 2),
    ("jaro_winkler", 2),
    ("levenshtein", 2),
    ("damerau_levenshtein", 2),
    ("soundex", 1),
    ("metaphone", 1),
    ("nysiis", 1),
    ("kadi_normalize", 1),
    ("kadi_phonetic", 1),
    ("mpi_score", 2),
    ("mpi_score", 3),
    ("mpi_explain", 2),
    ("mpi_explain", 3),
    ("mpi_band", 1),
    ("mpi_block_keys", 1),
    ("dhis2_map", 2),
    ("card_field", 3),
    ("is_sensitive", 1),
    ("dhis2_uid", 0),
    ("dhis2_uid_valid", 1),
    ("dhis2_period", 2),
    ("kadi_verify", 1),
];

/// Largest MPI record (JSON text) the SQL functions accept: the scorer compares names with
/// quadratic string metrics, so this bounds one call to well under a second.
pub const MAX_RECORD_BYTES: usize = 16 * 1024;

/// An SQL-level error: which function, which argument (1-based), and why.
#[derive(Debug, Clone, PartialEq)]
pub struct ArgError {
    /// The SQL function's name.
    pub function: &'static str,
    /// 1-based argument position; 0 when the error is not about one argument.
    pub argument: usize,
    /// What was wrong.
    pub reason: String,
}

impl std::fmt::Display for ArgError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.argument == 0 {
            write!(f, "{}: {}", self.function, self.reason)
        } else {
            write!(
                f,
                "{}: argument {} {}",
                self.function, self.argument, self.reason
            )
        }
    }
}

impl std::error::Error for ArgError {}

fn fail(function: &'static str, argument: usize, reason: impl Into<String>) -> Error {
    // Reasons may quote the user's input; SQLite error messages are C strings, so a NUL (or any
    // control character) is spelled out rather than allowed to cut or garble the message.
    let reason: String = reason
        .into()
        .chars()
        .flat_map(|c| {
            if c.is_control() {
                c.escape_default().collect::<Vec<_>>()
            } else {
                vec![c]
            }
        })
        .collect();
    Error::UserFunctionError(Box::new(ArgError {
        function,
        argument,
        reason,
    }))
}

/// Argument `i` (0-based) as text, `None` for NULL.
fn text_arg<'a>(
    ctx: &'a Context<'_>,
    i: usize,
    function: &'static str,
) -> Result<Option<Cow<'a, str>>> {
    match ctx.get_raw(i) {
        ValueRef::Null => Ok(None),
        ValueRef::Text(bytes) => match std::str::from_utf8(bytes) {
            Ok(s) => Ok(Some(Cow::Borrowed(s))),
            Err(e) => Err(fail(
                function,
                i + 1,
                format!("is TEXT that is not valid UTF-8 ({e})"),
            )),
        },
        ValueRef::Blob(bytes) => match std::str::from_utf8(bytes) {
            Ok(s) => Ok(Some(Cow::Borrowed(s))),
            Err(e) => Err(fail(
                function,
                i + 1,
                format!("is a BLOB that is not UTF-8 text ({e})"),
            )),
        },
        ValueRef::Integer(n) => Ok(Some(Cow::Owned(n.to_string()))),
        ValueRef::Real(x) => Ok(Some(Cow::Owned(x.to_string()))),
    }
}

/// Refuses strings a quadratic metric could not finish quickly.
fn check_len(s: &str, limit: usize, function: &'static str, i: usize) -> Result<()> {
    // Byte length bounds the character count from above, so most calls skip the count.
    if s.len() > limit {
        let n = text::char_count(s);
        if n > limit {
            return Err(fail(function, i + 1, format!("has {n} characters; {function} accepts at most {limit} (its cost grows with the product of the lengths)")));
        }
    }
    Ok(())
}

fn record_arg<'a>(
    ctx: &'a Context<'_>,
    i: usize,
    function: &'static str,
) -> Result<Option<Cow<'a, str>>> {
    let v = text_arg(ctx, i, function)?;
    if let Some(s) = &v {
        if s.len() > MAX_RECORD_BYTES {
            return Err(fail(
                function,
                i + 1,
                format!(
                    "is {} bytes of JSON; MPI records are limited to {MAX_RECORD_BYTES} bytes",
                    s.len()
                ),
            ));
        }
    }
    Ok(v)
}

fn json_arg<T: serde::de::DeserializeOwned>(
    s: &str,
    function: &'static str,
    i: usize,
    what: &str,
) -> Result<T> {
    serde_json::from_str(s).map_err(|e| {
        fail(
            function,
            i + 1,
            format!("({what}) is not valid JSON of the expected shape: {e}"),
        )
    })
}

fn mpi_err(function: &'static str, e: mpi::MpiError) -> Error {
    fail(function, 0, e.to_string())
}

/// Registers a string metric; NULL in either argument gives NULL. `ascii` is the byte-level
/// version used when both arguments are plain ASCII TEXT (the common case, with no UTF-8
/// validation or allocation); `general` handles everything else.
fn metric<T, A, G>(
    conn: &Connection,
    name: &'static str,
    limit: usize,
    ascii: A,
    general: G,
) -> Result<()>
where
    T: rusqlite::types::ToSql,
    A: Fn(&[u8], &[u8]) -> T + Send + 'static,
    G: Fn(&str, &str) -> T + Send + 'static,
{
    conn.create_scalar_function(name, 2, deterministic(), move |ctx| {
        if let (ValueRef::Text(a), ValueRef::Text(b)) = (ctx.get_raw(0), ctx.get_raw(1)) {
            if a.len() <= limit
                && b.len() <= limit
                && text::is_plain_ascii_bytes(a)
                && text::is_plain_ascii_bytes(b)
            {
                return Ok(Some(ascii(a, b)));
            }
        }
        let (Some(a), Some(b)) = (text_arg(ctx, 0, name)?, text_arg(ctx, 1, name)?) else {
            return Ok(None);
        };
        check_len(&a, limit, name, 0)?;
        check_len(&b, limit, name, 1)?;
        Ok(Some(general(&a, &b)))
    })
}

/// Registers a one-text-argument function returning text; NULL gives NULL.
fn one_text<T, F>(conn: &Connection, name: &'static str, f: F) -> Result<()>
where
    T: rusqlite::types::ToSql,
    F: Fn(&str) -> T + Send + 'static,
{
    conn.create_scalar_function(name, 1, deterministic(), move |ctx| {
        Ok(text_arg(ctx, 0, name)?.map(|s| f(&s)))
    })
}

fn deterministic() -> FunctionFlags {
    FunctionFlags::SQLITE_UTF8
        | FunctionFlags::SQLITE_DETERMINISTIC
        | FunctionFlags::SQLITE_INNOCUOUS
}

/// Registers all of kadi's SQL functions on `conn` (see `sqlext/README.md` for each one).
pub fn register(conn: &Connection) -> Result<()> {
    register_text(conn)?;
    register_mpi(conn)?;
    register_mapping(conn)?;
    register_dhis2(conn)?;
    register_verify(conn)
}

/// String metrics, phonetic keys, normalisation and the sensitive-data check.
fn register_text(conn: &Connection) -> Result<()> {
    metric(
        conn,
        "jaro",
        text::MAX_METRIC_CHARS,
        text::jaro_ascii,
        text::jaro,
    )?;
    metric(
        conn,
        "jaro_winkler",
        text::MAX_METRIC_CHARS,
        text::jaro_winkler_ascii,
        text::jaro_winkler,
    )?;
    metric(
        conn,
        "levenshtein",
        text::MAX_METRIC_CHARS,
        |a, b| text::levenshtein_ascii(a, b) as i64,
        |a, b| text::levenshtein(a, b) as i64,
    )?;
    metric(
        conn,
        "damerau_levenshtein",
        text::MAX_DAMERAU_CHARS,
        |a, b| text::damerau_levenshtein_ascii(a, b) as i64,
        |a, b| text::damerau_levenshtein(a, b) as i64,
    )?;
    conn.create_scalar_function("soundex", 1, deterministic(), |ctx| {
        if let ValueRef::Text(t) = ctx.get_raw(0) {
            if t.is_ascii() {
                return Ok(Some(match phonetic::soundex_ascii(t) {
                    Some(code) => ShortText::Four(code),
                    None => ShortText::Empty,
                }));
            }
        }
        Ok(text_arg(ctx, 0, "soundex")?.map(|s| ShortText::Owned(phonetic::soundex(&s))))
    })?;
    one_text(conn, "metaphone", phonetic::metaphone)?;
    one_text(conn, "nysiis", phonetic::nysiis)?;
    one_text(conn, "kadi_normalize", normalize::kadi_normalize)?;
    one_text(conn, "kadi_phonetic", phonetic::kadi_phonetic)?;
    one_text(conn, "is_sensitive", |s| {
        i64::from(mapping::is_sensitive(s))
    })?;
    Ok(())
}

/// Largest parameter JSON (`kadi mpi train --json`) the SQL functions accept: its
/// term-frequency tables grow with the store (about 10 bytes a record).
pub const MAX_PARAMS_BYTES: usize = 16 * 1024 * 1024;

thread_local! {
    /// The parameters parsed last, by their text: a join passes the same parameters on every row
    /// (a scalar subquery is not a compile-time constant, so SQLite's auxdata may not keep them).
    static PARAMS: std::cell::RefCell<Option<(Box<str>, Arc<mpi::Params>)>> =
        const { std::cell::RefCell::new(None) };
}

/// The parameters of argument `i` (a-priori when NULL: an untrained box's `mpi_params` query
/// yields no row), parsed once per statement where SQLite keeps auxdata, else once per text.
fn params_arg(ctx: &Context<'_>, i: usize, function: &'static str) -> Result<Arc<mpi::Params>> {
    if let Ok(Some(p)) = ctx.get_aux::<Arc<mpi::Params>>(i as std::ffi::c_int) {
        return Ok((*p).clone());
    }
    let Some(text) = text_arg(ctx, i, function)? else {
        static DEFAULT: std::sync::LazyLock<Arc<mpi::Params>> =
            std::sync::LazyLock::new(|| Arc::new(mpi::default_params().clone()));
        return Ok(DEFAULT.clone());
    };
    if text.len() > MAX_PARAMS_BYTES {
        return Err(fail(
            function,
            i + 1,
            format!(
                "(parameters) is {} bytes; at most {MAX_PARAMS_BYTES}",
                text.len()
            ),
        ));
    }
    let cached = PARAMS.with(|c| {
        c.borrow()
            .as_ref()
            .filter(|(t, _)| **t == *text)
            .map(|(_, p)| p.clone())
    });
    let params = match cached {
        Some(p) => p,
        None => {
            let p = Arc::new(mpi::Params::from_json(&text).map_err(|reason| {
                mpi_err(
                    function,
                    mpi::MpiError::BadParams {
                        argument: i + 1,
                        reason,
                    },
                )
            })?);
            PARAMS.with(|c| *c.borrow_mut() = Some((text.clone().into(), p.clone())));
            p
        }
    };
    let _ = ctx.set_aux(i as std::ffi::c_int, params.clone());
    Ok(params)
}

/// The MPI scorer: `mpi_score`, `mpi_explain` (each with optional parameters as a third
/// argument), `mpi_block_keys`, `mpi_band`.
fn register_mpi(conn: &Connection) -> Result<()> {
    for args in [2, 3] {
        conn.create_scalar_function("mpi_score", args, deterministic(), |ctx| {
            let (Some(a), Some(b)) = (
                record_arg(ctx, 0, "mpi_score")?,
                record_arg(ctx, 1, "mpi_score")?,
            ) else {
                return Ok(None);
            };
            let result = if ctx.len() == 3 {
                mpi::score_json_with(&*params_arg(ctx, 2, "mpi_score")?, &a, &b)
            } else {
                mpi::score_json(&a, &b)
            };
            result.map(Some).map_err(|e| mpi_err("mpi_score", e))
        })?;
        conn.create_scalar_function("mpi_explain", args, deterministic(), |ctx| {
            let (Some(a), Some(b)) = (
                record_arg(ctx, 0, "mpi_explain")?,
                record_arg(ctx, 1, "mpi_explain")?,
            ) else {
                return Ok(None);
            };
            let result = if ctx.len() == 3 {
                mpi::explain_json_with(&*params_arg(ctx, 2, "mpi_explain")?, &a, &b)
            } else {
                mpi::explain_json(&a, &b)
            };
            result.map(Some).map_err(|e| mpi_err("mpi_explain", e))
        })?;
    }
    conn.create_scalar_function("mpi_block_keys", 1, deterministic(), |ctx| {
        let Some(r) = record_arg(ctx, 0, "mpi_block_keys")? else {
            return Ok(None);
        };
        mpi::block_keys_json(&r)
            .map(Some)
            .map_err(|e| mpi_err("mpi_block_keys", e))
    })?;
    conn.create_scalar_function("mpi_band", 1, deterministic(), |ctx| {
        let score = match ctx.get_raw(0) {
            ValueRef::Null => return Ok(None),
            ValueRef::Integer(n) => n as f64,
            ValueRef::Real(x) => x,
            ValueRef::Text(t) => match std::str::from_utf8(t)
                .ok()
                .and_then(|s| s.trim().parse::<f64>().ok())
            {
                Some(x) => x,
                None => return Err(fail("mpi_band", 1, "(score) is text that is not a number")),
            },
            ValueRef::Blob(_) => {
                return Err(fail("mpi_band", 1, "(score) is a BLOB, not a number"))
            }
        };
        Ok(Some(mpi::band(score)))
    })?;
    Ok(())
}

/// Attribute-to-card mapping: `dhis2_map`, `card_field`.
fn register_mapping(conn: &Connection) -> Result<()> {
    conn.create_scalar_function("dhis2_map", 2, deterministic(), |ctx| {
        let (Some(attrs), Some(map)) = (
            text_arg(ctx, 0, "dhis2_map")?,
            text_arg(ctx, 1, "dhis2_map")?,
        ) else {
            return Ok(None);
        };
        let card = map_card(&attrs, &map, "dhis2_map")?;
        Ok(Some(serde_json::Value::Object(card).to_string()))
    })?;
    conn.create_scalar_function("card_field", 3, deterministic(), |ctx| {
        let (Some(attrs), Some(map), Some(field)) = (
            text_arg(ctx, 0, "card_field")?,
            text_arg(ctx, 1, "card_field")?,
            text_arg(ctx, 2, "card_field")?,
        ) else {
            return Ok(None);
        };
        if !mapping::CARD_FIELDS.contains(&field.as_ref()) {
            let shown: String = field.chars().take(40).collect();
            return Err(fail(
                "card_field",
                3,
                format!(
                    "(field) '{shown}' is not a card field; expected one of {}",
                    mapping::CARD_FIELDS.join(", ")
                ),
            ));
        }
        let card = map_card(&attrs, &map, "card_field")?;
        Ok(card
            .get(field.as_ref())
            .and_then(|v| v.as_str())
            .map(str::to_owned))
    })?;
    Ok(())
}

/// DHIS2 identifiers and periods: `dhis2_uid`, `dhis2_uid_valid`, `dhis2_period`.
fn register_dhis2(conn: &Connection) -> Result<()> {
    one_text(conn, "dhis2_uid_valid", |s| {
        i64::from(dhis2::dhis2_uid_valid(s))
    })?;
    conn.create_scalar_function("dhis2_uid", 0, FunctionFlags::SQLITE_UTF8, |_| {
        dhis2::dhis2_uid().map_err(|e| fail("dhis2_uid", 0, e.to_string()))
    })?;
    conn.create_scalar_function("dhis2_period", 2, deterministic(), |ctx| {
        let (Some(date), Some(kind)) = (
            text_arg(ctx, 0, "dhis2_period")?,
            text_arg(ctx, 1, "dhis2_period")?,
        ) else {
            return Ok(None);
        };
        dhis2::dhis2_period(&date, &kind).map(Some).map_err(|e| {
            let argument = if matches!(e, dhis2::Dhis2Error::UnknownPeriodType(_)) {
                2
            } else {
                1
            };
            fail("dhis2_period", argument, format!("is wrong: {e}"))
        })
    })?;
    Ok(())
}

/// `kadi_verify(payload)`: the card verdict as JSON, reading the keys and revocations of the
/// database the function runs in (`card_keys`, `card_key_revocations`, `card_revocations`). Unlike the other functions,
/// NULL or garbage answers a verdict (`"unreadable"`), never NULL or an error: an analyst scanning
/// a column of payloads gets one row per payload. Not deterministic: it reads tables.
fn register_verify(conn: &Connection) -> Result<()> {
    conn.create_scalar_function("kadi_verify", 1, FunctionFlags::SQLITE_UTF8, |ctx| {
        let payload = match ctx.get_raw(0) {
            ValueRef::Text(b) | ValueRef::Blob(b) => String::from_utf8_lossy(b).into_owned(),
            ValueRef::Integer(i) => i.to_string(),
            ValueRef::Real(r) => r.to_string(),
            ValueRef::Null => String::new(),
        };
        // SAFETY: the connection is only used inside this call, on this thread, for reads.
        let db = unsafe { ctx.get_connection()? };
        let keys = |kid: &str| -> Vec<card::CardKey> {
            let rows = db
                .prepare_cached(
                    "SELECT kid, public_key, box_id, valid_from, valid_to FROM card_keys WHERE kid = ?1",
                )
                .and_then(|mut st| {
                    st.query_map([kid], |r| {
                        let hex: String = r.get(1)?;
                        Ok(card::CardKey {
                            kid: r.get(0)?,
                            public_key: card::kid_from_hex(&hex).unwrap_or_default(),
                            box_id: r.get(2)?,
                            valid_from: r.get(3)?,
                            valid_to: r.get(4)?,
                        })
                    })?
                    .collect::<Result<Vec<_>>>()
                });
            rows.unwrap_or_default()
        };
        let revoked = |serial: &str| -> Option<String> {
            db.prepare_cached("SELECT reason FROM card_revocations WHERE serial = ?1")
                .and_then(|mut st| st.query_row([serial], |r| r.get::<_, String>(0)))
                .ok()
        };
        // A database made before key revocations (schema v17) has no such table: none revoked.
        let key_revoked = |kid: &str| -> Option<String> {
            db.prepare_cached("SELECT reason FROM card_key_revocations WHERE kid = ?1")
                .and_then(|mut st| st.query_row([kid], |r| r.get::<_, String>(0)))
                .ok()
        };
        let verdict = card::verify_with_key_revocations(&payload, keys, key_revoked, revoked);
        serde_json::to_string(&verdict).map_err(|e| fail("kadi_verify", 0, e.to_string()))
    })
}

/// A text result that usually fits in four bytes (a Soundex code): returned without a heap
/// allocation; SQLite copies it.
enum ShortText {
    Empty,
    Four([u8; 4]),
    Owned(String),
}

impl rusqlite::types::ToSql for ShortText {
    fn to_sql(&self) -> Result<rusqlite::types::ToSqlOutput<'_>> {
        let bytes: &[u8] = match self {
            ShortText::Empty => b"",
            ShortText::Four(code) => code,
            ShortText::Owned(s) => s.as_bytes(),
        };
        Ok(rusqlite::types::ToSqlOutput::Borrowed(ValueRef::Text(
            bytes,
        )))
    }
}

/// Parses both JSON arguments and maps; errors name the argument.
fn map_card(
    attrs: &str,
    map: &str,
    function: &'static str,
) -> Result<serde_json::Map<String, serde_json::Value>> {
    let attrs: Vec<mapping::Attr> = json_arg(
        attrs,
        function,
        0,
        "attributes_json, an array of {attribute, code, displayName, value}",
    )?;
    let map: mapping::Mapping = json_arg(
        map,
        function,
        1,
        "mapping_json, {programme_uid, mappings: [...]}",
    )?;
    mapping::map_attributes(&attrs, &map)
        .map(|(card, _blocked)| card)
        .map_err(|e| fail(function, 2, format!("(mapping_json) is wrong: {e}")))
}
