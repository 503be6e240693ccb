//! Queries for card generation: which records to render (with the generate-cards filter), what
//! was rendered already (`cards`: one row per enrollment, template and dpi with the content hash
//! it was rendered from), generation tasks (`tasks`) and the box's QR signing secret. Every task
//! state change goes through here, so the page reading `GET /dhis2/tasks/{id}` sees what the
//! generator did.
use super::records::ResolvedCard;
use super::{now_utc, Store};
use crate::record::{CardFields, CardRecord};
use anyhow::{Context, Result};
use rusqlite::{params, OptionalExtension};
use std::collections::HashMap;

/// Which enrollments a generation covers (all optional; dates are `YYYY-MM-DD`, inclusive).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CardFilter<'a> {
    /// Enrollment date on or after.
    pub enrollment_date_from: Option<&'a str>,
    /// Enrollment date on or before.
    pub enrollment_date_to: Option<&'a str>,
    /// Org unit UID: the enrollment's org unit is this one or any of its descendants (a
    /// district selects its clinics, through the org unit paths sync stored), or the mapped
    /// `org_unit` card field names it.
    pub org_unit: Option<&'a str>,
    /// DHIS2 enrollment status (`ACTIVE`, `COMPLETED`, `CANCELLED`).
    pub enrollment_status: Option<&'a str>,
    /// Only these enrollments (a search result the page turned into a selection).
    pub enrollment_uids: Option<&'a [String]>,
}

/// The WHERE clause of a card selection over `card_records c`, `enrollments e` and
/// `mpi_links l`; parameters ?1 program, ?2..?5 the filter's dates, org unit and status, ?6 a JSON
/// array of enrollment UIDs. One text for the generation, its estimate and its MPI counts.
const SELECTION: &str = "FROM card_records c
             LEFT JOIN mpi_links l ON l.enrollment_uid = c.enrollment_uid
             LEFT JOIN enrollments e ON e.uid = c.enrollment_uid
             WHERE c.program_uid = ?1
               AND (?2 IS NULL OR coalesce(json_extract(c.fields_json, '$.enrollment_date'), substr(e.enrolled_at, 1, 10)) >= ?2)
               AND (?3 IS NULL OR coalesce(json_extract(c.fields_json, '$.enrollment_date'), substr(e.enrolled_at, 1, 10)) <= ?3)
               AND (?4 IS NULL OR e.org_unit_uid = ?4 OR json_extract(c.fields_json, '$.org_unit') = ?4
                    OR EXISTS (SELECT 1 FROM org_units o WHERE o.uid = e.org_unit_uid
                               AND instr(o.path || '/', '/' || ?4 || '/') > 0))
               AND (?5 IS NULL OR upper(e.status) = upper(?5))
               AND (?6 IS NULL OR c.enrollment_uid IN (SELECT value FROM json_each(?6)))";

/// How many cards a selection holds, and how many of them have an MPI ID.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct SelectionCounts {
    /// Card records selected.
    pub cards: i64,
    /// Of them, resolved to an MPI identity (the MPI ID prints on the card).
    pub with_mpi_id: i64,
    /// Of them, not resolved yet (the card prints "—" and its QR carries the enrollment).
    pub without_mpi_id: i64,
}

/// One rendered card as recorded in `cards`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedCard {
    /// Enrollment the card belongs to.
    pub enrollment_uid: String,
    /// Template name.
    pub template: String,
    /// Resolution.
    pub dpi: u32,
    /// Hash of everything the pixels depend on (fields, MPI ID, template, options).
    pub content_hash: String,
    /// Where the PNG was written.
    pub path: Option<String>,
}

crate::sql_enum::sql_enum! {
    /// What a task does (`tasks.kind`).
    pub enum TaskKind("task kind") {
        /// Renders the cards of a program (`kadi cards generate`, `POST /dhis2/generate-cards`).
        GenerateCards = "generate_cards",
    }
}

crate::sql_enum::sql_enum! {
    /// Where a task stands (`tasks.status`).
    pub enum TaskStatus("task status") {
        /// Created, not started.
        Pending = "pending",
        /// Started; `done` of `total` so far.
        Generating = "generating",
        /// Finished.
        Done = "done",
        /// Stopped on an error (`error` says which).
        Failed = "failed",
    }
}

/// A row of `tasks`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskRow {
    /// Task ID (a DHIS2-shaped UID).
    pub id: String,
    /// What the task does.
    pub kind: TaskKind,
    /// Where it stands.
    pub status: TaskStatus,
    /// Cards to generate.
    pub total: i64,
    /// Cards generated (or found unchanged) so far.
    pub done: i64,
    /// The request, as JSON.
    pub body_json: Option<String>,
    /// Why it failed.
    pub error: Option<String>,
    /// When generation started.
    pub started_at: Option<String>,
    /// When it finished.
    pub finished_at: Option<String>,
    /// When it was created.
    pub created_at: String,
}

fn task_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<TaskRow> {
    Ok(TaskRow {
        id: r.get(0)?,
        kind: r.get(1)?,
        status: r.get(2)?,
        total: r.get(3)?,
        done: r.get(4)?,
        body_json: r.get(5)?,
        error: r.get(6)?,
        started_at: r.get(7)?,
        finished_at: r.get(8)?,
        created_at: r.get(9)?,
    })
}

impl CardFilter<'_> {
    /// The enrollment UIDs as the JSON array the selection's `json_each` reads.
    fn uids_json(&self) -> Result<Option<String>> {
        Ok(self
            .enrollment_uids
            .map(serde_json::to_string)
            .transpose()?)
    }
}

const TASK_COLUMNS: &str =
    "id, kind, status, total, done, body_json, error, started_at, finished_at, created_at";

impl Store {
    /// Card records of `program_uid` that pass `filter`, with their MPI IDs, in a stable order.
    pub fn cards_to_generate(
        &self,
        program_uid: &str,
        filter: &CardFilter<'_>,
    ) -> Result<Vec<ResolvedCard>> {
        let mut stmt = self.conn().prepare(&format!(
            "SELECT c.enrollment_uid, c.tracked_entity_uid, c.program_uid, c.fields_json, l.mpi_id
             {SELECTION} ORDER BY c.enrollment_uid"
        ))?;
        let uids = filter.uids_json()?;
        let rows = stmt.query_map(
            params![
                program_uid,
                filter.enrollment_date_from,
                filter.enrollment_date_to,
                filter.org_unit,
                filter.enrollment_status,
                uids
            ],
            |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, Option<String>>(4)?,
                ))
            },
        )?;
        let mut out = Vec::new();
        for row in rows {
            let (enrollment_uid, tracked_entity_uid, program_uid, json, mpi_id) = row?;
            let fields: CardFields = serde_json::from_str(&json)
                .with_context(|| format!("card record {enrollment_uid} has unreadable fields"))?;
            out.push(ResolvedCard {
                record: CardRecord {
                    enrollment_uid,
                    tracked_entity_uid,
                    program_uid,
                    fields,
                },
                mpi_id,
            });
        }
        Ok(out)
    }

    /// How many cards `filter` selects in `program_uid`, and how many have an MPI ID (the
    /// estimate of `POST /dhis2/generate-cards` and the MPI counts of its task).
    pub fn card_selection_counts(
        &self,
        program_uid: &str,
        filter: &CardFilter<'_>,
    ) -> Result<SelectionCounts> {
        let (cards, with_mpi_id): (i64, i64) = self.conn().query_row(
            &format!("SELECT count(*), count(l.mpi_id) {SELECTION}"),
            params![
                program_uid,
                filter.enrollment_date_from,
                filter.enrollment_date_to,
                filter.org_unit,
                filter.enrollment_status,
                filter.uids_json()?
            ],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        Ok(SelectionCounts {
            cards,
            with_mpi_id,
            without_mpi_id: cards - with_mpi_id,
        })
    }

    /// Programs this box knows: synced metadata or card records (UID and name when known),
    /// sorted by UID. An unknown program given to a card command is an error listing these.
    pub fn card_programs(&self) -> Result<Vec<(String, Option<String>)>> {
        let mut stmt = self.conn().prepare(
            "SELECT uid, max(name) FROM (
               SELECT uid, name FROM programs
               UNION ALL SELECT DISTINCT program_uid, NULL FROM card_records)
             GROUP BY uid ORDER BY uid",
        )?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Marks a task as queued by `actor` for the card task worker of `kadi serve`.
    pub fn queue_task(&self, id: &str, actor: &str) -> Result<()> {
        self.conn().execute(
            "UPDATE tasks SET queued_by = ?2 WHERE id = ?1",
            params![id, actor],
        )?;
        Ok(())
    }

    /// Queued tasks still to run (`pending`, or `generating` when a server was killed), oldest
    /// first: what the card task worker picks up.
    pub fn queued_tasks(&self) -> Result<Vec<TaskRow>> {
        let mut stmt = self.conn().prepare(&format!(
            "SELECT {TASK_COLUMNS} FROM tasks WHERE queued_by IS NOT NULL AND status IN (?1, ?2)
             ORDER BY created_at, rowid"
        ))?;
        let rows = stmt.query_map(
            params![TaskStatus::Pending, TaskStatus::Generating],
            task_from_row,
        )?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Content hashes and paths of the cards already rendered with `template` at `dpi`.
    pub fn rendered_cards(
        &self,
        template: &str,
        dpi: u32,
    ) -> Result<HashMap<String, (String, Option<String>)>> {
        let mut stmt = self.conn().prepare(
            "SELECT enrollment_uid, content_hash, path FROM cards WHERE template = ?1 AND dpi = ?2",
        )?;
        let rows = stmt.query_map(params![template, dpi], |r| {
            Ok((r.get::<_, String>(0)?, (r.get(1)?, r.get(2)?)))
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Records rendered cards (one transaction, so a kill never leaves half a batch recorded).
    pub fn record_rendered_cards(&self, cards: &[RenderedCard]) -> Result<()> {
        let tx = self.conn().unchecked_transaction()?;
        {
            let mut stmt = tx.prepare(
                "INSERT INTO cards(enrollment_uid, template, dpi, content_hash, path, generated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT(enrollment_uid, template, dpi) DO UPDATE SET content_hash = excluded.content_hash,
                   path = excluded.path, generated_at = excluded.generated_at",
            )?;
            let now = now_utc();
            for c in cards {
                stmt.execute(params![
                    c.enrollment_uid,
                    c.template,
                    c.dpi,
                    c.content_hash,
                    c.path,
                    now
                ])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Creates a `pending` task of `kind` for the request `body_json`; returns its ID.
    pub fn create_task(&self, kind: TaskKind, body_json: &str) -> Result<String> {
        let id = kadi_sqlext::dhis2::dhis2_uid()
            .map_err(|e| anyhow::anyhow!("making a task ID: {e}"))?;
        self.conn().execute(
            "INSERT INTO tasks(id, kind, status, total, done, body_json, created_at) VALUES (?1, ?2, ?5, 0, 0, ?3, ?4)",
            params![id, kind, body_json, now_utc(), TaskStatus::Pending],
        )?;
        Ok(id)
    }

    /// The newest unfinished (`pending` or `generating`) task of `kind` for exactly this request:
    /// what a re-run after a kill continues. Tasks queued for `kadi serve`'s worker are its own
    /// (the worker resumes them), never a command's.
    pub fn unfinished_task(&self, kind: TaskKind, body_json: &str) -> Result<Option<TaskRow>> {
        Ok(self
            .conn()
            .query_row(
                &format!(
                    "SELECT {TASK_COLUMNS} FROM tasks WHERE kind = ?1 AND body_json = ?2 AND status IN (?3, ?4)
                       AND queued_by IS NULL
                     ORDER BY created_at DESC, rowid DESC LIMIT 1"
                ),
                params![kind, body_json, TaskStatus::Pending, TaskStatus::Generating],
                task_from_row,
            )
            .optional()?)
    }

    /// One task by ID.
    pub fn task(&self, id: &str) -> Result<Option<TaskRow>> {
        Ok(self
            .conn()
            .query_row(
                &format!("SELECT {TASK_COLUMNS} FROM tasks WHERE id = ?1"),
                params![id],
                task_from_row,
            )
            .optional()?)
    }

    /// Moves a task to `generating` with `total` cards; keeps the first start time on a resume.
    pub fn start_task(&self, id: &str, total: i64, done: i64) -> Result<()> {
        self.conn().execute(
            "UPDATE tasks SET status = ?5, total = ?2, done = ?3, error = NULL, finished_at = NULL,
               started_at = coalesce(started_at, ?4) WHERE id = ?1",
            params![id, total, done, now_utc(), TaskStatus::Generating],
        )?;
        Ok(())
    }

    /// Records progress of a generating task.
    pub fn set_task_progress(&self, id: &str, done: i64) -> Result<()> {
        self.conn().execute(
            "UPDATE tasks SET done = ?2 WHERE id = ?1",
            params![id, done],
        )?;
        Ok(())
    }

    /// Marks a task `done`.
    pub fn finish_task(&self, id: &str, done: i64) -> Result<()> {
        self.conn().execute(
            "UPDATE tasks SET status = ?4, done = ?2, finished_at = ?3 WHERE id = ?1",
            params![id, done, now_utc(), TaskStatus::Done],
        )?;
        Ok(())
    }

    /// Marks a task `failed` with the reason.
    pub fn fail_task(&self, id: &str, error: &str) -> Result<()> {
        self.conn().execute(
            "UPDATE tasks SET status = ?4, error = ?2, finished_at = ?3 WHERE id = ?1",
            params![id, error, now_utc(), TaskStatus::Failed],
        )?;
        Ok(())
    }
}
