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
    ("vital", 300, "de71b1162336477122f0a616"),
    ("vital", 450, "d4d90e2afae4eb4196390927"),
    ("vital", 600, "6a85dac36b4905237579cc8c"),
    ("emerald", 300, "37bac2628684022711cd1561"),
    ("emerald", 450, "13ebc600efacb5ecb6ad8930"),
    ("emerald", 600, "66e4e8ea06d49f378e816fde"),
    ("pulse", 300, "8f475a09e7092ee38b9bf170"),
    ("pulse", 450, "b5a81d311e105be9a766a515"),
    ("pulse", 600, "57852aeddb7d5e467b3869ab"),
    ("mothercare", 300, "415f8451ab12a3554be59c09"),
    ("mothercare", 450, "daea6e3ab142682875f023c4"),
    ("mothercare", 600, "de8dd559df94e068ef861b72"),
    ("shield", 300, "c20caf9b886db824c61a0506"),
    ("shield", 450, "9273e930c386243c22750174"),
    ("shield", 600, "64e413124f8d5d330acb10f1"),
    ("nomad", 300, "abdab76fc1388bbe4f8f5aac"),
    ("nomad", 450, "3fd03205293f5dc043c7a133"),
    ("nomad", 600, "d9ebc25139a8c4032ec093da"),
    ("aero", 300, "70cb550f7750df2946de5801"),
    ("aero", 450, "c81f1c396647015054514c32"),
    ("aero", 600, "a9fbc40036ae799c75ec167d"),
    ("horizon", 300, "b7d8d2abeee8a2d79f07e335"),
    ("horizon", 450, "8da70e98fc1840fe7dc67fa0"),
    ("horizon", 600, "7e2ef531c0a840c9150a8cb4"),
    ("aurora", 300, "9e2047d5713ae39ed34cf1bc"),
    ("aurora", 450, "a519a26f1a01c9ee2e75e88f"),
    ("aurora", 600, "af8f3da8177ff8cd747ec85f"),
    ("sovereign", 300, "959d44286d6fbe3166243027"),
    ("sovereign", 450, "7b0f4769727d560694ab9a8c"),
    ("sovereign", 600, "c0dd1fedc5465a3b3c2d09f3"),
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
