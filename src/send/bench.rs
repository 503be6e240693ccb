//! What `kadi send bench` measures (bench/send.sh prints it as a table): how many messages per
//! second the worker can PREPARE on this machine, without the network: for WhatsApp, render the
//! card PNG from the store, hash it, look the media cache up (a miss stores the ID an upload
//! would give), build the template request JSON; for SMS, fill the text and split it. The
//! baseline in the same run is rendering the card PNG alone (what printing costs), so the table
//! shows what sending adds. Peak RSS is the process's `VmHWM`.
use crate::store::Store;
use anyhow::Result;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::time::Instant;

/// One benchmark run.
#[derive(Debug, Clone, Serialize)]
pub struct SendBench {
    pub n: usize,
    pub dpi: u32,
    /// Baseline: card PNGs rendered from the store per second.
    pub render_only_per_s: f64,
    /// WhatsApp messages prepared per second, media cache cold (every image new).
    pub whatsapp_cold_per_s: f64,
    /// The same messages again, media cache warm (images already uploaded).
    pub whatsapp_warm_per_s: f64,
    /// SMS texts filled and split per second.
    pub sms_per_s: f64,
    pub mean_png_bytes: u64,
    pub mean_request_bytes: u64,
    pub peak_rss_mb: f64,
}

/// Peak resident memory of this process in MB (Linux `VmHWM`; 0 elsewhere).
pub fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

/// Runs the benchmark on a fresh store in `dir` with `n` records.
pub fn run(dir: &std::path::Path, n: usize, dpi: u32) -> Result<SendBench> {
    let store = Store::open(&dir.join("bench.db"))?;
    for i in 0..n {
        let fields = crate::record::CardFields {
            first_name: Some(format!("Aminata{i}")),
            last_name: Some("Ndiaye".into()),
            date_of_birth: Some("1988-04-12".into()),
            gender: Some("F".into()),
            beneficiary_id: Some(format!("BEN-{i:06}")),
            phone_number: Some(format!("+22177{:07}", i % 10_000_000)),
            health_center: Some("Centre de Santé Médina".into()),
            ..Default::default()
        };
        store.upsert_card_record(&crate::record::CardRecord {
            enrollment_uid: format!("E{i:010}"),
            tracked_entity_uid: format!("T{i:010}"),
            program_uid: "P3jJH5Tu5VC".into(),
            fields,
        })?;
    }
    let cfg = super::config::WhatsappConfig {
        base_url: "http://bench.invalid".into(),
        api_version: "v21.0".into(),
        phone_number_id: "1".into(),
        template: "kadi_card".into(),
        lang: "fr".into(),
        body_fields: super::config::default_body_fields(),
        card_template: "pulse".into(),
        dpi,
    };
    let uids: Vec<String> = (0..n).map(|i| format!("E{i:010}")).collect();
    // Warm up (fonts, templates, the QR secret) outside every timed row.
    if let Some(u) = uids.first() {
        crate::cards::preview_png(&store, u, &cfg.card_template, dpi)?;
    }
    let t = Instant::now();
    let mut png_bytes = 0u64;
    for u in &uids {
        png_bytes += crate::cards::preview_png(&store, u, &cfg.card_template, dpi)?.len() as u64;
    }
    let render_only = n as f64 / t.elapsed().as_secs_f64();
    let mut request_bytes = 0u64;
    let mut prepare = |store: &Store| -> Result<f64> {
        let t = Instant::now();
        request_bytes = 0;
        for (i, u) in uids.iter().enumerate() {
            let card = store
                .card_record(u)?
                .ok_or_else(|| anyhow::anyhow!("no record {u}"))?;
            let png = crate::cards::preview_png(store, u, &cfg.card_template, dpi)?;
            let hash = crate::secret::hex(&Sha256::digest(&png));
            let media = match store.send_media(&cfg.phone_number_id, &hash)? {
                Some(m) => m,
                None => {
                    let m = format!("media{i}");
                    store.save_send_media(&cfg.phone_number_id, &hash, &m)?;
                    m
                }
            };
            let params: Vec<String> = cfg
                .body_fields
                .iter()
                .map(|f| super::field_value(&card, f))
                .collect();
            let phone = card.record.fields.phone_number.clone().unwrap_or_default();
            let body = super::whatsapp::template_request(&phone, &cfg, &media, &params, u);
            request_bytes += body.to_string().len() as u64;
        }
        Ok(n as f64 / t.elapsed().as_secs_f64())
    };
    let cold = prepare(&store)?;
    let warm = prepare(&store)?;
    let t = Instant::now();
    for u in &uids {
        let card = store
            .card_record(u)?
            .ok_or_else(|| anyhow::anyhow!("no record {u}"))?;
        let text = super::fill_placeholders(super::config::DEFAULT_SMS_TEXT, &card);
        std::hint::black_box(super::sms_text::split(&text));
    }
    let sms = n as f64 / t.elapsed().as_secs_f64();
    Ok(SendBench {
        n,
        dpi,
        render_only_per_s: render_only,
        whatsapp_cold_per_s: cold,
        whatsapp_warm_per_s: warm,
        sms_per_s: sms,
        mean_png_bytes: png_bytes / n.max(1) as u64,
        mean_request_bytes: request_bytes / n.max(1) as u64,
        peak_rss_mb: peak_rss_mb(),
    })
}
