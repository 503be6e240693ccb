//! The channels' configuration, kept in the `settings` table (no schema of its own): WhatsApp
//! Cloud API (base URL, API version, phone-number ID, template, language, which card fields fill
//! the template's body), SMS (DHIS2's `/api/sms/outbound` or a generic HTTP gateway), the country
//! numbers are read for, and pacing. The WhatsApp token and the gateway's auth header are sealed
//! with [`crate::secret`] under `<db>.key`, exactly like the DHIS2 password: never printed,
//! logged, audited in clear or returned by any API.
//!
//! A channel the worker stopped (expired token, rejected template) stays stopped until it is
//! configured again: the stop is an alert for a person, and configuring is what they do about it.
use super::Channel;
use crate::actor::Actor;
use crate::secret::SecretKey;
use crate::store::Store;
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

const KEY_COUNTRY: &str = "send.country";
const KEY_WHATSAPP: &str = "send.whatsapp";
const KEY_WHATSAPP_TOKEN: &str = "send.whatsapp.token";
const KEY_SMS: &str = "send.sms";
const KEY_SMS_AUTH: &str = "send.sms.auth";
const KEY_PACING: &str = "send.pacing";

/// The WhatsApp Cloud API (Meta's documented shapes; `graph.facebook.com` in production).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WhatsappConfig {
    /// `https://graph.facebook.com` (or the simulator).
    pub base_url: String,
    /// Graph API version in the path (`v21.0`).
    pub api_version: String,
    /// The business phone number's ID (not the number).
    pub phone_number_id: String,
    /// An approved template with an IMAGE header.
    pub template: String,
    /// Its language code (`fr`, `en_US`).
    pub lang: String,
    /// Card fields that fill the template body's `{{1}}`, `{{2}}`, ... in order.
    pub body_fields: Vec<String>,
    /// The card template rendered as the header image.
    pub card_template: String,
    /// Its resolution (300 dpi: about 1000 x 640 px, well under WhatsApp's 5 MB image limit).
    pub dpi: u32,
}

/// Default template body parameters: "Bonjour {{1}}, votre carte {{2}} ... {{3}}".
pub fn default_body_fields() -> Vec<String> {
    vec!["first_name".into(), "mpi_id".into(), "health_center".into()]
}

/// How SMS leave the box.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "gateway", rename_all = "lowercase")]
pub enum SmsConfig {
    /// `POST /api/sms/outbound` on the configured DHIS2 (its gateway is set up on the server),
    /// with the stored DHIS2 credentials.
    Dhis2 {
        /// The text sent (card fields in braces); default [`DEFAULT_SMS_TEXT`].
        #[serde(default)]
        text: Option<String>,
    },
    /// Any HTTP SMS gateway.
    Http(HttpGateway),
}

/// A generic HTTP SMS gateway: a URL template and a success rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpGateway {
    /// URL with `{to}` (E.164), `{text}` and `{id}` (the message ID), percent-encoded.
    pub url: String,
    /// `POST` or `GET`.
    pub method: String,
    /// Request body template (`{to}`, `{text}`, `{id}`; JSON-escaped when `content_type` is
    /// JSON, form-encoded otherwise); none: no body.
    #[serde(default)]
    pub body: Option<String>,
    #[serde(default)]
    pub content_type: Option<String>,
    /// Name of the header carrying the sealed auth value (`Authorization`).
    #[serde(default)]
    pub auth_header: Option<String>,
    /// Success: this status (default: any 2xx) ...
    #[serde(default)]
    pub success_status: Option<u16>,
    /// ... and, when set, the body contains this text ...
    #[serde(default)]
    pub success_contains: Option<String>,
    /// ... and, when set, this JSON field (dotted path, e.g. `status` or `messages.0.id`) exists
    /// and is not `false`/null; written `field=value` it must equal that value.
    #[serde(default)]
    pub success_json_field: Option<String>,
    /// JSON field (dotted path) holding the gateway's message ID, if it gives one.
    #[serde(default)]
    pub id_json_field: Option<String>,
    /// The SMS text (card fields in braces); default [`DEFAULT_SMS_TEXT`].
    #[serde(default)]
    pub text: Option<String>,
    /// One request per SMS part (`{part}`, `{parts}`), for gateways that do not concatenate.
    #[serde(default)]
    pub single_part: bool,
}

/// Default SMS text: where to collect the card, with its MPI ID as the verification code. Only
/// GSM-7 characters (é and à are, ê is not): one SMS of 160, not UCS-2's 70.
pub const DEFAULT_SMS_TEXT: &str =
    "Bonjour {first_name}, votre carte de santé ({mpi_id}) est disponible. Retirez-la au {health_center}.";

/// How fast the worker sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pacing {
    /// Least time between two messages to the same number (WhatsApp's pair rate limit is about
    /// one message every 6 s).
    pub per_number_ms: u64,
    /// Most messages per second on one channel (WhatsApp Cloud API's default is 80/s).
    pub per_second: u32,
    /// Attempts before a message that keeps failing for retryable reasons is `failed`.
    pub max_attempts: u32,
    /// Wait for an answer this long after sending; then the message is `unknown`.
    pub timeout_ms: u64,
}

impl Default for Pacing {
    fn default() -> Self {
        Pacing {
            per_number_ms: 6000,
            per_second: 20,
            max_attempts: 8,
            timeout_ms: 30_000,
        }
    }
}

/// Everything `send::` needs to know, read at once.
#[derive(Debug, Clone)]
pub struct SendSettings {
    /// ISO code or calling code numbers are read for (default `SN`).
    pub country: String,
    pub whatsapp: Option<WhatsappConfig>,
    pub sms: Option<SmsConfig>,
    pub pacing: Pacing,
}

impl SendSettings {
    /// Whether `channel` can send.
    pub fn configured(&self, channel: Channel) -> bool {
        match channel {
            Channel::Whatsapp => self.whatsapp.is_some(),
            Channel::Sms => self.sms.is_some(),
        }
    }

    /// The SMS text template in use.
    pub fn sms_text(&self) -> String {
        let custom = match &self.sms {
            Some(SmsConfig::Dhis2 { text }) => text.clone(),
            Some(SmsConfig::Http(g)) => g.text.clone(),
            None => None,
        };
        custom.unwrap_or_else(|| DEFAULT_SMS_TEXT.to_string())
    }
}

fn read_json<T: serde::de::DeserializeOwned>(store: &Store, key: &str) -> Result<Option<T>> {
    match store.setting(key)? {
        Some(v) if !v.trim().is_empty() => Ok(Some(
            serde_json::from_str(&v).with_context(|| format!("setting {key} is unreadable"))?,
        )),
        _ => Ok(None),
    }
}

/// Reads the settings (defaults where unset).
pub fn load(store: &Store) -> Result<SendSettings> {
    Ok(SendSettings {
        country: store
            .setting(KEY_COUNTRY)?
            .filter(|c| !c.trim().is_empty())
            .unwrap_or_else(|| "SN".into()),
        whatsapp: read_json(store, KEY_WHATSAPP)?,
        sms: read_json(store, KEY_SMS)?,
        pacing: read_json(store, KEY_PACING)?.unwrap_or_default(),
    })
}

/// Opens the sealed WhatsApp token.
pub fn whatsapp_token(store: &Store) -> Result<String> {
    let sealed = store
        .setting(KEY_WHATSAPP_TOKEN)?
        .filter(|s| !s.is_empty())
        .context("no WhatsApp token stored: run `kadi send config whatsapp ... --token-stdin`")?;
    SecretKey::load(store.path())?
        .open(&sealed)
        .context("opening the stored WhatsApp token")
}

/// Opens the sealed SMS gateway auth header value, if one was stored.
pub fn sms_auth(store: &Store) -> Result<Option<String>> {
    match store.setting(KEY_SMS_AUTH)?.filter(|s| !s.is_empty()) {
        Some(sealed) => Ok(Some(
            SecretKey::load(store.path())?
                .open(&sealed)
                .context("opening the stored SMS gateway credential")?,
        )),
        None => Ok(None),
    }
}

fn seal_into(store: &Store, actor: &Actor, key: &str, plain: &str) -> Result<()> {
    // A new key file would orphan the DHIS2 secret sealed under the lost one: refuse instead.
    if SecretKey::read_file(store.path())?.is_none() && store.dhis2_connection()?.is_some() {
        bail!(
            "key file {} is missing, so the stored DHIS2 secret cannot be opened: restore the box from a backup, or enter the DHIS2 password again with `kadi dhis2 config` first",
            SecretKey::path_for(store.path()).display()
        );
    }
    let sealed = SecretKey::load_or_create(store.path())?.seal(plain)?;
    store.set_sealed_setting(actor.as_str(), key, &sealed)
}

/// Stores the WhatsApp configuration and seals `token`; clears a stop of the channel.
pub fn configure_whatsapp(
    store: &Store,
    actor: &Actor,
    config: &WhatsappConfig,
    token: &str,
) -> Result<()> {
    if config.base_url.trim().is_empty() || config.phone_number_id.trim().is_empty() {
        bail!("WhatsApp needs --base-url and --phone-number-id");
    }
    if config.template.trim().is_empty() || config.lang.trim().is_empty() {
        bail!("WhatsApp needs an approved --template and its --lang");
    }
    if token.trim().is_empty() {
        bail!("the WhatsApp token is empty (give it on standard input with --token-stdin)");
    }
    crate::cards::Template::named(&config.card_template)?;
    crate::cards::geometry::check_dpi(config.dpi)?;
    seal_into(store, actor, KEY_WHATSAPP_TOKEN, token.trim())?;
    store.set_setting(
        actor.as_str(),
        KEY_WHATSAPP,
        &serde_json::to_string(config)?,
    )?;
    clear_stop(store, actor, Channel::Whatsapp)
}

/// Stores the SMS configuration (and seals the gateway's auth value when given); clears a stop.
pub fn configure_sms(
    store: &Store,
    actor: &Actor,
    config: &SmsConfig,
    auth: Option<&str>,
) -> Result<()> {
    if let SmsConfig::Http(g) = config {
        if !g.url.starts_with("http://") && !g.url.starts_with("https://") {
            bail!("the gateway URL must start with http:// or https://");
        }
        let m = g.method.to_ascii_uppercase();
        if m != "POST" && m != "GET" {
            bail!("the gateway method must be POST or GET");
        }
        if !g.url.contains("{to}") && !g.body.as_deref().unwrap_or("").contains("{to}") {
            bail!("the gateway URL or body must contain {{to}}");
        }
    }
    if let Some(a) = auth.filter(|a| !a.trim().is_empty()) {
        seal_into(store, actor, KEY_SMS_AUTH, a.trim())?;
    }
    store.set_setting(actor.as_str(), KEY_SMS, &serde_json::to_string(config)?)?;
    clear_stop(store, actor, Channel::Sms)
}

/// Sets the country numbers are read for (ISO code, e.g. `SN`).
pub fn set_country(store: &Store, actor: &Actor, country: &str) -> Result<()> {
    if super::phone::rule_for(country).is_none()
        && !country
            .trim_start_matches('+')
            .chars()
            .all(|c| c.is_ascii_digit())
    {
        bail!(
            "unknown country {country:?}: use one of {} or a calling code",
            super::phone::RULES
                .iter()
                .map(|r| r.iso)
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    store.set_setting(actor.as_str(), KEY_COUNTRY, country.trim())
}

/// Sets the pacing.
pub fn set_pacing(store: &Store, actor: &Actor, pacing: &Pacing) -> Result<()> {
    if pacing.per_second == 0 || pacing.max_attempts == 0 || pacing.timeout_ms == 0 {
        bail!("pacing values must be positive");
    }
    store.set_setting(actor.as_str(), KEY_PACING, &serde_json::to_string(pacing)?)
}

fn stop_key(channel: Channel) -> String {
    format!("send.stopped.{}", channel.as_str())
}

/// Why the worker stopped `channel`, if it did.
pub fn stopped(store: &Store, channel: Channel) -> Result<Option<String>> {
    Ok(store
        .setting(&stop_key(channel))?
        .filter(|s| !s.trim().is_empty()))
}

/// Stops `channel` until it is configured again (audited as a setting).
pub fn stop_channel(store: &Store, actor: &Actor, channel: Channel, reason: &str) -> Result<()> {
    store.set_setting(actor.as_str(), &stop_key(channel), reason)
}

fn clear_stop(store: &Store, actor: &Actor, channel: Channel) -> Result<()> {
    if stopped(store, channel)?.is_some() {
        store.set_setting(actor.as_str(), &stop_key(channel), "")?;
    }
    Ok(())
}
