//! Sending cards: an outbox that survives being offline, drained by a worker to WhatsApp (Cloud
//! API) or SMS (DHIS2's `/api/sms/outbound` or a generic HTTP gateway). See docs/send.md.
//!
//! The public surface (stable: the page, the JSON API and the CLI all call these, one code path):
//! - [`queue_card`] (`&Store, &Actor, &SendRequest -> Result<Queued>`): checks the number, makes
//!   the message row (state `queued`) with a locally generated ID, before any network call;
//! - [`queue_bulk`] (`&BulkRequest -> Result<BulkQueued>`): the same for a program's selection;
//!   numbers that cannot be sent to are listed as refused with a reason, nothing is queued for them;
//! - [`log`] (`&LogFilter -> Result<Vec<OutboxEntry>>`) and [`entry`]: the distribution log;
//! - [`resolve_unknown`] (`message_id, Resolution::{Resend, MarkSent}`): the staff decision on a
//!   message caught mid-send by a crash (state `unknown`; never resent without it);
//! - [`flush`] (`&FlushOptions -> Result<FlushReport>`): one pass of the worker (what
//!   `kadi send flush` runs); [`OutboxWorker::spawn`] runs passes on a thread in `kadi serve`;
//! - [`channels`] (`-> Result<Vec<ChannelStatus>>`): which channels are configured, stopped, why;
//! - [`config::configure_whatsapp`], [`config::configure_sms`]: `kadi send config ...`.
//!
//! States: `queued -> sending -> accepted(provider id)`; `failed(reason, retryable)`; `unknown`.
//! `accepted` means the provider took the message ("accepted by WhatsApp"), never "delivered":
//! kadi has no webhook on an offline box, so `delivered`/`read` exist only for a provider that can
//! be polled. Every state change is one guarded update audited in the same transaction
//! (`store::outbox_data`).
pub mod bench;
pub mod config;
/// s11-w: what the send pages need (form, batches, log filters).
pub mod distribution;
pub mod outcome;
pub mod phone;
pub mod sms;
pub mod sms_text;
/// s11-w: Google Wallet save links.
pub mod wallet;
pub mod whatsapp;
pub mod worker;

pub use worker::{flush, FlushOptions, FlushReport, OutboxWorker};

use crate::actor::Actor;
use crate::store::outbox_data::{NewOutboxRow, OutboxChange, OutboxQuery, OutboxRow};
use crate::store::Store;
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

/// A way to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    /// WhatsApp Cloud API: the card image as a template message.
    Whatsapp,
    /// SMS: text saying where to collect the card.
    Sms,
}

impl Channel {
    /// The stored and typed name (`whatsapp`, `sms`).
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Whatsapp => "whatsapp",
            Channel::Sms => "sms",
        }
    }

    /// Reads `whatsapp` or `sms`.
    pub fn parse(s: &str) -> Result<Channel> {
        match s.trim().to_ascii_lowercase().as_str() {
            "whatsapp" => Ok(Channel::Whatsapp),
            "sms" => Ok(Channel::Sms),
            other => bail!("unknown channel {other:?}: use whatsapp or sms"),
        }
    }
}

/// A message's state, as the log shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Queued,
    Sending,
    Accepted,
    Delivered,
    Read,
    Failed,
    Unknown,
}

impl Status {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Queued => "queued",
            Status::Sending => "sending",
            Status::Accepted => "accepted",
            Status::Delivered => "delivered",
            Status::Read => "read",
            Status::Failed => "failed",
            Status::Unknown => "unknown",
        }
    }

    /// Reads a stored name.
    pub fn parse(s: &str) -> Result<Status> {
        Ok(match s {
            "queued" => Status::Queued,
            "sending" => Status::Sending,
            "accepted" => Status::Accepted,
            "delivered" => Status::Delivered,
            "read" => Status::Read,
            "failed" => Status::Failed,
            "unknown" => Status::Unknown,
            other => bail!("unknown message status {other:?}"),
        })
    }
}

/// Send one enrollment's card.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SendRequest {
    /// The enrollment whose card is sent.
    pub enrollment_uid: String,
    pub channel: Channel,
    /// Custom text (`Hello {first_name}`, card fields in braces). SMS: the whole message
    /// (default: where to collect the card). WhatsApp: free-form text only inside the 24 h
    /// window; otherwise the template is sent and this text is not.
    #[serde(default)]
    pub message: Option<String>,
    /// Another number than the record's (typed by staff); normalised and checked the same way.
    #[serde(default)]
    pub phone: Option<String>,
}

/// A message made by [`queue_card`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Queued {
    /// The locally generated ID (idempotency key) that names the message everywhere.
    pub message_id: String,
    pub status: Status,
    pub channel: Channel,
    /// E.164.
    pub recipient: String,
    pub enrollment_uid: String,
}

/// Why a card could not be queued (no number, invalid number, unknown enrollment...).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Refused {
    pub enrollment_uid: String,
    pub reason: String,
}

/// The error [`queue_card`] returns when it refuses (the page shows `reason`; the API answers 422).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendRefused(pub Refused);

impl std::fmt::Display for SendRefused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "cannot send the card of enrollment {}: {}",
            self.0.enrollment_uid, self.0.reason
        )
    }
}

impl std::error::Error for SendRefused {}

/// Send the cards of a program (optionally one org unit, or a chosen list of enrollments).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct BulkRequest {
    pub program_uid: String,
    /// Only records of this org unit (UID or name as stored in the card's `org_unit`).
    #[serde(default)]
    pub org_unit: Option<String>,
    /// Only these enrollments (a selection on the page); empty: all of the program.
    #[serde(default)]
    pub enrollment_uids: Vec<String>,
    pub channel: Option<Channel>,
    #[serde(default)]
    pub message: Option<String>,
}

/// What [`queue_bulk`] queued and refused.
#[derive(Debug, Clone, Default, Serialize)]
pub struct BulkQueued {
    pub queued: Vec<Queued>,
    pub refused: Vec<Refused>,
}

/// Which messages [`log`] lists.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct LogFilter {
    #[serde(default)]
    pub status: Option<Status>,
    #[serde(default)]
    pub channel: Option<Channel>,
    #[serde(default)]
    pub enrollment_uid: Option<String>,
    /// E.164 or as typed (normalised for the configured country).
    #[serde(default)]
    pub recipient: Option<String>,
    /// Created at or after (UTC, ISO 8601).
    #[serde(default)]
    pub since: Option<String>,
    /// Created before (UTC, ISO 8601).
    #[serde(default)]
    pub until: Option<String>,
    /// At most this many (0: 1000), newest first.
    #[serde(default)]
    pub limit: usize,
    /// Skip this many matching messages (newest first) before the first one listed.
    #[serde(default)]
    pub offset: usize,
}

/// One message in the distribution log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OutboxEntry {
    pub message_id: String,
    pub channel: Channel,
    pub recipient: String,
    pub enrollment_uid: Option<String>,
    pub status: Status,
    /// What the page says, honestly: "accepted by WhatsApp", never "delivered".
    pub status_words: String,
    pub provider_id: Option<String>,
    pub attempts: i64,
    /// Set for `failed`: whether a resend may succeed.
    pub retryable: Option<bool>,
    pub error: Option<String>,
    /// `queued` after a failed attempt: not before this UTC time.
    pub next_attempt_at: Option<String>,
    pub queued_by: String,
    pub created_at: String,
    pub updated_at: String,
    pub accepted_at: Option<String>,
}

/// The staff decision on an `unknown` message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Resolution {
    /// Queue it again (the staff member checked it did not arrive). Also allowed on `failed`.
    Resend,
    /// Count it as sent (the recipient has it).
    MarkSent,
}

/// A channel's configuration state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChannelStatus {
    pub channel: Channel,
    pub configured: bool,
    /// Why the worker stopped this channel (token expired, template rejected...), until it is
    /// configured again.
    pub stopped: Option<String>,
}

/// A new message ID: `m` and 20 hex digits from the system's random source (80 bits: unique
/// across boxes without coordination).
pub fn new_message_id() -> Result<String> {
    let bytes: [u8; 10] = crate::secret::random_bytes()?;
    Ok(format!("m{}", crate::secret::hex(&bytes)))
}

/// Fills `{field}` placeholders of `text` with the card's fields (`first_name`, `full_name`,
/// `mpi_id`, `health_center`, ...); an unknown or empty field becomes empty text.
pub fn fill_placeholders(text: &str, card: &crate::store::records::ResolvedCard) -> String {
    let mut out = String::with_capacity(text.len() + 32);
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        match after.find('}') {
            Some(close)
                if after[..close]
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_') =>
            {
                out.push_str(&field_value(card, &after[..close]));
                rest = &after[close + 1..];
            }
            _ => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// One card field's value for messages (`full_name`, `mpi_id` and the record's fields).
pub fn field_value(card: &crate::store::records::ResolvedCard, field: &str) -> String {
    let f = &card.record.fields;
    match field {
        "full_name" => f.full_name(),
        "mpi_id" => card.mpi_id.clone().unwrap_or_default(),
        other => f.get(other).unwrap_or_default().trim().to_string(),
    }
}

/// Queues the card of one enrollment: refuses (with [`SendRefused`]) an unknown enrollment, a
/// missing or invalid number, or an unconfigured channel; otherwise makes the message row.
pub fn queue_card(store: &Store, actor: &Actor, req: &SendRequest) -> Result<Queued> {
    let settings = config::load(store)?;
    let card = store.card_record(&req.enrollment_uid)?;
    let prepared = prepare(&settings, store, card.as_ref(), req).map_err(|reason| {
        anyhow::Error::new(SendRefused(Refused {
            enrollment_uid: req.enrollment_uid.clone(),
            reason,
        }))
    })?;
    insert(store, actor, req, &prepared)
}

/// What a message row will hold, decided before it is made.
struct Prepared {
    recipient: String,
    mode: &'static str,
    body: String,
}

fn prepare(
    settings: &config::SendSettings,
    store: &Store,
    card: Option<&crate::store::records::ResolvedCard>,
    req: &SendRequest,
) -> std::result::Result<Prepared, String> {
    let Some(card) = card else {
        return Err("no card record for this enrollment (sync it first)".into());
    };
    if !settings.configured(req.channel) {
        return Err(format!(
            "the {} channel is not configured: run `kadi send config {}`",
            req.channel.as_str(),
            req.channel.as_str()
        ));
    }
    let raw = req
        .phone
        .as_deref()
        .or(card.record.fields.phone_number.as_deref())
        .unwrap_or("");
    let recipient = phone::normalize(raw, &settings.country)?;
    let custom = req
        .message
        .as_deref()
        .map(str::trim)
        .filter(|m| !m.is_empty());
    match req.channel {
        Channel::Sms => {
            let text = fill_placeholders(custom.unwrap_or(&settings.sms_text()), card);
            if text.trim().is_empty() {
                return Err("the message is empty".into());
            }
            Ok(Prepared {
                recipient,
                mode: "text",
                body: text,
            })
        }
        Channel::Whatsapp => {
            let in_window = store
                .last_inbound(&recipient)
                .ok()
                .flatten()
                .and_then(|at| crate::clock::parse_utc(&at))
                .is_some_and(|at| chrono::Utc::now() - at < chrono::Duration::hours(23));
            match custom {
                // Free-form text only inside the 24 h customer service window (with an hour
                // of margin for the time the message may wait in the outbox).
                Some(text) if in_window => Ok(Prepared {
                    recipient,
                    mode: "text",
                    body: fill_placeholders(text, card),
                }),
                _ => Ok(Prepared {
                    recipient,
                    mode: "template",
                    body: whatsapp_params(settings, card),
                }),
            }
        }
    }
}

/// The template's body parameters (JSON array of strings) from the configured card fields.
pub(crate) fn whatsapp_params(
    settings: &config::SendSettings,
    card: &crate::store::records::ResolvedCard,
) -> String {
    let fields = settings
        .whatsapp
        .as_ref()
        .map(|w| w.body_fields.clone())
        .unwrap_or_default();
    let values: Vec<String> = fields
        .iter()
        .map(|f| {
            let v = field_value(card, f);
            // WhatsApp refuses an empty parameter (132000-series): say so instead.
            if v.is_empty() {
                "-".to_string()
            } else {
                v
            }
        })
        .collect();
    serde_json::to_string(&values).unwrap_or_else(|_| "[]".into())
}

fn insert(store: &Store, actor: &Actor, req: &SendRequest, p: &Prepared) -> Result<Queued> {
    let id = new_message_id()?;
    let row = store.insert_outbox(
        actor.as_str(),
        &NewOutboxRow {
            id: &id,
            channel: req.channel.as_str(),
            recipient: &p.recipient,
            enrollment_uid: Some(&req.enrollment_uid),
            mode: p.mode,
            body: &p.body,
        },
    )?;
    Ok(Queued {
        message_id: row.id,
        status: Status::Queued,
        channel: req.channel,
        recipient: row.recipient,
        enrollment_uid: req.enrollment_uid.clone(),
    })
}

/// Queues the cards of a program's records (or of a selection): each refused one is listed with
/// its reason and queues nothing.
pub fn queue_bulk(store: &Store, actor: &Actor, req: &BulkRequest) -> Result<BulkQueued> {
    store.require_program(&req.program_uid)?;
    let Some(channel) = req.channel else {
        bail!("choose a channel: whatsapp or sms");
    };
    let settings = config::load(store)?;
    let mut cards = store.card_records(&req.program_uid)?;
    if !req.enrollment_uids.is_empty() {
        let wanted: std::collections::HashSet<&str> =
            req.enrollment_uids.iter().map(String::as_str).collect();
        cards.retain(|c| wanted.contains(c.record.enrollment_uid.as_str()));
    }
    if let Some(ou) = req.org_unit.as_deref() {
        cards.retain(|c| {
            let f = &c.record.fields;
            f.org_unit.as_deref() == Some(ou) || f.health_center.as_deref() == Some(ou)
        });
    }
    let mut out = BulkQueued::default();
    for card in &cards {
        let one = SendRequest {
            enrollment_uid: card.record.enrollment_uid.clone(),
            channel,
            message: req.message.clone(),
            phone: None,
        };
        match prepare(&settings, store, Some(card), &one) {
            Ok(p) => out.queued.push(insert(store, actor, &one, &p)?),
            Err(reason) => out.refused.push(Refused {
                enrollment_uid: one.enrollment_uid,
                reason,
            }),
        }
    }
    Ok(out)
}

/// The words the page shows for a state: honest about what the provider said.
pub fn status_words(channel: Channel, status: Status) -> String {
    let provider = match channel {
        Channel::Whatsapp => "WhatsApp",
        Channel::Sms => "the SMS gateway",
    };
    match status {
        Status::Queued => "waiting to be sent".into(),
        Status::Sending => "being sent".into(),
        Status::Accepted => format!("accepted by {provider}"),
        Status::Delivered => "delivered to the phone".into(),
        Status::Read => "read".into(),
        Status::Failed => "not sent".into(),
        Status::Unknown => "maybe sent: check with the recipient, then resend or mark sent".into(),
    }
}

fn to_entry(r: OutboxRow) -> Result<OutboxEntry> {
    let channel = Channel::parse(&r.channel)?;
    let status = Status::parse(&r.status)?;
    Ok(OutboxEntry {
        message_id: r.id,
        channel,
        recipient: r.recipient,
        enrollment_uid: r.enrollment_uid,
        status,
        status_words: status_words(channel, status),
        provider_id: r.provider_id,
        attempts: r.attempts,
        retryable: r.retryable,
        error: r.last_error,
        next_attempt_at: r.next_attempt_at,
        queued_by: r.queued_by,
        created_at: r.created_at,
        updated_at: r.updated_at,
        accepted_at: r.accepted_at,
    })
}

/// The distribution log: messages matching `filter`, newest first.
pub fn log(store: &Store, filter: &LogFilter) -> Result<Vec<OutboxEntry>> {
    let recipient = match filter.recipient.as_deref() {
        Some(raw) => {
            let country = config::load(store)?.country;
            Some(phone::normalize(raw, &country).unwrap_or_else(|_| raw.trim().to_string()))
        }
        None => None,
    };
    let rows = store.outbox_rows(&OutboxQuery {
        status: filter.status.map(Status::as_str),
        channel: filter.channel.map(Channel::as_str),
        enrollment_uid: filter.enrollment_uid.as_deref(),
        recipient: recipient.as_deref(),
        since: filter.since.as_deref(),
        until: filter.until.as_deref(),
        limit: filter.limit,
        offset: filter.offset,
    })?;
    rows.into_iter().map(to_entry).collect()
}

/// One message by ID.
pub fn entry(store: &Store, message_id: &str) -> Result<Option<OutboxEntry>> {
    store.outbox_row(message_id)?.map(to_entry).transpose()
}

/// Applies a staff decision to a message: `Resend` an `unknown` or `failed` one, `MarkSent` an
/// `unknown` one. Refuses any other state (a message being sent or accepted is not touched).
pub fn resolve_unknown(
    store: &Store,
    actor: &Actor,
    message_id: &str,
    resolution: Resolution,
) -> Result<OutboxEntry> {
    let before = store
        .outbox_row(message_id)?
        .with_context(|| format!("no message {message_id} in the outbox"))?;
    let change = match resolution {
        Resolution::Resend => OutboxChange::Resend,
        Resolution::MarkSent => OutboxChange::MarkSent,
    };
    match store.change_outbox(actor.as_str(), message_id, &change)? {
        Some(after) => to_entry(after),
        None => bail!(
            "message {message_id} is {}: only an unknown message can be marked sent, and only an unknown or failed one resent",
            before.status
        ),
    }
}

/// Which channels are configured and whether the worker stopped one (and why).
pub fn channels(store: &Store) -> Result<Vec<ChannelStatus>> {
    let settings = config::load(store)?;
    [Channel::Whatsapp, Channel::Sms]
        .into_iter()
        .map(|c| {
            Ok(ChannelStatus {
                channel: c,
                configured: settings.configured(c),
                stopped: config::stopped(store, c)?,
            })
        })
        .collect()
}
