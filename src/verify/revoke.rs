//! Revoking cards: a lost card, a card replaced by a new one (reissued), or the cards of an MPI
//! identity merged into another (the store revokes those inside the merge). A revocation is a
//! serial on this box's list, published as `revoked-<box id>` at the next sync.
use crate::actor::Actor;
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
    let newly_revoked = store.revoke_card(&serial, reason, by.as_str())?;
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
        store.revoke_card(s, "reissued", by.as_str())?;
    }
    Ok(serials)
}
