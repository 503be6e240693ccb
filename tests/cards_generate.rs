//! Bulk generation against a real store: tasks, content hashes, resume, filters, sheets and the
//! `kadi cards generate` command.
use kadi::cards::{generate, GenerateRequest, TaskView};
use kadi::record::{CardFields, CardRecord};
use kadi::store::Store;
use rusqlite::{params, Connection};
use std::path::Path;
use support::{run, KADI, PROGRAM};

mod support;

/// Seeds `n` enrollments with card records and MPI links (the first `n_linked` linked).
fn seed(db: &Path, n: usize) -> Store {
    let store = Store::open(db).unwrap();
    let c = Connection::open(db).unwrap();
    for i in 0..n {
        let (te, en) = (format!("TE{i:09}"), format!("EN{i:09}"));
        let status = if i % 3 == 0 { "COMPLETED" } else { "ACTIVE" };
        c.execute(
            "INSERT INTO tracked_entities(uid, synced_at) VALUES (?1, '2026-01-01T00:00:00Z')",
            params![te],
        )
        .unwrap();
        c.execute(
            "INSERT INTO enrollments(uid, tracked_entity_uid, program_uid, org_unit_uid, enrolled_at, status, synced_at)
             VALUES (?1, ?2, ?3, 'OU_MEDINA01', ?4, ?5, '2026-01-01T00:00:00Z')",
            params![en, te, PROGRAM, format!("2026-01-{:02}", 1 + i % 28), status],
        )
        .unwrap();
        let fields = CardFields {
            first_name: Some(["Aïssatou", "Ŋoné", "Mame Diarra"][i % 3].into()),
            last_name: Some(["Fall", "N’Diaye", "Sène"][i % 3].into()),
            date_of_birth: Some("1990-05-17".into()),
            gender: Some(["F", "M", "U"][i % 3].into()),
            health_center: Some("Centre de Santé de Médina".into()),
            enrollment_date: Some(format!("2026-01-{:02}", 1 + i % 28)),
            ..Default::default()
        };
        store
            .upsert_card_record(&CardRecord {
                enrollment_uid: en.clone(),
                tracked_entity_uid: te,
                program_uid: PROGRAM.into(),
                fields,
            })
            .unwrap();
        let mpi = format!("SN-DKR-26-{i:08}-Z");
        c.execute(
            "INSERT INTO mpi_identities(mpi_id, created_at, updated_at) VALUES (?1, 'x', 'x')",
            params![mpi],
        )
        .unwrap();
        c.execute(
            "INSERT INTO mpi_links(enrollment_uid, mpi_id, method, linked_at) VALUES (?1, ?2, 'new', 'x')",
            params![en, mpi],
        )
        .unwrap();
    }
    store
}

fn request(out: &Path) -> GenerateRequest {
    GenerateRequest {
        out_dir: Some(out.display().to_string()),
        ..GenerateRequest::new(PROGRAM)
    }
}

#[test]
fn generate_renders_every_card_and_leaves_a_done_task_with_full_progress() {
    let dir = tempfile::tempdir().unwrap();
    let store = seed(&dir.path().join("kadi.db"), 12);
    let out = dir.path().join("out");
    let mut seen: Vec<TaskView> = Vec::new();
    let r = generate(&store, &request(&out), |t| seen.push(t.clone())).unwrap();
    assert_eq!(
        (r.cards_generated, r.cards_rendered, r.total_cards),
        (12, 12, 12)
    );
    assert_eq!(std::fs::read_dir(&out).unwrap().count(), 12);
    assert_eq!(seen.first().map(|t| t.status.as_str()), Some("generating"));
    let last = seen.last().unwrap();
    assert_eq!(
        (
            last.status.as_str(),
            last.progress,
            last.cards_generated,
            last.total_cards
        ),
        ("done", 100.0, 12, 12)
    );
    let view = kadi::cards::generate::task_view(&store, &r.task_id)
        .unwrap()
        .unwrap();
    assert_eq!(view.status, "done");
    assert!(view.started_at.is_some());
}

#[test]
fn a_second_run_re_renders_only_the_cards_whose_content_changed() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("kadi.db");
    let store = seed(&db, 6);
    let out = dir.path().join("out");
    generate(&store, &request(&out), |_| {}).unwrap();
    let mut rec = store.card_record("EN000000002").unwrap().unwrap().record;
    rec.fields.first_name = Some("Fatou".into());
    store.upsert_card_record(&rec).unwrap();
    let r = generate(&store, &request(&out), |_| {}).unwrap();
    assert_eq!(
        (r.cards_rendered, r.cards_unchanged, r.cards_generated),
        (1, 5, 6)
    );
}

#[test]
fn an_empty_or_cut_png_left_by_a_power_cut_is_drawn_again_and_cards_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let store = seed(&dir.path().join("kadi.db"), 5);
    let out = dir.path().join("out");
    generate(&store, &request(&out), |_| {}).unwrap();
    let png = |uid: &str| out.join(format!("{uid}_pulse_300.png"));
    // What a power cut before the data reached the card leaves: an empty file, a cut file, and
    // a temporary file that never got renamed.
    std::fs::write(png("EN000000001"), b"").unwrap();
    let whole = std::fs::read(png("EN000000003")).unwrap();
    std::fs::write(png("EN000000003"), &whole[..whole.len() / 2]).unwrap();
    let stale = out.join(".EN000000004_pulse_300.png.tmp-00112233aabb");
    std::fs::write(&stale, b"\x89PNG").unwrap();
    let again = generate(&store, &request(&out), |_| {}).unwrap();
    assert_eq!((again.cards_rendered, again.cards_unchanged), (2, 3));
    for uid in ["EN000000001", "EN000000003"] {
        assert!(kadi::fsx::is_complete_png(&png(uid)), "{uid} not redrawn");
    }
    assert_eq!(std::fs::read(png("EN000000003")).unwrap(), whole);
    // A fresh temp is left alone (it could be another writer's); the card itself is whole.
    assert!(stale.exists());
    for entry in std::fs::read_dir(&out).unwrap() {
        let entry = entry.unwrap();
        if entry.path() == stale {
            continue;
        }
        let mode = entry.metadata().unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{:?}", entry.file_name());
    }
    let dir_mode = std::fs::metadata(&out).unwrap().permissions().mode() & 0o777;
    assert_eq!(dir_mode, 0o700);
}

#[test]
fn a_killed_task_resumes_as_the_same_task_and_renders_only_what_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    let store = seed(&dir.path().join("kadi.db"), 8);
    let out = dir.path().join("out");
    let first = generate(&store, &request(&out), |_| {}).unwrap();
    // As if killed mid-run: the task is still generating and three PNGs never made it to disk.
    store.start_task(&first.task_id, 8, 5).unwrap();
    for uid in ["EN000000001", "EN000000004", "EN000000007"] {
        std::fs::remove_file(out.join(format!("{uid}_pulse_300.png"))).unwrap();
    }
    let again = generate(&store, &request(&out), |_| {}).unwrap();
    assert_eq!(again.task_id, first.task_id);
    assert_eq!((again.cards_rendered, again.cards_unchanged), (3, 5));
    assert_eq!(store.task(&first.task_id).unwrap().unwrap().status, "done");
}

#[test]
fn the_enrollment_filter_limits_cards_by_status_and_date() {
    let dir = tempfile::tempdir().unwrap();
    let store = seed(&dir.path().join("kadi.db"), 9);
    let mut req = request(&dir.path().join("out"));
    req.enrollment_filter.enrollment_status = Some("COMPLETED".into());
    assert_eq!(generate(&store, &req, |_| {}).unwrap().total_cards, 3);
    let mut req = request(&dir.path().join("out2"));
    req.enrollment_filter.enrollment_date_from = Some("2026-01-04".into());
    req.enrollment_filter.enrollment_date_to = Some("2026-01-06".into());
    assert_eq!(generate(&store, &req, |_| {}).unwrap().total_cards, 3);
    req.enrollment_filter.enrollment_date_to = Some("06/01/2026".into());
    let err = generate(&store, &req, |_| {}).unwrap_err().to_string();
    assert!(err.contains("enrollment_date_to"), "{err}");
}

#[test]
fn sheets_put_ten_cards_on_an_a4_png_at_300_dpi_and_an_html_page_in_mm() {
    let dir = tempfile::tempdir().unwrap();
    let store = seed(&dir.path().join("kadi.db"), 11);
    let out = dir.path().join("out");
    let r = generate(
        &store,
        &GenerateRequest {
            sheets: true,
            ..request(&out)
        },
        |_| {},
    )
    .unwrap();
    assert_eq!(r.sheets.len(), 2);
    let dec = png::Decoder::new(std::fs::File::open(&r.sheets[0]).unwrap());
    let reader = dec.read_info().unwrap();
    assert_eq!((reader.info().width, reader.info().height), (2480, 3508));
    assert_eq!(reader.info().pixel_dims.map(|d| d.xppu), Some(11811));
    let html = std::fs::read_to_string(r.html.unwrap()).unwrap();
    assert_eq!(html.matches("<img ").count(), 11);
    assert!(html.contains("size: A4") && html.contains("85.6mm"));
}

#[test]
fn preview_png_renders_one_enrollment_from_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let store = seed(&dir.path().join("kadi.db"), 2);
    let png = kadi::cards::preview_png(&store, "EN000000001", "shield", 450).unwrap();
    let reader = png::Decoder::new(std::io::Cursor::new(png))
        .read_info()
        .unwrap();
    assert_eq!((reader.info().width, reader.info().height), (1517, 956));
    let err = kadi::cards::preview_png(&store, "NOPE", "shield", 300)
        .unwrap_err()
        .to_string();
    assert!(err.contains("NOPE"), "{err}");
}

#[test]
fn the_generate_command_prints_cards_generated_and_seconds_as_json() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("kadi.db");
    drop(seed(&db, 5));
    let out = dir.path().join("cards");
    let o = run(
        &db,
        &[
            "cards",
            "generate",
            "--program",
            PROGRAM,
            "--template",
            "pulse",
            "--dpi",
            "300",
            "--out",
            out.to_str().unwrap(),
            "--json",
        ],
        None,
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["cards_generated"], 5);
    assert!(v["seconds"].as_f64().is_some());
    let body = dir.path().join("body.json");
    std::fs::write(&body, format!(r#"{{"programme_uid":"{PROGRAM}","template":"nomad","dpi":300,"include_mpi_id":false,"enrollment_filter":{{"enrollment_status":"ACTIVE"}}}}"#)).unwrap();
    let o = run(
        &db,
        &[
            "cards",
            "generate",
            "--body",
            body.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--json",
        ],
        None,
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["total_cards"], 3);
}

#[test]
fn the_preview_command_writes_one_card_png_and_refuses_an_unknown_template() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("kadi.db");
    drop(seed(&db, 1));
    let out = dir.path().join("card.png");
    let preview = |template: &str| {
        run(
            &db,
            &[
                "cards",
                "preview",
                "--enrollment",
                "EN000000000",
                "--template",
                template,
                "--dpi",
                "300",
                "--out",
                out.to_str().unwrap(),
            ],
            None,
        )
    };
    let o = preview("horizon");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let reader = png::Decoder::new(std::fs::File::open(&out).unwrap())
        .read_info()
        .unwrap();
    assert_eq!((reader.info().width, reader.info().height), (1011, 638));
    let o = preview("glitter");
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("unknown template"));
}

#[test]
fn generate_resumes_after_the_process_is_killed_mid_run() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("kadi.db");
    drop(seed(&db, 400));
    let out = dir.path().join("cards");
    let args = |c: &mut std::process::Command| {
        c.args([
            "--db",
            db.to_str().unwrap(),
            "cards",
            "generate",
            "--program",
            PROGRAM,
            "--threads",
            "1",
        ])
        .args(["--out", out.to_str().unwrap(), "--json"]);
    };
    let mut cmd = std::process::Command::new(KADI);
    args(&mut cmd);
    let mut child = cmd.stdout(std::process::Stdio::null()).spawn().unwrap();
    let conn = Connection::open(&db).unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let killed_at = loop {
        let row: Option<(String, i64)> = conn
            .query_row("SELECT status, done FROM tasks", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .ok();
        if let Some((status, done)) = row {
            if status == "generating" && done >= 128 {
                child.kill().unwrap();
                break Some(done);
            }
            if status == "done" {
                break None;
            }
        }
        assert!(
            std::time::Instant::now() < deadline,
            "generation never progressed"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    };
    let _ = child.wait();
    eprintln!("killed after {killed_at:?} cards");
    let mut cmd = std::process::Command::new(KADI);
    args(&mut cmd);
    let o = cmd.output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["cards_generated"], 400);
    let tasks: i64 = conn
        .query_row(
            "SELECT count(*) FROM tasks WHERE status = 'done'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(tasks, 1, "the killed task was resumed, not duplicated");
    if let Some(done) = killed_at {
        assert!(
            v["cards_unchanged"].as_i64().unwrap() >= done,
            "cards finished before the kill are not rendered again: {v}"
        );
        assert!(v["cards_rendered"].as_i64().unwrap() < 400);
    }
}
