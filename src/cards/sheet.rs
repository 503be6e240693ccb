//! A4 sheets for ordinary office printers: ten CR80 cards (2 columns x 5 rows) at 300 dpi with
//! cut marks in the margins, as a PNG (pHYs = 300 dpi, so "actual size" printing keeps 85.60 mm)
//! and as an HTML page whose CSS places the card PNGs in millimetres under `@page { size: A4 }`.
//!
//! Layout (mm): cards 85.60 x 53.98 with 4 mm between columns and 3 mm between rows, centred on
//! the page: left margin 17.4, top margin 7.55. Cut marks are 0.25 mm lines in the page margins
//! continuing every card edge, so they never print on a card.
use super::frame::Frame;
use super::geometry::{card_px, mm_to_px, CARD_H_MM, CARD_W_MM};
use super::png_out::encode_png;
use super::render::{render_frame, CardContent, RenderOptions};
use super::template::Template;
use anyhow::{Context, Result};
use embedded_graphics::pixelcolor::{Rgb888, RgbColor};
use embedded_graphics::prelude::*;
use embedded_graphics::primitives::Rectangle;
use rayon::prelude::*;
use std::path::{Path, PathBuf};

/// Cards per A4 sheet.
pub const CARDS_PER_SHEET: usize = 10;
/// A4 in millimetres.
pub const A4_MM: (f32, f32) = (210.0, 297.0);
/// Sheets are printed at this resolution.
pub const SHEET_DPI: u32 = 300;
const COLS: usize = 2;
const GAP_X_MM: f32 = 4.0;
const GAP_Y_MM: f32 = 3.0;

/// Top-left corner (mm) of card slot `i` (0..10) on the sheet.
pub fn slot_mm(i: usize) -> (f32, f32) {
    let rows = CARDS_PER_SHEET.div_ceil(COLS) as f32;
    let left = (A4_MM.0 - COLS as f32 * CARD_W_MM - (COLS as f32 - 1.0) * GAP_X_MM) / 2.0;
    let top = (A4_MM.1 - rows * CARD_H_MM - (rows - 1.0) * GAP_Y_MM) / 2.0;
    let (c, r) = ((i % COLS) as f32, (i / COLS) as f32);
    (
        left + c * (CARD_W_MM + GAP_X_MM),
        top + r * (CARD_H_MM + GAP_Y_MM),
    )
}

/// Renders up to ten cards onto one A4 sheet (white, cut marks) and returns the frame.
pub fn render_sheet(
    cards: &[CardContent],
    template: &Template,
    include_mpi_id: bool,
) -> Result<Frame> {
    render_labelled_sheet(cards, &[], template, include_mpi_id)
}

/// [`render_sheet`] with a label printed under each card (`labels[i]` under card `i`, in the
/// 3 mm gap between rows, or the bottom margin for the last row): the number and name that let
/// staff hand each cut card to the right person. Cut marks stay at the card edges; the labels
/// keep 2 mm clear of them.
pub fn render_labelled_sheet(
    cards: &[CardContent],
    labels: &[String],
    template: &Template,
    include_mpi_id: bool,
) -> Result<Frame> {
    let dpi = SHEET_DPI;
    let (w, h) = (mm_to_px(A4_MM.0, dpi) as u32, mm_to_px(A4_MM.1, dpi) as u32);
    let mut sheet = Frame::new(w, h, Rgb888::WHITE);
    let opts = RenderOptions {
        dpi,
        include_mpi_id,
        bands: 1,
    };
    let frames: Vec<Frame> = cards
        .iter()
        .take(CARDS_PER_SHEET)
        .collect::<Vec<_>>()
        .par_iter()
        .map(|c| render_frame(c, template, opts))
        .collect::<Result<_>>()?;
    let (cw, ch) = card_px(dpi);
    let mark = Rgb888::new(40, 40, 40);
    let thick = mm_to_px(0.25, dpi).max(1) as u32;
    let (len, off) = (mm_to_px(4.0, dpi), mm_to_px(1.0, dpi));
    for (i, f) in frames.iter().enumerate() {
        let (x, y) = slot_mm(i);
        let (px, py) = (mm_to_px(x, dpi), mm_to_px(y, dpi));
        sheet.blit(f, px as u32, py as u32);
        let (gx0, gy0) = (mm_to_px(slot_mm(0).0, dpi), mm_to_px(slot_mm(0).1, dpi));
        let (gx1, gy1) = (
            mm_to_px(slot_mm(CARDS_PER_SHEET - 1).0, dpi) + cw as i32,
            mm_to_px(slot_mm(CARDS_PER_SHEET - 1).1, dpi) + ch as i32,
        );
        // Vertical marks above and below the grid for this card's left and right edges.
        for ex in [px, px + cw as i32 - thick as i32] {
            let _ = sheet.fill_solid(
                &Rectangle::new(
                    Point::new(ex, gy0 - off - len),
                    Size::new(thick, len as u32),
                ),
                mark,
            );
            let _ = sheet.fill_solid(
                &Rectangle::new(Point::new(ex, gy1 + off), Size::new(thick, len as u32)),
                mark,
            );
        }
        if let Some(label) = labels.get(i).filter(|l| !l.is_empty()) {
            draw_label(&mut sheet, label, px, py + ch as i32, cw as i32)?;
        }
        // Horizontal marks left and right of the grid for this card's top and bottom edges.
        for ey in [py, py + ch as i32 - thick as i32] {
            let _ = sheet.fill_solid(
                &Rectangle::new(
                    Point::new(gx0 - off - len, ey),
                    Size::new(len as u32, thick),
                ),
                mark,
            );
            let _ = sheet.fill_solid(
                &Rectangle::new(Point::new(gx1 + off, ey), Size::new(len as u32, thick)),
                mark,
            );
        }
    }
    Ok(sheet)
}

/// Draws one card's label under it (2.6 mm high, 2 mm in from each edge, dark grey).
fn draw_label(sheet: &mut Frame, label: &str, x: i32, y: i32, card_w: i32) -> Result<()> {
    use super::text::{draw_text, Align, Face, PxBox, TextStyle};
    let inset = mm_to_px(2.0, SHEET_DPI);
    let style = TextStyle {
        face: Face::Regular,
        max_px: mm_to_px(2.2, SHEET_DPI) as u32,
        min_px: mm_to_px(1.6, SHEET_DPI) as u32,
        max_lines: 1,
        align: Align::Center,
        ink: Rgb888::new(0x22, 0x22, 0x22),
    };
    draw_text(
        sheet,
        label,
        &style,
        PxBox {
            x: x + inset,
            y: y + mm_to_px(0.2, SHEET_DPI),
            w: card_w - 2 * inset,
            h: mm_to_px(2.6, SHEET_DPI),
        },
    )?;
    Ok(())
}

/// Renders one A4 sheet of up to ten cards as PNG bytes (300 dpi in pHYs).
pub fn render_sheet_png(
    cards: &[CardContent],
    template: &Template,
    include_mpi_id: bool,
) -> Result<Vec<u8>> {
    encode_png(&render_sheet(cards, template, include_mpi_id)?, SHEET_DPI)
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A printable HTML page placing `card_srcs` (image URLs or relative paths), ten per A4 page, in
/// millimetres, with cut marks; print it at 100 % ("actual size") on any office printer.
pub fn sheet_html(card_srcs: &[String], title: &str) -> String {
    sheet_html_labelled(card_srcs, &[], title)
}

/// [`sheet_html`] with a label (number and name) under each card, as on the PNG sheets.
pub fn sheet_html_labelled(card_srcs: &[String], labels: &[String], title: &str) -> String {
    let mut out = String::new();
    out.push_str("<!doctype html>\n<html lang=\"fr\"><head><meta charset=\"utf-8\"><title>");
    out.push_str(&escape(title));
    out.push_str(&format!(
        "</title>\n<style>\n@page {{ size: A4; margin: 0; }}\nhtml, body {{ margin: 0; padding: 0; }}\n\
         .sheet {{ position: relative; width: {}mm; height: {}mm; overflow: hidden; page-break-after: always; break-after: page; }}\n\
         .card {{ position: absolute; width: {CARD_W_MM}mm; height: {CARD_H_MM}mm; }}\n\
         .card img {{ width: {CARD_W_MM}mm; height: {CARD_H_MM}mm; display: block; }}\n\
         .mark {{ position: absolute; background: #282828; }}\n\
         .label {{ position: absolute; width: {CARD_W_MM}mm; height: 2.6mm; font: 2.2mm/2.6mm sans-serif; text-align: center; color: #222; white-space: nowrap; overflow: hidden; }}\n\
         @media screen {{ body {{ background: #ddd; }} .sheet {{ background: #fff; margin: 8mm auto; box-shadow: 0 1mm 4mm #0004; }} }}\n\
         </style></head><body>\n",
        A4_MM.0, A4_MM.1
    ));
    for (p, page) in card_srcs.chunks(CARDS_PER_SHEET).enumerate() {
        out.push_str("<section class=\"sheet\">\n");
        let (gx0, gy0) = slot_mm(0);
        let (lx, ly) = slot_mm(CARDS_PER_SHEET - 1);
        let (gx1, gy1) = (lx + CARD_W_MM, ly + CARD_H_MM);
        for (i, src) in page.iter().enumerate() {
            let (x, y) = slot_mm(i);
            out.push_str(&format!(
                "<div class=\"card\" style=\"left:{x:.2}mm;top:{y:.2}mm\"><img src=\"{}\" alt=\"carte\"></div>\n",
                escape(src)
            ));
            if let Some(label) = labels.get(p * CARDS_PER_SHEET + i) {
                out.push_str(&format!(
                    "<div class=\"label\" style=\"left:{x:.2}mm;top:{:.2}mm\">{}</div>\n",
                    y + CARD_H_MM + 0.2,
                    escape(label)
                ));
            }
            for ex in [x, x + CARD_W_MM - 0.25] {
                for top in [gy0 - 5.0, gy1 + 1.0] {
                    out.push_str(&format!("<div class=\"mark\" style=\"left:{ex:.2}mm;top:{top:.2}mm;width:0.25mm;height:4mm\"></div>\n"));
                }
            }
            for ey in [y, y + CARD_H_MM - 0.25] {
                for left in [gx0 - 5.0, gx1 + 1.0] {
                    out.push_str(&format!("<div class=\"mark\" style=\"left:{left:.2}mm;top:{ey:.2}mm;width:4mm;height:0.25mm\"></div>\n"));
                }
            }
        }
        out.push_str("</section>\n");
    }
    out.push_str("</body></html>\n");
    out
}

/// Writes `sheet-NNN.png` files, `sheets.pdf` (the same sheets, one A4 page each) and
/// `cards.html` into `dir` for cards whose PNGs are `paths`,
/// with `labels[i]` printed under card `i` (none when `labels` is empty).
pub fn write_sheets(
    cards: &[CardContent],
    paths: &[PathBuf],
    labels: &[String],
    template: &Template,
    include_mpi_id: bool,
    dir: &Path,
) -> Result<(Vec<PathBuf>, PathBuf)> {
    let mut written = Vec::new();
    for (n, group) in cards.chunks(CARDS_PER_SHEET).enumerate() {
        let at = n * CARDS_PER_SHEET;
        let group_labels = labels
            .get(at..(at + group.len()).min(labels.len()))
            .unwrap_or(&[]);
        let frame = render_labelled_sheet(group, group_labels, template, include_mpi_id)?;
        let png = encode_png(&frame, SHEET_DPI)?;
        let path = dir.join(format!("sheet-{:03}.png", n + 1));
        crate::fsx::write_atomic(&path, &png)?;
        written.push(path);
    }
    let srcs: Vec<String> = paths
        .iter()
        .map(|p| {
            p.strip_prefix(dir)
                .unwrap_or(p)
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    // The same sheets as one PDF (pages read back one at a time).
    crate::fsx::write_atomic_with(&dir.join("sheets.pdf"), |file| {
        let mut w = std::io::BufWriter::new(file);
        super::pdf::write_a4_pdf(&mut w, written.len(), |i| {
            std::fs::read(&written[i]).with_context(|| format!("reading {}", written[i].display()))
        })?;
        std::io::Write::flush(&mut w).context("writing sheets.pdf")?;
        Ok(())
    })?;
    let page = dir.join("cards.html");
    crate::fsx::write_atomic(
        &page,
        sheet_html_labelled(&srcs, labels, &format!("Cartes {}", template.name)).as_bytes(),
    )?;
    Ok((written, page))
}

/// A contact sheet of cards (template name above each, two per row) at 300 dpi, for people to
/// look at the templates side by side (`docs/cards-contact-sheet.png`). Ten templates together
/// have more than 256 colours, so the sheet is composed and written as RGB.
pub fn contact_sheet_png(cards: &[(String, CardContent, Template)]) -> Result<Vec<u8>> {
    use super::text::{draw_text, Align, Face, PxBox, TextStyle};
    let (cw, ch) = card_px(SHEET_DPI);
    let (margin, label_h, cols) = (40u32, 56u32, 2u32);
    let rows = (cards.len() as u32).div_ceil(cols).max(1);
    let w = cols * cw + (cols + 1) * margin;
    let h = rows * (ch + label_h + margin) + margin;
    let grey = Rgb888::new(0xE9, 0xEB, 0xEE);
    let mut rgb = [grey.r(), grey.g(), grey.b()].repeat((w * h) as usize);
    let opts = RenderOptions::at(SHEET_DPI);
    let frames: Vec<Frame> = cards
        .par_iter()
        .map(|(_, c, t)| render_frame(c, t, opts))
        .collect::<Result<_>>()?;
    let style = TextStyle {
        face: Face::Bold,
        max_px: 34,
        min_px: 20,
        max_lines: 1,
        align: Align::Left,
        ink: Rgb888::new(0x33, 0x3A, 0x44),
    };
    let mut paste = |f: &Frame, x: u32, y: u32| {
        let src = f.to_rgb();
        let row = (f.width() * 3) as usize;
        for r in 0..f.rows() {
            let at = (((y + r) * w + x) * 3) as usize;
            rgb[at..at + row].copy_from_slice(&src[r as usize * row..(r as usize + 1) * row]);
        }
    };
    for (i, ((label, _, _), f)) in cards.iter().zip(&frames).enumerate() {
        let (c, r) = (i as u32 % cols, i as u32 / cols);
        let x = margin + c * (cw + margin);
        let y = margin + r * (ch + label_h + margin);
        let mut caption = Frame::new(cw, label_h, grey);
        draw_text(
            &mut caption,
            label,
            &style,
            PxBox {
                x: 0,
                y: 0,
                w: cw as i32,
                h: label_h as i32 - 8,
            },
        )?;
        paste(&caption, x, y);
        paste(f, x, y + label_h);
    }
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, w, h);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        enc.set_compression(png::Compression::Best);
        let ppm = super::geometry::px_per_metre(SHEET_DPI);
        enc.set_pixel_dims(Some(png::PixelDimensions {
            xppu: ppm,
            yppu: ppm,
            unit: png::Unit::Meter,
        }));
        let mut writer = enc.write_header().context("writing PNG header")?;
        writer.write_image_data(&rgb).context("writing PNG data")?;
        writer.finish().context("finishing PNG")?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ten_slots_fit_on_a4_with_margins_for_cut_marks() {
        let (x0, y0) = slot_mm(0);
        let (x9, y9) = slot_mm(9);
        assert!(x0 > 6.0 && y0 > 6.0, "{x0} {y0}");
        assert!(x9 + CARD_W_MM < A4_MM.0 - 6.0 && y9 + CARD_H_MM < A4_MM.1 - 6.0);
    }

    #[test]
    fn the_html_sheet_sizes_cards_in_millimetres_and_escapes_paths() {
        let html = sheet_html(&["a\"b.png".into()], "t");
        assert!(html.contains("@page { size: A4"));
        assert!(html.contains("width: 85.6mm"));
        assert!(html.contains("a&quot;b.png"));
    }
}
