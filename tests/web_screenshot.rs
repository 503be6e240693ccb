//! The page as a phone shows it: headless Chromium screenshots of the beneficiaries list and of a
//! card page at phone width. Chromium cannot log in from the command line, so the test fetches
//! each page (and its stylesheet and card image) over HTTP with a session, saves them side by
//! side, and screenshots the saved copy. A machine without Chromium FAILS this test
//! (`bash .ci/run` installs it). The real login form in Chromium is tested in `web_browser.rs`.
mod support;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use support::*;

/// Screenshots `html` at `width` x `height` into `png`; returns false when Chromium failed.
fn screenshot(browser: &str, html: &Path, png: &Path, width: u32, height: u32) -> bool {
    let profile = tempfile::tempdir().unwrap();
    let mut child = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--no-first-run",
        ])
        .args(["--hide-scrollbars", "--force-device-scale-factor=1"])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("--window-size={width},{height}"))
        .arg(format!("--screenshot={}", png.display()))
        .arg(format!("file://{}", html.display()))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(90) {
        if let Some(status) = child.try_wait().unwrap() {
            return status.success() && png.exists();
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let _ = child.kill();
    let _ = child.wait();
    false
}

/// Saves a page with its stylesheet and (when there is one) its card image beside it.
fn save_page(base: &str, cookie: &str, path: &str, dir: &Path, name: &str) -> std::path::PathBuf {
    let mut html = get(&format!("{base}{path}"), Some(cookie)).text();
    std::fs::write(
        dir.join("kadi.css"),
        get(&format!("{base}/static/kadi.css"), None).body,
    )
    .unwrap();
    html = html.replace("href=\"/static/kadi.css\"", "href=\"kadi.css\"");
    if let Some(start) = html.find("src=\"/dhis2/preview-card-png?") {
        let end = start + 5 + html[start + 5..].find('"').unwrap();
        let src = html[start + 5..end].replace("&amp;", "&");
        let png = get(&format!("{base}{src}"), Some(cookie));
        assert_eq!(png.status, 200, "{}", png.text());
        std::fs::write(dir.join(format!("{name}-card.png")), png.body).unwrap();
        html.replace_range(start..=end, &format!("src=\"{name}-card.png\""));
    }
    let file = dir.join(format!("{name}.html"));
    std::fs::write(&file, html).unwrap();
    file
}

#[test]
fn the_list_and_a_card_render_at_phone_width() {
    let Some(browser) = require_tool("chromium") else {
        return;
    };
    let b = TestBox::new();
    b.add_staff("awa", "4321");
    let people = [
        Person {
            first: "Awa",
            last: "Diop",
            beneficiary_id: "B-001",
            dob: "1990-03-02",
            sex: "F",
        },
        Person {
            first: "Moussa",
            last: "Ndiaye",
            beneficiary_id: "B-002",
            dob: "1984-11-20",
            sex: "M",
        },
        Person {
            first: "Fatou",
            last: "Sow",
            beneficiary_id: "B-003",
            dob: "2001-07-14",
            sex: "F",
        },
        Person {
            first: "<script>",
            last: "Ba",
            beneficiary_id: "B-004",
            dob: "1979-01-30",
            sex: "M",
        },
    ];
    let enrollments = seed_beneficiaries(&b.db, kadi::sim::PROGRAM_UID, &people);
    let s = b.serve();
    let cookie = login(&s.url, "awa", "4321");
    // Screenshots stay in target/ for a person to look at.
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("web-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    for (name, path) in [
        ("list", "/beneficiaries".to_string()),
        ("card", format!("/beneficiaries/{}", enrollments[0])),
    ] {
        let html = save_page(&s.url, &cookie, &path, &dir, name);
        let png = dir.join(format!("{name}.png"));
        let _ = std::fs::remove_file(&png);
        assert!(
            screenshot(&browser, &html, &png, 390, 844),
            "chromium could not screenshot {}",
            html.display()
        );
        let (w, h, grey) = decode_png(&std::fs::read(&png).unwrap());
        assert_eq!((w, h), (390, 844));
        // The header bar carries the accent colour: the stylesheet was applied.
        let dark_top = grey[..(w * 30) as usize]
            .iter()
            .filter(|&&g| g < 110)
            .count();
        assert!(
            dark_top > (w * 30 / 2) as usize,
            "{name}: no header bar; is the CSS applied?"
        );
        let distinct = grey.iter().collect::<std::collections::HashSet<_>>().len();
        assert!(distinct > 20, "{name}: the screenshot is nearly blank");
        eprintln!("screenshot: {}", png.display());
    }
}
