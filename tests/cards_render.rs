//! Rendering one card: size, pHYs, QR decoding with an independent decoder, text staying in its
//! box, and bad input.
use kadi::cards::frame::Frame;
use kadi::cards::render::{render_frame, render_frame_placed, CardContent, RenderOptions};
use kadi::cards::{qr, render_card_png, Template, TemplateOptions};

fn card(name: &str) -> CardContent {
    let mpi = "SN-DKR-26-7KQ4MX9P-Z";
    CardContent {
        full_name: name.to_string(),
        date_of_birth: Some("1988-04-12".into()),
        sex: Some("F".into()),
        mpi_id: Some(mpi.into()),
        health_center: Some("Centre de Santé de Médina".into()),
        zone: Some("Dakar Ouest".into()),
        beneficiary_id: Some("BEN-004211".into()),
        enrollment_date: Some("2026-02-01".into()),
        phone: Some("+221771234567".into()),
        // One payload for every name: the layout tests compare the pixels outside the name's
        // box between names, and the QR signs the name.
        qr_payload: qr::sample_payload(
            mpi,
            "Awa Ndiaye",
            Some("1988-04-12"),
            Some("Centre de Santé de Médina"),
        ),
    }
}

struct Decoded {
    width: u32,
    height: u32,
    rgb: Vec<u8>,
    ppm: Option<(u32, u32, png::Unit)>,
}

fn decode(bytes: &[u8]) -> Decoded {
    let mut dec = png::Decoder::new(std::io::Cursor::new(bytes));
    dec.set_transformations(png::Transformations::EXPAND);
    let mut reader = dec.read_info().unwrap();
    let ppm = reader.info().pixel_dims.map(|d| (d.xppu, d.yppu, d.unit));
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!(info.color_type, png::ColorType::Rgb);
    buf.truncate(info.buffer_size());
    Decoded {
        width: info.width,
        height: info.height,
        rgb: buf,
        ppm,
    }
}

#[test]
fn pulse_at_300_dpi_is_a_1011_by_638_png_that_carries_300_dpi() {
    let png = render_card_png(&card("Aïssatou Ndèye Fall"), "pulse", 300).unwrap();
    let d = decode(&png);
    assert_eq!((d.width, d.height), (1011, 638));
    assert_eq!(d.ppm, Some((11811, 11811, png::Unit::Meter)));
}

#[test]
fn cards_at_450_and_600_dpi_have_the_cr80_pixel_sizes() {
    for (dpi, size) in [(450, (1517, 956)), (600, (2022, 1275))] {
        let d = decode(&render_card_png(&card("Awa Ba"), "pulse", dpi).unwrap());
        assert_eq!((d.width, d.height), size, "{dpi} dpi");
        assert_eq!(
            d.ppm.map(|p| p.0),
            Some((dpi as f64 / 0.0254).round() as u32)
        );
    }
}

#[test]
fn the_qr_decodes_back_to_the_mpi_id_with_a_token_that_verifies() {
    for template in kadi::cards::template_names() {
        let d = decode(&render_card_png(&card("Mame Diarra N’Diaye"), template, 300).unwrap());
        let mut img = rqrr::PreparedImage::prepare_from_greyscale(
            d.width as usize,
            d.height as usize,
            |x, y| {
                let i = (y * d.width as usize + x) * 3;
                ((d.rgb[i] as u32 * 3 + d.rgb[i + 1] as u32 * 6 + d.rgb[i + 2] as u32) / 10) as u8
            },
        );
        let grids = img.detect_grids();
        assert_eq!(grids.len(), 1, "{template}: one QR code");
        let (meta, content) = grids[0].decode().unwrap();
        // The format bits of the symbol: 1 is L, 0 is M, 3 is Q, 2 is H; M or higher required.
        assert_ne!(
            meta.ecc_level, 1,
            "{template}: error correction L is too weak for a worn card"
        );
        assert!(content.starts_with("KC1:"), "{template}: {content}");
        // The decoded payload is the signed one, whole: its signature checks under the key
        // that made it.
        let decoded = kadi_sqlext::card::decode(&content).unwrap();
        assert_eq!(decoded.claims.mpi_id, "SN-DKR-26-7KQ4MX9P-Z");
        let key = kadi::verify::keys::SigningKey::sample();
        assert!(kadi_sqlext::card::signature_matches(
            key.public_key(),
            &decoded.signed_bytes,
            &decoded.signature
        ));
    }
}

/// Pixels that differ between two frames of the same size, as (x, y).
fn diff(a: &Frame, b: &Frame) -> Vec<(u32, u32)> {
    let mut out = Vec::new();
    for y in 0..a.height() {
        for x in 0..a.width() {
            if a.pixel(x, y) != b.pixel(x, y) {
                out.push((x, y));
            }
        }
    }
    out
}

fn assert_name_stays_in_its_box(template: &str, dpi: u32, name: &str) {
    let t = Template::named(template).unwrap();
    let opts = RenderOptions::at(dpi);
    let (with, placed) = render_frame_placed(&card(name), &t, opts).unwrap();
    let without = render_frame(&card("I"), &t, opts).unwrap();
    let bx = placed.iter().find(|p| p.what == "full_name").unwrap().bx;
    let changed = diff(&with, &without);
    assert!(changed.len() > 200, "{template}: the name drew pixels");
    for (x, y) in changed {
        let inside = x as i32 >= bx.x
            && (x as i32) < bx.x + bx.w
            && y as i32 >= bx.y
            && (y as i32) < bx.y + bx.h;
        assert!(
            inside,
            "{template} {dpi}: pixel ({x},{y}) of {name:?} is outside its box {bx:?}"
        );
    }
}

#[test]
fn an_accented_name_with_a_curly_apostrophe_renders_inside_its_box_in_every_template() {
    for template in kadi::cards::template_names() {
        assert_name_stays_in_its_box(template, 300, "Ŋoné N’Diaye Gonçalves");
    }
}

#[test]
fn a_500_character_name_ends_with_an_ellipsis_and_never_leaves_its_box() {
    let long: String = "Seynabou Ngoné Faÿ ".repeat(27).chars().take(500).collect();
    for template in ["pulse", "sovereign", "nomad"] {
        assert_name_stays_in_its_box(template, 300, &long);
        let (_, placed) = render_frame_placed(
            &card(&long),
            &Template::named(template).unwrap(),
            RenderOptions::at(300),
        )
        .unwrap();
        let name = placed.iter().find(|p| p.what == "full_name").unwrap();
        assert!(
            name.fitted.lines.last().unwrap().ends_with('…'),
            "{template}: {:?}",
            name.fitted
        );
    }
}

#[test]
fn the_curly_apostrophe_is_drawn_not_dropped() {
    let t = Template::named("pulse").unwrap();
    let a = render_frame(&card("N’Diaye"), &t, RenderOptions::at(300)).unwrap();
    let b = render_frame(&card("NDiaye"), &t, RenderOptions::at(300)).unwrap();
    assert!(!diff(&a, &b).is_empty());
}

#[test]
fn a_name_in_a_script_the_font_lacks_renders_replacement_glyphs_without_panicking() {
    let png = render_card_png(&card("王小明 김민준"), "pulse", 300).unwrap();
    assert_eq!(decode(&png).width, 1011);
    assert!(!kadi::cards::text::covers(kadi::cards::text::Face::Bold, "王").unwrap());
}

#[test]
fn an_empty_name_is_a_clear_error() {
    let err = render_card_png(&card("  "), "pulse", 300)
        .unwrap_err()
        .to_string();
    assert!(err.contains("no name"), "{err}");
}

#[test]
fn an_unknown_template_or_dpi_is_a_clear_error() {
    let err = render_card_png(&card("Awa"), "glitter", 300)
        .unwrap_err()
        .to_string();
    assert!(err.contains("unknown template"), "{err}");
    let err = render_card_png(&card("Awa"), "pulse", 200)
        .unwrap_err()
        .to_string();
    assert!(err.contains("unsupported dpi"), "{err}");
}

#[test]
fn hiding_the_mpi_id_removes_its_text_but_keeps_the_signed_qr() {
    let t = Template::named("pulse").unwrap();
    let opts = RenderOptions {
        include_mpi_id: false,
        ..RenderOptions::at(300)
    };
    let (_, placed) = render_frame_placed(&card("Awa Ba"), &t, opts).unwrap();
    assert!(placed
        .iter()
        .all(|p| p.what != "mpi_id" && p.what != "label:mpi_id"));
    let (_, placed) = render_frame_placed(&card("Awa Ba"), &t, RenderOptions::at(300)).unwrap();
    assert!(placed.iter().any(|p| p.what == "mpi_id"));
}

#[test]
fn a_card_painted_in_bands_has_the_same_pixels_as_one_painted_whole() {
    let t = Template::named("pulse").unwrap();
    let whole = render_frame(&card("Chloë Lefèvre-Bâ"), &t, RenderOptions::at(600)).unwrap();
    let banded = render_frame(
        &card("Chloë Lefèvre-Bâ"),
        &t,
        RenderOptions {
            bands: 4,
            ..RenderOptions::at(600)
        },
    )
    .unwrap();
    assert_eq!(whole.to_rgb(), banded.to_rgb());
}

#[test]
fn sovereign_takes_its_colours_font_scale_and_attribute_cap() {
    let opts = TemplateOptions {
        accent_hex: Some("#C8102E".into()),
        bg_hex: Some("#FFFDF5".into()),
        bg_deep_hex: Some("#002B5C".into()),
        font_scale: Some(1.2),
        max_attrs: Some(2),
    };
    let t = Template::named("sovereign")
        .unwrap()
        .with_options(&opts)
        .unwrap();
    let (frame, placed) = render_frame_placed(&card("Awa Ba"), &t, RenderOptions::at(300)).unwrap();
    let deep = embedded_graphics::pixelcolor::Rgb888::new(0x00, 0x2B, 0x5C);
    assert!(
        frame.palette().contains(&deep),
        "the bg_deep override is painted"
    );
    let attrs = placed
        .iter()
        .filter(|p| p.what.starts_with("label:"))
        .count();
    assert_eq!(attrs, 2);
    let bad = TemplateOptions {
        bg_hex: Some("navy".into()),
        ..Default::default()
    };
    assert!(Template::named("sovereign")
        .unwrap()
        .with_options(&bad)
        .unwrap_err()
        .to_string()
        .contains("bg_hex"));
}
