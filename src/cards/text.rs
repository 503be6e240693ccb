//! Anti-aliased TrueType text for cards: the embedded DejaVu Sans fonts rasterised by `fontdue`,
//! a per-thread glyph cache, fitting (shrink to a minimum size, then wrap, then an ellipsis) and
//! blending into a [`Frame`]'s pixels, clipped to the text's box so nothing ever overflows it.
//!
//! Font choice: DejaVu Sans (Bitstream Vera licence, free to embed and redistribute) covers Latin
//! Extended-A/B, the African letters of Latin Extended (ŋ, ɓ, ɗ, ƴ...), typographic quotes (’) and
//! U+FFFD, and its wide, open shapes stay legible at 2 mm on a thermal card printer. A character
//! the font lacks is drawn as U+FFFD (�), never dropped: "N’Diaye" never prints as "NDiaye".
//! Text is not Unicode-normalised: a decomposed accent (e + U+0301) is drawn as a zero-width mark
//! over the previous letter, which is how DejaVu positions it.
use super::frame::Frame;
use anyhow::{anyhow, Result};
use embedded_graphics::pixelcolor::Rgb888;
use fontdue::{Font, FontSettings, Metrics};
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::OnceLock;

static REGULAR_TTF: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");
static BOLD_TTF: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans-Bold.ttf");

/// Which embedded face to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Face {
    /// DejaVu Sans.
    Regular,
    /// DejaVu Sans Bold.
    Bold,
}

/// Horizontal alignment of text in its box.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Align {
    /// Flush left (the default).
    #[default]
    Left,
    /// Centred.
    Center,
    /// Flush right.
    Right,
}

static FONTS: OnceLock<Result<[Font; 2], String>> = OnceLock::new();

/// The two embedded faces, parsed once per process.
fn fonts() -> Result<&'static [Font; 2]> {
    FONTS
        .get_or_init(|| {
            let load = |bytes: &'static [u8], name: &str| {
                Font::from_bytes(bytes, FontSettings::default())
                    .map_err(|e| format!("embedded font {name} is unreadable: {e}"))
            };
            Ok([
                load(REGULAR_TTF, "DejaVuSans")?,
                load(BOLD_TTF, "DejaVuSans-Bold")?,
            ])
        })
        .as_ref()
        .map_err(|e| anyhow!("{e}"))
}

fn font(face: Face) -> Result<&'static Font> {
    let f = fonts()?;
    Ok(match face {
        Face::Regular => &f[0],
        Face::Bold => &f[1],
    })
}

/// A rasterised glyph: fontdue's metrics and its coverage bitmap.
struct Glyph {
    metrics: Metrics,
    coverage: Vec<u8>,
}

/// Past this many cached glyphs a thread starts its cache afresh (bounded memory for odd input).
const GLYPH_CACHE_LIMIT: usize = 8192;

thread_local! {
    /// Rasterised glyphs by (face, glyph index, pixel size). Per thread, so rayon workers never
    /// contend on a lock; each worker warms up after its first card.
    static GLYPHS: RefCell<HashMap<(Face, u16, u32), Rc<Glyph>>> = RefCell::new(HashMap::new());
    /// Advance widths at 1 px by (face, glyph index): outlines scale linearly (no hinting), so
    /// measuring at any size is a multiplication.
    static ADVANCES: RefCell<HashMap<(Face, u16), f32>> = RefCell::new(HashMap::new());
}

fn glyph(face: Face, index: u16, px: u32) -> Result<Rc<Glyph>> {
    let f = font(face)?;
    Ok(GLYPHS.with(|cache| {
        let mut cache = cache.borrow_mut();
        if cache.len() > GLYPH_CACHE_LIMIT {
            cache.clear();
        }
        cache
            .entry((face, index, px))
            .or_insert_with(|| {
                let (metrics, coverage) = f.rasterize_indexed(index, px as f32);
                Rc::new(Glyph { metrics, coverage })
            })
            .clone()
    }))
}

/// Glyph indices of `text`: missing characters become U+FFFD, control characters are dropped.
fn shape(face: Face, text: &str) -> Result<Vec<u16>> {
    let f = font(face)?;
    let replacement = match f.lookup_glyph_index('\u{FFFD}') {
        0 => f.lookup_glyph_index('?'),
        i => i,
    };
    Ok(text
        .chars()
        .filter(|c| !c.is_control())
        .map(|c| match f.lookup_glyph_index(c) {
            0 => replacement,
            i => i,
        })
        .collect())
}

/// True when every character of `text` has a glyph in the face (no replacement needed).
pub fn covers(face: Face, text: &str) -> Result<bool> {
    let f = font(face)?;
    Ok(text
        .chars()
        .filter(|c| !c.is_control())
        .all(|c| f.lookup_glyph_index(c) != 0))
}

/// Width in pixels of `text` set at `px`.
pub fn measure(face: Face, text: &str, px: u32) -> Result<f32> {
    let f = font(face)?;
    let glyphs = shape(face, text)?;
    let mut w = 0.0;
    ADVANCES.with(|adv| {
        let mut adv = adv.borrow_mut();
        for (i, &g) in glyphs.iter().enumerate() {
            let a = *adv
                .entry((face, g))
                .or_insert_with(|| f.metrics_indexed(g, 1000.0).advance_width / 1000.0);
            w += a * px as f32;
            if let Some(&next) = glyphs.get(i + 1) {
                w += f.horizontal_kern_indexed(g, next, px as f32).unwrap_or(0.0);
            }
        }
    });
    Ok(w)
}

/// Ascent and line height in pixels at `px`.
pub fn line_metrics(face: Face, px: u32) -> Result<(f32, f32)> {
    let f = font(face)?;
    let m = f
        .horizontal_line_metrics(px as f32)
        .ok_or_else(|| anyhow!("embedded font has no horizontal metrics"))?;
    Ok((m.ascent, m.ascent - m.descent))
}

/// How one piece of text should be set.
#[derive(Debug, Clone, Copy)]
pub struct TextStyle {
    /// Face to use.
    pub face: Face,
    /// Preferred size in pixels (em size).
    pub max_px: u32,
    /// Smallest size the text may shrink to before it wraps or is cut.
    pub min_px: u32,
    /// Most lines the text may wrap onto.
    pub max_lines: u32,
    /// Horizontal alignment.
    pub align: Align,
    /// Text colour.
    pub ink: Rgb888,
}

/// Text fitted to a box: the size chosen and the lines to draw.
#[derive(Debug, Clone, PartialEq)]
pub struct Fitted {
    /// Pixel size chosen.
    pub px: u32,
    /// Lines, in order; the last may end with "…".
    pub lines: Vec<String>,
}

/// Greedy word wrap of `text` at `px` into lines no wider than `width` (a single word wider than
/// `width` stays alone on its line and is cut later).
fn wrap(face: Face, text: &str, px: u32, width: f32) -> Result<Vec<String>> {
    let mut lines: Vec<String> = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        let candidate = if line.is_empty() {
            word.to_string()
        } else {
            format!("{line} {word}")
        };
        if line.is_empty() || measure(face, &candidate, px)? <= width {
            line = candidate;
        } else {
            lines.push(std::mem::replace(&mut line, word.to_string()));
        }
    }
    if !line.is_empty() {
        lines.push(line);
    }
    Ok(lines)
}

/// Cuts `line` so that it plus "…" fits `width` (or returns it whole if it fits already).
fn ellipsize(face: Face, line: &str, px: u32, width: f32, force: bool) -> Result<String> {
    if !force && measure(face, line, px)? <= width {
        return Ok(line.to_string());
    }
    let mut chars: Vec<char> = line.chars().collect();
    loop {
        let s: String = chars.iter().collect::<String>().trim_end().to_string() + "…";
        if chars.is_empty() || measure(face, &s, px)? <= width {
            return Ok(s);
        }
        chars.pop();
    }
}

/// Fits `text` in a `width` x `height` pixel box: the largest size from `max_px` down to `min_px`
/// at which it fits on at most `max_lines` lines; failing that, `min_px` with the last line cut
/// with "…". Sizes are whole pixels so glyphs cache well.
pub fn fit(text: &str, style: &TextStyle, width: f32, height: f32) -> Result<Fitted> {
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let min_px = style.min_px.clamp(1, style.max_px.max(1));
    let max_lines = style.max_lines.max(1);
    for px in (min_px..=style.max_px.max(min_px)).rev() {
        let (_, line_h) = line_metrics(style.face, px)?;
        let lines_room = ((height / line_h).floor() as u32).clamp(1, max_lines);
        if measure(style.face, &text, px)? <= width {
            return Ok(Fitted {
                px,
                lines: vec![text],
            });
        }
        if lines_room > 1 {
            let lines = wrap(style.face, &text, px, width)?;
            let fits = lines.len() as u32 <= lines_room
                && lines
                    .iter()
                    .map(|l| measure(style.face, l, px))
                    .collect::<Result<Vec<_>>>()?
                    .iter()
                    .all(|&w| w <= width);
            if fits {
                return Ok(Fitted { px, lines });
            }
        }
    }
    // Still too long at the smallest size: wrap what fits, cut the rest with an ellipsis.
    let (_, line_h) = line_metrics(style.face, min_px)?;
    let lines_room = ((height / line_h).floor() as usize).clamp(1, max_lines as usize);
    let mut lines = wrap(style.face, &text, min_px, width)?;
    let overflow = lines.len() > lines_room;
    if overflow {
        let rest = lines.split_off(lines_room - 1).join(" ");
        lines.push(rest);
    }
    let last = lines.len().saturating_sub(1);
    let lines = lines
        .iter()
        .enumerate()
        .map(|(i, l)| {
            ellipsize(style.face, l, min_px, width, false).map(|s| {
                if i == last && overflow && !s.ends_with('…') {
                    s + "…"
                } else {
                    s
                }
            })
        })
        .collect::<Result<Vec<_>>>()?;
    // The forced "…" above may have pushed the last line over: cut it again.
    let lines = lines
        .into_iter()
        .map(|l| {
            if measure(style.face, &l, min_px)
                .map(|w| w > width)
                .unwrap_or(false)
            {
                ellipsize(style.face, l.trim_end_matches('…'), min_px, width, true)
            } else {
                Ok(l)
            }
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Fitted { px: min_px, lines })
}

/// A box in pixels: x, y, width, height.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PxBox {
    /// Left edge.
    pub x: i32,
    /// Top edge.
    pub y: i32,
    /// Width.
    pub w: i32,
    /// Height.
    pub h: i32,
}

/// Fits and draws `text` in `bx` (vertically centred), clipped to the box. Returns what was drawn.
pub fn draw_text(frame: &mut Frame, text: &str, style: &TextStyle, bx: PxBox) -> Result<Fitted> {
    let fitted = fit(text, style, bx.w as f32, bx.h as f32)?;
    let (ascent, line_h) = line_metrics(style.face, fitted.px)?;
    let block = line_h * fitted.lines.len() as f32;
    let mut baseline = bx.y as f32 + ((bx.h as f32 - block) / 2.0).max(0.0) + ascent;
    for line in &fitted.lines {
        let w = measure(style.face, line, fitted.px)?;
        let x = match style.align {
            Align::Left => bx.x as f32,
            Align::Center => bx.x as f32 + (bx.w as f32 - w) / 2.0,
            Align::Right => bx.x as f32 + bx.w as f32 - w,
        };
        draw_line(
            frame,
            line,
            style.face,
            fitted.px,
            x,
            baseline.round() as i32,
            style.ink,
            bx,
        )?;
        baseline += line_h;
    }
    Ok(fitted)
}

/// Draws one line with its pen starting at `x` on `baseline`, blending only inside `clip`.
#[allow(clippy::too_many_arguments)]
fn draw_line(
    frame: &mut Frame,
    text: &str,
    face: Face,
    px: u32,
    x: f32,
    baseline: i32,
    ink: Rgb888,
    clip: PxBox,
) -> Result<()> {
    let f = font(face)?;
    let glyphs = shape(face, text)?;
    // Skip the band entirely if the line cannot touch it (bands of a large card).
    let top = baseline - px as i32 * 2;
    let bottom = baseline + px as i32;
    if bottom < frame.y0() as i32 || top >= (frame.y0() + frame.rows()) as i32 {
        return Ok(());
    }
    let (cx0, cy0) = (clip.x.max(0), clip.y.max(frame.y0() as i32));
    let (cx1, cy1) = (
        clip.x + clip.w,
        (clip.y + clip.h).min((frame.y0() + frame.rows()) as i32),
    );
    let mut pen = x;
    for (i, &g) in glyphs.iter().enumerate() {
        let gl = glyph(face, g, px)?;
        let m = &gl.metrics;
        let gx = (pen + m.xmin as f32).round() as i32;
        let gy = baseline - (m.height as i32 + m.ymin);
        for row in 0..m.height as i32 {
            let y = gy + row;
            if y < cy0 || y >= cy1 {
                continue;
            }
            let src = &gl.coverage[row as usize * m.width..(row as usize + 1) * m.width];
            for (col, &cov) in src.iter().enumerate() {
                let xx = gx + col as i32;
                if cov != 0 && xx >= cx0 && xx < cx1 {
                    frame.blend(xx, y, ink, cov);
                }
            }
        }
        pen += m.advance_width;
        if let Some(&next) = glyphs.get(i + 1) {
            pen += f.horizontal_kern_indexed(g, next, px as f32).unwrap_or(0.0);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn style(max_px: u32, min_px: u32, max_lines: u32) -> TextStyle {
        TextStyle {
            face: Face::Bold,
            max_px,
            min_px,
            max_lines,
            align: Align::Left,
            ink: Rgb888::new(0, 0, 0),
        }
    }

    #[test]
    fn the_font_covers_west_african_and_portuguese_letters_and_curly_apostrophes() {
        assert!(covers(Face::Regular, "é è ë ï ô ç ñ ã õ ŋ Ŋ ’ ' ɓ ɗ ƴ").unwrap());
        assert!(covers(Face::Bold, "N’Diaye Ŋom Gonçalves").unwrap());
    }

    #[test]
    fn a_long_name_shrinks_then_ends_with_an_ellipsis_inside_its_width() {
        let name = "Aïssatou ".repeat(60);
        let f = fit(&name, &style(50, 30, 1), 600.0, 60.0).unwrap();
        assert_eq!(f.px, 30);
        assert_eq!(f.lines.len(), 1);
        assert!(f.lines[0].ends_with('…'));
        assert!(measure(Face::Bold, &f.lines[0], 30).unwrap() <= 600.0);
    }

    #[test]
    fn a_short_name_keeps_its_preferred_size() {
        let f = fit("Awa Ba", &style(50, 30, 1), 600.0, 60.0).unwrap();
        assert_eq!(
            f,
            Fitted {
                px: 50,
                lines: vec!["Awa Ba".into()]
            }
        );
    }

    #[test]
    fn a_long_name_wraps_onto_two_lines_when_the_box_allows() {
        let f = fit(
            "João Gonçalves da Conceição Fernandes",
            &style(50, 40, 2),
            600.0,
            130.0,
        )
        .unwrap();
        assert_eq!(f.lines.len(), 2, "{f:?}");
    }
}
