//! HTTP front benchmark: a 2,000-request burst from 8 client threads against the built
//! `kadi serve` over loopback — `/healthz` with keep-alive and with a new connection per request,
//! and a logged-in page (`/beneficiaries`, empty box) with keep-alive — printing requests/s and
//! p50/p99 latency, then the server's RSS at rest and with 200 idle connections open.
//!
//! Baseline in the same run: set `KADI_BENCH_BASELINE=/path/to/other/kadi` (e.g. the old
//! tiny_http front built from `main` with the same profile) and both columns are printed in one
//! table. Raw sockets on both sides, so the client costs the same for either server.
//!
//! `KADI_BENCH_BASELINE=/tmp/old-front/target/fast/kadi cargo bench --bench http_front --profile fast`
//! Never fails on timing.
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const REQUESTS: usize = 2_000;
const CLIENTS: usize = 8;
const IDLE_CONNECTIONS: usize = 200;
const PIN: &str = "4826";

/// What one server measured.
struct Measured {
    rows: Vec<(String, String)>,
}

fn main() {
    let mut servers = vec![(
        "this build".to_string(),
        env!("CARGO_BIN_EXE_kadi").to_string(),
    )];
    if let Ok(baseline) = std::env::var("KADI_BENCH_BASELINE") {
        servers.push(("baseline".to_string(), baseline));
    }
    let mut columns = Vec::new();
    for (label, bin) in &servers {
        match measure(bin) {
            Ok(m) => columns.push((label.clone(), m)),
            Err(e) => eprintln!("{label} ({bin}): {e:#}"),
        }
    }
    let Some((_, first)) = columns.first() else {
        return;
    };
    print!("| {:<44} |", "measure");
    for (label, _) in &columns {
        print!(" {label:>14} |");
    }
    println!();
    print!("|{:-<46}|", "");
    for _ in &columns {
        print!("{:->15}:|", "");
    }
    println!();
    for (i, (name, _)) in first.rows.iter().enumerate() {
        print!("| {name:<44} |");
        for (_, m) in &columns {
            print!(" {:>14} |", m.rows[i].1);
        }
        println!();
    }
}

/// A `kadi serve` child; killed when dropped.
struct Served(Child);

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn measure(bin: &str) -> anyhow::Result<Measured> {
    let dir = tempfile::tempdir()?;
    let db = dir.path().join("kadi.db");
    let mut add = Command::new(bin)
        .arg("--db")
        .arg(&db)
        .args(["staff", "add", "--username", "bench", "--pin-stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()?;
    add.stdin
        .take()
        .ok_or_else(|| anyhow::anyhow!("no stdin"))?
        .write_all(format!("{PIN}\n").as_bytes())?;
    anyhow::ensure!(add.wait()?.success(), "kadi staff add failed");
    let mut child = Command::new(bin)
        .arg("--db")
        .arg(&db)
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--threads",
            "4",
            "--no-scheduler",
            "--json",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| anyhow::anyhow!("no stdout"))?;
    let mut reader = BufReader::new(stdout);
    let mut text = String::new();
    let url = loop {
        let mut line = String::new();
        anyhow::ensure!(reader.read_line(&mut line)? > 0, "serve exited: {text}");
        text.push_str(&line);
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(&text) {
            break v["url"].as_str().unwrap_or_default().to_string();
        }
    };
    std::thread::spawn(move || std::io::copy(&mut reader, &mut std::io::sink()));
    let addr: SocketAddr = url.trim_start_matches("http://").parse()?;
    let served = Served(child);
    let pid = served.0.id();

    let cookie = login(addr)?;
    let mut rows = Vec::new();
    for (name, path, cookie, keep_alive) in [
        ("/healthz, keep-alive", "/healthz", None, true),
        ("/healthz, new connection each", "/healthz", None, false),
        (
            "/beneficiaries logged in, keep-alive",
            "/beneficiaries",
            Some(cookie.as_str()),
            true,
        ),
    ] {
        let (rps, p50, p99) = burst(addr, path, cookie, keep_alive)?;
        rows.push((format!("{name}: requests/s"), format!("{rps:.0}")));
        rows.push((format!("{name}: p50 ms"), format!("{p50:.2}")));
        rows.push((format!("{name}: p99 ms"), format!("{p99:.2}")));
    }
    std::thread::sleep(Duration::from_millis(300));
    let rest = rss_kib(pid)?;
    let idle: Vec<TcpStream> = (0..IDLE_CONNECTIONS)
        .filter_map(|_| TcpStream::connect(addr).ok())
        .collect();
    std::thread::sleep(Duration::from_secs(1));
    let with_idle = rss_kib(pid)?;
    rows.push(("RSS at rest after the bursts, MB".into(), mb(rest)));
    rows.push((
        format!("RSS with {} idle connections, MB", idle.len()),
        mb(with_idle),
    ));
    drop(idle);
    drop(served);
    Ok(Measured { rows })
}

fn mb(kib: u64) -> String {
    format!("{:.1}", kib as f64 / 1024.0)
}

fn rss_kib(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| anyhow::anyhow!("no VmRSS"))
}

/// One request over a fresh connection; returns the whole answer.
fn exchange(addr: SocketAddr, request: &str) -> anyhow::Result<String> {
    let mut s = TcpStream::connect(addr)?;
    s.write_all(request.as_bytes())?;
    let mut out = Vec::new();
    s.read_to_end(&mut out)?;
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// The `name=value` of every `Set-Cookie` of an answer, joined for a `Cookie` header.
fn cookies(answer: &str) -> String {
    answer
        .lines()
        .take_while(|l| !l.is_empty())
        .filter_map(|l| {
            l.split_once(':')
                .filter(|(n, _)| n.eq_ignore_ascii_case("set-cookie"))
        })
        .filter_map(|(_, v)| v.trim().split(';').next().map(str::to_string))
        .collect::<Vec<_>>()
        .join("; ")
}

/// Logs in as a browser does (the login form's cookie and CSRF token, when the build has them)
/// and returns the `Cookie` header value of the session.
fn login(addr: SocketAddr) -> anyhow::Result<String> {
    let form_page = exchange(
        addr,
        &format!("GET /login HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"),
    )?;
    let form_cookie = cookies(&form_page);
    let token = form_page
        .split_once("name=\"csrf\" value=\"")
        .and_then(|(_, rest)| rest.split('"').next())
        .unwrap_or_default();
    let body = format!("username=bench&pin={PIN}&csrf={token}");
    let answer = exchange(
        addr,
        &format!(
            "POST /login HTTP/1.1\r\nHost: {addr}\r\nOrigin: http://{addr}\r\nCookie: {form_cookie}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
    )?;
    let session = cookies(&answer);
    anyhow::ensure!(
        session.contains("kadi_session="),
        "login gave no session: {answer}"
    );
    Ok(session)
}

/// `REQUESTS` GETs from `CLIENTS` threads; returns requests/s, p50 and p99 in ms.
fn burst(
    addr: SocketAddr,
    path: &str,
    cookie: Option<&str>,
    keep_alive: bool,
) -> anyhow::Result<(f64, f64, f64)> {
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\n{}{}\r\n",
        cookie
            .map(|c| format!("Cookie: {c}\r\n"))
            .unwrap_or_default(),
        if keep_alive {
            ""
        } else {
            "Connection: close\r\n"
        }
    );
    let started = Instant::now();
    let threads: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let request = request.clone();
            std::thread::spawn(move || -> anyhow::Result<Vec<f64>> {
                let mut latencies = Vec::with_capacity(REQUESTS / CLIENTS);
                let mut conn: Option<TcpStream> = None;
                for _ in 0..REQUESTS / CLIENTS {
                    let t = Instant::now();
                    let mut s = match conn.take() {
                        Some(s) => s,
                        None => {
                            let s = TcpStream::connect(addr)?;
                            s.set_nodelay(true)?;
                            s
                        }
                    };
                    s.write_all(request.as_bytes())?;
                    let status = read_response(&mut s)?;
                    anyhow::ensure!(status == 200, "status {status}");
                    latencies.push(t.elapsed().as_secs_f64() * 1000.0);
                    if keep_alive {
                        conn = Some(s);
                    }
                }
                Ok(latencies)
            })
        })
        .collect();
    let mut all = Vec::with_capacity(REQUESTS);
    for t in threads {
        all.extend(
            t.join()
                .map_err(|_| anyhow::anyhow!("a client thread panicked"))??,
        );
    }
    let wall = started.elapsed().as_secs_f64();
    all.sort_by(f64::total_cmp);
    let at = |q: f64| all[((all.len() as f64 * q) as usize).min(all.len() - 1)];
    Ok((all.len() as f64 / wall, at(0.50), at(0.99)))
}

/// Reads one response with a `Content-Length` body; returns its status.
fn read_response(s: &mut TcpStream) -> anyhow::Result<u16> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break p + 4;
        }
        let n = s.read(&mut chunk)?;
        anyhow::ensure!(n > 0, "closed mid-response");
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let status: u16 = head.get(9..12).unwrap_or("0").parse()?;
    let len: usize = head
        .lines()
        .find_map(|l| {
            l.split_once(':')
                .filter(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        })
        .map(|(_, v)| v.trim().parse())
        .transpose()?
        .ok_or_else(|| anyhow::anyhow!("no Content-Length: {head}"))?;
    while buf.len() < head_end + len {
        let n = s.read(&mut chunk)?;
        anyhow::ensure!(n > 0, "closed mid-body");
        buf.extend_from_slice(&chunk[..n]);
    }
    Ok(status)
}
