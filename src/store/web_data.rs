//! Queries for the local page: staff accounts, login sessions, and the read-only beneficiary list,
//! search and status the page shows. Only `web/` calls these. PIN hashes and session-token hashes
//! are computed by `web::auth`; this module stores and compares nothing secret in clear.
//!
//! It returns plain rows: the shapes the page and its JSON API show are `web`'s own.
use super::mpi_data::MpiState;
use super::{now_utc, Store};
use crate::clock::{format_utc, BootStamp};
use crate::record::CardFields;
use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension};
use serde::Serialize;

crate::sql_enum::sql_enum! {
    /// What a staff account may do (`staff.role`).
    pub enum StaffRole("staff role") {
        /// Clinic staff: search, cards, review, sync now.
        Staff = "staff",
        /// Also settings and staff management.
        Admin = "admin",
    }
}

/// One staff account as the page needs it (the PIN hash stays inside `staff_pin_hash`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StaffMember {
    pub username: String,
    pub display_name: Option<String>,
    pub role: StaffRole,
}

/// A stored session as `web::auth` judges it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRow {
    pub staff: StaffMember,
    /// Wall clock at login, `YYYY-MM-DDTHH:MM:SSZ`.
    pub created_at: String,
    /// Wall clock at which it ends, same format.
    pub expires_at: String,
    /// Where on the monotonic clock it was made (`None` for sessions of older versions).
    pub stamp: Option<BootStamp>,
}

/// The throttle row of an address's budget across usernames ('*' is no valid username).
pub const ADDRESS_BUDGET: &str = "*";

/// How the login throttle counts and locks (the numbers live in `web::auth`).
#[derive(Debug, Clone)]
pub struct ThrottlePolicy {
    /// Failed attempts of one username from one address before it locks.
    pub max_per_user: u32,
    /// Failed attempts from one address, across usernames, before the address locks.
    pub max_per_address: u32,
    /// The first lock; each further failure after a lock doubles it.
    pub first_lock: chrono::TimeDelta,
    /// The longest lock.
    pub max_lock: chrono::TimeDelta,
    /// Failures are forgotten after this long without an attempt.
    pub forget_after: chrono::TimeDelta,
}

impl ThrottlePolicy {
    /// The lock after the `n`th failure past the limit (0-based): doubling, capped.
    pub fn lock_for(&self, n: u32) -> chrono::TimeDelta {
        let factor = 1i32.checked_shl(n.min(30)).unwrap_or(i32::MAX);
        self.first_lock
            .checked_mul(factor)
            .unwrap_or(self.max_lock)
            .min(self.max_lock)
    }
}

/// What the throttle says about a login attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoginGate {
    /// Go on and check the PIN (the attempt is counted).
    Allowed,
    /// Refused without checking the PIN, until this time (UTC).
    Locked { until: String },
}

/// One card record found by a beneficiary search, with its identity.
#[derive(Debug, Clone, PartialEq)]
pub struct BeneficiaryRecord {
    pub enrollment_uid: String,
    pub program_uid: String,
    /// The fields' full name (first, then last).
    pub full_name: String,
    pub mpi_id: Option<String>,
    pub mpi_state: MpiState,
    pub fields: CardFields,
    /// True when the record waits for a person's review decision (either side of a pair).
    pub pending_review: bool,
}

/// One page of a beneficiary search.
#[derive(Debug, Clone, PartialEq)]
pub struct BeneficiarySearch {
    /// 1-based page number actually returned (clamped to the last page).
    pub page: u32,
    pub page_size: u32,
    pub total: u64,
    pub pages: u32,
    pub rows: Vec<BeneficiaryRecord>,
}

/// The last finished sync and the box's main counts.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StatusCounts {
    /// When the last finished sync run ended (UTC), if any.
    pub last_sync_at: Option<String>,
    /// Its status (`ok`, `failed`, `interrupted`).
    pub last_sync_status: Option<String>,
    /// Tracked entities it received (its report's `pulled`), when it says.
    pub last_sync_records: Option<i64>,
    pub beneficiaries: i64,
    pub mpi_identities: i64,
    pub pending_review: i64,
    pub cards_rendered: i64,
}

impl Store {
    /// Adds a staff account or replaces its PIN hash (and display name / role). A new PIN ends
    /// every session of that account: whoever learned the old PIN must not stay logged in.
    /// Audited (with the number of sessions ended), in one transaction.
    pub fn upsert_staff(
        &self,
        actor: &str,
        username: &str,
        display_name: Option<&str>,
        role: StaffRole,
        pin_hash: &str,
    ) -> Result<()> {
        let tx = self.conn().unchecked_transaction()?;
        let existed = self.staff(username)?.is_some();
        self.conn()
            .execute(
                "INSERT INTO staff(username, display_name, pin_hash, role, created_at) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT(username) DO UPDATE SET display_name = excluded.display_name,
                   pin_hash = excluded.pin_hash, role = excluded.role",
                params![username, display_name, pin_hash, role, now_utc()],
            )
            .with_context(|| format!("saving staff account {username}"))?;
        let ended = self.conn().execute(
            "DELETE FROM sessions WHERE username = ?1",
            params![username],
        )?;
        let action = if existed {
            "staff.pin_changed"
        } else {
            "staff.added"
        };
        let after =
            serde_json::json!({ "username": username, "role": role, "sessions_ended": ended })
                .to_string();
        self.audit(
            actor,
            action,
            Some(&format!("staff:{username}")),
            None,
            Some(&after),
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Removes a staff account and its sessions. Returns false when there was none. Audited.
    pub fn remove_staff(&self, actor: &str, username: &str) -> Result<bool> {
        let tx = self.conn().unchecked_transaction()?;
        // Explicit, not only ON DELETE CASCADE: a connection opened without foreign keys (the
        // analyst's sqlite3 shell) must not leave a removed account logged in.
        let ended = self.conn().execute(
            "DELETE FROM sessions WHERE username = ?1",
            params![username],
        )?;
        let n = self
            .conn()
            .execute("DELETE FROM staff WHERE username = ?1", params![username])?;
        if n > 0 {
            let after = serde_json::json!({ "sessions_ended": ended }).to_string();
            self.audit(
                actor,
                "staff.removed",
                Some(&format!("staff:{username}")),
                None,
                Some(&after),
            )?;
        }
        tx.commit()?;
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

    /// Stores a new session by the hash of its token, with its wall-clock creation and expiry
    /// (`YYYY-MM-DDTHH:MM:SSZ`) and where on the monotonic clock it was made.
    pub fn create_session(
        &self,
        token_hash: &str,
        username: &str,
        created_at: &str,
        expires_at: &str,
        stamp: Option<&BootStamp>,
    ) -> Result<()> {
        self.conn().execute(
            "INSERT INTO sessions(token_hash, username, created_at, expires_at, boot_id, since_boot_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                token_hash,
                username,
                created_at,
                expires_at,
                stamp.map(|s| s.boot_id.as_str()),
                stamp.map(|s| s.since_boot_ms)
            ],
        )?;
        Ok(())
    }

    /// A session and its staff member by token hash, whatever its age: `web::auth` decides
    /// whether it is still alive (wall clock and monotonic bound).
    pub fn session(&self, token_hash: &str) -> Result<Option<SessionRow>> {
        Ok(self
            .conn()
            .query_row(
                "SELECT s.username, s.display_name, s.role, x.created_at, x.expires_at, x.boot_id, x.since_boot_ms
                 FROM sessions x JOIN staff s ON s.username = x.username WHERE x.token_hash = ?1",
                params![token_hash],
                |r| {
                    let boot_id: Option<String> = r.get(5)?;
                    let since_boot_ms: Option<i64> = r.get(6)?;
                    Ok(SessionRow {
                        staff: StaffMember {
                            username: r.get(0)?,
                            display_name: r.get(1)?,
                            role: r.get(2)?,
                        },
                        created_at: r.get(3)?,
                        expires_at: r.get(4)?,
                        stamp: boot_id.zip(since_boot_ms).map(|(boot_id, since_boot_ms)| {
                            BootStamp { boot_id, since_boot_ms }
                        }),
                    })
                },
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

    /// Ends a session the clock checks found dead before its expiry (clock set back, monotonic
    /// lifetime used up). Audited with the reason; false when it was already gone.
    pub fn end_session(&self, token_hash: &str, username: &str, reason: &str) -> Result<bool> {
        if !self.delete_session(token_hash)? {
            return Ok(false);
        }
        let after = serde_json::json!({ "reason": reason }).to_string();
        self.audit(
            "kadi",
            "staff.session_ended",
            Some(&format!("staff:{username}")),
            None,
            Some(&after),
        )?;
        Ok(true)
    }

    /// Deletes every session that expired before `now`; returns how many.
    pub fn purge_expired_sessions(&self, now: &str) -> Result<usize> {
        Ok(self
            .conn()
            .execute("DELETE FROM sessions WHERE expires_at <= ?1", params![now])?)
    }

    /// Checks and counts one login attempt in one write transaction, before its PIN is verified:
    /// refused (without a PIN check) while the (username, address) pair or the address is locked,
    /// otherwise reserved (counted as a failure until [`Store::settle_login_attempt`] says it
    /// succeeded). The attempt that reaches a limit sets the lock, so concurrent attempts can never
    /// check more PINs than the limit. Refusals during one lock are merged into one audit row.
    pub fn reserve_login_attempt(
        &self,
        username: &str,
        address: &str,
        now: DateTime<Utc>,
        policy: &ThrottlePolicy,
    ) -> Result<LoginGate> {
        let tx = rusqlite::Transaction::new_unchecked(
            self.conn(),
            rusqlite::TransactionBehavior::Immediate,
        )
        .context("starting the login check")?;
        let now_s = format_utc(now);
        let forget_before = format_utc(now - policy.forget_after);
        tx.execute(
            "DELETE FROM login_throttle WHERE last_attempt < ?1 AND coalesce(locked_until, '') < ?2",
            params![format_utc(now - chrono::TimeDelta::days(1)), now_s],
        )?;
        let keys = [
            (username, policy.max_per_user),
            (ADDRESS_BUDGET, policy.max_per_address),
        ];
        let mut rows = Vec::new();
        for (user, _) in keys {
            let row: Option<(i64, String, Option<String>, Option<i64>)> = tx
                .query_row(
                    "SELECT attempts, last_attempt, locked_until, audit_id FROM login_throttle
                     WHERE username = ?1 AND address = ?2",
                    params![user, address],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
                )
                .optional()?;
            rows.push(row);
        }
        let locked = keys.iter().zip(&rows).find_map(|((user, _), row)| {
            let (_, _, until, audit_id) = row.as_ref()?;
            let until = until.as_ref().filter(|u| u.as_str() > now_s.as_str())?;
            Some((*user, until.clone(), *audit_id))
        });
        if let Some((user, until, audit_id)) = locked {
            let merged = match audit_id {
                Some(id) => {
                    tx.execute(
                        "UPDATE audit_log SET after_json = json_set(coalesce(after_json, '{}'),
                           '$.refused', coalesce(json_extract(after_json, '$.refused'), 0) + 1,
                           '$.last_at', ?2) WHERE id = ?1",
                        params![id, now_s],
                    )? > 0
                }
                None => false,
            };
            if !merged {
                let after = serde_json::json!({
                    "username": username, "address": address, "refused": 1,
                    "first_at": now_s, "last_at": now_s, "locked_until": until,
                })
                .to_string();
                self.audit(
                    address,
                    "staff.login_throttled",
                    Some(&format!("staff:{username}")),
                    None,
                    Some(&after),
                )?;
                tx.execute(
                    "UPDATE login_throttle SET audit_id = ?3 WHERE username = ?1 AND address = ?2",
                    params![user, address, tx.last_insert_rowid()],
                )?;
            }
            tx.commit()?;
            return Ok(LoginGate::Locked { until });
        }
        for ((user, max), row) in keys.iter().zip(&rows) {
            let before = match row {
                Some((n, last, _, _)) if last.as_str() >= forget_before.as_str() => *n,
                _ => 0,
            };
            let attempts = before + 1;
            let locked_until = (attempts >= *max as i64)
                .then(|| format_utc(now + policy.lock_for((attempts - *max as i64) as u32)));
            tx.execute(
                "INSERT INTO login_throttle(username, address, attempts, last_attempt, locked_until, audit_id)
                 VALUES (?1, ?2, ?3, ?4, ?5, NULL)
                 ON CONFLICT(username, address) DO UPDATE SET attempts = excluded.attempts,
                   last_attempt = excluded.last_attempt, locked_until = excluded.locked_until,
                   audit_id = NULL",
                params![user, address, attempts, now_s, locked_until],
            )?;
        }
        tx.commit()?;
        Ok(LoginGate::Allowed)
    }

    /// Settles an attempt reserved by [`Store::reserve_login_attempt`]: a success clears the
    /// (username, address) pair and gives the address its reserved attempt back; a failure stays
    /// counted.
    pub fn settle_login_attempt(
        &self,
        username: &str,
        address: &str,
        success: bool,
        policy: &ThrottlePolicy,
    ) -> Result<()> {
        if !success {
            return Ok(());
        }
        let tx = self.conn().unchecked_transaction()?;
        tx.execute(
            "DELETE FROM login_throttle WHERE username = ?1 AND address = ?2",
            params![username, address],
        )?;
        tx.execute(
            "UPDATE login_throttle SET attempts = max(attempts - 1, 0),
               locked_until = CASE WHEN attempts - 1 < ?3 THEN NULL ELSE locked_until END
             WHERE username = ?1 AND address = ?2",
            params![ADDRESS_BUDGET, address, policy.max_per_address],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Clears the login throttle of `username` at every address (and, with `address`, that
    /// address's budget too). Returns how many throttle rows were cleared. Audited.
    pub fn unlock_logins(
        &self,
        actor: &str,
        username: &str,
        address: Option<&str>,
    ) -> Result<usize> {
        let tx = self.conn().unchecked_transaction()?;
        let mut n = self.conn().execute(
            "DELETE FROM login_throttle WHERE username = ?1",
            params![username],
        )?;
        if let Some(address) = address {
            n += self.conn().execute(
                "DELETE FROM login_throttle WHERE username = ?1 AND address = ?2",
                params![ADDRESS_BUDGET, address],
            )?;
        }
        let after = serde_json::json!({ "address": address, "cleared": n }).to_string();
        self.audit(
            actor,
            "staff.unlocked",
            Some(&format!("staff:{username}")),
            None,
            Some(&after),
        )?;
        tx.commit()?;
        Ok(n)
    }

    /// The status line: last finished sync and the main counts.
    pub fn status_counts(&self) -> Result<StatusCounts> {
        let last: Option<(Option<String>, String, Option<i64>)> = self
            .conn()
            .query_row(
                "SELECT finished_at, status, json_extract(report_json, '$.pulled') FROM sync_runs
                 WHERE status != 'running' ORDER BY id DESC LIMIT 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2).ok().flatten())),
            )
            .optional()?;
        let count =
            |sql: &str| -> Result<i64> { Ok(self.conn().query_row(sql, [], |r| r.get(0))?) };
        Ok(StatusCounts {
            last_sync_at: last.as_ref().and_then(|l| l.0.clone()),
            last_sync_records: last.as_ref().and_then(|l| l.2),
            last_sync_status: last.map(|l| l.1),
            beneficiaries: count("SELECT count(*) FROM card_records")?,
            mpi_identities: count("SELECT count(*) FROM mpi_identities WHERE merged_into IS NULL")?,
            pending_review: count("SELECT count(*) FROM review_items WHERE status = 'pending'")?,
            cards_rendered: count("SELECT count(*) FROM cards")?,
        })
    }
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

    fn q(text: &str) -> crate::store::search::SearchQuery {
        crate::store::search::SearchQuery::parse(text, "221")
    }

    #[test]
    fn search_matches_names_and_ids_case_insensitively_and_pages() {
        let (_d, s) = store_with(&[
            ("Awa", "Diop", "B-001"),
            ("Moussa", "Ndiaye", "B-002"),
            ("Fatou", "Diop", "B-003"),
        ]);
        let all = s.search_beneficiaries(&q(""), 1, 2).unwrap();
        assert_eq!((all.total, all.pages, all.rows.len()), (3, 2, 2));
        assert_eq!(all.rows[0].full_name, "Awa Diop");
        let p2 = s.search_beneficiaries(&q(""), 9, 2).unwrap();
        assert_eq!((p2.page, p2.rows.len()), (2, 1));
        assert_eq!(s.search_beneficiaries(&q("diop"), 1, 25).unwrap().total, 2);
        assert_eq!(
            s.search_beneficiaries(&q("ndiaye moussa"), 1, 25)
                .unwrap()
                .total,
            1
        );
        assert_eq!(
            s.search_beneficiaries(&q("b-003"), 1, 25).unwrap().rows[0].full_name,
            "Fatou Diop"
        );
        assert_eq!(s.search_beneficiaries(&q("%"), 1, 25).unwrap().total, 0);
    }

    #[test]
    fn sessions_end_with_a_pin_change_and_with_their_staff() {
        let (_d, s) = store_with(&[]);
        s.upsert_staff("test", "awa", None, StaffRole::Staff, "h")
            .unwrap();
        s.upsert_staff("test", "moussa", None, StaffRole::Staff, "h")
            .unwrap();
        let at = "2026-01-01T00:00:00Z";
        s.create_session("t1", "awa", at, "2030-01-01T00:00:00Z", None)
            .unwrap();
        s.create_session("t2", "moussa", at, "2020-01-01T00:00:00Z", None)
            .unwrap();
        assert_eq!(s.session("t1").unwrap().unwrap().staff.username, "awa");
        assert_eq!(s.purge_expired_sessions("2026-01-01T00:00:00Z").unwrap(), 1);
        // A new PIN for awa ends awa's session.
        s.upsert_staff("test", "awa", None, StaffRole::Staff, "h2")
            .unwrap();
        assert!(s.session("t1").unwrap().is_none());
        s.create_session("t3", "awa", at, "2030-01-01T00:00:00Z", None)
            .unwrap();
        assert!(s.remove_staff("test", "awa").unwrap());
        assert!(s.session("t3").unwrap().is_none());
        let audited: String = s
            .conn()
            .query_row(
                "SELECT after_json FROM audit_log WHERE action = 'staff.pin_changed'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert!(audited.contains("\"sessions_ended\":1"), "{audited}");
    }

    fn policy() -> ThrottlePolicy {
        ThrottlePolicy {
            max_per_user: 5,
            max_per_address: 20,
            first_lock: chrono::TimeDelta::minutes(1),
            max_lock: chrono::TimeDelta::minutes(30),
            forget_after: chrono::TimeDelta::hours(1),
        }
    }

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn the_throttle_locks_a_name_per_address_doubles_and_unlocks() {
        let (_d, s) = store_with(&[]);
        let p = policy();
        let t0 = at("2026-05-01T10:00:00Z");
        for _ in 0..5 {
            assert_eq!(
                s.reserve_login_attempt("awa", "10.0.0.9", t0, &p).unwrap(),
                LoginGate::Allowed
            );
        }
        let locked = s.reserve_login_attempt("awa", "10.0.0.9", t0, &p).unwrap();
        assert_eq!(
            locked,
            LoginGate::Locked {
                until: "2026-05-01T10:01:00Z".into()
            }
        );
        // Another address is not locked out, and its success clears only its own pair.
        assert_eq!(
            s.reserve_login_attempt("awa", "10.0.0.2", t0, &p).unwrap(),
            LoginGate::Allowed
        );
        s.settle_login_attempt("awa", "10.0.0.2", true, &p).unwrap();
        // After the minute, one more failure locks for two minutes.
        let t1 = at("2026-05-01T10:01:01Z");
        assert_eq!(
            s.reserve_login_attempt("awa", "10.0.0.9", t1, &p).unwrap(),
            LoginGate::Allowed
        );
        assert_eq!(
            s.reserve_login_attempt("awa", "10.0.0.9", t1, &p).unwrap(),
            LoginGate::Locked {
                until: "2026-05-01T10:03:01Z".into()
            }
        );
        assert_eq!(p.lock_for(20), chrono::TimeDelta::minutes(30));
        // Refusals of one lock are one audit row with a count.
        for _ in 0..10 {
            s.reserve_login_attempt("awa", "10.0.0.9", t1, &p).unwrap();
        }
        let rows: Vec<String> = s
            .conn()
            .prepare("SELECT after_json FROM audit_log WHERE action = 'staff.login_throttled'")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        assert_eq!(rows.len(), 2, "one row per lock window: {rows:?}");
        let last: serde_json::Value = serde_json::from_str(&rows[1]).unwrap();
        assert_eq!(last["refused"], 11);
        assert!(s.unlock_logins("cli", "awa", None).unwrap() >= 1);
        assert_eq!(
            s.reserve_login_attempt("awa", "10.0.0.9", t1, &p).unwrap(),
            LoginGate::Allowed
        );
    }

    #[test]
    fn an_address_has_a_budget_across_usernames() {
        let (_d, s) = store_with(&[]);
        let p = policy();
        let t0 = at("2026-05-01T10:00:00Z");
        for i in 0..20 {
            assert_eq!(
                s.reserve_login_attempt(&format!("user{i}"), "10.0.0.9", t0, &p)
                    .unwrap(),
                LoginGate::Allowed
            );
        }
        assert!(matches!(
            s.reserve_login_attempt("user99", "10.0.0.9", t0, &p)
                .unwrap(),
            LoginGate::Locked { .. }
        ));
        assert_eq!(
            s.reserve_login_attempt("user99", "10.0.0.10", t0, &p)
                .unwrap(),
            LoginGate::Allowed
        );
        s.unlock_logins("cli", "user99", Some("10.0.0.9")).unwrap();
        assert_eq!(
            s.reserve_login_attempt("user99", "10.0.0.9", t0, &p)
                .unwrap(),
            LoginGate::Allowed
        );
    }

    #[test]
    fn concurrent_attempts_never_pass_the_limit() {
        let (d, s) = store_with(&[]);
        drop(s);
        let path = d.path().join("kadi.db");
        let p = policy();
        let t0 = at("2026-05-01T10:00:00Z");
        let allowed: usize = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..20)
                .map(|_| {
                    let (path, p) = (path.clone(), p.clone());
                    scope.spawn(move || {
                        let s = Store::open(&path).unwrap();
                        s.reserve_login_attempt("awa", "10.0.0.9", t0, &p).unwrap()
                            == LoginGate::Allowed
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap() as usize)
                .sum()
        });
        assert_eq!(allowed, 5);
    }
}
