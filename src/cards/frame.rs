//! kadi's own framebuffer: a horizontal band of a card (or a whole card) stored as 8-bit palette
//! indices, implementing embedded-graphics' `DrawTarget` so shapes and QR modules are drawn by
//! embedded-graphics, while anti-aliased text is blended into the very same pixels by `text.rs`.
//!
//! Why indexed and not RGB: a card is a handful of flat template colours plus anti-aliased text
//! edges. Blending coverage in [`AA_LEVELS`] steps keeps the whole card under 256 colours, so the
//! PNG is written as an indexed image: a third of the bytes of RGB for the deflate stage, which is
//! what dominates the cost of a card. If a card ever needs more than 256 colours (a template with
//! many colours and much text), new colours map to the nearest palette entry: deterministic, and
//! never a panic.
use embedded_graphics::pixelcolor::{Rgb888, RgbColor};
use embedded_graphics::prelude::*;
use embedded_graphics::primitives::Rectangle;
use std::collections::HashMap;
use std::convert::Infallible;

/// Number of anti-aliasing levels text coverage is quantised to (0 = none, 15 = full ink).
pub const AA_LEVELS: u8 = 16;

/// A band of rows `[y0, y0 + rows)` of a `width` x `height` image, as palette indices.
#[derive(Clone)]
pub struct Frame {
    width: u32,
    height: u32,
    y0: u32,
    rows: u32,
    pixels: Vec<u8>,
    palette: Vec<Rgb888>,
    lookup: HashMap<Rgb888, u8>,
    /// For the current ink colour: (destination index * AA_LEVELS + level) -> blended index + 1
    /// (0 = not yet known). A flat table, so blending a glyph pixel costs one array read.
    ink: Rgb888,
    blend_table: Vec<u16>,
    last: Option<(Rgb888, u8)>,
}

impl Frame {
    /// A whole image filled with `background`.
    pub fn new(width: u32, height: u32, background: Rgb888) -> Frame {
        Frame::band(width, height, 0, height, background)
    }

    /// Rows `[y0, y0 + rows)` of a `width` x `height` image, filled with `background`; drawing
    /// outside those rows is silently clipped, so the same drawing code renders any band.
    pub fn band(width: u32, height: u32, y0: u32, rows: u32, background: Rgb888) -> Frame {
        let rows = rows.min(height.saturating_sub(y0));
        let mut f = Frame {
            width,
            height,
            y0,
            rows,
            pixels: Vec::new(),
            palette: Vec::new(),
            lookup: HashMap::new(),
            ink: Rgb888::BLACK,
            blend_table: vec![0; 256 * AA_LEVELS as usize],
            last: None,
        };
        let bg = f.index_of(background);
        f.pixels = vec![bg; width as usize * rows as usize];
        f
    }

    /// Full image width in pixels.
    pub fn width(&self) -> u32 {
        self.width
    }

    /// Full image height in pixels (not the band's).
    pub fn height(&self) -> u32 {
        self.height
    }

    /// First row held by this band.
    pub fn y0(&self) -> u32 {
        self.y0
    }

    /// Number of rows held by this band.
    pub fn rows(&self) -> u32 {
        self.rows
    }

    /// The palette (at most 256 colours).
    pub fn palette(&self) -> &[Rgb888] {
        &self.palette
    }

    /// The band's pixels as palette indices, row by row.
    pub fn indices(&self) -> &[u8] {
        &self.pixels
    }

    /// Palette index of `c`, adding it while there is room, else the nearest existing colour.
    pub fn index_of(&mut self, c: Rgb888) -> u8 {
        if let Some((lc, li)) = self.last {
            if lc == c {
                return li;
            }
        }
        let i = match self.lookup.get(&c) {
            Some(&i) => i,
            None if self.palette.len() < 256 => {
                let i = self.palette.len() as u8;
                self.palette.push(c);
                self.lookup.insert(c, i);
                i
            }
            None => {
                let i = nearest(&self.palette, c);
                self.lookup.insert(c, i);
                i
            }
        };
        self.last = Some((c, i));
        i
    }

    /// Colour of the pixel at image coordinates (x, y), if it lies in this band.
    pub fn pixel(&self, x: u32, y: u32) -> Option<Rgb888> {
        if x >= self.width || y < self.y0 || y >= self.y0 + self.rows {
            return None;
        }
        let i = self.pixels[((y - self.y0) * self.width + x) as usize];
        self.palette.get(i as usize).copied()
    }

    /// Blends `ink` at coverage `coverage` (0..=255) over pixel (x, y) in image coordinates.
    /// Coordinates outside the band are ignored.
    #[inline]
    pub fn blend(&mut self, x: i32, y: i32, ink: Rgb888, coverage: u8) {
        if x < 0
            || y < self.y0 as i32
            || x >= self.width as i32
            || y >= (self.y0 + self.rows) as i32
        {
            return;
        }
        let level = ((coverage as u32 * (AA_LEVELS as u32 - 1) + 127) / 255) as u8;
        if level == 0 {
            return;
        }
        if ink != self.ink {
            self.ink = ink;
            self.blend_table.fill(0);
        }
        let at = ((y as u32 - self.y0) * self.width + x as u32) as usize;
        let dst = self.pixels[at];
        let slot = dst as usize * AA_LEVELS as usize + level as usize;
        let idx = match self.blend_table[slot] {
            0 => {
                let base = self.palette.get(dst as usize).copied().unwrap_or(ink);
                let i = self.index_of(mix(base, ink, level));
                self.blend_table[slot] = i as u16 + 1;
                i
            }
            known => (known - 1) as u8,
        };
        self.pixels[at] = idx;
    }

    /// Copies this band into `whole` (a frame of the same width and height), remapping palettes.
    pub fn paste_into(&self, whole: &mut Frame) {
        let map: Vec<u8> = self.palette.iter().map(|&c| whole.index_of(c)).collect();
        let start = ((self.y0 - whole.y0) * whole.width) as usize;
        let dst = &mut whole.pixels[start..start + self.pixels.len()];
        for (d, s) in dst.iter_mut().zip(&self.pixels) {
            *d = map[*s as usize];
        }
    }

    /// Copies a whole frame `card` into this one with its top-left corner at (x, y) (for sheets).
    pub fn blit(&mut self, card: &Frame, x: u32, y: u32) {
        let map: Vec<u8> = card.palette.iter().map(|&c| self.index_of(c)).collect();
        for row in 0..card.rows {
            let ty = y + card.y0 + row;
            if ty < self.y0 || ty >= self.y0 + self.rows {
                continue;
            }
            let w = card.width.min(self.width.saturating_sub(x)) as usize;
            let src = &card.pixels[(row * card.width) as usize..][..w];
            let dst_at = ((ty - self.y0) * self.width + x) as usize;
            for (d, s) in self.pixels[dst_at..dst_at + w].iter_mut().zip(src) {
                *d = map[*s as usize];
            }
        }
    }

    /// The band as RGB bytes (for tests and decoders).
    pub fn to_rgb(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.pixels.len() * 3);
        for &i in &self.pixels {
            let c = self
                .palette
                .get(i as usize)
                .copied()
                .unwrap_or(Rgb888::BLACK);
            out.extend_from_slice(&[c.r(), c.g(), c.b()]);
        }
        out
    }
}

fn mix(base: Rgb888, ink: Rgb888, level: u8) -> Rgb888 {
    let a = level as u32;
    let n = AA_LEVELS as u32 - 1;
    let ch = |b: u8, i: u8| ((b as u32 * (n - a) + i as u32 * a + n / 2) / n) as u8;
    Rgb888::new(
        ch(base.r(), ink.r()),
        ch(base.g(), ink.g()),
        ch(base.b(), ink.b()),
    )
}

fn nearest(palette: &[Rgb888], c: Rgb888) -> u8 {
    let d = |p: &Rgb888| {
        let dr = p.r() as i32 - c.r() as i32;
        let dg = p.g() as i32 - c.g() as i32;
        let db = p.b() as i32 - c.b() as i32;
        dr * dr + dg * dg + db * db
    };
    palette
        .iter()
        .enumerate()
        .min_by_key(|(_, p)| d(p))
        .map(|(i, _)| i as u8)
        .unwrap_or(0)
}

impl OriginDimensions for Frame {
    fn size(&self) -> Size {
        Size::new(self.width, self.height)
    }
}

impl DrawTarget for Frame {
    type Color = Rgb888;
    type Error = Infallible;

    fn draw_iter<I>(&mut self, pixels: I) -> Result<(), Self::Error>
    where
        I: IntoIterator<Item = Pixel<Self::Color>>,
    {
        let (w, top, bottom) = (
            self.width as i32,
            self.y0 as i32,
            (self.y0 + self.rows) as i32,
        );
        for Pixel(p, c) in pixels {
            if p.x >= 0 && p.x < w && p.y >= top && p.y < bottom {
                let i = self.index_of(c);
                self.pixels[((p.y - top) * w + p.x) as usize] = i;
            }
        }
        Ok(())
    }

    fn fill_solid(&mut self, area: &Rectangle, color: Self::Color) -> Result<(), Self::Error> {
        let band = Rectangle::new(
            Point::new(0, self.y0 as i32),
            Size::new(self.width, self.rows),
        );
        let a = area.intersection(&band);
        if a.size.width == 0 || a.size.height == 0 {
            return Ok(());
        }
        let i = self.index_of(color);
        let w = self.width as usize;
        let x0 = a.top_left.x as usize;
        for y in a.top_left.y..a.top_left.y + a.size.height as i32 {
            let row = (y as usize - self.y0 as usize) * w;
            self.pixels[row + x0..row + x0 + a.size.width as usize].fill(i);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drawing_outside_a_band_is_clipped_and_inside_lands_on_the_right_row() {
        let mut f = Frame::band(10, 10, 4, 3, Rgb888::WHITE);
        f.fill_solid(
            &Rectangle::new(Point::new(0, 0), Size::new(10, 5)),
            Rgb888::RED,
        )
        .ok();
        assert_eq!(f.pixel(0, 4), Some(Rgb888::RED));
        assert_eq!(f.pixel(0, 5), Some(Rgb888::WHITE));
        assert_eq!(f.pixel(0, 3), None);
    }

    #[test]
    fn half_coverage_blends_half_way() {
        let mut f = Frame::new(2, 1, Rgb888::WHITE);
        f.blend(0, 0, Rgb888::BLACK, 128);
        let c = f.pixel(0, 0).unwrap_or(Rgb888::WHITE);
        assert!((100..=155).contains(&c.r()), "{c:?}");
    }
}
