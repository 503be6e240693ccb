//! systemd's service notification protocol (`sd_notify`), spoken directly: one datagram such as
//! `READY=1` or `WATCHDOG=1` to the unix socket named by `$NOTIFY_SOCKET` (a path, or an
//! abstract name starting with `@`). No crate: it is a dozen lines, and none of them may fail the
//! service (outside systemd the variable is unset and everything here does nothing).
//!
//! The watchdog pings only while the page answers its own `GET /healthz` over loopback within a
//! few seconds, so a server whose workers died or wedged stops pinging and systemd restarts it
//! (`WatchdogSec=` in `firmware/kadi.service`). Only `kadi serve` calls this.
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};
use std::time::Duration;

/// Sends `state` (e.g. `READY=1`) to systemd; `Ok(false)` when not run by systemd.
pub fn notify(state: &str) -> std::io::Result<bool> {
    let Some(path) = std::env::var_os("NOTIFY_SOCKET") else {
        return Ok(false);
    };
    let socket = std::os::unix::net::UnixDatagram::unbound()?;
    let bytes = path.as_encoded_bytes();
    if let Some(name) = bytes.strip_prefix(b"@") {
        use std::os::linux::net::SocketAddrExt;
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
        socket.send_to_addr(state.as_bytes(), &addr)?;
    } else {
        socket.send_to(state.as_bytes(), &path)?;
    }
    Ok(true)
}

/// The watchdog interval systemd asked for (`$WATCHDOG_USEC`, for this process), if any.
pub fn watchdog_interval() -> Option<Duration> {
    if let Ok(pid) = std::env::var("WATCHDOG_PID") {
        if pid.trim().parse::<u32>().ok() != Some(std::process::id()) {
            return None;
        }
    }
    let usec: u64 = std::env::var("WATCHDOG_USEC").ok()?.trim().parse().ok()?;
    (usec > 0).then(|| Duration::from_micros(usec))
}

/// Tells systemd the page at `addr` is up, and when systemd runs a watchdog, starts a thread
/// that pings it at half the interval while `/healthz` answers. Errors are reported once on
/// stderr (the journal) and never stop the service.
pub fn ready_and_watch(addr: SocketAddr) {
    if let Err(e) = notify("READY=1") {
        eprintln!("kadi serve: could not notify systemd: {e}");
    }
    let Some(interval) = watchdog_interval() else {
        return;
    };
    let probe_addr = loopback_of(addr);
    let period = (interval / 2).max(Duration::from_millis(50));
    let timeout = period.min(Duration::from_secs(5));
    let spawned = std::thread::Builder::new()
        .name("watchdog".into())
        .spawn(move || loop {
            if healthz_answers(probe_addr, timeout) {
                let _ = notify("WATCHDOG=1");
            }
            std::thread::sleep(period);
        });
    if let Err(e) = spawned {
        eprintln!("kadi serve: could not start the watchdog thread: {e}");
    }
}

/// `addr` with an unspecified IP (`0.0.0.0`, `::`) replaced by loopback: where to probe
/// ourselves.
pub fn loopback_of(addr: SocketAddr) -> SocketAddr {
    let ip = match addr.ip() {
        IpAddr::V4(v4) if v4.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(v6) if v6.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, addr.port())
}

/// True when `GET /healthz` at `addr` answers 200 within `timeout` (connect, write and read
/// each bounded).
pub fn healthz_answers(addr: SocketAddr, timeout: Duration) -> bool {
    let attempt = || -> std::io::Result<bool> {
        let mut s = TcpStream::connect_timeout(&addr, timeout)?;
        s.set_read_timeout(Some(timeout))?;
        s.set_write_timeout(Some(timeout))?;
        // One buffer, one write: `write!` on a socket sends each formatted piece on its own.
        let request = format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        s.write_all(request.as_bytes())?;
        let mut head = [0u8; 12];
        s.read_exact(&mut head)?;
        Ok(head.starts_with(b"HTTP/1.") && &head[8..12] == b" 200")
    };
    attempt().unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn a_server_that_accepts_but_never_answers_is_not_healthy() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        // Accepted by the kernel's backlog, never read: a wedged server.
        let t = std::time::Instant::now();
        assert!(!healthz_answers(addr, Duration::from_millis(300)));
        assert!(t.elapsed() < Duration::from_secs(2));
        drop(listener);
        // Nothing listening at all.
        assert!(!healthz_answers(addr, Duration::from_millis(300)));
    }

    #[test]
    fn a_server_answering_200_is_healthy_and_unspecified_addresses_probe_loopback() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            // Read the whole request: closing with unread bytes would send a reset.
            let mut buf = Vec::new();
            let mut chunk = [0u8; 1024];
            while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = s.read(&mut chunk).unwrap();
                assert!(n > 0, "the probe closed before its request ended");
                buf.extend_from_slice(&chunk[..n]);
            }
            assert!(buf.starts_with(b"GET /healthz HTTP/1.1\r\n"));
            s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                .unwrap();
        });
        assert!(healthz_answers(
            loopback_of(SocketAddr::new(
                IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                addr.port()
            )),
            Duration::from_secs(5)
        ));
        server.join().unwrap();
    }
}
