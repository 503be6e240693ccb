//! The signed card payload (`KC1:`), as plain code that knows no database: claims as CBOR in a
//! COSE_Sign1 (RFC 9052) signed with Ed25519, Base45-encoded (RFC 9285) for a QR code's
//! alphanumeric mode. The binary signs and verifies with it (`kadi::verify`), and the SQL function
//! `kadi_verify` of the loadable extension verifies with the very same code, so an analyst's
//! answer never differs from the box's.
//!
//! Layout: `"KC1:" + base45(COSE_Sign1)`, untagged (the prefix says what it is; a tagged one
//! still decodes); protected header `{1: -8 (EdDSA), 4: kid}` with `kid` = the first 8 bytes of
//! SHA-256(public key); the payload a CBOR map with small integer keys (see [`Claims`]), dates as
//! days since 1970-01-01 and the serial as 7 bytes (its 50 bits), so the QR stays small enough
//! for big modules on a CR80 card (docs/verify.md). A date or serial of another shape is carried
//! as text, and text claims (the first signed cards) decode too. The key ID is a claim too,
//! carried once, in the protected header, which the signature covers. No zlib: the signature is
//! 64 random bytes and the rest is short, different words, so deflate saved nothing on real cards
//! (measured in `bench/verify.rs`).
//!
//! Nothing here panics on input: every decoding step answers [`Status::Unreadable`] for garbage.
use crate::calendar::{civil_from_days, days_from_civil};
use coset::cbor::Value;
use coset::{
    iana, CborSerializable, CoseSign1, CoseSign1Builder, HeaderBuilder, TaggedCborSerializable,
};
use serde::Serialize;

/// The prefix of a signed card payload (version 1 of kadi's card code).
pub const PREFIX: &str = "KC1:";
/// The prefix of the old HMAC cards (`K1:<mpi id>:<token>`) printed before signed cards.
pub const OLD_PREFIX: &str = "K1:";
/// Longer payloads are not cards (a QR at EC level M holds at most 3,391 alphanumeric characters).
pub const MAX_PAYLOAD_CHARS: usize = 4096;
/// Bytes of the key ID: the first bytes of SHA-256 of the public key.
pub const KID_BYTES: usize = 8;

/// What a card asserts, signed by the box that printed it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Claims {
    /// The MPI ID (or `ENR:<enrollment uid>` for a record not resolved yet). CBOR key 1.
    pub mpi_id: String,
    /// The name printed on the card. Key 2.
    pub name: String,
    /// `YYYY-MM-DD` as printed, when known. Key 3, as days since 1970-01-01.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub date_of_birth: Option<String>,
    /// Health centre printed on the card, when known. Key 4.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health_center: Option<String>,
    /// `YYYY-MM-DD`, from the DHIS2 server's clock (never the box's bare clock). Key 5, as days
    /// since 1970-01-01.
    pub issued_on: String,
    /// The card's serial, unique across boxes: what revocation names. Key 6, as 7 bytes.
    pub serial: String,
    /// The issuing key's ID (lower-case hex), from the protected header.
    pub kid: String,
}

/// What a verification answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Signed by a known key, within its validity, not revoked.
    Valid,
    /// A known key ID, but the signature does not match (altered or forged).
    InvalidSignature,
    /// No key with this ID is known here (not pulled yet, or not from this deployment).
    UnknownKey,
    /// The card's serial is on a revocation list (lost, reissued, merged identity).
    Revoked,
    /// The card claims an issue date outside its key's validity.
    Expired,
    /// Not a kadi card payload (or an old `K1:` card, see `reason`).
    Unreadable,
}

impl Status {
    /// The form in JSON and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Valid => "valid",
            Status::InvalidSignature => "invalid_signature",
            Status::UnknownKey => "unknown_key",
            Status::Revoked => "revoked",
            Status::Expired => "expired",
            Status::Unreadable => "unreadable",
        }
    }
}

/// A public key as the verifier needs it (from `card_keys`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardKey {
    /// Lower-case hex of the key ID.
    pub kid: String,
    /// The 32-byte Ed25519 public key.
    pub public_key: Vec<u8>,
    /// The box that holds the private key.
    pub box_id: String,
    /// First day cards may carry as issue date (`YYYY-MM-DD`).
    pub valid_from: String,
    /// Last day cards may carry as issue date; `None` while the key is the box's current one.
    pub valid_to: Option<String>,
}

/// The answer of [`verify`]: `{"status", "payload", "claims", ...}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verdict {
    /// One of six statuses.
    pub status: Status,
    /// The payload as given (trimmed).
    pub payload: String,
    /// The claims when the payload could be decoded (trust them only when `status` is valid).
    pub claims: Option<Claims>,
    /// Why, in words, when not valid.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The box whose key signed the card, when the key is known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issuer_box: Option<String>,
}

/// A decoded payload: claims, key ID, and what the signature covers.
#[derive(Debug, Clone)]
pub struct Decoded {
    /// The claims, `kid` included.
    pub claims: Claims,
    /// Raw key ID bytes.
    pub kid: Vec<u8>,
    /// The COSE Sig_structure the signature is over.
    pub signed_bytes: Vec<u8>,
    /// The signature.
    pub signature: Vec<u8>,
}

const B45: &[u8; 45] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:";

/// Base45 (RFC 9285): every two bytes become three characters of the QR alphanumeric set.
pub fn base45_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 3 / 2 + 2);
    for pair in bytes.chunks(2) {
        let mut n = pair[0] as usize;
        let digits = if let Some(&b) = pair.get(1) {
            n = n * 256 + b as usize;
            3
        } else {
            2
        };
        for _ in 0..digits {
            out.push(B45[n % 45] as char);
            n /= 45;
        }
    }
    out
}

/// Decodes Base45; `None` for a character outside the alphabet, a dangling character or a group
/// whose value does not fit its bytes (RFC 9285 section 4.3).
pub fn base45_decode(text: &str) -> Option<Vec<u8>> {
    let values: Vec<usize> = text
        .bytes()
        .map(|c| B45.iter().position(|&a| a == c))
        .collect::<Option<_>>()?;
    let mut out = Vec::with_capacity(values.len() * 2 / 3 + 1);
    for group in values.chunks(3) {
        match *group {
            [c, d, e] => {
                let n = c + d * 45 + e * 45 * 45;
                if n > 0xffff {
                    return None;
                }
                out.push((n >> 8) as u8);
                out.push((n & 0xff) as u8);
            }
            [c, d] => {
                let n = c + d * 45;
                if n > 0xff {
                    return None;
                }
                out.push(n as u8);
            }
            _ => return None,
        }
    }
    Some(out)
}

/// The key ID of an Ed25519 public key: the first [`KID_BYTES`] of its SHA-256.
pub fn key_id(public_key: &[u8]) -> Vec<u8> {
    ring::digest::digest(&ring::digest::SHA256, public_key).as_ref()[..KID_BYTES].to_vec()
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len() / 2)
        .map(|i| u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok())
        .collect()
}

/// The alphabet of card serials (and MPI IDs): 32 characters, five bits each.
const SERIAL_ALPHABET: &[u8; 32] = b"23456789ABCDEFGHJKLMNPQRSTUVWXYZ";
/// Characters in a serial; ten of the alphabet's are 50 bits, packed into 7 bytes on the card.
const SERIAL_CHARS: usize = 10;
const SERIAL_BYTES: usize = 7;

/// A `YYYY-MM-DD` date as days since 1970-01-01 (3 CBOR bytes instead of 11), when it is one
/// that reads back to the very same text; anything else stays text.
fn date_value(date: &str) -> Value {
    let b = date.as_bytes();
    let digits = |r: std::ops::Range<usize>| -> Option<i64> {
        let part = date.get(r)?;
        part.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| part.parse().ok())?
    };
    let parsed = (b.len() == 10 && b[4] == b'-' && b[7] == b'-')
        .then(|| Some((digits(0..4)?, digits(5..7)?, digits(8..10)?)))
        .flatten();
    if let Some((y, m, d)) = parsed {
        let days = days_from_civil(y, m, d);
        if (1..=12).contains(&m) && (1..=31).contains(&d) && civil_from_days(days) == (y, m, d) {
            return Value::from(days);
        }
    }
    Value::from(date)
}

fn date_of(v: &Value) -> Option<String> {
    if let Some(text) = v.as_text() {
        return Some(text.to_string());
    }
    let days = i64::try_from(v.as_integer()?).ok()?;
    // Years 0-9999 only, so the text is always YYYY-MM-DD.
    if !(-719_528..=2_932_896).contains(&days) {
        return None;
    }
    let (y, m, d) = civil_from_days(days);
    Some(format!("{y:04}-{m:02}-{d:02}"))
}

/// A serial of ten alphabet characters as 7 bytes (50 bits, big-endian); any other serial
/// stays text.
fn serial_value(serial: &str) -> Value {
    let mut bits: u64 = 0;
    if serial.len() == SERIAL_CHARS {
        for c in serial.bytes() {
            match SERIAL_ALPHABET.iter().position(|&a| a == c) {
                Some(i) => bits = bits << 5 | i as u64,
                None => return Value::from(serial),
            }
        }
        return Value::Bytes(bits.to_be_bytes()[8 - SERIAL_BYTES..].to_vec());
    }
    Value::from(serial)
}

fn serial_of(v: &Value) -> Option<String> {
    if let Some(text) = v.as_text() {
        return Some(text.to_string());
    }
    let bytes = v.as_bytes().filter(|b| b.len() == SERIAL_BYTES)?;
    let bits = bytes.iter().fold(0u64, |n, &b| n << 8 | u64::from(b));
    if bits >> (5 * SERIAL_CHARS) != 0 {
        return None;
    }
    Some(
        (0..SERIAL_CHARS)
            .rev()
            .map(|i| SERIAL_ALPHABET[(bits >> (5 * i) & 31) as usize] as char)
            .collect(),
    )
}

fn claims_cbor(claims: &Claims) -> Result<Vec<u8>, String> {
    let mut map = vec![
        (Value::from(1), Value::from(claims.mpi_id.as_str())),
        (Value::from(2), Value::from(claims.name.as_str())),
    ];
    if let Some(d) = &claims.date_of_birth {
        map.push((Value::from(3), date_value(d)));
    }
    if let Some(h) = &claims.health_center {
        map.push((Value::from(4), Value::from(h.as_str())));
    }
    map.push((Value::from(5), date_value(&claims.issued_on)));
    map.push((Value::from(6), serial_value(&claims.serial)));
    let mut out = Vec::new();
    coset::cbor::into_writer(&Value::Map(map), &mut out).map_err(|e| e.to_string())?;
    Ok(out)
}

/// Signs `claims` under the key `kid` (raw bytes) with `sign` (Ed25519 over the bytes given) and
/// answers the payload a QR carries: `KC1:` + Base45.
pub fn sign_payload(
    claims: &Claims,
    kid: &[u8],
    sign: impl FnOnce(&[u8]) -> Vec<u8>,
) -> Result<String, String> {
    let protected = HeaderBuilder::new()
        .algorithm(iana::Algorithm::EdDSA)
        .key_id(kid.to_vec())
        .build();
    let sign1 = CoseSign1Builder::new()
        .protected(protected)
        .payload(claims_cbor(claims)?)
        .create_signature(b"", sign)
        .build();
    // Untagged: the `KC1:` prefix already says what follows (the tag would be one more byte).
    let bytes = sign1.to_vec().map_err(|e| e.to_string())?;
    Ok(format!("{PREFIX}{}", base45_encode(&bytes)))
}

fn text_of(v: &Value) -> Option<String> {
    v.as_text().map(str::to_string)
}

fn claims_from(payload: &[u8], kid: &[u8]) -> Result<Claims, String> {
    let value: Value =
        coset::cbor::from_reader(payload).map_err(|_| "its claims are not CBOR".to_string())?;
    let map = value.as_map().ok_or("its claims are not a CBOR map")?;
    let get = |key: i64| {
        map.iter()
            .find(|(k, _)| k.as_integer() == Some(key.into()))
            .map(|(_, v)| v)
    };
    let text = |key: i64| get(key).and_then(text_of);
    Ok(Claims {
        mpi_id: text(1).ok_or("its claims lack the MPI ID")?,
        name: text(2).ok_or("its claims lack the name")?,
        date_of_birth: get(3).and_then(date_of),
        health_center: text(4),
        issued_on: get(5)
            .and_then(date_of)
            .ok_or("its claims lack the issue date")?,
        serial: get(6)
            .and_then(serial_of)
            .ok_or("its claims lack the serial")?,
        kid: hex(kid),
    })
}

/// Decodes a payload without checking its signature. `Err` says why it is unreadable.
pub fn decode(payload: &str) -> Result<Decoded, String> {
    let payload = payload.trim();
    if payload.len() > MAX_PAYLOAD_CHARS {
        return Err(format!(
            "longer than any card payload ({} characters)",
            payload.len()
        ));
    }
    if payload.starts_with(OLD_PREFIX) {
        return Err("old format: a K1 card from before signed cards; it cannot be verified (no box keeps the secret it was made with): reissue the card".into());
    }
    let body = payload
        .strip_prefix(PREFIX)
        .ok_or("not a kadi card payload (it does not start with KC1:)")?;
    let bytes = base45_decode(body).ok_or("not valid Base45")?;
    let sign1 = CoseSign1::from_tagged_slice(&bytes)
        .or_else(|_| CoseSign1::from_slice(&bytes))
        .map_err(|_| "not a COSE_Sign1 structure".to_string())?;
    if sign1.protected.header.alg
        != Some(coset::RegisteredLabelWithPrivate::Assigned(
            iana::Algorithm::EdDSA,
        ))
    {
        return Err("not signed with EdDSA".into());
    }
    let kid = sign1.protected.header.key_id.clone();
    if kid.is_empty() {
        return Err("no key ID in its protected header".into());
    }
    let content = sign1.payload.as_deref().ok_or("no claims")?;
    let claims = claims_from(content, &kid)?;
    Ok(Decoded {
        signed_bytes: sign1.tbs_data(b""),
        signature: sign1.signature.clone(),
        claims,
        kid,
    })
}

/// True when `signature` is `public_key`'s Ed25519 signature of `message`.
pub fn signature_matches(public_key: &[u8], message: &[u8], signature: &[u8]) -> bool {
    ring::signature::UnparsedPublicKey::new(&ring::signature::ED25519, public_key)
        .verify(message, signature)
        .is_ok()
}

/// Verifies `payload` against the keys `keys_for(kid)` knows and the revocations `revoked(serial)`
/// answers (the reason when revoked). Every input gets an answer; none panics.
pub fn verify(
    payload: &str,
    keys_for: impl Fn(&str) -> Vec<CardKey>,
    revoked: impl Fn(&str) -> Option<String>,
) -> Verdict {
    verify_with_key_revocations(payload, keys_for, |_| None, revoked)
}

/// [`verify`], also asking `key_revoked(kid)` whether the whole signing key was revoked (a
/// stolen box): then every card it signed is `revoked`, whatever issue date it claims. Checked
/// after the signature, so a forgery naming a revoked key is still `invalid_signature`.
pub fn verify_with_key_revocations(
    payload: &str,
    keys_for: impl Fn(&str) -> Vec<CardKey>,
    key_revoked: impl Fn(&str) -> Option<String>,
    revoked: impl Fn(&str) -> Option<String>,
) -> Verdict {
    let mut verdict = Verdict {
        status: Status::Unreadable,
        payload: payload.trim().chars().take(MAX_PAYLOAD_CHARS).collect(),
        claims: None,
        reason: None,
        issuer_box: None,
    };
    let decoded = match decode(payload) {
        Ok(d) => d,
        Err(why) => {
            verdict.reason = Some(why);
            return verdict;
        }
    };
    let kid = hex(&decoded.kid);
    verdict.claims = Some(decoded.claims.clone());
    let keys = keys_for(&kid);
    if keys.is_empty() {
        verdict.status = Status::UnknownKey;
        verdict.reason = Some(format!(
            "no key {kid} is known here: sync with DHIS2 to pull the other boxes' keys"
        ));
        return verdict;
    }
    let Some(key) = keys
        .iter()
        .find(|k| signature_matches(&k.public_key, &decoded.signed_bytes, &decoded.signature))
    else {
        verdict.status = Status::InvalidSignature;
        verdict.reason =
            Some("the signature does not match: the card was altered or forged".into());
        return verdict;
    };
    verdict.issuer_box = Some(key.box_id.clone());
    let issued = decoded.claims.issued_on.as_str();
    if let Some(why) = key_revoked(&kid) {
        verdict.status = Status::Revoked;
        verdict.reason = Some(format!(
            "its signing key {kid} (box {}) was revoked: {why}; every card it signed is revoked",
            key.box_id
        ));
    } else if let Some(why) = revoked(&decoded.claims.serial) {
        verdict.status = Status::Revoked;
        verdict.reason = Some(format!("card {} was revoked: {why}", decoded.claims.serial));
    } else if issued < key.valid_from.as_str()
        || key.valid_to.as_deref().is_some_and(|to| issued > to)
    {
        verdict.status = Status::Expired;
        verdict.reason = Some(format!(
            "issued on {issued}, outside its key's validity ({} to {})",
            key.valid_from,
            key.valid_to.as_deref().unwrap_or("now")
        ));
    } else {
        verdict.status = Status::Valid;
    }
    verdict
}

/// Parses a hex key ID (for lookups by the caller).
pub fn kid_from_hex(s: &str) -> Option<Vec<u8>> {
    unhex(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::signature::{Ed25519KeyPair, KeyPair};

    fn pair() -> Ed25519KeyPair {
        let rng = ring::rand::SystemRandom::new();
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
        Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap()
    }

    fn claims() -> Claims {
        Claims {
            mpi_id: "SN-DKR-26-7KQ4MX9P-Z".into(),
            name: "Awa Ndiaye".into(),
            date_of_birth: Some("1990-05-12".into()),
            health_center: Some("Centre de santé de Grand Yoff".into()),
            issued_on: "2026-12-04".into(),
            serial: "7KQ4MX9PZA".into(),
            kid: String::new(),
        }
    }

    fn key_of(p: &Ed25519KeyPair, from: &str, to: Option<&str>) -> CardKey {
        let public = p.public_key().as_ref().to_vec();
        CardKey {
            kid: hex(&key_id(&public)),
            public_key: public,
            box_id: "box-a".into(),
            valid_from: from.into(),
            valid_to: to.map(String::from),
        }
    }

    #[test]
    fn base45_matches_the_rfc_9285_examples() {
        assert_eq!(base45_encode(b"AB"), "BB8");
        assert_eq!(base45_encode(b"Hello!!"), "%69 VD92EX0");
        assert_eq!(base45_encode(b"base-45"), "UJCLQE7W581");
        assert_eq!(base45_decode("QED8WEX0").unwrap(), b"ietf!");
        assert_eq!(base45_decode("FGW").unwrap(), vec![0xff, 0xff]);
        // 65535 + 1 does not fit two bytes; a lone character is no group; lower case is not Base45.
        assert_eq!(base45_decode("GGW"), None);
        assert_eq!(base45_decode("BB8A"), None);
        assert_eq!(base45_decode("bb8"), None);
        for n in 0..300usize {
            let bytes: Vec<u8> = (0..n).map(|i| (i * 37 + n) as u8).collect();
            assert_eq!(base45_decode(&base45_encode(&bytes)).unwrap(), bytes);
        }
    }

    #[test]
    fn a_signed_payload_verifies_and_each_failure_has_its_own_status() {
        let p = pair();
        let key = key_of(&p, "2026-01-01", None);
        let kid = kid_from_hex(&key.kid).unwrap();
        let payload = sign_payload(&claims(), &kid, |m| p.sign(m).as_ref().to_vec()).unwrap();
        assert!(payload.starts_with("KC1:"));
        let keys = |k: &str| {
            if k == key.kid {
                vec![key.clone()]
            } else {
                vec![]
            }
        };
        let v = verify(&payload, keys, |_| None);
        assert_eq!(v.status, Status::Valid, "{v:?}");
        let c = v.claims.unwrap();
        assert_eq!(
            (c.name.as_str(), c.kid.as_str()),
            ("Awa Ndiaye", key.kid.as_str())
        );
        // Another key under the same ID: the signature does not match.
        let other = CardKey {
            public_key: pair().public_key().as_ref().to_vec(),
            ..key.clone()
        };
        assert_eq!(
            verify(&payload, |_| vec![other.clone()], |_| None).status,
            Status::InvalidSignature
        );
        assert_eq!(
            verify(&payload, |_| vec![], |_| None).status,
            Status::UnknownKey
        );
        assert_eq!(
            verify(&payload, keys, |_| Some("lost".into())).status,
            Status::Revoked
        );
        let retired = key_of(&p, "2026-01-01", Some("2026-06-30"));
        assert_eq!(
            verify(&payload, |_| vec![retired.clone()], |_| None).status,
            Status::Expired
        );
        for garbage in [
            "",
            "KC1:",
            "KC1:%%%",
            "hello",
            "K1:SN-DKR-26-7KQ4MX9P-Z:ABCDEFGH",
            "KC1:0000",
        ] {
            let v = verify(garbage, keys, |_| None);
            assert_eq!(v.status, Status::Unreadable, "{garbage}");
            assert!(v.reason.is_some());
        }
        assert!(verify("K1:X:Y", keys, |_| None)
            .reason
            .unwrap()
            .starts_with("old format"));
    }

    #[test]
    fn dates_and_serials_travel_as_integers_and_bytes_and_read_back_as_text() {
        for (date, days) in [
            ("1970-01-01", 0),
            ("1969-12-31", -1),
            ("2000-02-29", 11_016),
            ("2026-12-04", 20_791),
            ("1900-03-01", -25_508),
        ] {
            assert_eq!(date_value(date), Value::from(days), "{date}");
            assert_eq!(date_of(&Value::from(days)).as_deref(), Some(date));
        }
        let mut day = days_from_civil(1890, 1, 1);
        while day < days_from_civil(2110, 1, 1) {
            let text = date_of(&Value::from(day)).unwrap();
            assert_eq!(date_value(&text), Value::from(day), "{text}");
            day += 1;
        }
        // Not a real date, or not in this exact shape: kept as the text it was.
        for odd in [
            "2026-02-30",
            "1990",
            "1990-5-12",
            "12/05/1990",
            "",
            "１990-05-12",
        ] {
            assert_eq!(date_value(odd), Value::from(odd), "{odd}");
        }
        let packed = serial_value("7KQ4MX9PZA");
        assert_eq!(packed.as_bytes().map(Vec::len), Some(7));
        assert_eq!(serial_of(&packed).as_deref(), Some("7KQ4MX9PZA"));
        for s in ["2222222222", "ZZZZZZZZZZ"] {
            assert_eq!(serial_of(&serial_value(s)).as_deref(), Some(s));
        }
        for odd in ["7KQ4MX9PZ", "7kq4mx9pza", "7KQ4MX9PZ0", "OLD-SERIAL-1"] {
            assert_eq!(serial_value(odd), Value::from(odd));
        }
        assert_eq!(serial_of(&Value::Bytes(vec![0xff; 7])), None);
    }

    #[test]
    fn a_card_with_text_dates_and_serial_still_verifies() {
        // The first signed cards carried every claim as text, tagged; they read the same.
        let p = pair();
        let key = key_of(&p, "2026-01-01", None);
        let kid = kid_from_hex(&key.kid).unwrap();
        let c = claims();
        let text_claims = Value::Map(vec![
            (Value::from(1), Value::from(c.mpi_id.as_str())),
            (Value::from(2), Value::from(c.name.as_str())),
            (Value::from(3), Value::from("1990-05-12")),
            (Value::from(4), Value::from("Centre de santé de Grand Yoff")),
            (Value::from(5), Value::from("2026-12-04")),
            (Value::from(6), Value::from("7KQ4MX9PZA")),
        ]);
        let mut content = Vec::new();
        coset::cbor::into_writer(&text_claims, &mut content).unwrap();
        let sign1 = CoseSign1Builder::new()
            .protected(
                HeaderBuilder::new()
                    .algorithm(iana::Algorithm::EdDSA)
                    .key_id(kid.clone())
                    .build(),
            )
            .payload(content)
            .create_signature(b"", |m| p.sign(m).as_ref().to_vec())
            .build();
        let old = format!("KC1:{}", base45_encode(&sign1.to_tagged_vec().unwrap()));
        let new = sign_payload(&c, &kid, |m| p.sign(m).as_ref().to_vec()).unwrap();
        assert!(new.len() + 20 < old.len(), "{} vs {}", new.len(), old.len());
        let keys = |_: &str| vec![key.clone()];
        let (a, b) = (verify(&old, keys, |_| None), verify(&new, keys, |_| None));
        assert_eq!((a.status, b.status), (Status::Valid, Status::Valid));
        assert_eq!(a.claims, b.claims);
        assert_eq!(b.claims.unwrap().issued_on, "2026-12-04");
    }

    #[test]
    fn every_single_bit_flip_of_the_cose_bytes_is_caught() {
        let p = pair();
        let key = key_of(&p, "2026-01-01", None);
        let kid = kid_from_hex(&key.kid).unwrap();
        let payload = sign_payload(&claims(), &kid, |m| p.sign(m).as_ref().to_vec()).unwrap();
        let bytes = base45_decode(&payload[4..]).unwrap();
        for bit in 0..bytes.len() * 8 {
            let mut b = bytes.clone();
            b[bit / 8] ^= 1 << (bit % 8);
            let flipped = format!("KC1:{}", base45_encode(&b));
            let v = verify(
                &flipped,
                |k| {
                    if k == key.kid {
                        vec![key.clone()]
                    } else {
                        vec![]
                    }
                },
                |_| None,
            );
            assert_ne!(v.status, Status::Valid, "bit {bit}");
        }
    }
}
