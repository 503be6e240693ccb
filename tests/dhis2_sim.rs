//! The DHIS2 client against the in-process simulator, over real HTTP on 127.0.0.1: every
//! supported version gives the same version-neutral data, version-specific parameter names are
//! respected, and each kind of failure lands in the right error category.
mod support;

use kadi::dhis2::model::TrackedEntity;
use kadi::dhis2::{Auth, Client, ConnectionConfig, Dhis2Error, TrackedEntityQuery};
use kadi::sim::{self, Fault, Faults, SimConfig, SimHandle, PROGRAM_UID};
use std::time::Duration;

const VERSIONS: [&str; 5] = ["2.36", "2.38", "2.40", "2.41", "2.42"];

fn start(version: &str, records: usize) -> SimHandle {
    sim::start(SimConfig {
        version: version.into(),
        records,
        seed: 7,
        ..SimConfig::default()
    })
    .expect("simulator starts")
}

fn client(sim: &SimHandle, password: &str) -> Client {
    Client::new(ConnectionConfig {
        base_url: sim.base_url.clone(),
        auth: Auth::Basic {
            username: "admin".into(),
            password: password.into(),
        },
    })
    .with_timeout(Duration::from_secs(5))
}

fn query() -> TrackedEntityQuery {
    TrackedEntityQuery {
        program: PROGRAM_UID.into(),
        ..Default::default()
    }
}

fn all_pages(c: &Client, q: &TrackedEntityQuery, page_size: u32) -> Vec<TrackedEntity> {
    let mut out = Vec::new();
    for page in 1.. {
        let p = c.tracked_entities_page(q, page, page_size).expect("page");
        let n = p.items.len();
        out.extend(p.items);
        if n < p.page_size as usize {
            break;
        }
    }
    out
}

#[test]
fn every_version_gives_identical_version_neutral_results() {
    let mut reference: Option<(Vec<TrackedEntity>, usize, usize)> = None;
    for v in VERSIONS {
        let sim = start(v, 120);
        let c = client(&sim, "district");
        let info = c.system_info().unwrap();
        assert_eq!(info.major_minor.1, v[2..].parse::<u32>().unwrap());
        assert!(
            !info.server_date.ends_with('Z') && info.server_date.contains('T'),
            "zone-less: {}",
            info.server_date
        );
        let programs = c.programs().unwrap();
        assert_eq!(programs.len(), 1);
        assert_eq!(programs[0].name, "Carte de santé / Health ID");
        assert_eq!(programs[0].attributes.len(), 9);
        let sex = programs[0]
            .attributes
            .iter()
            .find(|a| a.code.as_deref() == Some("SEX"))
            .unwrap();
        assert_eq!(sex.option_set.as_ref().unwrap().options.len(), 2);
        assert_eq!(c.program(PROGRAM_UID).unwrap(), programs[0]);
        let ous = c.org_units().unwrap();
        assert_eq!(ous.iter().filter(|o| o.level == Some(4)).count(), 36);
        assert_eq!(c.org_unit_count().unwrap(), ous.len() as u64);
        let levels = c.org_unit_levels().unwrap();
        assert_eq!(
            levels.iter().map(|l| l.name.as_str()).collect::<Vec<_>>(),
            ["Country", "Region", "District", "Health Center"]
        );
        let me = c.me().unwrap();
        assert_eq!(me.username.as_deref(), Some("admin"), "{v}");

        let tes = all_pages(&c, &query(), 25);
        // Pages come in creation order (the client asks `order=createdAt:asc`, so edits
        // between pages cannot shift a record out of reach); the snapshot is in registration order.
        let mut snapshot = sim.snapshot();
        snapshot.sort_by(|a, b| (&a.created_at, &a.uid).cmp(&(&b.created_at, &b.uid)));
        assert_eq!(
            tes, snapshot,
            "{v}: the client sees exactly what the server holds, in creation order"
        );
        assert!(
            tes.iter()
                .all(|t| t.enrollments.len() == 1 && !t.attributes.is_empty()),
            "{v}"
        );
        let enrollments: usize = (1..)
            .map(|p| c.enrollments_page(&query(), p, 50).unwrap().items.len())
            .take_while(|&n| n > 0)
            .sum();
        let uids: usize = c
            .tracked_entity_stamps(&query(), 1, 1000, false)
            .unwrap()
            .items
            .len();
        match &reference {
            None => reference = Some((tes, enrollments, uids)),
            Some((r, e, u)) => {
                assert_eq!(&tes, r, "{v} differs from {}", VERSIONS[0]);
                assert_eq!((enrollments, uids), (*e, *u), "{v}");
            }
        }
    }
    let (r, e, u) = reference.unwrap();
    assert_eq!((r.len(), e, u), (120, 120, 120));
}

#[test]
fn org_unit_filters_use_each_versions_parameter_names() {
    let mut counts = Vec::new();
    for v in VERSIONS {
        let sim = start(v, 200);
        let c = client(&sim, "district");
        let district = c
            .org_units()
            .unwrap()
            .into_iter()
            .find(|o| o.name == "Pikine")
            .unwrap();
        let q = TrackedEntityQuery {
            org_units: vec![district.uid.clone()],
            ..query()
        };
        let tes = all_pages(&c, &q, 50);
        let ous = c.org_units().unwrap();
        for te in &tes {
            let ou = ous
                .iter()
                .find(|o| Some(&o.uid) == te.org_unit.as_ref())
                .unwrap();
            assert_eq!(ou.parent_uid.as_ref(), Some(&district.uid), "{v}");
        }
        let some: Vec<String> = tes.iter().take(3).map(|t| t.uid.clone()).collect();
        let by_uid = c.tracked_entities_by_uid(PROGRAM_UID, &some).unwrap();
        let mut got: Vec<String> = by_uid.items.iter().map(|t| t.uid.clone()).collect();
        let mut some = some;
        got.sort();
        some.sort();
        assert_eq!(got, some, "{v}");
        let stats = sim.stats();
        if v >= "2.41" {
            assert_eq!(stats.old_param_requests, 0, "{v}: never the pre-2.41 names");
            assert!(
                sim.request_log()
                    .iter()
                    .all(|r| !r.contains("ouMode=") && !r.contains("orgUnit=")),
                "{v}"
            );
        } else {
            assert_eq!(stats.new_param_requests, 0, "{v}: never the 2.41 names");
        }
        counts.push(tes.len());
    }
    assert!(
        counts[0] > 0 && counts.iter().all(|&n| n == counts[0]),
        "{counts:?}"
    );
}

fn raw_get(url: &str, auth: Option<&str>) -> (u16, String) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .build()
        .into();
    let mut req = agent.get(url);
    if let Some((u, p)) = auth.and_then(|a| a.split_once(':')) {
        use base64::Engine;
        req = req.header(
            "Authorization",
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"))
            ),
        );
    }
    let mut resp = req.call().unwrap();
    let status = resp.status().as_u16();
    (status, resp.body_mut().read_to_string().unwrap_or_default())
}

#[test]
fn version_2_41_rejects_mixed_names_and_2_42_ignores_old_ones() {
    let sim = start("2.41", 50);
    let district = kadi::sim::data::org_units()
        .into_iter()
        .find(|o| o.name == "Pikine")
        .unwrap();
    let url = format!(
        "{}/api/tracker/trackedEntities?program={PROGRAM_UID}&orgUnit={1}&orgUnits={1}&ouMode=DESCENDANTS",
        sim.base_url, district.uid
    );
    let (status, body) = raw_get(&url, Some("admin:district"));
    assert_eq!(status, 400, "{body}");
    assert!(
        body.contains("Only one parameter of 'orgUnit' and 'orgUnits'"),
        "{body}"
    );

    let sim = start("2.42", 50);
    let old = format!(
        "{}/api/tracker/trackedEntities?program={PROGRAM_UID}&orgUnit={}&ouMode=DESCENDANTS&pageSize=100&fields=trackedEntity",
        sim.base_url, district.uid
    );
    let (status, body) = raw_get(&old, Some("admin:district"));
    assert_eq!(status, 200);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        v["trackedEntities"].as_array().unwrap().len(),
        50,
        "2.42 ignores orgUnit and widens the query"
    );
    assert!(
        v.get("page").is_none() && v["pager"]["page"] == 1,
        "2.42 has pager{{}} only"
    );
}

#[test]
fn no_credentials_get_a_302_to_the_login_page() {
    let sim = start("2.40", 5);
    let (status, _) = raw_get(&format!("{}/api/me", sim.base_url), None);
    assert_eq!(status, 302);
    assert_eq!(sim.stats().login_redirects, 1);
}

#[test]
fn a_wrong_password_fails_after_exactly_one_request() {
    let sim = start("2.41", 5);
    let c = client(&sim, "not-the-password");
    let result = kadi::dhis2::test_connection(&c);
    assert_eq!(result.status, "auth_failed");
    assert!(!result.error.unwrap().contains("not-the-password"));
    assert_eq!(sim.request_count(), 1);
    assert_eq!(c.requests_sent(), 1);
    assert_eq!(sim.failed_logins("admin"), 1);
}

#[test]
fn four_failed_logins_lock_the_account() {
    let sim = start("2.41", 5);
    let bad = client(&sim, "wrong");
    for _ in 0..4 {
        assert!(matches!(bad.system_info(), Err(Dhis2Error::AuthFailed(_))));
    }
    assert!(sim.is_locked("admin"));
    let good = client(&sim, "district");
    let err = good.system_info().unwrap_err();
    assert!(matches!(err, Dhis2Error::AuthFailed(_)) && !err.is_retryable());
    sim.reset_lockouts();
    assert!(good.system_info().is_ok());
}

#[test]
fn personal_access_tokens_work_from_2_37() {
    for (v, ok) in [("2.36", false), ("2.38", true), ("2.42", true)] {
        let sim = start(v, 5);
        let c = Client::new(ConnectionConfig {
            base_url: sim.base_url.clone(),
            auth: Auth::Token(sim::DEFAULT_TOKEN.into()),
        });
        assert_eq!(c.system_info().is_ok(), ok, "{v}");
    }
}

#[test]
fn a_closed_port_is_unreachable() {
    let port = support::closed_port();
    let c = Client::new(ConnectionConfig {
        base_url: format!("http://127.0.0.1:{port}"),
        auth: Auth::Basic {
            username: "admin".into(),
            password: "district".into(),
        },
    });
    let err = c.system_info().unwrap_err();
    assert!(matches!(err, Dhis2Error::Unreachable(_)), "{err}");
    assert!(err.is_retryable());
    assert_eq!(kadi::dhis2::test_connection(&c).status, "unreachable");
}

#[test]
fn an_html_answer_is_malformed_with_a_hint_about_the_url() {
    let sim = start("2.41", 5);
    let c = Client::new(ConnectionConfig {
        base_url: format!("{}/dhis", sim.base_url),
        auth: Auth::Basic {
            username: "admin".into(),
            password: "district".into(),
        },
    });
    let err = c.system_info().unwrap_err();
    match &err {
        Dhis2Error::Malformed(m) => assert!(m.contains("HTML") && m.contains("base URL"), "{m}"),
        other => panic!("expected Malformed, got {other}"),
    }
}

#[test]
fn faults_land_in_the_right_error_categories() {
    let sim = start("2.40", 30);
    let c = client(&sim, "district");
    sim.fail_next(1, Fault::Truncate);
    let err = c.tracked_entities_page(&query(), 1, 10).unwrap_err();
    assert!(
        matches!(&err, Dhis2Error::Truncated(m) if m.starts_with("truncated")),
        "{err}"
    );
    assert!(err.is_retryable());

    sim.fail_next(1, Fault::Status(500));
    match c.tracked_entities_page(&query(), 1, 10).unwrap_err() {
        e @ Dhis2Error::Rejected { status: 500, .. } => {
            assert!(e.is_retryable());
            assert!(
                e.to_string()
                    .contains("A wild internal server error appeared!"),
                "{e}"
            );
        }
        other => panic!("expected Rejected 500, got {other}"),
    }
    sim.fail_next(1, Fault::Status(503));
    let err = c.tracked_entities_page(&query(), 1, 10).unwrap_err();
    assert!(
        matches!(err, Dhis2Error::Rejected { status: 503, .. }) && err.is_retryable(),
        "{err}"
    );

    // A connection closed mid-body is seen at once (the client's timeout is 5 s).
    let t = std::time::Instant::now();
    sim.fail_next(1, Fault::Drop);
    let err = c.tracked_entities_page(&query(), 1, 10).unwrap_err();
    assert!(
        matches!(err, Dhis2Error::Interrupted(_)) && err.is_retryable(),
        "{err}"
    );
    assert!(t.elapsed() < Duration::from_secs(4), "{:?}", t.elapsed());
    // A stalled answer waits for the timeout.
    let quick = client(&sim, "district").with_timeout(Duration::from_millis(1500));
    quick.set_version((2, 40));
    sim.fail_next(1, Fault::Stall);
    let err = quick.tracked_entities_page(&query(), 1, 10).unwrap_err();
    assert!(
        matches!(err, Dhis2Error::TimedOut { midway: true, .. }) && err.is_retryable(),
        "{err}"
    );

    // After the faults, the same request works.
    assert_eq!(
        c.tracked_entities_page(&query(), 1, 10)
            .unwrap()
            .items
            .len(),
        10
    );
    assert_eq!(sim.stats().faults_injected, 5);
}

#[test]
fn a_capped_page_size_is_reported_so_paging_does_not_stop_early() {
    let sim = sim::start(SimConfig {
        version: "2.41".into(),
        records: 45,
        faults: Faults {
            max_page_size: Some(20),
            ..Faults::default()
        },
        ..SimConfig::default()
    })
    .unwrap();
    let c = client(&sim, "district");
    let p = c.tracked_entities_page(&query(), 1, 50).unwrap();
    assert_eq!((p.items.len(), p.page_size), (20, 20));
    assert_eq!(all_pages(&c, &query(), 50).len(), 45);
}

#[test]
fn edits_deletions_and_new_records_come_back_incrementally() {
    for v in ["2.38", "2.42"] {
        let sim = start(v, 60);
        let c = client(&sim, "district");
        let watermark = c.system_info().unwrap().server_date;
        let edited = sim.tracked_entity_uid(3);
        let deleted = sim.tracked_entity_uid(4);
        sim.edit_attribute(&edited, "FIRST_NAME", Some("Ndèye Coumba"))
            .unwrap();
        sim.delete_tracked_entity(&deleted).unwrap();
        let added = sim.add_records(3);
        let q = TrackedEntityQuery {
            updated_after: Some(watermark.clone()),
            include_deleted: true,
            ..query()
        };
        let changed = all_pages(&c, &q, 50);
        let uids: Vec<&str> = changed.iter().map(|t| t.uid.as_str()).collect();
        assert_eq!(changed.len(), 5, "{v}: {uids:?}");
        let e = changed.iter().find(|t| t.uid == edited).unwrap();
        assert!(e.attributes.iter().any(|a| a.value == "Ndèye Coumba"));
        assert!(changed.iter().find(|t| t.uid == deleted).unwrap().deleted);
        assert!(added.iter().all(|a| uids.contains(&a.as_str())));
        let q = TrackedEntityQuery {
            updated_after: Some(watermark),
            include_deleted: false,
            ..query()
        };
        assert_eq!(
            all_pages(&c, &q, 50).len(),
            4,
            "{v}: deleted ones only with includeDeleted"
        );
        assert_eq!(all_pages(&c, &query(), 50).len(), 62, "{v}");
    }
}

#[test]
fn truth_pairs_name_enrollments_of_the_same_person() {
    let sim = start("2.41", 500);
    let pairs = sim.truth_pairs();
    assert!(pairs.len() >= 30, "about 10% duplicates: {}", pairs.len());
    for (a, b) in &pairs {
        let (ia, ib) = (sim.record_index(a).unwrap(), sim.record_index(b).unwrap());
        assert!(ia < ib);
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("truth.csv");
    assert_eq!(sim.write_truth(&path).unwrap(), pairs.len());
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.starts_with("id_a,id_b\n"));
    // Same seed, same data and truth.
    let again = start("2.38", 500);
    assert_eq!(again.truth_pairs(), pairs);
}

#[test]
fn the_simulator_serves_100k_records_and_reports_its_speed() {
    let started = std::time::Instant::now();
    let sim = start("2.41", 100_000);
    let startup = started.elapsed();
    let c = client(&sim, "district");
    c.system_info().unwrap();
    let t = std::time::Instant::now();
    let pages = 6;
    let mut bytes = 0;
    for page in [1u32, 2, 3, 100, 150, 200] {
        let p = c.tracked_entities_page(&query(), page, 500).unwrap();
        assert_eq!(p.items.len(), 500);
        bytes += p.bytes;
    }
    let per_page = t.elapsed() / pages;
    println!(
        "| sim records | startup | page size | time per page | pages/s | bytes/page |\n| 100000 | {startup:?} | 500 | {per_page:?} | {:.1} | {} |",
        1.0 / per_page.as_secs_f64(),
        bytes / pages as u64
    );
    assert!(c
        .tracked_entities_page(&query(), 201, 500)
        .unwrap()
        .items
        .is_empty());
}

#[test]
fn a_redirect_to_the_login_page_is_an_auth_failure() {
    let sim = start("2.41", 5);
    let c = client(&sim, "district");
    c.set_version((2, 41));
    sim.fail_next(1, Fault::Status(302));
    let err = c.tracked_entities_page(&query(), 1, 10).unwrap_err();
    assert!(
        matches!(&err, Dhis2Error::AuthFailed(m) if m.contains("login page")),
        "{err}"
    );
    assert!(!err.is_retryable());
}

#[test]
fn unchanged_metadata_is_served_from_the_client_cache_on_304() {
    let sim = start("2.40", 5);
    let c = client(&sim, "district");
    let first = c.programs().unwrap();
    let levels = c.org_unit_levels().unwrap();
    assert_eq!(sim.stats().not_modified, 0);
    assert_eq!(c.programs().unwrap(), first);
    assert_eq!(c.org_unit_levels().unwrap(), levels);
    assert_eq!(sim.stats().not_modified, 2);
}

#[test]
fn the_total_is_available_for_progress_in_every_version() {
    for v in VERSIONS {
        let sim = start(v, 37);
        let c = client(&sim, "district");
        assert_eq!(c.tracked_entities_total(&query()).unwrap(), Some(37), "{v}");
    }
}

#[test]
fn enrollments_come_only_when_fields_name_them() {
    for v in ["2.36", "2.38", "2.41"] {
        let sim = start(v, 3);
        let base = format!("{}/api/tracker/trackedEntities?program={PROGRAM_UID}&ouMode=ACCESSIBLE&orgUnitMode=ACCESSIBLE", sim.base_url);
        let base = if v == "2.41" {
            base.replace("&ouMode=ACCESSIBLE", "")
        } else {
            base.replace("&orgUnitMode=ACCESSIBLE", "")
        };
        for (fields, expect) in [
            ("", false),
            ("&fields=trackedEntity,attributes", false),
            ("&fields=trackedEntity,enrollments", true),
        ] {
            let (status, body) = raw_get(&format!("{base}{fields}"), Some("admin:district"));
            assert_eq!(status, 200, "{v}{fields}: {body}");
            assert_eq!(body.contains("\"enrollments\""), expect, "{v} {fields}");
            // 2.36 adds events only for the keyword `events`; 2.38+ expands a bare `enrollments`.
            if v == "2.36" || !expect {
                assert!(
                    !body.contains("\"events\""),
                    "{v} {fields}: events never asked for"
                );
            }
        }
    }
}

/// A simulator keeps its messages to itself: one started later on the same port (as the OS hands
/// out a freed port again while tests run in parallel) begins with none. Once they were kept per
/// address for the whole process, and a test read another test's WhatsApp message as its own.
#[test]
fn a_simulator_on_a_reused_port_starts_with_no_messages() {
    let send_sms = |sim: &SimHandle| {
        let url = sim
            .sms_gateway_url()
            .replace("{to}", "%2B221761112233")
            .replace("{text}", "Bonjour")
            .replace("{id}", "m1");
        let r = ureq::get(&url)
            .header("X-Api-Key", sim::messaging::GATEWAY_KEY)
            .call()
            .unwrap();
        assert_eq!(r.status(), 200);
    };
    let first = start("2.41", 1);
    let addr = first.base_url.trim_start_matches("http://").to_string();
    send_sms(&first);
    assert_eq!(first.messages_accepted().len(), 1);
    drop(first);
    let second = sim::start(SimConfig {
        listen: addr.clone(),
        version: "2.41".into(),
        records: 1,
        seed: 7,
        ..SimConfig::default()
    })
    .expect("the freed port can be listened on again");
    assert_eq!(second.base_url, format!("http://{addr}"));
    assert!(second.messages_received().is_empty());
    send_sms(&second);
    assert_eq!(second.messages_accepted().len(), 1);
}
