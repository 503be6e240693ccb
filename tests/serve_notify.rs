//! `kadi serve` under systemd's notification protocol: READY=1 once the page listens, then
//! WATCHDOG=1 pings at half the watchdog interval while its own `/healthz` answers.
use std::os::unix::net::UnixDatagram;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use support::KADI;

mod support;

#[test]
fn serve_tells_systemd_it_is_ready_and_pings_the_watchdog_while_healthy() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("kadi.db");
    let socket_path = dir.path().join("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut child = Command::new(KADI)
        .arg("--db")
        .arg(&db)
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--no-scheduler",
            "--json",
        ])
        .env("NOTIFY_SOCKET", &socket_path)
        .env("WATCHDOG_USEC", "400000")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut got = Vec::new();
    let started = Instant::now();
    let mut buf = [0u8; 256];
    while got.iter().filter(|m| *m == "WATCHDOG=1").count() < 3 {
        let n = match socket.recv(&mut buf) {
            Ok(n) => n,
            Err(e) => {
                let _ = child.kill();
                panic!(
                    "no notification after {:?} ({e}); got {got:?}",
                    started.elapsed()
                );
            }
        };
        got.push(String::from_utf8_lossy(&buf[..n]).into_owned());
    }
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(got[0], "READY=1", "{got:?}");
    // Three pings at a 200 ms period: well under the 20 s bound, and not a flood.
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );
    assert!(got.len() <= 5, "{got:?}");
}
