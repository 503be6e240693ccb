//! Staff authentication for the page: PIN hashing (PBKDF2-HMAC-SHA256, salted, many iterations),
//! random session tokens of which only a SHA-256 hash is stored, the session cookie, CSRF tokens,
//! the login throttle's policy and the clock checks that end a session. A PIN has little entropy, so the throttle (not the hash) is what stops guessing over
//! the LAN; the slow hash protects PINs reused elsewhere if the database file leaks.
use anyhow::{bail, Result};
use base64::Engine;
use sha2::{Digest, Sha256};
use std::time::Duration;

use crate::clock::BootStamp;
use crate::secret::{hex, random_bytes, HmacSha256};
use crate::store::web_data::{SessionRow, StaffMember, ThrottlePolicy};
use crate::store::Store;

/// PBKDF2 iterations for new PIN hashes (about a quarter of a second on a Raspberry Pi 4).
pub const PIN_ITERATIONS: u32 = 210_000;
/// Name of the session cookie.
pub const SESSION_COOKIE: &str = "kadi_session";
/// How long a session lives after login.
pub const SESSION_TTL: Duration = Duration::from_secs(12 * 3600);
/// Failed logins of one username from one address before that pair is locked.
pub const MAX_FAILED_LOGINS: u32 = 5;
/// Failed logins from one address, across usernames, before the address is locked.
pub const MAX_FAILED_LOGINS_PER_ADDRESS: u32 = 20;

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

/// How the login throttle counts (see [`Store::reserve_login_attempt`]): five failures of one
/// name from one address lock that pair for a minute, each further failure doubles the lock up to
/// half an hour; twenty failures from one address across names lock the address the same way.
/// Keyed by address too, so an attacker on the Wi-Fi cannot lock the real user out of their own
/// phone; failures are forgotten after an hour without attempts.
pub fn throttle_policy() -> ThrottlePolicy {
    ThrottlePolicy {
        max_per_user: MAX_FAILED_LOGINS,
        max_per_address: MAX_FAILED_LOGINS_PER_ADDRESS,
        first_lock: chrono::TimeDelta::minutes(1),
        max_lock: chrono::TimeDelta::minutes(30),
        forget_after: chrono::TimeDelta::hours(1),
    }
}

/// Name of the login form's double-submit cookie (there is no session to tie a token to yet).
pub const LOGIN_COOKIE: &str = "kadi_login";

/// The value of cookie `name` in a `Cookie` header, if any (and not empty).
pub fn cookie_value<'h>(header: &'h str, name: &str) -> Option<&'h str> {
    header.split(';').find_map(|pair| {
        let (n, value) = pair.trim().split_once('=')?;
        (n == name && !value.is_empty()).then_some(value)
    })
}

/// The session token in a `Cookie` header, if any.
pub fn token_from_cookie_header(header: &str) -> Option<&str> {
    cookie_value(header, SESSION_COOKIE)
}

/// The CSRF token of a session: derived from the session token (a hash, so the token in the page
/// reveals nothing of the HttpOnly cookie), so nothing more is stored and it dies with the session.
pub fn csrf_token(session_token: &str) -> String {
    B64URL.encode(Sha256::digest(
        [b"kadi csrf v1\0".as_slice(), session_token.as_bytes()].concat(),
    ))
}

/// True when `presented` is the CSRF token of `session_token` (constant time).
pub fn csrf_matches(session_token: &str, presented: &str) -> bool {
    constant_time_eq(csrf_token(session_token).as_bytes(), presented.as_bytes())
}

/// The key that signs login-form tokens: random per process (a restart only asks for a reload).
pub struct LoginKey(HmacSha256);

impl LoginKey {
    /// A fresh random key.
    pub fn new() -> Result<LoginKey> {
        let key: [u8; 32] = random_bytes()?;
        Ok(LoginKey(HmacSha256::new(&key)))
    }

    /// A new login-form token: `NONCE.MAC`. Signed, so a cookie planted by someone else on the LAN
    /// (cookies ignore ports) is not a token kadi made.
    pub fn new_token(&self) -> Result<String> {
        let nonce: [u8; 18] = random_bytes()?;
        let nonce = B64URL.encode(nonce);
        let mac = B64URL.encode(self.0.mac(&[b"login\0", nonce.as_bytes()]));
        Ok(format!("{nonce}.{mac}"))
    }

    /// True when `token` was made by [`LoginKey::new_token`] of this key.
    pub fn is_valid(&self, token: &str) -> bool {
        let Some((nonce, mac)) = token.split_once('.') else {
            return false;
        };
        let expected = B64URL.encode(self.0.mac(&[b"login\0", nonce.as_bytes()]));
        constant_time_eq(expected.as_bytes(), mac.as_bytes())
    }
}

/// The `Set-Cookie` value of the login form's token (only ever sent back to `/login`).
pub fn login_cookie(token: &str) -> String {
    format!("{LOGIN_COOKIE}={token}; Path=/login; HttpOnly; SameSite=Strict")
}

/// How long a wall clock may step back under a session before it counts as "set back" (NTP
/// corrections of a few seconds must not log everybody out).
pub const CLOCK_BACK_TOLERANCE: Duration = Duration::from_secs(120);

/// Whether a stored session may still be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionVerdict {
    Alive,
    /// The wall clock passed its expiry.
    Expired,
    /// More than [`SESSION_TTL`] of real time passed since login in this boot, whatever the wall
    /// clock says.
    LifetimeUsedUp,
    /// The wall clock now reads earlier than the login: it was wrong then or is wrong now, so the
    /// session's age is unknown.
    ClockWentBack,
}

/// Judges a session against the wall clock `now` and the monotonic clock `now_stamp` (both
/// passed in, so tests can set any clock). Pure.
pub fn judge_session(
    session: &SessionRow,
    now: chrono::DateTime<chrono::Utc>,
    now_stamp: Option<&BootStamp>,
) -> SessionVerdict {
    use crate::clock::parse_utc;
    let (Some(created), Some(expires)) = (
        parse_utc(&session.created_at),
        parse_utc(&session.expires_at),
    ) else {
        return SessionVerdict::Expired;
    };
    let tolerance = chrono::TimeDelta::from_std(CLOCK_BACK_TOLERANCE).unwrap_or_default();
    if now + tolerance < created {
        return SessionVerdict::ClockWentBack;
    }
    let lived = session
        .stamp
        .as_ref()
        .zip(now_stamp)
        .and_then(|(then, now)| then.elapsed_until(now));
    if lived.is_some_and(|d| d >= SESSION_TTL) {
        return SessionVerdict::LifetimeUsedUp;
    }
    if now >= expires {
        return SessionVerdict::Expired;
    }
    SessionVerdict::Alive
}

/// The staff member of a live session with this token, judged by the real clocks; a session found
/// dead is deleted (audited when a clock check, not plain expiry, ended it).
pub fn live_session(store: &Store, token: &str) -> Result<Option<StaffMember>> {
    let hash = token_hash(token);
    let Some(session) = store.session(&hash)? else {
        return Ok(None);
    };
    match judge_session(&session, chrono::Utc::now(), BootStamp::now().as_ref()) {
        SessionVerdict::Alive => Ok(Some(session.staff)),
        SessionVerdict::Expired => {
            store.delete_session(&hash)?;
            Ok(None)
        }
        verdict @ (SessionVerdict::LifetimeUsedUp | SessionVerdict::ClockWentBack) => {
            let reason = if verdict == SessionVerdict::ClockWentBack {
                "the wall clock went back before the login"
            } else {
                "the session lifetime passed on the monotonic clock"
            };
            store.end_session(&hash, &session.staff.username, reason)?;
            Ok(None)
        }
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
    fn csrf_and_login_tokens_verify_only_their_own() {
        let t = csrf_token("session-a");
        assert!(csrf_matches("session-a", &t));
        assert!(!csrf_matches("session-b", &t));
        assert!(!t.contains("session-a"));
        let key = LoginKey::new().unwrap();
        let token = key.new_token().unwrap();
        assert!(key.is_valid(&token));
        assert!(!LoginKey::new().unwrap().is_valid(&token));
        assert!(!key.is_valid("forged.token"));
        assert!(!key.is_valid(""));
        assert_eq!(
            cookie_value("a=1; kadi_login=x.y", LOGIN_COOKIE),
            Some("x.y")
        );
    }

    fn session(created: &str, expires: &str, stamp: Option<(&str, i64)>) -> SessionRow {
        SessionRow {
            staff: StaffMember {
                username: "awa".into(),
                display_name: None,
                role: crate::store::web_data::StaffRole::Staff,
            },
            created_at: created.into(),
            expires_at: expires.into(),
            stamp: stamp.map(|(b, ms)| BootStamp {
                boot_id: b.into(),
                since_boot_ms: ms,
            }),
        }
    }

    fn utc(s: &str) -> chrono::DateTime<chrono::Utc> {
        chrono::DateTime::parse_from_rfc3339(s)
            .unwrap()
            .with_timezone(&chrono::Utc)
    }

    #[test]
    fn sessions_end_on_the_wall_clock_the_monotonic_clock_and_a_clock_set_back() {
        let hour = 3_600_000;
        let s = session(
            "2026-05-01T08:00:00Z",
            "2026-05-01T20:00:00Z",
            Some(("boot-1", 1000)),
        );
        let stamp = |b: &str, ms: i64| BootStamp {
            boot_id: b.into(),
            since_boot_ms: ms,
        };
        let live = judge_session(
            &s,
            utc("2026-05-01T09:00:00Z"),
            Some(&stamp("boot-1", hour)),
        );
        assert_eq!(live, SessionVerdict::Alive);
        // Wall clock past expiry.
        let v = judge_session(
            &s,
            utc("2026-05-01T20:00:01Z"),
            Some(&stamp("boot-1", hour)),
        );
        assert_eq!(v, SessionVerdict::Expired);
        // 13 h of real time in this boot, though the wall clock (set back by hand) says 1 h.
        let v = judge_session(
            &s,
            utc("2026-05-01T09:00:00Z"),
            Some(&stamp("boot-1", 1000 + 13 * hour)),
        );
        assert_eq!(v, SessionVerdict::LifetimeUsedUp);
        // After a reboot the monotonic clock cannot tell; the wall clock still can.
        let v = judge_session(
            &s,
            utc("2026-05-01T09:00:00Z"),
            Some(&stamp("boot-2", 13 * hour)),
        );
        assert_eq!(v, SessionVerdict::Alive);
        // Made while the clock read 2031, now corrected: ended.
        let future = session(
            "2031-01-01T00:00:00Z",
            "2031-01-01T12:00:00Z",
            Some(("boot-1", 1000)),
        );
        let v = judge_session(
            &future,
            utc("2026-05-01T09:00:00Z"),
            Some(&stamp("boot-1", 2000)),
        );
        assert_eq!(v, SessionVerdict::ClockWentBack);
        // A small NTP step back is tolerated.
        let v = judge_session(&s, utc("2026-05-01T07:59:00Z"), None);
        assert_eq!(v, SessionVerdict::Alive);
        let garbled = session("yesterday", "tomorrow", None);
        assert_eq!(
            judge_session(&garbled, utc("2026-05-01T09:00:00Z"), None),
            SessionVerdict::Expired
        );
    }
}
