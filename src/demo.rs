//! `kadi demo`: the whole pipeline with no DHIS2 needed. Starts the simulator in-process on a free
//! loopback port, configures the box against it, maps, syncs, resolves identities, renders every
//! card, creates a demo staff account and serves the page (or, with `--once`, prints a summary
//! and exits). Only calls other modules' public functions; writes no SQL of its own.
use crate::actor::Actor;
use crate::store::Store;
use anyhow::{bail, Context, Result};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

/// Username of the staff account the demo creates.
pub const DEMO_STAFF: &str = "demo";

/// The demo program: the simulator's one tracker program (the CLI's default for `--demo`).
pub const PROGRAM_UID: &str = crate::sim::PROGRAM_UID;

/// The simulator's mapping (its program [`PROGRAM_UID`]), used by `kadi demo`, `kadi map set --demo`
/// and tests. It lives with the demo: the mapping knows no simulator.
pub fn demo_mapping() -> crate::mapping::AssignCodesBody {
    let by_code = |code: &str, field: &str| crate::mapping::AttributeMapping {
        dhis2_attribute_code: Some(code.into()),
        card_field: field.into(),
        ..Default::default()
    };
    let mut sex = by_code("SEX", "gender");
    sex.value_map = Some(BTreeMap::from([
        ("MALE".into(), "M".into()),
        ("FEMALE".into(), "F".into()),
    ]));
    crate::mapping::AssignCodesBody {
        programme_uid: PROGRAM_UID.into(),
        mappings: vec![
            by_code("FIRST_NAME", "first_name"),
            by_code("LAST_NAME", "last_name"),
            by_code("DATE_OF_BIRTH", "date_of_birth"),
            sex,
            by_code("PHONE", "phone_number"),
            by_code("BENEFICIARY_ID", "beneficiary_id"),
            by_code("NATIONAL_ID", "national_id"),
        ],
        zone_level: None,
    }
}

/// Seconds each step took.
#[derive(Debug, Clone, Default, Serialize)]
pub struct DemoTimings {
    pub simulator: f64,
    pub configure_and_map: f64,
    pub sync: f64,
    pub resolve: f64,
    pub cards: f64,
    pub total: f64,
}

/// What `kadi demo` did (`--json`).
#[derive(Debug, Clone, Default, Serialize)]
pub struct DemoSummary {
    /// Beneficiaries the simulator served.
    pub simulator_records: usize,
    /// Card records in the store after the sync.
    pub records: i64,
    pub pulled: u64,
    pub mpi_identities: i64,
    pub mpi_resolved: u64,
    pub mpi_created: u64,
    pub mpi_pending_review: u64,
    /// Card PNGs ready (rendered now or unchanged since an earlier demo).
    pub cards_written: u64,
    pub cards_dir: String,
    pub database: String,
    pub simulator_url: String,
    /// The page's URL (absent with `--once`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    pub staff_username: String,
    /// The demo account's PIN (new each run); only a local demo prints a PIN.
    pub staff_pin: String,
    pub seconds: DemoTimings,
}

/// Simulator, configure, map, sync, resolve, render, staff account. Returns the running simulator
/// (kept alive while the page is served, so "sync now" has a server to talk to) and the summary.
pub fn run_pipeline(
    db: &Path,
    records: usize,
    seed: u64,
    progress: bool,
) -> Result<(crate::sim::SimHandle, DemoSummary)> {
    let started = Instant::now();
    let mut t = DemoTimings::default();
    let step = |msg: &str| {
        if progress {
            eprintln!("kadi demo: {msg}");
        }
    };
    step(&format!(
        "starting the DHIS2 simulator with {records} beneficiaries"
    ));
    let lap = Instant::now();
    let sim = crate::sim::start(crate::sim::SimConfig {
        records,
        seed,
        ..Default::default()
    })
    .context("starting the DHIS2 simulator")?;
    t.simulator = lap.elapsed().as_secs_f64();

    let lap = Instant::now();
    let store = Store::open(db)?;
    step(&format!(
        "configuring {} against {}",
        db.display(),
        sim.base_url
    ));
    configure_dhis2(&store, &sim.base_url)?;
    crate::jobs::map_program(&store, &Actor::Demo, &demo_mapping())
        .context("setting the demo mapping")?;
    t.configure_and_map = lap.elapsed().as_secs_f64();

    step("syncing");
    let lap = Instant::now();
    let opts = crate::sync::SyncOptions {
        actor: Actor::Demo,
        ..Default::default()
    };
    let sync =
        crate::jobs::sync(&store, PROGRAM_UID, &opts).context("syncing from the simulator")?;
    t.sync = lap.elapsed().as_secs_f64();

    step("resolving identities");
    let lap = Instant::now();
    // Sync resolves already; a second pass is idempotent and catches anything left pending.
    let resolve = crate::mpi::resolve_pending(&store).context("resolving identities")?;
    t.resolve = lap.elapsed().as_secs_f64();

    step("rendering cards");
    let lap = Instant::now();
    let (cards_written, cards_dir) = render_cards(&store)?;
    t.cards = lap.elapsed().as_secs_f64();

    let pin = random_pin()?;
    crate::web::staff::add_staff(
        &store,
        &Actor::Demo,
        DEMO_STAFF,
        &pin,
        Some("Demo staff"),
        true,
    )?;
    t.total = started.elapsed().as_secs_f64();
    let summary = DemoSummary {
        simulator_records: records,
        records: store.count("card_records")?,
        pulled: sync.pulled,
        mpi_identities: store.status_counts()?.mpi_identities,
        mpi_resolved: sync.mpi_resolved + resolve.resolved,
        mpi_created: sync.mpi_created + resolve.created,
        mpi_pending_review: store.status_counts()?.pending_review.max(0) as u64,
        cards_written,
        cards_dir,
        database: db.display().to_string(),
        simulator_url: sim.base_url.clone(),
        url: None,
        staff_username: DEMO_STAFF.into(),
        staff_pin: pin,
        seconds: t,
    };
    Ok((sim, summary))
}

/// Points the box at the simulator (admin / district, the simulator's documented login).
fn configure_dhis2(store: &Store, base_url: &str) -> Result<()> {
    let auth = crate::dhis2::Auth::Basic {
        username: "admin".into(),
        password: "district".into(),
    };
    crate::link::save_connection(store, &Actor::Demo, base_url, &auth)
        .context("storing the simulator's connection")?;
    Ok(())
}

/// Renders every card of the demo program; returns (cards ready, directory).
fn render_cards(store: &Store) -> Result<(u64, String)> {
    let request = crate::cards::GenerateRequest::new(PROGRAM_UID);
    let report =
        crate::cards::generate(store, &request, |_| {}).context("rendering the demo cards")?;
    if let Some(failure) = report.cards_failed.first() {
        bail!(
            "{} of {} cards failed to render; first: {}: {}",
            report.cards_failed.len(),
            report.total_cards,
            failure.enrollment_uid,
            failure.error
        );
    }
    Ok((report.cards_generated as u64, report.out_dir))
}

/// A random 6-digit PIN for the demo account.
fn random_pin() -> Result<String> {
    let bytes: [u8; 4] = crate::secret::random_bytes()?;
    Ok(format!("{:06}", u32::from_le_bytes(bytes) % 1_000_000))
}
