//! The card's QR code: the MPI ID plus a short verification token, error correction M or higher,
//! drawn module by module with embedded-graphics inside a 4-module quiet zone.
//!
//! Payload: `K1:<mpi id>:<token>`, where token = the first 8 characters (40 bits) of the RFC 4648
//! base32 of HMAC-SHA256(box secret, "kadi-card-v1:" + mpi id). The box secret is 32 random bytes
//! kept by the store (setting `cards.qr_secret`), so a QR cannot be forged for another ID without
//! the box, and [`verify_payload`] checks one back. 40 bits keeps the code small (version 3 at M)
//! for scanning from a worn card; it is a check against forged or altered cards, not a password.
use super::frame::Frame;
use crate::secret::hmac_sha256;
use anyhow::{anyhow, Result};
use embedded_graphics::pixelcolor::Rgb888;
use embedded_graphics::prelude::*;
use embedded_graphics::primitives::Rectangle;
use qrcodegen::{QrCode, QrCodeEcc};

/// Modules of white kept around the code (the QR specification's quiet zone).
pub const QUIET_ZONE: i32 = 4;

fn base32(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::new();
    let (mut acc, mut bits) = (0u32, 0);
    for &b in bytes {
        acc = (acc << 8) | b as u32;
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(ALPHABET[((acc >> bits) & 31) as usize] as char);
        }
    }
    out
}

/// The 8-character verification token of `mpi_id` under this box's secret.
pub fn token(mpi_id: &str, secret: &[u8]) -> String {
    let mac = hmac_sha256(secret, format!("kadi-card-v1:{mpi_id}").as_bytes());
    base32(&mac[..5])
}

/// The QR payload of a card: `K1:<mpi id>:<token>`.
pub fn payload(mpi_id: &str, secret: &[u8]) -> String {
    format!("K1:{mpi_id}:{}", token(mpi_id, secret))
}

/// The MPI ID of a scanned payload if its token matches this box's secret.
pub fn verify_payload(scanned: &str, secret: &[u8]) -> Option<String> {
    let rest = scanned.strip_prefix("K1:")?;
    let (id, tok) = rest.rsplit_once(':')?;
    (token(id, secret) == tok).then(|| id.to_string())
}

/// Draws the QR of `text` centred in the square `(x, y, side)` (pixels), quiet zone included:
/// the module size is the largest whole number of pixels that fits, so modules stay sharp.
pub fn draw(
    frame: &mut Frame,
    text: &str,
    x: i32,
    y: i32,
    side: i32,
    dark: Rgb888,
    light: Rgb888,
) -> Result<()> {
    let qr = QrCode::encode_text(text, QrCodeEcc::Medium)
        .map_err(|e| anyhow!("QR payload too long: {e:?}"))?;
    let n = qr.size();
    let module = side / (n + 2 * QUIET_ZONE);
    if module < 1 {
        return Err(anyhow!(
            "QR box of {side} px is too small for {} modules",
            n + 2 * QUIET_ZONE
        ));
    }
    let full = module * (n + 2 * QUIET_ZONE);
    let ox = x + (side - full) / 2;
    let oy = y + (side - full) / 2;
    let _ = frame.fill_solid(
        &Rectangle::new(Point::new(ox, oy), Size::new(full as u32, full as u32)),
        light,
    );
    let m = module as u32;
    for my in 0..n {
        // Skip rows of modules that lie outside this band of the card.
        let py = oy + (QUIET_ZONE + my) * module;
        if py + module <= frame.y0() as i32 || py >= (frame.y0() + frame.rows()) as i32 {
            continue;
        }
        let mut mx = 0;
        while mx < n {
            if qr.get_module(mx, my) {
                // One rectangle per horizontal run of dark modules.
                let start = mx;
                while mx < n && qr.get_module(mx, my) {
                    mx += 1;
                }
                let px = ox + (QUIET_ZONE + start) * module;
                let _ = frame.fill_solid(
                    &Rectangle::new(Point::new(px, py), Size::new(m * (mx - start) as u32, m)),
                    dark,
                );
            } else {
                mx += 1;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_the_rfc_4231_test_vector() {
        let mac = hmac_sha256(&[0x0b; 20], b"Hi There");
        let hex = crate::secret::hex(&mac);
        assert_eq!(
            hex,
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"
        );
    }

    #[test]
    fn a_payload_verifies_with_its_secret_and_not_with_another_or_when_altered() {
        let p = payload("SN-DKR-26-7KQ4MX9P-Z", b"box-secret");
        assert_eq!(
            verify_payload(&p, b"box-secret").as_deref(),
            Some("SN-DKR-26-7KQ4MX9P-Z")
        );
        assert_eq!(verify_payload(&p, b"other-box"), None);
        assert_eq!(
            verify_payload(&p.replace("7KQ4", "7KQ5"), b"box-secret"),
            None
        );
    }
}
