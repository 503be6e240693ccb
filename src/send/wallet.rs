//! Google Wallet "save" links made on the box, offline (issue 17 item 5, part s11-w).
//!
//! A save link is `https://pay.google.com/gp/v/save/<JWT>`: the JWT (RS256, signed with the
//! service account's private key) carries the whole pass as a generic object, so nothing has to
//! be inserted through Google's REST API first — which a box without a connection could not do.
//! Claims follow Google's documented shape (`iss` = service-account email, `aud` = `google`,
//! `typ` = `savetowallet`, `iat`, `origins`, `payload.genericObjects`); the object carries the
//! MPI ID, the name, the health centre and the card's QR payload (as the pass's QR barcode, the
//! very string printed on the card, from [`CardContent::from_record`]).
//!
//! Google advises keeping save links short (browsers and messaging apps cut long URLs; a QR of
//! the link must stay scannable), so a link stays under [`MAX_LINK_CHARS`]: when the object would
//! make it longer, optional parts are left out one by one in [`OPTIONAL_PARTS`] order and the
//! link says which (`left_out`); the name and the QR payload are never left out.
//!
//! Invariants: the private key is sealed with [`crate::secret`] under `<db>.key` (like the DHIS2
//! password) and never printed, logged, audited or returned; a link is made without network; the
//! pass's dates come from a clock no earlier than the binary's build date ([`crate::clock`]).
//! Callers: `kadi wallet`, `GET /dhis2/google-wallet/{id}`, `POST /dhis2/google-wallet/bulk`, the
//! card page.
use crate::cards::{CardContent, EnrollmentFilter};
use crate::secret::SecretKey;
use crate::store::records::ResolvedCard;
use crate::store::Store;
use anyhow::{anyhow, bail, Context, Result};
use base64::Engine;
use ring::rand::SystemRandom;
use ring::signature::{RsaKeyPair, RSA_PKCS1_SHA256};
use serde::Serialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// What every save link starts with.
pub const SAVE_URL_PREFIX: &str = "https://pay.google.com/gp/v/save/";
/// A link is kept strictly under this many characters (Google's advice for save links).
pub const MAX_LINK_CHARS: usize = 2000;
/// Most enrollments one bulk request may name (the seed API's limit).
pub const BULK_MAX: usize = 100;
/// Optional parts of the pass, in the order they are left out when a link would be too long.
pub const OPTIONAL_PARTS: [&str; 5] = [
    "barcode_text",
    "background",
    "expiry",
    "health_centre",
    "mpi_id_text",
];

const K_ISSUER: &str = "wallet.issuer_id";
const K_CLASS: &str = "wallet.class_id";
const K_EMAIL: &str = "wallet.service_account_email";
const K_KEY: &str = "wallet.private_key";
const K_TITLE: &str = "wallet.card_title";
const K_ORIGINS: &str = "wallet.origins";
const K_VALID_DAYS: &str = "wallet.valid_days";
const K_BACKGROUND: &str = "wallet.background";
const K_LANGUAGE: &str = "wallet.language";

const DEFAULT_TITLE: &str = "Carte de santé";
const DEFAULT_VALID_DAYS: u32 = 365;
const DEFAULT_BACKGROUND: &str = "#0b5d3b";
const DEFAULT_LANGUAGE: &str = "fr";

/// Why a wallet call was refused: the API answers each with its own status, the CLI prints it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WalletRefusal {
    /// No Wallet configuration (or key) on this box yet (409).
    NotConfigured(String),
    /// No card for this enrollment UID or MPI ID (404).
    NotFound(String),
    /// The request itself is wrong: too many IDs, a bad issuer ID, an unknown program (400).
    BadRequest(String),
}

impl std::fmt::Display for WalletRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WalletRefusal::NotConfigured(m)
            | WalletRefusal::NotFound(m)
            | WalletRefusal::BadRequest(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for WalletRefusal {}

fn bad(message: impl Into<String>) -> anyhow::Error {
    WalletRefusal::BadRequest(message.into()).into()
}

fn not_configured() -> anyhow::Error {
    WalletRefusal::NotConfigured(
        "Google Wallet is not configured on this box: run `kadi wallet config --issuer-id ID --class-id ID --service-account-stdin` with the service account's JSON key on stdin".to_string(),
    )
    .into()
}

/// The Wallet settings in force (without the key).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WalletSettings {
    /// Google's issuer ID (digits).
    pub issuer_id: String,
    /// The pass class every object points at (`<issuer_id>.<suffix>`), made once in Google's console.
    pub class_id: String,
    /// The service account that signs (`iss`).
    pub service_account_email: String,
    /// The pass's title line (`cardTitle`).
    pub card_title: String,
    /// Web origins allowed to show a save button for these JWTs (`origins`; empty for links).
    pub origins: Vec<String>,
    /// Days a saved pass stays valid (`validTimeInterval.end`).
    pub valid_days: u32,
    /// `hexBackgroundColor` (`#rrggbb`).
    pub background: String,
    /// Language tag of the pass's texts (`fr`, `en`, ...).
    pub language: String,
}

/// What `kadi wallet config` and the API show: the settings and whether a key is stored (never the key).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WalletConfigView {
    #[serde(flatten)]
    pub settings: WalletSettings,
    /// True when a sealed service-account key is stored.
    pub key_stored: bool,
}

/// A change of the Wallet configuration (`None` keeps what is stored).
#[derive(Debug, Clone, Default)]
pub struct WalletConfigChange {
    pub issuer_id: Option<String>,
    pub class_id: Option<String>,
    /// The service account's JSON key file as Google issues it (`client_email`, `private_key`).
    pub service_account_json: Option<String>,
    pub card_title: Option<String>,
    pub origins: Option<Vec<String>>,
    pub valid_days: Option<u32>,
    pub background: Option<String>,
    pub language: Option<String>,
}

/// Google's allowed characters of an ID's suffix: letters, digits, '.', '_', '-'.
pub fn is_id_suffix(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

fn check_issuer_id(id: &str) -> Result<()> {
    if id.is_empty() || id.len() > 20 || !id.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad(format!(
            "issuer ID {} is not a Google Wallet issuer ID (digits, as the Wallet console shows it)",
            crate::output::escape_log(id, 40)
        )));
    }
    Ok(())
}

/// `class_id` as `<issuer>.<suffix>`: a bare suffix gets the issuer prefix.
fn full_class_id(issuer: &str, class_id: &str) -> Result<String> {
    let full = match class_id.split_once('.') {
        Some((prefix, _)) if prefix.bytes().all(|b| b.is_ascii_digit()) => {
            if prefix != issuer {
                return Err(bad(format!(
                    "class ID {} belongs to issuer {prefix}, not {issuer}",
                    crate::output::escape_log(class_id, 80)
                )));
            }
            class_id.to_string()
        }
        _ => format!("{issuer}.{class_id}"),
    };
    let suffix = &full[issuer.len() + 1..];
    if !is_id_suffix(suffix) {
        return Err(bad(format!(
            "class ID {} may only hold letters, digits, '.', '_' and '-' after the issuer ID",
            crate::output::escape_log(class_id, 80)
        )));
    }
    Ok(full)
}

fn check_origin(origin: &str) -> Result<()> {
    let rest = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"));
    match rest {
        Some(host) if !host.is_empty() && !host.contains(['/', '?', '#', ' ']) => Ok(()),
        _ => Err(bad(format!(
            "origin {} is not http(s)://host[:port] without a path",
            crate::output::escape_log(origin, 80)
        ))),
    }
}

fn check_background(c: &str) -> Result<()> {
    let ok = c.len() == 7 && c.starts_with('#') && c[1..].bytes().all(|b| b.is_ascii_hexdigit());
    if !ok {
        return Err(bad(format!(
            "background {} is not a colour #rrggbb",
            crate::output::escape_log(c, 20)
        )));
    }
    Ok(())
}

/// The PKCS#8 DER of a PEM `-----BEGIN PRIVATE KEY-----` block (what a service account's
/// `private_key` holds), checked to be an RSA key ring can sign with.
pub fn pkcs8_from_pem(pem: &str) -> Result<Vec<u8>> {
    let body: String = pem
        .lines()
        .map(str::trim)
        .skip_while(|l| !l.starts_with("-----BEGIN PRIVATE KEY-----"))
        .skip(1)
        .take_while(|l| !l.starts_with("-----END"))
        .collect();
    if body.is_empty() {
        return Err(bad(
            "the service account's private_key is not a PEM PKCS#8 key (-----BEGIN PRIVATE KEY-----)",
        ));
    }
    let der = base64::engine::general_purpose::STANDARD
        .decode(body.as_bytes())
        .map_err(|_| bad("the service account's private_key is not valid base64 PEM"))?;
    RsaKeyPair::from_pkcs8(&der).map_err(|e| {
        bad(format!(
            "the service account's private_key is not an RSA key Google Wallet can use ({e})"
        ))
    })?;
    Ok(der)
}

/// The signing email and PKCS#8 key of a service account's JSON key file.
fn read_service_account(text: &str) -> Result<(String, Vec<u8>)> {
    let v: Value = serde_json::from_str(text.trim())
        .map_err(|e| bad(format!("the service account key is not JSON ({e})")))?;
    if let Some(t) = v.get("type").and_then(Value::as_str) {
        if t != "service_account" {
            return Err(bad(format!(
                "the key file is of type {}, not service_account",
                crate::output::escape_log(t, 40)
            )));
        }
    }
    let email = v
        .get("client_email")
        .and_then(Value::as_str)
        .filter(|e| e.contains('@'))
        .ok_or_else(|| bad("the service account key has no client_email"))?;
    let pem = v
        .get("private_key")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("the service account key has no private_key"))?;
    Ok((email.to_string(), pkcs8_from_pem(pem)?))
}

/// The stored settings, or `None` before the first `kadi wallet config`.
pub fn settings(store: &Store) -> Result<Option<WalletSettings>> {
    let (Some(issuer_id), Some(class_id), Some(email)) = (
        store.setting(K_ISSUER)?,
        store.setting(K_CLASS)?,
        store.setting(K_EMAIL)?,
    ) else {
        return Ok(None);
    };
    let origins = match store.setting(K_ORIGINS)? {
        Some(j) => serde_json::from_str(&j).context("setting wallet.origins is damaged")?,
        None => Vec::new(),
    };
    Ok(Some(WalletSettings {
        issuer_id,
        class_id,
        service_account_email: email,
        card_title: store
            .setting(K_TITLE)?
            .unwrap_or_else(|| DEFAULT_TITLE.into()),
        origins,
        valid_days: store
            .setting(K_VALID_DAYS)?
            .and_then(|d| d.parse().ok())
            .unwrap_or(DEFAULT_VALID_DAYS),
        background: store
            .setting(K_BACKGROUND)?
            .unwrap_or_else(|| DEFAULT_BACKGROUND.into()),
        language: store
            .setting(K_LANGUAGE)?
            .unwrap_or_else(|| DEFAULT_LANGUAGE.into()),
    }))
}

/// The configuration as shown to an operator (never the key), `None` before the first config.
pub fn config_view(store: &Store) -> Result<Option<WalletConfigView>> {
    Ok(settings(store)?.map(|settings| WalletConfigView {
        settings,
        key_stored: store.setting(K_KEY).ok().flatten().is_some(),
    }))
}

/// Checks and stores a configuration change; the key (when given) is sealed under `<db>.key`.
/// The first configuration needs issuer, class and key.
pub fn configure(
    store: &Store,
    actor: &crate::actor::Actor,
    change: &WalletConfigChange,
) -> Result<WalletConfigView> {
    let current = settings(store)?;
    let issuer = change
        .issuer_id
        .clone()
        .or_else(|| current.as_ref().map(|c| c.issuer_id.clone()))
        .ok_or_else(|| bad("--issuer-id is required the first time"))?;
    check_issuer_id(&issuer)?;
    let class = change
        .class_id
        .clone()
        .or_else(|| current.as_ref().map(|c| c.class_id.clone()))
        .ok_or_else(|| bad("--class-id is required the first time"))?;
    let class = full_class_id(&issuer, &class)?;
    let account = match &change.service_account_json {
        Some(text) => Some(read_service_account(text)?),
        None if current.is_some() && store.setting(K_KEY)?.is_some() => None,
        None => {
            return Err(bad(
                "the service account key is required the first time (--service-account-stdin)",
            ))
        }
    };
    for o in change.origins.iter().flatten() {
        check_origin(o)?;
    }
    if let Some(b) = &change.background {
        check_background(b)?;
    }
    if let Some(d) = change.valid_days {
        if !(1..=3650).contains(&d) {
            return Err(bad("--valid-days must be between 1 and 3650"));
        }
    }
    if let Some(l) = &change.language {
        if l.is_empty()
            || l.len() > 12
            || !l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            return Err(bad("--language must be a language tag such as fr or en-US"));
        }
    }
    let who = actor.as_str();
    if let Some((email, der)) = account {
        let key = SecretKey::load_or_create(store.path())?;
        let sealed = key.seal(&base64::engine::general_purpose::STANDARD.encode(der))?;
        store.set_sealed_setting(who, K_KEY, &sealed)?;
        store.set_setting(who, K_EMAIL, &email)?;
    }
    store.set_setting(who, K_ISSUER, &issuer)?;
    store.set_setting(who, K_CLASS, &class)?;
    let optional = [
        (K_TITLE, change.card_title.clone()),
        (
            K_ORIGINS,
            change.origins.as_ref().map(|o| json!(o).to_string()),
        ),
        (K_VALID_DAYS, change.valid_days.map(|d| d.to_string())),
        (K_BACKGROUND, change.background.clone()),
        (K_LANGUAGE, change.language.clone()),
    ];
    for (k, v) in optional {
        if let Some(v) = v {
            store.set_setting(who, k, v.trim())?;
        }
    }
    config_view(store)?.ok_or_else(|| anyhow!("the Wallet settings just written are missing"))
}

/// One save link, as the CLI and the API report it (the JWT is inside `save_url`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SaveLink {
    /// The enrollment whose card this pass is.
    pub enrollment_id: String,
    /// The card's MPI ID (`None` while the record waits for resolution).
    pub mpi_id: Option<String>,
    /// The pass object's ID (`<issuer>.<enrollment>-<content hash>`): the same card gives the same pass.
    pub object_id: String,
    /// `https://pay.google.com/gp/v/save/<JWT>`.
    pub save_url: String,
    /// When the saved pass stops being valid (UTC), unless `expiry` was left out.
    pub expires: Option<String>,
    /// Characters of `save_url` (always under [`MAX_LINK_CHARS`]).
    pub link_chars: usize,
    /// Optional parts left out to keep the link short (see [`OPTIONAL_PARTS`]).
    pub left_out: Vec<&'static str>,
}

impl SaveLink {
    /// The JWT alone (what follows the prefix).
    pub fn jwt(&self) -> &str {
        self.save_url
            .strip_prefix(SAVE_URL_PREFIX)
            .unwrap_or(&self.save_url)
    }
}

/// A service account's key opened for signing, with the settings it signs for.
pub struct WalletSigner {
    settings: WalletSettings,
    key: RsaKeyPair,
    rng: SystemRandom,
}

fn localized(language: &str, value: &str) -> Value {
    json!({ "defaultValue": { "language": language, "value": value } })
}

fn text_module(id: &str, header: &str, body: &str) -> Value {
    json!({ "id": id, "header": header, "body": body })
}

impl WalletSigner {
    /// Opens the sealed key of the box (an error that says what to do when there is none).
    pub fn load(store: &Store) -> Result<WalletSigner> {
        let settings = settings(store)?.ok_or_else(not_configured)?;
        let sealed = store.setting(K_KEY)?.ok_or_else(not_configured)?;
        let key = SecretKey::load(store.path())?;
        let der = base64::engine::general_purpose::STANDARD
            .decode(key.open(&sealed)?)
            .context("the stored Wallet key is damaged")?;
        WalletSigner::new(settings, &der)
    }

    /// A signer from settings and a PKCS#8 RSA key (tests, benchmarks).
    pub fn new(settings: WalletSettings, pkcs8_der: &[u8]) -> Result<WalletSigner> {
        let key = RsaKeyPair::from_pkcs8(pkcs8_der)
            .map_err(|e| anyhow!("the Wallet key is not a usable RSA key ({e})"))?;
        Ok(WalletSigner {
            settings,
            key,
            rng: SystemRandom::new(),
        })
    }

    /// The settings this signer signs for.
    pub fn settings(&self) -> &WalletSettings {
        &self.settings
    }

    /// The save link of one card, made at `now` (kept under [`MAX_LINK_CHARS`]).
    pub fn link(
        &self,
        enrollment_uid: &str,
        card: &CardContent,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<SaveLink> {
        let object_id = self.object_id(enrollment_uid, card);
        let expires = now + chrono::Duration::days(i64::from(self.settings.valid_days));
        let expires = crate::clock::format_utc(expires);
        let mut left_out: Vec<&'static str> = Vec::new();
        loop {
            let object = self.generic_object(&object_id, card, &expires, &left_out);
            let save_url = format!("{SAVE_URL_PREFIX}{}", self.sign(&object, now)?);
            if save_url.len() < MAX_LINK_CHARS {
                let kept_expiry = !left_out.contains(&"expiry");
                return Ok(SaveLink {
                    enrollment_id: enrollment_uid.to_string(),
                    mpi_id: card.mpi_id.clone(),
                    object_id,
                    link_chars: save_url.len(),
                    save_url,
                    expires: kept_expiry.then_some(expires),
                    left_out,
                });
            }
            match OPTIONAL_PARTS.get(left_out.len()) {
                Some(part) => left_out.push(part),
                None => bail!(
                    "the save link of enrollment {enrollment_uid} would be {} characters even with only the name and the QR code (the limit is {MAX_LINK_CHARS}): the card's QR payload is {} characters",
                    save_url.len(),
                    card.qr_payload.len()
                ),
            }
        }
    }

    /// `<issuer>.<enrollment>-<first 8 hex of the pass content's SHA-256>`: saving the same card
    /// twice gives the same pass; a corrected name gives a new one.
    fn object_id(&self, enrollment_uid: &str, card: &CardContent) -> String {
        let mut h = Sha256::new();
        for part in [
            card.full_name.as_str(),
            card.mpi_id.as_deref().unwrap_or(""),
            card.health_center.as_deref().unwrap_or(""),
            card.qr_payload.as_str(),
        ] {
            h.update(part.as_bytes());
            h.update([0u8]);
        }
        let hash = crate::secret::hex(&h.finalize()[..4]);
        let clean: String = enrollment_uid
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'))
            .collect();
        format!("{}.{clean}-{hash}", self.settings.issuer_id)
    }

    fn generic_object(
        &self,
        object_id: &str,
        card: &CardContent,
        expires: &str,
        left_out: &[&str],
    ) -> Value {
        let s = &self.settings;
        let keep = |part: &str| !left_out.contains(&part);
        let name = if card.full_name.trim().is_empty() {
            "—"
        } else {
            card.full_name.trim()
        };
        let mut modules = Vec::new();
        if let (true, Some(id)) = (keep("mpi_id_text"), &card.mpi_id) {
            modules.push(text_module("mpi", "ID patient · MPI ID", id));
        }
        if let (true, Some(hc)) = (keep("health_centre"), &card.health_center) {
            modules.push(text_module("hc", "Centre de santé", hc));
        }
        let mut barcode = json!({ "type": "QR_CODE", "value": card.qr_payload });
        if let (true, Some(id)) = (keep("barcode_text"), &card.mpi_id) {
            barcode["alternateText"] = json!(id);
        }
        let mut object = json!({
            "id": object_id,
            "classId": s.class_id,
            "cardTitle": localized(&s.language, &s.card_title),
            "header": localized(&s.language, name),
            "barcode": barcode,
        });
        if !modules.is_empty() {
            object["textModulesData"] = Value::Array(modules);
        }
        if keep("background") {
            object["hexBackgroundColor"] = json!(s.background);
        }
        if keep("expiry") {
            object["validTimeInterval"] = json!({ "end": { "date": expires } });
        }
        object
    }

    /// The signed JWT (`header.claims.signature`, base64url without padding) of one object.
    fn sign(&self, object: &Value, now: chrono::DateTime<chrono::Utc>) -> Result<String> {
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let header = json!({ "alg": "RS256", "typ": "JWT" });
        let claims = json!({
            "iss": self.settings.service_account_email,
            "aud": "google",
            "typ": "savetowallet",
            "iat": now.timestamp(),
            "origins": self.settings.origins,
            "payload": { "genericObjects": [object] },
        });
        let mut jwt = format!(
            "{}.{}",
            b64.encode(header.to_string()),
            b64.encode(claims.to_string())
        );
        let mut signature = vec![0u8; self.key.public().modulus_len()];
        self.key
            .sign(&RSA_PKCS1_SHA256, &self.rng, jwt.as_bytes(), &mut signature)
            .map_err(|_| anyhow!("signing the Wallet JWT failed"))?;
        jwt.push('.');
        jwt.push_str(&b64.encode(signature));
        Ok(jwt)
    }
}

/// Now, but never before the binary's build date (a box without a clock must not make passes
/// that expired before they were saved).
pub fn trusted_now() -> chrono::DateTime<chrono::Utc> {
    let floor = crate::clock::build_date()
        .and_hms_opt(0, 0, 0)
        .map(|t| t.and_utc())
        .unwrap_or_default();
    chrono::Utc::now().max(floor)
}

/// The card of an enrollment UID or an MPI ID (any ID ever issued: a merged one leads to the
/// identity in force, whose first enrollment's card is used).
pub fn card_for(store: &Store, id: &str) -> Result<ResolvedCard> {
    let id = id.trim();
    if let Some(card) = store.card_record(id)? {
        return Ok(card);
    }
    let upper = id.to_ascii_uppercase();
    if crate::mpi::id::is_valid_mpi_id(&upper) && store.mpi_identity(&upper)?.is_some() {
        let current = crate::mpi::current_mpi_id(store, &upper)?;
        for enrollment in store.mpi_members(&current)? {
            if let Some(card) = store.card_record(&enrollment)? {
                return Ok(card);
            }
        }
    }
    Err(WalletRefusal::NotFound(format!(
        "no card for {}: give an enrollment UID or an MPI ID this box knows",
        crate::output::escape_log(id, 40)
    ))
    .into())
}

/// The save link of one enrollment UID or MPI ID.
pub fn link_for(store: &Store, id: &str) -> Result<SaveLink> {
    let signer = WalletSigner::load(store)?;
    let card = card_for(store, id)?;
    let payload = crate::cards::qr::payload(store, &card)?;
    let content = CardContent::from_record(&card, payload);
    signer.link(&card.record.enrollment_uid, &content, trusted_now())
}

/// One enrollment a bulk request could not make a link for, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BulkError {
    pub enrollment_id: String,
    pub error: String,
}

/// The answer of a bulk request (the seed's shape plus `errors`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BulkLinks {
    /// `batch_` + 12 random hex digits (nothing is stored: it names this answer in logs).
    pub batch_id: String,
    /// Enrollments asked for.
    pub total: usize,
    /// Links made.
    pub processed: usize,
    /// One link per card, in the order asked.
    pub wallet_links: Vec<SaveLink>,
    /// Enrollments without a link (unknown ID, a QR payload too long).
    pub errors: Vec<BulkError>,
}

/// Save links for up to [`BULK_MAX`] enrollment UIDs (or MPI IDs); more, or none, is refused.
pub fn links_for_ids(store: &Store, ids: &[String]) -> Result<BulkLinks> {
    if ids.is_empty() {
        return Err(bad("enrollment_ids is empty: name 1 to 100 enrollments"));
    }
    if ids.len() > BULK_MAX {
        return Err(bad(format!(
            "{} enrollment_ids: at most {BULK_MAX} per request (split the list)",
            ids.len()
        )));
    }
    let signer = WalletSigner::load(store)?;
    let mut cards = Vec::with_capacity(ids.len());
    let mut errors = Vec::new();
    for id in ids {
        match card_for(store, id) {
            Ok(card) => cards.push(card),
            Err(e) if e.downcast_ref::<WalletRefusal>().is_some() => errors.push(BulkError {
                enrollment_id: id.clone(),
                error: e.to_string(),
            }),
            Err(e) => return Err(e),
        }
    }
    links_for_cards(store, &signer, ids.len(), &cards, errors)
}

/// Save links for every card of `program` that `filter` selects (the CLI: no 100 limit).
pub fn links_for_program(
    store: &Store,
    program: &str,
    filter: &EnrollmentFilter,
) -> Result<BulkLinks> {
    let known = store.card_programs()?;
    if !known.iter().any(|(uid, _)| uid == program) {
        let list: Vec<&str> = known.iter().map(|(uid, _)| uid.as_str()).collect();
        return Err(bad(format!(
            "unknown program {}; known programs: {}",
            crate::output::escape_log(program, 40),
            if list.is_empty() {
                "none yet (sync a program first: `kadi sync --program UID`)".to_string()
            } else {
                list.join(", ")
            }
        )));
    }
    let signer = WalletSigner::load(store)?;
    let cards = store.cards_to_generate(program, &filter.card_filter())?;
    links_for_cards(store, &signer, cards.len(), &cards, Vec::new())
}

fn links_for_cards(
    store: &Store,
    signer: &WalletSigner,
    total: usize,
    cards: &[ResolvedCard],
    mut errors: Vec<BulkError>,
) -> Result<BulkLinks> {
    let payloads = crate::cards::qr::payloads(store, cards)?;
    let now = trusted_now();
    let mut wallet_links = Vec::with_capacity(cards.len());
    for (card, payload) in cards.iter().zip(payloads) {
        let content = CardContent::from_record(card, payload);
        match signer.link(&card.record.enrollment_uid, &content, now) {
            Ok(link) => wallet_links.push(link),
            Err(e) => errors.push(BulkError {
                enrollment_id: card.record.enrollment_uid.clone(),
                error: format!("{e:#}"),
            }),
        }
    }
    Ok(BulkLinks {
        batch_id: format!(
            "batch_{}",
            crate::secret::hex(&crate::secret::random_bytes::<6>()?)
        ),
        total,
        processed: wallet_links.len(),
        wallet_links,
        errors,
    })
}

/// The SVG of a QR code of `text` (error correction L: a save link is long; dark modules as one
/// path, 4-module quiet zone), for the card page.
pub fn qr_svg(text: &str) -> Result<String> {
    use qrcodegen::{QrCode, QrCodeEcc};
    let qr = QrCode::encode_text(text, QrCodeEcc::Low)
        .map_err(|e| anyhow!("the link does not fit in a QR code ({e:?})"))?;
    let size = qr.size();
    let border = 4;
    let mut path = String::new();
    for y in 0..size {
        for x in 0..size {
            if qr.get_module(x, y) {
                use std::fmt::Write;
                let _ = write!(path, "M{},{}h1v1h-1z", x + border, y + border);
            }
        }
    }
    let dim = size + 2 * border;
    Ok(format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {dim} {dim}\" shape-rendering=\"crispEdges\"><rect width=\"100%\" height=\"100%\" fill=\"#fff\"/><path d=\"{path}\" fill=\"#000\"/></svg>"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh RSA-2048 PKCS#8 key from `openssl genpkey` (test only), or `None` without openssl.
    fn test_key() -> Option<Vec<u8>> {
        let out = std::process::Command::new("openssl")
            .args([
                "genpkey",
                "-algorithm",
                "RSA",
                "-pkeyopt",
                "rsa_keygen_bits:2048",
            ])
            .output()
            .ok()?;
        assert!(out.status.success());
        Some(pkcs8_from_pem(&String::from_utf8(out.stdout).unwrap()).unwrap())
    }

    fn test_settings() -> WalletSettings {
        WalletSettings {
            issuer_id: "3388000000022195123".into(),
            class_id: "3388000000022195123.kadi_health_card".into(),
            service_account_email: "kadi-wallet@test-only-project.iam.gserviceaccount.com".into(),
            card_title: DEFAULT_TITLE.into(),
            origins: vec![],
            valid_days: 365,
            background: DEFAULT_BACKGROUND.into(),
            language: "fr".into(),
        }
    }

    fn card(qr_len: usize) -> CardContent {
        CardContent {
            full_name: "Aminata Ndèye Fatou Diallo-Sarr".into(),
            mpi_id: Some("SN-DKR-26-VXCNET7F-2".into()),
            health_center: Some("Centre de santé de Pikine Est (District de Pikine)".into()),
            qr_payload: "K".repeat(qr_len),
            ..Default::default()
        }
    }

    #[test]
    fn a_long_qr_payload_leaves_optional_parts_out_in_order_and_the_link_stays_under_2000() {
        let Some(der) = test_key() else {
            eprintln!("SKIPPED: openssl is not installed");
            return;
        };
        let signer = WalletSigner::new(test_settings(), &der).unwrap();
        let now = trusted_now();
        let mut previous_left_out = 0;
        for qr_len in [30, 200, 300, 400, 500, 600] {
            let link = signer.link("W0000000001", &card(qr_len), now).unwrap();
            assert!(
                link.save_url.len() < MAX_LINK_CHARS,
                "{qr_len}: {}",
                link.link_chars
            );
            // Parts go in the documented order, and more only as the payload grows.
            assert_eq!(link.left_out[..], OPTIONAL_PARTS[..link.left_out.len()]);
            assert!(link.left_out.len() >= previous_left_out);
            previous_left_out = link.left_out.len();
            assert_eq!(link.expires.is_some(), !link.left_out.contains(&"expiry"));
            eprintln!(
                "QR payload {qr_len} chars -> link {} chars, left out {:?}",
                link.link_chars, link.left_out
            );
        }
        assert!(
            previous_left_out > 0,
            "a 600-character payload must cost something"
        );
        // A payload that cannot fit even alone is an error that says so, not a long link.
        let e = signer.link("W0000000001", &card(1200), now).unwrap_err();
        assert!(e.to_string().contains("QR payload is 1200"), "{e}");
    }

    #[test]
    fn the_same_card_is_the_same_pass_and_a_corrected_name_a_new_one() {
        let Some(der) = test_key() else {
            return;
        };
        let signer = WalletSigner::new(test_settings(), &der).unwrap();
        let a = signer
            .link("W0000000001", &card(30), trusted_now())
            .unwrap();
        let b = signer
            .link("W0000000001", &card(30), trusted_now())
            .unwrap();
        assert_eq!(a.object_id, b.object_id);
        let mut renamed = card(30);
        renamed.full_name = "Aminata Diallo".into();
        let c = signer.link("W0000000001", &renamed, trusted_now()).unwrap();
        assert_ne!(a.object_id, c.object_id);
        assert!(a.object_id.starts_with("3388000000022195123.W0000000001-"));
    }

    #[test]
    fn ids_origins_and_colours_are_checked_before_anything_is_stored() {
        assert!(full_class_id("33", "kadi_card").unwrap() == "33.kadi_card");
        assert!(full_class_id("33", "33.kadi.card-2").is_ok());
        assert!(full_class_id("33", "44.kadi").is_err());
        assert!(full_class_id("33", "kadi card").is_err());
        assert!(check_issuer_id("33a").is_err());
        assert!(check_origin("https://clinic.example:8443").is_ok());
        assert!(check_origin("https://clinic.example/path").is_err());
        assert!(check_background("#0b5d3b").is_ok());
        assert!(check_background("green").is_err());
    }
}
