//! The card's QR code: the signed card payload (`KC1:` + Base45 of a COSE_Sign1 with Ed25519,
//! made by [`crate::verify`]), error correction M, alphanumeric mode (Base45 is the QR
//! alphanumeric set), drawn module by module with embedded-graphics inside a 2-module quiet zone,
//! modules as large as the template's QR box allows (whole pixels at their edges).
//!
//! [`payload`] is "the card's QR payload" every caller uses (renderer, generator, Wallet pass);
//! [`payloads`] signs many in one transaction. The old `K1:` HMAC cards are gone with their
//! secret (schema v15); `kadi verify` reads them as `unreadable`, reason "old format".
use super::frame::Frame;
use crate::store::records::ResolvedCard;
use crate::store::Store;
use crate::verify::sign::Holder;
use anyhow::{anyhow, Result};
use embedded_graphics::pixelcolor::Rgb888;
use embedded_graphics::prelude::*;
use embedded_graphics::primitives::Rectangle;
use qrcodegen::{QrCode, QrCodeEcc, QrSegment, Version};

/// Modules of white kept around the code. The QR specification asks for 4; the card gives the
/// code a light tile of its own and phones' readers (ZXing, rqrr) find codes with 2, which the
/// signed code's modules need: at 300 dpi in a 23.4 mm box, a version 10 code gets 4.5 px
/// modules with 2 (enough for a blurred photo, tests/cards_scan.rs) and 3.8 px with 4.
pub const QUIET_ZONE: i32 = 2;

/// Who a store record's card names, as its QR signs it: the MPI ID (or `ENR:<enrollment uid>`
/// before resolution), the name, date of birth and health centre as printed.
pub fn holder(card: &ResolvedCard) -> Holder {
    let f = &card.record.fields;
    let clean = |v: Option<&str>| v.map(str::trim).filter(|s| !s.is_empty()).map(String::from);
    Holder {
        subject: card
            .mpi_id
            .clone()
            .unwrap_or_else(|| format!("ENR:{}", card.record.enrollment_uid)),
        name: f.full_name(),
        date_of_birth: clean(f.date_of_birth.as_deref()),
        health_center: clean(f.health_center.as_deref()),
    }
}

/// The card's QR payload: its holder's claims signed with this box's key (a serial is issued on
/// first use and kept until revoked).
pub fn payload(store: &Store, card: &ResolvedCard) -> Result<String> {
    crate::verify::sign::payload(store, &holder(card))
}

/// [`payload`] for many cards, in order, in one transaction.
pub fn payloads(store: &Store, cards: &[ResolvedCard]) -> Result<Vec<String>> {
    let holders: Vec<Holder> = cards.iter().map(holder).collect();
    crate::verify::sign::payloads(store, &holders)
}

/// A payload signed with a fixed sample key that no box trusts (so `kadi verify` answers
/// `unknown_key`): for sample cards without a store (the benchmark, the contact sheet, golden
/// images), deterministic so their pixels are too.
pub fn sample_payload(
    mpi_id: &str,
    name: &str,
    date_of_birth: Option<&str>,
    health_center: Option<&str>,
) -> String {
    let key = crate::verify::keys::SigningKey::sample();
    let claims = crate::verify::Claims {
        mpi_id: mpi_id.to_string(),
        name: name.to_string(),
        date_of_birth: date_of_birth.map(String::from),
        health_center: health_center.map(String::from),
        issued_on: "2026-01-01".into(),
        serial: mpi_id
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .rev()
            .take(10)
            .collect(),
        kid: String::new(),
    };
    crate::verify::sign::sign_claims(&key, &claims).unwrap_or_default()
}

/// The QR code of `text` at EC level M or higher, alphanumeric mode when the text allows
/// (a Base45 payload always does), so the code is as small as the payload allows.
pub fn encode(text: &str) -> Result<QrCode> {
    let segs = QrSegment::make_segments(text);
    QrCode::encode_segments_advanced(
        &segs,
        QrCodeEcc::Medium,
        Version::MIN,
        Version::MAX,
        None,
        true,
    )
    .map_err(|e| anyhow!("QR payload too long: {e:?}"))
}

/// Draws the QR of `text` filling the square `(x, y, side)` (pixels), quiet zone included, its
/// modules as large as fit. A module's edges fall on whole pixels (module `i` starts at
/// `round(i * side / modules)`), so modules stay sharp and differ by at most one pixel: at 300
/// dpi a 276 px box holds a 61-module code (version 10 and its quiet zone) at 4.5 px a module,
/// where whole-pixel modules would be 4.
pub fn draw(
    frame: &mut Frame,
    text: &str,
    x: i32,
    y: i32,
    side: i32,
    dark: Rgb888,
    light: Rgb888,
) -> Result<()> {
    let qr = encode(text)?;
    let n = qr.size();
    let total = n + 2 * QUIET_ZONE;
    if side < total {
        return Err(anyhow!(
            "QR box of {side} px is too small for {total} modules"
        ));
    }
    // Module i's first pixel, from the box's corner.
    let edge = |i: i32| ((i as i64 * side as i64 * 2 + total as i64) / (2 * total as i64)) as i32;
    let _ = frame.fill_solid(
        &Rectangle::new(Point::new(x, y), Size::new(side as u32, side as u32)),
        light,
    );
    for my in 0..n {
        let (py, py_end) = (y + edge(QUIET_ZONE + my), y + edge(QUIET_ZONE + my + 1));
        // Skip rows of modules that lie outside this band of the card.
        if py_end <= frame.y0() as i32 || py >= (frame.y0() + frame.rows()) as i32 {
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
                let px = x + edge(QUIET_ZONE + start);
                let width = x + edge(QUIET_ZONE + mx) - px;
                let _ = frame.fill_solid(
                    &Rectangle::new(
                        Point::new(px, py),
                        Size::new(width as u32, (py_end - py) as u32),
                    ),
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
    fn a_card_payload_is_a_qr_in_alphanumeric_mode_at_level_m_or_better() {
        let p = sample_payload(
            "SN-DKR-26-7KQ4MX9P-Z",
            "Ŋoné Mame Diarra N’Diaye",
            Some("1990-05-12"),
            Some("Centre de santé de Grand Yoff"),
        );
        assert!(p.starts_with("KC1:"));
        assert!(QrSegment::is_alphanumeric(&p));
        let qr = encode(&p).unwrap();
        assert!(matches!(
            qr.error_correction_level(),
            QrCodeEcc::Medium | QrCodeEcc::Quartile | QrCodeEcc::High
        ));
        // Deterministic: the same sample renders the same pixels.
        assert_eq!(
            p,
            sample_payload(
                "SN-DKR-26-7KQ4MX9P-Z",
                "Ŋoné Mame Diarra N’Diaye",
                Some("1990-05-12"),
                Some("Centre de santé de Grand Yoff")
            )
        );
    }
}
