//! Queries for the local page: staff accounts, login sessions, and the read-only beneficiary list,
//! search and status the page shows. Only `web/` calls these. PIN hashes and session-token hashes
//! are computed by `web::auth`; this module stores and compares nothing secret in clear.
use super::{now_utc, Store};
use crate::record::CardFields;
use anyhow::{Context, Result};
use rusqlite::{params, OptionalExtension};
use serde::Serialize;

/// One staff account as the page needs it (the PIN hash stays inside `staff_pin_hash`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StaffMember {
    pub username: String,
    pub display_name: Option<String>,
    pub role: String,
}

/// One row of the beneficiaries list.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BeneficiaryRow {
    pub enrollment_uid: String,
    pub program_uid: String,
    pub full_name: String,
    pub mpi_id: Option<String>,
    pub mpi_state: String,
    pub fields: CardFields,
}

/// One page of a beneficiary search.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BeneficiaryPage {
    /// 1-based page number actually returned (clamped to the last page).
    pub page: u32,
    pub page_size: u32,
    pub total: u64,
    pub pages: u32,
    pub rows: Vec<BeneficiaryRow>,
}

/// What the page's status line shows.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct WebStatus {
    /// When the last finished sync run ended (UTC), if any.
    pub last_sync_at: Option<String>,
    /// Its status (`ok`, `failed`, `interrupted`).
    pub last_sync_status: Option<String>,
    pub beneficiaries: i64,
    pub mpi_identities: i64,
    pub pending_review: i64,
    pub cards_rendered: i64,
}

impl Store {
    /// Adds a staff account or replaces its PIN hash (and display name / role). Audited.
    pub fn upsert_staff(
        &self,
        actor: &str,
        username: &str,
        display_name: Option<&str>,
        role: &str,
        pin_hash: &str,
    ) -> Result<()> {
        let existed = self.staff(username)?.is_some();
        self.conn()
            .execute(
                "INSERT INTO staff(username, display_name, pin_hash, role, created_at) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT(username) DO UPDATE SET display_name = excluded.display_name,
                   pin_hash = excluded.pin_hash, role = excluded.role",
                params![username, display_name, pin_hash, role, now_utc()],
            )
            .with_context(|| format!("saving staff account {username}"))?;
        let action = if existed {
            "staff.pin_changed"
        } else {
            "staff.added"
        };
        let after = serde_json::json!({ "username": username, "role": role }).to_string();
        self.audit(
            actor,
            action,
            Some(&format!("staff:{username}")),
            None,
            Some(&after),
        )
    }

    /// Removes a staff account and its sessions. Returns false when there was none. Audited.
    pub fn remove_staff(&self, actor: &str, username: &str) -> Result<bool> {
        let n = self
            .conn()
            .execute("DELETE FROM staff WHERE username = ?1", params![username])?;
        if n > 0 {
            self.audit(
                actor,
                "staff.removed",
                Some(&format!("staff:{username}")),
                None,
                None,
            )?;
        }
        Ok(n > 0)
    }

    /// One staff account, if it exists.
    pub fn staff(&self, username: &str) -> Result<Option<StaffMember>> {
        Ok(self
            .conn()
            .query_row(
                "SELECT username, display_name, role FROM staff WHERE username = ?1",
                params![username],
                |r| {
                    Ok(StaffMember {
                        username: r.get(0)?,
                        display_name: r.get(1)?,
                        role: r.get(2)?,
                    })
                },
            )
            .optional()?)
    }

    /// All staff accounts, by username.
    pub fn staff_list(&self) -> Result<Vec<StaffMember>> {
        let mut stmt = self
            .conn()
            .prepare("SELECT username, display_name, role FROM staff ORDER BY username")?;
        let rows = stmt.query_map([], |r| {
            Ok(StaffMember {
                username: r.get(0)?,
                display_name: r.get(1)?,
                role: r.get(2)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    /// The stored PIN hash of a staff account (for `web::auth` to verify).
    pub fn staff_pin_hash(&self, username: &str) -> Result<Option<String>> {
        Ok(self
            .conn()
            .query_row(
                "SELECT pin_hash FROM staff WHERE username = ?1",
                params![username],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// Stores a new session by the hash of its token.
    pub fn create_session(&self, token_hash: &str, username: &str, expires_at: &str) -> Result<()> {
        self.conn().execute(
            "INSERT INTO sessions(token_hash, username, created_at, expires_at) VALUES (?1, ?2, ?3, ?4)",
            params![token_hash, username, now_utc(), expires_at],
        )?;
        Ok(())
    }

    /// The staff member a live (unexpired) session belongs to.
    pub fn session_staff(&self, token_hash: &str, now: &str) -> Result<Option<StaffMember>> {
        Ok(self
            .conn()
            .query_row(
                "SELECT s.username, s.display_name, s.role FROM sessions x JOIN staff s ON s.username = x.username
                 WHERE x.token_hash = ?1 AND x.expires_at > ?2",
                params![token_hash, now],
                |r| Ok(StaffMember { username: r.get(0)?, display_name: r.get(1)?, role: r.get(2)? }),
            )
            .optional()?)
    }

    /// Deletes one session (logout). Returns false when it did not exist.
    pub fn delete_session(&self, token_hash: &str) -> Result<bool> {
        Ok(self.conn().execute(
            "DELETE FROM sessions WHERE token_hash = ?1",
            params![token_hash],
        )? > 0)
    }

    /// Deletes every session that expired before `now`; returns how many.
    pub fn purge_expired_sessions(&self, now: &str) -> Result<usize> {
        Ok(self
            .conn()
            .execute("DELETE FROM sessions WHERE expires_at <= ?1", params![now])?)
    }

    /// Searches beneficiaries (card records) by name, MPI ID or beneficiary ID, case-insensitively,
    /// ordered by last name then first name; `page` is 1-based and clamped to the last page.
    pub fn search_beneficiaries(
        &self,
        query: &str,
        page: u32,
        page_size: u32,
    ) -> Result<BeneficiaryPage> {
        let page_size = page_size.clamp(1, 200);
        let pattern = format!("%{}%", like_escape(&query.trim().to_lowercase()));
        // One WHERE for the count and the page, so both always agree.
        let filter = "FROM card_records c LEFT JOIN mpi_links l ON l.enrollment_uid = c.enrollment_uid
             WHERE ?1 = '%%'
                OR lower(coalesce(json_extract(c.fields_json, '$.first_name'), '') || ' ' ||
                         coalesce(json_extract(c.fields_json, '$.last_name'), '')) LIKE ?1 ESCAPE '\\'
                OR lower(coalesce(json_extract(c.fields_json, '$.last_name'), '') || ' ' ||
                         coalesce(json_extract(c.fields_json, '$.first_name'), '')) LIKE ?1 ESCAPE '\\'
                OR lower(coalesce(json_extract(c.fields_json, '$.beneficiary_id'), '')) LIKE ?1 ESCAPE '\\'
                OR lower(coalesce(l.mpi_id, '')) LIKE ?1 ESCAPE '\\'
                OR lower(c.enrollment_uid) LIKE ?1 ESCAPE '\\'";
        let total: i64 = self.conn().query_row(
            &format!("SELECT count(*) {filter}"),
            params![pattern],
            |r| r.get(0),
        )?;
        let total = total.max(0) as u64;
        let pages = total.div_ceil(page_size as u64).max(1) as u32;
        let page = page.clamp(1, pages);
        let offset = (page as i64 - 1) * page_size as i64;
        let mut stmt = self.conn().prepare(&format!(
            "SELECT c.enrollment_uid, c.program_uid, c.fields_json, l.mpi_id, c.mpi_state {filter}
             ORDER BY lower(json_extract(c.fields_json, '$.last_name')), lower(json_extract(c.fields_json, '$.first_name')),
                      c.enrollment_uid
             LIMIT ?2 OFFSET ?3"
        ))?;
        let rows = stmt.query_map(params![pattern, page_size as i64, offset], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, Option<String>>(3)?,
                r.get::<_, String>(4)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (enrollment_uid, program_uid, json, mpi_id, mpi_state) = row?;
            let fields: CardFields = serde_json::from_str(&json)
                .with_context(|| format!("card record {enrollment_uid} has unreadable fields"))?;
            out.push(BeneficiaryRow {
                full_name: fields.full_name(),
                enrollment_uid,
                program_uid,
                mpi_id,
                mpi_state,
                fields,
            });
        }
        Ok(BeneficiaryPage {
            page,
            page_size,
            total,
            pages,
            rows: out,
        })
    }

    /// The status line: last finished sync and the main counts.
    pub fn web_status(&self) -> Result<WebStatus> {
        let last: Option<(Option<String>, String)> = self
            .conn()
            .query_row(
                "SELECT finished_at, status FROM sync_runs WHERE status != 'running' ORDER BY id DESC LIMIT 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        let count =
            |sql: &str| -> Result<i64> { Ok(self.conn().query_row(sql, [], |r| r.get(0))?) };
        Ok(WebStatus {
            last_sync_at: last.as_ref().and_then(|l| l.0.clone()),
            last_sync_status: last.map(|l| l.1),
            beneficiaries: count("SELECT count(*) FROM card_records")?,
            mpi_identities: count("SELECT count(*) FROM mpi_identities WHERE merged_into IS NULL")?,
            pending_review: count("SELECT count(*) FROM review_items WHERE status = 'pending'")?,
            cards_rendered: count("SELECT count(*) FROM cards")?,
        })
    }
}

/// Escapes `%`, `_` and the escape character itself for a `LIKE ... ESCAPE '\'` pattern.
fn like_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::CardRecord;

    fn store_with(names: &[(&str, &str, &str)]) -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(&dir.path().join("kadi.db")).unwrap();
        for (i, (first, last, bid)) in names.iter().enumerate() {
            let te = format!("te{i:09}");
            let en = format!("en{i:09}");
            s.conn()
                .execute(
                    "INSERT INTO tracked_entities(uid, synced_at) VALUES (?1, 'x')",
                    params![te],
                )
                .unwrap();
            s.conn()
                .execute(
                    "INSERT INTO enrollments(uid, tracked_entity_uid, program_uid, synced_at) VALUES (?1, ?2, 'P', 'x')",
                    params![en, te],
                )
                .unwrap();
            let fields = CardFields {
                first_name: Some(first.to_string()),
                last_name: Some(last.to_string()),
                beneficiary_id: Some(bid.to_string()),
                ..Default::default()
            };
            s.upsert_card_record(&CardRecord {
                enrollment_uid: en,
                tracked_entity_uid: te,
                program_uid: "P".into(),
                fields,
            })
            .unwrap();
        }
        (dir, s)
    }

    #[test]
    fn search_matches_names_and_ids_case_insensitively_and_pages() {
        let (_d, s) = store_with(&[
            ("Awa", "Diop", "B-001"),
            ("Moussa", "Ndiaye", "B-002"),
            ("Fatou", "Diop", "B-003"),
        ]);
        let all = s.search_beneficiaries("", 1, 2).unwrap();
        assert_eq!((all.total, all.pages, all.rows.len()), (3, 2, 2));
        assert_eq!(all.rows[0].full_name, "Awa Diop");
        let p2 = s.search_beneficiaries("", 9, 2).unwrap();
        assert_eq!((p2.page, p2.rows.len()), (2, 1));
        assert_eq!(s.search_beneficiaries("diop", 1, 25).unwrap().total, 2);
        assert_eq!(
            s.search_beneficiaries("ndiaye moussa", 1, 25)
                .unwrap()
                .total,
            1
        );
        assert_eq!(
            s.search_beneficiaries("b-003", 1, 25).unwrap().rows[0].full_name,
            "Fatou Diop"
        );
        assert_eq!(s.search_beneficiaries("%", 1, 25).unwrap().total, 0);
    }

    #[test]
    fn sessions_expire_and_die_with_their_staff() {
        let (_d, s) = store_with(&[]);
        s.upsert_staff("test", "awa", None, "staff", "h").unwrap();
        s.create_session("t1", "awa", "2030-01-01T00:00:00Z")
            .unwrap();
        s.create_session("t2", "awa", "2020-01-01T00:00:00Z")
            .unwrap();
        assert!(s
            .session_staff("t1", "2026-01-01T00:00:00Z")
            .unwrap()
            .is_some());
        assert!(s
            .session_staff("t2", "2026-01-01T00:00:00Z")
            .unwrap()
            .is_none());
        assert_eq!(s.purge_expired_sessions("2026-01-01T00:00:00Z").unwrap(), 1);
        assert!(s.remove_staff("test", "awa").unwrap());
        assert!(s
            .session_staff("t1", "2026-01-01T00:00:00Z")
            .unwrap()
            .is_none());
    }
}
