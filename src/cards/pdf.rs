//! A4 sheets as one PDF (part s10-m), for print shops and for staff whose printer dialog handles a
//! PDF better than a page of images: one page per sheet PNG, the image filling the A4 page.
//!
//! No PDF library and no re-encoding: a PNG's IDAT data is a zlib stream of rows that each start
//! with a PNG filter byte, which is exactly what PDF's `FlateDecode` with `/Predictor 15` reads
//! (PDF 32000-1, 7.4.4.4). So each page embeds the sheet's compressed pixels as they are, with its
//! palette as an `/Indexed` colour space: writing the PDF costs a copy, not a deflate.
use anyhow::{bail, Context, Result};
use std::fmt::Write as _;

/// A4 in PostScript points (1/72 in).
const A4_PT: (f32, f32) = (595.28, 841.89);

/// The parts of a PNG a PDF image needs.
struct PngParts {
    width: u32,
    height: u32,
    /// `/DeviceRGB` or `/DeviceGray` with its component count, or an indexed palette (RGB).
    colors: u8,
    palette: Option<Vec<u8>>,
    idat: Vec<u8>,
}

/// Reads IHDR, PLTE and the IDAT stream of an 8-bit, non-interlaced grey, RGB or indexed PNG
/// (what `png_out::encode_png` writes); anything else is an error naming what it found.
fn parse_png(png: &[u8]) -> Result<PngParts> {
    if png.get(..8) != Some(b"\x89PNG\r\n\x1a\n".as_slice()) {
        bail!("not a PNG");
    }
    let (mut at, mut ihdr, mut palette, mut idat) = (8usize, None, None, Vec::new());
    while at + 8 <= png.len() {
        let len = u32::from_be_bytes(png[at..at + 4].try_into().context("chunk length")?) as usize;
        let kind = &png[at + 4..at + 8];
        let data = png
            .get(at + 8..at + 8 + len)
            .context("a PNG chunk runs past the end of the file")?;
        match kind {
            b"IHDR" => ihdr = Some(data.to_vec()),
            b"PLTE" => palette = Some(data.to_vec()),
            b"IDAT" => idat.extend_from_slice(data),
            b"IEND" => break,
            _ => {}
        }
        at += 12 + len;
    }
    let h = ihdr.context("the PNG has no IHDR")?;
    if h.len() < 13 {
        bail!("the PNG's IHDR is short");
    }
    let (depth, color_type, interlace) = (h[8], h[9], h[12]);
    if depth != 8 || interlace != 0 {
        bail!("PNG bit depth {depth} / interlace {interlace}: only 8-bit, non-interlaced sheets go into a PDF");
    }
    let colors = match color_type {
        0 | 3 => 1,
        2 => 3,
        other => bail!("PNG colour type {other} cannot go into the PDF as is"),
    };
    Ok(PngParts {
        width: u32::from_be_bytes([h[0], h[1], h[2], h[3]]),
        height: u32::from_be_bytes([h[4], h[5], h[6], h[7]]),
        colors,
        palette: if color_type == 3 {
            Some(palette.context("an indexed PNG without PLTE")?)
        } else {
            None
        },
        idat,
    })
}

/// A PDF writer that knows where each object starts (for the cross-reference table).
struct PdfOut<'w, W: std::io::Write> {
    w: &'w mut W,
    pos: usize,
    offsets: Vec<usize>,
}

impl<W: std::io::Write> PdfOut<'_, W> {
    fn put(&mut self, bytes: &[u8]) -> Result<()> {
        self.w.write_all(bytes).context("writing the PDF")?;
        self.pos += bytes.len();
        Ok(())
    }

    /// Starts object `id` (objects are numbered 1, 2, ... in the order they are written).
    fn obj(&mut self, id: usize, head: &str) -> Result<()> {
        debug_assert_eq!(self.offsets.len() + 1, id);
        self.offsets.push(self.pos);
        self.put(format!("{id} 0 obj\n{head}").as_bytes())
    }
}

/// Writes a PDF of `n` A4 pages to `w`, page `i` filled with the sheet PNG `page(i)` (read one at
/// a time, so a 300-sheet print never holds more than one sheet in memory).
pub fn write_a4_pdf<W: std::io::Write>(
    w: &mut W,
    n: usize,
    mut page: impl FnMut(usize) -> Result<Vec<u8>>,
) -> Result<()> {
    let mut out = PdfOut {
        w,
        pos: 0,
        offsets: Vec::new(),
    };
    out.put(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")?;
    // Objects: 1 catalog, 2 page tree, then per page: page, content, image.
    out.obj(1, "<< /Type /Catalog /Pages 2 0 R >>\nendobj\n")?;
    let kids: String = (0..n).map(|i| format!("{} 0 R ", 3 + 3 * i)).collect();
    out.obj(
        2,
        &format!("<< /Type /Pages /Kids [{kids}] /Count {n} >>\nendobj\n"),
    )?;
    let (w, h) = A4_PT;
    for i in 0..n {
        let p = page(i)
            .and_then(|png| parse_png(&png))
            .with_context(|| format!("sheet {} of the PDF", i + 1))?;
        let (pg, content, image) = (3 + 3 * i, 4 + 3 * i, 5 + 3 * i);
        out.obj(
            pg,
            &format!(
                "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {w} {h}] /Resources << /XObject << /Sheet {image} 0 R >> >> /Contents {content} 0 R >>\nendobj\n"
            ),
        )?;
        let draw = format!("q {w} 0 0 {h} 0 0 cm /Sheet Do Q\n");
        out.obj(
            content,
            &format!(
                "<< /Length {} >>\nstream\n{draw}endstream\nendobj\n",
                draw.len()
            ),
        )?;
        let space = match &p.palette {
            Some(pal) => {
                let mut hex = String::with_capacity(pal.len() * 2);
                for b in pal {
                    let _ = write!(hex, "{b:02X}");
                }
                format!("[/Indexed /DeviceRGB {} <{hex}>]", pal.len() / 3 - 1)
            }
            None if p.colors == 3 => "/DeviceRGB".to_string(),
            None => "/DeviceGray".to_string(),
        };
        out.obj(
            image,
            &format!(
                "<< /Type /XObject /Subtype /Image /Width {} /Height {} /ColorSpace {space} /BitsPerComponent 8 /Filter /FlateDecode /DecodeParms << /Predictor 15 /Colors {} /BitsPerComponent 8 /Columns {} >> /Length {} >>\nstream\n",
                p.width, p.height, p.colors, p.width, p.idat.len()
            ),
        )?;
        out.put(&p.idat)?;
        out.put(b"\nendstream\nendobj\n")?;
    }
    let xref = out.pos;
    let mut tail = format!("xref\n0 {}\n0000000000 65535 f \n", out.offsets.len() + 1);
    for o in &out.offsets {
        let _ = writeln!(tail, "{o:010} 00000 n ");
    }
    let _ = write!(
        tail,
        "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
        out.offsets.len() + 1
    );
    out.put(tail.as_bytes())
}

/// [`write_a4_pdf`] into memory.
pub fn a4_pdf(pages: &[Vec<u8>]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    write_a4_pdf(&mut out, pages.len(), |i| Ok(pages[i].clone()))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn find_last(hay: &[u8], needle: &[u8]) -> Option<usize> {
        hay.windows(needle.len()).rposition(|w| w == needle)
    }

    #[test]
    fn a_pdf_page_carries_the_png_s_pixels_and_palette_and_a_valid_xref() {
        let frame = crate::cards::frame::Frame::new(
            4,
            2,
            embedded_graphics::pixelcolor::Rgb888::new(0x12, 0x34, 0x56),
        );
        let png = crate::cards::png_out::encode_png(&frame, 300).unwrap();
        let pdf = a4_pdf(&[png.clone(), png]).unwrap();
        assert!(pdf.starts_with(b"%PDF-1.4") && pdf.ends_with(b"%%EOF\n"));
        assert!(find_last(&pdf, b"/Count 2").is_some());
        assert!(find_last(&pdf, b"/Width 4 /Height 2 /ColorSpace [/Indexed /DeviceRGB").is_some());
        assert!(find_last(&pdf, b"123456").is_some());
        // Every xref offset points at its object's header.
        let at = find_last(&pdf, b"startxref\n").unwrap() + "startxref\n".len();
        let tail = String::from_utf8(pdf[at..].to_vec()).unwrap();
        let xref: usize = tail.lines().next().unwrap().parse().unwrap();
        let table = String::from_utf8(pdf[xref..at].to_vec()).unwrap();
        let entries: Vec<usize> = table
            .lines()
            .skip(3)
            .take_while(|l| l.ends_with(" n "))
            .map(|l| l[..10].parse().unwrap())
            .collect();
        assert_eq!(entries.len(), 8);
        for (i, off) in entries.iter().enumerate() {
            assert!(
                pdf[*off..].starts_with(format!("{} 0 obj", i + 1).as_bytes()),
                "object {}",
                i + 1
            );
        }
        assert!(a4_pdf(&[b"nope".to_vec()]).is_err());
    }
}
