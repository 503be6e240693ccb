//! The outbox worker: one pass ([`flush`], what `kadi send flush` runs) and the thread of `kadi
//! serve` that runs passes while the box is up ([`OutboxWorker`]).
//!
//! A pass first turns every `sending` row whose holder process is gone (a crash, a power cut, a
//! `kill -9` mid-send) into `unknown`: the request may have reached the provider, and WhatsApp
//! has no idempotency key, so only a person may decide to send it again. Then it sends what is
//! due, oldest first, and for each message:
//! 1. prepares what needs no claim (card image rendered, uploaded once per image hash);
//! 2. claims the row (`queued -> sending`, committed with `synchronous = FULL` before any byte
//!    of the message leaves);
//! 3. sends, and records the outcome ([`super::outcome::Outcome`]).
//!
//! Pacing: at most `per_second` messages per channel, at least `per_number_ms` between two
//! messages to one number (WhatsApp's pair rate limit), `Retry-After` honoured for the channel
//! (429, 130429) or the number (131056), and a failed attempt retried after a jittered
//! exponential backoff (5 s doubling up to an hour, times 0.5-1.5). A channel that cannot be
//! reached is left alone for the rest of the pass (its messages stay `queued`, attempt not
//! counted); one that needs a person (expired token, rejected template, no DHIS2 gateway) is
//! stopped and alerted until it is configured again.
use super::config::{self, SendSettings};
use super::outcome::{Outcome, Scope};
use super::whatsapp::WhatsappClient;
use super::Channel;
use crate::actor::Actor;
use crate::store::outbox_data::{OutboxChange, OutboxRow};
use crate::store::Store;
use anyhow::{Context, Result};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How a pass runs.
#[derive(Debug, Clone, Default)]
pub struct FlushOptions {
    /// Who the audit rows name (default: the command line).
    pub actor: Option<Actor>,
    /// End the pass after this long (None: when nothing more can be sent soon).
    pub max_duration: Option<Duration>,
    /// Longest wait inside a pass for pacing or a channel pause (default 10 s); anything
    /// further off is left for a later pass.
    pub max_wait: Option<Duration>,
}

/// What a pass did, and what is left.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct FlushReport {
    /// Messages the provider accepted in this pass.
    pub accepted: u64,
    /// Messages that failed for good in this pass.
    pub failed: u64,
    /// Messages waiting for a retry after this pass (tried before, still queued).
    pub retrying: u64,
    /// Messages in `unknown` after this pass (found mid-send, or no answer): staff decide.
    pub unknown: u64,
    /// Messages in `unknown` that this pass found mid-send after a crash.
    pub recovered_unknown: u64,
    /// Messages still queued after this pass (retrying included).
    pub queued: u64,
    /// Channels that could not be reached in this pass.
    pub offline: Vec<String>,
    /// Channels stopped (with the reason): a person must act.
    pub stopped: Vec<String>,
}

/// The holder of rows this process claims: boot, PID and the PID's start time, so a PID reused
/// after a reboot or a crash is not mistaken for the sender.
pub fn this_holder() -> String {
    let pid = std::process::id();
    format!(
        "{}:{pid}:{}",
        crate::clock::boot_id().unwrap_or_default(),
        process_start(pid).unwrap_or(0)
    )
}

/// `/proc/PID/stat` field 22: clock ticks since boot when the process started.
fn process_start(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces: count from its closing parenthesis.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// Whether the process that claimed a row is still running.
pub fn holder_is_live(holder: &str) -> bool {
    let mut it = holder.split(':');
    let (Some(boot), Some(pid), Some(start)) = (it.next(), it.next(), it.next()) else {
        return false;
    };
    if crate::clock::boot_id().unwrap_or_default() != boot {
        return false;
    }
    let (Ok(pid), Ok(start)) = (pid.parse::<u32>(), start.parse::<u64>()) else {
        return false;
    };
    process_start(pid) == Some(start)
}

/// Jittered exponential backoff after `attempts` tries: 5 s doubling, at most an hour, times a
/// random factor in [0.5, 1.5) so a hundred messages failing together do not retry together.
pub fn backoff(attempts: i64) -> Duration {
    let base = 5u64.saturating_mul(1u64 << attempts.clamp(1, 20).saturating_sub(1) as u32);
    let base = base.min(3600) as f64;
    let r: [u8; 2] = crate::secret::random_bytes().unwrap_or([128, 0]);
    let jitter = 0.5 + f64::from(u16::from_le_bytes(r)) / 65536.0;
    Duration::from_secs_f64(base * jitter)
}

fn utc_after(d: Duration) -> String {
    let t = chrono::Utc::now()
        + chrono::Duration::milliseconds(d.as_millis().min(i64::MAX as u128) as i64);
    crate::clock::format_utc(t)
}

/// One pass over the outbox (see the module doc).
pub fn flush(store: &Store, opts: &FlushOptions) -> Result<FlushReport> {
    let mut pass = Pass::new(store, opts)?;
    pass.recover()?;
    pass.run()?;
    pass.finish()
}

struct Pass<'a> {
    store: &'a Store,
    settings: SendSettings,
    actor: Actor,
    holder: String,
    deadline: Option<Instant>,
    max_wait: Duration,
    number_next: HashMap<String, Instant>,
    channel_next: HashMap<Channel, Instant>,
    /// Channels not tried again in this pass, and why.
    blocked: HashMap<Channel, String>,
    whatsapp: Option<WhatsappClient>,
    dhis2: Option<crate::dhis2::Client>,
    report: FlushReport,
}

impl<'a> Pass<'a> {
    fn new(store: &'a Store, opts: &FlushOptions) -> Result<Pass<'a>> {
        let settings = config::load(store)?;
        let mut blocked = HashMap::new();
        let mut report = FlushReport::default();
        for ch in [Channel::Whatsapp, Channel::Sms] {
            if let Some(reason) = config::stopped(store, ch)? {
                report.stopped.push(format!("{}: {reason}", ch.as_str()));
                blocked.insert(ch, reason);
            } else if !settings.configured(ch) {
                blocked.insert(ch, "not configured".into());
            }
        }
        Ok(Pass {
            store,
            settings,
            actor: opts.actor.clone().unwrap_or(Actor::Cli),
            holder: this_holder(),
            deadline: opts.max_duration.map(|d| Instant::now() + d),
            max_wait: opts.max_wait.unwrap_or(Duration::from_secs(10)),
            number_next: HashMap::new(),
            channel_next: HashMap::new(),
            blocked,
            whatsapp: None,
            dhis2: None,
            report,
        })
    }

    /// `sending` rows of a dead holder become `unknown`.
    fn recover(&mut self) -> Result<()> {
        for row in self.store.sending_outbox()? {
            let live = row.claimed_by.as_deref().is_some_and(holder_is_live);
            if live {
                continue;
            }
            let reason = "found mid-send: the process sending it stopped (crash, power cut or kill) before the provider answered; it may have been delivered: check with the recipient, then resend or mark sent";
            if self
                .store
                .change_outbox(
                    self.actor.as_str(),
                    &row.id,
                    &OutboxChange::Unknown { reason },
                )?
                .is_some()
            {
                self.report.recovered_unknown += 1;
            }
        }
        Ok(())
    }

    fn out_of_time(&self) -> bool {
        self.deadline.is_some_and(|d| Instant::now() >= d)
    }

    fn run(&mut self) -> Result<()> {
        loop {
            if self.out_of_time() {
                return Ok(());
            }
            let now = crate::store::now_utc();
            let day_ahead = utc_after(Duration::from_secs(86_400));
            let due = self.store.due_outbox(&now, &day_ahead, 500)?;
            let mut sent_any = false;
            let mut wake: Option<Instant> = None;
            for row in &due {
                if self.out_of_time() {
                    return Ok(());
                }
                let ch = Channel::parse(&row.channel)?;
                if self.blocked.contains_key(&ch) {
                    continue;
                }
                let now = Instant::now();
                if let Some(&t) = self.channel_next.get(&ch) {
                    if t > now {
                        if t - now <= self.max_wait {
                            std::thread::sleep(t - now);
                        } else {
                            wake = Some(wake.map_or(t, |w| w.min(t)));
                            continue;
                        }
                    }
                }
                if let Some(&t) = self.number_next.get(&row.recipient) {
                    if t > Instant::now() {
                        wake = Some(wake.map_or(t, |w| w.min(t)));
                        continue;
                    }
                }
                self.attempt(row, ch)?;
                sent_any = true;
            }
            if !sent_any {
                let now = Instant::now();
                match wake {
                    Some(t) if t.saturating_duration_since(now) <= self.max_wait => {
                        std::thread::sleep(t.saturating_duration_since(now))
                    }
                    _ => return Ok(()),
                }
            }
        }
    }

    fn finish(mut self) -> Result<FlushReport> {
        for (status, n) in self.store.outbox_counts()? {
            match status.as_str() {
                "queued" => self.report.queued = n as u64,
                "unknown" => self.report.unknown = n as u64,
                _ => {}
            }
        }
        self.report.retrying = self.store.outbox_retrying()? as u64;
        Ok(self.report)
    }

    fn attempt(&mut self, row: &OutboxRow, ch: Channel) -> Result<()> {
        let answer = Duration::from_millis(self.settings.pacing.timeout_ms);
        let per_second = self.settings.pacing.per_second.max(1);
        self.channel_next.insert(
            ch,
            Instant::now() + Duration::from_secs_f64(1.0 / f64::from(per_second)),
        );
        match ch {
            Channel::Whatsapp => self.attempt_whatsapp(row, answer),
            Channel::Sms => self.attempt_sms(row, answer),
        }
    }

    fn attempt_whatsapp(&mut self, row: &OutboxRow, answer: Duration) -> Result<()> {
        let Some(cfg) = self.settings.whatsapp.clone() else {
            return Ok(());
        };
        if self.whatsapp.is_none() {
            match config::whatsapp_token(self.store) {
                Ok(token) => self.whatsapp = Some(WhatsappClient::new(&cfg, &token, answer)),
                Err(e) => {
                    return self.stop(Channel::Whatsapp, &format!("{e:#}"));
                }
            }
        }
        let template = row.mode == "template";
        // Before the claim: nothing in these steps reaches the recipient.
        let media = if template {
            match self.media_for(row, &cfg) {
                Ok(m) => Some(m),
                Err(outcome) => return self.unclaimed(row, Channel::Whatsapp, outcome),
            }
        } else {
            None
        };
        if !self.claim(row)? {
            return Ok(());
        }
        let Some(client) = self.whatsapp.as_ref() else {
            return Ok(());
        };
        let outcome = match media {
            Some(media_id) => {
                let params: Vec<String> = serde_json::from_str(&row.body).unwrap_or_default();
                client.send_template(&row.recipient, &cfg, &media_id, &params, &row.id)
            }
            None => client.send_text(&row.recipient, &row.body, &row.id),
        };
        self.apply(row, Channel::Whatsapp, outcome)
    }

    /// The media ID of the row's card image: rendered, hashed, uploaded unless cached.
    fn media_for(
        &mut self,
        row: &OutboxRow,
        cfg: &config::WhatsappConfig,
    ) -> std::result::Result<String, Outcome> {
        let enrollment = row.enrollment_uid.as_deref().unwrap_or("");
        let png = crate::cards::preview_png(self.store, enrollment, &cfg.card_template, cfg.dpi)
            .map_err(|e| Outcome::Permanent(format!("the card image could not be made: {e:#}")))?;
        let hash = crate::secret::hex(&Sha256::digest(&png));
        let store_err = |e: anyhow::Error| Outcome::Retry {
            reason: format!("reading the media cache: {e:#}"),
            after: None,
            scope: Scope::Message,
        };
        if let Some(id) = self
            .store
            .send_media(&cfg.phone_number_id, &hash)
            .map_err(store_err)?
        {
            return Ok(id);
        }
        let client = self
            .whatsapp
            .as_ref()
            .ok_or_else(|| Outcome::StopChannel("no WhatsApp client".into()))?;
        let id = client.upload_png(&png)?;
        self.store
            .save_send_media(&cfg.phone_number_id, &hash, &id)
            .map_err(store_err)?;
        Ok(id)
    }

    fn attempt_sms(&mut self, row: &OutboxRow, answer: Duration) -> Result<()> {
        let Some(sms) = self.settings.sms.clone() else {
            return Ok(());
        };
        let outcome = match &sms {
            config::SmsConfig::Dhis2 { .. } => {
                if self.dhis2.is_none() {
                    match crate::link::client_from_store(self.store) {
                        Ok(c) => {
                            self.dhis2 =
                                Some(c.with_timeouts(Duration::from_secs(10).min(answer), answer))
                        }
                        Err(e) => return self.stop(Channel::Sms, &format!("{e:#}")),
                    }
                }
                if !self.claim(row)? {
                    return Ok(());
                }
                match self.dhis2.as_ref() {
                    Some(client) => super::sms::send_dhis2(client, &row.recipient, &row.body),
                    None => return Ok(()),
                }
            }
            config::SmsConfig::Http(g) => {
                let auth = match config::sms_auth(self.store) {
                    Ok(a) => a,
                    Err(e) => return self.stop(Channel::Sms, &format!("{e:#}")),
                };
                if !self.claim(row)? {
                    return Ok(());
                }
                super::sms::send_http(
                    g,
                    auth.as_deref(),
                    answer,
                    &row.recipient,
                    &row.body,
                    &row.id,
                )
            }
        };
        self.apply(row, Channel::Sms, outcome)
    }

    /// `queued -> sending`; false when another worker or a staff member got there first.
    fn claim(&mut self, row: &OutboxRow) -> Result<bool> {
        Ok(self
            .store
            .change_outbox(
                self.actor.as_str(),
                &row.id,
                &OutboxChange::Claim {
                    holder: &self.holder,
                },
            )?
            .is_some())
    }

    /// An outcome reached before the claim (preparing the image): offline and stop need no
    /// claim; anything else is recorded on the claimed row.
    fn unclaimed(&mut self, row: &OutboxRow, ch: Channel, outcome: Outcome) -> Result<()> {
        match outcome {
            Outcome::Offline(reason) => {
                self.offline(ch, &reason);
                Ok(())
            }
            Outcome::StopChannel(reason) => self.stop(ch, &reason),
            other => {
                if self.claim(row)? {
                    // Whatever happened, no message left: an ambiguous upload is a retry.
                    let other = match other {
                        Outcome::Ambiguous(r) => Outcome::Retry {
                            reason: r,
                            after: None,
                            scope: Scope::Message,
                        },
                        o => o,
                    };
                    self.apply(row, ch, other)?;
                }
                Ok(())
            }
        }
    }

    fn offline(&mut self, ch: Channel, reason: &str) {
        self.report.offline.push(format!(
            "{}: {}",
            ch.as_str(),
            crate::output::escape_log(reason, 300)
        ));
        self.blocked.insert(ch, reason.to_string());
    }

    /// Stops the channel until it is configured again, and alerts (audit row, stderr line).
    fn stop(&mut self, ch: Channel, reason: &str) -> Result<()> {
        let reason = crate::output::escape_log(reason, 600);
        config::stop_channel(self.store, &self.actor, ch, &reason)?;
        eprintln!(
            "kadi: ALERT: sending by {} stopped until it is configured again: {reason}",
            ch.as_str()
        );
        self.report
            .stopped
            .push(format!("{}: {reason}", ch.as_str()));
        self.blocked.insert(ch, reason);
        Ok(())
    }

    /// Records the outcome of a claimed row.
    fn apply(&mut self, row: &OutboxRow, ch: Channel, outcome: Outcome) -> Result<()> {
        let actor = self.actor.clone();
        let actor = actor.as_str();
        let per_number = Duration::from_millis(self.settings.pacing.per_number_ms);
        let attempts = row.attempts + 1;
        if !matches!(outcome, Outcome::Offline(_) | Outcome::StopChannel(_)) {
            // The provider saw a message to this number: pace the next one.
            self.number_next
                .insert(row.recipient.clone(), Instant::now() + per_number);
        }
        match outcome {
            Outcome::Accepted { provider_id } => {
                let change = OutboxChange::Accept {
                    provider_id: provider_id.as_deref(),
                };
                if self.store.change_outbox(actor, &row.id, &change)?.is_some() {
                    self.report.accepted += 1;
                }
            }
            Outcome::Offline(reason) => {
                let change = OutboxChange::Requeue {
                    reason: &reason,
                    next_attempt_at: None,
                    counts: false,
                    mode: None,
                    body: None,
                };
                self.store.change_outbox(actor, &row.id, &change)?;
                self.offline(ch, &reason);
            }
            Outcome::Retry {
                reason,
                after,
                scope,
            } => {
                if attempts >= i64::from(self.settings.pacing.max_attempts) {
                    let reason = format!("gave up after {attempts} attempts: {reason}");
                    let change = OutboxChange::Fail {
                        reason: &reason,
                        retryable: true,
                    };
                    if self.store.change_outbox(actor, &row.id, &change)?.is_some() {
                        self.report.failed += 1;
                    }
                    return Ok(());
                }
                let delay = backoff(attempts).max(after.unwrap_or_default());
                let until = Instant::now() + delay;
                match scope {
                    Scope::Channel => {
                        self.channel_next.insert(ch, until);
                    }
                    Scope::Number => {
                        self.number_next.insert(
                            row.recipient.clone(),
                            until.max(Instant::now() + per_number),
                        );
                    }
                    Scope::Message => {}
                }
                let next = utc_after(delay);
                let change = OutboxChange::Requeue {
                    reason: &reason,
                    next_attempt_at: Some(&next),
                    counts: true,
                    mode: None,
                    body: None,
                };
                self.store.change_outbox(actor, &row.id, &change)?;
            }
            Outcome::Permanent(reason) => {
                let change = OutboxChange::Fail {
                    reason: &reason,
                    retryable: false,
                };
                if self.store.change_outbox(actor, &row.id, &change)?.is_some() {
                    self.report.failed += 1;
                }
            }
            Outcome::StopChannel(reason) => {
                let change = OutboxChange::Requeue {
                    reason: &reason,
                    next_attempt_at: None,
                    counts: false,
                    mode: None,
                    body: None,
                };
                self.store.change_outbox(actor, &row.id, &change)?;
                self.stop(ch, &reason)?;
            }
            Outcome::Ambiguous(reason) => {
                let change = OutboxChange::Unknown { reason: &reason };
                self.store.change_outbox(actor, &row.id, &change)?;
            }
            Outcome::AsTemplate(reason) => self.as_template(row, &reason)?,
        }
        Ok(())
    }

    /// 131047: the free-form text goes again as the template, at once.
    fn as_template(&mut self, row: &OutboxRow, reason: &str) -> Result<()> {
        let card = match row.enrollment_uid.as_deref() {
            Some(uid) => self.store.card_record(uid)?,
            None => None,
        };
        let actor = self.actor.clone();
        let Some(card) = card else {
            let reason = format!("{reason}; no card record to send the template with");
            let change = OutboxChange::Fail {
                reason: &reason,
                retryable: false,
            };
            self.store.change_outbox(actor.as_str(), &row.id, &change)?;
            self.report.failed += 1;
            return Ok(());
        };
        let params = super::whatsapp_params(&self.settings, &card);
        let reason = format!("{reason}; sending the template instead");
        let change = OutboxChange::Requeue {
            reason: &reason,
            next_attempt_at: None,
            counts: false,
            mode: Some("template"),
            body: Some(&params),
        };
        self.store
            .change_outbox(actor.as_str(), &row.id, &change)
            .context("switching a message to its template")?;
        Ok(())
    }
}

/// How often the serve worker looks at the outbox when all went well.
const POLL: Duration = Duration::from_secs(2);
/// Longest pause between passes while a channel is offline.
const OFFLINE_MAX: Duration = Duration::from_secs(120);

/// The outbox worker thread of `kadi serve`; stops when dropped or [`OutboxWorker::stop`]ped.
pub struct OutboxWorker {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl OutboxWorker {
    /// Starts the worker on its own thread and database connection; its first pass (which
    /// turns what a previous process left mid-send into `unknown`) runs at once.
    pub fn spawn(db: &Path) -> Result<OutboxWorker> {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let db: PathBuf = db.to_path_buf();
        let thread = std::thread::Builder::new()
            .name("kadi-outbox".into())
            .spawn(move || worker_loop(&db, &flag))
            .map_err(|e| anyhow::anyhow!("starting the outbox worker: {e}"))?;
        Ok(OutboxWorker {
            stop,
            thread: Some(thread),
        })
    }

    /// Asks the worker to stop after the message in hand; does not wait.
    pub fn stop(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.take();
    }
}

impl Drop for OutboxWorker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn worker_loop(db: &Path, stop: &AtomicBool) {
    let mut store: Option<Store> = None;
    let mut offline_pause = Duration::from_secs(5);
    while !stop.load(Ordering::Relaxed) {
        if store.is_none() {
            match Store::open(db) {
                Ok(s) => store = Some(s),
                Err(e) => eprintln!(
                    "kadi: outbox: {}",
                    crate::output::escape_log(&format!("{e:#}"), 2000)
                ),
            }
        }
        let mut pause = POLL;
        if let Some(s) = &store {
            let opts = FlushOptions {
                actor: Some(Actor::Scheduler),
                max_duration: Some(Duration::from_secs(60)),
                max_wait: Some(Duration::from_secs(5)),
            };
            let pass = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| flush(s, &opts)));
            match pass {
                Ok(Ok(r)) if !r.offline.is_empty() => {
                    // Offline: look again later and later (jittered), up to two minutes.
                    pause = offline_pause.mul_f64(0.75 + backoff(1).as_secs_f64() / 20.0);
                    offline_pause = (offline_pause * 2).min(OFFLINE_MAX);
                }
                Ok(Ok(_)) => offline_pause = Duration::from_secs(5),
                Ok(Err(e)) => eprintln!(
                    "kadi: outbox: {}",
                    crate::output::escape_log(&format!("{e:#}"), 2000)
                ),
                Err(_) => {
                    eprintln!(
                        "kadi: outbox: internal error: a pass panicked; reopening the database"
                    );
                    store = None;
                }
            }
        }
        let until = Instant::now() + pause;
        while Instant::now() < until && !stop.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}
