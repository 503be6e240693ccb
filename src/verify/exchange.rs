//! Keys and revocations travel through DHIS2's dataStore, the hub every box already talks to
//! (namespace `kadi`): each box writes only its own two keys, `keys-<box id>` (its public keys
//! with their validity) and `revoked-<box id>` (the serials it revoked and, under `keys`, the
//! signing keys it revoked: a stolen box's, whoever's it is), so no two boxes ever write the same
//! key; and each box reads every other box's. A box that pulls the revocation of its own key
//! makes a new one and publishes it in the same exchange. Run after every sync
//! ([`crate::jobs::sync_program`]); a failure is reported and never fails the sync of records.
//!
//! What is pulled is checked before it is stored: a key's ID must be the hash of its public key
//! and the box inside the value must be the box its dataStore key names; malformed entries are
//! skipped and named in the report.
use crate::dhis2::Client;
use crate::store::verify_data::{CardKeyRow, RevocationRow, Revocations};
use crate::store::Store;
use anyhow::Result;
use kadi_sqlext::card;
use serde::{Deserialize, Serialize};

/// The dataStore namespace of kadi's shared values.
pub const NAMESPACE: &str = "kadi";

/// One public key as published.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PublishedKey {
    /// Hex key ID.
    pub kid: String,
    /// Hex Ed25519 public key.
    pub public_key: String,
    /// `YYYY-MM-DD`.
    pub valid_from: String,
    /// `YYYY-MM-DD` or absent while the key signs.
    #[serde(default)]
    pub valid_to: Option<String>,
}

/// The value of `keys-<box id>`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PublishedKeys {
    /// The publishing box.
    #[serde(rename = "box")]
    pub box_id: String,
    /// Its keys, current and retired.
    pub keys: Vec<PublishedKey>,
}

/// One revocation as published (who revoked it stays on the box).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PublishedRevocation {
    /// The card's serial.
    pub serial: String,
    /// `lost`, `reissued` or `merged`.
    pub reason: String,
    /// `YYYY-MM-DD`.
    pub revoked_on: String,
}

/// One whole signing key revoked, as published.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PublishedKeyRevocation {
    /// Hex key ID.
    pub kid: String,
    /// `stolen` or `compromised`.
    pub reason: String,
    /// `YYYY-MM-DD`.
    pub revoked_on: String,
}

/// The value of `revoked-<box id>`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PublishedRevocations {
    /// The publishing box.
    #[serde(rename = "box")]
    pub box_id: String,
    /// Its revocations.
    pub revocations: Vec<PublishedRevocation>,
    /// The signing keys it revoked (absent in what boxes before schema v17 published, and
    /// ignored by them). Read leniently: a malformed entry is kept as one that fails the checks
    /// (and is named in the report), so it never costs the box's card revocations beside it.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "lenient_key_revocations"
    )]
    pub keys: Vec<PublishedKeyRevocation>,
}

fn lenient_key_revocations<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Vec<PublishedKeyRevocation>, D::Error> {
    let malformed = |v: &serde_json::Value| PublishedKeyRevocation {
        kid: v.to_string().chars().take(40).collect(),
        reason: String::new(),
        revoked_on: String::new(),
    };
    Ok(match serde_json::Value::deserialize(d)? {
        serde_json::Value::Array(items) => items
            .iter()
            .map(|v| serde_json::from_value(v.clone()).unwrap_or_else(|_| malformed(v)))
            .collect(),
        serde_json::Value::Null => Vec::new(),
        other => vec![malformed(&other)],
    })
}

/// What one exchange did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ExchangeReport {
    /// This box's keys published.
    pub published_keys: usize,
    /// This box's revocations published.
    pub published_revocations: usize,
    /// Other boxes seen in the namespace.
    pub other_boxes: usize,
    /// Keys new or changed here.
    pub keys_pulled: usize,
    /// Revocations new here.
    pub revocations_pulled: usize,
    /// Signing keys this box revoked, published.
    pub published_key_revocations: usize,
    /// Signing-key revocations new here.
    pub key_revocations_pulled: usize,
    /// The new signing key made because this box's own key was revoked elsewhere.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new_signing_key: Option<String>,
    /// What went wrong (the exchange goes on past a bad entry).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<String>,
}

/// Publishes this box's keys and revocations and pulls every other box's, through the DHIS2
/// connection stored on the box.
pub fn exchange(store: &Store) -> Result<ExchangeReport> {
    let client = crate::link::client_from_store(store)?.with_timeouts(
        std::time::Duration::from_secs(10),
        std::time::Duration::from_secs(30),
    );
    exchange_with(store, &client)
}

/// [`exchange`] through `client`.
pub fn exchange_with(store: &Store, client: &Client) -> Result<ExchangeReport> {
    // A box that never signed a card still publishes a key, so its first cards verify elsewhere
    // as soon as they are printed.
    let signing = super::keys::signing_key(store)?.kid_hex;
    let me = store.box_id()?;
    let mut report = ExchangeReport {
        published_keys: publish_keys(store, client, &me)?,
        ..Default::default()
    };
    let revocations: Vec<PublishedRevocation> = store
        .revocations(Revocations::Cards, true)?
        .into_iter()
        .map(|r| PublishedRevocation {
            serial: r.id,
            reason: r.reason,
            revoked_on: r.revoked_on,
        })
        .collect();
    report.published_revocations = revocations.len();
    let keys: Vec<PublishedKeyRevocation> = store
        .revocations(Revocations::Keys, true)?
        .into_iter()
        .map(|r| PublishedKeyRevocation {
            kid: r.id,
            reason: r.reason,
            revoked_on: r.revoked_on,
        })
        .collect();
    report.published_key_revocations = keys.len();
    let value = serde_json::to_value(PublishedRevocations {
        box_id: me.clone(),
        revocations,
        keys,
    })?;
    client.datastore_put(NAMESPACE, &format!("revoked-{me}"), &value)?;
    for key in client.datastore_keys(NAMESPACE)? {
        if let Some(other) = key.strip_prefix("keys-").filter(|b| *b != me) {
            report.other_boxes += 1;
            if let Err(e) = pull_keys(store, client, &key, other, &mut report) {
                report.errors.push(format!("{key}: {e:#}"));
            }
        } else if let Some(other) = key.strip_prefix("revoked-").filter(|b| *b != me) {
            if let Err(e) = pull_revocations(store, client, &key, other, &mut report) {
                report.errors.push(format!("{key}: {e:#}"));
            }
        }
    }
    // Another box revoked this box's key (it was stolen, and this is the box back, or its
    // replacement restored from a backup): a new key signs from now on, published right away.
    let now_signing = super::keys::signing_key(store)?.kid_hex;
    if now_signing != signing {
        report.published_keys = publish_keys(store, client, &me)?;
        report.new_signing_key = Some(now_signing);
    }
    Ok(report)
}

/// Publishes this box's public keys as `keys-<me>`; answers how many.
fn publish_keys(store: &Store, client: &Client, me: &str) -> Result<usize> {
    let keys: Vec<PublishedKey> = store
        .card_keys(true)?
        .into_iter()
        .map(|k| PublishedKey {
            kid: k.kid,
            public_key: k.public_key,
            valid_from: k.valid_from,
            valid_to: k.valid_to,
        })
        .collect();
    let n = keys.len();
    let value = serde_json::to_value(PublishedKeys {
        box_id: me.to_string(),
        keys,
    })?;
    client.datastore_put(NAMESPACE, &format!("keys-{me}"), &value)?;
    Ok(n)
}

fn is_date(s: &str) -> bool {
    chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").is_ok()
}

/// Another box's dataStore entry `key`, read and checked to name that box (`None`: not published).
fn fetch<T: serde::de::DeserializeOwned>(
    client: &Client,
    key: &str,
    other: &str,
    box_of: impl Fn(&T) -> &String,
) -> Result<Option<T>> {
    let Some(value) = client.datastore_get(NAMESPACE, key)? else {
        return Ok(None);
    };
    let published: T = serde_json::from_value(value)?;
    let named = box_of(&published);
    anyhow::ensure!(
        named == other,
        "names box {named:?} under another box's key"
    );
    Ok(Some(published))
}

fn pull_keys(
    store: &Store,
    client: &Client,
    key: &str,
    other: &str,
    report: &mut ExchangeReport,
) -> Result<()> {
    let Some(published) = fetch::<PublishedKeys>(client, key, other, |p| &p.box_id)? else {
        return Ok(());
    };
    let mut rows = Vec::new();
    for k in published.keys {
        let public = card::kid_from_hex(&k.public_key).unwrap_or_default();
        let sound = public.len() == 32
            && card::hex(&card::key_id(&public)) == k.kid
            && is_date(&k.valid_from)
            && k.valid_to.as_deref().is_none_or(is_date);
        if !sound {
            report.errors.push(format!(
                "{key}: key {:?} skipped (its ID is not its public key's hash, or a date is wrong)",
                k.kid
            ));
            continue;
        }
        rows.push(CardKeyRow {
            kid: k.kid,
            public_key: k.public_key,
            box_id: other.to_string(),
            valid_from: k.valid_from,
            valid_to: k.valid_to,
            source: "dhis2".into(),
        });
    }
    report.keys_pulled += store.save_pulled_card_keys(&rows)?;
    Ok(())
}

fn pull_revocations(
    store: &Store,
    client: &Client,
    key: &str,
    other: &str,
    report: &mut ExchangeReport,
) -> Result<()> {
    let Some(published) = fetch::<PublishedRevocations>(client, key, other, |p| &p.box_id)? else {
        return Ok(());
    };
    let rows: Vec<RevocationRow> = published
        .revocations
        .into_iter()
        .filter(|r| {
            super::revoke::REASONS.contains(&r.reason.as_str())
                && is_date(&r.revoked_on)
                && !r.serial.is_empty()
                && r.serial.len() <= 64
        })
        .map(|r| RevocationRow {
            id: r.serial,
            reason: r.reason,
            revoked_on: r.revoked_on,
            revoked_by: format!("box:{other}"),
        })
        .collect();
    report.revocations_pulled += store.save_pulled_revocations(Revocations::Cards, other, &rows)?;
    let mut keys = Vec::new();
    for k in published.keys {
        if !super::revoke::is_key_id(&k.kid)
            || !super::revoke::KEY_REASONS.contains(&k.reason.as_str())
            || !is_date(&k.revoked_on)
        {
            report.errors.push(format!(
                "{key}: key revocation {:?} skipped (not a key ID, a known reason and a date)",
                k.kid
            ));
            continue;
        }
        keys.push(RevocationRow {
            id: k.kid,
            reason: k.reason,
            revoked_on: k.revoked_on,
            revoked_by: format!("box:{other}"),
        });
    }
    report.key_revocations_pulled +=
        store.save_pulled_revocations(Revocations::Keys, other, &keys)?;
    Ok(())
}
