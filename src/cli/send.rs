//! `kadi send`: queue cards for WhatsApp or SMS, drain the outbox, read the distribution log,
//! resolve messages caught mid-send, configure the channels. Handlers call `kadi::send` (the same
//! functions the page and the JSON API call) with [`Actor::Cli`].
use anyhow::{bail, Context, Result};
use kadi::actor::Actor;
use kadi::output::report;
use kadi::send::{self, config, Channel, Resolution};
use kadi::store::Store;
use std::io::Read;
use std::path::Path;

/// Arguments of `kadi send`.
#[derive(Debug, clap::Args)]
pub struct SendArgs {
    #[command(subcommand)]
    pub command: SendCommand,
}

/// A channel on the command line.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum ChannelArg {
    /// WhatsApp Cloud API: the card image as a template message.
    Whatsapp,
    /// SMS: where to collect the card.
    Sms,
}

impl From<ChannelArg> for Channel {
    fn from(c: ChannelArg) -> Channel {
        match c {
            ChannelArg::Whatsapp => Channel::Whatsapp,
            ChannelArg::Sms => Channel::Sms,
        }
    }
}

/// What `kadi send` does.
#[derive(Debug, clap::Subcommand)]
pub enum SendCommand {
    /// Queue one enrollment's card (sent by `kadi serve`'s worker or `kadi send flush`).
    Card {
        /// The enrollment UID.
        #[arg(long)]
        enrollment: String,
        /// How to send it.
        #[arg(long, value_enum)]
        channel: ChannelArg,
        /// Custom text, card fields in braces (`Hello {first_name}`).
        #[arg(long)]
        message: Option<String>,
        /// Send to this number instead of the record's.
        #[arg(long)]
        phone: Option<String>,
        /// Print one JSON document (`message_id`, `status`) instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Queue the cards of a program's records (numbers that cannot be sent to are listed).
    Bulk {
        /// The program UID.
        #[arg(long)]
        program: String,
        /// Only records of this org unit (UID or health centre name).
        #[arg(long)]
        org_unit: Option<String>,
        /// How to send them.
        #[arg(long, value_enum)]
        channel: Option<ChannelArg>,
        /// Custom text, card fields in braces.
        #[arg(long)]
        message: Option<String>,
        /// Print one JSON document instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Send what is due now (one worker pass): accepted / failed / retrying counts.
    Flush {
        /// Stop after this many seconds.
        #[arg(long)]
        max_seconds: Option<u64>,
        /// Print one JSON document instead of text.
        #[arg(long)]
        json: bool,
    },
    /// The distribution log, newest first.
    Log {
        /// Only messages in this state (queued, sending, accepted, failed, unknown).
        #[arg(long)]
        status: Option<String>,
        /// Only messages of this channel.
        #[arg(long, value_enum)]
        channel: Option<ChannelArg>,
        /// Only this enrollment's messages.
        #[arg(long)]
        enrollment: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 100)]
        limit: usize,
        /// Print one JSON document instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Decide on a message in `unknown` (caught mid-send): send it again, or count it as sent.
    Resolve {
        /// The message ID (from `kadi send log`).
        #[arg(long)]
        message_id: String,
        /// Send it again (also for a `failed` message).
        #[arg(
            long,
            conflicts_with = "mark_sent",
            required_unless_present = "mark_sent"
        )]
        resend: bool,
        /// The recipient has it: count it as sent.
        #[arg(long)]
        mark_sent: bool,
        /// Print one JSON document instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Configure the channels.
    Config(ConfigArgs),
    /// Messages per second the worker can prepare, and peak RSS (bench/send.sh).
    #[command(hide = true)]
    Bench {
        /// Messages to prepare.
        #[arg(long, default_value_t = 200)]
        n: usize,
        /// Card image resolution.
        #[arg(long, default_value_t = 300)]
        dpi: u32,
    },
}

/// Arguments of `kadi send config`.
#[derive(Debug, clap::Args)]
pub struct ConfigArgs {
    #[command(subcommand)]
    pub command: ConfigCommand,
}

/// What `kadi send config` sets.
#[derive(Debug, clap::Subcommand)]
pub enum ConfigCommand {
    /// WhatsApp Cloud API: base URL, phone-number ID, token (sealed), approved template.
    Whatsapp {
        /// `https://graph.facebook.com`.
        #[arg(long)]
        base_url: String,
        /// Graph API version.
        #[arg(long, default_value = "v21.0")]
        api_version: String,
        /// The business phone number's ID.
        #[arg(long)]
        phone_number_id: String,
        /// Read the access token from standard input (never from the command line).
        #[arg(long, required = true)]
        token_stdin: bool,
        /// An approved template with an IMAGE header.
        #[arg(long)]
        template: String,
        /// The template's language code.
        #[arg(long, default_value = "fr")]
        lang: String,
        /// Card fields for the template body's {{1}}, {{2}}, ... (comma-separated).
        #[arg(
            long,
            value_delimiter = ',',
            default_value = "first_name,mpi_id,health_center"
        )]
        body_fields: Vec<String>,
        /// Card template of the header image.
        #[arg(long, default_value = "pulse")]
        card_template: String,
        /// Resolution of the header image.
        #[arg(long, default_value_t = 300)]
        dpi: u32,
        /// Print one JSON document instead of text.
        #[arg(long)]
        json: bool,
    },
    /// SMS: DHIS2's /api/sms/outbound, or a generic HTTP gateway.
    Sms(SmsConfigArgs),
    /// The country numbers are read for (ISO code: SN, ML, CI, BF, GN, MR, GM).
    Country {
        /// ISO code (SN) or calling code (221).
        #[arg(long)]
        country: String,
        /// Print one JSON document instead of text.
        #[arg(long)]
        json: bool,
    },
    /// How fast the worker sends.
    Pacing {
        /// Least time between two messages to one number.
        #[arg(long)]
        per_number_ms: Option<u64>,
        /// Most messages per second on one channel.
        #[arg(long)]
        per_second: Option<u32>,
        /// Attempts before a message is failed.
        #[arg(long)]
        max_attempts: Option<u32>,
        /// How long to wait for an answer after sending.
        #[arg(long)]
        timeout_ms: Option<u64>,
        /// Print one JSON document instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Show the configuration (never a secret) and whether a channel is stopped.
    Show {
        /// Print one JSON document instead of text.
        #[arg(long)]
        json: bool,
    },
}

/// Arguments of `kadi send config sms`.
#[derive(Debug, clap::Args)]
pub struct SmsConfigArgs {
    /// `dhis2` (the DHIS2 server's gateway) or `http` (a generic gateway).
    #[arg(long, default_value = "dhis2")]
    pub gateway: String,
    /// Gateway URL with {to}, {text}, {id} (http).
    #[arg(long)]
    pub url: Option<String>,
    /// POST or GET (http).
    #[arg(long, default_value = "POST")]
    pub method: String,
    /// Request body template with {to}, {text}, {id} (http).
    #[arg(long)]
    pub body: Option<String>,
    /// Content type of the body (http).
    #[arg(long)]
    pub content_type: Option<String>,
    /// Header carrying the credential (http; default Authorization).
    #[arg(long)]
    pub auth_header: Option<String>,
    /// Read the credential (the header's value) from standard input (sealed).
    #[arg(long)]
    pub auth_stdin: bool,
    /// Success needs this status (default any 2xx).
    #[arg(long)]
    pub success_status: Option<u16>,
    /// Success needs the body to contain this text.
    #[arg(long)]
    pub success_contains: Option<String>,
    /// Success needs this JSON field (dotted path; `field=value` to compare).
    #[arg(long)]
    pub success_json_field: Option<String>,
    /// JSON field holding the gateway's message ID.
    #[arg(long)]
    pub id_json_field: Option<String>,
    /// One request per SMS part.
    #[arg(long)]
    pub single_part: bool,
    /// The SMS text, card fields in braces (default: where to collect the card).
    #[arg(long)]
    pub text: Option<String>,
    /// Print one JSON document instead of text.
    #[arg(long)]
    pub json: bool,
}

fn read_stdin_secret(what: &str) -> Result<String> {
    let mut s = String::new();
    std::io::stdin()
        .read_to_string(&mut s)
        .with_context(|| format!("reading the {what} from standard input"))?;
    let s = s.trim().to_string();
    if s.is_empty() {
        bail!("the {what} on standard input is empty");
    }
    Ok(s)
}

impl SendArgs {
    /// Runs the command against the database at `db`.
    pub fn run(self, db: &Path) -> Result<()> {
        if let SendCommand::Bench { n, dpi } = self.command {
            // Its own store in a temporary directory: the box's database is not touched.
            return bench(n, dpi);
        }
        let store = Store::open(db)?;
        match self.command {
            SendCommand::Card {
                enrollment,
                channel,
                message,
                phone,
                json,
            } => {
                let q = send::queue_card(
                    &store,
                    &Actor::Cli,
                    &send::SendRequest {
                        enrollment_uid: enrollment,
                        channel: channel.into(),
                        message,
                        phone,
                    },
                )?;
                report(json, &q, || {
                    format!(
                        "queued message {} ({} to {}); `kadi send flush` or `kadi serve` sends it",
                        q.message_id,
                        q.channel.as_str(),
                        q.recipient
                    )
                })
            }
            SendCommand::Bulk {
                program,
                org_unit,
                channel,
                message,
                json,
            } => {
                store.require_program(&program)?;
                let r = send::queue_bulk(
                    &store,
                    &Actor::Cli,
                    &send::BulkRequest {
                        program_uid: program,
                        org_unit,
                        enrollment_uids: Vec::new(),
                        channel: channel.map(Channel::from),
                        message,
                    },
                )?;
                report(json, &r, || {
                    let mut s = format!(
                        "queued {} messages; {} refused",
                        r.queued.len(),
                        r.refused.len()
                    );
                    for x in r.refused.iter().take(20) {
                        s.push_str(&format!("\n  {}: {}", x.enrollment_uid, x.reason));
                    }
                    s
                })
            }
            SendCommand::Flush { max_seconds, json } => flush(&store, max_seconds, json),
            SendCommand::Log {
                status,
                channel,
                enrollment,
                limit,
                json,
            } => {
                let filter = send::LogFilter {
                    status: status.as_deref().map(send::Status::parse).transpose()?,
                    channel: channel.map(Channel::from),
                    enrollment_uid: enrollment,
                    recipient: None,
                    since: None,
                    until: None,
                    limit,
                    offset: 0,
                };
                log(&store, &filter, json)
            }
            SendCommand::Resolve {
                message_id,
                resend,
                mark_sent,
                json,
            } => {
                let resolution = match (resend, mark_sent) {
                    (true, _) => Resolution::Resend,
                    (_, true) => Resolution::MarkSent,
                    _ => bail!("say --resend or --mark-sent"),
                };
                let e = send::resolve_unknown(&store, &Actor::Cli, &message_id, resolution)?;
                report(json, &e, || {
                    format!("message {}: {}", e.message_id, e.status_words)
                })
            }
            SendCommand::Config(c) => c.run(&store),
            SendCommand::Bench { n, dpi } => bench(n, dpi),
        }
    }
}

fn flush(store: &Store, max_seconds: Option<u64>, json: bool) -> Result<()> {
    let r = send::flush(
        store,
        &send::FlushOptions {
            actor: Some(Actor::Cli),
            max_duration: max_seconds.map(std::time::Duration::from_secs),
            max_wait: None,
        },
    )?;
    report(json, &r, || {
        let mut s = format!(
            "accepted {}, failed {}, retrying {}, unknown {}, still queued {}",
            r.accepted, r.failed, r.retrying, r.unknown, r.queued
        );
        for o in &r.offline {
            s.push_str(&format!("\noffline: {o}"));
        }
        for x in &r.stopped {
            s.push_str(&format!("\nSTOPPED: {x}"));
        }
        s
    })
}

fn log(store: &Store, filter: &send::LogFilter, json: bool) -> Result<()> {
    let entries = send::log(store, filter)?;
    report(json, &entries, || {
        if entries.is_empty() {
            return "no messages".to_string();
        }
        entries
            .iter()
            .map(|e| {
                let mut line = format!(
                    "{}  {}  {:8}  {}  {}  {}",
                    e.created_at,
                    e.message_id,
                    e.channel.as_str(),
                    e.recipient,
                    e.enrollment_uid.as_deref().unwrap_or("-"),
                    e.status_words
                );
                if let Some(err) = &e.error {
                    line.push_str(&format!(" ({err})"));
                }
                line
            })
            .collect::<Vec<_>>()
            .join("\n")
    })
}

fn bench(n: usize, dpi: u32) -> Result<()> {
    let dir = std::env::temp_dir().join(format!(
        "kadi-send-bench-{}",
        kadi::secret::hex(&kadi::secret::random_bytes::<6>()?)
    ));
    kadi::fsx::create_dir_private(&dir)?;
    let r = send::bench::run(&dir, n, dpi);
    let _ = std::fs::remove_dir_all(&dir);
    report(true, &r?, String::new)
}

impl ConfigArgs {
    fn run(self, store: &Store) -> Result<()> {
        match self.command {
            ConfigCommand::Whatsapp {
                base_url,
                api_version,
                phone_number_id,
                token_stdin: _,
                template,
                lang,
                body_fields,
                card_template,
                dpi,
                json,
            } => {
                let token = read_stdin_secret("WhatsApp token")?;
                let cfg = config::WhatsappConfig {
                    base_url: base_url.trim().trim_end_matches('/').to_string(),
                    api_version,
                    phone_number_id,
                    template,
                    lang,
                    body_fields,
                    card_template,
                    dpi,
                };
                config::configure_whatsapp(store, &Actor::Cli, &cfg, &token)?;
                report(json, &cfg, || {
                    format!(
                        "WhatsApp configured: template {} ({}) from phone-number ID {} (token sealed)",
                        cfg.template, cfg.lang, cfg.phone_number_id
                    )
                })
            }
            ConfigCommand::Sms(a) => a.run(store),
            ConfigCommand::Country { country, json } => {
                config::set_country(store, &Actor::Cli, &country)?;
                let v = serde_json::json!({ "country": country });
                report(json, &v, || format!("numbers are read for {country}"))
            }
            ConfigCommand::Pacing {
                per_number_ms,
                per_second,
                max_attempts,
                timeout_ms,
                json,
            } => {
                let mut p = config::load(store)?.pacing;
                p.per_number_ms = per_number_ms.unwrap_or(p.per_number_ms);
                p.per_second = per_second.unwrap_or(p.per_second);
                p.max_attempts = max_attempts.unwrap_or(p.max_attempts);
                p.timeout_ms = timeout_ms.unwrap_or(p.timeout_ms);
                config::set_pacing(store, &Actor::Cli, &p)?;
                report(json, &p, || {
                    format!(
                        "pacing: {} ms between messages to one number, {} per second, {} attempts, {} ms answer timeout",
                        p.per_number_ms, p.per_second, p.max_attempts, p.timeout_ms
                    )
                })
            }
            ConfigCommand::Show { json } => {
                let s = config::load(store)?;
                let v = serde_json::json!({
                    "country": s.country,
                    "whatsapp": s.whatsapp,
                    "sms": s.sms,
                    "pacing": s.pacing,
                    "channels": send::channels(store)?,
                });
                report(json, &v, || {
                    serde_json::to_string_pretty(&v).unwrap_or_default()
                })
            }
        }
    }
}

impl SmsConfigArgs {
    fn run(self, store: &Store) -> Result<()> {
        let cfg = match self.gateway.as_str() {
            "dhis2" => {
                if store.dhis2_connection()?.is_none() {
                    bail!("SMS through DHIS2 needs the DHIS2 connection: run `kadi dhis2 config` first");
                }
                config::SmsConfig::Dhis2 { text: self.text }
            }
            "http" => config::SmsConfig::Http(config::HttpGateway {
                url: self
                    .url
                    .context("an http gateway needs --url (with {to} and {text})")?,
                method: self.method.to_ascii_uppercase(),
                body: self.body,
                content_type: self.content_type,
                auth_header: self.auth_header,
                success_status: self.success_status,
                success_contains: self.success_contains,
                success_json_field: self.success_json_field,
                id_json_field: self.id_json_field,
                text: self.text,
                single_part: self.single_part,
            }),
            other => bail!("unknown SMS gateway {other:?}: use dhis2 or http"),
        };
        let auth = if self.auth_stdin {
            Some(read_stdin_secret("gateway credential")?)
        } else {
            None
        };
        config::configure_sms(store, &Actor::Cli, &cfg, auth.as_deref())?;
        report(self.json, &cfg, || match &cfg {
            config::SmsConfig::Dhis2 { .. } => {
                "SMS configured: through DHIS2's /api/sms/outbound".to_string()
            }
            config::SmsConfig::Http(g) => format!(
                "SMS configured: {} {}",
                g.method,
                g.url.split('?').next().unwrap_or("")
            ),
        })
    }
}
