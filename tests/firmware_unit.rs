//! The box's firmware files: the systemd units verify with `systemd-analyze`, and the install
//! script is idempotent, backs up before an upgrade and keeps the previous binary.
use std::path::{Path, PathBuf};
use std::process::Command;
use support::{require_tool, KADI};

mod support;

fn firmware(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("firmware")
        .join(name)
}

#[test]
fn the_unit_serves_on_the_lan_with_its_state_directory_and_hardening() {
    let unit = std::fs::read_to_string(firmware("kadi.service")).unwrap();
    for line in [
        "ExecStart=/usr/local/bin/kadi serve --listen 0.0.0.0:8080 --db /var/lib/kadi/kadi.db",
        "StateDirectory=kadi",
        "User=kadi",
        "ProtectSystem=strict",
        "NoNewPrivileges=yes",
        "PrivateTmp=yes",
        "Restart=always",
        "Type=notify",
        "NotifyAccess=main",
        "WatchdogSec=60s",
        "LimitNOFILE=4096",
        "MemoryMax=512M",
        "UMask=0077",
        "WantedBy=multi-user.target",
    ] {
        assert!(
            unit.lines().any(|l| l.trim() == line),
            "kadi.service lacks `{line}`"
        );
    }
    // A static user: `sudo -u kadi kadi ...` (the README's staff command) runs as the service.
    assert!(!unit.contains("DynamicUser=yes"));
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    assert!(
        readme.contains("sudo -u kadi /usr/local/bin/kadi --db /var/lib/kadi/kadi.db staff add")
    );
}

#[test]
fn the_backup_timer_runs_a_daily_backup_keeping_seven() {
    let service = std::fs::read_to_string(firmware("kadi-backup.service")).unwrap();
    assert!(service.lines().any(|l| l.trim()
        == "ExecStart=/usr/local/bin/kadi --db /var/lib/kadi/kadi.db backup --to /var/lib/kadi/backups --keep 7"));
    assert!(service.lines().any(|l| l.trim() == "User=kadi"));
    let timer = std::fs::read_to_string(firmware("kadi-backup.timer")).unwrap();
    for line in [
        "OnCalendar=daily",
        "Persistent=true",
        "WantedBy=timers.target",
    ] {
        assert!(
            timer.lines().any(|l| l.trim() == line),
            "timer lacks {line}"
        );
    }
}

#[test]
fn the_units_pass_systemd_analyze_verify() {
    let Some(systemd_analyze) = require_tool("systemd-analyze") else {
        return;
    };
    // The units run /usr/local/bin/kadi, which exists on a box but not on a build machine; verify
    // copies whose ExecStart points at the binary under test instead. Nothing else is changed.
    let dir = tempfile::tempdir().unwrap();
    let exe = KADI;
    let mut paths = Vec::new();
    for name in ["kadi.service", "kadi-backup.service", "kadi-backup.timer"] {
        let unit = std::fs::read_to_string(firmware(name)).unwrap();
        let copy = unit.replace(
            "ExecStart=/usr/local/bin/kadi ",
            &format!("ExecStart={exe} "),
        );
        let path = dir.path().join(name);
        std::fs::write(&path, copy).unwrap();
        paths.push(path);
    }
    let out = Command::new(&systemd_analyze)
        .arg("verify")
        .args(&paths)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    // Lines about other units on this machine (not ours) are not ours to fix.
    let ours: Vec<&str> = stderr.lines().filter(|l| l.contains("kadi")).collect();
    assert!(
        out.status.success() && ours.is_empty(),
        "systemd-analyze verify failed:\n{stderr}"
    );
}

fn install(binary: &Path, prefix: &Path, units: &Path, db: &Path, backups: &Path) {
    let out = Command::new("bash")
        .arg(firmware("install.sh"))
        .arg(binary)
        .env("KADI_PREFIX", prefix)
        .env("KADI_UNIT_DIR", units)
        .env("KADI_DB", db)
        .env("KADI_BACKUP_DIR", backups)
        .env("KADI_NO_ENABLE", "1")
        .output()
        .unwrap();
    support::assert_success(&out);
}

#[test]
fn the_install_script_is_idempotent_backs_up_before_an_upgrade_and_keeps_the_previous_binary() {
    let dir = tempfile::tempdir().unwrap();
    let prefix = dir.path().join("usr-local");
    let units = dir.path().join("units");
    let db = dir.path().join("state/kadi.db");
    let backups = dir.path().join("state/backups");
    let exe = Path::new(KADI);
    let init = Command::new(exe)
        .arg("--db")
        .arg(&db)
        .arg("init")
        .output()
        .unwrap();
    assert!(init.status.success());
    for _ in 0..2 {
        install(exe, &prefix, &units, &db, &backups);
    }
    let installed = prefix.join("bin/kadi");
    let out = Command::new(&installed).arg("--version").output().unwrap();
    assert!(out.status.success());
    for name in ["kadi.service", "kadi-backup.service", "kadi-backup.timer"] {
        assert_eq!(
            std::fs::read(units.join(name)).unwrap(),
            std::fs::read(firmware(name)).unwrap()
        );
    }
    // Same binary twice: nothing to upgrade, so no backup and no previous binary.
    assert!(!backups.exists());
    assert!(!prefix.join("bin/kadi.previous").exists());
    // An upgrade (a different binary): a backup first, the old binary kept to roll back, no
    // temporary file left behind.
    let newer = dir.path().join("kadi-newer");
    let mut bytes = std::fs::read(exe).unwrap();
    let old_bytes = bytes.clone();
    bytes.extend_from_slice(b"\0kadi-upgrade-test");
    std::fs::write(&newer, &bytes).unwrap();
    std::fs::set_permissions(&newer, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    install(&newer, &prefix, &units, &db, &backups);
    assert_eq!(std::fs::read(&installed).unwrap(), bytes);
    assert_eq!(
        std::fs::read(prefix.join("bin/kadi.previous")).unwrap(),
        old_bytes
    );
    let made: Vec<_> = std::fs::read_dir(&backups)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(made.len(), 1, "{made:?}");
    let leftovers: Vec<_> = std::fs::read_dir(prefix.join("bin"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    let out = Command::new(prefix.join("bin/kadi.previous"))
        .arg("--version")
        .output()
        .unwrap();
    assert!(out.status.success());
}
