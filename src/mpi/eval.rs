//! `kadi mpi eval`: resolves a labelled record set into a fresh store through the same code path
//! as sync ([`super::resolve_pending`]) and measures the result against true duplicate pairs.
//!
//! Inputs: kadi's evaluation CSV (header of card field names plus `id`, `address`,
//! `national_id`, any of them missing; unknown columns are ignored) with a truth CSV of `id_a,id_b`,
//! or a FEBRL file converted on the fly as `../shared/mpi-data/README.md` says, or the card records
//! of a store filled by `kadi sync` from the simulator (`kadi sim dhis2 --truth PAIRS.csv` names
//! the true pairs by enrollment UID), so the simulator's data is measured after the real DHIS2
//! client, mapping and guardrail, not from a side export. A duplicate `id`
//! or a truth pair naming an unknown record is an error, never a silent merge.
//!
//! Pairs: `auto` counts every two records under one MPI ID; `auto_plus_review` additionally joins
//! the two identities of every pending review item (what accepting all reviews would give).
//! `new_identity_true_pairs` are true pairs joined by neither. `blocking_recall` is the share of
//! true pairs the resolver could compare: the later record of the pair (in enrollment order, the
//! order of a pass) reads a blocking key the earlier one is filed under and the earlier one is among the
//! first `mpi.block_cap` records of that key, the candidates resolution reads. Computed from the
//! records' own keys ([`super::record_block_keys`], the resolver's), it equals the true pairs
//! actually scored in the evaluation's single pass; with `--calibration`, `blocking` gives both
//! counts and the true pairs sharing a key at all (what a larger cap could reach).
//!
//! Calibration (`--calibration`): every pair the resolver scored, by band of its score (the
//! link band from 0.95, review from 0.75, below that, including the comparisons stopped before
//! the names because they could not reach review), with the true pairs among them: whether a band means
//! what it says. Scores are the pair's own, before identity-level capping (chaining).
//!
//! `--export-csv FILE` writes the records exactly as evaluated (after `--without`) as kadi's
//! evaluation CSV, and the truth beside it (`<stem>_truth.csv`), so a peer tool sees the very
//! records kadi saw, also for a synced store.
//!
//! Households: given `--households FILE` (CSV `id,household`, as `kadi sim dhis2
//! --households-truth` writes), `household_false_links` counts the false pairs joined whose two
//! records live in one household, and how many of those are people born ten or more years
//! apart (a parent and child, not a re-registration), for `auto` and `auto_plus_review`. Two
//! members of a family are the MPI's most harmful mistake: one card for two people.
use crate::record::{CardFields, CardRecord};
use crate::store::Store;
use anyhow::{bail, Context, Result};
use serde::Serialize;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Precision, recall and F1 of one set of predicted pairs.
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct Prf {
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
}

/// The evaluation report; its JSON keys are the issue's, exactly.
#[derive(Debug, Clone, Serialize)]
pub struct EvalReport {
    pub records: usize,
    pub true_pairs: usize,
    pub auto: Prf,
    pub auto_plus_review: Prf,
    pub review_items: usize,
    pub new_identity_true_pairs: usize,
    pub blocking_recall: f64,
    pub comparisons: u64,
    /// Wall time of resolution: reading the records, a fresh store, inserting, (training,)
    /// resolving. Reading the truth and measuring against it are left out, as Splink's
    /// `seconds` (bench/mpi_splink.py) leaves out its truth and metric sweep.
    pub seconds: f64,
    pub peak_rss_mb: f64,
    /// False links inside households; absent without a household file, so the issue-5 keys stay
    /// exactly as they were.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub household_false_links: Option<HouseholdFalseLinks>,
    /// Scored pairs by band with the true pairs among them; only with `--calibration`, so the
    /// issue-5 keys stay exactly as they were.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub calibration: Option<Calibration>,
    /// How `blocking_recall` was reached; only with `--calibration`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub blocking: Option<BlockingDetail>,
}

/// Pairs scored in one band of scores.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Default)]
pub struct BandCount {
    /// Pairs whose score fell in the band.
    pub pairs: u64,
    /// Of those, true pairs.
    pub true_pairs: u64,
    /// `true_pairs / pairs` (0 for an empty band).
    pub share_true: f64,
}

impl BandCount {
    fn add(&mut self, is_true: bool) {
        self.pairs += 1;
        self.true_pairs += u64::from(is_true);
    }

    fn finish(mut self) -> BandCount {
        self.share_true = if self.pairs == 0 {
            0.0
        } else {
            self.true_pairs as f64 / self.pairs as f64
        };
        self
    }
}

/// Every pair the resolver scored, by the band of its own score.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Default)]
pub struct Calibration {
    /// Score >= the link line (`kadi_sqlext::mpi::LINK`, 0.95).
    pub link: BandCount,
    /// Review line (0.75) <= score < link line.
    pub review: BandCount,
    /// Score < the review line, including `stopped_early`.
    pub below: BandCount,
    /// Comparisons stopped before the names: they could not reach the review band.
    pub stopped_early: u64,
}

impl Calibration {
    /// Counts one scored pair by the band of its score (`None`: stopped before the names).
    fn add(&mut self, score: Option<f64>, is_true: bool) {
        match score {
            Some(s) if s >= kadi_sqlext::mpi::LINK => self.link.add(is_true),
            Some(s) if s >= kadi_sqlext::mpi::REVIEW => self.review.add(is_true),
            Some(_) => self.below.add(is_true),
            None => {
                self.below.add(is_true);
                self.stopped_early += 1;
            }
        }
    }

    fn finish(self) -> Calibration {
        Calibration {
            link: self.link.finish(),
            review: self.review.finish(),
            below: self.below.finish(),
            stopped_early: self.stopped_early,
        }
    }
}

/// The counts behind `blocking_recall`.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq, Default)]
pub struct BlockingDetail {
    /// `mpi.block_cap`: most records read from one key.
    pub block_cap: usize,
    /// True pairs whose records share at least one blocking key.
    pub true_pairs_sharing_a_key: usize,
    /// Of those, pairs whose earlier record is within the cap of a shared key (could be compared).
    pub true_pairs_within_cap: usize,
    /// True pairs the resolver actually scored.
    pub true_pairs_scored: usize,
}

/// False pairs joined between two members of one household.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq, Default)]
pub struct HouseholdFalseLinks {
    /// False pairs under one MPI ID whose records share a household.
    pub auto: usize,
    /// Of those, pairs whose birth years are ten or more apart.
    pub auto_born_10y_apart: usize,
    /// False pairs joined by automatic links or pending reviews, inside a household.
    pub auto_plus_review: usize,
    /// Of those, pairs whose birth years are ten or more apart.
    pub auto_plus_review_born_10y_apart: usize,
}

/// Where the labelled records come from.
#[derive(Debug, Clone)]
pub enum EvalInput {
    /// kadi's evaluation CSV and `id_a,id_b` truth.
    Kadi { records: PathBuf, truth: PathBuf },
    /// A FEBRL file and its truth (`rec_id_l,rec_id_r`).
    Febrl { records: PathBuf, truth: PathBuf },
    /// The card records of a synced store (every program; id = enrollment UID), read only, with
    /// the simulator's `id_a,id_b` truth. Its own MPI state is ignored and left untouched.
    Synced { store: PathBuf, truth: PathBuf },
}

/// Options of one evaluation.
#[derive(Debug, Clone)]
pub struct EvalOptions {
    pub input: EvalInput,
    /// Fields to drop from every record (e.g. `national_id`).
    pub without: Vec<String>,
    /// Keep the store here instead of a temporary file.
    pub store: Option<PathBuf>,
    /// Write the pairs not linked automatically or joined wrongly here (CSV; see `kadi mpi eval
    /// --help`). The report itself is unchanged.
    pub dump_pairs: Option<PathBuf>,
    /// Household of each record (CSV `id,household`), to count false links inside households.
    pub households: Option<PathBuf>,
    /// Train the scorer on the records (no truth) and resolve with the learned parameters.
    pub train: bool,
    /// Write the records as evaluated (kadi evaluation CSV) here, and the truth beside it.
    pub export_csv: Option<PathBuf>,
    /// Add `calibration` and `blocking` to the report.
    pub calibration: bool,
}

/// Parses CSV text (RFC 4180 quoting) into rows of fields.
pub fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if quoted {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    chars.next();
                    field.push('"');
                }
                '"' => quoted = false,
                c => field.push(c),
            }
            continue;
        }
        match c {
            '"' if field.is_empty() => quoted = true,
            ',' => row.push(std::mem::take(&mut field)),
            '\r' => {}
            '\n' => {
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
            }
            c => field.push(c),
        }
    }
    if !field.is_empty() || !row.is_empty() {
        row.push(field);
        rows.push(row);
    }
    rows.retain(|r| !(r.len() == 1 && r[0].trim().is_empty()));
    rows
}

fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
}

/// Loads labelled records as (id, fields).
pub fn load_records(input: &EvalInput) -> Result<Vec<(String, CardFields)>> {
    let (path, febrl) = match input {
        EvalInput::Kadi { records, .. } => (records, false),
        EvalInput::Febrl { records, .. } => (records, true),
        EvalInput::Synced { store, .. } => return load_synced(store),
    };
    // Rows are consumed one by one, so their memory is reused by the records built from them.
    let mut rows = parse_csv(&read(path)?).into_iter();
    let Some(header) = rows.next() else {
        bail!("{} is empty", path.display())
    };
    let col = |name: &str| header.iter().position(|h| h.trim() == name);
    let id_col = col(if febrl { "rec_id" } else { "id" }).with_context(|| {
        format!(
            "{} has no {} column",
            path.display(),
            if febrl { "rec_id" } else { "id" }
        )
    })?;
    let mut seen = HashSet::new();
    let mut out = Vec::with_capacity(rows.len());
    for (n, row) in rows.enumerate() {
        let get = |i: Option<usize>| {
            i.and_then(|i| row.get(i))
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
        };
        let id = get(Some(id_col))
            .with_context(|| format!("{} line {}: empty id", path.display(), n + 2))?;
        if !seen.insert(id.clone()) {
            bail!(
                "{} line {}: duplicate id {id:?} (ids must be unique)",
                path.display(),
                n + 2
            );
        }
        let mut f = CardFields::default();
        if febrl {
            f.first_name = get(col("given_name"));
            f.last_name = get(col("surname"));
            f.date_of_birth = get(col("date_of_birth")).map(|d| {
                if d.len() == 8 && d.bytes().all(|b| b.is_ascii_digit()) {
                    format!("{}-{}-{}", &d[..4], &d[4..6], &d[6..])
                } else {
                    d
                }
            });
            let parts: Vec<String> = [
                "street_number",
                "address_1",
                "address_2",
                "suburb",
                "postcode",
                "state",
            ]
            .iter()
            .filter_map(|c| get(col(c)))
            .collect();
            f.address = (!parts.is_empty()).then(|| parts.join(" "));
            f.national_id = get(col("soc_sec_id"));
        } else {
            for (i, h) in header.iter().enumerate() {
                if i != id_col {
                    f.set(h.trim(), get(Some(i)));
                }
            }
        }
        out.push((id, f));
    }
    Ok(out)
}

/// Loads true pairs (first two columns after a header), checking every ID is known.
pub fn load_truth(path: &Path, ids: &HashSet<&str>) -> Result<HashSet<(String, String)>> {
    let rows = parse_csv(&read(path)?);
    let mut out = HashSet::new();
    for (n, row) in rows.iter().enumerate().skip(1) {
        let (Some(a), Some(b)) = (row.first(), row.get(1)) else {
            bail!("{} line {}: expected id_a,id_b", path.display(), n + 1)
        };
        let (a, b) = (a.trim(), b.trim());
        for x in [a, b] {
            if !ids.contains(x) {
                bail!("{} line {}: unknown record id {x:?}", path.display(), n + 1);
            }
        }
        if a != b {
            out.insert(ordered(a, b));
        }
    }
    Ok(out)
}

/// Loads `id,household` rows, checking every ID is known; records absent from the file live in
/// no household.
pub fn load_households(path: &Path, ids: &HashSet<&str>) -> Result<HashMap<String, String>> {
    let rows = parse_csv(&read(path)?);
    let mut out = HashMap::new();
    for (n, row) in rows.iter().enumerate().skip(1) {
        let (Some(id), Some(h)) = (row.first(), row.get(1)) else {
            bail!("{} line {}: expected id,household", path.display(), n + 1)
        };
        let (id, h) = (id.trim(), h.trim());
        if !ids.contains(id) {
            bail!(
                "{} line {}: unknown record id {id:?}",
                path.display(),
                n + 1
            );
        }
        if !h.is_empty() {
            out.insert(id.to_string(), h.to_string());
        }
    }
    Ok(out)
}

/// The birth year of a record (`YYYY…`), if it has a readable one.
fn birth_year(f: &CardFields) -> Option<i32> {
    f.date_of_birth.as_deref()?.get(..4)?.parse().ok()
}

fn ordered(a: &str, b: &str) -> (String, String) {
    if a < b {
        (a.to_string(), b.to_string())
    } else {
        (b.to_string(), a.to_string())
    }
}

fn prf(tp: usize, predicted: usize, truth: usize) -> Prf {
    let precision = if predicted == 0 {
        1.0
    } else {
        tp as f64 / predicted as f64
    };
    let recall = if truth == 0 {
        1.0
    } else {
        tp as f64 / truth as f64
    };
    let f1 = if precision + recall == 0.0 {
        0.0
    } else {
        2.0 * precision * recall / (precision + recall)
    };
    Prf {
        precision,
        recall,
        f1,
    }
}

/// Peak resident memory of this process in MB (Linux `VmHWM`; 0 elsewhere).
pub fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map(|kb| (kb / 1024.0 * 10.0).round() / 10.0)
        .unwrap_or(0.0)
}

/// Card records of a store that `kadi sync` filled, in enrollment order. Opened read-only: an
/// evaluation never changes the box's own database.
fn load_synced(path: &Path) -> Result<Vec<(String, CardFields)>> {
    anyhow::ensure!(path.is_file(), "{} is not a kadi database", path.display());
    let conn = rusqlite::Connection::open_with_flags(
        path,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .with_context(|| format!("opening {} read-only", path.display()))?;
    let mut stmt = conn
        .prepare("SELECT enrollment_uid, fields_json FROM card_records ORDER BY enrollment_uid")
        .with_context(|| {
            format!(
                "{} has no card records (run kadi sync first)",
                path.display()
            )
        })?;
    let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
    let mut out = Vec::new();
    for row in rows {
        let (id, json) = row?;
        let fields: CardFields = serde_json::from_str(&json)
            .with_context(|| format!("card record {id} has unreadable fields"))?;
        out.push((id, fields));
    }
    anyhow::ensure!(
        !out.is_empty(),
        "{} has no card records (run kadi sync first)",
        path.display()
    );
    Ok(out)
}

/// Inserts labelled records as card records of program `eval` (enrollment = record id).
pub fn insert_records(store: &Store, records: &[(String, CardFields)]) -> Result<()> {
    store.mpi_batch(|| {
        for (id, fields) in records {
            store.upsert_card_record(&CardRecord {
                enrollment_uid: id.clone(),
                tracked_entity_uid: id.clone(),
                program_uid: "eval".into(),
                fields: fields.clone(),
            })?;
        }
        Ok(())
    })
}

/// Runs one evaluation.
pub fn run(opts: &EvalOptions) -> Result<EvalReport> {
    let started = Instant::now();
    let truth_path = match &opts.input {
        EvalInput::Kadi { truth, .. }
        | EvalInput::Febrl { truth, .. }
        | EvalInput::Synced { truth, .. } => truth.clone(),
    };
    let mut records = load_records(&opts.input)?;
    for (_, f) in records.iter_mut() {
        for field in &opts.without {
            if !f.set(field, None) {
                bail!("--without {field}: not a field (use a card field, national_id or address)");
            }
        }
    }
    // Reading the truth, measuring against it and exporting are not resolution: their time is
    // left out of `seconds`, as Splink's (bench/mpi_splink.py) leaves out its truth and metrics.
    let t = Instant::now();
    let ids: HashSet<&str> = records.iter().map(|(id, _)| id.as_str()).collect();
    let truth = load_truth(&truth_path, &ids)?;
    let households = match &opts.households {
        Some(p) => Some(load_households(p, &ids)?),
        None => None,
    };
    let birth_years: Vec<Option<i32>> = records.iter().map(|(_, f)| birth_year(f)).collect();
    let mut aside = t.elapsed();
    if let Some(p) = &opts.export_csv {
        let t = Instant::now();
        export_csv(p, &records, &truth)?;
        aside += t.elapsed();
    }

    let temp = opts.store.is_none();
    let path = store_path(opts.store.as_deref())?;
    // Past this point only the IDs are needed: the fields are in the store (at 100,000 records
    // they were 50 MB of the evaluation's peak memory).
    let db_path = path.clone();
    let result: Result<(EvalReport, std::time::Duration)> = (move || {
        let (store, trained) = store_and_train(&db_path, &records, opts.train)?;
        // Blocking recall reads the fields (and the block cap, which training leaves as it is).
        let t = Instant::now();
        let block_cap = super::MpiSettings::load(&store)?.block_cap;
        let reach = blocking_reach(&records, &truth, block_cap)?;
        let measuring = t.elapsed();
        // A new vector, not `into_iter().map().collect()`: that collects in place, keeping the
        // records' whole buffer (400 bytes a record, 40 MB at 100,000) through training and
        // resolution (with training, 100,000 household records peaked at 221 MB with it).
        let mut ids: Vec<String> = Vec::with_capacity(records.len());
        ids.extend(records.into_iter().map(|(id, _)| id));
        let records = ids;
        if let Some(params) = trained {
            super::learn::keep(&store, &params, true, &crate::actor::Actor::Cli)?;
        }
        let Observed {
            report,
            scored,
            calibration,
            observing,
        } = resolve_observed(&store, &truth)?;
        let measuring = measuring + observing;
        let t = Instant::now();
        let mut report = measure(
            &store,
            &records,
            &truth,
            &scored,
            report.comparisons,
            opts.dump_pairs.as_deref(),
            households.as_ref().map(|h| (h, birth_years.as_slice())),
        )?;
        let measuring = measuring + t.elapsed();
        report.blocking_recall = if truth.is_empty() {
            1.0
        } else {
            reach.within_cap as f64 / truth.len() as f64
        };
        if opts.calibration {
            report.calibration = Some(calibration.finish());
            report.blocking = Some(BlockingDetail {
                block_cap,
                true_pairs_sharing_a_key: reach.sharing,
                true_pairs_within_cap: reach.within_cap,
                true_pairs_scored: scored.len(),
            });
        }
        Ok((report, measuring))
    })();
    if temp {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
    }
    let (mut report, measuring) = result?;
    let resolving = started.elapsed().saturating_sub(aside + measuring);
    report.seconds = (resolving.as_secs_f64() * 1000.0).round() / 1000.0;
    report.peak_rss_mb = peak_rss_mb();
    Ok(report)
}

/// A new store holding the records, and with `train` the parameters learnt from them. Training
/// learns from the records while they are inserted (a store's single writer leaves the other
/// core idle): the same parameters as training on the store afterwards (`kadi mpi train`),
/// pinned by `eval_with_train_learns_what_mpi_train_learns_from_the_store`.
fn store_and_train(
    db_path: &Path,
    records: &[(String, CardFields)],
    train: bool,
) -> Result<(Store, Option<super::Params>)> {
    let store = Store::open(db_path)?;
    if !train {
        insert_records(&store, records)?;
        return Ok((store, None));
    }
    let (inserted, trained) = std::thread::scope(|s| {
        let training = s.spawn(|| super::learn::train_fields(records, &Default::default()));
        let inserted = insert_records(&store, records);
        let trained = training
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        (inserted, trained)
    });
    inserted?;
    Ok((store, Some(trained?)))
}

/// Resolves the store's records, checking every compared pair against the truth without
/// allocating (millions of pairs at 100,000 records; only true pairs are kept): the report, the
/// true pairs scored, the scores' calibration, and the time spent indexing the truth, which is
/// measuring and left out of `seconds` as Splink's truth work is left out of its time. The
/// checks themselves stay in `seconds`: they cost ~1.3 ms of a 5,000-record household set, and
/// timing each one (session 16) cost more than that (two clock reads a pair, 74,000 at 5,000
/// records: ~3 ms of the resolver's thread).
fn resolve_observed(store: &Store, truth: &HashSet<(String, String)>) -> Result<Observed> {
    let t = Instant::now();
    let mut partners: HashMap<&str, Vec<&str>, foldhash::fast::RandomState> = HashMap::default();
    for (a, b) in truth {
        partners.entry(a).or_default().push(b);
        partners.entry(b).or_default().push(a);
    }
    let mut scored: HashSet<(String, String)> = HashSet::new();
    let mut calibration = Calibration::default();
    let observing = t.elapsed();
    let report = super::resolve_pending_observed(store, &mut |a, b, score| {
        let is_true = partners.get(a).is_some_and(|p| p.contains(&b));
        if is_true {
            scored.insert(ordered(a, b));
        }
        calibration.add(score, is_true);
    })?;
    Ok(Observed {
        report,
        scored,
        calibration,
        observing,
    })
}

/// What [`resolve_observed`] gives.
struct Observed {
    report: super::ResolveReport,
    scored: HashSet<(String, String)>,
    calibration: Calibration,
    observing: std::time::Duration,
}

/// Where the evaluation resolves: `--store` (which must not exist yet) or a throwaway file.
fn store_path(store: Option<&Path>) -> Result<PathBuf> {
    if let Some(p) = store {
        // Records already resolved there would be resolved "again" as unchanged, comparing
        // nothing: the figures would describe some earlier run, not this one.
        if p.exists() {
            bail!(
                "--store {}: the file exists; an evaluation resolves into a fresh store (remove it or name another)",
                p.display()
            );
        }
        return Ok(p.to_path_buf());
    }
    // A throwaway store needs no disk: tmpfs when the system has one (Linux), else temp_dir.
    Ok(eval_dir().join(format!(
        "kadi-mpi-eval-{}-{}.db",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0)
    )))
}

fn eval_dir() -> PathBuf {
    let shm = Path::new("/dev/shm");
    if shm.is_dir() && std::fs::metadata(shm).is_ok_and(|m| !m.permissions().readonly()) {
        shm.to_path_buf()
    } else {
        std::env::temp_dir()
    }
}

/// Union-find over record indices.
struct Sets(Vec<usize>);

impl Sets {
    fn find(&mut self, x: usize) -> usize {
        let mut r = x;
        while self.0[r] != r {
            r = self.0[r];
        }
        let mut y = x;
        while self.0[y] != r {
            let n = self.0[y];
            self.0[y] = r;
            y = n;
        }
        r
    }
    fn union(&mut self, a: usize, b: usize) {
        let (a, b) = (self.find(a), self.find(b));
        if a != b {
            self.0[a.max(b)] = a.min(b);
        }
    }
}

fn pairs_within(sets: &mut Sets, n: usize) -> usize {
    let mut sizes: HashMap<usize, usize> = HashMap::new();
    for i in 0..n {
        *sizes.entry(sets.find(i)).or_default() += 1;
    }
    sizes.values().map(|s| s * (s - 1) / 2).sum()
}

/// Each record's household and each record's birth year (by record index).
type HouseholdTruth<'a> = (&'a HashMap<String, String>, &'a [Option<i32>]);

fn measure(
    store: &Store,
    records: &[String],
    truth: &HashSet<(String, String)>,
    scored: &HashSet<(String, String)>,
    comparisons: u64,
    dump: Option<&Path>,
    households: Option<HouseholdTruth>,
) -> Result<EvalReport> {
    let index: HashMap<&str, usize> = records
        .iter()
        .enumerate()
        .map(|(i, id)| (id.as_str(), i))
        .collect();
    let n = records.len();
    let mut auto = Sets((0..n).collect());
    let mut first_of: HashMap<String, usize> = HashMap::new();
    for (uid, mpi_id) in store.mpi_all_links()? {
        let Some(&i) = index.get(uid.as_str()) else {
            continue;
        };
        match first_of.get(&mpi_id) {
            Some(&j) => auto.union(i, j),
            None => {
                first_of.insert(mpi_id, i);
            }
        }
    }
    let mut both = Sets(auto.0.clone());
    let reviews = store.mpi_review_items(super::ReviewStatus::Pending)?;
    for r in &reviews {
        if let (Some(&i), Some(&j)) = (
            index.get(r.enrollment_uid.as_str()),
            index.get(r.candidate_enrollment_uid.as_str()),
        ) {
            both.union(i, j);
        }
    }
    let (mut tp_auto, mut tp_both) = (0, 0);
    for (a, b) in truth {
        let (i, j) = (index[a.as_str()], index[b.as_str()]);
        if auto.find(i) == auto.find(j) {
            tp_auto += 1;
        }
        if both.find(i) == both.find(j) {
            tp_both += 1;
        }
    }
    if let Some(path) = dump {
        dump_pairs(path, records, truth, scored, &mut auto, &mut both)?;
    }
    let household_false_links = households
        .map(|(h, years)| household_false_links(records, truth, h, years, &mut auto, &mut both));
    let predicted_auto = pairs_within(&mut auto, n);
    let predicted_both = pairs_within(&mut both, n);
    Ok(EvalReport {
        records: n,
        true_pairs: truth.len(),
        auto: prf(tp_auto, predicted_auto, truth.len()),
        auto_plus_review: prf(tp_both, predicted_both, truth.len()),
        review_items: reviews.len(),
        new_identity_true_pairs: truth.len() - tp_both,
        // Set by `run` from the blocking keys.
        blocking_recall: 0.0,
        comparisons,
        seconds: 0.0,
        peak_rss_mb: 0.0,
        household_false_links,
        calibration: None,
        blocking: None,
    })
}

/// True pairs the resolver could reach through blocking (see the module doc).
struct Reach {
    /// Pairs sharing at least one key.
    sharing: usize,
    /// Pairs sharing a key under which the earlier record is within the cap.
    within_cap: usize,
}

/// Blocking keys as 64-bit hashes (two keys with one hash, odds ~1e-8 at these sizes, would
/// count one pair too many).
fn key_hash(key: &str) -> u64 {
    use std::hash::BuildHasher;
    foldhash::fast::FixedState::with_seed(0x6b61_6469).hash_one(key)
}

/// Which true pairs share a blocking key, and which of those the resolver's capped lookup reads:
/// records are walked in enrollment order (the pass's), counting each key's members so far.
fn blocking_reach(
    records: &[(String, CardFields)],
    truth: &HashSet<(String, String)>,
    cap: usize,
) -> Result<Reach> {
    use rayon::prelude::*;
    fn hashed(keys: &[String]) -> Vec<u64> {
        let mut k: Vec<u64> = keys.iter().map(|k| key_hash(k)).collect();
        k.sort_unstable();
        k.dedup();
        k
    }
    // Filed under, and read under (the later record of a pair reads; see `super::Keys`).
    let (keys, read): (Vec<Vec<u64>>, Vec<Vec<u64>>) = records
        .par_iter()
        .map(|(id, f)| {
            let json = serde_json::to_string(f)?;
            let k = super::record_block_keys(id, &json)?;
            Ok((hashed(&k.filed), hashed(&k.read())))
        })
        .collect::<Result<Vec<_>>>()?
        .into_iter()
        .unzip();
    let index: HashMap<&str, usize> = records
        .iter()
        .enumerate()
        .map(|(i, (id, _))| (id.as_str(), i))
        .collect();
    let mut in_truth = vec![false; records.len()];
    for (a, b) in truth {
        in_truth[index[a.as_str()]] = true;
        in_truth[index[b.as_str()]] = true;
    }
    // Only keys of records in true pairs need counting.
    let mut seen: HashMap<u64, usize> = HashMap::new();
    for (i, k) in keys.iter().enumerate() {
        if in_truth[i] {
            for h in k {
                seen.insert(*h, 0);
            }
        }
    }
    let mut order: Vec<usize> = (0..records.len()).collect();
    order.sort_unstable_by(|&a, &b| records[a].0.cmp(&records[b].0));
    let mut within: HashMap<usize, Vec<u64>> = HashMap::new();
    for &i in &order {
        for h in &keys[i] {
            if let Some(count) = seen.get_mut(h) {
                if in_truth[i] && *count < cap {
                    within.entry(i).or_default().push(*h);
                }
                *count += 1;
            }
        }
    }
    let mut reach = Reach {
        sharing: 0,
        within_cap: 0,
    };
    for (a, b) in truth {
        // `ordered` put the earlier enrollment first.
        let (i, j) = (index[a.as_str()], index[b.as_str()]);
        if keys[i].iter().any(|h| read[j].binary_search(h).is_ok()) {
            reach.sharing += 1;
            let early = within.get(&i).map(Vec::as_slice).unwrap_or_default();
            if early.iter().any(|h| read[j].binary_search(h).is_ok()) {
                reach.within_cap += 1;
            }
        }
    }
    Ok(reach)
}

/// Writes the records as kadi's evaluation CSV (`id`, every card field, `national_id`,
/// `address`) and the truth as `id_a,id_b` in `<stem>_truth.csv` beside it. Values are written as
/// read back: the loader trims them and reads an empty field as missing.
fn export_csv(
    path: &Path,
    records: &[(String, CardFields)],
    truth: &HashSet<(String, String)>,
) -> Result<()> {
    fn field(out: &mut String, v: &str) {
        if v.contains([',', '"', '\n', '\r']) {
            out.push('"');
            out.push_str(&v.replace('"', "\"\""));
            out.push('"');
        } else {
            out.push_str(v);
        }
    }
    let columns: Vec<&str> = crate::record::CARD_FIELDS
        .iter()
        .copied()
        .chain(["national_id", "address"])
        .collect();
    let mut out = String::from("id");
    for c in &columns {
        out.push(',');
        out.push_str(c);
    }
    out.push('\n');
    for (id, f) in records {
        field(&mut out, id);
        for c in &columns {
            out.push(',');
            field(&mut out, f.get(c).unwrap_or(""));
        }
        out.push('\n');
    }
    crate::fsx::write_atomic(path, out.as_bytes())?;
    let mut pairs: Vec<&(String, String)> = truth.iter().collect();
    pairs.sort();
    let mut t = String::from("id_a,id_b\n");
    for (a, b) in pairs {
        field(&mut t, a);
        t.push(',');
        field(&mut t, b);
        t.push('\n');
    }
    crate::fsx::write_atomic(&truth_beside(path), t.as_bytes())
}

/// `dir/name.csv` -> `dir/name_truth.csv` (the FEBRL files' naming).
pub fn truth_beside(path: &Path) -> PathBuf {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!("{stem}_truth.csv"))
}

/// Counts the false pairs joined inside one household (see the module doc).
fn household_false_links(
    records: &[String],
    truth: &HashSet<(String, String)>,
    households: &HashMap<String, String>,
    birth_years: &[Option<i32>],
    auto: &mut Sets,
    both: &mut Sets,
) -> HouseholdFalseLinks {
    let mut members: HashMap<usize, Vec<usize>> = HashMap::new();
    for i in 0..records.len() {
        members.entry(both.find(i)).or_default().push(i);
    }
    let mut out = HouseholdFalseLinks::default();
    for m in members.values().filter(|m| m.len() > 1) {
        for (x, &i) in m.iter().enumerate() {
            for &j in &m[x + 1..] {
                let same_household = matches!(
                    (households.get(&records[i]), households.get(&records[j])),
                    (Some(a), Some(b)) if a == b
                );
                if !same_household || truth.contains(&ordered(&records[i], &records[j])) {
                    continue;
                }
                let apart = matches!(
                    (birth_years.get(i), birth_years.get(j)),
                    (Some(Some(a)), Some(Some(b))) if (a - b).abs() >= 10
                );
                out.auto_plus_review += 1;
                out.auto_plus_review_born_10y_apart += usize::from(apart);
                if auto.find(i) == auto.find(j) {
                    out.auto += 1;
                    out.auto_born_10y_apart += usize::from(apart);
                }
            }
        }
    }
    out
}

/// Writes `id_a,id_b,true_pair,outcome,scored` for every true pair not linked automatically
/// (`review` or `new`) and every false pair joined (`auto` or `review`), sorted.
fn dump_pairs(
    path: &Path,
    records: &[String],
    truth: &HashSet<(String, String)>,
    scored: &HashSet<(String, String)>,
    auto: &mut Sets,
    both: &mut Sets,
) -> Result<()> {
    let index: HashMap<&str, usize> = records
        .iter()
        .enumerate()
        .map(|(i, id)| (id.as_str(), i))
        .collect();
    let mut rows = Vec::new();
    for (a, b) in truth {
        let (i, j) = (index[a.as_str()], index[b.as_str()]);
        if auto.find(i) != auto.find(j) {
            let outcome = if both.find(i) == both.find(j) {
                "review"
            } else {
                "new"
            };
            rows.push((
                a.clone(),
                b.clone(),
                true,
                outcome,
                scored.contains(&(a.clone(), b.clone())),
            ));
        }
    }
    let mut members: HashMap<usize, Vec<usize>> = HashMap::new();
    for i in 0..records.len() {
        members.entry(both.find(i)).or_default().push(i);
    }
    for m in members.values() {
        for (x, &i) in m.iter().enumerate() {
            for &j in &m[x + 1..] {
                let key = ordered(&records[i], &records[j]);
                if !truth.contains(&key) {
                    let outcome = if auto.find(i) == auto.find(j) {
                        "auto"
                    } else {
                        "review"
                    };
                    rows.push((key.0, key.1, false, outcome, false));
                }
            }
        }
    }
    rows.sort();
    let mut out = String::from("id_a,id_b,true_pair,outcome,scored\n");
    for (a, b, t, o, s) in rows {
        out.push_str(&format!("{a},{b},{t},{o},{s}\n"));
    }
    crate::fsx::write_atomic(path, out.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn household_false_links_count_parents_and_children_apart_from_other_false_pairs() {
        let records: Vec<String> = ["father", "son", "son2", "stranger", "other"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let truth: HashSet<(String, String)> = [ordered("son", "son2")].into_iter().collect();
        let households: HashMap<String, String> = [
            ("father", "H1"),
            ("son", "H1"),
            ("son2", "H1"),
            ("stranger", "H2"),
        ]
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
        let years = [Some(1951), Some(1984), Some(1984), Some(1980), None];
        // Automatic: father + son + son2 (a wrong link chained to a right one) and a stranger;
        // review: joins "other" to the father.
        let mut auto = Sets((0..5).collect());
        auto.union(0, 1);
        auto.union(1, 2);
        auto.union(0, 3);
        let mut both = Sets(auto.0.clone());
        both.union(0, 4);
        let h = household_false_links(&records, &truth, &households, &years, &mut auto, &mut both);
        assert_eq!(
            h,
            HouseholdFalseLinks {
                auto: 2,
                auto_born_10y_apart: 2,
                auto_plus_review: 2,
                auto_plus_review_born_10y_apart: 2,
            }
        );
    }
}
