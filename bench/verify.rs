//! Signed card payloads: size, the QR they make on every template at 300 dpi, whether the QR
//! decodes back from the rendered PNG (rqrr), and sign / verify times, with the old K1 HMAC
//! token (what the cards carried before) as the baseline in the same run. Prints tables; never
//! fails on timing.
//!
//! `cargo bench --bench verify --profile fast`
use kadi::cards::bench::bench_card;
use kadi::cards::geometry::mm_to_px;
use kadi::cards::template::Element;
use kadi::cards::{qr, render_card_png, template_names, Template};
use kadi::verify::keys::SigningKey;
use kadi::verify::sign::sign_claims;
use kadi::verify::Claims;
use kadi_sqlext::card::{self, CardKey, Status};
use std::io::Write;
use std::time::Instant;

fn worst_case_claims() -> Claims {
    Claims {
        mpi_id: "SN-DKR-26-7KQ4MX9P-Z".into(),
        name: "Ŋoné Mame Diarra N’Diaye Gonçalves".into(),
        date_of_birth: Some("1990-05-12".into()),
        health_center: Some("Centre de Santé de Grand Yoff".into()),
        issued_on: "2026-12-04".into(),
        serial: "7KQ4MX9PZA".into(),
        kid: String::new(),
    }
}

fn micros(n: u32, mut f: impl FnMut()) -> f64 {
    let start = Instant::now();
    for _ in 0..n {
        f();
    }
    start.elapsed().as_secs_f64() * 1e6 / n as f64
}

fn main() -> anyhow::Result<()> {
    let key = SigningKey::ephemeral()?;
    let claims = worst_case_claims();
    let payload = sign_claims(&key, &claims)?;
    let cose = card::base45_decode(&payload[4..]).unwrap_or_default();
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    z.write_all(&cose)?;
    let zlib = z.finish()?;
    println!("## Payload (a long accented name, date of birth, health centre)\n");
    println!("| form | bytes | Base45 chars + `KC1:` |");
    println!("|---|---:|---:|");
    println!("| COSE_Sign1 (CBOR) | {} | {} |", cose.len(), payload.len());
    println!(
        "| same, zlib level 9 (not used) | {} | {} |",
        zlib.len(),
        4 + card::base45_encode(&zlib).len()
    );
    let old = format!("K1:{}:ABCDEFGH", claims.mpi_id);
    println!(
        "| old K1 HMAC token (baseline) | {} | {} |",
        old.len(),
        old.len()
    );
    let q = qr::encode(&payload)?;
    let old_q = qr::encode(&old)?;
    println!(
        "\nQR: version {} ({} modules) at EC {:?}; the old K1 code was version {} ({} modules).\n",
        q.version().value(),
        q.size(),
        q.error_correction_level(),
        old_q.version().value(),
        old_q.size()
    );

    println!("## Every template at 300 dpi (bench card 3, sample key)\n");
    println!(
        "| template | QR box mm | version | modules | module px | module mm | decodes from PNG |"
    );
    println!("|---|---:|---:|---:|---:|---:|---|");
    for name in template_names() {
        let t = Template::named(name)?;
        let c = bench_card(3);
        let qr_code = qr::encode(&c.qr_payload)?;
        let Some(bx) = t.elements.iter().find_map(|e| match e {
            Element::Qr { bx, .. } => Some(*bx),
            _ => None,
        }) else {
            continue;
        };
        let side = (mm_to_px(bx[0] + bx[2], 300) - mm_to_px(bx[0], 300))
            .min(mm_to_px(bx[1] + bx[3], 300) - mm_to_px(bx[1], 300));
        // Modules fill the box (edges on whole pixels): their mean width, quiet zone included.
        let module_px = side as f64 / (qr_code.size() + 2 * qr::QUIET_ZONE) as f64;
        let png = render_card_png(&c, name, 300)?;
        let found = kadi::cards::scan::decode_qr(&png)?;
        println!(
            "| {name} | {:.1} | {} | {} | {module_px:.2} | {:.3} | {} |",
            bx[2].min(bx[3]),
            qr_code.version().value(),
            qr_code.size(),
            module_px * 25.4 / 300.0,
            if found.contains(&c.qr_payload) {
                "yes"
            } else {
                "NO"
            }
        );
    }

    let public = key.public_key().to_vec();
    let ck = CardKey {
        kid: key.kid_hex.clone(),
        public_key: public,
        box_id: "bench".into(),
        valid_from: "2026-01-01".into(),
        valid_to: None,
    };
    let n = 2000;
    let secret = [7u8; 32];
    let hmac = micros(n, || {
        std::hint::black_box(kadi::secret::hmac_sha256(&secret, old.as_bytes()));
    });
    let sign = micros(n, || {
        std::hint::black_box(sign_claims(&key, &claims).ok());
    });
    let mut last = Status::Unreadable;
    let verify = micros(n, || {
        last = card::verify(&payload, |_| vec![ck.clone()], |_| None).status;
    });
    let decode_only = micros(n, || {
        std::hint::black_box(card::decode(&payload).ok());
    });
    println!("\n## Times ({n} runs each, this machine)\n");
    println!("| step | µs per card |");
    println!("|---|---:|");
    println!("| old K1: HMAC-SHA256 token (baseline) | {hmac:.2} |");
    println!("| sign: CBOR + COSE + Ed25519 + Base45 | {sign:.2} |");
    println!("| verify: Base45 + COSE decode + Ed25519 check | {verify:.2} |");
    println!("| of which decoding only | {decode_only:.2} |");
    println!("\nlast verdict: {}", last.as_str());
    Ok(())
}
