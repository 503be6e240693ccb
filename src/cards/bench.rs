//! Synthetic card content for benchmarks and golden images: the same people the Python baseline
//! (`cards_pillow.py`) renders, so kadi's timings and pictures compare like with like.
use super::qr;
use super::render::CardContent;
use super::template::{template_names, Template};
use anyhow::Result;

/// The baseline's synthetic people (`cards_pillow.py`), so both render the same content.
pub fn bench_card(i: usize) -> CardContent {
    const NAMES: [&str; 10] = [
        "Aïssatou Ndèye Fall",
        "João Gonçalves da Conceição",
        "Mame Diarra N'Diaye",
        "Fatou Bintou Sène",
        "Chloë Lefèvre-Bâ",
        "Ibrahima Sòw",
        "Maïmouna Thiâm",
        "Noël Gbèdo Adékambi",
        "Antônio Simões",
        "Seynabou Ngoné Faÿ",
    ];
    const CENTERS: [&str; 4] = [
        "Centre de Santé de Médina",
        "Poste de Santé Keur Massar",
        "Hôpital Principal de Dakar",
        "Centro de Saúde São Tomé",
    ];
    let mpi = format!("SN-DKR-26-{i:08}");
    let mut card = CardContent {
        full_name: NAMES[i % NAMES.len()].to_string(),
        date_of_birth: Some(format!(
            "{:04}-{:02}-{:02}",
            1950 + i % 70,
            1 + i % 12,
            1 + i % 28
        )),
        sex: Some(if i % 2 == 1 { "F" } else { "M" }.to_string()),
        health_center: Some(CENTERS[i % CENTERS.len()].to_string()),
        zone: Some("Dakar Ouest".into()),
        beneficiary_id: Some(format!("BEN-{i:06}")),
        enrollment_date: Some("2026-03-14".into()),
        phone: Some("+221771234567".into()),
        qr_payload: String::new(),
        mpi_id: Some(mpi),
    };
    card.qr_payload = sample_qr(&card);
    card
}

/// The sample-key payload of a sample card (what its QR would carry if a box had signed it).
pub fn sample_qr(card: &CardContent) -> String {
    qr::sample_payload(
        card.mpi_id.as_deref().unwrap_or(""),
        &card.full_name,
        card.date_of_birth.as_deref(),
        card.health_center.as_deref(),
    )
}

/// The contact sheet of all ten templates with sample people (what `docs/` shows).
pub fn contact_sheet() -> Result<Vec<u8>> {
    let cards = template_names()
        .into_iter()
        .enumerate()
        .map(|(i, name)| {
            let mut c = bench_card([0, 1, 2, 3, 4, 6, 7, 8, 9, 5][i]);
            if i == 2 {
                c.full_name = "Ŋoné Mame Diarra N’Diaye".into();
                c.qr_payload = sample_qr(&c);
            }
            Ok((name.to_string(), c, Template::named(name)?))
        })
        .collect::<Result<Vec<_>>>()?;
    super::sheet::contact_sheet_png(&cards)
}
