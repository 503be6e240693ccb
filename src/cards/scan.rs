//! Reading a card's QR code back from a photo (a PNG or JPEG a phone uploads), on the box.
//!
//! What it is for: `kadi verify --image` and the `/verify` page hand the uploaded bytes to
//! [`decode_qr`] and verify what it returns. It only finds and decodes QR codes: it knows nothing of
//! the payload's format or signature.
//!
//! Bounded on a Raspberry Pi: the image's size is read from its header and refused above
//! [`MAX_PIXELS`] before any pixel is decoded (a 30000 x 30000 PNG header is a few hundred bytes);
//! pixels are decoded straight to grey, one byte each (JPEG through zune-jpeg's grey output, PNG row
//! by row), so a 12 MP photo costs 12 MB; the photo is then scaled down to [`WORK_SIDE`] pixels on
//! its long side before the QR search, whose cost grows with pixels (rqrr copies the image for each
//! candidate group of finder patterns). A fixed, short list of cheap attempts follows ([`attempts`]);
//! the first that yields a code wins. Two QR readers: rqrr first (it finds every code in a photo),
//! then rxing (a port of ZXing: its finder search and hybrid binarizer survive blur that rqrr's
//! ring-shaped finder search does not) on an unsharp-masked copy, which is what reads the signed
//! code's small modules in a blurred photo that sees the card at 300 dpi.
//!
//! EXIF orientation is deliberately not applied: a QR code decodes in any of the four 90° rotations
//! and phones' cameras never mirror their back-camera photos, so reading it would cost a parser and
//! change nothing.
use anyhow::Result;
use image::GrayImage;
use std::fmt;

/// Largest photo accepted, in pixels (a 48-50 MP phone photo fits; a decompression bomb does not).
/// Decoded to grey, the largest accepted photo takes 50 MB.
pub const MAX_PIXELS: u64 = 50_000_000;

/// Longest side accepted, in pixels (no real photo is a 100000 x 500 strip).
pub const MAX_SIDE: u32 = 16_384;

/// Long side, in pixels, that a photo is scaled down to before the QR search: a card that fills a
/// third of a 12 MP photo's width keeps 4+ pixels per module of a version 9 code.
pub const WORK_SIDE: u32 = 1600;

/// Why a photo gave no QR payload: callers (the verify command and page) may downcast the
/// `anyhow::Error` to tell "unreadable" photos apart from other failures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScanError {
    /// Neither a PNG nor a JPEG, or one too damaged to decode.
    NotAnImage(String),
    /// More pixels than [`MAX_PIXELS`] or a side longer than [`MAX_SIDE`].
    TooLarge {
        /// Width from the image header.
        width: u64,
        /// Height from the image header.
        height: u64,
    },
    /// The image decoded but no attempt found a readable QR code in it.
    NoQrCode,
}

impl fmt::Display for ScanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ScanError::NotAnImage(why) => write!(f, "not an image: {why}"),
            ScanError::TooLarge { width, height } => write!(
                f,
                "image too large: {width} x {height} pixels (the limit is {} megapixels and \
                 {MAX_SIDE} pixels a side; take the photo at a lower resolution)",
                MAX_PIXELS / 1_000_000
            ),
            ScanError::NoQrCode => write!(
                f,
                "no QR code found in the image (hold the card flat, fill the frame, avoid glare)"
            ),
        }
    }
}

impl std::error::Error for ScanError {}

/// Every QR payload readable in a PNG or JPEG photo, in the order found (usually one).
///
/// Errors (a [`ScanError`] inside the `anyhow::Error`): "not an image", "image too large", "no QR
/// code found". Never panics on hostile bytes.
pub fn decode_qr(bytes: &[u8]) -> Result<Vec<String>> {
    let (found, _) = decode_qr_timed(bytes)?;
    if found.is_empty() {
        return Err(ScanError::NoQrCode.into());
    }
    Ok(found)
}

/// What each step of a decode took: its name (`load`, `attempt N`) and milliseconds.
pub type StepTimes = Vec<(String, f64)>;

/// [`decode_qr`] with the milliseconds each step took (`load` then one entry per attempt made),
/// for the benchmark and for tuning; an empty list of payloads when no attempt found one.
pub fn decode_qr_timed(bytes: &[u8]) -> Result<(Vec<String>, StepTimes)> {
    let started = std::time::Instant::now();
    let grey = load_grey(bytes)?;
    let mut steps = vec![("load".to_string(), ms_since(started))];
    let mut started = std::time::Instant::now();
    for (i, attempt) in attempts(&grey).enumerate() {
        let found = read_codes(&attempt);
        steps.push((format!("attempt {}", i + 1), ms_since(started)));
        if !found.is_empty() {
            return Ok((found, steps));
        }
        started = std::time::Instant::now();
    }
    Ok((Vec::new(), steps))
}

fn ms_since(started: std::time::Instant) -> f64 {
    started.elapsed().as_secs_f64() * 1000.0
}

/// One way of preparing the photo: the grey pixels a grid is read from, and optionally a
/// black-and-white version to search for finder patterns in (else rqrr's own threshold is used);
/// or grey pixels for rxing.
struct Attempt {
    grey: GrayImage,
    binary: Option<GrayImage>,
    zxing: bool,
}

/// The attempts, cheapest and likeliest first. Each is built only when the ones before it failed
/// (the iterator is lazy), so a clean photo costs one scale-down and one QR search.
///
/// 1. the photo scaled to [`WORK_SIDE`] (or as it is, when smaller): most photos stop here (and
///    rxing reads the same pixels too, for a second card rqrr's search missed);
/// 2. rxing on the same working copy: a few milliseconds, and it reads the signed code's 3-4 px
///    modules in a 12 MP photo that rqrr misses at this scale;
/// 3. another scale: an image no larger than [`WORK_SIDE`] doubled with bilinear smoothing (rqrr
///    loses finder patterns whose modules are 2-3 pixels; doubled, they have solid cores); a big
///    photo read at up to three times [`WORK_SIDE`] (a 12 MP photo at full resolution), for a card
///    that fills little of the frame or a signed code's small modules;
/// 4. local mean thresholds (integral image) at the working scale, three windows at 95% of the
///    mean then three at 90%: they survive shadows, uneven light and blur that rqrr's running
///    average along rows does not;
/// 5. a contrast stretch (2nd to 98th percentile) at the working scale: rqrr's threshold is a ratio
///    of the local mean, so a photo whose blacks are lifted grey (glare, a dim screen) reads all
///    white until stretched;
/// 6. rxing on the photo at up to three times [`WORK_SIDE`] unsharp-masked twice ([`SHARPEN`]): a
///    blurred photo's modules get their edges back, and ZXing's finder search (runs of 1:1:3:1:1
///    along rows) needs no clean white ring around the finder's core.
fn attempts(photo: &GrayImage) -> Attempts<'_> {
    Attempts {
        photo,
        // Scaled once: every attempt but the third and the last two starts from it.
        work: scaled_to(photo, WORK_SIDE),
        step: 0,
    }
}

/// Local thresholds tried, in order: (half window in pixels, percent of the local mean).
const THRESHOLDS: [(usize, u64); 6] = [(8, 95), (24, 95), (48, 95), (16, 90), (32, 90), (64, 90)];

/// Unsharp masks tried, each followed by rxing, in order: (half window of the local mean in
/// pixels, amount). Measured on the ten templates' photos at 300 dpi blurred with sigma 2.4 px,
/// tilted 3° and 5° (tests/cards_scan.rs): a 7 px window at 3 and a 9 px window at 2 each read
/// all twenty; a 7 px window at 2 read 19, a 5 px one at 2 read 12, at 1.5 read 9.
const SHARPEN: [(usize, i32); 2] = [(3, 3), (4, 2)];

/// Attempts before the contrast stretch (rqrr, rxing, rqrr at another scale, the thresholds);
/// rxing on sharpened copies follows it.
const BEFORE_STRETCH: usize = 3 + THRESHOLDS.len();

/// The lazy sequence of [`attempts`].
struct Attempts<'a> {
    photo: &'a GrayImage,
    work: GrayImage,
    step: usize,
}

impl Iterator for Attempts<'_> {
    type Item = Attempt;

    fn next(&mut self) -> Option<Attempt> {
        let grey = |grey| Attempt {
            grey,
            binary: None,
            zxing: false,
        };
        let zxing = |grey| Attempt {
            grey,
            binary: None,
            zxing: true,
        };
        let long = self.photo.width().max(self.photo.height());
        // The most pixels kept: the photo itself when small, else up to three working sides.
        let detail = || scaled_to(self.photo, (WORK_SIDE * 3).min(long));
        let sharpened = |half, amount| {
            if long <= WORK_SIDE * 3 {
                // No copy of the photo only to sharpen it (12 MB for a 12 MP photo).
                sharpen(self.photo, half, amount)
            } else {
                sharpen(&detail(), half, amount)
            }
        };
        self.step += 1;
        match self.step {
            1 => Some(grey(self.work.clone())),
            2 => Some(zxing(self.work.clone())),
            3 if long <= WORK_SIDE => Some(grey(scaled_to(self.photo, long * 2))),
            3 => Some(grey(detail())),
            n if n - 3 <= THRESHOLDS.len() => {
                let (half, percent) = THRESHOLDS[n - 4];
                Some(Attempt {
                    grey: self.work.clone(),
                    binary: Some(local_threshold(&self.work, half, percent)),
                    zxing: false,
                })
            }
            n if n == BEFORE_STRETCH + 1 => Some(grey(stretch_contrast(&self.work))),
            n if n - BEFORE_STRETCH - 1 <= SHARPEN.len() => {
                let (half, amount) = SHARPEN[n - BEFORE_STRETCH - 2];
                Some(zxing(sharpened(half, amount)))
            }
            _ => None,
        }
    }
}

/// The distinct payloads decoded in one attempt. rqrr finds each code's finder patterns and fits
/// its grid; when its own reading of the modules fails error correction (blur moves the edges
/// that its black-and-white image keeps), the modules are read again from the grey pixels
/// ([`resample`]) before giving up on that code.
fn read_codes(attempt: &Attempt) -> Vec<String> {
    if attempt.zxing {
        return read_with_zxing(&attempt.grey);
    }
    let search = attempt.binary.as_ref().unwrap_or(&attempt.grey);
    let (w, h) = (search.width() as usize, search.height() as usize);
    let raw = search.as_raw();
    let mut prepared = if attempt.binary.is_some() {
        rqrr::PreparedImage::prepare_from_bitmap(w, h, |x, y| raw[y * w + x] == 0)
    } else {
        rqrr::PreparedImage::prepare_from_greyscale(w, h, |x, y| raw[y * w + x])
    };
    let mut found: Vec<String> = Vec::new();
    for grid in prepared.detect_grids() {
        let text = match grid.decode() {
            Ok((_, text)) => Some(text),
            Err(_) => resample(&attempt.grey, &grid.bounds, rqrr::BitGrid::size(&grid.grid)),
        };
        if let Some(text) = text {
            if !found.contains(&text) {
                found.push(text);
            }
        }
    }
    if !found.is_empty() {
        // rqrr's finder search can miss a second card that ZXing's finds (and rxing costs a few
        // milliseconds next to rqrr's tens): a photo of two cards gives both.
        for text in read_with_zxing(&attempt.grey) {
            if !found.contains(&text) {
                found.push(text);
            }
        }
    }
    found
}

/// The payloads rxing reads in `grey`: ZXing's multi-code reader first (two cards in one photo),
/// then its single-code reader, whose finder search accepts more. rxing is a large port of Java
/// code: a panic inside it on a hostile photo is caught and counts as "no code here" (the release
/// profile unwinds).
fn read_with_zxing(grey: &GrayImage) -> Vec<String> {
    use rxing::multi::MultipleBarcodeReader;
    let (w, h) = grey.dimensions();
    let read = std::panic::catch_unwind(|| {
        let mut hints = rxing::DecodeHints {
            TryHarder: Some(true),
            ..Default::default()
        };
        let source = rxing::Luma8Source::new_with_slice(grey.as_raw(), w, h).ok()?;
        let mut bitmap = rxing::BinaryBitmap::new(rxing::common::HybridBinarizer::new(source));
        let mut texts: Vec<String> = rxing::multi::qrcode::QRCodeMultiReader::new()
            .decode_multiple_with_hints(&mut bitmap, &hints)
            .unwrap_or_default()
            .iter()
            .map(|found| found.getText().to_string())
            .collect();
        if texts.is_empty() {
            let single = rxing::helpers::detect_in_luma_slice_with_hints(
                grey.as_raw(),
                w,
                h,
                Some(rxing::BarcodeFormat::QR_CODE),
                &mut hints,
            );
            texts.extend(single.ok().map(|found| found.getText().to_string()));
        }
        Some(texts)
    });
    let mut texts = read.ok().flatten().unwrap_or_default();
    texts.retain(|text| !text.is_empty());
    texts.dedup();
    texts
}

/// Modules read from grey pixels, for rqrr's decoder.
struct Modules {
    size: usize,
    dark: Vec<bool>,
}

impl rqrr::BitGrid for Modules {
    fn size(&self) -> usize {
        self.size
    }

    fn bit(&self, y: usize, x: usize) -> bool {
        self.dark[y * self.size + x]
    }
}

/// Reads the `size` x `size` modules of a code whose grid rqrr located (`bounds`: the corners of
/// module coordinates (0, 0) to (size + 1, size + 1), as rqrr reports them) from the grey pixels:
/// each module is the mean of a small square at its centre, split dark/light by Otsu's threshold
/// over the code's own modules (blur spreads ink symmetrically, so the midpoint between the two
/// populations keeps each module on its side). Also tries the grid shifted by a third of a module
/// each way, for a fit that rqrr's fitness search left slightly off.
fn resample(grey: &GrayImage, bounds: &[rqrr::Point; 4], size: usize) -> Option<String> {
    let quad = Quad::onto(bounds);
    let span = (size + 1) as f64;
    let module = quad.module_pixels(span);
    let radius = ((module / 5.0).round() as i64).clamp(0, 3);
    let shifts = [
        (0.0, 0.0),
        (-0.33, 0.0),
        (0.33, 0.0),
        (0.0, -0.33),
        (0.0, 0.33),
    ];
    for (dx, dy) in shifts {
        let mut values = Vec::with_capacity(size * size);
        for y in 0..size {
            for x in 0..size {
                let u = (x as f64 + 0.5 + dx) / span;
                let v = (y as f64 + 0.5 + dy) / span;
                let (px, py) = quad.map(u, v);
                values.push(mean_around(grey, px, py, radius)?);
            }
        }
        let threshold = otsu(&values);
        let modules = Modules {
            size,
            dark: values.iter().map(|&v| v < threshold).collect(),
        };
        if let Ok((_, text)) = rqrr::Grid::new(modules).decode() {
            return Some(text);
        }
    }
    None
}

/// The projective map of the unit square onto a quadrilateral (Heckbert's closed form):
/// (0,0), (1,0), (1,1), (0,1) go to the four corners in that order.
struct Quad {
    m: [f64; 8],
}

impl Quad {
    fn onto(corners: &[rqrr::Point; 4]) -> Quad {
        let p: Vec<(f64, f64)> = corners.iter().map(|c| (c.x as f64, c.y as f64)).collect();
        let (x0, y0, x1, y1, x2, y2, x3, y3) = (
            p[0].0, p[0].1, p[1].0, p[1].1, p[2].0, p[2].1, p[3].0, p[3].1,
        );
        let (sx, sy) = (x0 - x1 + x2 - x3, y0 - y1 + y2 - y3);
        let (dx1, dy1, dx2, dy2) = (x1 - x2, y1 - y2, x3 - x2, y3 - y2);
        let det = dx1 * dy2 - dx2 * dy1;
        let (g, h) = if det.abs() < 1e-9 {
            (0.0, 0.0)
        } else {
            ((sx * dy2 - dx2 * sy) / det, (dx1 * sy - sx * dy1) / det)
        };
        Quad {
            m: [
                x1 - x0 + g * x1,
                x3 - x0 + h * x3,
                x0,
                y1 - y0 + g * y1,
                y3 - y0 + h * y3,
                y0,
                g,
                h,
            ],
        }
    }

    fn map(&self, u: f64, v: f64) -> (f64, f64) {
        let m = &self.m;
        let w = m[6] * u + m[7] * v + 1.0;
        (
            (m[0] * u + m[1] * v + m[2]) / w,
            (m[3] * u + m[4] * v + m[5]) / w,
        )
    }

    /// The mean side of a module in pixels, over a grid of `span` modules.
    fn module_pixels(&self, span: f64) -> f64 {
        let (a, b) = (self.map(0.0, 0.0), self.map(1.0, 0.0));
        let c = self.map(0.0, 1.0);
        let side = ((b.0 - a.0).hypot(b.1 - a.1) + (c.0 - a.0).hypot(c.1 - a.1)) / 2.0;
        side / span
    }
}

/// The mean grey of the (2r+1)² pixels around (x, y); None outside the image.
fn mean_around(grey: &GrayImage, x: f64, y: f64, r: i64) -> Option<u32> {
    let (cx, cy) = (x.floor() as i64, y.floor() as i64);
    let (w, h) = (grey.width() as i64, grey.height() as i64);
    if cx - r < 0 || cy - r < 0 || cx + r >= w || cy + r >= h {
        return None;
    }
    let mut sum = 0u32;
    for py in cy - r..=cy + r {
        for px in cx - r..=cx + r {
            sum += grey.as_raw()[(py * w + px) as usize] as u32;
        }
    }
    Some(sum / ((2 * r + 1) * (2 * r + 1)) as u32)
}

/// Otsu's threshold of grey values: the level that best separates them into two groups.
fn otsu(values: &[u32]) -> u32 {
    let mut histogram = [0u64; 256];
    for &v in values {
        histogram[v.min(255) as usize] += 1;
    }
    let total = values.len() as f64;
    let sum_all: f64 = histogram
        .iter()
        .enumerate()
        .map(|(i, &c)| i as f64 * c as f64)
        .sum();
    let (mut weight_low, mut sum_low, mut best, mut best_level) = (0.0, 0.0, -1.0, 128);
    for (level, &count) in histogram.iter().enumerate() {
        weight_low += count as f64;
        sum_low += level as f64 * count as f64;
        let weight_high = total - weight_low;
        if weight_low == 0.0 || weight_high == 0.0 {
            continue;
        }
        let mean_low = sum_low / weight_low;
        let mean_high = (sum_all - sum_low) / weight_high;
        let between = weight_low * weight_high * (mean_low - mean_high).powi(2);
        if between > best {
            best = between;
            best_level = level as u32 + 1;
        }
    }
    best_level
}

/// `photo` scaled so that its long side is at most `side` (a copy as it is when already smaller;
/// enlarged when `side` is larger than the photo).
fn scaled_to(photo: &GrayImage, side: u32) -> GrayImage {
    let long = photo.width().max(photo.height());
    if long == side || (long < side && side < long * 2) {
        return photo.clone();
    }
    let w = ((photo.width() as u64 * side as u64) / long as u64).max(1) as u32;
    let h = ((photo.height() as u64 * side as u64) / long as u64).max(1) as u32;
    if side < long {
        shrink(photo, w, h)
    } else {
        enlarge(photo, w, h)
    }
}

/// `photo` reduced to `w` x `h` by averaging the source pixels under each new pixel (a box
/// filter): no aliasing of fine modules, and only a row of sums besides the result, where a
/// general resampler would hold a floating-point copy of the photo.
fn shrink(photo: &GrayImage, w: u32, h: u32) -> GrayImage {
    let (sw, sh) = (photo.width() as usize, photo.height() as usize);
    let (w, h) = (w as usize, h as usize);
    let mut out = GrayImage::new(w as u32, h as u32);
    let mut sums = vec![0u32; sw];
    for y in 0..h {
        let (y0, y1) = (y * sh / h, ((y + 1) * sh / h).max(y * sh / h + 1));
        sums.fill(0);
        for row in photo.as_raw()[y0 * sw..y1 * sw].chunks_exact(sw) {
            for (s, &p) in sums.iter_mut().zip(row) {
                *s += p as u32;
            }
        }
        for x in 0..w {
            let (x0, x1) = (x * sw / w, ((x + 1) * sw / w).max(x * sw / w + 1));
            let total: u32 = sums[x0..x1].iter().sum();
            out.as_mut()[y * w + x] = (total / ((x1 - x0) * (y1 - y0)) as u32) as u8;
        }
    }
    out
}

/// `photo` enlarged to `w` x `h` with bilinear interpolation (pixel centres aligned).
fn enlarge(photo: &GrayImage, w: u32, h: u32) -> GrayImage {
    let (sw, sh) = (photo.width() as usize, photo.height() as usize);
    let src = photo.as_raw();
    let (fx, fy) = (sw as f32 / w as f32, sh as f32 / h as f32);
    let mut out = GrayImage::new(w, h);
    for y in 0..h as usize {
        let sy = ((y as f32 + 0.5) * fy - 0.5).clamp(0.0, (sh - 1) as f32);
        let (y0, ty) = (sy as usize, sy.fract());
        let y1 = (y0 + 1).min(sh - 1);
        for x in 0..w as usize {
            let sx = ((x as f32 + 0.5) * fx - 0.5).clamp(0.0, (sw - 1) as f32);
            let (x0, tx) = (sx as usize, sx.fract());
            let x1 = (x0 + 1).min(sw - 1);
            let top = src[y0 * sw + x0] as f32 * (1.0 - tx) + src[y0 * sw + x1] as f32 * tx;
            let bottom = src[y1 * sw + x0] as f32 * (1.0 - tx) + src[y1 * sw + x1] as f32 * tx;
            out.as_mut()[y * w as usize + x] = (top * (1.0 - ty) + bottom * ty).round() as u8;
        }
    }
    out
}

/// Black where a pixel is darker than `percent` % of the mean of the (2 `half` + 1)² square
/// around it, else white. Summed-area table: O(pixels) whatever the window. No one window and
/// ratio suits every module size and blur (rqrr's finder search is sensitive to where blurred
/// edges fall), hence a few of each in [`attempts`].
fn local_threshold(grey: &GrayImage, half: usize, percent: u64) -> GrayImage {
    let (w, h) = (grey.width() as usize, grey.height() as usize);
    let stride = w + 1;
    let mut sum = vec![0u64; stride * (h + 1)];
    for y in 0..h {
        let mut row = 0u64;
        for x in 0..w {
            row += grey.as_raw()[y * w + x] as u64;
            sum[(y + 1) * stride + x + 1] = sum[y * stride + x + 1] + row;
        }
    }
    let mut out = GrayImage::new(w as u32, h as u32);
    for y in 0..h {
        let (y0, y1) = (y.saturating_sub(half), (y + half + 1).min(h));
        for x in 0..w {
            let (x0, x1) = (x.saturating_sub(half), (x + half + 1).min(w));
            let area = ((x1 - x0) * (y1 - y0)) as u64;
            let total = sum[y1 * stride + x1] + sum[y0 * stride + x0]
                - sum[y0 * stride + x1]
                - sum[y1 * stride + x0];
            let v = grey.as_raw()[y * w + x] as u64;
            // v < percent% of the mean, in integers.
            let dark = v * area * 100 < total * percent;
            out.as_mut()[y * w + x] = if dark { 0 } else { 255 };
        }
    }
    out
}

/// Unsharp masking: every pixel pushed `amount` times its difference from the mean of the
/// (2 `half` + 1)² square around it, which undoes part of a photo's blur. The mean is taken in
/// two passes (rows, then columns, through a rounded grey copy) with one row of sums, so a 12 MP
/// photo costs its two grey copies, not a 100 MB summed-area table.
fn sharpen(grey: &GrayImage, half: usize, amount: i32) -> GrayImage {
    let (w, h) = (grey.width() as usize, grey.height() as usize);
    let src = grey.as_raw();
    let mut rows = vec![0u8; w * h];
    for y in 0..h {
        let line = &src[y * w..(y + 1) * w];
        let mut sum: u32 = line[..half.min(w)].iter().map(|&p| p as u32).sum();
        for x in 0..w {
            if x + half < w {
                sum += line[x + half] as u32;
            }
            if x > half {
                sum -= line[x - half - 1] as u32;
            }
            let count = (x + half).min(w - 1) + 1 - x.saturating_sub(half);
            rows[y * w + x] = ((sum + count as u32 / 2) / count as u32) as u8;
        }
    }
    let mut out = grey.clone();
    let mut sums = vec![0u32; w];
    for (x, s) in sums.iter_mut().enumerate() {
        *s = (0..half.min(h)).map(|y| rows[y * w + x] as u32).sum();
    }
    for y in 0..h {
        let (top, count) = (
            y.saturating_sub(half),
            (y + half).min(h - 1) + 1 - y.saturating_sub(half),
        );
        for x in 0..w {
            if y + half < h {
                sums[x] += rows[(y + half) * w + x] as u32;
            }
            if y > half {
                sums[x] -= rows[(top - 1) * w + x] as u32;
            }
            let mean = (sums[x] / count as u32) as i32;
            let v = src[y * w + x] as i32;
            out.as_mut()[y * w + x] = (v + amount * (v - mean)).clamp(0, 255) as u8;
        }
    }
    out
}

/// `grey` with its 2nd percentile mapped to black and its 98th to white.
fn stretch_contrast(grey: &GrayImage) -> GrayImage {
    let mut histogram = [0u64; 256];
    for &p in grey.as_raw() {
        histogram[p as usize] += 1;
    }
    let n = grey.as_raw().len() as u64;
    let level_at = |fraction: u64| {
        let mut seen = 0;
        for (level, &count) in histogram.iter().enumerate() {
            seen += count;
            if seen * 100 >= n * fraction {
                return level as u32;
            }
        }
        255
    };
    let (lo, hi) = (level_at(2), level_at(98));
    let mut out = grey.clone();
    if hi > lo {
        for p in out.iter_mut() {
            let v = (*p as u32).clamp(lo, hi);
            *p = ((v - lo) * 255 / (hi - lo)) as u8;
        }
    }
    out
}

/// The photo as grey pixels, refusing what is not a PNG or JPEG and what is too large before
/// decoding a pixel.
fn load_grey(bytes: &[u8]) -> Result<GrayImage, ScanError> {
    const PNG_MAGIC: &[u8] = b"\x89PNG\r\n\x1a\n";
    if bytes.starts_with(PNG_MAGIC) {
        png_grey(bytes)
    } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        jpeg_grey(bytes)
    } else {
        Err(ScanError::NotAnImage(
            "expected a PNG or JPEG photo".to_string(),
        ))
    }
}

fn check_size(width: u64, height: u64) -> Result<(), ScanError> {
    if width == 0 || height == 0 {
        return Err(ScanError::NotAnImage("the image has no pixels".into()));
    }
    if width * height > MAX_PIXELS || width.max(height) > MAX_SIDE as u64 {
        return Err(ScanError::TooLarge { width, height });
    }
    Ok(())
}

fn jpeg_grey(bytes: &[u8]) -> Result<GrayImage, ScanError> {
    use zune_core::colorspace::ColorSpace;
    use zune_core::options::DecoderOptions;
    let damaged = |e: zune_jpeg::errors::DecodeErrors| {
        ScanError::NotAnImage(format!("the JPEG could not be decoded ({e})"))
    };
    // The decoder's own limits are set wide: the header's size is checked here, with our message.
    let options = DecoderOptions::default()
        .set_max_width(u16::MAX as usize)
        .set_max_height(u16::MAX as usize)
        .jpeg_set_out_colorspace(ColorSpace::Luma);
    let mut decoder =
        zune_jpeg::JpegDecoder::new_with_options(std::io::Cursor::new(bytes), options);
    decoder.decode_headers().map_err(damaged)?;
    let (w, h) = decoder
        .dimensions()
        .ok_or_else(|| ScanError::NotAnImage("the JPEG has no size".into()))?;
    check_size(w as u64, h as u64)?;
    let pixels = decoder.decode().map_err(damaged)?;
    if pixels.len() != w * h {
        return Err(ScanError::NotAnImage(
            "the JPEG decoded to the wrong size".into(),
        ));
    }
    GrayImage::from_raw(w as u32, h as u32, pixels)
        .ok_or_else(|| ScanError::NotAnImage("the JPEG decoded to the wrong size".into()))
}

fn png_grey(bytes: &[u8]) -> Result<GrayImage, ScanError> {
    let damaged = |e: png::DecodingError| {
        ScanError::NotAnImage(format!("the PNG could not be decoded ({e})"))
    };
    let limits = png::Limits {
        bytes: (MAX_PIXELS as usize) * 8,
    };
    let mut decoder = png::Decoder::new_with_limits(std::io::Cursor::new(bytes), limits);
    decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    let mut reader = decoder.read_info().map_err(damaged)?;
    let (w, h) = reader.info().size();
    check_size(w as u64, h as u64)?;
    let interlaced = reader.info().interlaced;
    let (color, _) = reader.output_color_type();
    let channels = color.samples();
    let mut grey = GrayImage::new(w, h);
    let row_len = w as usize;
    if interlaced {
        // Rare in uploads: decode the whole frame (bounded by the pixel limit), then convert.
        let mut frame = vec![0; reader.output_buffer_size()];
        reader.next_frame(&mut frame).map_err(damaged)?;
        for (dst, src) in grey
            .chunks_mut(row_len)
            .zip(frame.chunks(row_len * channels))
        {
            grey_row(src, channels, dst);
        }
    } else {
        for y in 0..h as usize {
            let row = reader
                .next_row()
                .map_err(damaged)?
                .ok_or_else(|| ScanError::NotAnImage("the PNG ends early".into()))?;
            let dst = &mut grey.as_mut()[y * row_len..(y + 1) * row_len];
            grey_row(row.data(), channels, dst);
        }
    }
    Ok(grey)
}

/// One row of 8-bit grey, grey+alpha, RGB or RGBA samples as grey (alpha composited over white:
/// a transparent background is paper).
fn grey_row(src: &[u8], channels: usize, dst: &mut [u8]) {
    for (d, px) in dst.iter_mut().zip(src.chunks_exact(channels)) {
        let (luma, alpha) = match channels {
            1 => (px[0] as u32, 255),
            2 => (px[0] as u32, px[1] as u32),
            3 => (rgb_luma(px), 255),
            _ => (rgb_luma(px), px[3] as u32),
        };
        *d = ((luma * alpha + 255 * (255 - alpha)) / 255) as u8;
    }
}

/// Rec. 601 luma in integers.
fn rgb_luma(px: &[u8]) -> u32 {
    (77 * px[0] as u32 + 150 * px[1] as u32 + 29 * px[2] as u32) >> 8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_say_what_went_wrong() {
        let err = |b: &[u8]| decode_qr(b).unwrap_err().to_string();
        assert_eq!(err(b"hello"), "not an image: expected a PNG or JPEG photo");
        assert!(err(b"\x89PNG\r\n\x1a\n").starts_with("not an image: the PNG"));
        assert_eq!(
            check_size(8000, 6251).unwrap_err(),
            ScanError::TooLarge {
                width: 8000,
                height: 6251
            }
        );
        assert!(check_size(8000, 6250).is_ok(), "50 MP exactly is accepted");
        assert!(check_size(16_385, 100).is_err(), "a side beyond the limit");
        assert!(matches!(check_size(0, 10), Err(ScanError::NotAnImage(_))));
    }

    #[test]
    fn transparent_pixels_are_paper_and_rgb_becomes_luma() {
        let mut out = [0u8; 3];
        grey_row(&[0, 0, 0, 0, 0, 0, 0, 255, 255, 255, 255, 128], 4, &mut out);
        assert_eq!(out, [255, 0, 255]);
        grey_row(&[255, 0, 0, 0, 255, 0, 0, 0, 255], 3, &mut out);
        assert_eq!(out, [76, 149, 28]);
    }

    #[test]
    fn shrinking_averages_and_enlarging_keeps_flat_areas_flat() {
        let img = GrayImage::from_fn(8, 4, |x, _| image::Luma([if x % 2 == 0 { 0 } else { 200 }]));
        let small = shrink(&img, 4, 2);
        assert!(small.iter().all(|&p| p == 100), "{:?}", small.as_raw());
        let flat = GrayImage::from_pixel(3, 3, image::Luma([77]));
        let big = enlarge(&flat, 6, 6);
        assert_eq!(big.dimensions(), (6, 6));
        assert!(big.iter().all(|&p| p == 77));
        assert_eq!(scaled_to(&img, 4).dimensions(), (4, 2));
        assert_eq!(scaled_to(&img, 16).dimensions(), (16, 8));
    }

    #[test]
    fn a_stretched_dim_image_spans_black_to_white_and_the_threshold_splits_a_step() {
        let dim = GrayImage::from_fn(100, 10, |x, _| image::Luma([100 + (x / 2) as u8]));
        let stretched = stretch_contrast(&dim);
        assert_eq!(stretched.get_pixel(0, 0)[0], 0);
        assert_eq!(stretched.get_pixel(99, 0)[0], 255);
        let step = GrayImage::from_fn(40, 40, |x, _| image::Luma([if x < 20 { 60 } else { 180 }]));
        let binary = local_threshold(&step, 8, 95);
        assert_eq!(binary.get_pixel(18, 20)[0], 0);
        assert_eq!(binary.get_pixel(22, 20)[0], 255);
        assert_eq!(otsu(&[10, 12, 11, 200, 210, 205]), 13);
    }

    #[test]
    fn sharpening_leaves_flat_areas_alone_and_steepens_a_blurred_edge() {
        let mut img = GrayImage::from_pixel(40, 30, image::Luma([100]));
        assert_eq!(sharpen(&img, 3, 3), img);
        // A soft ramp from 60 to 180 across columns 15-24.
        for (x, _, p) in img.enumerate_pixels_mut() {
            p.0[0] = (60 + (x.clamp(15, 25) - 15) * 12) as u8;
        }
        let sharp = sharpen(&img, 3, 3);
        let (before, after) = (img.get_pixel(16, 10).0[0], sharp.get_pixel(16, 10).0[0]);
        assert!(after < before, "dark side darker: {before} -> {after}");
        let (before, after) = (img.get_pixel(24, 10).0[0], sharp.get_pixel(24, 10).0[0]);
        assert!(after > before, "light side lighter: {before} -> {after}");
        assert_eq!(sharp.get_pixel(2, 29).0[0], 60);
        assert_eq!(sharp.get_pixel(38, 0).0[0], 180);
    }

    #[test]
    fn the_unit_square_maps_onto_the_quad_corners() {
        let p = |x, y| rqrr::Point { x, y };
        let quad = Quad::onto(&[p(10, 20), p(110, 25), p(105, 130), p(5, 120)]);
        for ((u, v), (x, y)) in [
            ((0.0, 0.0), (10.0, 20.0)),
            ((1.0, 0.0), (110.0, 25.0)),
            ((1.0, 1.0), (105.0, 130.0)),
            ((0.0, 1.0), (5.0, 120.0)),
        ] {
            let (mx, my) = quad.map(u, v);
            assert!(
                (mx - x).abs() < 1e-6 && (my - y).abs() < 1e-6,
                "{u},{v} -> {mx},{my}"
            );
        }
    }
}
