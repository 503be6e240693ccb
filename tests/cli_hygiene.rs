//! The command line as an operator meets it: a mistyped `--db` directory is an error (only
//! `kadi init` creates one), a closed stdout ends quietly, files are private whatever the umask,
//! and an empty key file left by a power cut gives a clear error instead of a silent new key.
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use support::{run, KADI};

mod support;

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[test]
fn a_missing_db_directory_is_an_error_for_every_command_but_init() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("no/such/dir/k.db");
    for args in [
        &["staff", "list", "--json"][..],
        &["serve", "--listen", "127.0.0.1:0", "--no-scheduler"][..],
        &["schedule", "show", "--json"][..],
        &["backup", "--to", "/tmp/never"][..],
    ] {
        let out = run(&db, args, None);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} succeeded");
        assert!(
            stderr.contains("does not exist") || stderr.contains("no database"),
            "{args:?}: {stderr}"
        );
        assert!(
            !dir.path().join("no").exists(),
            "{args:?} created directories"
        );
    }
    let out = run(&db, &["init", "--json"], None);
    support::assert_success(&out);
    assert!(db.exists());
    assert_eq!(mode(&dir.path().join("no/such/dir")), 0o700);
    let out = run(&db, &["staff", "list", "--json"], None);
    support::assert_success(&out);
}

#[test]
fn a_stdout_closed_early_ends_quietly_without_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("kadi.db");
    assert!(run(&db, &["init"], None).status.success());
    for args in [
        &["cards", "templates", "--json"][..],
        &["staff", "list", "--json"][..],
        &["init", "--json"][..],
    ] {
        // A pipe whose reading end is closed before kadi writes a byte: every write is EPIPE,
        // as with `kadi ... --json | head -c1` once head has exited.
        let mut fds = [0i32; 2];
        assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
        unsafe { libc::close(fds[0]) };
        let write_end =
            unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fds[1]) };
        let out = Command::new(KADI)
            .arg("--db")
            .arg(&db)
            .args(args)
            .stdout(Stdio::from(write_end))
            .stderr(Stdio::piped())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{args:?}: {:?} {stderr}", out.status);
        assert!(
            !stderr.contains("panicked") && !stderr.contains("Broken pipe"),
            "{args:?}: {stderr}"
        );
    }
}

#[test]
fn the_database_wal_and_key_file_are_private_whatever_the_umask() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("kadi.db");
    // A permissive umask, as a shell or cron might start kadi with.
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "umask 000 && printf 'district\\n' | '{KADI}' --db '{}' dhis2 config --url http://127.0.0.1:9/ --username admin --password-stdin --json",
            db.display()
        ))
        .output()
        .unwrap();
    support::assert_success(&out);
    let key = dir.path().join("kadi.db.key");
    for f in [&db, &key] {
        assert_eq!(mode(f), 0o600, "{}", f.display());
    }
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "umask 000 && '{KADI}' --db '{}' staff list --json",
            db.display()
        ))
        .output()
        .unwrap();
    support::assert_success(&out);
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let p = entry.unwrap().path();
        assert_eq!(mode(&p) & 0o077, 0, "{} is readable by others", p.display());
    }
}

#[test]
fn an_empty_key_file_is_a_clear_error_and_is_never_silently_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("kadi.db");
    let config = [
        "dhis2",
        "config",
        "--url",
        "http://127.0.0.1:9/",
        "--username",
        "admin",
        "--password-stdin",
        "--json",
    ];
    let out = run(&db, &config, Some("district\n"));
    support::assert_success(&out);
    let key = dir.path().join("kadi.db.key");
    // A power cut while the key was being written (before kadi wrote it atomically).
    std::fs::write(&key, b"").unwrap();
    for args in [&["dhis2", "test", "--json"][..], &["dhis2", "test"][..]] {
        let out = run(&db, args, None);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?}");
        assert!(
            stderr.contains("damaged") && stderr.contains("kadi dhis2 config"),
            "{args:?}: {stderr}"
        );
        assert_eq!(
            std::fs::read(&key).unwrap().len(),
            0,
            "{args:?} replaced the key"
        );
    }
    // Entering the secret again makes a new key, and the secret opens with it.
    let out = run(&db, &config, Some("district\n"));
    support::assert_success(&out);
    assert_eq!(std::fs::read(&key).unwrap().len(), 32);
    assert_eq!(mode(&key), 0o600);
    let out = run(&db, &["dhis2", "test", "--json"], None);
    let stdout = String::from_utf8_lossy(&out.stdout);
    // Port 9 answers nothing: unreachable, which means the secret opened.
    assert!(
        stdout.contains("unreachable"),
        "{stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
