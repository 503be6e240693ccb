//! The page in a real browser: headless Chromium (/usr/bin/chromium) types a username and PIN
//! into the login form, submits it, presses "Sync now" and "Log out"; a wrong PIN shows the error;
//! forms on another origin (a page on another port of 127.0.0.1, which browsers count as the same
//! *site*, so the SameSite=Strict cookie still travels) cannot log out, sync or log in.
//!
//! Chromium is driven over the DevTools protocol through `--remote-debugging-pipe` (JSON messages
//! separated by NUL on file descriptors 3 and 4): no WebSocket, no extra crate, and no browser
//! download. A missing Chromium fails the test. Every wait is bounded.
mod support;

use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::os::fd::{FromRawFd, RawFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::{Duration, Instant};
use support::*;

/// How long any one step (a command, a navigation) may take on a loaded 2-core CI machine.
const STEP: Duration = Duration::from_secs(45);

/// A headless Chromium with one page, driven over the DevTools pipe.
struct Browser {
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
    fn launch() -> Option<Browser> {
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
    fn try_send(
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

    fn send(&mut self, session: Option<&str>, method: &str, params: Value) -> Value {
        self.try_send(session, method, params)
            .unwrap_or_else(|e| panic!("{method} failed: {e}"))
    }

    fn command(&mut self, method: &str, params: Value) -> Value {
        let session = self.session.clone();
        self.send(Some(&session), method, params)
    }

    /// Evaluates JavaScript in the page; `None` while the page is navigating or on an exception.
    fn eval(&mut self, expression: &str) -> Option<Value> {
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
    fn wait_for(&mut self, what: &str, expression: &str) {
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
    fn goto(&mut self, url: &str) {
        self.eval("window.__kadi_old = true");
        self.command("Page.navigate", json!({ "url": url }));
        self.wait_for(&format!("navigation to {url}"), "!window.__kadi_old");
    }

    /// Clicks the centre of the element `selector` with real mouse events.
    fn click(&mut self, selector: &str) {
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

    /// Focuses `selector` and types `text` into it, as a keyboard would insert it.
    fn type_into(&mut self, selector: &str, text: &str) {
        let sel = serde_json::to_string(selector).unwrap();
        let focused = self.eval(&format!(
            "(() => {{ const e = document.querySelector({sel}); if (!e) return false; e.focus(); e.value = ''; return document.activeElement === e; }})()"
        ));
        assert_eq!(focused, Some(json!(true)), "cannot focus {selector}");
        self.command("Input.insertText", json!({ "text": text }));
    }

    fn path(&mut self) -> String {
        self.eval("location.pathname + location.search")
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default()
    }

    fn text(&mut self) -> String {
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
fn log_in(browser: &mut Browser, base: &str, username: &str, pin: &str) {
    browser.goto(&format!("{base}/login"));
    browser.wait_for("the login form", "!!document.querySelector('#pin')");
    browser.type_into("#username", username);
    browser.type_into("#pin", pin);
    // Mark the page so the wait below sees a new document, not this one.
    browser.eval("window.__kadi_old = true");
    browser.click("form[action='/login'] button[type=submit]");
    browser.wait_for("the answer to the login form", "!window.__kadi_old");
}

fn count(db: &std::path::Path, sql: &str) -> i64 {
    rusqlite::Connection::open(db)
        .unwrap()
        .query_row(sql, [], |r| r.get(0))
        .unwrap()
}

fn clinic() -> (TestBox, Served) {
    let b = TestBox::new();
    b.add_staff("awa", "4321");
    seed_beneficiaries(
        &b.db,
        kadi::sim::PROGRAM_UID,
        &[
            Person {
                first: "Fatou",
                last: "Sow",
                beneficiary_id: "B-003",
                dob: "2001-07-14",
                sex: "F",
            },
            Person {
                first: "Moussa",
                last: "Ndiaye",
                beneficiary_id: "B-004",
                dob: "1990-02-01",
                sex: "M",
            },
        ],
    );
    let s = b.serve();
    (b, s)
}

#[test]
fn staff_log_in_with_a_real_browser_sync_and_log_out() {
    let (b, s) = clinic();
    let Some(mut browser) = Browser::launch() else {
        return;
    };

    // A wrong PIN shows the error and opens no session.
    log_in(&mut browser, &s.url, "awa", "9999");
    assert!(browser.path().starts_with("/login"), "{}", browser.path());
    let text = browser.text();
    assert!(text.contains("Wrong username or PIN."), "{text}");
    assert_eq!(count(&b.db, "SELECT count(*) FROM sessions"), 0);

    // The right PIN lands on the beneficiaries list.
    log_in(&mut browser, &s.url, "awa", "4321");
    assert_eq!(browser.path(), "/beneficiaries");
    let text = browser.text();
    assert!(text.contains("Fatou Sow"), "{text}");
    assert!(text.contains("Moussa Ndiaye"), "{text}");
    assert_eq!(count(&b.db, "SELECT count(*) FROM sessions"), 1);

    // The search form finds one person by beneficiary ID.
    browser.type_into("form.search input[name=q]", "B-003");
    browser.eval("window.__kadi_old = true");
    browser.click("form.search button[type=submit]");
    browser.wait_for("the search answer", "!window.__kadi_old");
    assert_eq!(browser.path(), "/beneficiaries?q=B-003");
    let text = browser.text();
    assert!(text.contains("Fatou Sow"), "{text}");
    assert!(!text.contains("Moussa Ndiaye"), "{text}");

    // Her card opens from the list, and the template picker's Show button redraws it.
    browser.eval("window.__kadi_old = true");
    browser.click("ul.people a");
    browser.wait_for("the card page", "!window.__kadi_old");
    assert!(
        browser.path().starts_with("/beneficiaries/"),
        "{}",
        browser.path()
    );
    browser.eval("document.querySelector('#template').value = 'emerald'");
    browser.eval("window.__kadi_old = true");
    browser.click("form.picker button[type=submit]");
    browser.wait_for("the card in another template", "!window.__kadi_old");
    assert!(
        browser.path().ends_with("?template=emerald"),
        "{}",
        browser.path()
    );
    let shown = browser.eval(
        "(() => { const i = document.querySelector('figure img'); return i && i.complete && i.naturalWidth > 0 && i.src.includes('template=emerald'); })()",
    );
    assert_eq!(
        shown,
        Some(serde_json::json!(true)),
        "the emerald card image did not load"
    );
    browser.goto(&format!("{}/beneficiaries", s.url));

    // "Sync now" is accepted (and audited).
    browser.eval("window.__kadi_old = true");
    browser.click("form[action='/sync-now'] button");
    browser.wait_for("the sync answer", "!window.__kadi_old");
    assert_eq!(browser.path(), "/beneficiaries?sync=started");
    assert!(browser.text().contains("Sync started"));
    assert_eq!(
        count(
            &b.db,
            "SELECT count(*) FROM audit_log WHERE action = 'sync.requested' AND actor = 'awa'"
        ),
        1
    );

    // "Log out" ends the session: the list sends the browser back to the login page.
    browser.eval("window.__kadi_old = true");
    browser.click("form[action='/logout'] button");
    browser.wait_for("the logout answer", "!window.__kadi_old");
    assert_eq!(browser.path(), "/login");
    assert_eq!(count(&b.db, "SELECT count(*) FROM sessions"), 0);
    browser.goto(&format!("{}/beneficiaries", s.url));
    browser.wait_for("the login page", "location.pathname === '/login'");
    assert!(!browser.text().contains("Fatou Sow"));
}

/// A page on another port that posts forms to kadi, as a hostile page on the LAN would.
fn hostile_page(kadi: &str) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let html = format!(
        "<!doctype html><html><body>
<form id='sync' method='post' action='{kadi}/sync-now'><input type='hidden' name='csrf' value='guessed'><button id='s'>sync</button></form>
<form id='logout' method='post' action='{kadi}/logout'><button id='l'>logout</button></form>
<form id='login' method='post' action='{kadi}/login'><input name='username' value='awa'><input name='pin' value='4321'><button id='i'>login</button></form>
</body></html>"
    );
    std::thread::spawn(move || {
        for stream in listener.incoming().take(20) {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            while reader.read_line(&mut line).map(|n| n > 2).unwrap_or(false) {
                line.clear();
            }
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{html}",
                html.len()
            );
        }
    });
    format!("http://{addr}/")
}

#[test]
fn forms_posted_from_another_origin_are_refused_in_a_real_browser() {
    let (b, s) = clinic();
    let Some(mut browser) = Browser::launch() else {
        return;
    };
    log_in(&mut browser, &s.url, "awa", "4321");
    assert_eq!(browser.path(), "/beneficiaries");
    let hostile = hostile_page(&s.url);
    for (button, what) in [("#s", "sync now"), ("#l", "log out"), ("#i", "log in")] {
        browser.goto(&hostile);
        browser.wait_for("the hostile page", "!!document.querySelector('#s')");
        browser.click(button);
        browser.wait_for(
            &format!("kadi's answer to a cross-site {what}"),
            "location.href.indexOf('/sync-now') > 0 || location.href.indexOf('/logout') > 0 || location.href.indexOf('/login') > 0",
        );
        let text = browser.text();
        assert!(
            text.contains("refused") || text.contains("another site"),
            "a cross-site {what} was not refused: {text}"
        );
    }
    assert_eq!(
        count(
            &b.db,
            "SELECT count(*) FROM audit_log WHERE action IN ('sync.requested', 'staff.logout')"
        ),
        0
    );
    assert_eq!(count(&b.db, "SELECT count(*) FROM sessions"), 1);
    // Still logged in.
    browser.goto(&format!("{}/beneficiaries", s.url));
    browser.wait_for("the list", "location.pathname === '/beneficiaries'");
    assert!(browser.text().contains("Fatou Sow"));
}

/// A box with a review pair (twins: another first name, one family name and birth date) and a
/// split item (a father and son linked automatically by an older scorer, found by `kadi mpi
/// recheck`), both made by the real binary.
fn clinic_with_reviews() -> (TestBox, Served) {
    let b = TestBox::new();
    b.add_staff("awa", "4321");
    let person = |first, beneficiary_id, dob, sex| Person {
        first,
        last: "Kouyaté",
        beneficiary_id,
        dob,
        sex,
    };
    let uids = seed_beneficiaries(
        &b.db,
        kadi::sim::PROGRAM_UID,
        &[
            person("Awa", "B-010", "1992-05-17", "F"),
            person("Adama", "B-011", "1992-05-17", "F"),
            person("Demba", "B-012", "1951-02-05", "M"),
            person("Mamadou", "B-013", "1984-07-02", "M"),
        ],
    );
    let conn = rusqlite::Connection::open(&b.db).unwrap();
    // The twins arrive now: resolution puts the pair in review.
    for twin in &uids[..2] {
        conn.execute("DELETE FROM mpi_links WHERE enrollment_uid = ?1", [twin])
            .unwrap();
        conn.execute(
            "UPDATE card_records SET mpi_state = 'pending' WHERE enrollment_uid = ?1",
            [twin],
        )
        .unwrap();
    }
    // The son was linked to his father automatically, long ago.
    conn.execute(
        "UPDATE mpi_links SET mpi_id = (SELECT mpi_id FROM mpi_links WHERE enrollment_uid = ?1), method = 'auto', score = 0.96 WHERE enrollment_uid = ?2",
        [&uids[2], &uids[3]],
    )
    .unwrap();
    drop(conn);
    assert!(b.kadi(&["mpi", "resolve"], "").status.success());
    assert!(b.kadi(&["mpi", "recheck"], "").status.success());
    let s = b.serve();
    (b, s)
}

#[test]
fn the_review_screen_shows_each_pairs_reasons_in_words_and_splits_a_wrong_link() {
    let (b, s) = clinic_with_reviews();
    let Some(mut browser) = Browser::launch() else {
        return;
    };
    log_in(&mut browser, &s.url, "awa", "4321");
    browser.eval("window.__kadi_old = true");
    browser.click("a[href='/review']");
    browser.wait_for("the review screen", "!window.__kadi_old");
    assert_eq!(browser.path(), "/review");
    let text = browser.text();
    // The twins: what agrees, what differs, and why a person decides.
    assert!(text.contains("May be the same person."), "{text}");
    assert!(text.contains("Awa Kouyaté"), "{text}");
    assert!(text.contains("Adama Kouyaté"), "{text}");
    assert!(text.contains("family name (same)"), "{text}");
    assert!(text.contains("first names differ"), "{text}");
    // The father and son: shown apart, as a link that may be two people.
    assert!(
        text.contains("Linked automatically; may be two people: keep or split."),
        "{text}"
    );
    assert!(text.contains("birth dates 33 years apart"), "{text}");
    let split_reasons = browser
        .eval("document.querySelector('li.split dd.disagree').innerText")
        .unwrap();
    assert_eq!(split_reasons, json!("first name, birth date"));

    // "Two people: split" takes the son out of his father's identity, audited as awa's.
    browser.eval("window.__kadi_old = true");
    browser.click("li.split button[value=different]");
    browser.wait_for("the decision's answer", "!window.__kadi_old");
    assert!(
        browser.path().starts_with("/review?decided="),
        "{}",
        browser.path()
    );
    assert!(!browser.text().contains("Linked automatically"));
    assert_eq!(
        count(
            &b.db,
            "SELECT count(DISTINCT mpi_id) FROM mpi_links l JOIN card_records c USING (enrollment_uid) WHERE c.fields_json LIKE '%B-012%' OR c.fields_json LIKE '%B-013%'"
        ),
        2
    );
    assert_eq!(
        count(
            &b.db,
            "SELECT count(*) FROM audit_log WHERE actor = 'awa' AND action IN ('mpi.split', 'mpi.review.decide')"
        ),
        2
    );

    // "Different people" on the twins' pair item: answered, gone from the screen, audited.
    let pending = |b: &TestBox| {
        count(
            &b.db,
            "SELECT count(*) FROM review_items WHERE status = 'pending'",
        )
    };
    let before = pending(&b);
    assert!(before >= 1, "the twins are still waiting");
    browser.eval("window.__kadi_old = true");
    browser.click("li:not(.split) button[value=different]");
    browser.wait_for("the decision's answer", "!window.__kadi_old");
    assert!(
        browser.path().starts_with("/review?decided="),
        "{}",
        browser.path()
    );
    assert_eq!(pending(&b), before - 1);
    assert_eq!(
        count(
            &b.db,
            "SELECT count(*) FROM audit_log WHERE actor = 'awa' AND action = 'mpi.review.decide'"
        ),
        2
    );
}
