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
    ("vital", 300, "0b04545ed21f7e6d0a0f9f0d"),
    ("vital", 450, "0fec5ec9722131e013d9c66a"),
    ("vital", 600, "d79713710151a24bff16b0cc"),
    ("emerald", 300, "700589bb56c80f95b0e8b684"),
    ("emerald", 450, "e28a4edb4d9e833dd54ac260"),
    ("emerald", 600, "4dfcab3039b86345e5aa03d4"),
    ("pulse", 300, "93f13b8f1b2640a43099569a"),
    ("pulse", 450, "e5072aee4031762c5207dc36"),
    ("pulse", 600, "a0ac77f7b13834b5a7fa8ea0"),
    ("mothercare", 300, "cc3084f7831071882b7ed607"),
    ("mothercare", 450, "af0789389734d15059b2d5e4"),
    ("mothercare", 600, "e1d1d97b8ba126233143793a"),
    ("shield", 300, "72d8c3f1b290e572c73b7e16"),
    ("shield", 450, "86886227f0683b6892291603"),
    ("shield", 600, "e613fd79840708ee0087b786"),
    ("nomad", 300, "d24cc2bd80930efed75f7538"),
    ("nomad", 450, "041b9b5cc40c3dbf9c6f3ca1"),
    ("nomad", 600, "5f1db9123caec144ab7d2a66"),
    ("aero", 300, "2d8f9b64f1f4ca76adf5dd54"),
    ("aero", 450, "24bd814a80dc20a0fac07641"),
    ("aero", 600, "e5c02c8c9010631c5c6761db"),
    ("horizon", 300, "9e13ef897809b5ddd2adc2ce"),
    ("horizon", 450, "d36784438947a5f53eb486c8"),
    ("horizon", 600, "7f25123ab9807ef704eb8180"),
    ("aurora", 300, "1a0e7817fcfffd5e8ffbff74"),
    ("aurora", 450, "79210b25570ee4d94a048e02"),
    ("aurora", 600, "7915a4d599123b5ae59724ed"),
    ("sovereign", 300, "da0edbdf771ff94cf574b702"),
    ("sovereign", 450, "4224423e4fb79198e83fc8a4"),
    ("sovereign", 600, "4c2a9c3da5a170d222337a95"),
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
