//! Queries of the staff desk's read-only screens: the audit log viewer (newest first, filtered by
//! staff member and action, a page at a time), the notes left on review items, and the merges in
//! force that a person may undo. Only `web/` calls these; they return plain rows.
use super::Store;
use anyhow::Result;
use rusqlite::params;

/// One line of the audit trail.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct AuditRow {
    pub id: i64,
    /// UTC, `YYYY-MM-DDTHH:MM:SSZ`.
    pub at: String,
    pub actor: String,
    pub action: String,
    pub entity: Option<String>,
    pub before_json: Option<String>,
    pub after_json: Option<String>,
}

/// One page of the audit trail, newest first.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditPage {
    pub page: u32,
    pub pages: u32,
    pub total: u64,
    pub rows: Vec<AuditRow>,
}

/// A merge still in force (it can be undone).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct MergeRow {
    pub merged_mpi_id: String,
    pub survivor_mpi_id: String,
    /// How many records came with the merged identity.
    pub records: usize,
    pub merged_by: String,
    pub merged_at: String,
}

fn audit_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<AuditRow> {
    Ok(AuditRow {
        id: r.get(0)?,
        at: r.get(1)?,
        actor: r.get(2)?,
        action: r.get(3)?,
        entity: r.get(4)?,
        before_json: r.get(5)?,
        after_json: r.get(6)?,
    })
}

impl Store {
    /// A page of the audit trail, newest first; `actor` and `action` filter exactly when given.
    pub fn audit_page(
        &self,
        actor: Option<&str>,
        action: Option<&str>,
        page: u32,
        page_size: u32,
    ) -> Result<AuditPage> {
        let page_size = page_size.clamp(1, 500);
        let filter =
            "FROM audit_log WHERE (?1 IS NULL OR actor = ?1) AND (?2 IS NULL OR action = ?2)";
        let total: i64 = self.conn().query_row(
            &format!("SELECT count(*) {filter}"),
            params![actor, action],
            |r| r.get(0),
        )?;
        let total = total.max(0) as u64;
        let pages = total.div_ceil(page_size as u64).max(1) as u32;
        let page = page.clamp(1, pages);
        let offset = (page as i64 - 1) * page_size as i64;
        let mut stmt = self.conn().prepare(&format!(
            "SELECT id, at, actor, action, entity, before_json, after_json {filter}
             ORDER BY id DESC LIMIT ?3 OFFSET ?4"
        ))?;
        let rows = stmt
            .query_map(params![actor, action, page_size as i64, offset], audit_row)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(AuditPage {
            page,
            pages,
            total,
            rows,
        })
    }

    /// The distinct actors and actions of the audit trail (the viewer's filter choices), sorted.
    pub fn audit_choices(&self) -> Result<(Vec<String>, Vec<String>)> {
        let list = |sql: &str| -> Result<Vec<String>> {
            let mut stmt = self.conn().prepare(sql)?;
            let rows = stmt.query_map([], |r| r.get(0))?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        };
        Ok((
            list("SELECT DISTINCT actor FROM audit_log ORDER BY actor")?,
            list("SELECT DISTINCT action FROM audit_log ORDER BY action")?,
        ))
    }

    /// Audit rows of one entity and action, oldest first (e.g. the "not sure" notes of a review
    /// item: entity `review_item:ID`, action `mpi.review.not_sure`).
    pub fn audit_of(&self, entity: &str, action: &str) -> Result<Vec<AuditRow>> {
        let mut stmt = self.conn().prepare_cached(
            "SELECT id, at, actor, action, entity, before_json, after_json FROM audit_log
             WHERE entity = ?1 AND action = ?2 ORDER BY id",
        )?;
        let rows = stmt.query_map(params![entity, action], audit_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Merges in force, newest first (at most `limit`).
    pub fn recent_merges(&self, limit: usize) -> Result<Vec<MergeRow>> {
        let mut stmt = self.conn().prepare(
            "SELECT merged_mpi_id, survivor_mpi_id, enrollments_json, merged_by, merged_at
             FROM mpi_merges ORDER BY merged_at DESC, rowid DESC LIMIT ?1",
        )?;
        let rows = stmt.query_map(params![limit as i64], |r| {
            let json: String = r.get(2)?;
            let records = serde_json::from_str::<Vec<String>>(&json)
                .map(|v| v.len())
                .unwrap_or(0);
            Ok(MergeRow {
                merged_mpi_id: r.get(0)?,
                survivor_mpi_id: r.get(1)?,
                records,
                merged_by: r.get(3)?,
                merged_at: r.get(4)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}
