//! Reading QR codes from an image of a card (`kadi verify --image`, the /verify page's upload).
//! A minimal version (PNG, rqrr) until s11-q's photo decoder (scaled, blurred, rotated, JPEG)
//! replaces this file with the same signature.
use anyhow::{Context, Result};

/// The texts of the QR codes found in a PNG image (empty when none reads).
pub fn decode_qr(bytes: &[u8]) -> Result<Vec<String>> {
    let mut decoder = png::Decoder::new(std::io::Cursor::new(bytes));
    decoder.set_transformations(png::Transformations::normalize_to_color8());
    let mut reader = decoder.read_info().context("not a PNG image")?;
    let (w, h) = (reader.info().width as usize, reader.info().height as usize);
    // A card at 600 dpi is 2,022 x 1,275; a phone photo rarely passes 12 megapixels.
    anyhow::ensure!(w * h <= 40_000_000, "image too large ({w} x {h} pixels)");
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader
        .next_frame(&mut buf)
        .context("reading the PNG image")?;
    let channels = info.color_type.samples();
    let gray: Vec<u8> = buf[..info.buffer_size()]
        .chunks(channels)
        .map(|p| match p {
            [r, g, b, ..] => ((*r as u32 * 299 + *g as u32 * 587 + *b as u32 * 114) / 1000) as u8,
            [l, ..] => *l,
            [] => 0,
        })
        .collect();
    let mut img = rqrr::PreparedImage::prepare_from_greyscale(w, h, |x, y| gray[y * w + x]);
    Ok(img
        .detect_grids()
        .into_iter()
        .filter_map(|g| g.decode().ok().map(|(_, text)| text))
        .collect())
}
