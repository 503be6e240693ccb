//! Store-side sync benchmark without a network: N synthetic tracked entities (simulator-shaped,
//! random UIDs) written page by page with `kadi::sync::store_page` into a fresh SQLite file.
//! Isolates kadi's write path from the simulator's CPU. Prints a table; never fails on timing.
//!
//! `KADI_BENCH_SIZES=10000,100000 cargo bench --bench sync_store --profile dev`
use kadi::dhis2::model::{AttributeValue, Enrollment, TrackedEntity};
use std::time::Instant;

const PROGRAM: &str = "P3jJH5Tu5VC";
const PAGE: usize = 500;

fn main() -> anyhow::Result<()> {
    let sizes: Vec<usize> = std::env::var("KADI_BENCH_SIZES")
        .unwrap_or_else(|_| "10000,100000".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    println!("| records | pages | seconds | records/s | last page ms |");
    println!("|--------:|------:|--------:|----------:|-------------:|");
    for n in sizes {
        let dir = tempfile::tempdir()?;
        let store = kadi::store::Store::open(&dir.path().join("kadi.db"))?;
        let program = kadi::sim::data::program();
        store.upsert_program(&kadi::sync::program_row(&program, &|i| {
            program.attributes[i].code.as_deref() == Some("HIV_STATUS")
        }))?;
        let levels: Vec<(u32, String)> = kadi::sim::data::org_unit_levels()
            .into_iter()
            .map(|l| (l.level, l.name))
            .collect();
        let units = kadi::sim::data::org_units();
        store.upsert_org_units(&kadi::sync::org_unit_rows(&units), &levels)?;
        kadi::mapping::set_mapping(
            &store,
            &kadi::actor::Actor::Cli,
            &kadi::demo::demo_mapping(),
        )?;
        let plan = kadi::mapping::MappingPlan::load(&store, PROGRAM)?;
        let mut guardrail = kadi::mapping::Guardrail::load(&store, PROGRAM)?;
        store.prepare_for_bulk_writes()?;
        let health_centers: Vec<String> = units
            .iter()
            .filter(|u| u.level == Some(4))
            .map(|u| u.uid.clone())
            .collect();
        let mut report = kadi::sync::SyncReport::default();
        let cursor = kadi::store::sync_data::SyncCursor::default();
        let mut rng = 0x9E3779B97F4A7C15u64;
        let t = Instant::now();
        let mut last_ms = 0.0;
        for start in (0..n).step_by(PAGE) {
            let page: Vec<TrackedEntity> = (start..(start + PAGE).min(n))
                .map(|i| entity(i, &mut rng, &program, &health_centers))
                .collect();
            let tp = Instant::now();
            kadi::sync::store_page(&store, &plan, &mut guardrail, &page, &cursor, &mut report)?;
            last_ms = tp.elapsed().as_secs_f64() * 1000.0;
        }
        let secs = t.elapsed().as_secs_f64();
        println!(
            "| {n:>7} | {:>5} | {secs:>7.2} | {:>9.0} | {last_ms:>12.1} |",
            n.div_ceil(PAGE),
            n as f64 / secs
        );
    }
    Ok(())
}

fn uid(rng: &mut u64) -> String {
    const ALPHA: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let mut s = String::with_capacity(11);
    for i in 0..11 {
        *rng ^= *rng << 13;
        *rng ^= *rng >> 7;
        *rng ^= *rng << 17;
        let n = if i == 0 { 52 } else { 62 };
        s.push(ALPHA[(*rng % n) as usize] as char);
    }
    s
}

fn entity(
    i: usize,
    rng: &mut u64,
    program: &kadi::dhis2::model::Program,
    hcs: &[String],
) -> TrackedEntity {
    let te = uid(rng);
    let ou = hcs[i % hcs.len()].clone();
    let updated = format!("2026-03-01T10:{:02}:{:02}.000", (i / 60) % 60, i % 60);
    let values = [
        "Awa",
        "Diop",
        "1990-04-12",
        "FEMALE",
        "+221771234567",
        "1234567890123",
        "BEN-0001",
        "NEGATIVE",
    ];
    TrackedEntity {
        uid: te.clone(),
        tracked_entity_type: Some("nEenWmSyUEp".into()),
        org_unit: Some(ou.clone()),
        created_at: Some(updated.clone()),
        updated_at: Some(updated.clone()),
        deleted: false,
        attributes: program
            .attributes
            .iter()
            .zip(values)
            .map(|(a, v)| AttributeValue {
                attribute: a.uid.clone(),
                code: a.code.clone(),
                display_name: a.display_name.clone(),
                value_type: Some(a.value_type.clone()),
                value: format!(
                    "{v}{}",
                    if a.value_type == "TEXT" {
                        i.to_string()
                    } else {
                        String::new()
                    }
                ),
                updated_at: Some(updated.clone()),
            })
            .collect(),
        enrollments: vec![Enrollment {
            uid: uid(rng),
            program: PROGRAM.into(),
            tracked_entity: te,
            org_unit: Some(ou),
            enrolled_at: Some("2026-02-03T00:00:00.000".into()),
            occurred_at: None,
            status: Some("ACTIVE".into()),
            updated_at: Some(updated),
            deleted: false,
        }],
    }
}
