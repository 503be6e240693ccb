//! kadi's own small HTTP/1.1 front for the local page: it bounds every connection before any
//! handler sees a request.
//!
//! Why not tiny_http (the simulator keeps it): tiny_http cannot refuse a body without draining
//! it (a declared `Content-Length` of 1 TiB aborted the process), has no header size or count
//! limit, no read or write deadlines, one thread per connection without a cap, and its accept
//! thread panics on `EMFILE`; none of that can be configured from outside.
//!
//! Shape: one accept thread; one small connection thread per open connection (capped by
//! [`Limits::max_connections`]) that reads and validates a COMPLETE request (head and body in
//! memory) under the deadlines, hands it to a fixed pool of workers through a channel and writes
//! the reply back under the write deadline. A stalled or slow client therefore holds only its own
//! connection thread, never a worker, and workers only ever see complete requests.
//!
//! What it refuses, always followed by closing the connection: a header section over
//! [`Limits::max_header_bytes`] or [`Limits::max_headers`] (431), a request target over
//! [`Limits::max_url_bytes`] (414), a body declared or decoded over [`Limits::max_body_bytes`]
//! (413, sent before a single body byte is read), a head or body not in time (408), malformed
//! framing such as both `Content-Length` and `Transfer-Encoding` (400), an unknown transfer coding
//! (501), an `Expect` other than `100-continue` (417), and connections over the cap (503). After
//! a refusal the write side is shut first and up to [`LINGER_BYTES`] are discarded for at most
//! [`Limits::linger`] (into a fixed stack buffer, nothing kept) so the client can read the answer
//! instead of a reset; the declared body itself is never read.
//!
//! Chunked request bodies are decoded with the same size limit and the same body deadline.
//! `Expect: 100-continue` gets `100 Continue` only when the declared body is acceptable.
//! HTTP/1.0 closes after each answer unless it asks for keep-alive; `Connection: close` is honoured.
//!
//! Who may call: `web::start` only. The router and handlers never see a socket.
use super::http::{self, Reply};
use anyhow::{Context, Result};
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// At most this many bytes are discarded while lingering after a refusal.
pub const LINGER_BYTES: usize = 256 * 1024;
/// Stack of a connection thread: it holds a parser and a read buffer, nothing deep.
const CONNECTION_STACK: usize = 128 * 1024;
/// Longest chunk-size line (with extensions) of a chunked body.
const MAX_CHUNK_LINE: usize = 1024;
/// How much one `read` asks for.
const READ_CHUNK: usize = 8 * 1024;

/// The bounds every connection lives within. [`Limits::default`] holds the documented values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// The whole header section must arrive within this time of its first byte (of the accept,
    /// for a connection's first request). Slowloris ends here.
    pub header_timeout: Duration,
    /// Largest header section (request line included), else 431.
    pub max_header_bytes: usize,
    /// Most header fields, else 431.
    pub max_headers: usize,
    /// Largest request target, else 414.
    pub max_url_bytes: usize,
    /// Largest request body (declared or decoded), else 413 without reading it.
    pub max_body_bytes: usize,
    /// Largest body of a photo upload, on the upload paths only ([`UPLOAD_PATHS`]), else 413.
    pub max_upload_bytes: usize,
    /// A body must arrive within this base time ...
    pub body_timeout: Duration,
    /// ... plus this much per started 16 KiB of declared (or, chunked, allowed) length.
    pub body_timeout_per_16k: Duration,
    /// A keep-alive connection with no new request for this long is closed.
    pub idle_timeout: Duration,
    /// A reply must be written within this time.
    pub write_timeout: Duration,
    /// Most open connections; more are answered 503 and closed at once.
    pub max_connections: usize,
    /// After a refusal, how long to discard what the client still sends before closing.
    pub linger: Duration,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            header_timeout: Duration::from_secs(10),
            max_header_bytes: 16 * 1024,
            max_headers: 100,
            max_url_bytes: 8 * 1024,
            max_body_bytes: http::MAX_BODY_BYTES,
            max_upload_bytes: 8 * 1024 * 1024,
            body_timeout: Duration::from_secs(10),
            body_timeout_per_16k: Duration::from_secs(1),
            idle_timeout: Duration::from_secs(30),
            write_timeout: Duration::from_secs(10),
            max_connections: 256,
            linger: Duration::from_secs(1),
        }
    }
}

/// Paths whose bodies may be photos, up to [`Limits::max_upload_bytes`] (s11-v: /verify's
/// upload). Every other path keeps [`Limits::max_body_bytes`].
pub const UPLOAD_PATHS: &[&str] = &[super::verify_page::UPLOAD_PATH];

impl Limits {
    /// The limits for a request to `url`: uploads may carry [`Limits::max_upload_bytes`].
    fn for_url(&self, url: &str) -> std::borrow::Cow<'_, Limits> {
        let path = url.split('?').next().unwrap_or(url);
        if UPLOAD_PATHS.contains(&path) {
            std::borrow::Cow::Owned(Limits {
                max_body_bytes: self.max_upload_bytes.max(self.max_body_bytes),
                ..self.clone()
            })
        } else {
            std::borrow::Cow::Borrowed(self)
        }
    }

    /// The time allowed for a body of `len` bytes.
    fn body_budget(&self, len: usize) -> Duration {
        let blocks = len.div_ceil(16 * 1024) as u32;
        self.body_timeout + self.body_timeout_per_16k.saturating_mul(blocks)
    }
}

/// A request method; routes match on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Method {
    Get,
    Head,
    Post,
    Put,
    Delete,
    Options,
    Patch,
    /// Any other token (httparse only lets tokens through).
    Other(String),
}

impl Method {
    fn parse(s: &str) -> Method {
        match s {
            "GET" => Method::Get,
            "HEAD" => Method::Head,
            "POST" => Method::Post,
            "PUT" => Method::Put,
            "DELETE" => Method::Delete,
            "OPTIONS" => Method::Options,
            "PATCH" => Method::Patch,
            other => Method::Other(other.to_string()),
        }
    }
}

impl std::fmt::Display for Method {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
            Method::Options => "OPTIONS",
            Method::Patch => "PATCH",
            Method::Other(s) => s,
        };
        f.write_str(s)
    }
}

/// A complete, validated request: what handlers see.
#[derive(Debug, Clone)]
pub struct Request {
    method: Method,
    url: String,
    headers: Vec<(String, String)>,
    remote_addr: SocketAddr,
    body: Vec<u8>,
}

impl Request {
    /// The method.
    pub fn method(&self) -> &Method {
        &self.method
    }
    /// The request target as sent (path and query, not decoded).
    pub fn url(&self) -> &str {
        &self.url
    }
    /// The header fields in order (names as sent; values lossily decoded as UTF-8).
    pub fn headers(&self) -> &[(String, String)] {
        &self.headers
    }
    /// The peer's address (an `Option` as tiny_http had it, so callers keep their shape).
    pub fn remote_addr(&self) -> Option<&SocketAddr> {
        Some(&self.remote_addr)
    }
    /// The whole body (already within [`Limits::max_body_bytes`]).
    pub fn body(&self) -> &[u8] {
        &self.body
    }
    /// The first value of a header (case-insensitive name).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Answers complete requests; runs on a worker thread.
pub type Handler = Box<dyn FnMut(&mut Request) -> Reply + Send>;

/// One complete request on its way to a worker, with where its reply goes.
struct Job {
    request: Request,
    reply: mpsc::SyncSender<Reply>,
}

/// A running front: see [`Front::wait`] and [`Front::stop`].
pub struct Front {
    /// The bound address.
    pub addr: SocketAddr,
    stop: Arc<AtomicBool>,
    deaths: mpsc::Receiver<String>,
    threads: Vec<JoinHandle<()>>,
    jobs: Option<mpsc::SyncSender<Option<Job>>>,
    workers: usize,
}

/// Sends the thread's name when it ends for any reason (return or panic), so the process can
/// notice a dead worker instead of serving on silently with fewer.
struct DeathNotice {
    name: String,
    deaths: mpsc::Sender<String>,
}

impl Drop for DeathNotice {
    fn drop(&mut self) {
        let _ = self.deaths.send(std::mem::take(&mut self.name));
    }
}

/// Counts an open connection while alive.
struct OpenSlot(Arc<AtomicUsize>);

impl Drop for OpenSlot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Logs at most one line per second for a noisy source (accept errors, refusals) and says how
/// many were left out, so an attacker cannot flood the box's log.
struct RateLimitedLog {
    last_second: AtomicU64,
    suppressed: AtomicU64,
    started: Instant,
}

impl RateLimitedLog {
    fn new() -> RateLimitedLog {
        RateLimitedLog {
            last_second: AtomicU64::new(u64::MAX),
            suppressed: AtomicU64::new(0),
            started: Instant::now(),
        }
    }

    fn log(&self, line: &str) {
        let now = self.started.elapsed().as_secs();
        let last = self.last_second.load(Ordering::Relaxed);
        if last != now
            && self
                .last_second
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            let left_out = self.suppressed.swap(0, Ordering::Relaxed);
            if left_out > 0 {
                eprintln!("kadi serve: {line} ({left_out} similar lines left out)");
            } else {
                eprintln!("kadi serve: {line}");
            }
        } else {
            self.suppressed.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// What the connection threads share.
struct Shared {
    limits: Limits,
    jobs: mpsc::SyncSender<Option<Job>>,
    open: Arc<AtomicUsize>,
    refusals: RateLimitedLog,
}

impl Front {
    /// Starts the accept thread on a bound `listener` and one worker per handler.
    pub fn start(listener: TcpListener, limits: Limits, handlers: Vec<Handler>) -> Result<Front> {
        let addr = listener
            .local_addr()
            .context("reading the address the page listens on")?;
        let stop = Arc::new(AtomicBool::new(false));
        let (death_tx, deaths) = mpsc::channel();
        let workers = handlers.len();
        // Bounded: with the connection cap there are never more jobs waiting than connections.
        let (jobs_tx, jobs_rx) = mpsc::sync_channel::<Option<Job>>(limits.max_connections.max(1));
        let jobs_rx = Arc::new(Mutex::new(jobs_rx));
        let mut threads = Vec::new();
        for (i, mut handler) in handlers.into_iter().enumerate() {
            let name = format!("kadi-web-{i}");
            let notice = DeathNotice {
                name: name.clone(),
                deaths: death_tx.clone(),
            };
            let jobs_rx = jobs_rx.clone();
            let thread = std::thread::Builder::new()
                .name(name)
                .spawn(move || {
                    let _notice = notice;
                    loop {
                        let job = {
                            let rx = jobs_rx.lock().unwrap_or_else(|e| e.into_inner());
                            rx.recv()
                        };
                        let Ok(Some(mut job)) = job else { return };
                        let reply = handler(&mut job.request);
                        let _ = job.reply.send(reply);
                    }
                })
                .context("starting a web worker thread")?;
            threads.push(thread);
        }
        let shared = Arc::new(Shared {
            limits,
            jobs: jobs_tx.clone(),
            open: Arc::new(AtomicUsize::new(0)),
            refusals: RateLimitedLog::new(),
        });
        let notice = DeathNotice {
            name: "kadi-web-accept".into(),
            deaths: death_tx,
        };
        let accept_stop = stop.clone();
        let thread = std::thread::Builder::new()
            .name("kadi-web-accept".into())
            .spawn(move || {
                let _notice = notice;
                if let Err(e) = accept_loop(&listener, &shared, &accept_stop) {
                    eprintln!("kadi serve: no longer accepting connections: {e:#}");
                }
            })
            .context("starting the web accept thread")?;
        threads.push(thread);
        Ok(Front {
            addr,
            stop,
            deaths,
            threads,
            jobs: Some(jobs_tx),
            workers,
        })
    }

    /// Blocks until a worker or the accept thread ends, which only happens when something went
    /// wrong: the error lets `kadi serve` exit non-zero so the service manager restarts it.
    pub fn wait(self) -> Result<()> {
        match self.deaths.recv() {
            Ok(name) => anyhow::bail!(
                "the web thread {name} ended; stopping so the service manager can restart kadi"
            ),
            Err(_) => anyhow::bail!("every web thread ended"),
        }
    }

    /// Stops accepting, ends the workers (after the requests they hold) and joins them.
    /// Connection threads end on their own (their worker channel is gone, or a deadline).
    pub fn stop(mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept thread with a connection of our own.
        let mut wake = self.addr;
        if wake.ip().is_unspecified() {
            wake.set_ip(match wake {
                SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
                SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
            });
        }
        let _ = TcpStream::connect_timeout(&wake, Duration::from_secs(1));
        if let Some(jobs) = self.jobs.take() {
            for _ in 0..self.workers {
                let _ = jobs.send(None);
            }
        }
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// Accepts until stopped. Running out of descriptors, aborted handshakes and the like are
/// logged (rate-limited) and survived; only a listener that is itself broken ends the loop.
fn accept_loop(listener: &TcpListener, shared: &Arc<Shared>, stop: &AtomicBool) -> Result<()> {
    let errors = RateLimitedLog::new();
    loop {
        let accepted = listener.accept();
        if stop.load(Ordering::SeqCst) {
            return Ok(());
        }
        match accepted {
            Ok((stream, peer)) => admit(stream, peer, shared),
            Err(e) => {
                let code = e.raw_os_error().unwrap_or(0);
                if matches!(
                    code,
                    libc::EBADF | libc::EINVAL | libc::ENOTSOCK | libc::EOPNOTSUPP | libc::EFAULT
                ) {
                    return Err(e).context("accepting a connection");
                }
                errors.log(&format!("accepting a connection: {e} (retrying)"));
                // EMFILE and friends stay true until a connection closes: do not spin on them.
                if e.kind() != ErrorKind::Interrupted && e.kind() != ErrorKind::ConnectionAborted {
                    std::thread::sleep(Duration::from_millis(10));
                }
            }
        }
    }
}

/// Gives an accepted connection its own thread, or refuses it at once when the cap is reached
/// or no thread can be started.
fn admit(stream: TcpStream, peer: SocketAddr, shared: &Arc<Shared>) {
    if shared.open.fetch_add(1, Ordering::SeqCst) >= shared.limits.max_connections {
        shared.open.fetch_sub(1, Ordering::SeqCst);
        shared
            .refusals
            .log(&format!("refused {peer}: too many open connections"));
        refuse_fast(stream);
        return;
    }
    let slot = OpenSlot(shared.open.clone());
    let conn_shared = shared.clone();
    let spawned = std::thread::Builder::new()
        .name("kadi-web-conn".into())
        .stack_size(CONNECTION_STACK)
        .spawn(move || {
            let _slot = slot;
            serve_connection(stream, peer, &conn_shared);
        });
    if let Err(e) = spawned {
        // The closure (stream and slot) is dropped with the error: the connection closes.
        shared
            .refusals
            .log(&format!("refused {peer}: cannot start a thread: {e}"));
    }
}

/// A 503 written without waiting (the accept thread must never block on a client).
fn refuse_fast(mut stream: TcpStream) {
    const BUSY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 21\r\nRetry-After: 1\r\nConnection: close\r\n\r\ntoo many connections\n";
    if stream.set_nonblocking(true).is_ok() {
        let _ = stream.write(BUSY);
    }
    let _ = stream.shutdown(Shutdown::Both);
}

/// Why a request was not read completely.
#[derive(Debug)]
enum Refusal {
    /// Answer this status with this text, then close.
    Answer(u16, &'static str),
    /// Close without a word (the client closed, went idle, or the socket failed).
    Close,
}

/// A connection's bytes read but not yet used (a request may arrive with the next one behind it).
struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
}

/// How a read under a deadline ended when it got no bytes.
enum Got {
    Bytes,
    Eof,
    TimedOut,
    Failed,
}

impl Conn {
    /// Reads once (at most `max` bytes, appended to `buf`) before `deadline`.
    fn fill(&mut self, deadline: Instant, max: usize) -> Got {
        let Some(left) = deadline.checked_duration_since(Instant::now()) else {
            return Got::TimedOut;
        };
        if left.is_zero() {
            return Got::TimedOut;
        }
        if self.stream.set_read_timeout(Some(left)).is_err() {
            return Got::Failed;
        }
        let mut chunk = [0u8; READ_CHUNK];
        let want = max.clamp(1, READ_CHUNK);
        loop {
            match self.stream.read(&mut chunk[..want]) {
                Ok(0) => return Got::Eof,
                Ok(n) => {
                    self.buf.extend_from_slice(&chunk[..n]);
                    return Got::Bytes;
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    return Got::TimedOut
                }
                Err(_) => return Got::Failed,
            }
        }
    }

    /// Reads until at least `n` bytes are buffered, or refuses. Reads in whole chunks, so the
    /// buffer holds at most `n` plus one chunk (the start of a pipelined request).
    fn need(&mut self, n: usize, deadline: Instant, timed_out: Refusal) -> Result<(), Refusal> {
        while self.buf.len() < n {
            match self.fill(deadline, READ_CHUNK) {
                Got::Bytes => {}
                Got::TimedOut => return Err(timed_out),
                Got::Eof | Got::Failed => return Err(Refusal::Close),
            }
        }
        Ok(())
    }

    /// Writes all of `bytes` before `deadline`.
    fn write_all(&mut self, bytes: &[u8], deadline: Instant) -> bool {
        let mut done = 0;
        while done < bytes.len() {
            let Some(left) = deadline.checked_duration_since(Instant::now()) else {
                return false;
            };
            if left.is_zero() || self.stream.set_write_timeout(Some(left)).is_err() {
                return false;
            }
            match self.stream.write(&bytes[done..]) {
                Ok(0) => return false,
                Ok(n) => done += n,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => return false,
            }
        }
        true
    }
}

/// The head of a request, parsed.
struct Head {
    method: Method,
    url: String,
    headers: Vec<(String, String)>,
    http10: bool,
    /// Bytes of `buf` the head took.
    len: usize,
}

/// Serves one connection: requests in a row (keep-alive) until closed, refused or idle.
fn serve_connection(stream: TcpStream, peer: SocketAddr, shared: &Shared) {
    let limits = &shared.limits;
    let _ = stream.set_nodelay(true);
    let mut conn = Conn {
        stream,
        buf: Vec::new(),
    };
    // A new connection gets the header deadline for its first byte; later requests the idle one.
    let mut first_byte_deadline = Instant::now() + limits.header_timeout;
    loop {
        let outcome = read_request(&mut conn, peer, limits, first_byte_deadline);
        let (request, keep_alive) = match outcome {
            Ok(Some(pair)) => pair,
            Ok(None) => return,
            Err(Refusal::Close) => return,
            Err(Refusal::Answer(status, why)) => {
                shared
                    .refusals
                    .log(&format!("refused {peer}: {status} {why}"));
                let reply = Reply::text(status, why);
                let deadline = Instant::now() + limits.write_timeout;
                if conn.write_all(&reply.to_http(false, false), deadline) {
                    linger(&mut conn.stream, limits.linger);
                }
                return;
            }
        };
        let started = Instant::now();
        let head_only = request.method == Method::Head;
        let method = request.method.clone();
        let url = request.url.clone();
        let (reply_tx, reply_rx) = mpsc::sync_channel(1);
        let reply = match shared.jobs.send(Some(Job {
            request,
            reply: reply_tx,
        })) {
            // A worker that dies while holding the job drops the sender: 500, not a hang.
            Ok(()) => reply_rx
                .recv()
                .unwrap_or_else(|_| Reply::json_error(500, "internal error")),
            Err(_) => Reply::json_error(503, "the server is stopping"),
        };
        let status = reply.status;
        let bytes = reply.to_http(keep_alive, head_only);
        let written = conn.write_all(&bytes, Instant::now() + limits.write_timeout);
        log_request(&method, &url, status, started, written);
        if !written {
            return;
        }
        if !keep_alive {
            let _ = conn.stream.shutdown(Shutdown::Write);
            linger(&mut conn.stream, limits.linger);
            return;
        }
        first_byte_deadline = Instant::now() + limits.idle_timeout;
    }
}

/// The request log line: `METHOD path status ms`, with the path decoded and then escaped (no
/// control characters or terminal escapes reach the log) and bounded.
fn log_request(method: &Method, url: &str, status: u16, started: Instant, written: bool) {
    let (path, _) = http::split_url(url);
    let method = crate::output::escape_log(&method.to_string(), 16);
    let path = crate::output::escape_log(&path, 200);
    let ms = started.elapsed().as_millis();
    if written {
        eprintln!("{method} {path} {status} {ms}ms");
    } else {
        eprintln!("{method} {path} {status} {ms}ms (the client did not take the answer)");
    }
}

/// After a refusal: shut our side (the client sees the answer, then the end), discard what the
/// client still sends for a short bounded while, then close. Closing at once with unread bytes
/// would reset the connection and could destroy the answer before the client reads it.
fn linger(stream: &mut TcpStream, linger: Duration) {
    let _ = stream.shutdown(Shutdown::Write);
    let deadline = Instant::now() + linger;
    let mut sink = [0u8; READ_CHUNK];
    let mut discarded = 0;
    while discarded < LINGER_BYTES {
        let Some(left) = deadline.checked_duration_since(Instant::now()) else {
            return;
        };
        if left.is_zero() || stream.set_read_timeout(Some(left)).is_err() {
            return;
        }
        match stream.read(&mut sink) {
            Ok(0) => return,
            Ok(n) => discarded += n,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => return,
        }
    }
}

/// Reads one complete request. `Ok(None)`: the client closed (or stayed idle) between requests.
/// Returns the request and whether the connection stays open after the answer.
fn read_request(
    conn: &mut Conn,
    peer: SocketAddr,
    limits: &Limits,
    first_byte_deadline: Instant,
) -> Result<Option<(Request, bool)>, Refusal> {
    // Wait for the first byte (unless a pipelined request is already buffered).
    if conn.buf.is_empty() {
        match conn.fill(first_byte_deadline, limits.max_header_bytes) {
            Got::Bytes => {}
            Got::Eof | Got::TimedOut | Got::Failed => return Ok(None),
        }
    }
    let head = read_head(conn, limits)?;
    let keep_alive = wants_keep_alive(&head);
    let body = read_body(conn, &head, &limits.for_url(&head.url))?;
    Ok(Some((
        Request {
            method: head.method,
            url: head.url,
            headers: head.headers,
            remote_addr: peer,
            body,
        },
        keep_alive,
    )))
}

/// Whether the client wants the connection kept after this request.
fn wants_keep_alive(head: &Head) -> bool {
    let connection = header_tokens(&head.headers, "Connection");
    if head.http10 {
        connection.iter().any(|t| t == "keep-alive")
    } else {
        !connection.iter().any(|t| t == "close")
    }
}

/// The comma-separated, lower-cased tokens of every field named `name`.
fn header_tokens(headers: &[(String, String)], name: &str) -> Vec<String> {
    headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case(name))
        .flat_map(|(_, v)| v.split(','))
        .map(|t| t.trim().to_ascii_lowercase())
        .filter(|t| !t.is_empty())
        .collect()
}

/// Reads and parses the header section under the header deadline and size limits.
fn read_head(conn: &mut Conn, limits: &Limits) -> Result<Head, Refusal> {
    let deadline = Instant::now() + limits.header_timeout;
    let mut searched: usize = 0;
    loop {
        // Parse only once the blank line is in: re-parsing a growing head byte by byte (a
        // slowloris) would cost quadratic time.
        let from = searched.saturating_sub(3);
        if let Some(end) = find_head_end(&conn.buf[from..]) {
            return parse_head(&conn.buf[..from + end], limits);
        }
        searched = conn.buf.len();
        if conn.buf.len() >= limits.max_header_bytes {
            return Err(if !conn.buf.contains(&b'\n') {
                Refusal::Answer(414, "request line too long")
            } else {
                Refusal::Answer(431, "request header section too large")
            });
        }
        match conn.fill(deadline, limits.max_header_bytes - conn.buf.len()) {
            Got::Bytes => {}
            Got::TimedOut => {
                return Err(Refusal::Answer(
                    408,
                    "request header section not received in time",
                ))
            }
            Got::Eof | Got::Failed => return Err(Refusal::Close),
        }
    }
}

/// The length of the head (through its blank line) if `buf` holds one.
fn find_head_end(buf: &[u8]) -> Option<usize> {
    let mut i = 0;
    while let Some(p) = buf[i..].iter().position(|&b| b == b'\n') {
        let nl = i + p;
        match buf.get(nl + 1) {
            Some(b'\n') => return Some(nl + 2),
            Some(b'\r') if buf.get(nl + 2) == Some(&b'\n') => return Some(nl + 3),
            _ => {}
        }
        i = nl + 1;
    }
    None
}

fn parse_head(bytes: &[u8], limits: &Limits) -> Result<Head, Refusal> {
    let mut fields = vec![httparse::EMPTY_HEADER; limits.max_headers];
    let mut parsed = httparse::Request::new(&mut fields);
    let len = match parsed.parse(bytes) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Err(Refusal::Answer(400, "malformed request")),
        Err(httparse::Error::TooManyHeaders) => {
            return Err(Refusal::Answer(431, "too many request header fields"))
        }
        Err(httparse::Error::Version) => {
            return Err(Refusal::Answer(
                505,
                "only HTTP/1.0 and HTTP/1.1 are served",
            ))
        }
        Err(_) => return Err(Refusal::Answer(400, "malformed request")),
    };
    let (Some(method), Some(url), Some(version)) = (parsed.method, parsed.path, parsed.version)
    else {
        return Err(Refusal::Answer(400, "malformed request"));
    };
    if url.len() > limits.max_url_bytes {
        return Err(Refusal::Answer(414, "request target too long"));
    }
    if !url.starts_with('/') {
        return Err(Refusal::Answer(
            400,
            "only origin-form request targets are served",
        ));
    }
    let headers = parsed
        .headers
        .iter()
        .map(|h| {
            (
                h.name.to_string(),
                String::from_utf8_lossy(h.value).into_owned(),
            )
        })
        .collect();
    Ok(Head {
        method: Method::parse(method),
        url: url.to_string(),
        headers,
        http10: version == 0,
        len,
    })
}

/// Reads the body the head announces: none, `Content-Length` bytes or a chunked body, each
/// within the size limit and the body deadline. The head's bytes are consumed from the buffer.
fn read_body(conn: &mut Conn, head: &Head, limits: &Limits) -> Result<Vec<u8>, Refusal> {
    conn.buf.drain(..head.len);
    let lengths: Vec<&str> = head
        .headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("Content-Length"))
        .flat_map(|(_, v)| v.split(','))
        .map(str::trim)
        .collect();
    let codings = header_tokens(&head.headers, "Transfer-Encoding");
    let expect = header_tokens(&head.headers, "Expect");
    if !codings.is_empty() && !lengths.is_empty() {
        // Both framings at once is how requests are smuggled past proxies: refuse.
        return Err(Refusal::Answer(
            400,
            "both Content-Length and Transfer-Encoding",
        ));
    }
    let wants_continue = match expect.as_slice() {
        [] => false,
        [e] if e == "100-continue" => !head.http10,
        _ => return Err(Refusal::Answer(417, "unsupported expectation")),
    };
    if !codings.is_empty() {
        if codings != ["chunked"] || head.http10 {
            return Err(Refusal::Answer(501, "unsupported transfer coding"));
        }
        if wants_continue {
            send_continue(conn, limits)?;
        }
        return read_chunked(conn, limits);
    }
    let Some(first) = lengths.first() else {
        return Ok(Vec::new());
    };
    if lengths.iter().any(|l| l != first) {
        return Err(Refusal::Answer(400, "conflicting Content-Length values"));
    }
    if first.is_empty() || !first.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Refusal::Answer(400, "malformed Content-Length"));
    }
    // More digits than any acceptable length: too large, whatever the number (no overflow).
    let declared = match first.parse::<u64>() {
        Ok(n) => n,
        Err(_) => return Err(Refusal::Answer(413, "request body too large")),
    };
    if declared > limits.max_body_bytes as u64 {
        return Err(Refusal::Answer(413, "request body too large"));
    }
    let len = declared as usize;
    if len == 0 {
        return Ok(Vec::new());
    }
    if wants_continue && conn.buf.is_empty() {
        send_continue(conn, limits)?;
    }
    let deadline = Instant::now() + limits.body_budget(len);
    conn.need(
        len,
        deadline,
        Refusal::Answer(408, "request body not received in time"),
    )?;
    Ok(conn.buf.drain(..len).collect())
}

fn send_continue(conn: &mut Conn, limits: &Limits) -> Result<(), Refusal> {
    if conn.write_all(
        b"HTTP/1.1 100 Continue\r\n\r\n",
        Instant::now() + limits.write_timeout,
    ) {
        Ok(())
    } else {
        Err(Refusal::Close)
    }
}

/// Decodes a chunked body (sizes, data, trailers) within the size limit and one deadline sized
/// for the largest allowed body.
fn read_chunked(conn: &mut Conn, limits: &Limits) -> Result<Vec<u8>, Refusal> {
    let deadline = Instant::now() + limits.body_budget(limits.max_body_bytes);
    let late = || Refusal::Answer(408, "request body not received in time");
    let mut body = Vec::new();
    loop {
        let size = loop {
            match httparse::parse_chunk_size(&conn.buf) {
                Ok(httparse::Status::Complete((used, size))) => {
                    conn.buf.drain(..used);
                    break size;
                }
                Ok(httparse::Status::Partial) if conn.buf.len() < MAX_CHUNK_LINE => {
                    let n = conn.buf.len() + 1;
                    conn.need(n, deadline, late())?;
                }
                _ => return Err(Refusal::Answer(400, "malformed chunked body")),
            }
        };
        if size == 0 {
            break;
        }
        if size > (limits.max_body_bytes - body.len()) as u64 {
            return Err(Refusal::Answer(413, "request body too large"));
        }
        let size = size as usize;
        conn.need(size + 2, deadline, late())?;
        if &conn.buf[size..size + 2] != b"\r\n" {
            return Err(Refusal::Answer(400, "malformed chunked body"));
        }
        body.extend(conn.buf.drain(..size));
        conn.buf.drain(..2);
    }
    // Trailer fields (ignored) up to the blank line, within the header size limit.
    let mut trailers = 0;
    loop {
        let line_end = loop {
            if let Some(p) = conn.buf.iter().position(|&b| b == b'\n') {
                break p + 1;
            }
            if trailers + conn.buf.len() > limits.max_header_bytes {
                return Err(Refusal::Answer(431, "chunked trailer section too large"));
            }
            let n = conn.buf.len() + 1;
            conn.need(n, deadline, late())?;
        };
        trailers += line_end;
        let blank = conn.buf[..line_end]
            .iter()
            .all(|&b| b == b'\r' || b == b'\n');
        conn.buf.drain(..line_end);
        if blank {
            return Ok(body);
        }
        if trailers > limits.max_header_bytes {
            return Err(Refusal::Answer(431, "chunked trailer section too large"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_default_to_the_documented_values() {
        let l = Limits::default();
        assert_eq!(l.header_timeout, Duration::from_secs(10));
        assert_eq!(l.max_header_bytes, 16 * 1024);
        assert_eq!(l.max_headers, 100);
        assert_eq!(l.max_body_bytes, 64 * 1024);
        assert_eq!(l.body_timeout, Duration::from_secs(10));
        assert_eq!(l.body_timeout_per_16k, Duration::from_secs(1));
        assert_eq!(l.idle_timeout, Duration::from_secs(30));
        assert_eq!(l.write_timeout, Duration::from_secs(10));
        assert_eq!(l.max_connections, 256);
        assert_eq!(l.max_url_bytes, 8 * 1024);
        assert_eq!(l.body_budget(64 * 1024), Duration::from_secs(14));
        assert_eq!(l.body_budget(1), Duration::from_secs(11));
    }

    #[test]
    fn the_head_ends_at_the_first_blank_line() {
        assert_eq!(
            find_head_end(b"GET / HTTP/1.1\r\nA: b\r\n\r\nbody"),
            Some(24)
        );
        assert_eq!(find_head_end(b"GET / HTTP/1.1\nA: b\n\nbody"), Some(21));
        assert_eq!(find_head_end(b"GET / HTTP/1.1\r\nA: b\r\n"), None);
    }

    #[test]
    fn heads_parse_and_refuse_by_the_limits() {
        let l = Limits::default();
        let h = parse_head(b"POST /x?a=1 HTTP/1.0\r\nHost: b\r\n\r\n", &l).unwrap();
        assert_eq!(h.method, Method::Post);
        assert_eq!(h.url, "/x?a=1");
        assert!(h.http10 && !wants_keep_alive(&h));
        let many: String = (0..101).map(|i| format!("X-{i}: v\r\n")).collect();
        let req = format!("GET / HTTP/1.1\r\n{many}\r\n");
        assert!(matches!(
            parse_head(req.as_bytes(), &l),
            Err(Refusal::Answer(431, _))
        ));
        let long = format!("GET /{} HTTP/1.1\r\n\r\n", "a".repeat(9000));
        assert!(matches!(
            parse_head(long.as_bytes(), &l),
            Err(Refusal::Answer(414, _))
        ));
    }
}
