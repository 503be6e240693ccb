//! The box's firmware files: the systemd unit verifies with `systemd-analyze` and the install
//! script is idempotent.
use std::path::{Path, PathBuf};
use std::process::Command;

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
        "DynamicUser=yes",
        "ProtectSystem=strict",
        "NoNewPrivileges=yes",
        "PrivateTmp=yes",
        "Restart=on-failure",
        "WantedBy=multi-user.target",
    ] {
        assert!(
            unit.lines().any(|l| l.trim() == line),
            "kadi.service lacks `{line}`"
        );
    }
}

#[test]
fn the_unit_passes_systemd_analyze_verify() {
    if Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("SKIPPED: systemd-analyze is not installed on this machine");
        return;
    }
    // The unit runs /usr/local/bin/kadi, which exists on a box but not on a build machine; verify
    // a copy whose ExecStart points at the binary under test instead. Nothing else is changed.
    let unit = std::fs::read_to_string(firmware("kadi.service")).unwrap();
    let exe = env!("CARGO_BIN_EXE_kadi");
    assert!(unit.contains("ExecStart=/usr/local/bin/kadi "));
    let copy = unit.replace(
        "ExecStart=/usr/local/bin/kadi ",
        &format!("ExecStart={exe} "),
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kadi.service");
    std::fs::write(&path, copy).unwrap();
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
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

#[test]
fn the_install_script_is_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let prefix = dir.path().join("usr-local");
    let units = dir.path().join("units");
    for round in 0..2 {
        let out = Command::new("bash")
            .arg(firmware("install.sh"))
            .arg(env!("CARGO_BIN_EXE_kadi"))
            .env("KADI_PREFIX", &prefix)
            .env("KADI_UNIT_DIR", &units)
            .env("KADI_NO_ENABLE", "1")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "round {round}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let installed = prefix.join("bin/kadi");
    let out = Command::new(&installed).arg("--version").output().unwrap();
    assert!(out.status.success());
    assert_eq!(
        std::fs::read(units.join("kadi.service")).unwrap(),
        std::fs::read(firmware("kadi.service")).unwrap()
    );
}
