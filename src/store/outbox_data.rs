//! Queries for the outbox (`outbox`, `send_media`, `send_contacts`; schema v14): the rows
//! `send::` makes before any network call and moves through their states. Every state change
//! is one statement guarded by the state it leaves (`WHERE status = 'queued'` ...), committed
//! with its audit row in one transaction, so two workers can never both claim a message and a
//! row is never left half-changed. Nothing here touches the network; `send::` decides.
use super::{now_utc, Store};
use anyhow::{Context, Result};
use rusqlite::{params, OptionalExtension};
use serde::Serialize;

/// One outbox row as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OutboxRow {
    pub id: String,
    pub channel: String,
    pub recipient: String,
    pub enrollment_uid: Option<String>,
    pub mode: String,
    pub body: String,
    pub status: String,
    pub provider_id: Option<String>,
    pub attempts: i64,
    pub retryable: Option<bool>,
    pub last_error: Option<String>,
    pub next_attempt_at: Option<String>,
    pub claimed_by: Option<String>,
    pub queued_by: String,
    pub created_at: String,
    pub updated_at: String,
    pub accepted_at: Option<String>,
}

/// A new row to insert (status `queued`).
#[derive(Debug, Clone)]
pub struct NewOutboxRow<'a> {
    pub id: &'a str,
    pub channel: &'a str,
    pub recipient: &'a str,
    pub enrollment_uid: Option<&'a str>,
    pub mode: &'a str,
    pub body: &'a str,
}

/// Which rows [`Store::outbox_rows`] lists (every `None` matches everything).
#[derive(Debug, Clone, Default)]
pub struct OutboxQuery<'a> {
    pub status: Option<&'a str>,
    pub channel: Option<&'a str>,
    pub enrollment_uid: Option<&'a str>,
    pub recipient: Option<&'a str>,
    /// Only rows created at or after this UTC time.
    pub since: Option<&'a str>,
    /// Only rows created before this UTC time.
    pub until: Option<&'a str>,
    pub limit: usize,
    /// Rows to skip (newest first) before the first one listed.
    pub offset: usize,
}

const COLUMNS: &str = "id, channel, recipient, enrollment_uid, mode, body, status, provider_id, attempts, retryable, last_error, next_attempt_at, claimed_by, queued_by, created_at, updated_at, accepted_at";

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<OutboxRow> {
    Ok(OutboxRow {
        id: r.get(0)?,
        channel: r.get(1)?,
        recipient: r.get(2)?,
        enrollment_uid: r.get(3)?,
        mode: r.get(4)?,
        body: r.get(5)?,
        status: r.get(6)?,
        provider_id: r.get(7)?,
        attempts: r.get(8)?,
        retryable: r.get::<_, Option<i64>>(9)?.map(|v| v != 0),
        last_error: r.get(10)?,
        next_attempt_at: r.get(11)?,
        claimed_by: r.get(12)?,
        queued_by: r.get(13)?,
        created_at: r.get(14)?,
        updated_at: r.get(15)?,
        accepted_at: r.get(16)?,
    })
}

/// The audit entity of a message.
pub fn message_entity(id: &str) -> String {
    format!("message:{id}")
}

/// The state change a worker or staff member asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutboxChange<'a> {
    /// `queued` -> `sending`, held by `holder`; counts an attempt.
    Claim { holder: &'a str },
    /// `sending` -> `accepted` with the provider's message ID (when it gives one).
    Accept { provider_id: Option<&'a str> },
    /// `sending` -> `failed`.
    Fail { reason: &'a str, retryable: bool },
    /// `sending` -> `queued`, due at `next_attempt_at` (None: at once); `reason` is kept.
    Requeue {
        reason: &'a str,
        next_attempt_at: Option<&'a str>,
        /// Whether the attempt counts (false when the request never left the box).
        counts: bool,
        /// A new WhatsApp mode (131047: free-form outside the window becomes a template)...
        mode: Option<&'a str>,
        /// ... with its new body (the template's parameters).
        body: Option<&'a str>,
    },
    /// `sending` -> `unknown` (a crash or a request with no answer).
    Unknown { reason: &'a str },
    /// Staff: `unknown` or `failed` -> `queued` (sent again: the staff member decided).
    Resend,
    /// Staff: `unknown` -> `accepted` without a provider ID (the recipient got it).
    MarkSent,
}

impl OutboxChange<'_> {
    fn action(&self) -> &'static str {
        match self {
            OutboxChange::Claim { .. } => "send.sending",
            OutboxChange::Accept { .. } => "send.accepted",
            OutboxChange::Fail { .. } => "send.failed",
            OutboxChange::Requeue { .. } => "send.retry",
            OutboxChange::Unknown { .. } => "send.unknown",
            OutboxChange::Resend => "send.resend",
            OutboxChange::MarkSent => "send.mark_sent",
        }
    }
}

impl Store {
    /// Writes a sealed secret into a setting; the audit row says it changed, never its value
    /// (not even sealed: the audit log is what staff read on the page).
    pub fn set_sealed_setting(&self, actor: &str, key: &str, sealed: &str) -> Result<()> {
        let tx = self.conn().unchecked_transaction()?;
        let before = self.setting(key)?.map(|_| "(sealed)");
        self.conn().execute(
            "INSERT INTO settings(key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            params![key, sealed],
        )?;
        self.audit(actor, "setting.set", Some(key), before, Some("(sealed)"))?;
        tx.commit()?;
        Ok(())
    }

    /// Inserts a queued message and audits it, in one transaction.
    pub fn insert_outbox(&self, actor: &str, new: &NewOutboxRow<'_>) -> Result<OutboxRow> {
        let tx = self.conn().unchecked_transaction()?;
        let now = now_utc();
        tx.execute(
            "INSERT INTO outbox(id, channel, recipient, enrollment_uid, mode, body, status, queued_by, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'queued', ?7, ?8, ?8)",
            params![new.id, new.channel, new.recipient, new.enrollment_uid, new.mode, new.body, actor, now],
        )
        .with_context(|| format!("queuing message {}", new.id))?;
        let after = serde_json::json!({
            "status": "queued", "channel": new.channel, "enrollment_uid": new.enrollment_uid,
        })
        .to_string();
        self.audit(
            actor,
            "send.queue",
            Some(&message_entity(new.id)),
            None,
            Some(&after),
        )?;
        tx.commit()?;
        self.outbox_row(new.id)?
            .with_context(|| format!("message {} vanished after queuing", new.id))
    }

    /// One message by ID.
    pub fn outbox_row(&self, id: &str) -> Result<Option<OutboxRow>> {
        Ok(self
            .conn()
            .query_row(
                &format!("SELECT {COLUMNS} FROM outbox WHERE id = ?1"),
                params![id],
                row,
            )
            .optional()?)
    }

    /// Messages matching `q`, newest first.
    pub fn outbox_rows(&self, q: &OutboxQuery<'_>) -> Result<Vec<OutboxRow>> {
        let limit = if q.limit == 0 { 1000 } else { q.limit } as i64;
        let mut stmt = self.conn().prepare(&format!(
            "SELECT {COLUMNS} FROM outbox
             WHERE (?1 IS NULL OR status = ?1) AND (?2 IS NULL OR channel = ?2)
               AND (?3 IS NULL OR enrollment_uid = ?3) AND (?4 IS NULL OR recipient = ?4)
               AND (?5 IS NULL OR created_at >= ?5) AND (?6 IS NULL OR created_at < ?6)
             ORDER BY created_at DESC, rowid DESC LIMIT ?7 OFFSET ?8"
        ))?;
        let rows = stmt.query_map(
            params![
                q.status,
                q.channel,
                q.enrollment_uid,
                q.recipient,
                q.since,
                q.until,
                limit,
                q.offset as i64
            ],
            row,
        )?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    /// The enrollments messages were sent for (each once).
    pub fn outbox_enrollment_uids(&self) -> Result<Vec<String>> {
        let mut stmt = self.conn().prepare(
            "SELECT DISTINCT enrollment_uid FROM outbox WHERE enrollment_uid IS NOT NULL ORDER BY 1",
        )?;
        let rows = stmt.query_map([], |r| r.get(0))?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    /// Queued messages due at `now` (UTC), oldest first, at most `limit`. A `next_attempt_at`
    /// more than a day ahead counts as due: the box clock jumped back, and a retry must not wait
    /// for it to catch up.
    pub fn due_outbox(&self, now: &str, day_ahead: &str, limit: usize) -> Result<Vec<OutboxRow>> {
        let mut stmt = self.conn().prepare_cached(&format!(
            "SELECT {COLUMNS} FROM outbox
             WHERE status = 'queued' AND (next_attempt_at IS NULL OR next_attempt_at <= ?1 OR next_attempt_at > ?2)
             ORDER BY created_at, rowid LIMIT ?3"
        ))?;
        let rows = stmt.query_map(params![now, day_ahead, limit as i64], row)?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    /// Messages in `sending` (for the crash check at start).
    pub fn sending_outbox(&self) -> Result<Vec<OutboxRow>> {
        let mut stmt = self.conn().prepare(&format!(
            "SELECT {COLUMNS} FROM outbox WHERE status = 'sending' ORDER BY created_at"
        ))?;
        let rows = stmt.query_map([], row)?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    /// Counts of messages per status.
    pub fn outbox_counts(&self) -> Result<Vec<(String, i64)>> {
        let mut stmt = self
            .conn()
            .prepare("SELECT status, count(*) FROM outbox GROUP BY status ORDER BY status")?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    /// Queued messages that were tried before (waiting for a retry).
    pub fn outbox_retrying(&self) -> Result<i64> {
        Ok(self.conn().query_row(
            "SELECT count(*) FROM outbox WHERE status = 'queued' AND attempts > 0",
            [],
            |r| r.get(0),
        )?)
    }

    /// Applies one state change if the row is in the state it leaves; audits it in the same
    /// transaction. Answers the row after the change, or `None` when the row was not in that
    /// state (another worker or a staff member got there first).
    pub fn change_outbox(
        &self,
        actor: &str,
        id: &str,
        change: &OutboxChange<'_>,
    ) -> Result<Option<OutboxRow>> {
        let tx = self.conn().unchecked_transaction()?;
        let Some(before) = self.outbox_row(id)? else {
            anyhow::bail!("no message {id} in the outbox");
        };
        let now = now_utc();
        let changed = match change {
            OutboxChange::Claim { holder } => tx.execute(
                "UPDATE outbox SET status = 'sending', attempts = attempts + 1, claimed_by = ?2, updated_at = ?3
                 WHERE id = ?1 AND status = 'queued'",
                params![id, holder, now],
            )?,
            OutboxChange::Accept { provider_id } => tx.execute(
                "UPDATE outbox SET status = 'accepted', provider_id = ?2, claimed_by = NULL, last_error = NULL,
                   retryable = NULL, next_attempt_at = NULL, updated_at = ?3, accepted_at = ?3
                 WHERE id = ?1 AND status = 'sending'",
                params![id, provider_id, now],
            )?,
            OutboxChange::Fail { reason, retryable } => tx.execute(
                "UPDATE outbox SET status = 'failed', last_error = ?2, retryable = ?3, claimed_by = NULL,
                   next_attempt_at = NULL, updated_at = ?4
                 WHERE id = ?1 AND status = 'sending'",
                params![id, reason, *retryable as i64, now],
            )?,
            OutboxChange::Requeue {
                reason,
                next_attempt_at,
                counts,
                mode,
                body,
            } => tx.execute(
                "UPDATE outbox SET status = 'queued', last_error = ?2, next_attempt_at = ?3, claimed_by = NULL,
                   attempts = attempts - ?4, mode = coalesce(?5, mode), body = coalesce(?7, body), updated_at = ?6
                 WHERE id = ?1 AND status = 'sending'",
                params![id, reason, next_attempt_at, (!counts) as i64, mode, now, body],
            )?,
            OutboxChange::Unknown { reason } => tx.execute(
                "UPDATE outbox SET status = 'unknown', last_error = ?2, updated_at = ?3
                 WHERE id = ?1 AND status = 'sending'",
                params![id, reason, now],
            )?,
            OutboxChange::Resend => tx.execute(
                "UPDATE outbox SET status = 'queued', next_attempt_at = NULL, claimed_by = NULL, retryable = NULL,
                   updated_at = ?2
                 WHERE id = ?1 AND status IN ('unknown', 'failed')",
                params![id, now],
            )?,
            OutboxChange::MarkSent => tx.execute(
                "UPDATE outbox SET status = 'accepted', claimed_by = NULL, updated_at = ?2, accepted_at = ?2,
                   last_error = 'marked sent by staff'
                 WHERE id = ?1 AND status = 'unknown'",
                params![id, now],
            )?,
        };
        if changed == 0 {
            return Ok(None);
        }
        let after = self
            .outbox_row(id)?
            .with_context(|| format!("message {id} vanished"))?;
        let summary = |r: &OutboxRow| {
            serde_json::json!({
                "status": r.status, "attempts": r.attempts, "provider_id": r.provider_id,
                "error": r.last_error, "retryable": r.retryable, "next_attempt_at": r.next_attempt_at,
            })
            .to_string()
        };
        self.audit(
            actor,
            change.action(),
            Some(&message_entity(id)),
            Some(&summary(&before)),
            Some(&summary(&after)),
        )?;
        tx.commit()?;
        Ok(Some(after))
    }

    /// The cached WhatsApp media ID of an image, if uploaded before.
    pub fn send_media(&self, phone_number_id: &str, image_sha256: &str) -> Result<Option<String>> {
        Ok(self
            .conn()
            .query_row(
                "SELECT media_id FROM send_media WHERE phone_number_id = ?1 AND image_sha256 = ?2",
                params![phone_number_id, image_sha256],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// Remembers the media ID of an uploaded image.
    pub fn save_send_media(
        &self,
        phone_number_id: &str,
        image_sha256: &str,
        media_id: &str,
    ) -> Result<()> {
        self.conn().execute(
            "INSERT INTO send_media(phone_number_id, image_sha256, media_id, uploaded_at) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT(phone_number_id, image_sha256) DO UPDATE SET media_id = excluded.media_id, uploaded_at = excluded.uploaded_at",
            params![phone_number_id, image_sha256, media_id, now_utc()],
        )?;
        Ok(())
    }

    /// Forgets a media ID the provider no longer knows.
    pub fn forget_send_media(&self, phone_number_id: &str, image_sha256: &str) -> Result<()> {
        self.conn().execute(
            "DELETE FROM send_media WHERE phone_number_id = ?1 AND image_sha256 = ?2",
            params![phone_number_id, image_sha256],
        )?;
        Ok(())
    }

    /// When `recipient` last wrote to the box's WhatsApp number (UTC), if known.
    pub fn last_inbound(&self, recipient: &str) -> Result<Option<String>> {
        Ok(self
            .conn()
            .query_row(
                "SELECT last_inbound_at FROM send_contacts WHERE recipient = ?1",
                params![recipient],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// Records an inbound message from `recipient` at `at` (UTC, the provider's time).
    pub fn record_inbound(&self, recipient: &str, at: &str) -> Result<()> {
        self.conn().execute(
            "INSERT INTO send_contacts(recipient, last_inbound_at) VALUES (?1, ?2)
             ON CONFLICT(recipient) DO UPDATE SET last_inbound_at = max(last_inbound_at, excluded.last_inbound_at)",
            params![recipient, at],
        )?;
        Ok(())
    }
}
