//! The same sync tests against both DHIS2 sources the engine can talk to through
//! `kadi::sync::Dhis2Source`: the HTTP simulator on 127.0.0.1 (the real client, real HTTP) and
//! the in-process fake (`kadi::sync::fake::FakeDhis2`, no HTTP), each into a real SQLite file.
//! Each test body runs once per source; the last test shows the two hold and sync the same data.
mod support;

use kadi::dhis2::{Auth, Client, ConnectionConfig, Dhis2Error};
use kadi::sim::{Fault, Faults, SimHandle};
use kadi::store::Store;
use kadi::sync::fake::{Call, FakeDhis2};
use kadi::sync::{run_from, run_from_with_report, Dhis2Source, SyncOptions};
use support::*;

const SEED: u64 = 7;

/// One DHIS2 to sync from, with the faults both kinds can inject.
enum Server {
    Http(SimHandle, Client),
    Fake(FakeDhis2),
}

impl Server {
    fn start(kind: &str, version: &str, records: usize) -> Server {
        match kind {
            "http" => {
                let sim = kadi::sim::start(kadi::sim::SimConfig {
                    version: version.into(),
                    records,
                    seed: SEED,
                    ..Default::default()
                })
                .unwrap();
                let client = Client::new(ConnectionConfig {
                    base_url: sim.base_url.clone(),
                    auth: Auth::Basic {
                        username: "admin".into(),
                        password: "district".into(),
                    },
                });
                Server::Http(sim, client)
            }
            _ => Server::Fake(FakeDhis2::new(version, records, SEED).unwrap()),
        }
    }

    fn source(&self) -> &dyn Dhis2Source {
        match self {
            Server::Http(_, c) => c,
            Server::Fake(f) => f,
        }
    }

    /// The next tracked-entity page fails with HTTP `status` (the fake: the error the client
    /// makes of it).
    fn fail_next_page(&self, status: u16) {
        match self {
            Server::Http(sim, _) => sim.fail_next(1, Fault::Status(status)),
            Server::Fake(f) => f.fail_next(
                Call::TrackedEntitiesPage,
                Dhis2Error::Rejected {
                    status,
                    message: format!("injected {status}"),
                },
            ),
        }
    }

    /// The server answers at most `n` records per page.
    fn cap_page_size(&self, n: u32) {
        match self {
            Server::Http(sim, _) => sim.set_faults(Faults {
                max_page_size: Some(n),
                ..Default::default()
            }),
            Server::Fake(f) => f.cap_page_size(n),
        }
    }

    fn snapshot(&self) -> Vec<kadi::dhis2::model::TrackedEntity> {
        match self {
            Server::Http(sim, _) => sim.snapshot(),
            Server::Fake(f) => f.snapshot(),
        }
    }
}

/// A store at `dir/kadi.db` with the program's metadata from `server` and the demo mapping.
fn mapped_store(dir: &std::path::Path, server: &Server) -> Store {
    let store = Store::open(&dir.join("kadi.db")).unwrap();
    kadi::sync::refresh_metadata_from(&store, server.source(), PROGRAM).unwrap();
    kadi::mapping::set_mapping(
        &store,
        &kadi::actor::Actor::Cli,
        &kadi::demo::demo_mapping(),
    )
    .unwrap();
    store
}

fn opts() -> SyncOptions {
    SyncOptions {
        page_size: 50,
        backoff_base_ms: 1,
        backoff_cap_ms: 5,
        ..Default::default()
    }
}

/// Runs `body` against the HTTP simulator, then against the fake, with the same data.
fn each_source(version: &str, records: usize, body: impl Fn(&str, &Server, &Store)) {
    for kind in ["http", "fake"] {
        let server = Server::start(kind, version, records);
        let dir = tempfile::tempdir().unwrap();
        let store = mapped_store(dir.path(), &server);
        body(kind, &server, &store);
    }
}

/// The server's live records as `te`/`av` lines (what `entity_lines(dump(..))` must equal).
fn server_lines(server: &Server) -> Vec<String> {
    record_lines(server.snapshot())
}

#[test]
fn a_first_sync_stores_every_record_from_either_source() {
    each_source("2.41", 120, |kind, server, store| {
        let r = run_from(store, server.source(), PROGRAM, &opts()).unwrap();
        assert_eq!(r.status, "ok", "{kind}");
        assert_eq!(
            (r.pulled, r.created, r.updated, r.deleted, r.pages),
            (120, 120, 0, 0, 3),
            "{kind}: two full pages of 50 and a short one"
        );
        assert!(r.watermark.is_some(), "{kind}");
        assert_eq!(store.count("tracked_entities").unwrap(), 120, "{kind}");
        assert_eq!(
            store.count("card_records").unwrap(),
            store.count("enrollments").unwrap(),
            "{kind}"
        );
        assert_eq!(
            entity_lines(&dump(store.path())),
            server_lines(server),
            "{kind}"
        );
        assert_eq!(store.sync_runs(1).unwrap()[0].status, "ok", "{kind}");
    });
}

#[test]
fn a_second_sync_from_either_source_changes_nothing() {
    each_source("2.40", 80, |kind, server, store| {
        run_from(store, server.source(), PROGRAM, &opts()).unwrap();
        let first = dump(store.path());
        let r = run_from(store, server.source(), PROGRAM, &opts()).unwrap();
        assert_eq!(
            (r.created, r.updated, r.deleted, r.cards_changed),
            (0, 0, 0, 0),
            "{kind}"
        );
        assert_eq!(dump(store.path()), first, "{kind}");
    });
}

#[test]
fn the_guardrail_blocks_hiv_status_from_either_source() {
    each_source("2.41", 100, |kind, server, store| {
        let r = run_from(store, server.source(), PROGRAM, &opts()).unwrap();
        assert!(r.sensitive_blocked > 0, "{kind}: the data has HIV statuses");
        let hiv_uid = kadi::sim::data::program()
            .attributes
            .into_iter()
            .find(|a| a.code.as_deref() == Some("HIV_STATUS"))
            .unwrap()
            .uid;
        assert_eq!(r.sensitive_attributes.len(), 1, "{kind}");
        assert_eq!(
            r.sensitive_attributes[0].attribute,
            format!("{hiv_uid} HIV_STATUS"),
            "{kind}"
        );
        assert_eq!(
            r.sensitive_attributes[0].values_blocked, r.sensitive_blocked,
            "{kind}"
        );
        let hiv = dump(store.path())
            .iter()
            .filter(|l| l.contains(&hiv_uid))
            .count();
        assert_eq!(hiv, 0, "{kind}: an HIV status reached the store");
    });
}

#[test]
fn a_transient_error_is_retried_and_the_run_completes_from_either_source() {
    each_source("2.41", 120, |kind, server, store| {
        server.fail_next_page(503);
        let r = run_from(store, server.source(), PROGRAM, &opts()).unwrap();
        assert_eq!((r.pulled, r.created), (120, 120), "{kind}");
        assert!(
            r.errors
                .iter()
                .any(|e| e.contains("503") && e.contains("retried")),
            "{kind}: {:?}",
            r.errors
        );
        assert_eq!(
            entity_lines(&dump(store.path())),
            server_lines(server),
            "{kind}"
        );
    });
}

#[test]
fn a_rejected_page_fails_the_run_without_retry_from_either_source() {
    each_source("2.41", 60, |kind, server, store| {
        server.fail_next_page(409);
        let (r, result) = run_from_with_report(store, server.source(), PROGRAM, &opts());
        let err = format!("{:#}", result.unwrap_err());
        assert!(err.contains("409"), "{kind}: {err}");
        assert_eq!(r.status, "failed", "{kind}");
        assert!(
            !r.errors.iter().any(|e| e.contains("retried")),
            "{kind}: {:?}",
            r.errors
        );
        assert_eq!(store.sync_runs(1).unwrap()[0].status, "failed", "{kind}");
        // The next run completes the store.
        let r = run_from(store, server.source(), PROGRAM, &opts()).unwrap();
        assert_eq!(r.status, "ok", "{kind}");
        assert_eq!(store.count("tracked_entities").unwrap(), 60, "{kind}");
    });
}

#[test]
fn a_server_capping_the_page_size_is_paged_to_the_end_from_either_source() {
    each_source("2.41", 110, |kind, server, store| {
        server.cap_page_size(20);
        let r = run_from(store, server.source(), PROGRAM, &opts()).unwrap();
        assert_eq!(r.pulled, 110, "{kind}");
        assert_eq!(r.pages, 6, "{kind}: five full pages of 20 and a short one");
        assert_eq!(
            entity_lines(&dump(store.path())),
            server_lines(server),
            "{kind}"
        );
    });
}

#[test]
fn the_fake_serves_the_same_records_as_the_http_simulator_and_syncs_into_the_same_store() {
    for version in ["2.38", "2.41", "2.42"] {
        let http = Server::start("http", version, 150);
        let fake = Server::start("fake", version, 150);
        assert_eq!(http.snapshot(), fake.snapshot(), "{version}: the records");
        let http_info = http.source().system_info().unwrap();
        let fake_info = fake.source().system_info().unwrap();
        assert_eq!(
            (http_info.version, http_info.major_minor),
            (fake_info.version, fake_info.major_minor),
            "{version}"
        );
        assert_eq!(
            http.source().program(PROGRAM).unwrap(),
            fake.source().program(PROGRAM).unwrap(),
            "{version}: the program"
        );
        assert_eq!(
            http.source().org_units().unwrap(),
            fake.source().org_units().unwrap(),
            "{version}: the org units"
        );
        let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
        let dumps: Vec<Vec<String>> = [&http, &fake]
            .iter()
            .zip(&dirs)
            .map(|(server, dir)| {
                let store = mapped_store(dir.path(), server);
                let mut o = opts();
                o.resolve_mpi = false;
                run_from(&store, server.source(), PROGRAM, &o).unwrap();
                dump(store.path())
            })
            .collect();
        assert!(dumps[0].len() > 150 * 3, "{version}");
        assert_eq!(dumps[0], dumps[1], "{version}: the stores differ");
    }
}
