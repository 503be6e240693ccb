//! What the send pages need on top of the outbox (part s11-w): the send form's facts (the
//! number as it will be dialled, or why it cannot be), a selection queued as one *batch* whose
//! progress a task page follows, and the distribution log with the page's filters (channel,
//! status, dates, health centre). Everything goes through the outbox's own calls
//! ([`super::queue_card`], [`super::queue_bulk`], [`super::log`]); nothing here sends.
//!
//! A batch is remembered in the `settings` table (`send.batch.<id>`: who, when, the channel and
//! the message IDs) so no schema is needed; its progress is read from the messages' states, so
//! it is exactly what the log says.
use super::{config, phone, BulkRequest, Channel, LogFilter, OutboxEntry, Refused, Status};
use crate::actor::Actor;
use crate::cards::EnrollmentFilter;
use crate::store::Store;
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

/// The default message of the send form (`{field}` filled from the card).
pub const DEFAULT_MESSAGE: &str =
    "Hello {first_name}, here is your health card. Keep this message and show it at {health_center}.";

/// Most people one batch may queue (a day's distribution; larger ones are split by date).
pub const MAX_BATCH: usize = 5_000;

/// What the send form shows for one card.
#[derive(Debug, Clone, Serialize)]
pub struct SendForm {
    pub enrollment_uid: String,
    pub full_name: String,
    /// The record's phone number as synced.
    pub phone_raw: Option<String>,
    /// The number as it will be dialled (E.164), when it can be.
    pub phone_e164: Option<String>,
    /// Why the record's number cannot be used (shown before anyone presses Send).
    pub phone_problem: Option<String>,
    /// The default message with the card's fields filled in (editable).
    pub message: String,
    /// Configured channels (`whatsapp`, `sms`); an unconfigured one is shown disabled.
    pub configured: Vec<&'static str>,
}

/// The send form of `enrollment_uid` (`None`: no such card).
pub fn send_form(store: &Store, enrollment_uid: &str) -> Result<Option<SendForm>> {
    let Some(card) = store.card_record(enrollment_uid)? else {
        return Ok(None);
    };
    let settings = config::load(store)?;
    let raw = card
        .record
        .fields
        .phone_number
        .clone()
        .filter(|p| !p.trim().is_empty());
    let (phone_e164, phone_problem) = match raw.as_deref() {
        None => (None, Some("this record has no phone number".to_string())),
        Some(r) => match phone::normalize(r, &settings.country) {
            Ok(n) => (Some(n), None),
            Err(why) => (None, Some(why)),
        },
    };
    let configured = [Channel::Whatsapp, Channel::Sms]
        .into_iter()
        .filter(|c| settings.configured(*c))
        .map(Channel::as_str)
        .collect();
    Ok(Some(SendForm {
        enrollment_uid: enrollment_uid.to_string(),
        full_name: card.record.fields.full_name(),
        phone_raw: raw,
        phone_e164,
        phone_problem,
        message: super::fill_placeholders(DEFAULT_MESSAGE, &card),
        configured,
    }))
}

/// Who a bulk send goes to: a program's cards narrowed by a search result, a health centre (with
/// the clinics under it) and enrollment dates — the print sheets' selection.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    pub program_uid: String,
    pub org_unit: Option<String>,
    pub enrolled_from: Option<String>,
    pub enrolled_to: Option<String>,
    /// Only these enrollments (a search result); `None`: no search.
    pub enrollment_uids: Option<Vec<String>>,
}

/// A refusal the page shows as is (nobody selected, too many, no channel).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchRefused(pub String);

impl std::fmt::Display for BatchRefused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BatchRefused {}

/// A batch as remembered (`send.batch.<id>`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BatchRecord {
    pub batch_id: String,
    pub created_at: String,
    pub created_by: String,
    pub channel: Channel,
    pub message_ids: Vec<String>,
    pub refused: Vec<RefusedLine>,
}

/// One card of a batch that was not queued, and why.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RefusedLine {
    pub enrollment_uid: String,
    pub reason: String,
}

impl From<Refused> for RefusedLine {
    fn from(r: Refused) -> Self {
        RefusedLine {
            enrollment_uid: r.enrollment_uid,
            reason: r.reason,
        }
    }
}

fn batch_key(id: &str) -> String {
    format!("send.batch.{id}")
}

/// The enrollments a selection names (the same query as card generation).
pub fn selected_enrollments(store: &Store, sel: &Selection) -> Result<Vec<String>> {
    let filter = EnrollmentFilter {
        enrollment_date_from: sel.enrolled_from.clone(),
        enrollment_date_to: sel.enrolled_to.clone(),
        org_unit: sel.org_unit.clone(),
        enrollment_status: None,
        enrollment_uids: sel.enrollment_uids.clone(),
    };
    Ok(store
        .cards_to_generate(&sel.program_uid, &filter.card_filter())?
        .into_iter()
        .map(|c| c.record.enrollment_uid)
        .collect())
}

/// Queues the card of everyone in `sel` on `channel` as one batch; numbers that cannot be used
/// are listed as refused. Nobody selected (or more than [`MAX_BATCH`]) queues nothing.
pub fn send_selection(
    store: &Store,
    actor: &Actor,
    sel: &Selection,
    channel: Channel,
    message: Option<String>,
) -> Result<BatchRecord> {
    let uids = selected_enrollments(store, sel)?;
    if uids.is_empty() {
        // Never hand the outbox an empty list: for it, that means the whole program.
        return Err(BatchRefused("nobody matches this selection".into()).into());
    }
    if uids.len() > MAX_BATCH {
        return Err(BatchRefused(format!(
            "{} people match: at most {MAX_BATCH} a batch (narrow the dates or the health centre)",
            uids.len()
        ))
        .into());
    }
    let queued = super::queue_bulk(
        store,
        actor,
        &BulkRequest {
            program_uid: sel.program_uid.clone(),
            org_unit: None,
            enrollment_uids: uids,
            channel: Some(channel),
            message,
        },
    )?;
    let record = BatchRecord {
        batch_id: format!(
            "b{}",
            crate::secret::hex(&crate::secret::random_bytes::<8>()?)
        ),
        created_at: crate::store::now_utc(),
        created_by: actor.as_str().to_string(),
        channel,
        message_ids: queued.queued.into_iter().map(|q| q.message_id).collect(),
        refused: queued.refused.into_iter().map(RefusedLine::from).collect(),
    };
    store.set_setting(
        actor.as_str(),
        &batch_key(&record.batch_id),
        &serde_json::to_string(&record)?,
    )?;
    Ok(record)
}

/// Where a batch stands, from its messages' states now.
#[derive(Debug, Clone, Serialize)]
pub struct BatchProgress {
    #[serde(flatten)]
    pub record: BatchRecord,
    /// Messages queued in the batch.
    pub total: usize,
    pub waiting: usize,
    pub accepted: usize,
    pub failed: usize,
    pub unknown: usize,
    /// Messages with a final answer (accepted, delivered, read, failed) or waiting on staff (unknown).
    pub finished: usize,
    /// `finished` of `total`, in percent (100 for an empty batch).
    pub progress: u32,
}

/// The progress of batch `id` (`None`: no such batch).
pub fn batch_progress(store: &Store, id: &str) -> Result<Option<BatchProgress>> {
    if !id.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Ok(None);
    }
    let Some(json) = store.setting(&batch_key(id))? else {
        return Ok(None);
    };
    let record: BatchRecord =
        serde_json::from_str(&json).with_context(|| format!("batch {id} is damaged"))?;
    let (mut waiting, mut accepted, mut failed, mut unknown) = (0, 0, 0, 0);
    for mid in &record.message_ids {
        match super::entry(store, mid)?.map(|e| e.status) {
            Some(Status::Queued | Status::Sending) | None => waiting += 1,
            Some(Status::Accepted | Status::Delivered | Status::Read) => accepted += 1,
            Some(Status::Failed) => failed += 1,
            Some(Status::Unknown) => unknown += 1,
        }
    }
    let total = record.message_ids.len();
    let finished = total - waiting;
    let progress = (finished * 100).checked_div(total).unwrap_or(100) as u32;
    Ok(Some(BatchProgress {
        record,
        total,
        waiting,
        accepted,
        failed,
        unknown,
        finished,
        progress,
    }))
}

/// The distribution log's filters as the page offers them (all optional).
#[derive(Debug, Clone, Default)]
pub struct LogView {
    pub channel: Option<Channel>,
    pub status: Option<Status>,
    /// Queued on or after this day (`YYYY-MM-DD`, UTC).
    pub from: Option<String>,
    /// Queued on or before this day.
    pub to: Option<String>,
    /// The card's health centre (as the card shows it), exact.
    pub health_center: Option<String>,
    /// Only this message.
    pub message_id: Option<String>,
}

/// One line of the distribution log: the message and whose card it carried.
#[derive(Debug, Clone, Serialize)]
pub struct LogLine {
    #[serde(flatten)]
    pub entry: OutboxEntry,
    pub full_name: Option<String>,
    pub health_center: Option<String>,
}

/// Most lines the log shows at once.
pub const MAX_LOG_LINES: usize = 1000;

/// The log with the page's filters, newest first (at most [`MAX_LOG_LINES`] lines). Channel,
/// status and both dates are applied in SQL, so a busy box's newest thousand messages never hide
/// an older day; the health centre (a card field) is applied page by page over the rest.
pub fn log_lines(store: &Store, view: &LogView) -> Result<Vec<LogLine>> {
    let mut cards = Cards::new();
    if let Some(id) = &view.message_id {
        return super::entry(store, id)?
            .into_iter()
            .map(|e| line(store, &mut cards, e))
            .collect();
    }
    let until = match &view.to {
        Some(to) => {
            let day = chrono::NaiveDate::parse_from_str(to, "%Y-%m-%d")
                .with_context(|| format!("the log's \"to\" date {to:?} is not YYYY-MM-DD"))?;
            let next = day
                .succ_opt()
                .context("the log's \"to\" date is the last day")?;
            Some(format!("{}T00:00:00Z", next.format("%Y-%m-%d")))
        }
        None => None,
    };
    let mut filter = LogFilter {
        status: view.status,
        channel: view.channel,
        since: view.from.as_ref().map(|d| format!("{d}T00:00:00Z")),
        until,
        limit: MAX_LOG_LINES,
        ..Default::default()
    };
    let mut out = Vec::new();
    loop {
        let entries = super::log(store, &filter)?;
        let last_page = entries.len() < filter.limit;
        for entry in entries {
            let l = line(store, &mut cards, entry)?;
            if view
                .health_center
                .as_ref()
                .is_some_and(|hc| l.health_center.as_ref() != Some(hc))
            {
                continue;
            }
            out.push(l);
            if out.len() == MAX_LOG_LINES {
                return Ok(out);
            }
        }
        if last_page {
            return Ok(out);
        }
        filter.offset += filter.limit;
    }
}

/// Whose card a message carried: (full name, health centre) by enrollment, each card read once
/// per log (a busy day sends many messages to few people).
type Cards = std::collections::HashMap<String, Option<(String, Option<String>)>>;

/// A message with whose card it carried.
fn line(store: &Store, cards: &mut Cards, entry: OutboxEntry) -> Result<LogLine> {
    let card = match &entry.enrollment_uid {
        Some(uid) => match cards.get(uid) {
            Some(c) => c.clone(),
            None => {
                let c = store.card_record(uid)?.map(|c| {
                    let f = c.record.fields;
                    (f.full_name(), f.health_center)
                });
                cards.insert(uid.clone(), c.clone());
                c
            }
        },
        None => None,
    };
    let (full_name, health_center) = match card {
        Some((name, hc)) => (Some(name), hc),
        None => (None, None),
    };
    Ok(LogLine {
        entry,
        full_name,
        health_center,
    })
}

/// The health centres the log's filter offers: those of every card a message was sent for.
pub fn log_health_centers(store: &Store) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for uid in store.outbox_enrollment_uids()? {
        if let Some(hc) = store
            .card_record(&uid)?
            .and_then(|c| c.record.fields.health_center)
        {
            out.push(hc);
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}
