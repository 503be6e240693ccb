//! Revoking cards: a lost card, a card replaced by a new one (reissued), or the cards of an MPI
//! identity merged into another (the store revokes those inside the merge). A revocation is a
//! serial on this box's list, published as `revoked-<box id>` at the next sync.
//!
//! And revoking a whole signing key: a stolen box (or a leaked key file) can sign cards with any
//! issue date, so every card under that key is revoked, on every box after its next sync, and
//! the box whose key it was makes a new one ([`super::keys::signing_key`]). Any box may revoke
//! any key: who may write the `kadi` dataStore namespace is DHIS2's sharing to decide.
use crate::actor::Actor;
use crate::store::verify_data::Revocations;
use crate::store::Store;
use anyhow::{bail, Result};

/// Why a card is revoked.
pub const REASONS: &[&str] = &["lost", "reissued", "merged"];

/// What a revocation did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Revoked {
    /// The serial.
    pub serial: String,
    /// The reason given.
    pub reason: String,
    /// False when the serial was revoked already (nothing changed).
    pub newly_revoked: bool,
}

/// Revokes card `serial` for `reason` (one of [`REASONS`]).
pub fn revoke(store: &Store, serial: &str, reason: &str, by: &Actor) -> Result<Revoked> {
    let serial = serial.trim().to_ascii_uppercase();
    if !REASONS.contains(&reason) {
        bail!("unknown reason {reason:?}: use lost, reissued or merged");
    }
    if serial.is_empty() || serial.len() > 64 || !serial.chars().all(|c| c.is_ascii_alphanumeric())
    {
        bail!("{serial:?} is not a card serial (letters and digits, as printed in `kadi verify`)");
    }
    let newly_revoked = store.revoke(Revocations::Cards, &serial, reason, by.as_str())?;
    Ok(Revoked {
        serial,
        reason: reason.to_string(),
        newly_revoked,
    })
}

/// Reissues the card of `subject` (an MPI ID): its live cards are revoked (`reissued`), so the
/// next render issues a new serial. Answers the revoked serials.
pub fn reissue(store: &Store, subject: &str, by: &Actor) -> Result<Vec<String>> {
    let serials = store.live_card_serials(subject)?;
    for s in &serials {
        store.revoke(Revocations::Cards, s, "reissued", by.as_str())?;
    }
    Ok(serials)
}

/// Why a whole signing key is revoked.
pub const KEY_REASONS: &[&str] = &["stolen", "compromised"];

/// What a key revocation did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct KeyRevoked {
    /// The key ID.
    pub kid: String,
    /// The reason given.
    pub reason: String,
    /// The box that held the key, when this box knows the key.
    pub box_id: Option<String>,
    /// Whether it was this box's own key (it signs with a new one from now on).
    pub own_key: bool,
    /// False when the key was revoked already (nothing changed).
    pub newly_revoked: bool,
}

/// True for a key ID as kadi writes them: 16 lowercase hex digits.
pub fn is_key_id(kid: &str) -> bool {
    kid.len() == 16
        && kid
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Revokes signing key `kid` for `reason` (one of [`KEY_REASONS`]). The key need not be known
/// here yet (a box that never synced with the stolen one can still refuse its cards).
pub fn revoke_key(store: &Store, kid: &str, reason: &str, by: &Actor) -> Result<KeyRevoked> {
    let kid = kid.trim().to_ascii_lowercase();
    if !KEY_REASONS.contains(&reason) {
        bail!("unknown reason {reason:?}: use stolen or compromised");
    }
    if !is_key_id(&kid) {
        bail!(
            "{kid:?} is not a key ID (16 hex digits, as `kadi keys list` and `kadi verify` show)"
        );
    }
    let known = store.card_keys_for(&kid)?;
    let own_key = known.iter().any(|k| k.source == "local");
    let newly_revoked = store.revoke(Revocations::Keys, &kid, reason, by.as_str())?;
    if own_key {
        // Never sign with it again, starting now.
        super::keys::signing_key(store)?;
    }
    Ok(KeyRevoked {
        box_id: known.first().map(|k| k.box_id.clone()),
        kid,
        reason: reason.to_string(),
        own_key,
        newly_revoked,
    })
}
