//! The signed card payload (`KC1:`), as plain code that knows no database: claims as CBOR in a
//! COSE_Sign1 (RFC 9052) signed with Ed25519, Base45-encoded (RFC 9285) for a QR code's
//! alphanumeric mode. The binary signs and verifies with it (`kadi::verify`), and the SQL function
//! `kadi_verify` of the loadable extension verifies with the very same code, so an analyst's
//! answer never differs from the box's.
//!
//! Layout: `"KC1:" + base45(COSE_Sign1)`, tagged 18; protected header `{1: -8 (EdDSA), 4: kid}`
//! with `kid` = the first 8 bytes of SHA-256(public key); the payload a CBOR map with small integer
//! keys (see [`Claims`]). The key ID is a claim too, carried once, in the protected header, which the
//! signature covers. No zlib: the signature is 64 random bytes and the rest is short, different
//! words, so deflate saved nothing on real cards (measured in `bench/verify.rs`).
//!
//! Nothing here panics on input: every decoding step answers [`Status::Unreadable`] for garbage.
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
    /// `YYYY-MM-DD` as printed, when known. Key 3.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub date_of_birth: Option<String>,
    /// Health centre printed on the card, when known. Key 4.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health_center: Option<String>,
    /// `YYYY-MM-DD`, from the DHIS2 server's clock (never the box's bare clock). Key 5.
    pub issued_on: String,
    /// The card's serial, unique across boxes: what revocation names. Key 6.
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

fn claims_cbor(claims: &Claims) -> Result<Vec<u8>, String> {
    let mut map = vec![
        (Value::from(1), Value::from(claims.mpi_id.as_str())),
        (Value::from(2), Value::from(claims.name.as_str())),
    ];
    if let Some(d) = &claims.date_of_birth {
        map.push((Value::from(3), Value::from(d.as_str())));
    }
    if let Some(h) = &claims.health_center {
        map.push((Value::from(4), Value::from(h.as_str())));
    }
    map.push((Value::from(5), Value::from(claims.issued_on.as_str())));
    map.push((Value::from(6), Value::from(claims.serial.as_str())));
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
    let bytes = sign1.to_tagged_vec().map_err(|e| e.to_string())?;
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
            .and_then(|(_, v)| text_of(v))
    };
    Ok(Claims {
        mpi_id: get(1).ok_or("its claims lack the MPI ID")?,
        name: get(2).ok_or("its claims lack the name")?,
        date_of_birth: get(3),
        health_center: get(4),
        issued_on: get(5).ok_or("its claims lack the issue date")?,
        serial: get(6).ok_or("its claims lack the serial")?,
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
    if let Some(why) = revoked(&decoded.claims.serial) {
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
