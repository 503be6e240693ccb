//! How long reading a card's QR from a photo takes and how much memory it needs
//! (`kadi::cards::scan::decode_qr`), against the naive way in the same run: the whole photo, at full
//! resolution, straight into rqrr.
//!
//! `cargo bench --bench scan` (or `cargo bench --profile fast --bench scan` for a quick build).
//! Fixtures are made here: a 300 dpi card PNG as kadi renders it, a 12 MP phone-like JPEG (the card
//! at 600 dpi, tilted 4°, on a noisy grey table, quality 85), a photo that sees the card at 300 dpi
//! blurred (three box passes of radius 2) and tilted 5° on the table, JPEG 60 (read by rxing after
//! every rqrr attempt failed), and the 12 MP photo without a card (the worst case: every attempt
//! runs). Each measurement runs in a child process of this binary so its
//! peak RSS (getrusage) is its own; a child that only reads the file gives the floor.
#[path = "../tests/support/photo.rs"]
mod photo;

use kadi::cards::render_card_png;
use photo::{card, Rng};
use std::process::Command;
use std::time::Instant;

const CHILD: &str = "KADI_SCAN_BENCH_CHILD";
const RUNS: usize = 5;

/// This process's peak resident memory (VmHWM: unlike getrusage's maxrss it starts again at exec,
/// so the parent's fixtures do not count).
fn peak_rss_kib() -> i64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// The naive reading: the full-resolution grey photo into rqrr as it is.
fn naive(bytes: &[u8]) -> usize {
    let grey = if bytes.starts_with(b"\x89PNG") {
        let img = photo::from_png(bytes);
        image::DynamicImage::ImageRgb8(img).to_luma8()
    } else {
        let options = zune_core::options::DecoderOptions::default()
            .jpeg_set_out_colorspace(zune_core::colorspace::ColorSpace::Luma);
        let mut d = zune_jpeg::JpegDecoder::new_with_options(std::io::Cursor::new(bytes), options);
        let pixels = d.decode().expect("JPEG");
        let (w, h) = d.dimensions().expect("size");
        image::GrayImage::from_raw(w as u32, h as u32, pixels).expect("size")
    };
    let mut prepared = rqrr::PreparedImage::prepare(grey);
    prepared
        .detect_grids()
        .iter()
        .filter(|g| g.decode().is_ok())
        .count()
}

/// In a child: decode the file RUNS times the chosen way, print "median_ms peak_kib codes".
fn child(spec: &str) {
    let (mode, path) = spec.split_once(':').expect("mode:path");
    let bytes = std::fs::read(path).expect("fixture");
    let mut times = Vec::new();
    let mut codes = 0;
    for _ in 0..RUNS {
        let started = Instant::now();
        codes = match mode {
            "kadi" => kadi::cards::scan::decode_qr(&bytes).map_or(0, |c| c.len()),
            "naive" => naive(&bytes),
            _ => 0,
        };
        times.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    if mode == "kadi" {
        if let Ok((_, steps)) = kadi::cards::scan::decode_qr_timed(&bytes) {
            let steps: Vec<String> = steps.iter().map(|(s, ms)| format!("{s} {ms:.0}")).collect();
            eprintln!("  {}: {}", path, steps.join(", "));
        }
    }
    times.sort_by(f64::total_cmp);
    let median = if mode == "read" { 0.0 } else { times[RUNS / 2] };
    println!("{median:.1} {} {codes}", peak_rss_kib());
}

fn measure(mode: &str, path: &std::path::Path) -> (f64, i64, usize) {
    let exe = std::env::current_exe().expect("own path");
    let out = Command::new(exe)
        .env(CHILD, format!("{mode}:{}", path.display()))
        .stderr(std::process::Stdio::inherit())
        .output()
        .expect("child");
    let text = String::from_utf8_lossy(&out.stdout);
    let mut fields = text.split_whitespace();
    let mut next = || fields.next().unwrap_or("0").to_string();
    (
        next().parse().unwrap_or(0.0),
        next().parse().unwrap_or(0),
        next().parse().unwrap_or(0),
    )
}

fn fixtures(dir: &std::path::Path) -> Vec<(&'static str, std::path::PathBuf)> {
    let card = card();
    let png = render_card_png(&card, "pulse", 300).expect("render");
    let card_png = dir.join("card-300dpi.png");
    std::fs::write(&card_png, &png).expect("write");

    let big = render_card_png(&card, "pulse", 600).expect("render");
    let tilted = photo::rotate(&photo::from_png(&big), 4.0, photo::CANVAS);
    let mut rng = Rng::new(12);
    let empty = photo::background(4032, 3024, 6, &mut rng);
    let mut shot = empty.clone();
    photo::place(&mut shot, &tilted, 900, 700, photo::CANVAS, 4, &mut rng);
    let phone = dir.join("phone-12mp.jpg");
    std::fs::write(&phone, photo::to_jpeg(&shot, 85)).expect("write");
    let blurred = dir.join("blurred-300dpi.jpg");
    let chain = photo::Photo {
        scale_percent: 100,
        blur_radius: 2,
        blur_passes: 3,
        rotate_degrees: 5.0,
        background: true,
        jpeg_quality: Some(60),
    };
    std::fs::write(&blurred, chain.of(&png, 6)).expect("write");
    let blank = dir.join("phone-12mp-no-card.jpg");
    std::fs::write(&blank, photo::to_jpeg(&empty, 85)).expect("write");
    vec![
        ("300 dpi card PNG (1011x638)", card_png),
        ("12 MP phone JPEG (4032x3024)", phone),
        ("300 dpi, blurred r2, 5°, JPEG 60", blurred),
        ("12 MP JPEG, no card", blank),
    ]
}

fn main() {
    if let Ok(spec) = std::env::var(CHILD) {
        return child(&spec);
    }
    let dir = tempfile::tempdir().expect("temp dir");
    println!("decode_qr: median of {RUNS} runs in a child process; peak RSS of that process");
    println!(
        "{:<30} {:>9} {:>9} {:>6} | {:>9} {:>9} {:>6} | {:>9}",
        "photo", "kadi ms", "kadi MiB", "codes", "naive ms", "naive MiB", "codes", "floor MiB"
    );
    for (name, path) in fixtures(dir.path()) {
        let size = std::fs::metadata(&path).map_or(0, |m| m.len());
        let (k_ms, k_rss, k_codes) = measure("kadi", &path);
        let (n_ms, n_rss, n_codes) = measure("naive", &path);
        let (_, floor, _) = measure("read", &path);
        let mib = |kib: i64| kib as f64 / 1024.0;
        println!(
            "{:<30} {:>9.1} {:>9.1} {:>6} | {:>9.1} {:>9.1} {:>6} | {:>9.1}   ({} KiB file)",
            name,
            k_ms,
            mib(k_rss),
            k_codes,
            n_ms,
            mib(n_rss),
            n_codes,
            mib(floor),
            size / 1024
        );
    }
}
