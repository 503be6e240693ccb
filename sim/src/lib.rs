//! A DHIS2 simulator (tiny_http) speaking the documented shapes of 2.36-2.42 with deterministic
//! synthetic data for a seed, near-duplicates with exportable truth, and fault injection. Used by
//! tests, benchmarks and `kadi demo`.
//!
//! What differs by version, as in the real servers: the tracker list key (`instances` up to 2.40,
//! `trackedEntities`/`enrollments` from 2.41), the pager (top-level fields, then `pager{}` plus
//! deprecated copies in 2.41, `pager{}` only in 2.42), parameter names (`orgUnit`/`ouMode`/
//! `trackedEntity` up to 2.40; 2.41 takes both but answers 400 to a mix; 2.42 silently ignores the
//! old names, widening the query), `fields` (2.36/2.37 only look for keywords; from 2.38 enrollments
//! come only when asked), `orgUnitName` (gone from 2.41), personal access tokens (2.37+).
//! Everywhere: zone-less timestamps, a 302 to the login page without credentials, and an account
//! locked after four failed logins.
//!
//! Faults (from [`Faults`], [`SimHandle::fail_next`] or [`SimHandle::rate_limit`]) apply to
//! `/api/tracker/*` only, so that metadata stays reachable and tests stay deterministic. A
//! dropped connection is a real one: the socket is shut down mid-body (Unix), so the client sees
//! an early EOF, not a stall. Faults of pace (rate limits with `Retry-After`, a dribbling or
//! stalling link, a silent server) live in `pacing.rs`.
//!
//! Like DHIS2 behind nginx (`gzip on`), answers are gzip-compressed when the request says
//! `Accept-Encoding: gzip` ([`SimConfig::gzip`], on by default; `kadi sim dhis2 --no-gzip`).
pub mod data;
mod datastore;
pub mod households;
pub mod messaging;
mod pacing;
mod server;
mod socket;

use anyhow::{bail, Context, Result};
use kadi_dhis2::model::{AttributeValue, Enrollment, TrackedEntity};
use std::collections::{HashMap, VecDeque};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

/// The demo program's UID.
pub const PROGRAM_UID: &str = "P3jJH5Tu5VC";

/// Failures the simulator injects into `/api/tracker/*` answers, as shares in `[0, 1]`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Faults {
    /// Share of answers that are `500` with DHIS2's error JSON.
    pub error_500: f64,
    /// Share of answers that are `503` with a proxy's HTML page.
    pub error_503: f64,
    /// Share of answers whose connection is closed after half the body (the client sees an EOF
    /// before the announced `Content-Length`).
    pub drop: f64,
    /// Share of answers whose body is cut in half (complete HTTP response, broken JSON).
    pub truncate: f64,
    /// Share of answers delayed by `slow_ms`.
    pub slow: f64,
    /// Delay of a slow answer, in milliseconds.
    pub slow_ms: u64,
    /// Largest `pageSize` served; bigger requests get this many items (and this `pageSize`).
    pub max_page_size: Option<u32>,
}

/// The paging and decoding faults of issue 15, set with [`SimHandle::set_paging_faults`]: what
/// a real server does under concurrent edits, a silent page-size cap, and records kadi cannot
/// decode. Kept apart from [`Faults`] (transport failures), whose answers are whole pages.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PagingFaults {
    /// After this page of tracked entities is served, the oldest records are updated.
    pub shift: Option<Shift>,
    /// Serve at most this many tracked entities per page, while the pager echoes the page size
    /// asked (offsets count in served records, as a server that clamps `pageSize` first).
    pub silent_cap: Option<u32>,
    /// Records (by index) whose first name carries an invalid UTF-8 byte (0xFF) on the wire.
    pub bad_byte: Vec<usize>,
    /// Records (by index) whose first name is sent as a JSON object instead of text.
    pub bad_value: Vec<usize>,
    /// Without an `order` parameter, serve by `updatedAt` (as issue 15's stand-in did); by
    /// default the simulator serves in registration order (its primary key).
    pub updated_order_by_default: bool,
    /// Answer 400 to any `order` parameter (a server that supports none of kadi's keys).
    pub refuse_order: bool,
    /// Records (by index) the server counts and lists (a `fields` without `attributes`: the
    /// completeness listing) but never serves whole, in a page or by UID: what a sharing or
    /// ownership quirk does to a record. The pages keep their length in the count, so they come
    /// back short.
    pub withheld: Vec<usize>,
}

/// Concurrent edits between pages: once page `after_page` of a tracked-entity export was served,
/// the `count` live records with the oldest `updatedAt` are updated (their `updatedAt` becomes
/// now), which moves them to the end of the `updatedAt` order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shift {
    pub after_page: u32,
    pub count: usize,
}

/// One forced failure, for [`SimHandle::fail_next`].
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// Answer with this HTTP status (DHIS2 error JSON; HTML for 502/503/504; a redirect to the
    /// login page for 301/302/303/307/308).
    Status(u16),
    /// Send half the body, then really close the TCP connection (shut the socket down).
    Drop,
    /// Send half the body, then nothing: the connection stays open until the client gives up
    /// (its timeout must fire).
    Stall,
    /// Cut the body in half.
    Truncate,
    /// Wait this long, then answer normally.
    Slow(Duration),
    /// Send the answer `chunk` bytes every `every` (a slow link); with `stop_after`, stop after
    /// that many body bytes and hold the connection open (a stall midway, after some data).
    Dribble {
        chunk: usize,
        every: Duration,
        stop_after: Option<usize>,
    },
    /// Take the request and never answer, holding the connection open (a hung server).
    Silent,
}

pub use pacing::{http_date, RateLimit, RetryAfterForm};
pub use server::STATS_PATH;

/// How to run a simulator.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// `127.0.0.1:0` picks a free port.
    pub listen: String,
    /// DHIS2 version to imitate, e.g. "2.41" (served as `2.41.0`) or a full "2.40.3.1" / "2.42-SNAPSHOT".
    pub version: String,
    /// Number of beneficiaries (tracked entities).
    pub records: usize,
    pub seed: u64,
    /// Basic-auth user (default `admin`).
    pub username: String,
    /// Basic-auth password (default `district`).
    pub password: String,
    /// Personal access token accepted as `Authorization: ApiToken …` (2.37+).
    pub token: Option<String>,
    /// Consecutive failed logins that lock an account (DHIS2: 4).
    pub lockout_after: u32,
    /// How long a locked account stays locked (DHIS2: 15 minutes).
    pub lockout: Duration,
    /// Injected failures.
    pub faults: Faults,
    /// Worker threads answering requests.
    pub workers: usize,
    /// Gzip answers to requests that say `Accept-Encoding: gzip`, as nginx in front of DHIS2
    /// does (compression level 1, nginx's default). Default: on.
    pub gzip: bool,
    /// What the generator draws (households, error model); default: today's data.
    pub shape: data::Shape,
}

/// The token the simulator accepts by default.
pub const DEFAULT_TOKEN: &str = "d2pat_kadiSimulatorToken0000000000001234567890";

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            listen: "127.0.0.1:0".into(),
            version: "2.41".into(),
            records: 100,
            seed: 42,
            username: "admin".into(),
            password: "district".into(),
            token: Some(DEFAULT_TOKEN.into()),
            lockout_after: 4,
            lockout: Duration::from_secs(15 * 60),
            faults: Faults::default(),
            workers: 4,
            gzip: true,
            shape: data::Shape::default(),
        }
    }
}

/// What the simulator has seen (for tests and benchmarks).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SimStats {
    /// Every request received, authenticated or not.
    pub requests: u64,
    /// Requests that failed authentication (401).
    pub auth_failures: u64,
    /// Requests answered 302 to the login page (no credentials).
    pub login_redirects: u64,
    /// Tracker requests that carried a pre-2.41 parameter name (`orgUnit`, `ouMode`, `trackedEntity`).
    pub old_param_requests: u64,
    /// Tracker requests that carried a 2.41+ parameter name (`orgUnits`, `orgUnitMode`, `trackedEntities`).
    pub new_param_requests: u64,
    /// Faults injected so far.
    pub faults_injected: u64,
    /// Tracker pages served successfully.
    pub pages_served: u64,
    /// Metadata answers that were `304 Not Modified` (the client's `If-None-Match` matched).
    pub not_modified: u64,
    /// Response body bytes written to the wire (compressed size when gzipped; for a dropped
    /// connection, the part sent before the close).
    pub body_bytes_sent: u64,
    /// Answers sent gzip-compressed (`Content-Encoding: gzip`).
    pub gzipped_answers: u64,
    /// Compressed body bytes of those answers.
    pub gzipped_bytes: u64,
    /// What those answers decompress to.
    pub gzipped_plain_bytes: u64,
    /// Connections really closed mid-body by a [`Fault::Drop`].
    pub connections_cut: u64,
    /// Tracker requests refused by a [`RateLimit`].
    pub rate_limited: u64,
    /// Connections held open without (the rest of) an answer by a stall or a silent server.
    pub connections_held: u64,
}

/// Record indices sorted by an `order` (see `State::sorted`).
struct SortedRecords {
    order: Vec<(String, bool)>,
    fingerprint: (usize, i64),
    indices: Arc<Vec<u64>>,
}

/// Per-record state that changes between runs; the record's content is generated from the seed.
#[derive(Debug, Clone, Copy)]
struct Meta {
    updated_ms: i64,
    /// What `createdAt` says (the `order=createdAt` key).
    created_ms: i64,
    health_center: u8,
    deleted: bool,
}

#[derive(Default)]
struct Records {
    meta: Vec<Meta>,
    /// Edited attribute values by record index: (attribute index, new value or removal).
    edits: HashMap<u64, Vec<(usize, Option<String>)>>,
}

#[derive(Default)]
struct AuthState {
    failures: HashMap<String, u32>,
    locked_until: HashMap<String, Instant>,
}

/// Shared between the handle and the worker threads.
struct State {
    config: SimConfig,
    version: String,
    major_minor: (u32, u32),
    base_url: String,
    /// The listening address (to find a connection's socket when dropping it).
    local_addr: std::net::SocketAddr,
    org_units: Vec<kadi_dhis2::model::OrgUnit>,
    /// Level-4 org units in generation order (index = `Person::health_center`).
    health_centers: Vec<usize>,
    records: RwLock<Records>,
    auth: Mutex<AuthState>,
    faults: Mutex<Faults>,
    paging: Mutex<PagingFaults>,
    /// Whether the [`Shift`] of `paging` already happened (it happens once).
    shifted: AtomicBool,
    /// The last `order` asked, with a fingerprint of the records' dates and every record index
    /// in that order: a sync asks the same order for every page, so 100,000 records are sorted
    /// once per change, not once per page.
    sorted: Mutex<Option<SortedRecords>>,
    forced: Mutex<VecDeque<Fault>>,
    /// The rate limit in force, if any ([`SimHandle::rate_limit`]).
    rate_limit: Mutex<Option<pacing::ActiveLimit>>,
    fault_rng: Mutex<data::SplitMix64>,
    stats: Mutex<SimStats>,
    log: Mutex<VecDeque<String>>,
    /// The last "now" handed out, so that edits always move `updatedAt` forward.
    last_now_ms: AtomicU64,
    /// WhatsApp and SMS requests received, faults to answer (see `messaging`).
    messaging: messaging::Shared,
}

const LOG_LIMIT: usize = 10_000;

impl State {
    fn now_ms(&self) -> i64 {
        let wall = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        let mut prev = self.last_now_ms.load(Ordering::SeqCst);
        loop {
            let next = wall.max(prev + 1);
            match self
                .last_now_ms
                .compare_exchange(prev, next, Ordering::SeqCst, Ordering::SeqCst)
            {
                Ok(_) => return next as i64,
                Err(p) => prev = p,
            }
        }
    }

    /// Record `i` with edits applied.
    fn tracked_entity(&self, records: &Records, i: u64) -> Option<(data::Person, Meta)> {
        let meta = *records.meta.get(i as usize)?;
        let mut p = data::person_in(self.config.seed, self.config.shape, i);
        if let Some(edits) = records.edits.get(&i) {
            for (a, v) in edits {
                p.values[*a] = v.clone();
            }
        }
        p.health_center = meta.health_center as usize;
        p.updated_ms = meta.updated_ms;
        Some((p, meta))
    }

    /// Performs the [`Shift`] once `page` of a full tracked-entity export has been served.
    fn shift_after(&self, page: u32) {
        let Some(shift) = lock(&self.paging).shift else {
            return;
        };
        if shift.after_page != page || self.shifted.swap(true, Ordering::SeqCst) {
            return;
        }
        let mut records = self.records.write().unwrap_or_else(|e| e.into_inner());
        let mut live: Vec<usize> = (0..records.meta.len())
            .filter(|&i| !records.meta[i].deleted)
            .collect();
        live.sort_by_key(|&i| (records.meta[i].updated_ms, i));
        for i in live.into_iter().take(shift.count) {
            records.meta[i].updated_ms = self.now_ms();
        }
    }

    fn health_center(&self, hc: usize) -> &kadi_dhis2::model::OrgUnit {
        &self.org_units[self.health_centers[hc % self.health_centers.len()]]
    }
}

/// A running simulator; stops when dropped.
pub struct SimHandle {
    /// Base URL such as `http://127.0.0.1:43121`.
    pub base_url: String,
    state: Arc<State>,
    /// `None` only while dropping.
    server: Option<Arc<tiny_http::Server>>,
    stop: Arc<AtomicBool>,
    workers: Vec<std::thread::JoinHandle<()>>,
}

pub use kadi_dhis2::parse_version;

/// Starts a simulator on its own threads.
pub fn start(config: SimConfig) -> Result<SimHandle> {
    let major_minor = parse_version(&config.version)
        .with_context(|| format!("not a DHIS2 version: {:?}", config.version))?;
    if major_minor < (2, 36) {
        bail!(
            "the simulator imitates DHIS2 2.36 and later, not {}",
            config.version
        );
    }
    let version = if config.version.matches('.').count() == 1 && !config.version.contains('-') {
        format!("{}.0", config.version)
    } else {
        config.version.clone()
    };
    let server = tiny_http::Server::http(&config.listen)
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", config.listen))?;
    let addr = server
        .server_addr()
        .to_ip()
        .with_context(|| format!("{} is not an IP address", config.listen))?;
    let base_url = format!("http://{addr}");
    let org_units = data::org_units();
    let health_centers: Vec<usize> = org_units
        .iter()
        .enumerate()
        .filter(|(_, o)| o.level == Some(4))
        .map(|(i, _)| i)
        .collect();
    let meta = (0..config.records as u64)
        .map(|i| {
            let p = data::person_in(config.seed, config.shape, i);
            Meta {
                updated_ms: p.updated_ms,
                created_ms: p.created_ms,
                health_center: p.health_center as u8,
                deleted: false,
            }
        })
        .collect();
    let workers_n = config.workers.max(1);
    let state = Arc::new(State {
        version,
        major_minor,
        base_url: base_url.clone(),
        local_addr: addr,
        org_units,
        health_centers,
        records: RwLock::new(Records {
            meta,
            edits: HashMap::new(),
        }),
        auth: Mutex::new(AuthState::default()),
        faults: Mutex::new(config.faults.clone()),
        paging: Mutex::new(PagingFaults::default()),
        shifted: AtomicBool::new(false),
        sorted: Mutex::new(None),
        forced: Mutex::new(VecDeque::new()),
        rate_limit: Mutex::new(None),
        fault_rng: Mutex::new(data::SplitMix64::new(config.seed ^ 0xFA17)),
        stats: Mutex::new(SimStats::default()),
        log: Mutex::new(VecDeque::new()),
        last_now_ms: AtomicU64::new(0),
        messaging: messaging::fresh(),
        config,
    });
    let server = Arc::new(server);
    let stop = Arc::new(AtomicBool::new(false));
    let mut workers = Vec::with_capacity(workers_n);
    for n in 0..workers_n {
        let (server, state, stop) = (server.clone(), state.clone(), stop.clone());
        let worker = std::thread::Builder::new()
            .name(format!("kadi-sim-{n}"))
            .spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    match server.recv() {
                        Ok(request) => server::handle(&state, request),
                        Err(_) => break,
                    }
                }
            })
            .context("starting a simulator thread")?;
        workers.push(worker);
    }
    Ok(SimHandle {
        base_url,
        state,
        server: Some(server),
        stop,
        workers,
    })
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl SimHandle {
    /// The version string `/api/system/info` reports (e.g. `2.41.0`).
    pub fn version(&self) -> &str {
        &self.state.version
    }

    /// The seed the data comes from.
    pub fn seed(&self) -> u64 {
        self.state.config.seed
    }

    /// Number of records (including deleted ones and those added by [`SimHandle::add_records`]).
    pub fn record_count(&self) -> usize {
        self.state.records.read().map(|r| r.meta.len()).unwrap_or(0)
    }

    /// The tracked-entity UID of record `i`.
    pub fn tracked_entity_uid(&self, i: usize) -> String {
        data::record_uid(self.state.config.seed, data::KIND_TE, i as u64)
    }

    /// The enrollment UID of record `i` (each tracked entity has one enrollment).
    pub fn enrollment_uid(&self, i: usize) -> String {
        data::record_uid(self.state.config.seed, data::KIND_ENROLLMENT, i as u64)
    }

    /// The record index of a tracked-entity or enrollment UID of this simulator.
    pub fn record_index(&self, uid: &str) -> Option<usize> {
        let seed = self.state.config.seed;
        let n = self.record_count() as u64;
        data::record_index(seed, data::KIND_TE, uid)
            .or_else(|| data::record_index(seed, data::KIND_ENROLLMENT, uid))
            .filter(|&i| i < n)
            .map(|i| i as usize)
    }

    fn index_of_te(&self, te_uid: &str) -> Result<u64> {
        let n = self.record_count() as u64;
        data::record_index(self.state.config.seed, data::KIND_TE, te_uid)
            .filter(|&i| i < n)
            .with_context(|| format!("no tracked entity {te_uid} in the simulator"))
    }

    /// Sets (or with `None` removes) one attribute of a tracked entity; its `updatedAt` becomes now.
    /// `attribute` is an attribute UID or code (e.g. `FIRST_NAME`).
    pub fn edit_attribute(&self, te_uid: &str, attribute: &str, value: Option<&str>) -> Result<()> {
        let i = self.index_of_te(te_uid)?;
        let a = data::ATTRIBUTES
            .iter()
            .position(|d| d.uid == attribute || d.code == attribute)
            .with_context(|| format!("no attribute {attribute} in the simulator's program"))?;
        let now = self.state.now_ms();
        let mut records = self
            .state
            .records
            .write()
            .unwrap_or_else(|e| e.into_inner());
        records
            .edits
            .entry(i)
            .or_default()
            .push((a, value.map(str::to_string)));
        records.meta[i as usize].updated_ms = now;
        Ok(())
    }

    /// Moves a tracked entity (and its enrollment) to another org unit; `updatedAt` becomes now.
    pub fn move_tracked_entity(&self, te_uid: &str, health_center_uid: &str) -> Result<()> {
        let i = self.index_of_te(te_uid)?;
        let hc = (0..self.state.health_centers.len())
            .find(|&k| self.state.health_center(k).uid == health_center_uid)
            .with_context(|| {
                format!("{health_center_uid} is not a health center of the simulator")
            })?;
        let now = self.state.now_ms();
        let mut records = self
            .state
            .records
            .write()
            .unwrap_or_else(|e| e.into_inner());
        let m = &mut records.meta[i as usize];
        m.health_center = hc as u8;
        m.updated_ms = now;
        Ok(())
    }

    /// Soft-deletes a tracked entity (and its enrollment), as DHIS2 does: it disappears from
    /// exports unless `includeDeleted=true`, where it shows `deleted: true`.
    pub fn delete_tracked_entity(&self, te_uid: &str) -> Result<()> {
        let i = self.index_of_te(te_uid)?;
        let now = self.state.now_ms();
        let mut records = self
            .state
            .records
            .write()
            .unwrap_or_else(|e| e.into_inner());
        let m = &mut records.meta[i as usize];
        m.deleted = true;
        m.updated_ms = now;
        Ok(())
    }

    /// Registers `n` more beneficiaries (generated from the seed like the others, some of them
    /// second registrations), created now; returns their tracked-entity UIDs.
    pub fn add_records(&self, n: usize) -> Vec<String> {
        let seed = self.state.config.seed;
        let mut records = self
            .state
            .records
            .write()
            .unwrap_or_else(|e| e.into_inner());
        let start = records.meta.len() as u64;
        let mut uids = Vec::with_capacity(n);
        for i in start..start + n as u64 {
            let p = data::person_in(seed, self.state.config.shape, i);
            let now = self.state.now_ms();
            records.meta.push(Meta {
                updated_ms: now,
                created_ms: p.created_ms,
                health_center: p.health_center as u8,
                deleted: false,
            });
            uids.push(data::record_uid(seed, data::KIND_TE, i));
        }
        uids
    }

    /// Every true duplicate pair `(enrollment_a, enrollment_b)` among records not deleted,
    /// `a` registered before `b`.
    pub fn truth_pairs(&self) -> Vec<(String, String)> {
        let seed = self.state.config.seed;
        let records = self.state.records.read().unwrap_or_else(|e| e.into_inner());
        let mut clusters: HashMap<u64, Vec<u64>> = HashMap::new();
        for (i, m) in records.meta.iter().enumerate() {
            if m.deleted {
                continue;
            }
            let o = data::orig_index(seed, i as u64);
            if o != i as u64 || clusters.contains_key(&o) {
                clusters.entry(o).or_default().push(i as u64);
            } else {
                clusters.insert(o, vec![o]);
            }
        }
        let mut keys: Vec<u64> = clusters.keys().copied().collect();
        keys.sort_unstable();
        let mut pairs = Vec::new();
        for k in keys {
            let members = &clusters[&k];
            for (x, &a) in members.iter().enumerate() {
                for &b in &members[x + 1..] {
                    pairs.push((
                        data::record_uid(seed, data::KIND_ENROLLMENT, a),
                        data::record_uid(seed, data::KIND_ENROLLMENT, b),
                    ));
                }
            }
        }
        pairs
    }

    /// The household of every record not deleted, as `(enrollment UID, household id)`. Without
    /// households every person lives alone (the household is their first registration's index),
    /// so an evaluation can always read the file.
    pub fn household_rows(&self) -> Vec<(String, String)> {
        let seed = self.state.config.seed;
        let shaped = self.state.config.shape.households;
        let records = self.state.records.read().unwrap_or_else(|e| e.into_inner());
        records
            .meta
            .iter()
            .enumerate()
            .filter(|(_, m)| !m.deleted)
            .map(|(i, _)| {
                let i = i as u64;
                let h = if shaped {
                    households::household(seed, i)
                } else {
                    data::orig_index(seed, i)
                };
                (
                    data::record_uid(seed, data::KIND_ENROLLMENT, i),
                    format!("H{h}"),
                )
            })
            .collect()
    }

    /// Writes [`SimHandle::household_rows`] as CSV `id,household` to `path` (atomically).
    pub fn write_households(&self, path: &Path) -> Result<usize> {
        use std::io::Write;
        let rows = self.household_rows();
        write_atomic_with(path, |file| {
            let mut w = std::io::BufWriter::new(file);
            writeln!(w, "id,household").with_context(|| format!("writing {}", path.display()))?;
            for (id, h) in &rows {
                writeln!(w, "{id},{h}").with_context(|| format!("writing {}", path.display()))?;
            }
            w.flush()
                .with_context(|| format!("writing {}", path.display()))
        })?;
        Ok(rows.len())
    }

    /// Writes [`SimHandle::truth_pairs`] as CSV `id_a,id_b` (enrollment UIDs) to `path`.
    pub fn write_truth(&self, path: &Path) -> Result<usize> {
        write_truth_csv(path, &self.truth_pairs())
    }

    /// The tracked entities the server holds now (edits applied, deleted ones included and
    /// flagged), in kadi's version-neutral shape: what a complete sync should end up with.
    pub fn snapshot(&self) -> Vec<TrackedEntity> {
        let records = self.state.records.read().unwrap_or_else(|e| e.into_inner());
        (0..records.meta.len() as u64)
            .filter_map(|i| {
                self.state
                    .tracked_entity(&records, i)
                    .map(|(p, m)| to_model(&self.state, i, &p, &m))
            })
            .collect()
    }

    /// Counters of what the simulator has seen.
    pub fn stats(&self) -> SimStats {
        lock(&self.state.stats).clone()
    }

    /// Number of requests received so far (any path, any outcome).
    pub fn request_count(&self) -> u64 {
        lock(&self.state.stats).requests
    }

    /// The last requests received (method, path and query as sent), oldest first, at most 10,000.
    pub fn request_log(&self) -> Vec<String> {
        lock(&self.state.log).iter().cloned().collect()
    }

    /// Forgets the request log and counters.
    pub fn reset_stats(&self) {
        *lock(&self.state.stats) = SimStats::default();
        lock(&self.state.log).clear();
    }

    /// Replaces the injected failure shares.
    pub fn set_faults(&self, faults: Faults) {
        *lock(&self.state.faults) = faults;
    }

    /// Replaces the paging and decoding faults (a [`Shift`] set here happens once).
    pub fn set_paging_faults(&self, faults: PagingFaults) {
        *lock(&self.state.paging) = faults;
        self.state.shifted.store(false, Ordering::SeqCst);
    }

    /// Whether the [`Shift`] of the paging faults has happened.
    pub fn shifted(&self) -> bool {
        self.state.shifted.load(Ordering::SeqCst)
    }

    /// Rate-limits tracker requests from now on, for `limit.window` (see [`RateLimit`]).
    pub fn rate_limit(&self, limit: RateLimit) {
        *lock(&self.state.rate_limit) = Some(pacing::ActiveLimit {
            until: Instant::now() + limit.window,
            limit,
        });
    }

    /// Forces the next `n` tracker requests to fail with `fault` (before random faults apply).
    pub fn fail_next(&self, n: usize, fault: Fault) {
        let mut q = lock(&self.state.forced);
        for _ in 0..n {
            q.push_back(fault.clone());
        }
    }

    /// Failed logins in a row for `username` (reset by a successful one).
    pub fn failed_logins(&self, username: &str) -> u32 {
        lock(&self.state.auth)
            .failures
            .get(username)
            .copied()
            .unwrap_or(0)
    }

    /// Whether `username` is locked out now.
    pub fn is_locked(&self, username: &str) -> bool {
        lock(&self.state.auth)
            .locked_until
            .get(username)
            .is_some_and(|t| *t > Instant::now())
    }

    /// Unlocks every account and forgets failed logins.
    pub fn reset_lockouts(&self) {
        *lock(&self.state.auth) = AuthState::default();
    }
}

fn to_model(state: &State, i: u64, p: &data::Person, m: &Meta) -> TrackedEntity {
    model_of(
        state.config.seed,
        state.health_center(p.health_center),
        i,
        p,
        m,
    )
}

/// The tracked entities a fresh simulator of `records` records with this seed serves (no edits,
/// none deleted), in its order, in kadi's version-neutral shape: the same records the HTTP
/// simulator sends, for an in-process stand-in (kadi's sync tests) that needs no server.
pub fn generate(seed: u64, records: usize) -> Vec<TrackedEntity> {
    let org_units = data::org_units();
    let health_centers: Vec<&kadi_dhis2::model::OrgUnit> =
        org_units.iter().filter(|o| o.level == Some(4)).collect();
    (0..records as u64)
        .map(|i| {
            let p = data::person(seed, i);
            let m = Meta {
                updated_ms: p.updated_ms,
                created_ms: p.created_ms,
                health_center: p.health_center as u8,
                deleted: false,
            };
            let hc = health_centers[m.health_center as usize % health_centers.len()];
            model_of(seed, hc, i, &p, &m)
        })
        .collect()
}

fn model_of(
    seed: u64,
    health_center: &kadi_dhis2::model::OrgUnit,
    i: u64,
    p: &data::Person,
    m: &Meta,
) -> TrackedEntity {
    let te_uid = data::record_uid(seed, data::KIND_TE, i);
    let ou = health_center.uid.clone();
    TrackedEntity {
        uid: te_uid.clone(),
        tracked_entity_type: Some(data::TRACKED_ENTITY_TYPE_UID.into()),
        org_unit: Some(ou.clone()),
        created_at: Some(data::format_timestamp(p.created_ms)),
        updated_at: Some(data::format_timestamp(m.updated_ms)),
        deleted: m.deleted,
        attributes: data::ATTRIBUTES
            .iter()
            .zip(p.values.iter())
            .filter_map(|(a, v)| {
                v.as_ref().map(|v| AttributeValue {
                    attribute: a.uid.into(),
                    code: Some(a.code.into()),
                    display_name: Some(a.name.into()),
                    value_type: Some(a.value_type.into()),
                    value: v.clone(),
                    updated_at: Some(data::format_timestamp(m.updated_ms)),
                })
            })
            .collect(),
        enrollments: vec![Enrollment {
            uid: data::record_uid(seed, data::KIND_ENROLLMENT, i),
            program: PROGRAM_UID.into(),
            tracked_entity: te_uid,
            org_unit: Some(ou),
            enrolled_at: Some(data::format_timestamp(p.enrolled_ms)),
            occurred_at: Some(data::format_timestamp(p.enrolled_ms)),
            status: Some("ACTIVE".into()),
            updated_at: Some(data::format_timestamp(m.updated_ms)),
            deleted: m.deleted,
        }],
    }
}

fn write_truth_csv(path: &Path, pairs: &[(String, String)]) -> Result<usize> {
    use std::io::Write;
    write_atomic_with(path, |file| {
        let mut w = std::io::BufWriter::new(file);
        writeln!(w, "id_a,id_b").with_context(|| format!("writing {}", path.display()))?;
        for (a, b) in pairs {
            writeln!(w, "{a},{b}").with_context(|| format!("writing {}", path.display()))?;
        }
        w.flush()
            .with_context(|| format!("writing {}", path.display()))
    })?;
    Ok(pairs.len())
}

impl Drop for SimHandle {
    /// Stops the workers and returns once the port is closed: tiny_http closes its listener on
    /// a detached accept thread, and a test that starts a simulator again on the same port (or
    /// expects the server to be gone) must not race it.
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let Some(server) = self.server.take() else {
            return;
        };
        for _ in 0..self.workers.len() {
            server.unblock();
        }
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
        drop(server);
        let addr = self.state.local_addr;
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline
            && std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
        {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

/// Writes a file for good (temp file, fsync, rename, fsync of the directory), mode 0600. A copy
/// of the app's `fsx::write_atomic_with` in a few lines: the simulator knows no kadi module.
fn write_atomic_with(
    path: &Path,
    fill: impl FnOnce(&mut std::fs::File) -> Result<()>,
) -> Result<()> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    let name = path
        .file_name()
        .with_context(|| format!("{} is not a file path", path.display()))?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(".{}.tmp", std::process::id()));
    let tmp = dir.join(tmp_name);
    let result = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .with_context(|| format!("creating {}", tmp.display()))?;
        f.set_permissions(std::fs::Permissions::from_mode(0o600))
            .with_context(|| format!("setting the mode of {}", tmp.display()))?;
        fill(&mut f)?;
        f.sync_all()
            .with_context(|| format!("flushing {} to disk", tmp.display()))?;
        drop(f);
        std::fs::rename(&tmp, path)
            .with_context(|| format!("renaming {} to {}", tmp.display(), path.display()))?;
        std::fs::File::open(&dir)
            .and_then(|d| d.sync_all())
            .with_context(|| format!("flushing directory {}", dir.display()))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}
