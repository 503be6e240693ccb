//! Issuing cards: each person (MPI ID, or `ENR:<enrollment>` before resolution) gets one serial
//! per signing key, issued on the trusted date (the DHIS2 server's clock, never the bare box
//! clock) and kept until revoked, so a card rendered again carries the same payload (Ed25519
//! signatures are deterministic) and the generator's content hashes stay put.
use super::keys::{signing_key, SigningKey};
use crate::store::Store;
use anyhow::{anyhow, Result};
use kadi_sqlext::card::{self, Claims};

/// What a card says about its holder, before a serial and an issue date are added.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Holder {
    /// MPI ID, or `ENR:<enrollment uid>` for a record not resolved yet.
    pub subject: String,
    /// Name as printed.
    pub name: String,
    /// `YYYY-MM-DD`.
    pub date_of_birth: Option<String>,
    /// Health centre as printed.
    pub health_center: Option<String>,
}

/// A new serial: ten characters of the MPI ID alphabet (50 random bits), unique across boxes.
pub fn new_serial() -> Result<String> {
    const ALPHABET: &[u8; 32] = b"23456789ABCDEFGHJKLMNPQRSTUVWXYZ";
    let bytes: [u8; 10] = crate::secret::random_bytes()?;
    Ok(bytes
        .iter()
        .map(|b| ALPHABET[(b & 31) as usize] as char)
        .collect())
}

/// Signs `claims` (its `kid` is ignored: the key's goes in the protected header).
pub fn sign_claims(key: &SigningKey, claims: &Claims) -> Result<String> {
    card::sign_payload(claims, &key.kid, |m| key.sign(m))
        .map_err(|e| anyhow!("encoding the card payload: {e}"))
}

/// The signed QR payloads of `holders`' cards, in order: serials already issued under the
/// current key are reused, new ones recorded in one transaction.
pub fn payloads(store: &Store, holders: &[Holder]) -> Result<Vec<String>> {
    let key = signing_key(store)?;
    let subjects: Vec<String> = holders.iter().map(|h| h.subject.clone()).collect();
    let mut issued = store.current_card_issues(&subjects, &key.kid_hex)?;
    let today = store.trusted_today()?.format("%Y-%m-%d").to_string();
    let mut new = Vec::new();
    for s in &subjects {
        if !issued.contains_key(s) {
            let serial = new_serial()?;
            new.push((s.clone(), serial.clone()));
            issued.insert(
                s.clone(),
                crate::store::verify_data::CardIssue {
                    serial,
                    issued_on: today.clone(),
                },
            );
        }
    }
    store.record_card_issues(&new, &key.kid_hex, &today)?;
    holders
        .iter()
        .map(|h| {
            let issue = &issued[&h.subject];
            let claims = Claims {
                mpi_id: h.subject.clone(),
                name: h.name.clone(),
                date_of_birth: h.date_of_birth.clone(),
                health_center: h.health_center.clone(),
                issued_on: issue.issued_on.clone(),
                serial: issue.serial.clone(),
                kid: key.kid_hex.clone(),
            };
            sign_claims(&key, &claims)
        })
        .collect()
}

/// The payload of one holder's card ([`payloads`] for one).
pub fn payload(store: &Store, holder: &Holder) -> Result<String> {
    Ok(payloads(store, std::slice::from_ref(holder))?
        .pop()
        .unwrap_or_default())
}
