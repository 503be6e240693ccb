//! Staff authentication for the page: PIN hashing (PBKDF2-HMAC-SHA256, salted, many iterations),
//! random session tokens of which only a SHA-256 hash is stored, the session cookie, and a login
//! throttle. A PIN has little entropy, so the throttle (not the hash) is what stops guessing over
//! the LAN; the slow hash protects PINs reused elsewhere if the database file leaks.
use anyhow::{bail, Result};
use base64::Engine;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::secret::{hex, random_bytes, HmacSha256};

/// PBKDF2 iterations for new PIN hashes (about a quarter of a second on a Raspberry Pi 4).
pub const PIN_ITERATIONS: u32 = 210_000;
/// Name of the session cookie.
pub const SESSION_COOKIE: &str = "kadi_session";
/// How long a session lives after login.
pub const SESSION_TTL: Duration = Duration::from_secs(12 * 3600);
/// Failed logins (per username, and per client address) allowed within [`THROTTLE_WINDOW`].
pub const MAX_FAILED_LOGINS: u32 = 5;
/// The window in which failed logins are counted; a locked name unlocks when it passes.
pub const THROTTLE_WINDOW: Duration = Duration::from_secs(15 * 60);

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD_NO_PAD;
const B64URL: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// Checks a PIN's shape: 4 to 12 digits.
pub fn validate_pin(pin: &str) -> Result<()> {
    if !(4..=12).contains(&pin.len()) || !pin.chars().all(|c| c.is_ascii_digit()) {
        bail!("a PIN is 4 to 12 digits");
    }
    Ok(())
}

/// Checks a username's shape: 1 to 64 characters of letters, digits, `.`, `_`, `-`.
pub fn validate_username(username: &str) -> Result<()> {
    if username.is_empty()
        || username.len() > 64
        || !username
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
    {
        bail!("a username is 1 to 64 letters, digits, '.', '_' or '-'");
    }
    Ok(())
}

/// Hashes a PIN with a fresh random salt: `pbkdf2-sha256$ITER$SALT$HASH` (base64, no padding).
pub fn hash_pin(pin: &str) -> Result<String> {
    hash_pin_with(pin, PIN_ITERATIONS)
}

/// [`hash_pin`] with an explicit iteration count.
pub fn hash_pin_with(pin: &str, iterations: u32) -> Result<String> {
    let salt: [u8; 16] = random_bytes()?;
    let dk = pbkdf2_sha256(pin.as_bytes(), &salt, iterations);
    Ok(format!(
        "pbkdf2-sha256${iterations}${}${}",
        B64.encode(salt),
        B64.encode(dk)
    ))
}

/// Verifies a PIN against a stored hash in constant time; a malformed stored hash never matches.
pub fn verify_pin(pin: &str, stored: &str) -> bool {
    let parts: Vec<&str> = stored.split('$').collect();
    let [scheme, iterations, salt, hash] = parts.as_slice() else {
        return false;
    };
    if *scheme != "pbkdf2-sha256" {
        return false;
    }
    let (Ok(iterations), Ok(salt), Ok(hash)) = (
        iterations.parse::<u32>(),
        B64.decode(salt),
        B64.decode(hash),
    ) else {
        return false;
    };
    if iterations == 0 || iterations > 10_000_000 || hash.len() != 32 {
        return false;
    }
    constant_time_eq(&pbkdf2_sha256(pin.as_bytes(), &salt, iterations), &hash)
}

/// A PIN hash that matches nothing, verified when the username is unknown so that a wrong name
/// and a wrong PIN take the same time.
pub fn decoy_hash() -> String {
    format!(
        "pbkdf2-sha256${PIN_ITERATIONS}${}${}",
        B64.encode([0u8; 16]),
        B64.encode([0u8; 32])
    )
}

/// PBKDF2-HMAC-SHA256 with one 32-byte output block (RFC 8018).
pub fn pbkdf2_sha256(password: &[u8], salt: &[u8], iterations: u32) -> [u8; 32] {
    // The key's HMAC states are computed once; each iteration then costs two compressions.
    let key = HmacSha256::new(password);
    let mac = |parts: &[&[u8]]| key.mac(parts);
    let mut u = mac(&[salt, &1u32.to_be_bytes()]);
    let mut out = u;
    for _ in 1..iterations {
        u = mac(&[&u]);
        for (o, x) in out.iter_mut().zip(u.iter()) {
            *o ^= x;
        }
    }
    out
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A new random session token (256 bits, URL-safe base64) for the cookie.
pub fn new_session_token() -> Result<String> {
    let bytes: [u8; 32] = random_bytes()?;
    Ok(B64URL.encode(bytes))
}

/// What the store keeps for a token: its SHA-256, hex.
pub fn token_hash(token: &str) -> String {
    hex(&Sha256::digest(token.as_bytes()))
}

/// The `Set-Cookie` value that installs a session.
pub fn session_cookie(token: &str) -> String {
    format!(
        "{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}",
        SESSION_TTL.as_secs()
    )
}

/// The `Set-Cookie` value that removes the session cookie.
pub fn clear_session_cookie() -> String {
    format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0")
}

/// The session token in a `Cookie` header, if any.
pub fn token_from_cookie_header(header: &str) -> Option<&str> {
    header.split(';').find_map(|pair| {
        let (name, value) = pair.trim().split_once('=')?;
        (name == SESSION_COOKIE && !value.is_empty()).then_some(value)
    })
}

/// Counts failed logins per key (username or client address) within a sliding window.
#[derive(Default)]
pub struct LoginThrottle {
    failures: Mutex<HashMap<String, (u32, Instant)>>,
}

impl LoginThrottle {
    /// True when `key` has used up its failed attempts in the current window.
    pub fn is_locked(&self, key: &str) -> bool {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        match map.get(key) {
            Some((n, since)) if since.elapsed() < THROTTLE_WINDOW => *n >= MAX_FAILED_LOGINS,
            Some(_) => {
                map.remove(key);
                false
            }
            None => false,
        }
    }

    /// Records one failed attempt for `key`.
    pub fn fail(&self, key: &str) {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let entry = map.entry(key.to_string()).or_insert((0, Instant::now()));
        if entry.1.elapsed() >= THROTTLE_WINDOW {
            *entry = (0, Instant::now());
        }
        entry.0 += 1;
        // Bound memory against a flood of invented usernames.
        if map.len() > 10_000 {
            map.retain(|_, (_, since)| since.elapsed() < THROTTLE_WINDOW);
        }
    }

    /// Forgets the failures of `key` (after a successful login).
    pub fn clear(&self, key: &str) {
        self.failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pbkdf2_matches_the_rfc_7914_test_vector() {
        // RFC 7914 section 11: PBKDF2-HMAC-SHA256 (P="passwd", S="salt", c=1, dkLen=64), first block.
        let dk = pbkdf2_sha256(b"passwd", b"salt", 1);
        let hex: String = dk.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            "55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc"
        );
        // RFC 7914: P="Password", S="NaCl", c=80000, first block.
        let dk = pbkdf2_sha256(b"Password", b"NaCl", 80000);
        let hex: String = dk.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            "4ddcd8f60b98be21830cee5ef22701f9641a4418d04c0414aeff08876b34ab56"
        );
    }

    #[test]
    fn a_pin_verifies_only_against_its_own_salted_hash() {
        let a = hash_pin_with("123456", 1000).unwrap();
        let b = hash_pin_with("123456", 1000).unwrap();
        assert_ne!(a, b, "salts differ");
        assert!(verify_pin("123456", &a));
        assert!(!verify_pin("123457", &a));
        assert!(!verify_pin("123456", "garbage"));
        assert!(!verify_pin("123456", &decoy_hash()));
    }

    #[test]
    fn pins_and_usernames_are_checked() {
        assert!(validate_pin("1234").is_ok());
        assert!(validate_pin("12a4").is_err());
        assert!(validate_pin("123").is_err());
        assert!(validate_username("awa.diop").is_ok());
        assert!(validate_username("<script>").is_err());
    }

    #[test]
    fn the_cookie_is_http_only_strict_and_parsed_back() {
        let c = session_cookie("tok");
        assert!(c.contains("HttpOnly") && c.contains("SameSite=Strict"));
        assert_eq!(
            token_from_cookie_header("a=b; kadi_session=tok; c=d"),
            Some("tok")
        );
        assert_eq!(token_from_cookie_header("kadi_session="), None);
    }

    #[test]
    fn the_throttle_locks_after_repeated_failures() {
        let t = LoginThrottle::default();
        for _ in 0..MAX_FAILED_LOGINS {
            assert!(!t.is_locked("awa"));
            t.fail("awa");
        }
        assert!(t.is_locked("awa"));
        t.clear("awa");
        assert!(!t.is_locked("awa"));
    }
}
