//! The one harness of the tests that drive the built `kadi` binary: the binary's path, running it
//! on a database (`run`, `kadi`, `TestBox::kadi_json`), JSON with context on failure, `kadi serve`
//! on a free loopback port waited on until `/healthz` answers, an HTTP client that neither follows
//! redirects nor treats 4xx as errors, the tools a test drives (`require_tool`: a missing one
//! fails the test unless `KADI_TEST_ALLOW_MISSING` names it), and fixtures (`fixtures.rs`: the
//! simulator and stores shaped like its data). Every test file includes it with `mod support;`.
#![allow(dead_code)]

pub mod browser;
mod fixtures;
pub mod send;
#[allow(unused_imports)]
pub use fixtures::*;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The binary under test.
pub const KADI: &str = env!("CARGO_BIN_EXE_kadi");

/// The program UID of the simulator's (and `kadi demo`'s) data.
pub const PROGRAM: &str = kadi::sim::PROGRAM_UID;

/// Runs `kadi --db DB ARGS`; `stdin`, when given, is written and then closed (closed at once
/// otherwise), so a command that reads a password never waits on the terminal.
pub fn run(db: &Path, args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(KADI)
        .arg("--db")
        .arg(db)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {KADI}: {e}"));
    let mut input = child.stdin.take().expect("piped stdin");
    if let Some(s) = stdin {
        // A command that refuses before reading stdin (say a reserved username) may have exited
        // already: a broken pipe then is its answer, which its exit status and stderr carry.
        if let Err(e) = input.write_all(s.as_bytes()) {
            assert!(
                e.kind() == std::io::ErrorKind::BrokenPipe,
                "kadi {args:?}: writing stdin: {e}"
            );
        }
    }
    drop(input);
    child
        .wait_with_output()
        .unwrap_or_else(|e| panic!("kadi {args:?}: waiting for it: {e}"))
}

/// Fails the test with the command's stderr unless it exited successfully.
#[track_caller]
pub fn assert_success(out: &Output) {
    assert!(
        out.status.success(),
        "exit {:?}: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs the built `kadi` binary on database `db`; returns (success, stdout, stderr).
pub fn kadi(db: &Path, args: &[&str], stdin: Option<&str>) -> (bool, String, String) {
    let out = run(db, args, stdin);
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Parses `bytes` as JSON; on failure the panic names `what` and shows the text.
pub fn parse_json(what: &str, bytes: &[u8]) -> serde_json::Value {
    serde_json::from_slice(bytes).unwrap_or_else(|e| {
        panic!(
            "{what}: not JSON ({e}):\n{}",
            String::from_utf8_lossy(bytes)
        )
    })
}

/// The environment variable naming the tools a run may lack on purpose (comma separated, e.g.
/// `sqlite3,chromium`); `all` allows any.
pub const ALLOW_MISSING: &str = "KADI_TEST_ALLOW_MISSING";

/// The full path of a tool a test drives (sqlite3, chromium, faketime...). A missing tool FAILS
/// the test with a clear message, unless `KADI_TEST_ALLOW_MISSING` names it: then the skip is
/// printed and `None` is returned, and the test returns at once. `bash .ci/run` installs them all.
pub fn require_tool(name: &str) -> Option<String> {
    for dir in ["/usr/bin", "/usr/local/bin", "/bin"] {
        let path = format!("{dir}/{name}");
        if Path::new(&path).exists() {
            return Some(path);
        }
    }
    let allowed = std::env::var(ALLOW_MISSING).unwrap_or_default();
    if allowed
        .split(',')
        .map(str::trim)
        .any(|t| t == name || t == "all")
    {
        eprintln!("SKIPPED on purpose: {name} is not installed and {ALLOW_MISSING}={allowed}");
        return None;
    }
    panic!(
        "{name} is not installed: this test needs it (bash .ci/run installs it; apt-get install \
         {name}); set {ALLOW_MISSING}={name} to skip it on purpose"
    );
}

/// Waits (at most 30 s) until `GET {base}/healthz` answers 200.
pub fn wait_healthy(base: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(5)))
        .build()
        .into();
    let mut last = String::new();
    while Instant::now() < deadline {
        match agent.get(&format!("{base}/healthz")).call() {
            Ok(r) if r.status() == 200 => return,
            Ok(r) => last = format!("status {}", r.status()),
            Err(e) => last = e.to_string(),
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("{base}/healthz did not answer 200 within 30 s (last: {last})");
}

/// A box: a temporary directory holding its database.
pub struct TestBox {
    pub dir: tempfile::TempDir,
    pub db: PathBuf,
}

impl TestBox {
    pub fn new() -> TestBox {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("kadi.db");
        TestBox { dir, db }
    }

    /// Runs `kadi --db DB ARGS` with `stdin` and returns its output.
    pub fn kadi(&self, args: &[&str], stdin: &str) -> Output {
        run(&self.db, args, Some(stdin))
    }

    /// `kadi ARGS --json` that must succeed, parsed.
    pub fn kadi_json(&self, args: &[&str]) -> serde_json::Value {
        let out = self.kadi(args, "");
        assert!(
            out.status.success(),
            "kadi {args:?} failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        parse_json(&format!("kadi {args:?}"), &out.stdout)
    }

    /// Adds a staff account through the CLI.
    pub fn add_staff(&self, username: &str, pin: &str) {
        let out = self.kadi(
            &["staff", "add", "--username", username, "--pin-stdin"],
            &format!("{pin}\n"),
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Starts `kadi serve` on a free loopback port (no scheduler).
    pub fn serve(&self) -> Served {
        self.serve_with(&["--listen", "127.0.0.1:0", "--threads", "2"], None, None)
    }

    /// Starts `kadi serve ARGS --no-scheduler --json`, optionally under `faketime SPEC` and with
    /// its log (stderr) written to `log`.
    pub fn serve_with(&self, args: &[&str], faketime: Option<&str>, log: Option<&Path>) -> Served {
        let mut cmd = match faketime {
            Some(spec) => {
                let faketime = require_tool("faketime")
                    .expect("the test calls require_tool(\"faketime\") before serving under it");
                let mut c = Command::new(faketime);
                // Only the wall clock is faked: the monotonic clock must keep telling real time.
                c.env("FAKETIME_DONT_FAKE_MONOTONIC", "1")
                    .arg("-f")
                    .arg(spec)
                    .arg(KADI);
                c
            }
            None => Command::new(KADI),
        };
        cmd.arg("--db")
            .arg(&self.db)
            .arg("serve")
            .args(args)
            .args(["--no-scheduler", "--json"])
            .stdout(Stdio::piped());
        match log {
            Some(path) => cmd.stderr(std::fs::File::create(path).unwrap()),
            None => cmd.stderr(Stdio::null()),
        };
        let mut child = cmd.spawn().unwrap();
        let url = read_json_url(&mut child);
        let served = Served { child, url };
        wait_healthy(&served.url);
        served
    }
}

/// Reads stdout lines until they form one JSON document, and returns its `url`.
pub fn read_json_url(child: &mut Child) -> String {
    let stdout = child.stdout.take().unwrap();
    let mut reader = BufReader::new(stdout);
    let mut text = String::new();
    loop {
        let mut line = String::new();
        let n = reader.read_line(&mut line).unwrap();
        assert!(
            n > 0,
            "kadi exited before printing its URL; printed:\n{text}"
        );
        text.push_str(&line);
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(&text) {
            // Keep draining stdout so the child never blocks on a full pipe.
            std::thread::spawn(move || std::io::copy(&mut reader, &mut std::io::sink()));
            return v["url"].as_str().expect("the JSON has a url").to_string();
        }
    }
}

/// A running `kadi serve`; killed when dropped.
pub struct Served {
    pub child: Child,
    pub url: String,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An HTTP client that shows every status and redirect as it is.
pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_global(Some(std::time::Duration::from_secs(60)))
        .build()
        .into()
}

/// A response reduced to what tests assert on.
pub struct Got {
    pub status: u16,
    pub content_type: String,
    pub location: String,
    pub set_cookie: String,
    pub body: Vec<u8>,
}

impl Got {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }
}

fn reduce(mut r: ureq::http::Response<ureq::Body>) -> Got {
    let h = |name: &str| {
        r.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    let (content_type, location, set_cookie) = (h("content-type"), h("location"), h("set-cookie"));
    let body = r
        .body_mut()
        .with_config()
        .limit(50_000_000)
        .read_to_vec()
        .unwrap();
    Got {
        status: r.status().as_u16(),
        content_type,
        location,
        set_cookie,
        body,
    }
}

/// A JSON API request with an optional Bearer token, cookie, CSRF header and body (sent as
/// `application/json`, as is).
pub fn api_call(
    method: &str,
    url: &str,
    bearer: Option<&str>,
    cookie: Option<&str>,
    csrf: Option<&str>,
    body: Option<&str>,
) -> Got {
    let agent = agent();
    let mut req = ureq::http::Request::builder().method(method).uri(url);
    if let Some(t) = bearer {
        req = req.header("Authorization", format!("Bearer {t}"));
    }
    if let Some(c) = cookie {
        req = req.header("Cookie", c);
    }
    if let Some(c) = csrf {
        req = req.header("X-CSRF-Token", c);
    }
    let mut r = match body {
        Some(b) => agent.run(
            req.header("Content-Type", "application/json")
                .body(b.to_string())
                .unwrap(),
        ),
        None => agent.run(req.body(()).unwrap()),
    }
    .unwrap();
    let status = r.status().as_u16();
    let body = r.body_mut().read_to_vec().unwrap();
    Got {
        status,
        content_type: String::new(),
        location: String::new(),
        set_cookie: String::new(),
        body,
    }
}

/// GET with an optional session cookie.
pub fn get(url: &str, cookie: Option<&str>) -> Got {
    let mut req = agent().get(url);
    if let Some(c) = cookie {
        req = req.header("Cookie", c);
    }
    reduce(req.call().unwrap())
}

/// POST a form with an optional session cookie.
pub fn post_form(url: &str, cookie: Option<&str>, form: &[(&str, &str)]) -> Got {
    let mut req = agent().post(url);
    if let Some(c) = cookie {
        req = req.header("Cookie", c);
    }
    reduce(req.send_form(form.iter().copied()).unwrap())
}

/// The value of the hidden `csrf` field of a page's (first) form.
pub fn csrf_of(html: &str) -> String {
    let at = html
        .find("name=\"csrf\" value=\"")
        .unwrap_or_else(|| panic!("the page has no csrf field:\n{html}"));
    let rest = &html[at + "name=\"csrf\" value=\"".len()..];
    rest[..rest.find('"').unwrap()].to_string()
}

/// What a browser gets from `GET /login`: the login cookie (`name=value`) and the form's token.
pub fn login_form(base: &str) -> (String, String) {
    let page = get(&format!("{base}/login"), None);
    assert_eq!(page.status, 200, "{}", page.text());
    let cookie = page.set_cookie.split(';').next().unwrap().to_string();
    assert!(cookie.starts_with("kadi_login="), "{}", page.set_cookie);
    (cookie, csrf_of(&page.text()))
}

/// Submits the login form as a browser would (token from the form, cookie from `GET /login`).
pub fn attempt_login(base: &str, username: &str, pin: &str) -> Got {
    let (cookie, token) = login_form(base);
    post_form(
        &format!("{base}/login"),
        Some(&cookie),
        &[("username", username), ("pin", pin), ("csrf", &token)],
    )
}

/// Logs in and returns the `Cookie` header value for the session.
pub fn login(base: &str, username: &str, pin: &str) -> String {
    let got = attempt_login(base, username, pin);
    assert_eq!(got.status, 303, "login failed: {}", got.text());
    got.set_cookie.split(';').next().unwrap().to_string()
}

/// The CSRF token of a session, read from a page's form as a browser has it.
pub fn session_csrf(base: &str, cookie: &str) -> String {
    let page = get(&format!("{base}/beneficiaries"), Some(cookie));
    assert_eq!(page.status, 200, "{}", page.text());
    csrf_of(&page.text())
}

/// One raw HTTP/1.1 exchange from `source` (a local IP to bind, e.g. `127.0.0.2`, or any) to
/// `url`'s address: the request is sent as given (it must end with a blank line and should say
/// `Connection: close`); returns the whole answer as text.
pub fn raw_http(url: &str, source: Option<&str>, request: &str) -> String {
    use std::io::Read;
    use std::net::{SocketAddr, TcpStream};
    use std::os::fd::FromRawFd;
    let addr: SocketAddr = url.trim_start_matches("http://").parse().unwrap();
    let mut stream = match source {
        None => TcpStream::connect(addr).unwrap(),
        Some(src) => {
            let src: std::net::Ipv4Addr = src.parse().unwrap();
            let SocketAddr::V4(dst) = addr else {
                panic!("IPv4 only")
            };
            let sin = |ip: std::net::Ipv4Addr, port: u16| libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: port.to_be(),
                sin_addr: libc::in_addr {
                    s_addr: u32::from(ip).to_be(),
                },
                sin_zero: [0; 8],
            };
            let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
            // SAFETY: a fresh socket, bound and connected with valid sockaddr_in values, then
            // owned by the TcpStream.
            unsafe {
                let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
                assert!(fd >= 0, "socket failed");
                let local = sin(src, 0);
                let rc = libc::bind(fd, &local as *const _ as *const libc::sockaddr, len);
                assert_eq!(rc, 0, "cannot bind {src}");
                let remote = sin(*dst.ip(), dst.port());
                let rc = libc::connect(fd, &remote as *const _ as *const libc::sockaddr, len);
                assert_eq!(rc, 0, "cannot connect to {dst} from {src}");
                TcpStream::from_raw_fd(fd)
            }
        }
    };
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(60)))
        .unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    String::from_utf8_lossy(&answer).into_owned()
}

/// The status code of a raw HTTP answer.
pub fn raw_status(answer: &str) -> u16 {
    answer
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP answer: {answer:?}"))
}

/// Decodes a PNG: (width, height, RGB(A) pixels as grey levels).
pub fn decode_png(bytes: &[u8]) -> (u32, u32, Vec<u8>) {
    let mut decoder = png::Decoder::new(std::io::Cursor::new(bytes));
    // Cards are palette PNGs: expand them to RGB before reading pixels.
    decoder.set_transformations(png::Transformations::EXPAND);
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    let channels = info.color_type.samples();
    assert!(
        channels != 1 || info.color_type == png::ColorType::Grayscale,
        "unexpanded palette"
    );
    assert_eq!(info.bit_depth, png::BitDepth::Eight, "8-bit PNG expected");
    let grey: Vec<u8> = buf[..info.buffer_size()]
        .chunks(channels)
        .map(|p| {
            if channels >= 3 {
                ((p[0] as u32 * 30 + p[1] as u32 * 59 + p[2] as u32 * 11) / 100) as u8
            } else {
                p[0]
            }
        })
        .collect();
    (info.width, info.height, grey)
}

/// Decodes every QR code in a grey image.
pub fn decode_qr(width: u32, height: u32, grey: &[u8]) -> Vec<String> {
    let mut img =
        rqrr::PreparedImage::prepare_from_greyscale(width as usize, height as usize, |x, y| {
            grey[y * width as usize + x]
        });
    img.detect_grids()
        .into_iter()
        .filter_map(|g| g.decode().ok().map(|(_, content)| content))
        .collect()
}

/// One beneficiary of a fixture.
pub struct Person<'a> {
    pub first: &'a str,
    pub last: &'a str,
    pub beneficiary_id: &'a str,
    pub dob: &'a str,
    pub sex: &'a str,
}

/// Writes beneficiaries straight into a box's store (tracked entity, enrollment, card record,
/// MPI identity and link), for page tests that need names the simulator never makes.
/// Returns their enrollment UIDs.
pub fn seed_beneficiaries(db: &Path, program: &str, people: &[Person]) -> Vec<String> {
    let store = kadi::store::Store::open(db).unwrap();
    drop(store);
    let conn = rusqlite::Connection::open(db).unwrap();
    let mut out = Vec::new();
    for (i, p) in people.iter().enumerate() {
        let te = format!("T{i:010}");
        let en = format!("E{i:010}");
        let mpi = format!("SN-DKR-26-TEST{i:04}");
        conn.execute(
            "INSERT INTO tracked_entities(uid, synced_at) VALUES (?1, '2026-01-01T00:00:00Z')",
            [&te],
        )
        .unwrap();
        conn.execute(
            "INSERT INTO enrollments(uid, tracked_entity_uid, program_uid, synced_at) VALUES (?1, ?2, ?3, '2026-01-01T00:00:00Z')",
            [&en, &te, program],
        )
        .unwrap();
        let fields = serde_json::json!({
            "first_name": p.first, "last_name": p.last, "beneficiary_id": p.beneficiary_id,
            "date_of_birth": p.dob, "gender": p.sex, "health_center": "Centre de Santé Médina",
        });
        conn.execute(
            "INSERT INTO card_records(enrollment_uid, tracked_entity_uid, program_uid, fields_json, content_hash, mapped_at, mpi_state)
             VALUES (?1, ?2, ?3, ?4, ?1, '2026-01-01T00:00:00Z', 'resolved')",
            [&en, &te, program, &fields.to_string()],
        )
        .unwrap();
        conn.execute(
            "INSERT INTO mpi_identities(mpi_id, created_at, updated_at) VALUES (?1, 'x', 'x')",
            [&mpi],
        )
        .unwrap();
        conn.execute(
            "INSERT INTO mpi_links(enrollment_uid, mpi_id, method, linked_at) VALUES (?1, ?2, 'new', 'x')",
            [&en, &mpi],
        )
        .unwrap();
        out.push(en);
    }
    out
}

/// A loopback port nothing listens on, for a test that later starts a server on it.
///
/// It is drawn below the kernel's ephemeral range (`ip_local_port_range`), where no
/// `127.0.0.1:0` listener of a test running in parallel is ever placed: a port taken from that
/// range and released can be handed to another test's simulator before this one starts its own.
pub fn closed_port() -> u16 {
    let low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32768);
    assert!(low > 12_000, "the ephemeral range starts at {low}");
    let span = u64::from(low - 11_000);
    let mut x = u64::from(std::process::id())
        ^ std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64;
    for _ in 0..1000 {
        // SplitMix64: a few draws are enough, each a free port with high odds.
        x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = x;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        let port = 10_000 + ((z ^ (z >> 31)) % span) as u16;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free loopback port below {low}")
}
