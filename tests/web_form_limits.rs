//! Each page form's own body limit, attacked: an admin's session posts one byte more than the
//! route reads (staff accounts 4 KiB, review answers and settings 8 KiB, the mapping editor the
//! front's 64 KiB) and gets 413 with nothing changed, and the server still answers afterwards.
mod support;

use support::*;

#[test]
fn every_form_refuses_a_body_one_byte_over_its_limit_and_changes_nothing() {
    let b = TestBox::new();
    let out = b.kadi(
        &[
            "staff",
            "add",
            "--username",
            "ada",
            "--pin-stdin",
            "--admin",
        ],
        "2468\n",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s = b.serve();
    let cookie = login(&s.url, "ada", "2468");
    let csrf = session_csrf(&s.url, &cookie);
    let audit_rows = || -> i64 {
        rusqlite::Connection::open(&b.db)
            .unwrap()
            .query_row("SELECT count(*) FROM audit_log", [], |r| r.get(0))
            .unwrap()
    };
    let before = audit_rows();
    for (path, limit) in [
        ("/admin/staff/add", 4 * 1024),
        ("/review/decide", 8 * 1024),
        ("/admin/dhis2", 8 * 1024),
        ("/admin/sync-schedule", 8 * 1024),
        ("/admin/mapping", 64 * 1024),
    ] {
        // A well-formed form (token first) whose padding field takes it one byte over.
        let head = format!("csrf={csrf}&username=eve&pad=");
        let pad = "x".repeat(limit + 1 - head.len());
        let got = post_form(
            &format!("{}{path}", s.url),
            Some(&cookie),
            &[("csrf", &csrf), ("username", "eve"), ("pad", &pad)],
        );
        assert_eq!(got.status, 413, "{path}: {}", got.text());
    }
    assert_eq!(audit_rows(), before, "a refused form changed something");
    let health = get(&format!("{}/healthz", s.url), None);
    assert_eq!(health.status, 200);
}
