//! Verifying a payload on this box: the keys and revocations in the store, the format's rules
//! ([`kadi_sqlext::card::verify`], the same code as the SQL function `kadi_verify`).
use crate::store::verify_data::Revocations;
use crate::store::Store;
use anyhow::Result;
use kadi_sqlext::card::{self, CardKey, Verdict};

/// The verdict on `payload` with what this box knows (no network).
pub fn verify(store: &Store, payload: &str) -> Result<Verdict> {
    // Read what the verdict may need first, so a database error is an error, not a status.
    let (kid, serial) = card::decode(payload)
        .map(|d| (card::hex(&d.kid), d.claims.serial))
        .unwrap_or_default();
    let keys: Vec<CardKey> = store
        .card_keys_for(&kid)?
        .into_iter()
        .map(|k| CardKey {
            public_key: card::kid_from_hex(&k.public_key).unwrap_or_default(),
            kid: k.kid,
            box_id: k.box_id,
            valid_from: k.valid_from,
            valid_to: k.valid_to,
        })
        .collect();
    let revoked = store.revocation(Revocations::Cards, &serial)?;
    let key_revoked = store.revocation(Revocations::Keys, &kid)?;
    Ok(card::verify_with_key_revocations(
        payload,
        |k| if k == kid { keys.clone() } else { Vec::new() },
        |k| if k == kid { key_revoked.clone() } else { None },
        |s| if s == serial { revoked.clone() } else { None },
    ))
}
