//! PNG encoding of a frame: 8-bit indexed colour (the frame's palette), its dpi in pHYs so
//! printers keep the physical size, and fast deflate.
//!
//! Why these settings (measured by `bench/cards_bench.sh`): deflate is most of the cost of a
//! card. Indexed colour gives deflate a third of the bytes of RGB; `Compression::Fast` (the
//! `fdeflate` encoder) is several times faster than zlib level 6 on these flat images and the
//! files stay small (tens of kB), because a card is mostly runs of one colour. The `Sub` filter
//! would not help indexed data (the PNG spec recommends no filter for palettes).
use super::frame::Frame;
use super::geometry::px_per_metre;
use anyhow::{Context, Result};
use embedded_graphics::pixelcolor::RgbColor;

/// Encodes a whole-card (or whole-sheet) frame as PNG bytes carrying `dpi` in pHYs.
pub fn encode_png(frame: &Frame, dpi: u32) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(64 * 1024);
    {
        let mut enc = png::Encoder::new(&mut out, frame.width(), frame.rows());
        enc.set_color(png::ColorType::Indexed);
        enc.set_depth(png::BitDepth::Eight);
        let palette: Vec<u8> = frame
            .palette()
            .iter()
            .flat_map(|c| [c.r(), c.g(), c.b()])
            .collect();
        enc.set_palette(palette);
        enc.set_compression(png::Compression::Fast);
        enc.set_filter(png::FilterType::Up);
        enc.set_adaptive_filter(png::AdaptiveFilterType::NonAdaptive);
        let ppm = px_per_metre(dpi);
        enc.set_pixel_dims(Some(png::PixelDimensions {
            xppu: ppm,
            yppu: ppm,
            unit: png::Unit::Meter,
        }));
        let mut writer = enc.write_header().context("writing PNG header")?;
        writer
            .write_image_data(frame.indices())
            .context("writing PNG data")?;
        writer.finish().context("finishing PNG")?;
    }
    Ok(out)
}
