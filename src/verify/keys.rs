//! This box's Ed25519 card key: made on first use, its private half (PKCS#8) sealed with the
//! box's key file (`<db>.key`, [`crate::secret::SecretKey`]) so a copy of the database alone
//! cannot sign cards; rotated with `kadi keys rotate`, which keeps the old public key (it goes on
//! verifying the cards it signed) and forgets the old private key.
use crate::secret::SecretKey;
use crate::store::verify_data::CardKeyRow;
use crate::store::Store;
use anyhow::{anyhow, Context, Result};
use base64::Engine;
use kadi_sqlext::card;
use ring::signature::{Ed25519KeyPair, KeyPair};

/// A key that signs: the pair and its ID.
pub struct SigningKey {
    pair: Ed25519KeyPair,
    /// Raw key ID bytes (in the COSE protected header).
    pub kid: Vec<u8>,
    /// Hex key ID.
    pub kid_hex: String,
}

impl SigningKey {
    /// A key made now and kept nowhere (the benchmark, tests without a store).
    pub fn ephemeral() -> Result<SigningKey> {
        let pkcs8 = new_pkcs8()?;
        SigningKey::from_pkcs8(&pkcs8)
    }

    /// The fixed sample key of sample cards (its seed is public: no box ever trusts it).
    pub fn sample() -> SigningKey {
        let pair = Ed25519KeyPair::from_seed_unchecked(&[0x6b; 32])
            .expect("a 32-byte seed is a valid Ed25519 seed");
        let kid = card::key_id(pair.public_key().as_ref());
        SigningKey {
            kid_hex: card::hex(&kid),
            kid,
            pair,
        }
    }

    fn from_pkcs8(pkcs8: &[u8]) -> Result<SigningKey> {
        let pair = Ed25519KeyPair::from_pkcs8(pkcs8)
            .map_err(|_| anyhow!("the card signing key is damaged (not an Ed25519 PKCS#8 key)"))?;
        let kid = card::key_id(pair.public_key().as_ref());
        Ok(SigningKey {
            kid_hex: card::hex(&kid),
            kid,
            pair,
        })
    }

    /// The 32-byte public key.
    pub fn public_key(&self) -> &[u8] {
        self.pair.public_key().as_ref()
    }

    /// Ed25519 signature of `message`.
    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        self.pair.sign(message).as_ref().to_vec()
    }
}

fn new_pkcs8() -> Result<Vec<u8>> {
    let rng = ring::rand::SystemRandom::new();
    Ed25519KeyPair::generate_pkcs8(&rng)
        .map(|d| d.as_ref().to_vec())
        .map_err(|_| anyhow!("no system randomness to make a card key"))
}

/// Makes a new key pair, seals its private key and makes it this box's signing key from today
/// (trusted date); the previous key stops signing today. Answers the new key and the retired IDs.
fn install_new_key(store: &Store, actor: &str) -> Result<(SigningKey, Vec<String>)> {
    let pkcs8 = new_pkcs8()?;
    let key = SigningKey::from_pkcs8(&pkcs8)?;
    let sealed = SecretKey::load_or_create(store.path())?
        .seal(&base64::engine::general_purpose::STANDARD.encode(&pkcs8))
        .context("sealing the card signing key")?;
    let row = CardKeyRow {
        kid: key.kid_hex.clone(),
        public_key: card::hex(key.public_key()),
        box_id: store.box_id()?,
        valid_from: store.trusted_today()?.format("%Y-%m-%d").to_string(),
        valid_to: None,
        source: "local".into(),
    };
    let retired = store.install_card_signing_key(&row, &sealed, actor)?;
    Ok((key, retired))
}

/// This box's signing key, made (and sealed) on first use. A key revoked here or by another box
/// (`kadi keys revoke`: a stolen box, a leaked key file) never signs again: a new key replaces
/// it on the spot, and the box's next sync publishes it.
pub fn signing_key(store: &Store) -> Result<SigningKey> {
    let Some((row, sealed)) = store.card_signing_key()? else {
        return Ok(install_new_key(store, "system")?.0);
    };
    if store
        .revocation(crate::store::verify_data::Revocations::Keys, &row.kid)?
        .is_some()
    {
        return Ok(install_new_key(store, "system")?.0);
    }
    let opened = SecretKey::load(store.path())
        .and_then(|k| k.open(&sealed))
        .with_context(|| format!("opening the card signing key {} (the database without its .key file cannot sign cards; `kadi keys rotate` makes a new key)", row.kid))?;
    let pkcs8 = base64::engine::general_purpose::STANDARD
        .decode(opened.trim())
        .context("the sealed card signing key is not base64")?;
    SigningKey::from_pkcs8(&pkcs8)
}

/// What `kadi keys rotate` did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Rotation {
    /// The new signing key's ID.
    pub kid: String,
    /// Its first day.
    pub valid_from: String,
    /// Keys that stopped signing (they still verify their cards).
    pub retired: Vec<String>,
}

/// Replaces this box's signing key with a new one; old public keys stay for verification.
pub fn rotate(store: &Store, actor: &crate::actor::Actor) -> Result<Rotation> {
    let (key, retired) = install_new_key(store, actor.as_str())?;
    Ok(Rotation {
        kid: key.kid_hex,
        valid_from: store.trusted_today()?.format("%Y-%m-%d").to_string(),
        retired,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_is_made_once_sealed_and_rotation_keeps_the_old_public_key() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("k.db");
        let store = Store::open(&db).unwrap();
        let a = signing_key(&store).unwrap();
        assert_eq!(signing_key(&store).unwrap().kid_hex, a.kid_hex);
        // The database holds no private key in a readable form.
        let sealed: String = store.card_signing_key().unwrap().unwrap().1;
        let raw = base64::engine::general_purpose::STANDARD
            .decode(&sealed)
            .unwrap();
        assert!(
            !raw.windows(32).any(|w| w == a.public_key()),
            "the PKCS#8 (which holds the public key) is stored in clear"
        );
        let r = rotate(&store, &crate::actor::Actor::Cli).unwrap();
        assert_eq!(r.retired, vec![a.kid_hex.clone()]);
        assert_ne!(signing_key(&store).unwrap().kid_hex, a.kid_hex);
        let keys = store.card_keys(true).unwrap();
        assert_eq!(keys.len(), 2);
        assert!(keys
            .iter()
            .any(|k| k.kid == a.kid_hex && k.valid_to.is_some()));
        // Without the key file, the database cannot sign.
        std::fs::remove_file(SecretKey::path_for(&db)).unwrap();
        let err = format!("{:#}", signing_key(&store).err().unwrap());
        assert!(err.contains("cannot sign cards"), "{err}");
    }
}
