//! Making a rendered card look like a phone's photo of a printed card, for the photo-decoding tests
//! (`tests/cards_scan.rs`) and benchmark (`bench/scan.rs`): scale down, box blur (three passes are
//! close to a Gaussian), bilinear rotation, a grey noisy background with uneven light, JPEG at a
//! chosen quality. Deterministic: every random choice comes from a seed.
//!
//! Included by path (`#[path = "support/photo.rs"] mod photo;`), not through `support/mod.rs`: the
//! benchmark includes it too and needs none of the binary harness.
#![allow(dead_code)]

use image::{Rgb, RgbImage};
use kadi::cards::render::CardContent;

/// A small deterministic generator (xorshift64*): the tests need repeatable noise, not quality.
pub struct Rng(u64);

impl Rng {
    /// A generator for `seed` (any value, zero included).
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A value in `0..n`.
    pub fn below(&mut self, n: u32) -> u32 {
        (self.next_u64() % n as u64) as u32
    }
}

/// The RGB pixels of a PNG (kadi's cards are 8-bit RGB or indexed).
pub fn from_png(bytes: &[u8]) -> RgbImage {
    let mut decoder = png::Decoder::new(std::io::Cursor::new(bytes));
    decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    let mut reader = decoder.read_info().expect("a PNG");
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).expect("PNG pixels");
    buf.truncate(info.buffer_size());
    let rgb = match info.color_type {
        png::ColorType::Rgb => buf,
        png::ColorType::Rgba => buf
            .chunks_exact(4)
            .flat_map(|p| [p[0], p[1], p[2]])
            .collect(),
        png::ColorType::Grayscale => buf.iter().flat_map(|&g| [g, g, g]).collect(),
        other => panic!("unexpected PNG colour type {other:?}"),
    };
    RgbImage::from_raw(info.width, info.height, rgb).expect("PNG size")
}

/// `img` as an 8-bit RGB PNG.
pub fn to_png(img: &RgbImage) -> Vec<u8> {
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, img.width(), img.height());
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().expect("PNG header");
    writer.write_image_data(img.as_raw()).expect("PNG data");
    writer.finish().expect("PNG end");
    out
}

/// `img` as a baseline JPEG at `quality` (1-100), 4:2:0 like a phone's.
pub fn to_jpeg(img: &RgbImage, quality: u8) -> Vec<u8> {
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, quality)
        .encode_image(img)
        .expect("JPEG encoding");
    out
}

/// `img` scaled to `percent` of its size (bilinear, averaging when shrinking).
pub fn scale(img: &RgbImage, percent: u32) -> RgbImage {
    let w = (img.width() * percent / 100).max(1);
    let h = (img.height() * percent / 100).max(1);
    image::imageops::resize(img, w, h, image::imageops::FilterType::Triangle)
}

/// `passes` box blurs of radius `radius` (a window of 2r+1 pixels, horizontal then vertical);
/// three passes approximate a Gaussian of sigma ≈ r.
pub fn box_blur(img: &RgbImage, radius: u32, passes: u32) -> RgbImage {
    let mut out = img.clone();
    for _ in 0..passes {
        out = blur_1d(&out, radius, true);
        out = blur_1d(&out, radius, false);
    }
    out
}

fn blur_1d(img: &RgbImage, radius: u32, horizontal: bool) -> RgbImage {
    let (w, h) = img.dimensions();
    let (len, lines) = if horizontal { (w, h) } else { (h, w) };
    let at = |line: u32, i: u32| if horizontal { (i, line) } else { (line, i) };
    let mut out = RgbImage::new(w, h);
    let r = radius as i64;
    for line in 0..lines {
        for i in 0..len as i64 {
            let mut sum = [0u32; 3];
            for k in -r..=r {
                let j = (i + k).clamp(0, len as i64 - 1) as u32;
                let (x, y) = at(line, j);
                let p = img.get_pixel(x, y);
                for c in 0..3 {
                    sum[c] += p[c] as u32;
                }
            }
            let n = (2 * r + 1) as u32;
            let (x, y) = at(line, i as u32);
            out.put_pixel(
                x,
                y,
                Rgb([(sum[0] / n) as u8, (sum[1] / n) as u8, (sum[2] / n) as u8]),
            );
        }
    }
    out
}

/// `img` rotated by `degrees` (counter-clockwise) about its centre with bilinear sampling, on a
/// canvas grown to hold all of it; uncovered pixels get `fill`.
pub fn rotate(img: &RgbImage, degrees: f64, fill: Rgb<u8>) -> RgbImage {
    let (sin, cos) = degrees.to_radians().sin_cos();
    let (w, h) = (img.width() as f64, img.height() as f64);
    let out_w = (w * cos.abs() + h * sin.abs()).ceil() as u32;
    let out_h = (w * sin.abs() + h * cos.abs()).ceil() as u32;
    let (cx, cy) = (w / 2.0, h / 2.0);
    let (ox, oy) = (out_w as f64 / 2.0, out_h as f64 / 2.0);
    let mut out = RgbImage::from_pixel(out_w, out_h, fill);
    for y in 0..out_h {
        for x in 0..out_w {
            // Inverse mapping: where in the source does this output pixel's centre come from?
            let (dx, dy) = (x as f64 + 0.5 - ox, y as f64 + 0.5 - oy);
            let sx = cos * dx - sin * dy + cx - 0.5;
            let sy = sin * dx + cos * dy + cy - 0.5;
            if let Some(p) = bilinear(img, sx, sy) {
                out.put_pixel(x, y, p);
            }
        }
    }
    out
}

fn bilinear(img: &RgbImage, x: f64, y: f64) -> Option<Rgb<u8>> {
    let (w, h) = (img.width() as f64, img.height() as f64);
    if x < -0.5 || y < -0.5 || x > w - 0.5 || y > h - 0.5 {
        return None;
    }
    let (x, y) = (x.clamp(0.0, w - 1.0), y.clamp(0.0, h - 1.0));
    let (x0, y0) = (x.floor() as u32, y.floor() as u32);
    let (x1, y1) = (
        (x0 + 1).min(img.width() - 1),
        (y0 + 1).min(img.height() - 1),
    );
    let (fx, fy) = (x - x0 as f64, y - y0 as f64);
    let mut px = [0u8; 3];
    for (c, v) in px.iter_mut().enumerate() {
        let top =
            img.get_pixel(x0, y0)[c] as f64 * (1.0 - fx) + img.get_pixel(x1, y0)[c] as f64 * fx;
        let bottom =
            img.get_pixel(x0, y1)[c] as f64 * (1.0 - fx) + img.get_pixel(x1, y1)[c] as f64 * fx;
        *v = (top * (1.0 - fy) + bottom * fy).round() as u8;
    }
    Some(Rgb(px))
}

/// A phone-photo-like background of `w` x `h`: a grey table lit unevenly (a gradient from one
/// corner) with per-pixel sensor noise of ±`noise`.
pub fn background(w: u32, h: u32, noise: u32, rng: &mut Rng) -> RgbImage {
    let mut out = RgbImage::new(w, h);
    for (x, y, p) in out.enumerate_pixels_mut() {
        let light = 90.0 + 70.0 * (x as f64 / w as f64 + y as f64 / h as f64) / 2.0;
        let mut px = [0u8; 3];
        for (c, v) in px.iter_mut().enumerate() {
            let tint = [0.0, 4.0, 10.0][c];
            let n = rng.below(2 * noise + 1) as f64 - noise as f64;
            *v = (light + tint + n).clamp(0.0, 255.0) as u8;
        }
        *p = Rgb(px);
    }
    out
}

/// `card` (already rotated on a `fill` canvas) laid at (`x`, `y`) on `photo`; the canvas' `fill`
/// corners are left out so the background shows around a tilted card. Sensor noise of ±`noise` and
/// a slight dimming (a phone's exposure) are added to the card's pixels too.
pub fn place(
    photo: &mut RgbImage,
    card: &RgbImage,
    x: u32,
    y: u32,
    fill: Rgb<u8>,
    noise: u32,
    rng: &mut Rng,
) {
    for (cx, cy, p) in card.enumerate_pixels() {
        let (px, py) = (x + cx, y + cy);
        if *p == fill || px >= photo.width() || py >= photo.height() {
            continue;
        }
        let mut out = [0u8; 3];
        for (c, v) in out.iter_mut().enumerate() {
            let n = rng.below(2 * noise + 1) as f64 - noise as f64;
            *v = (p[c] as f64 * 0.88 + 12.0 + n).clamp(0.0, 255.0) as u8;
        }
        photo.put_pixel(px, py, Rgb(out));
    }
}

/// The colour no card pixel has, used as the rotation canvas so `place` can leave it out.
pub const CANVAS: Rgb<u8> = Rgb([255, 0, 255]);

/// What a photo goes through; `Photo::default()` changes nothing but the final encoding.
#[derive(Debug, Clone, Copy)]
pub struct Photo {
    /// Size as a percentage of the rendered card.
    pub scale_percent: u32,
    /// Box blur radius in pixels (after scaling), 0 for none.
    pub blur_radius: u32,
    /// Box blur passes.
    pub blur_passes: u32,
    /// Counter-clockwise rotation in degrees.
    pub rotate_degrees: f64,
    /// Lay the card on a larger grey noisy background (card about 60% of its width).
    pub background: bool,
    /// JPEG quality, or None for a PNG.
    pub jpeg_quality: Option<u8>,
}

impl Default for Photo {
    fn default() -> Photo {
        Photo {
            scale_percent: 100,
            blur_radius: 0,
            blur_passes: 0,
            rotate_degrees: 0.0,
            background: false,
            jpeg_quality: None,
        }
    }
}

impl Photo {
    /// The encoded photo of the card `png` under these transforms, noise from `seed`.
    pub fn of(&self, png: &[u8], seed: u64) -> Vec<u8> {
        let mut rng = Rng::new(seed);
        let mut img = from_png(png);
        if self.scale_percent != 100 {
            img = scale(&img, self.scale_percent);
        }
        if self.blur_radius > 0 && self.blur_passes > 0 {
            img = box_blur(&img, self.blur_radius, self.blur_passes);
        }
        let fill = if self.background {
            CANVAS
        } else {
            Rgb([255, 255, 255])
        };
        if self.rotate_degrees != 0.0 {
            img = rotate(&img, self.rotate_degrees, fill);
        }
        if self.background {
            let (w, h) = (img.width() * 5 / 3, img.height() * 5 / 3);
            let mut photo = background(w, h, 6, &mut rng);
            let x = (w - img.width()) / 3 + rng.below(8);
            let y = (h - img.height()) / 2 + rng.below(8);
            place(&mut photo, &img, x, y, fill, 4, &mut rng);
            img = photo;
        }
        match self.jpeg_quality {
            Some(q) => to_jpeg(&img, q),
            None => to_png(&img),
        }
    }
}

/// The card the photo tests and benchmark photograph, as the renderer makes it, its QR payload
/// signed as a box signs it (`cards::qr`'s sample key: the same format and length as a real
/// card's).
pub fn card() -> CardContent {
    let mpi = "SN-DKR-26-7KQ4MX9P-Z";
    CardContent {
        full_name: "Aïssatou Ndèye Fall".to_string(),
        date_of_birth: Some("1988-04-12".into()),
        sex: Some("F".into()),
        mpi_id: Some(mpi.into()),
        health_center: Some("Centre de Santé de Médina".into()),
        zone: Some("Dakar Ouest".into()),
        beneficiary_id: Some("BEN-004211".into()),
        enrollment_date: Some("2026-02-01".into()),
        phone: Some("+221771234567".into()),
        qr_payload: kadi::cards::qr::sample_payload(
            mpi,
            "Aïssatou Ndèye Fall",
            Some("1988-04-12"),
            Some("Centre de Santé de Médina"),
        ),
    }
}
