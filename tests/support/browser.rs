//! Headless Chromium driven over the DevTools protocol through `--remote-debugging-pipe` (JSON
//! messages separated by NUL on file descriptors 3 and 4): no WebSocket, no extra crate, and no
//! browser download. Page tests fill and submit the real forms with it, at desktop and phone
//! widths ([`Browser::viewport`]), and keep screenshots as test artifacts
//! ([`Browser::screenshot`], under `target/tmp/screenshots/`). A missing Chromium fails the test
//! (`require_tool`). Every wait is bounded.
use super::require_tool;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Write};
use std::os::fd::{FromRawFd, RawFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::{Duration, Instant};

/// How long any one step (a command, a navigation) may take on a loaded 2-core CI machine.
pub const STEP: Duration = Duration::from_secs(45);

/// A headless Chromium with one page, driven over the DevTools pipe.
pub struct Browser {
    child: Child,
    commands: std::fs::File,
    events: Receiver<Value>,
    next_id: u64,
    session: String,
    _profile: tempfile::TempDir,
}

fn pipe() -> (RawFd, RawFd) {
    let mut fds = [0; 2];
    // SAFETY: `fds` is a valid array of two ints for pipe2 to fill.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    (fds[0], fds[1])
}

impl Browser {
    /// Starts headless Chromium; `None` only when it is missing on purpose (`require_tool`).
    pub fn launch() -> Option<Browser> {
        let chromium = require_tool("chromium")?;
        let profile = tempfile::tempdir().unwrap();
        // Chromium reads commands from fd 3 and writes answers to fd 4.
        let (cmd_read, cmd_write) = pipe();
        let (ans_read, ans_write) = pipe();
        let mut command = Command::new(&chromium);
        command
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-background-networking",
                "--disable-extensions",
                "--disable-dev-shm-usage",
                "--remote-debugging-pipe",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        // SAFETY: only async-signal-safe calls (fcntl, dup2) between fork and exec. The pipe ends
        // are first copied above fd 10 so that dup2 onto 3 and 4 never meets one of them.
        unsafe {
            command.pre_exec(move || {
                let r = libc::fcntl(cmd_read, libc::F_DUPFD, 10);
                let w = libc::fcntl(ans_write, libc::F_DUPFD, 10);
                if r < 0 || w < 0 || libc::dup2(r, 3) < 0 || libc::dup2(w, 4) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                libc::close(r);
                libc::close(w);
                Ok(())
            });
        }
        let child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {chromium}: {e}"));
        // SAFETY: these fds came from pipe2 above and are owned from here on by one File each.
        let (commands, answers) = unsafe {
            libc::close(cmd_read);
            libc::close(ans_write);
            (
                std::fs::File::from_raw_fd(cmd_write),
                std::fs::File::from_raw_fd(ans_read),
            )
        };
        let (tx, events) = channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(answers);
            loop {
                let mut message = Vec::new();
                match reader.read_until(0, &mut message) {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {
                        message.pop();
                        if let Ok(v) = serde_json::from_slice::<Value>(&message) {
                            if tx.send(v).is_err() {
                                return;
                            }
                        }
                    }
                }
            }
        });
        let mut browser = Browser {
            child,
            commands,
            events,
            next_id: 0,
            session: String::new(),
            _profile: profile,
        };
        let target = browser.send(None, "Target.createTarget", json!({ "url": "about:blank" }));
        let target_id = target["targetId"].as_str().unwrap().to_string();
        let attached = browser.send(
            None,
            "Target.attachToTarget",
            json!({ "targetId": target_id, "flatten": true }),
        );
        browser.session = attached["sessionId"].as_str().unwrap().to_string();
        browser.command("Page.enable", json!({}));
        browser.command("Runtime.enable", json!({}));
        Some(browser)
    }

    /// Sends one command (to the page's session when `session` is given) and waits for its answer;
    /// `Err` carries a protocol error.
    pub fn try_send(
        &mut self,
        session: Option<&str>,
        method: &str,
        params: Value,
    ) -> Result<Value, Value> {
        self.next_id += 1;
        let id = self.next_id;
        let mut message = json!({ "id": id, "method": method, "params": params });
        if let Some(s) = session {
            message["sessionId"] = json!(s);
        }
        let mut bytes = serde_json::to_vec(&message).unwrap();
        bytes.push(0);
        self.commands
            .write_all(&bytes)
            .unwrap_or_else(|e| panic!("chromium stopped reading commands ({method}): {e}"));
        let deadline = Instant::now() + STEP;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let answer = self
                .events
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("chromium did not answer {method} within {STEP:?}"));
            if answer["id"] == json!(id) {
                return match answer.get("error") {
                    Some(e) => Err(e.clone()),
                    None => Ok(answer["result"].clone()),
                };
            }
        }
    }

    pub fn send(&mut self, session: Option<&str>, method: &str, params: Value) -> Value {
        self.try_send(session, method, params)
            .unwrap_or_else(|e| panic!("{method} failed: {e}"))
    }

    pub fn command(&mut self, method: &str, params: Value) -> Value {
        let session = self.session.clone();
        self.send(Some(&session), method, params)
    }

    /// Evaluates JavaScript in the page; `None` while the page is navigating or on an exception.
    pub fn eval(&mut self, expression: &str) -> Option<Value> {
        let session = self.session.clone();
        let r = self
            .try_send(
                Some(&session),
                "Runtime.evaluate",
                json!({ "expression": expression, "returnByValue": true }),
            )
            .ok()?;
        if r.get("exceptionDetails").is_some() {
            return None;
        }
        Some(r["result"]["value"].clone())
    }

    /// Polls `expression` until it is true, at most [`STEP`]; fails naming `what` and the page.
    pub fn wait_for(&mut self, what: &str, expression: &str) {
        let started = Instant::now();
        let check = format!("document.readyState === 'complete' && ({expression})");
        while started.elapsed() < STEP {
            if self.eval(&check) == Some(json!(true)) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let url = self.eval("location.href");
        let text = self.eval("document.body ? document.body.innerText : ''");
        panic!("waited {STEP:?} for {what}; at {url:?} the page says: {text:?}");
    }

    /// Navigates and waits until the new document has loaded.
    pub fn goto(&mut self, url: &str) {
        self.eval("window.__kadi_old = true");
        self.command("Page.navigate", json!({ "url": url }));
        self.wait_for(&format!("navigation to {url}"), "!window.__kadi_old");
    }

    /// Clicks the centre of the element `selector` with real mouse events.
    pub fn click(&mut self, selector: &str) {
        let sel = serde_json::to_string(selector).unwrap();
        let expr = format!(
            "(() => {{ const e = document.querySelector({sel}); if (!e) return null; e.scrollIntoView({{block: 'center'}}); const r = e.getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2]; }})()"
        );
        let at = self
            .eval(&expr)
            .filter(|v| v.is_array())
            .unwrap_or_else(|| panic!("no element {selector} on the page"));
        let (x, y) = (at[0].as_f64().unwrap(), at[1].as_f64().unwrap());
        for kind in ["mousePressed", "mouseReleased"] {
            self.command(
                "Input.dispatchMouseEvent",
                json!({ "type": kind, "x": x, "y": y, "button": "left", "clickCount": 1 }),
            );
        }
    }

    /// Chooses the file at `path` in the file input `selector`, as a person picking it would.
    pub fn choose_file(&mut self, selector: &str, path: &Path) {
        let root = self.command("DOM.getDocument", json!({ "depth": 0 }));
        let node = self.command(
            "DOM.querySelector",
            json!({ "nodeId": root["root"]["nodeId"], "selector": selector }),
        );
        assert_ne!(
            node["nodeId"],
            json!(0),
            "no element {selector} on the page"
        );
        self.command(
            "DOM.setFileInputFiles",
            json!({ "files": [path.display().to_string()], "nodeId": node["nodeId"] }),
        );
    }

    /// Focuses `selector` and types `text` into it, as a keyboard would insert it.
    pub fn type_into(&mut self, selector: &str, text: &str) {
        let sel = serde_json::to_string(selector).unwrap();
        let focused = self.eval(&format!(
            "(() => {{ const e = document.querySelector({sel}); if (!e) return false; e.focus(); e.value = ''; return document.activeElement === e; }})()"
        ));
        assert_eq!(focused, Some(json!(true)), "cannot focus {selector}");
        self.command("Input.insertText", json!({ "text": text }));
    }

    pub fn path(&mut self) -> String {
        self.eval("location.pathname + location.search")
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default()
    }

    pub fn text(&mut self) -> String {
        self.eval("document.body.innerText")
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Opens the login page, types the username and PIN, and presses "Log in".
pub fn log_in(browser: &mut Browser, base: &str, username: &str, pin: &str) {
    browser.goto(&format!("{base}/login"));
    browser.wait_for("the login form", "!!document.querySelector('#pin')");
    browser.type_into("#username", username);
    browser.type_into("#pin", pin);
    // Mark the page so the wait below sees a new document, not this one.
    browser.eval("window.__kadi_old = true");
    browser.click("form[action='/login'] button[type=submit]");
    browser.wait_for("the answer to the login form", "!window.__kadi_old");
}

impl Browser {
    /// Sets the page's viewport: `Browser::DESKTOP` or `Browser::PHONE` (a phone reports itself
    /// as mobile, so the page's media queries and touch layout apply).
    pub fn viewport(&mut self, (width, height, mobile): (u32, u32, bool)) {
        self.command(
            "Emulation.setDeviceMetricsOverride",
            json!({ "width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile }),
        );
    }

    /// A laptop on the clinic desk.
    pub const DESKTOP: (u32, u32, bool) = (1280, 800, false);
    /// A small Android phone on the clinic Wi-Fi.
    pub const PHONE: (u32, u32, bool) = (360, 740, true);

    /// Saves a PNG of the whole page as `target/tmp/screenshots/NAME.png` (kept as a test
    /// artifact) and returns its path.
    pub fn screenshot(&mut self, name: &str) -> PathBuf {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        let shot = self.command(
            "Page.captureScreenshot",
            json!({ "format": "png", "captureBeyondViewport": true }),
        );
        let data = shot["data"].as_str().expect("a screenshot");
        let bytes = base64_decode(data);
        assert!(
            bytes.starts_with(b"\x89PNG"),
            "the screenshot of {name} is not a PNG"
        );
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, bytes).unwrap();
        path
    }
}

/// Standard base64 (what DevTools sends screenshots in), without a crate for one test helper.
fn base64_decode(text: &str) -> Vec<u8> {
    let value = |c: u8| -> u32 {
        match c {
            b'A'..=b'Z' => (c - b'A') as u32,
            b'a'..=b'z' => (c - b'a' + 26) as u32,
            b'0'..=b'9' => (c - b'0' + 52) as u32,
            b'+' => 62,
            b'/' => 63,
            _ => panic!("not base64: {c}"),
        }
    };
    let clean: Vec<u8> = text
        .bytes()
        .filter(|&c| c != b'=' && !c.is_ascii_whitespace())
        .collect();
    let mut out = Vec::with_capacity(clean.len() * 3 / 4);
    for chunk in clean.chunks(4) {
        let mut n = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            n |= value(c) << (18 - 6 * i);
        }
        let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&bytes[..chunk.len() - 1]);
    }
    out
}
