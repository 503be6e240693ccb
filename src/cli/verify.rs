//! `kadi verify`, `kadi keys` and `kadi card`: signed cards (docs/verify.md).
use clap::{Args, Subcommand};
use kadi::actor::Actor;
use kadi::output::{report, AlreadyReported};
use kadi::store::Store;
use std::path::{Path, PathBuf};

/// `kadi verify PAYLOAD | --image card.png [--json]`.
#[derive(Args)]
pub struct VerifyArgs {
    /// The card's QR payload (`KC1:...`), as scanned.
    #[arg(required_unless_present = "image", conflicts_with = "image")]
    pub payload: Option<String>,
    /// A PNG of the card (or a photo of it): its QR code is read first.
    #[arg(long)]
    pub image: Option<PathBuf>,
    /// Print one JSON document instead of text.
    #[arg(long)]
    pub json: bool,
}

impl VerifyArgs {
    /// Verifies offline with the keys and revocations in the store; exits 1 unless valid.
    pub fn run(self, db: &Path) -> anyhow::Result<()> {
        let store = Store::open(db)?;
        let payload = match (&self.payload, &self.image) {
            (Some(p), _) => p.clone(),
            (None, Some(path)) => {
                let bytes = std::fs::read(path)
                    .map_err(|e| anyhow::anyhow!("reading {}: {e}", path.display()))?;
                let found = kadi::cards::scan::decode_qr(&bytes)
                    .map_err(|e| e.context(format!("reading a QR code in {}", path.display())))?;
                // A card has one QR; take the first that reads as a card payload, else the first.
                found
                    .iter()
                    .find(|p| p.starts_with(kadi_sqlext::card::PREFIX))
                    .or(found.first())
                    .cloned()
                    .ok_or_else(|| anyhow::anyhow!("no QR code found in {}", path.display()))?
            }
            (None, None) => anyhow::bail!("give a payload or --image FILE"),
        };
        let verdict = kadi::verify::verify(&store, &payload)?;
        report(self.json, &verdict, || {
            let mut s = verdict.status.as_str().to_string();
            if let Some(c) = &verdict.claims {
                s.push_str(&format!(
                    "\n{} · {} · born {} · {}\ncard {} issued {} by key {}",
                    c.name,
                    c.mpi_id,
                    c.date_of_birth.as_deref().unwrap_or("—"),
                    c.health_center.as_deref().unwrap_or("—"),
                    c.serial,
                    c.issued_on,
                    c.kid
                ));
            }
            if let Some(r) = &verdict.reason {
                s.push_str(&format!("\n{r}"));
            }
            s
        })?;
        if verdict.status == kadi::verify::Status::Valid {
            Ok(())
        } else {
            Err(AlreadyReported(1).into())
        }
    }
}

/// `kadi keys`: this box's card signing keys.
#[derive(Args)]
pub struct KeysArgs {
    #[command(subcommand)]
    pub command: KeysCommand,
}

#[derive(Subcommand)]
pub enum KeysCommand {
    /// Make a new signing key; old public keys keep verifying the cards they signed.
    Rotate {
        /// Print one JSON document instead of text.
        #[arg(long)]
        json: bool,
    },
    /// List the card keys this box knows (its own and those pulled from DHIS2) and the revoked ones.
    List {
        /// Print one JSON document instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a whole signing key (a stolen box, a leaked key file): every card it signed verifies
    /// as revoked, here now and on every box after its next sync; the box whose key it was signs
    /// with a new one. Its people's cards are then printed again.
    Revoke {
        /// The key ID (`kadi keys list`, or `kadi verify` on one of its cards).
        #[arg(long)]
        kid: String,
        /// Why: stolen or compromised.
        #[arg(long, value_parser = ["stolen", "compromised"])]
        reason: String,
        /// Print one JSON document instead of text.
        #[arg(long)]
        json: bool,
    },
}

impl KeysArgs {
    /// Runs the keys subcommand.
    pub fn run(self, db: &Path) -> anyhow::Result<()> {
        let store = Store::open(db)?;
        match self.command {
            KeysCommand::Rotate { json } => {
                let r = kadi::verify::keys::rotate(&store, &Actor::Cli)?;
                report(json, &r, || {
                    let mut s = format!("new card key {} signs from {}", r.kid, r.valid_from);
                    for k in &r.retired {
                        s.push_str(&format!("\nkey {k} retired (it still verifies its cards)"));
                    }
                    s
                })
            }
            KeysCommand::List { json } => {
                // Make the box's key if it has none, so the list is never empty on a box.
                kadi::verify::keys::signing_key(&store)?;
                let keys = store.card_keys(false)?;
                let revoked =
                    store.revocations(kadi::store::verify_data::Revocations::Keys, false)?;
                let me = store.box_id()?;
                let value = serde_json::json!({
                    "box_id": me,
                    "keys": keys,
                    "revoked_keys": revoked.iter().map(|r| serde_json::json!({
                        "kid": r.id, "reason": r.reason, "revoked_on": r.revoked_on,
                        "revoked_by": r.revoked_by,
                    })).collect::<Vec<_>>(),
                });
                report(json, &value, || {
                    let mut s = format!("this box: {me}");
                    for k in &keys {
                        s.push_str(&format!(
                            "\n{} box {} {} from {} to {}",
                            k.kid,
                            k.box_id,
                            k.source,
                            k.valid_from,
                            k.valid_to.as_deref().unwrap_or("now")
                        ));
                        if let Some(r) = revoked.iter().find(|r| r.id == k.kid) {
                            s.push_str(&format!(" REVOKED ({}) on {}", r.reason, r.revoked_on));
                        }
                    }
                    for r in revoked
                        .iter()
                        .filter(|r| !keys.iter().any(|k| k.kid == r.id))
                    {
                        s.push_str(&format!(
                            "\n{} (not pulled yet) REVOKED ({}) on {}",
                            r.id, r.reason, r.revoked_on
                        ));
                    }
                    s
                })
            }
            KeysCommand::Revoke { kid, reason, json } => {
                let r = kadi::verify::revoke::revoke_key(&store, &kid, &reason, &Actor::Cli)?;
                report(json, &r, || {
                    let mut s = if r.newly_revoked {
                        format!(
                            "key {} revoked ({}): every card it signed is revoked",
                            r.kid, r.reason
                        )
                    } else {
                        format!("key {} was already revoked", r.kid)
                    };
                    if r.own_key {
                        s.push_str("\nit was this box's key: a new key signs from now on; print its cards again");
                    }
                    s.push_str("\nother boxes learn it at this box's next sync");
                    s
                })
            }
        }
    }
}

/// `kadi card`: one card's life after printing.
#[derive(Args)]
pub struct CardArgs {
    #[command(subcommand)]
    pub command: CardCommand,
}

#[derive(Subcommand)]
pub enum CardCommand {
    /// Revoke a card by its serial; every box learns it at its next sync.
    Revoke {
        /// The card's serial (`kadi verify` shows it).
        #[arg(long)]
        serial: String,
        /// Why: lost, reissued or merged.
        #[arg(long, value_parser = ["lost", "reissued", "merged"])]
        reason: String,
        /// Print one JSON document instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Reissue a person's card: the live cards are revoked (reissued); the next print gets a new serial.
    Reissue {
        /// The MPI ID whose card is reissued.
        #[arg(long)]
        mpi_id: String,
        /// Print one JSON document instead of text.
        #[arg(long)]
        json: bool,
    },
}

impl CardArgs {
    /// Runs the card subcommand.
    pub fn run(self, db: &Path) -> anyhow::Result<()> {
        let store = Store::open(db)?;
        match self.command {
            CardCommand::Revoke {
                serial,
                reason,
                json,
            } => {
                let r = kadi::verify::revoke::revoke(&store, &serial, &reason, &Actor::Cli)?;
                report(json, &r, || {
                    if r.newly_revoked {
                        format!("card {} revoked ({})", r.serial, r.reason)
                    } else {
                        format!("card {} was already revoked", r.serial)
                    }
                })
            }
            CardCommand::Reissue { mpi_id, json } => {
                let revoked = kadi::verify::revoke::reissue(&store, mpi_id.trim(), &Actor::Cli)?;
                let value = serde_json::json!({ "mpi_id": mpi_id.trim(), "revoked": revoked });
                report(json, &value, || {
                    if revoked.is_empty() {
                        format!(
                            "no live card for {}: the next print issues one",
                            mpi_id.trim()
                        )
                    } else {
                        format!(
                            "revoked {} (reissued); the next print of {} gets a new serial",
                            revoked.join(", "),
                            mpi_id.trim()
                        )
                    }
                })
            }
        }
    }
}
