//! CR80 card geometry (ISO/IEC 7810 ID-1: 85.60 x 53.98 mm) at the dpi kadi prints at.
//!
//! Rounding rule: pixels = floor(mm / 25.4 * dpi + 0.5) (round half up), the same rule as the
//! Pillow baseline, so 300 dpi is 1011 x 638, 450 dpi 1517 x 956 and 600 dpi 2022 x 1275 px.
//! The PNG is the trim size; template backgrounds run to the edges (full bleed) and the build
//! checks that text and QR boxes stay inside the [`SAFE_MARGIN_MM`] safe area, so a card printer
//! or a guillotine that cuts up to that far off keeps every word.
use anyhow::{bail, Result};

/// Card width in millimetres.
pub const CARD_W_MM: f32 = 85.60;
/// Card height in millimetres.
pub const CARD_H_MM: f32 = 53.98;
/// Distance from the trim edge that text and QR codes must keep.
pub const SAFE_MARGIN_MM: f32 = 2.0;
/// Resolutions a card can be rendered at.
pub const SUPPORTED_DPI: [u32; 3] = [300, 450, 600];

/// Checks that `dpi` is one kadi renders at, with an error that lists the choices.
pub fn check_dpi(dpi: u32) -> Result<()> {
    if !SUPPORTED_DPI.contains(&dpi) {
        bail!("unsupported dpi {dpi}: choose 300, 450 or 600");
    }
    Ok(())
}

/// Millimetres to pixels at `dpi`, round half up.
pub fn mm_to_px(mm: f32, dpi: u32) -> i32 {
    (mm as f64 / 25.4 * dpi as f64 + 0.5).floor() as i32
}

/// Card size in pixels at `dpi`.
pub fn card_px(dpi: u32) -> (u32, u32) {
    (
        mm_to_px(CARD_W_MM, dpi) as u32,
        mm_to_px(CARD_H_MM, dpi) as u32,
    )
}

/// Pixels per metre for the PNG pHYs chunk (what printers read to keep the physical size).
pub fn px_per_metre(dpi: u32) -> u32 {
    (dpi as f64 / 0.0254).round() as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cr80_pixel_sizes_round_half_up_at_each_dpi() {
        assert_eq!(card_px(300), (1011, 638));
        assert_eq!(card_px(450), (1517, 956));
        assert_eq!(card_px(600), (2022, 1275));
    }

    #[test]
    fn an_unsupported_dpi_is_refused_with_the_choices() {
        let err = check_dpi(200).unwrap_err().to_string();
        assert!(err.contains("300, 450 or 600"), "{err}");
    }
}
