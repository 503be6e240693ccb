//! Secrets at rest and the box's few cryptographic building blocks (random bytes, HMAC-SHA256,
//! hex), written once here so the card QR tokens, the staff PIN hashes, session tokens and IDs all
//! rest on the same tested code.
//!
//! The DHIS2 password or personal access token is a secret at rest. The database file never holds
//! it in clear text: they are sealed with ChaCha20-Poly1305 under a 256-bit key kept in a file
//! beside the database (`<db>.key`, mode 0600, written atomically), so copying the database alone (a backup, an
//! analyst's read-only copy) does not leak credentials.
use anyhow::{anyhow, bail, Context, Result};
use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// `N` bytes from the operating system's cryptographic random source.
pub fn random_bytes<const N: usize>() -> Result<[u8; N]> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).map_err(|e| anyhow!("no system randomness: {e}"))?;
    Ok(bytes)
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    // A table, not `write!("{:02x}")` per byte: that was 8,000 instructions for a SHA-256
    // digest, and every card record written hashes its fields (a tenth of writing them).
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

/// An HMAC-SHA256 key (RFC 2104) with its inner and outer states computed once, so each message
/// costs two hash compressions: PBKDF2's many iterations depend on that.
#[derive(Clone)]
pub struct HmacSha256 {
    inner: Sha256,
    outer: Sha256,
}

impl HmacSha256 {
    /// Prepares `key` (hashed first when longer than SHA-256's 64-byte block).
    pub fn new(key: &[u8]) -> Self {
        let mut block = [0u8; 64];
        if key.len() > 64 {
            block[..32].copy_from_slice(&Sha256::digest(key));
        } else {
            block[..key.len()].copy_from_slice(key);
        }
        let mut inner = Sha256::new();
        inner.update(block.map(|b| b ^ 0x36));
        let mut outer = Sha256::new();
        outer.update(block.map(|b| b ^ 0x5c));
        HmacSha256 { inner, outer }
    }

    /// The MAC of the concatenation of `parts`.
    pub fn mac(&self, parts: &[&[u8]]) -> [u8; 32] {
        let mut inner = self.inner.clone();
        for part in parts {
            inner.update(part);
        }
        let mut outer = self.outer.clone();
        outer.update(inner.finalize());
        outer.finalize().into()
    }
}

/// HMAC-SHA256 of `message` under `key`.
pub fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    HmacSha256::new(key).mac(&[message])
}

/// A key that seals and opens secrets for one database.
pub struct SecretKey(Key);

impl SecretKey {
    /// Path of the key file that belongs to database `db`.
    pub fn path_for(db: &Path) -> PathBuf {
        let mut p = db.as_os_str().to_owned();
        p.push(".key");
        PathBuf::from(p)
    }

    /// Loads the key for `db`, or makes a new one (written atomically, 0600) when the file is
    /// missing, empty or short (what a power cut during its first write used to leave). Only for
    /// sealing a secret that replaces whatever was sealed before (`kadi dhis2 config`): a new
    /// key cannot open an old sealed secret, so opening goes through [`SecretKey::load`].
    pub fn load_or_create(db: &Path) -> Result<Self> {
        if let Some(key) = Self::read_file(db)?.and_then(|b| Self::from_bytes(&b)) {
            return Ok(key);
        }
        let bytes: [u8; 32] = random_bytes()?;
        crate::fsx::write_atomic(&Self::path_for(db), &bytes)
            .context("saving the box's secret key file")?;
        Ok(SecretKey(*Key::from_slice(&bytes)))
    }

    /// Loads the existing key for `db`, to open a stored secret. A missing, empty or damaged key
    /// file is an error that says what to do; a new key is never made here, since it could not
    /// open the secret sealed under the lost one.
    pub fn load(db: &Path) -> Result<Self> {
        let path = Self::path_for(db);
        let what_to_do = "restore the box from a backup (`kadi restore --from FILE`), or enter the DHIS2 password or token again with `kadi dhis2 config` (which makes a new key)";
        match Self::read_file(db)? {
            None => bail!(
                "key file {} is missing, so the stored DHIS2 secret cannot be opened: {what_to_do}",
                path.display()
            ),
            Some(bytes) => Self::from_bytes(&bytes).ok_or_else(|| {
                anyhow!(
                    "key file {} is damaged (expected 32 bytes, found {}; a power cut?), so the stored DHIS2 secret cannot be opened: {what_to_do}",
                    path.display(),
                    bytes.len()
                )
            }),
        }
    }

    /// The raw content of `db`'s key file, `None` when there is none (for backups).
    pub fn read_file(db: &Path) -> Result<Option<Vec<u8>>> {
        let path = Self::path_for(db);
        match std::fs::read(&path) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).with_context(|| format!("reading key file {}", path.display())),
        }
    }

    /// A key from its 32 raw bytes (`None` for any other length).
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        (bytes.len() == 32).then(|| SecretKey(*Key::from_slice(bytes)))
    }

    /// Seals `plain` into a printable string (base64 of nonce + ciphertext).
    pub fn seal(&self, plain: &str) -> Result<String> {
        let nonce: [u8; 12] = random_bytes()?;
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
    fn hmac_matches_the_rfc_4231_test_vectors() {
        // Test case 2 (short key) and test case 6 (key longer than the block).
        let mac = hmac_sha256(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(
            hex(&mac),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        let long_key = [0xaau8; 131];
        let mac = hmac_sha256(
            &long_key,
            b"Test Using Larger Than Block-Size Key - Hash Key First",
        );
        assert_eq!(
            hex(&mac),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
        // Parts are concatenated.
        assert_eq!(
            HmacSha256::new(b"Jefe").mac(&[b"what do ya ", b"want for nothing?"]),
            hmac_sha256(b"Jefe", b"what do ya want for nothing?")
        );
    }

    #[test]
    fn random_bytes_differ_and_hex_is_lower_case() {
        let a: [u8; 16] = random_bytes().unwrap();
        let b: [u8; 16] = random_bytes().unwrap();
        assert_ne!(a, b);
        assert_eq!(hex(&[0x00, 0xab, 0xff]), "00abff");
    }

    #[test]
    fn a_foreign_key_cannot_open_a_secret() {
        let dir = tempfile::tempdir().unwrap();
        let a = SecretKey::load_or_create(&dir.path().join("a.db")).unwrap();
        let b = SecretKey::load_or_create(&dir.path().join("b.db")).unwrap();
        let sealed = a.seal("district").unwrap();
        assert!(b.open(&sealed).is_err());
    }

    #[test]
    fn an_empty_key_file_is_a_clear_error_when_opening_and_replaced_when_sealing_anew() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("k.db");
        let sealed = SecretKey::load_or_create(&db)
            .unwrap()
            .seal("district")
            .unwrap();
        // A power cut during the key file's write left it empty.
        std::fs::write(SecretKey::path_for(&db), b"").unwrap();
        let err = format!("{:#}", SecretKey::load(&db).err().unwrap());
        assert!(
            err.contains("damaged") && err.contains("kadi restore"),
            "{err}"
        );
        // Opening never makes a new key behind the operator's back.
        assert_eq!(SecretKey::read_file(&db).unwrap().unwrap().len(), 0);
        // Sealing a new secret replaces the damaged file with a whole, private one.
        let key = SecretKey::load_or_create(&db).unwrap();
        assert!(key.open(&sealed).is_err());
        let again = SecretKey::load(&db).unwrap();
        assert_eq!(again.open(&key.seal("new").unwrap()).unwrap(), "new");
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(SecretKey::path_for(&db))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let missing = format!(
            "{:#}",
            SecretKey::load(&dir.path().join("none.db")).err().unwrap()
        );
        assert!(missing.contains("missing"), "{missing}");
    }
}
