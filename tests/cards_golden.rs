//! Golden pixels: every template at every dpi renders the same pixels run after run (hashes
//! pinned below), and stays within 256 colours so the indexed PNG is lossless.
//!
//! After an intended visual change, print the new table with
//! `KADI_PRINT_GOLDEN=1 cargo test --test cards_golden -- --nocapture`, paste it below, bump
//! `RENDERER_VERSION` in `src/cards/generate.rs` (so stored cards re-render) and regenerate
//! `docs/cards-contact-sheet.png` with `kadi cards contact-sheet --out docs/cards-contact-sheet.png`.
use kadi::cards::bench::bench_card;
use kadi::cards::render::{render_frame, RenderOptions};
use kadi::cards::{template_names, Template};
use sha2::{Digest, Sha256};

const GOLDEN: &[(&str, u32, &str)] = &[
    ("vital", 300, "ebc153868635dca65aafd147"),
    ("vital", 450, "877f2558cc7798a5c9a97fd2"),
    ("vital", 600, "bb03e9d93d9b3b3937d68cd1"),
    ("emerald", 300, "a68bbace4207e093e2fad4de"),
    ("emerald", 450, "1df1f17d67cc3fea3128c6f4"),
    ("emerald", 600, "7f015943a618dc7bd90285ca"),
    ("pulse", 300, "507074d4d7486cfd4fd922e7"),
    ("pulse", 450, "c0cd1541b3821cff458cb88d"),
    ("pulse", 600, "fd47226a7064bd289fce2d0c"),
    ("mothercare", 300, "70d945aab371dfb175fddaae"),
    ("mothercare", 450, "0d00ee7044fe3fb07e5e3bcd"),
    ("mothercare", 600, "be1417a9d8db2ffccb3ea0f7"),
    ("shield", 300, "2c46c0a06bd8fe7c190476d0"),
    ("shield", 450, "15be0ba16e9725aff1d45848"),
    ("shield", 600, "1f16519da01cb6cd201198a0"),
    ("nomad", 300, "a7125454aab178ec4a73fa4d"),
    ("nomad", 450, "98bf3e9e597878059039fb17"),
    ("nomad", 600, "929199efd4dd72505229eda9"),
    ("aero", 300, "6f8ec38fc95bff0de3158d25"),
    ("aero", 450, "5a819cd2019e5e9557b3bca7"),
    ("aero", 600, "b389c8e4440ff5651cebbf11"),
    ("horizon", 300, "11330c8121edf5f689d8582b"),
    ("horizon", 450, "c63d18735edf9d11e9453322"),
    ("horizon", 600, "ea25b316e33c3a7da2c283f4"),
    ("aurora", 300, "2ae50282db6a4054e112cccc"),
    ("aurora", 450, "a667c81a2d529da48333e0ae"),
    ("aurora", 600, "599198dd782c66ecf00aca2b"),
    ("sovereign", 300, "408e37f9d9cb21cfc3bfa661"),
    ("sovereign", 450, "f0a794cb89b0dd610747876f"),
    ("sovereign", 600, "6c2e31be2cc7e52d76fb076a"),
];

fn pixel_hash(template: &str, dpi: u32) -> (String, usize) {
    let t = Template::named(template).unwrap();
    let frame = render_frame(&bench_card(3), &t, RenderOptions::at(dpi)).unwrap();
    let digest = Sha256::digest(frame.to_rgb());
    (
        digest.iter().take(12).map(|b| format!("{b:02x}")).collect(),
        frame.palette().len(),
    )
}

#[test]
fn every_template_at_every_dpi_renders_its_pinned_pixels_within_256_colours() {
    let mut table = String::new();
    let mut mismatches = Vec::new();
    for name in template_names() {
        for dpi in [300, 450, 600] {
            let (hash, colours) = pixel_hash(name, dpi);
            assert!(
                colours < 256,
                "{name} at {dpi} dpi uses {colours} colours: the palette overflowed"
            );
            table.push_str(&format!("    (\"{name}\", {dpi}, \"{hash}\"),\n"));
            match GOLDEN.iter().find(|(n, d, _)| *n == name && *d == dpi) {
                Some((_, _, pinned)) if *pinned == hash => {}
                other => mismatches.push(format!(
                    "{name} {dpi}: pinned {:?}, rendered {hash}",
                    other.map(|g| g.2)
                )),
            }
        }
    }
    if std::env::var_os("KADI_PRINT_GOLDEN").is_some() {
        println!("{table}");
    }
    assert!(
        mismatches.is_empty(),
        "pixels changed:\n{}",
        mismatches.join("\n")
    );
}

#[test]
fn rendering_the_same_card_twice_gives_identical_pixels() {
    assert_eq!(pixel_hash("aurora", 300), pixel_hash("aurora", 300));
}
