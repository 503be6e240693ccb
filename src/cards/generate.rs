//! Bulk card generation as a task: the generate-cards request (the product model's
//! `POST /dhis2/generate-cards` body), rendering on rayon's threads in batches, progress and ETA
//! through the `tasks` table, resume after a kill, and re-rendering only cards whose content
//! changed.
//!
//! Resume: the task is keyed by its request. Re-running the same request finds the unfinished
//! task and continues it; each batch's cards are recorded in `cards` (with their content hash) in
//! one transaction after their PNGs are written (write to a temporary name, then rename), so a
//! kill loses at most the batch in flight and never records a card whose file is incomplete.
//!
//! Content hash: SHA-256 of the renderer version, template (with options), dpi, whether the MPI
//! ID is printed, and the card content (fields, MPI ID, QR payload). A card whose hash matches
//! the recorded one and whose file still exists is not rendered again.
use super::render::{render_frame, CardContent, RenderOptions};
use super::sheet;
use super::template::{Template, TemplateOptions};
use super::{geometry, png_out};
use crate::store::card_data::{
    CardFilter, RenderedCard, SelectionCounts, TaskKind, TaskRow, TaskStatus,
};
use crate::store::Store;
use anyhow::{bail, Context, Result};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Bumped whenever the renderer's output changes, so every card's hash changes with it.
pub const RENDERER_VERSION: &str = "kadi-cards-3";
/// Task kind in the `tasks` table.
pub const TASK_KIND: TaskKind = TaskKind::GenerateCards;
/// Cards rendered between two progress updates (and store transactions).
const BATCH: usize = 128;

/// Which enrollments to generate cards for (all optional; dates `YYYY-MM-DD`, inclusive).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnrollmentFilter {
    /// Enrolled on or after.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enrollment_date_from: Option<String>,
    /// Enrolled on or before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enrollment_date_to: Option<String>,
    /// Org unit UID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org_unit: Option<String>,
    /// `ACTIVE`, `COMPLETED` or `CANCELLED`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enrollment_status: Option<String>,
    /// Only these enrollments (kadi's addition: the page prints "the current search result").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enrollment_uids: Option<Vec<String>>,
}

impl EnrollmentFilter {
    /// The store's view of this filter.
    pub fn card_filter(&self) -> CardFilter<'_> {
        CardFilter {
            enrollment_date_from: self.enrollment_date_from.as_deref(),
            enrollment_date_to: self.enrollment_date_to.as_deref(),
            org_unit: self.org_unit.as_deref(),
            enrollment_status: self.enrollment_status.as_deref(),
            enrollment_uids: self.enrollment_uids.as_deref(),
        }
    }
}

/// The generate-cards request body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenerateRequest {
    /// Program whose enrollments get cards (`program_uid` is accepted too).
    #[serde(alias = "program_uid")]
    pub programme_uid: String,
    /// Template name.
    #[serde(default = "default_template")]
    pub template: String,
    /// 300, 450 or 600.
    #[serde(default = "default_dpi")]
    pub dpi: u32,
    /// Print the MPI ID on the card (the QR carries it, signed, either way).
    #[serde(default = "default_true")]
    pub include_mpi_id: bool,
    /// Which enrollments.
    #[serde(default)]
    pub enrollment_filter: EnrollmentFilter,
    /// Template options (`sovereign`'s parameters; the API reference's `sovereign_config` is the
    /// same object under its own name).
    #[serde(
        default,
        alias = "sovereign_config",
        skip_serializing_if = "is_default_options"
    )]
    pub template_options: TemplateOptions,
    /// Where the PNGs go; default `cards/<template>-<dpi>/` beside the database.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub out_dir: Option<String>,
    /// Also write A4 sheets (PNG, 10 cards, cut marks) and a printable HTML page.
    #[serde(default)]
    pub sheets: bool,
    /// Rendering threads (default: rayon's, one per core). Not part of the wire body.
    #[serde(skip)]
    pub threads: Option<usize>,
}

fn default_template() -> String {
    "pulse".into()
}
fn default_dpi() -> u32 {
    300
}
fn default_true() -> bool {
    true
}
fn is_default_options(o: &TemplateOptions) -> bool {
    *o == TemplateOptions::default()
}

impl GenerateRequest {
    /// A request for every card of `programme_uid` with defaults (pulse, 300 dpi, MPI ID shown).
    pub fn new(programme_uid: &str) -> GenerateRequest {
        GenerateRequest {
            programme_uid: programme_uid.to_string(),
            template: default_template(),
            dpi: default_dpi(),
            include_mpi_id: true,
            enrollment_filter: EnrollmentFilter::default(),
            template_options: TemplateOptions::default(),
            out_dir: None,
            sheets: false,
            threads: None,
        }
    }
}

/// A task as `GET /dhis2/tasks/{id}` shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskView {
    /// Task ID.
    pub task_id: String,
    /// Where the task stands (`pending`, `generating`, `done` or `failed`).
    pub status: TaskStatus,
    /// 0 to 100.
    pub progress: f64,
    /// Cards ready (rendered now or unchanged since an earlier run).
    pub cards_generated: i64,
    /// Cards the task covers.
    pub total_cards: i64,
    /// Estimated seconds left, while generating.
    pub eta_seconds: Option<f64>,
    /// When generation started (UTC, ISO 8601).
    pub started_at: Option<String>,
    /// When it finished.
    pub finished_at: Option<String>,
    /// Why it failed.
    pub error: Option<String>,
}

impl TaskView {
    /// The view of a task row; the ETA extrapolates the rate since `started_at`.
    pub fn from_row(t: &TaskRow) -> TaskView {
        let progress = if t.total > 0 {
            (t.done as f64 * 1000.0 / t.total as f64).round() / 10.0
        } else if t.status == TaskStatus::Done {
            100.0
        } else {
            0.0
        };
        let eta_seconds = (t.status == TaskStatus::Generating && t.done > 0)
            .then(|| {
                let started =
                    chrono::DateTime::parse_from_rfc3339(t.started_at.as_deref()?).ok()?;
                let elapsed = (chrono::Utc::now() - started.with_timezone(&chrono::Utc))
                    .num_milliseconds() as f64
                    / 1000.0;
                Some(
                    ((elapsed / t.done as f64) * (t.total - t.done).max(0) as f64 * 10.0).round()
                        / 10.0,
                )
            })
            .flatten();
        TaskView {
            task_id: t.id.clone(),
            status: t.status,
            progress,
            cards_generated: t.done,
            total_cards: t.total,
            eta_seconds,
            started_at: t.started_at.clone(),
            finished_at: t.finished_at.clone(),
            error: t.error.clone(),
        }
    }
}

/// Reads a task for the page (`GET /dhis2/tasks/{id}`).
pub fn task_view(store: &Store, task_id: &str) -> Result<Option<TaskView>> {
    Ok(store.task(task_id)?.as_ref().map(TaskView::from_row))
}

/// A card that could not be rendered, and why (the others are still generated).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CardFailure {
    /// Enrollment.
    pub enrollment_uid: String,
    /// Why.
    pub error: String,
}

/// What a generation did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GenerateReport {
    /// Task ID (`kadi cards generate` re-run with the same request resumes it).
    pub task_id: String,
    /// Cards ready: rendered now plus unchanged.
    pub cards_generated: usize,
    /// Cards rendered by this run.
    pub cards_rendered: usize,
    /// Cards whose content had not changed since they were last rendered.
    pub cards_unchanged: usize,
    /// Cards that could not be rendered.
    pub cards_failed: Vec<CardFailure>,
    /// Cards the request covers.
    pub total_cards: usize,
    /// Wall-clock seconds.
    pub seconds: f64,
    /// Directory of the PNGs.
    pub out_dir: String,
    /// A4 sheet PNGs written (when requested).
    pub sheets: Vec<String>,
    /// Printable HTML page (when requested).
    pub html: Option<String>,
}

/// Hash of everything a card's pixels depend on.
pub fn card_content_hash(
    card: &CardContent,
    template: &Template,
    dpi: u32,
    include_mpi_id: bool,
) -> String {
    let mut h = Sha256::new();
    h.update(RENDERER_VERSION.as_bytes());
    h.update(template.fingerprint().as_bytes());
    h.update(format!("|{dpi}|{include_mpi_id}|").as_bytes());
    h.update(serde_json::to_string(card).unwrap_or_default().as_bytes());
    crate::secret::hex(&h.finalize())
}

fn check_date(what: &str, v: &Option<String>) -> Result<()> {
    if let Some(d) = v {
        if chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").is_err() {
            bail!("{what} {d:?} is not a date (expected YYYY-MM-DD)");
        }
    }
    Ok(())
}

/// A generate-cards request the caller got wrong (unknown program or template, bad dpi, date or
/// template option): the API answers it with a 4xx, the CLI with its message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadRequest(pub String);

impl std::fmt::Display for BadRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BadRequest {}

fn bad(e: impl std::fmt::Display) -> anyhow::Error {
    anyhow::Error::new(BadRequest(e.to_string()))
}

/// Checks a request before any task exists: a known program, template, dpi, options and dates.
/// Returns the template with its options applied.
pub fn check_request(store: &Store, req: &GenerateRequest) -> Result<Template> {
    geometry::check_dpi(req.dpi).map_err(|e| bad(format!("{e:#}")))?;
    let template = Template::named(&req.template)
        .and_then(|t| t.with_options(&req.template_options))
        .map_err(|e| bad(format!("{e:#}")))?;
    let f = &req.enrollment_filter;
    check_date("enrollment_date_from", &f.enrollment_date_from).map_err(bad)?;
    check_date("enrollment_date_to", &f.enrollment_date_to).map_err(bad)?;
    let program = req.programme_uid.trim();
    if program.is_empty() {
        return Err(bad("programme_uid is required"));
    }
    let known = store.card_programs()?;
    if !known.iter().any(|(uid, _)| uid == program) {
        let list = known
            .iter()
            .map(|(uid, name)| match name {
                Some(n) => format!("{uid} ({n})"),
                None => uid.clone(),
            })
            .collect::<Vec<_>>();
        return Err(bad(format!(
            "unknown program {program}; known programs: {}",
            if list.is_empty() {
                "none yet (sync a program first: `kadi sync --program UID`)".to_string()
            } else {
                list.join(", ")
            }
        )));
    }
    Ok(template)
}

/// Generates the cards of `req` as a task (new, or the unfinished one with the same request),
/// calling `progress` after every batch with the task as the page sees it.
pub fn generate(
    store: &Store,
    req: &GenerateRequest,
    progress: impl FnMut(&TaskView),
) -> Result<GenerateReport> {
    let template = check_request(store, req)?;
    let body = serde_json::to_string(req)?;
    let task_id = match store.unfinished_task(TASK_KIND, &body)? {
        Some(t) => t.id,
        None => store.create_task(TASK_KIND, &body)?,
    };
    generate_task(store, req, &template, &task_id, progress)
}

/// Runs (or resumes) task `task_id` for `req`; a failure is recorded on the task.
fn generate_task(
    store: &Store,
    req: &GenerateRequest,
    template: &Template,
    task_id: &str,
    mut progress: impl FnMut(&TaskView),
) -> Result<GenerateReport> {
    let started = Instant::now();
    let result = run(store, req, template, task_id, started, &mut progress);
    if let Err(e) = &result {
        store.fail_task(task_id, &format!("{e:#}"))?;
        if let Some(t) = store.task(task_id)? {
            progress(&TaskView::from_row(&t));
        }
    }
    result
}

/// What `POST /dhis2/generate-cards` answers: the queued task and how many cards it covers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueuedTask {
    /// Task ID, for `GET /dhis2/tasks/{id}`.
    pub task_id: String,
    /// `pending` until the worker starts it.
    pub status: TaskStatus,
    /// Cards the filter selects now.
    pub estimated_cards: i64,
}

/// Queues a generation for the card task worker of `kadi serve` (the page's sheets and
/// `POST /dhis2/generate-cards`): checks the request, counts its cards, records a `pending` task
/// queued by `actor` and audits it. [`run_queued`] renders it, through the very code
/// `kadi cards generate` runs.
pub fn queue(
    store: &Store,
    actor: &crate::actor::Actor,
    req: &GenerateRequest,
) -> Result<QueuedTask> {
    check_request(store, req)?;
    let counts = store.card_selection_counts(
        req.programme_uid.trim(),
        &req.enrollment_filter.card_filter(),
    )?;
    let body = serde_json::to_string(req)?;
    let task_id = store.create_task(TASK_KIND, &body)?;
    store.queue_task(&task_id, actor.as_str())?;
    store.audit(
        actor.as_str(),
        "cards.generate.queued",
        Some(&task_id),
        None,
        Some(&body),
    )?;
    Ok(QueuedTask {
        task_id,
        status: TaskStatus::Pending,
        estimated_cards: counts.cards,
    })
}

/// Runs one queued task to its end (or resumes it after a restart). A request that no longer
/// passes its checks (the program was removed) fails the task with the reason.
pub fn run_queued(store: &Store, task: &TaskRow) -> Result<GenerateReport> {
    let parsed = serde_json::from_str::<GenerateRequest>(task.body_json.as_deref().unwrap_or(""))
        .context("the task's request is unreadable");
    let checked = parsed.and_then(|req| check_request(store, &req).map(|t| (req, t)));
    match checked {
        Ok((req, template)) => generate_task(store, &req, &template, &task.id, |_| {}),
        Err(e) => {
            store.fail_task(&task.id, &format!("{e:#}"))?;
            Err(e)
        }
    }
}

/// The MPI counts of a task's selection (`GET /dhis2/tasks/{id}`): how many of its cards carry
/// an MPI ID now.
pub fn task_selection_counts(store: &Store, task: &TaskRow) -> Result<Option<SelectionCounts>> {
    let Some(req) = task
        .body_json
        .as_deref()
        .and_then(|b| serde_json::from_str::<GenerateRequest>(b).ok())
    else {
        return Ok(None);
    };
    Ok(Some(store.card_selection_counts(
        req.programme_uid.trim(),
        &req.enrollment_filter.card_filter(),
    )?))
}

/// Where a sheets task writes its print files: `print-<task>/` in its output directory.
pub fn print_dir(store: &Store, task: &TaskRow) -> Option<PathBuf> {
    let req: GenerateRequest = serde_json::from_str(task.body_json.as_deref()?).ok()?;
    req.sheets
        .then(|| out_dir_for(store, &req).join(format!("print-{}", task.id)))
}

/// The files of a finished sheets task, sorted: `sheet-NNN.png`, `cards.html` and the numbered
/// card PNGs (`0001-Sow-Fatou-B003.png`).
pub fn print_files(store: &Store, task: &TaskRow) -> Result<Vec<String>> {
    let Some(dir) = print_dir(store, task) else {
        return Ok(Vec::new());
    };
    if task.status != TaskStatus::Done || !dir.is_dir() {
        return Ok(Vec::new());
    }
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .with_context(|| format!("listing {}", dir.display()))?
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| !n.starts_with('.'))
        .collect();
    names.sort();
    Ok(names)
}

/// `0001-Sow-Fatou-B003`: number, family name, first name, beneficiary ID (accents folded,
/// ASCII letters and digits only), so a file list reads like the class register.
pub fn card_file_stem(n: usize, fields: &crate::record::CardFields) -> String {
    let word = |v: &Option<String>| -> String {
        kadi_sqlext::normalize::kadi_normalize(v.as_deref().unwrap_or(""))
            .split(' ')
            .filter(|w| !w.is_empty())
            .map(|w| {
                let w: String = w.chars().filter(char::is_ascii_alphanumeric).collect();
                let mut c = w.chars();
                c.next()
                    .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                    .unwrap_or_default()
            })
            .filter(|w| !w.is_empty())
            .collect::<Vec<_>>()
            .join("-")
    };
    let id: String = fields
        .beneficiary_id
        .as_deref()
        .unwrap_or("")
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect();
    [
        format!("{n:04}"),
        word(&fields.last_name),
        word(&fields.first_name),
        id,
    ]
    .into_iter()
    .filter(|p| !p.is_empty())
    .collect::<Vec<_>>()
    .join("-")
}

/// The label printed under card `n` of a sheet: `0001 · SOW Fatou · B-003`.
fn card_label(n: usize, fields: &crate::record::CardFields) -> String {
    let last = fields.last_name.as_deref().unwrap_or("").to_uppercase();
    let name = [last.as_str(), fields.first_name.as_deref().unwrap_or("")]
        .into_iter()
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    [
        format!("{n:04}"),
        name,
        fields.beneficiary_id.clone().unwrap_or_default(),
    ]
    .into_iter()
    .filter(|s| !s.is_empty())
    .collect::<Vec<_>>()
    .join(" · ")
}

/// What a schedule with `auto_generate_cards` runs after each scheduled sync of `program_uid`:
/// renders the cards that are new, whose content changed since their last render, or whose PNG
/// is missing (the content hash and the file decide, as for any generation). Template and dpi
/// are the settings `cards.auto_template` and `cards.auto_dpi` (default pulse, 300). Returns how
/// many cards were rendered; cards that failed to render are an error naming the first one.
pub fn auto_generate(store: &Store, program_uid: &str) -> Result<u64> {
    let mut req = GenerateRequest::new(program_uid);
    if let Some(t) = store.setting("cards.auto_template")? {
        req.template = t;
    }
    if let Some(d) = store.setting("cards.auto_dpi")? {
        req.dpi = d
            .trim()
            .parse()
            .with_context(|| format!("setting cards.auto_dpi = {d:?} is not a number"))?;
    }
    let report = generate(store, &req, |_| {})?;
    if let Some(first) = report.cards_failed.first() {
        bail!(
            "{} of {} cards of program {program_uid} could not be rendered (rendered {}); first: {}: {}",
            report.cards_failed.len(),
            report.total_cards,
            report.cards_rendered,
            first.enrollment_uid,
            first.error
        );
    }
    Ok(report.cards_rendered as u64)
}

fn out_dir_for(store: &Store, req: &GenerateRequest) -> PathBuf {
    match &req.out_dir {
        Some(d) => PathBuf::from(d),
        None => store
            .path()
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
            .join("cards")
            .join(format!("{}-{}", req.template, req.dpi)),
    }
}

fn run(
    store: &Store,
    req: &GenerateRequest,
    template: &Template,
    task_id: &str,
    started: Instant,
    progress: &mut impl FnMut(&TaskView),
) -> Result<GenerateReport> {
    let out_dir = out_dir_for(store, req);
    crate::fsx::create_dir_private(&out_dir)?;
    // Temporary PNGs a power cut left behind (an hour old: never a write still in flight).
    crate::fsx::remove_stale_temps(&out_dir, std::time::Duration::from_secs(3600))?;
    let plan = plan(store, req, template, &out_dir)?;
    let total = plan.records.len() as i64;
    store.start_task(task_id, total, plan.unchanged as i64)?;
    let report_progress = |progress: &mut dyn FnMut(&TaskView)| -> Result<()> {
        if let Some(t) = store.task(task_id)? {
            progress(&TaskView::from_row(&t));
        }
        Ok(())
    };
    report_progress(progress)?;
    let pool = match req.threads {
        Some(n) => Some(
            rayon::ThreadPoolBuilder::new()
                .num_threads(n.max(1))
                .build()?,
        ),
        None => None,
    };
    let mut done = plan.unchanged;
    let mut rendered = 0usize;
    let mut failures = Vec::new();
    for batch in plan.todo.chunks(BATCH) {
        let render_batch = || -> Vec<Result<Result<RenderedCard, CardFailure>>> {
            batch
                .par_iter()
                .map(|todo| render_one(req, template, todo))
                .collect()
        };
        let results = match &pool {
            Some(p) => p.install(render_batch),
            None => render_batch(),
        };
        let mut ok = Vec::with_capacity(results.len());
        for r in results {
            match r? {
                Ok(c) => ok.push(c),
                Err(f) => failures.push(f),
            }
        }
        store.record_rendered_cards(&ok)?;
        rendered += ok.len();
        done += ok.len();
        store.set_task_progress(task_id, done as i64)?;
        report_progress(progress)?;
    }
    let (sheets, html) = if req.sheets {
        let dir = out_dir.join(format!("print-{task_id}"));
        let (sheets, page) = write_sheets(req, template, &dir, &plan, &failures)?;
        (sheets, Some(page))
    } else {
        (Vec::new(), None)
    };
    store.finish_task(task_id, done as i64)?;
    report_progress(progress)?;
    Ok(GenerateReport {
        task_id: task_id.to_string(),
        cards_generated: done,
        cards_rendered: rendered,
        cards_unchanged: plan.unchanged,
        cards_failed: failures,
        total_cards: plan.records.len(),
        seconds: (started.elapsed().as_secs_f64() * 1000.0).round() / 1000.0,
        out_dir: out_dir.display().to_string(),
        sheets,
        html,
    })
}

/// A card to render: enrollment, content, content hash, PNG path.
type Todo = (String, CardContent, String, PathBuf);

/// What a generation covers: the records the filter selects, the cards of them to render, and
/// every card's content and PNG path (for sheets).
struct Plan {
    records: Vec<crate::store::records::ResolvedCard>,
    todo: Vec<Todo>,
    all: Vec<(CardContent, PathBuf)>,
    /// Cards whose content hash and complete PNG are already there.
    unchanged: usize,
}

/// Reads the records of the request and decides which cards need rendering: those new, whose
/// content changed, or whose PNG is missing or incomplete.
fn plan(store: &Store, req: &GenerateRequest, template: &Template, out_dir: &Path) -> Result<Plan> {
    let mut records =
        store.cards_to_generate(&req.programme_uid, &req.enrollment_filter.card_filter())?;
    // Family name, then first name (accents and case folded), as staff look people up: the
    // order of the numbered files and of the cards on the sheets.
    records.sort_by_cached_key(|r| {
        let f = &r.record.fields;
        let key =
            |v: &Option<String>| kadi_sqlext::normalize::kadi_normalize(v.as_deref().unwrap_or(""));
        (
            key(&f.last_name),
            key(&f.first_name),
            r.record.enrollment_uid.clone(),
        )
    });
    let payloads = super::qr::payloads(store, &records)?;
    let before = store.rendered_cards(&req.template, req.dpi)?;
    let mut todo = Vec::new();
    let mut all = Vec::with_capacity(records.len());
    let mut unchanged = 0usize;
    for (r, payload) in records.iter().zip(payloads) {
        let content = CardContent::from_record(r, payload);
        let hash = card_content_hash(&content, template, req.dpi, req.include_mpi_id);
        let path = out_dir.join(format!(
            "{}_{}_{}.png",
            r.record.enrollment_uid, req.template, req.dpi
        ));
        let same = before.get(&r.record.enrollment_uid).is_some_and(|(h, p)| {
            // An empty or cut PNG (a power cut before kadi wrote atomically, a full card)
            // is drawn again, never counted as done.
            *h == hash && p.as_deref() == path.to_str() && crate::fsx::is_complete_png(&path)
        });
        if same {
            unchanged += 1;
        } else {
            todo.push((
                r.record.enrollment_uid.clone(),
                content.clone(),
                hash,
                path.clone(),
            ));
        }
        all.push((content, path));
    }
    Ok(Plan {
        records,
        todo,
        all,
        unchanged,
    })
}

/// Renders one card and writes its PNG atomically. A card that cannot be rendered is a
/// failure of that card (`Ok(Err)`); a PNG that cannot be written stops the task (`Err`).
fn render_one(
    req: &GenerateRequest,
    template: &Template,
    (uid, content, hash, path): &Todo,
) -> Result<Result<RenderedCard, CardFailure>> {
    let opts = RenderOptions {
        dpi: req.dpi,
        include_mpi_id: req.include_mpi_id,
        bands: 1,
    };
    let png = match render_frame(content, template, opts)
        .and_then(|fr| png_out::encode_png(&fr, req.dpi))
    {
        Ok(p) => p,
        Err(e) => {
            return Ok(Err(CardFailure {
                enrollment_uid: uid.clone(),
                error: format!("{e:#}"),
            }))
        }
    };
    crate::fsx::write_atomic(path, &png)?;
    Ok(Ok(RenderedCard {
        enrollment_uid: uid.clone(),
        template: req.template.clone(),
        dpi: req.dpi,
        content_hash: hash.clone(),
        path: path.to_str().map(String::from),
    }))
}

/// Writes the print files of every card that did not fail into `dir`: the cards as numbered
/// PNGs in name order (`0001-Sow-Fatou-B003.png`, a hard link to the rendered card where the
/// file system allows, else a copy), the A4 sheets in the same order with each card's number and
/// name under it, and the page that prints them. Returns the sheet paths and the page.
fn write_sheets(
    req: &GenerateRequest,
    template: &Template,
    dir: &Path,
    plan: &Plan,
    failures: &[CardFailure],
) -> Result<(Vec<String>, String)> {
    crate::fsx::create_dir_private(dir)?;
    let failed: std::collections::HashSet<&str> =
        failures.iter().map(|f| f.enrollment_uid.as_str()).collect();
    let mut contents = Vec::new();
    let mut named = Vec::new();
    let mut labels = Vec::new();
    let printable = plan
        .all
        .iter()
        .zip(&plan.records)
        .filter(|(_, r)| !failed.contains(r.record.enrollment_uid.as_str()));
    for (n, ((content, path), r)) in printable.enumerate() {
        let fields = &r.record.fields;
        let target = dir.join(format!("{}.png", card_file_stem(n + 1, fields)));
        link_or_copy(path, &target)?;
        contents.push(content.clone());
        named.push(target);
        labels.push(card_label(n + 1, fields));
    }
    let (written, page) = sheet::write_sheets(
        &contents,
        &named,
        &labels,
        template,
        req.include_mpi_id,
        dir,
    )?;
    Ok((
        written.iter().map(|p| p.display().to_string()).collect(),
        page.display().to_string(),
    ))
}

/// Puts the rendered card at `target`: a hard link (no copy of the bytes), else an atomic copy.
fn link_or_copy(source: &Path, target: &Path) -> Result<()> {
    if target.exists() {
        std::fs::remove_file(target).with_context(|| format!("replacing {}", target.display()))?;
    }
    if std::fs::hard_link(source, target).is_ok() {
        return Ok(());
    }
    let bytes = std::fs::read(source).with_context(|| format!("reading {}", source.display()))?;
    crate::fsx::write_atomic(target, &bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::CardFields;

    #[test]
    fn card_files_are_named_number_family_first_id_in_plain_ascii() {
        let f = CardFields {
            first_name: Some("Ŋoné Aïssatou".into()),
            last_name: Some("N’Diaye".into()),
            beneficiary_id: Some("B-003".into()),
            ..Default::default()
        };
        assert_eq!(card_file_stem(1, &f), "0001-Ndiaye-None-Aissatou-B003");
        assert_eq!(card_label(12, &f), "0012 · N’DIAYE Ŋoné Aïssatou · B-003");
        let nameless = CardFields::default();
        assert_eq!(card_file_stem(7, &nameless), "0007");
    }
}
