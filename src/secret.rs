//! Secrets at rest (the DHIS2 password or personal access token). The database file never holds
//! them in clear text: they are sealed with ChaCha20-Poly1305 under a 256-bit key kept in a file
//! beside the database (`<db>.key`, mode 0600), so copying the database alone (a backup, an
//! analyst's read-only copy) does not leak credentials.
use anyhow::{anyhow, bail, Context, Result};
use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use std::path::{Path, PathBuf};

/// A key that seals and opens secrets for one database.
pub struct SecretKey(Key);

impl SecretKey {
    /// Path of the key file that belongs to database `db`.
    pub fn path_for(db: &Path) -> PathBuf {
        let mut p = db.as_os_str().to_owned();
        p.push(".key");
        PathBuf::from(p)
    }

    /// Loads the key for `db`, creating it (0600) on first use.
    pub fn load_or_create(db: &Path) -> Result<Self> {
        let path = Self::path_for(db);
        if path.exists() {
            let bytes = std::fs::read(&path)
                .with_context(|| format!("reading key file {}", path.display()))?;
            if bytes.len() != 32 {
                bail!(
                    "key file {} is damaged (expected 32 bytes, found {})",
                    path.display(),
                    bytes.len()
                );
            }
            return Ok(SecretKey(*Key::from_slice(&bytes)));
        }
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).map_err(|e| anyhow!("no system randomness: {e}"))?;
        write_private(&path, &bytes)?;
        Ok(SecretKey(*Key::from_slice(&bytes)))
    }

    /// Seals `plain` into a printable string (base64 of nonce + ciphertext).
    pub fn seal(&self, plain: &str) -> Result<String> {
        let mut nonce = [0u8; 12];
        getrandom::fill(&mut nonce).map_err(|e| anyhow!("no system randomness: {e}"))?;
        let cipher = ChaCha20Poly1305::new(&self.0);
        let ct = cipher
            .encrypt(Nonce::from_slice(&nonce), plain.as_bytes())
            .map_err(|_| anyhow!("could not seal secret"))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&ct);
        Ok(base64::engine::general_purpose::STANDARD.encode(out))
    }

    /// Opens a string made by [`SecretKey::seal`].
    pub fn open(&self, sealed: &str) -> Result<String> {
        let raw = base64::engine::general_purpose::STANDARD
            .decode(sealed)
            .context("stored secret is not valid base64")?;
        if raw.len() < 12 + 16 {
            bail!("stored secret is truncated");
        }
        let cipher = ChaCha20Poly1305::new(&self.0);
        let plain = cipher
            .decrypt(Nonce::from_slice(&raw[..12]), &raw[12..])
            .map_err(|_| anyhow!("stored secret does not open with this box's key file (was the database copied without its .key?)"))?;
        String::from_utf8(plain).context("stored secret is not UTF-8")
    }
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    opts.mode(0o600);
    let mut f = opts
        .open(path)
        .with_context(|| format!("creating key file {}", path.display()))?;
    f.write_all(bytes)
        .with_context(|| format!("writing key file {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_secret_opens_and_hides_the_plain_text() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("k.db");
        let key = SecretKey::load_or_create(&db).unwrap();
        let sealed = key.seal("district").unwrap();
        assert!(!sealed.contains("district"));
        let again = SecretKey::load_or_create(&db).unwrap();
        assert_eq!(again.open(&sealed).unwrap(), "district");
    }

    #[test]
    fn a_foreign_key_cannot_open_a_secret() {
        let dir = tempfile::tempdir().unwrap();
        let a = SecretKey::load_or_create(&dir.path().join("a.db")).unwrap();
        let b = SecretKey::load_or_create(&dir.path().join("b.db")).unwrap();
        let sealed = a.seal("district").unwrap();
        assert!(b.open(&sealed).is_err());
    }
}
