//! The HTTP front of `kadi serve` under attack: every attack of issue 12 reproduced against the
//! real binary over 127.0.0.1 with raw sockets, and after each (and during, where the server can
//! still have a descriptor to spare) a fresh `GET /healthz` must answer within a second and the
//! server's memory must come back near where it started.
mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::{login_form, read_json_url, TestBox, KADI};

/// A `kadi serve` whose standard error is collected (the request log).
struct Server {
    child: Child,
    addr: SocketAddr,
    log: Arc<Mutex<Vec<u8>>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    fn pid(&self) -> u32 {
        self.child.id()
    }
    fn log_text(&self) -> String {
        String::from_utf8_lossy(&self.log.lock().unwrap()).into_owned()
    }
    fn assert_alive(&mut self) {
        assert!(
            self.child.try_wait().unwrap().is_none(),
            "kadi serve died; its log:\n{}",
            self.log_text()
        );
    }
}

/// Starts `kadi serve` with extra arguments, environment, and optionally a descriptor limit.
fn serve(b: &TestBox, extra: &[&str], env: &[(&str, &str)], nofile: Option<u64>) -> Server {
    let mut cmd = Command::new(KADI);
    cmd.arg("--db")
        .arg(&b.db)
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--threads",
            "2",
            "--no-scheduler",
            "--json",
            // The raw requests below name the box `box` in `Host`.
            "--host",
            "box",
        ])
        .args(extra)
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(n) = nofile {
        // SAFETY: only an async-signal-safe libc call between fork and exec.
        unsafe {
            cmd.pre_exec(move || {
                let lim = libc::rlimit {
                    rlim_cur: n,
                    rlim_max: n,
                };
                if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
    let mut child = cmd.spawn().expect("starting kadi serve");
    let log = Arc::new(Mutex::new(Vec::new()));
    let mut stderr = child.stderr.take().unwrap();
    let sink = log.clone();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = stderr.read(&mut buf) {
            if n == 0 {
                break;
            }
            sink.lock().unwrap().extend_from_slice(&buf[..n]);
        }
    });
    let url = read_json_url(&mut child);
    let addr = url.trim_start_matches("http://").parse().unwrap();
    Server { child, addr, log }
}

/// Resident memory of a process in KiB (`field` is `VmRSS` or the peak, `VmHWM`).
fn memory_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
}

fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s
}

/// A fresh connection's `GET /healthz` must answer 200 within a second.
fn assert_healthz_fast(addr: SocketAddr, when: &str) {
    let started = Instant::now();
    let got = healthz(addr, Duration::from_secs(1));
    let took = started.elapsed();
    assert!(
        got.as_deref().is_ok_and(|r| r.starts_with("HTTP/1.1 200")),
        "{when}: /healthz did not answer 200: {got:?}"
    );
    assert!(
        took < Duration::from_secs(1),
        "{when}: /healthz took {took:?}"
    );
}

fn healthz(addr: SocketAddr, limit: Duration) -> Result<String, String> {
    let mut s = TcpStream::connect_timeout(&addr, limit).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(limit)).unwrap();
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: box\r\nConnection: close\r\n\r\n")
        .map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    s.read_to_end(&mut out).map_err(|e| e.to_string())?;
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// Retries `/healthz` until it answers (for after a flood), then asserts a fresh one is fast.
fn assert_healthz_recovers(addr: SocketAddr, within: Duration, when: &str) {
    let started = Instant::now();
    while started.elapsed() < within {
        if healthz(addr, Duration::from_millis(500)).is_ok_and(|r| r.starts_with("HTTP/1.1 200")) {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_healthz_fast(addr, when);
}

/// Reads everything until the server closes; fails if it does not close within `limit`.
fn read_until_closed(s: &mut TcpStream, limit: Duration) -> Vec<u8> {
    let started = Instant::now();
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let left = limit.saturating_sub(started.elapsed());
        assert!(
            !left.is_zero(),
            "the server kept the connection open longer than {limit:?}; read so far: {}",
            String::from_utf8_lossy(&out)
        );
        s.set_read_timeout(Some(left)).unwrap();
        match s.read(&mut buf) {
            Ok(0) => return out,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return out,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(e) => panic!("reading: {e}"),
        }
    }
}

/// Reads one response (head and `Content-Length` body) from a kept-alive connection.
fn read_response(s: &mut TcpStream) -> (u16, String) {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let n = s.read(&mut byte).unwrap();
        assert!(
            n == 1,
            "closed mid-head: {}",
            String::from_utf8_lossy(&head)
        );
        head.push(byte[0]);
    }
    let head = String::from_utf8(head).unwrap();
    let status = head[9..12].parse().unwrap();
    let len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("Content-Length: "))
        .map(|v| v.trim().parse().unwrap())
        .unwrap_or(0);
    let mut body = vec![0; len];
    s.read_exact(&mut body).unwrap();
    (status, head + &String::from_utf8_lossy(&body))
}

fn status_of(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).chars().take(12).collect()
}

#[test]
fn a_huge_declared_body_gets_413_and_a_closed_connection_and_the_process_lives() {
    let b = TestBox::new();
    let mut s = serve(&b, &[], &[], None);
    assert_healthz_fast(s.addr, "at start");
    let base = memory_kib(s.pid(), "VmRSS");
    let mut c = connect(s.addr);
    c.write_all(b"GET /healthz HTTP/1.1\r\nHost: box\r\nContent-Length: 1099511627776\r\n\r\n")
        .unwrap();
    let got = read_until_closed(&mut c, Duration::from_secs(3));
    assert_eq!(status_of(&got), "HTTP/1.1 413");
    s.assert_alive();
    assert_healthz_fast(s.addr, "after a 1 TiB declared body");
    // Four at once with the largest u64 (these killed every worker of the old front).
    let mut held: Vec<TcpStream> = (0..4)
        .map(|_| {
            let mut c = connect(s.addr);
            c.write_all(
                b"POST /login HTTP/1.1\r\nHost: box\r\nContent-Length: 18446744073709551615\r\n\r\nusername=a",
            )
            .unwrap();
            c
        })
        .collect();
    assert_healthz_fast(s.addr, "during four u64::MAX bodies");
    for c in &mut held {
        let got = read_until_closed(c, Duration::from_secs(3));
        assert_eq!(status_of(&got), "HTTP/1.1 413");
    }
    // A number too large for any integer is too large too (no overflow, no 500).
    let mut c = connect(s.addr);
    c.write_all(
        b"POST /login HTTP/1.1\r\nHost: box\r\nContent-Length: 99999999999999999999999\r\n\r\n",
    )
    .unwrap();
    assert_eq!(
        status_of(&read_until_closed(&mut c, Duration::from_secs(3))),
        "HTTP/1.1 413"
    );
    s.assert_alive();
    assert_healthz_fast(s.addr, "after four u64::MAX bodies");
    let after = memory_kib(s.pid(), "VmRSS");
    assert!(
        after < base + 8 * 1024,
        "RSS grew from {base} KiB to {after} KiB"
    );
}

#[test]
fn stalled_bodies_and_slow_headers_hold_no_worker_and_are_closed_by_the_deadlines() {
    let b = TestBox::new();
    let mut s = serve(
        &b,
        &["--header-timeout-ms", "1500", "--body-timeout-ms", "1500"],
        &[],
        None,
    );
    let base = memory_kib(s.pid(), "VmRSS");
    let started = Instant::now();
    // Eight bodies promised and never sent (the server has two workers).
    let mut stalled: Vec<TcpStream> = (0..8)
        .map(|_| {
            let mut c = connect(s.addr);
            c.write_all(b"POST /login HTTP/1.1\r\nHost: box\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\nusername=")
                .unwrap();
            c
        })
        .collect();
    // Two chunked bodies that never end.
    for _ in 0..2 {
        let mut c = connect(s.addr);
        c.write_all(
            b"POST /login HTTP/1.1\r\nHost: box\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n",
        )
        .unwrap();
        stalled.push(c);
    }
    // A slowloris: the head one byte per second.
    let mut slow = connect(s.addr);
    let mut slow_writer = slow.try_clone().unwrap();
    let writer = std::thread::spawn(move || {
        for &byte in b"GET /healthz HTTP/1.1\r\nHost: box\r\nX-Slow: aaaaaaaaaaaaaaaa\r\n\r\n" {
            if slow_writer.write_all(&[byte]).is_err() {
                return;
            }
            std::thread::sleep(Duration::from_secs(1));
        }
    });
    std::thread::sleep(Duration::from_millis(300));
    assert_healthz_fast(s.addr, "with 10 stalled bodies and a slowloris");
    assert_healthz_fast(s.addr, "with 10 stalled bodies and a slowloris (again)");
    // The deadlines (1.5 s head, 1.5 s + 0.15 s per 16 KiB body) close every one of them.
    for c in &mut stalled {
        let got = read_until_closed(c, Duration::from_secs(5));
        assert_eq!(status_of(&got), "HTTP/1.1 408");
    }
    let got = read_until_closed(&mut slow, Duration::from_secs(5));
    assert_eq!(status_of(&got), "HTTP/1.1 408");
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(1400) && took < Duration::from_secs(6),
        "deadlines closed the stalled connections after {took:?}"
    );
    writer.join().unwrap();
    s.assert_alive();
    assert_healthz_fast(s.addr, "after the stalled connections");
    let after = memory_kib(s.pid(), "VmRSS");
    assert!(
        after < base + 8 * 1024,
        "RSS grew from {base} KiB to {after} KiB"
    );
}

/// Sends `head` then `filler` repeatedly (up to `total` bytes) while reading the answer.
fn flood(addr: SocketAddr, head: &[u8], filler: &[u8], total: usize) -> Vec<u8> {
    let mut c = connect(addr);
    let mut writer = c.try_clone().unwrap();
    let head = head.to_vec();
    let filler = filler.to_vec();
    let sender = std::thread::spawn(move || {
        if writer.write_all(&head).is_err() {
            return;
        }
        let mut sent = 0;
        while sent < total {
            if writer.write_all(&filler).is_err() {
                return;
            }
            sent += filler.len();
        }
    });
    let got = read_until_closed(&mut c, Duration::from_secs(10));
    sender.join().unwrap();
    got
}

#[test]
fn a_64_mb_header_line_and_100000_headers_get_431_and_memory_stays_bounded() {
    let b = TestBox::new();
    let mut s = serve(&b, &[], &[], None);
    let base = memory_kib(s.pid(), "VmRSS");
    let line = flood(
        s.addr,
        b"GET /healthz HTTP/1.1\r\nHost: box\r\nX-Big: ",
        &[b'a'; 64 * 1024],
        64 * 1024 * 1024,
    );
    assert_eq!(status_of(&line), "HTTP/1.1 431");
    assert_healthz_fast(s.addr, "after a 64 MB header line");
    let many = flood(
        s.addr,
        b"GET /healthz HTTP/1.1\r\nHost: box\r\n",
        &b"X-A: b\r\n".repeat(1000),
        100_000 * 8,
    );
    assert_eq!(status_of(&many), "HTTP/1.1 431");
    // 101 small fields fit in 16 KiB and still are too many.
    let mut c = connect(s.addr);
    let fields: String = (0..101).map(|i| format!("X-{i}: v\r\n")).collect();
    c.write_all(format!("GET /healthz HTTP/1.1\r\n{fields}\r\n").as_bytes())
        .unwrap();
    assert_eq!(
        status_of(&read_until_closed(&mut c, Duration::from_secs(3))),
        "HTTP/1.1 431"
    );
    // A request line over 16 KiB is 414.
    let long = flood(s.addr, b"GET /", &[b'a'; 4096], 64 * 1024);
    assert_eq!(status_of(&long), "HTTP/1.1 414");
    s.assert_alive();
    assert_healthz_fast(s.addr, "after 100,000 headers");
    let (after, peak) = (memory_kib(s.pid(), "VmRSS"), memory_kib(s.pid(), "VmHWM"));
    assert!(
        after < base + 8 * 1024 && peak < base + 16 * 1024,
        "RSS from {base} KiB to {after} KiB (peak {peak} KiB)"
    );
}

#[test]
fn connections_over_the_cap_are_refused_fast_and_the_port_recovers() {
    let b = TestBox::new();
    let mut s = serve(
        &b,
        &["--max-connections", "8", "--header-timeout-ms", "30000"],
        &[],
        None,
    );
    let held: Vec<TcpStream> = (0..8).map(|_| connect(s.addr)).collect();
    std::thread::sleep(Duration::from_millis(300));
    for _ in 0..3 {
        let started = Instant::now();
        let mut extra = connect(s.addr);
        let _ = extra.write_all(b"GET /healthz HTTP/1.1\r\nHost: box\r\n\r\n");
        let got = read_until_closed(&mut extra, Duration::from_secs(1));
        assert!(
            got.is_empty() || status_of(&got) == "HTTP/1.1 503",
            "over the cap: {}",
            String::from_utf8_lossy(&got)
        );
        assert!(started.elapsed() < Duration::from_secs(1));
    }
    s.assert_alive();
    drop(held);
    assert_healthz_recovers(
        s.addr,
        Duration::from_secs(1),
        "after the held connections closed",
    );
    assert!(!s.log_text().contains("panicked"), "{}", s.log_text());
}

#[test]
fn running_out_of_descriptors_is_survived_and_the_port_works_afterwards() {
    let b = TestBox::new();
    let mut s = serve(&b, &["--header-timeout-ms", "30000"], &[], Some(64));
    assert_healthz_fast(s.addr, "at start under a 64-descriptor limit");
    // Far more than 64: the server runs out of descriptors while these stay open.
    let mut held = Vec::new();
    for _ in 0..150 {
        if let Ok(c) = TcpStream::connect_timeout(&s.addr, Duration::from_millis(300)) {
            held.push(c);
        }
    }
    std::thread::sleep(Duration::from_millis(500));
    s.assert_alive();
    assert!(
        s.log_text().contains("accepting a connection"),
        "the server never ran out of descriptors; log:\n{}",
        s.log_text()
    );
    drop(held);
    assert_healthz_recovers(
        s.addr,
        Duration::from_secs(3),
        "after running out of descriptors",
    );
    assert_healthz_fast(s.addr, "after running out of descriptors (again)");
    s.assert_alive();
    assert!(!s.log_text().contains("panicked"), "{}", s.log_text());
}

#[test]
fn a_dead_worker_makes_serve_exit_non_zero() {
    let b = TestBox::new();
    // Without the test-only variable the path is just a page that does not exist.
    {
        let s = serve(&b, &[], &[], None);
        let mut c = connect(s.addr);
        c.write_all(b"GET /__die HTTP/1.1\r\nHost: box\r\nConnection: close\r\n\r\n")
            .unwrap();
        let got = read_until_closed(&mut c, Duration::from_secs(3));
        assert_eq!(status_of(&got), "HTTP/1.1 404");
    }
    let mut s = serve(
        &b,
        &[],
        &[("KADI_TEST_ONLY_WORKER_EXIT_PATH", "/__die")],
        None,
    );
    let mut c = connect(s.addr);
    c.write_all(b"GET /__die HTTP/1.1\r\nHost: box\r\nConnection: close\r\n\r\n")
        .unwrap();
    let got = read_until_closed(&mut c, Duration::from_secs(3));
    assert!(
        got.is_empty() || status_of(&got) == "HTTP/1.1 500",
        "{}",
        String::from_utf8_lossy(&got)
    );
    let started = Instant::now();
    let status = loop {
        if let Some(st) = s.child.try_wait().unwrap() {
            break st;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "kadi serve still runs with a dead worker"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(!status.success(), "kadi serve exited with {status}");
    std::thread::sleep(Duration::from_millis(100));
    assert!(
        s.log_text().contains("kadi-web-"),
        "the exit does not say which thread ended:\n{}",
        s.log_text()
    );
}

#[test]
fn request_paths_reach_the_log_escaped() {
    let b = TestBox::new();
    let s = serve(&b, &[], &[], None);
    let mut c = connect(s.addr);
    c.write_all(
        b"GET /%1b[31mred%0aGET%20/forged%20200%200ms%0d HTTP/1.1\r\nHost: box\r\nConnection: close\r\n\r\n",
    )
    .unwrap();
    let got = read_until_closed(&mut c, Duration::from_secs(3));
    assert_eq!(status_of(&got), "HTTP/1.1 404");
    let started = Instant::now();
    while !s.log_text().contains(" 404 ") && started.elapsed() < Duration::from_secs(3) {
        std::thread::sleep(Duration::from_millis(20));
    }
    let log = s.log.lock().unwrap().clone();
    let text = String::from_utf8_lossy(&log);
    assert!(
        text.contains("GET /\\x1b[31mred\\nGET /forged 200 0ms\\r 404 "),
        "{text}"
    );
    assert!(!log.contains(&0x1b), "a raw escape reached the log: {text}");
    assert!(
        !text.lines().any(|l| l.starts_with("GET /forged")),
        "a forged line: {text}"
    );
}

#[test]
fn keep_alive_serves_two_requests_and_idle_connections_are_closed() {
    let b = TestBox::new();
    let s = serve(&b, &["--idle-timeout-ms", "800"], &[], None);
    let mut c = connect(s.addr);
    for _ in 0..2 {
        c.write_all(b"GET /healthz HTTP/1.1\r\nHost: box\r\n\r\n")
            .unwrap();
        let (status, text) = read_response(&mut c);
        assert_eq!(status, 200, "{text}");
        assert!(text.contains("Connection: keep-alive"), "{text}");
    }
    let idle_from = Instant::now();
    let rest = read_until_closed(&mut c, Duration::from_secs(3));
    assert!(rest.is_empty());
    let idle = idle_from.elapsed();
    assert!(
        idle >= Duration::from_millis(600),
        "closed after only {idle:?}"
    );
    // HTTP/1.0 and `Connection: close` end the connection after the answer (a server whose
    // idle timeout is the default 30 s, so only the answer can have closed it).
    drop(s);
    let s = serve(&b, &[], &[], None);
    for request in [
        &b"GET /healthz HTTP/1.0\r\n\r\n"[..],
        b"GET /healthz HTTP/1.1\r\nHost: box\r\nConnection: close\r\n\r\n",
    ] {
        let mut c = connect(s.addr);
        c.write_all(request).unwrap();
        let got = read_until_closed(&mut c, Duration::from_secs(5));
        assert_eq!(status_of(&got), "HTTP/1.1 200");
    }
}

#[test]
fn chunked_bodies_and_expect_continue_work_within_the_limits() {
    let b = TestBox::new();
    b.add_staff("awa", "4826");
    let s = serve(&b, &[], &[], None);
    // The login form's cookie and token (the page's CSRF defence), as a browser has them.
    let (cookie, token) = login_form(&format!("http://{}", s.addr));
    let form = format!("username=awa&pin=4826&csrf={token}");
    let head = |framing: &str| {
        format!(
            "POST /login HTTP/1.1\r\nHost: box\r\nOrigin: http://box\r\nCookie: {cookie}\r\nContent-Type: application/x-www-form-urlencoded\r\n{framing}\r\n"
        )
    };
    // A chunked login with the right PIN logs in: the body was decoded (with a chunk extension
    // and a trailer field).
    let (first, second) = form.split_at(9);
    let chunked = format!(
        "{}{:x}\r\n{first}\r\n{:x};ext=1\r\n{second}\r\n0\r\nX-Trailer: t\r\n\r\n",
        head("Transfer-Encoding: chunked\r\n"),
        first.len(),
        second.len()
    );
    let mut c = connect(s.addr);
    c.write_all(chunked.as_bytes()).unwrap();
    let (status, text) = read_response(&mut c);
    assert_eq!(status, 303, "{text}");
    assert!(text.contains("Set-Cookie: kadi_session="), "{text}");
    // A chunked body over the limit is refused and the connection closed.
    let mut c = connect(s.addr);
    let mut req =
        b"POST /login HTTP/1.1\r\nHost: box\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    for _ in 0..5 {
        req.extend_from_slice(b"4000\r\n");
        req.extend_from_slice(&[b'a'; 0x4000]);
        req.extend_from_slice(b"\r\n");
    }
    let _ = c.write_all(&req);
    let got = read_until_closed(&mut c, Duration::from_secs(3));
    assert_eq!(status_of(&got), "HTTP/1.1 413");
    // `Expect: 100-continue`: 100 first for an acceptable body, a plain 413 for a too large one.
    let mut c = connect(s.addr);
    c.write_all(
        head(&format!(
            "Expect: 100-continue\r\nContent-Length: {}\r\n",
            form.len()
        ))
        .as_bytes(),
    )
    .unwrap();
    let mut interim = [0u8; 25];
    c.read_exact(&mut interim).unwrap();
    assert_eq!(&interim, b"HTTP/1.1 100 Continue\r\n\r\n");
    c.write_all(form.as_bytes()).unwrap();
    let (status, text) = read_response(&mut c);
    assert_eq!(status, 303, "{text}");
    let mut c = connect(s.addr);
    c.write_all(b"POST /login HTTP/1.1\r\nHost: box\r\nExpect: 100-continue\r\nContent-Length: 100000\r\n\r\n")
        .unwrap();
    let got = read_until_closed(&mut c, Duration::from_secs(3));
    assert_eq!(status_of(&got), "HTTP/1.1 413");
    // Both framings at once is refused.
    let mut c = connect(s.addr);
    c.write_all(b"POST /login HTTP/1.1\r\nHost: box\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
        .unwrap();
    let got = read_until_closed(&mut c, Duration::from_secs(3));
    assert_eq!(status_of(&got), "HTTP/1.1 400");
}

#[test]
fn a_client_that_never_reads_its_answers_is_dropped_by_the_write_deadline() {
    // Pipelined requests whose answers (tens of MB) the client never reads: the server's
    // writes fill both socket buffers and block; the write deadline must end the connection
    // instead of holding its thread forever, and the port must keep answering meanwhile.
    let b = TestBox::new();
    let s = serve(
        &b,
        &["--write-timeout-ms", "1000", "--idle-timeout-ms", "30000"],
        &[],
        None,
    );
    const REQUESTS: usize = 100_000;
    let request = b"GET /healthz HTTP/1.1\r\nHost: box\r\n\r\n";
    let mut c = connect(s.addr);
    let mut writer = c.try_clone().unwrap();
    writer
        .set_write_timeout(Some(Duration::from_secs(15)))
        .unwrap();
    let pushing = std::thread::spawn(move || {
        let all = request.repeat(REQUESTS);
        // Fails once the server gives up and closes: that is the point.
        let _ = writer.write_all(&all);
    });
    std::thread::sleep(Duration::from_millis(3000));
    assert_healthz_fast(s.addr, "while a client does not read its answers");
    let got = read_until_closed(&mut c, Duration::from_secs(20));
    let answers = got.windows(12).filter(|w| w == b"HTTP/1.1 200").count();
    assert!(
        answers < REQUESTS,
        "every answer was delivered ({answers}): the server waited for the slow reader"
    );
    pushing.join().unwrap();
    assert_healthz_fast(s.addr, "after the slow reader was dropped");
}
