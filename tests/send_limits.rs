//! Every POST the send and Wallet pages and APIs accept, attacked over raw HTTP/1.1 on 127.0.0.1
//! against `kadi serve`: a body one byte over the route's own limit (16 KiB for the send routes,
//! 32 KiB for the Wallet bulk), one byte over the front's 64 KiB, a `Content-Length` that lies
//! (1 TiB declared, a few bytes sent, the connection left open), a declared oversize body behind
//! `Expect: 100-continue`, and chunked bodies decoded past each limit or announcing a 1 TiB chunk.
//! Each is answered 413 promptly (not after a body deadline), nothing is queued, no message
//! changes state, no audit row is written, and the server answers the next request. The send and
//! Wallet settings have no web form (they are `kadi send config` / `kadi wallet config`), so
//! there is no config form to attack here.
mod support;

use kadi::record::CardFields;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};
use support::*;

const UID: &str = "L0000000001";

/// A box with one card, WhatsApp configured (offline), staff member awa, one message `unknown`;
/// answers the box and the message ID.
fn clinic() -> (TestBox, String) {
    let b = TestBox::new();
    let store = store_with_metadata(b.dir.path());
    let fields = CardFields {
        first_name: Some("Awa".into()),
        last_name: Some("Ndiaye".into()),
        date_of_birth: Some("1990-04-01".into()),
        gender: Some("F".into()),
        health_center: Some("Centre de santé Médina".into()),
        phone_number: Some("77 123 45 67".into()),
        enrollment_date: Some("2026-03-02".into()),
        ..Default::default()
    };
    put_card_record(&store, UID, fields);
    drop(store);
    // WhatsApp points at a port nothing listens on: the queued message below stays put.
    send::config_whatsapp(&b, &format!("http://127.0.0.1:{}", closed_port()));
    let q = b.kadi_json(&[
        "send",
        "card",
        "--enrollment",
        UID,
        "--channel",
        "whatsapp",
        "--json",
    ]);
    let id = q["message_id"].as_str().unwrap().to_string();
    // The state a crash mid-send leaves (tests/send_outbox.rs and send_browser.rs make it for
    // real with kill -9): a resend or mark-sent that got through would change it.
    rusqlite::Connection::open(&b.db)
        .unwrap()
        .execute("UPDATE outbox SET status = 'unknown' WHERE id = ?1", [&id])
        .unwrap();
    b.add_staff("awa", "4321");
    (b, id)
}

/// How an attack frames its body.
#[derive(Debug, Clone, Copy)]
enum Attack {
    /// An honest `Content-Length` of this many bytes, all sent.
    Exact(usize),
    /// `Content-Length: 1 TiB`, 512 bytes sent, the connection left open.
    LyingLength,
    /// `Content-Length` of this many bytes behind `Expect: 100-continue`, no body sent.
    ExpectContinue(usize),
    /// A chunked body of this many decoded bytes in 1 KiB chunks.
    Chunked(usize),
    /// A chunk announcing 1 TiB, 512 bytes sent.
    HugeChunk,
}

/// A POST route and the body shape it reads.
struct Route {
    path: String,
    json: bool,
    limit: usize,
}

/// A body of exactly `n` bytes that the route would read as valid (so only its size is wrong).
fn body_of(route: &Route, csrf: &str, n: usize) -> Vec<u8> {
    let (head, tail) = if route.path == "/dhis2/google-wallet/bulk" {
        (
            format!("{{\"enrollment_ids\":[\"{UID}\"],\"programme_uid\":\""),
            "\"}".to_string(),
        )
    } else if route.json {
        (
            format!("{{\"enrollment_id\":\"{UID}\",\"channel\":\"whatsapp\",\"message\":\""),
            "\"}".to_string(),
        )
    } else {
        (
            format!("csrf={csrf}&channel=whatsapp&program=kadiPROG001&message="),
            String::new(),
        )
    };
    let pad = n
        .checked_sub(head.len() + tail.len())
        .expect("the limit is larger than the frame");
    format!("{head}{}{tail}", "x".repeat(pad)).into_bytes()
}

/// The request bytes of `attack` on `route` with the session's cookie and token.
fn request(base: &str, route: &Route, cookie: &str, csrf: &str, attack: Attack) -> Vec<u8> {
    let host = base.trim_start_matches("http://");
    let content_type = if route.json {
        "application/json"
    } else {
        "application/x-www-form-urlencoded"
    };
    let mut head = format!(
        "POST {} HTTP/1.1\r\nHost: {host}\r\nCookie: {cookie}\r\nX-CSRF-Token: {csrf}\r\nContent-Type: {content_type}\r\n",
        route.path
    );
    let mut body = Vec::new();
    match attack {
        Attack::Exact(n) => {
            head.push_str(&format!("Content-Length: {n}\r\n"));
            body = body_of(route, csrf, n);
        }
        Attack::LyingLength => {
            head.push_str("Content-Length: 1099511627776\r\n");
            body = body_of(route, csrf, 512);
        }
        Attack::ExpectContinue(n) => {
            head.push_str(&format!("Content-Length: {n}\r\nExpect: 100-continue\r\n"));
        }
        Attack::Chunked(n) => {
            head.push_str("Transfer-Encoding: chunked\r\n");
            for chunk in body_of(route, csrf, n).chunks(1024) {
                body.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
                body.extend_from_slice(chunk);
                body.extend_from_slice(b"\r\n");
            }
            body.extend_from_slice(b"0\r\n\r\n");
        }
        Attack::HugeChunk => {
            head.push_str("Transfer-Encoding: chunked\r\n");
            body.extend_from_slice(b"10000000000\r\n");
            body.extend_from_slice(&body_of(route, csrf, 512));
        }
    }
    head.push_str("\r\n");
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(&body);
    bytes
}

/// Sends `bytes` on a fresh connection, leaves it open, and reads ONE answer (head and its
/// `Content-Length` body): (status, body, time from the last byte sent to the whole answer).
fn exchange(base: &str, bytes: &[u8]) -> (u16, String, Duration) {
    let mut stream = TcpStream::connect(base.trim_start_matches("http://")).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    // A refusal may come before the server reads everything: a write cut short is fine.
    let _ = stream.write_all(bytes);
    let sent = Instant::now();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        if let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&got[..end]).to_string();
            let length: usize = head
                .lines()
                .find_map(|l| {
                    let (n, v) = l.split_once(':')?;
                    n.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse().ok())?
                })
                .unwrap_or(0);
            if got.len() >= end + 4 + length {
                let body = String::from_utf8_lossy(&got[end + 4..end + 4 + length]).to_string();
                return (raw_status(&head), body, sent.elapsed());
            }
        }
        match stream.read(&mut buf) {
            Ok(0) => panic!(
                "the server closed before a whole answer: {:?}",
                String::from_utf8_lossy(&got)
            ),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) => panic!(
                "no answer within 30 s ({e}); got {:?}",
                String::from_utf8_lossy(&got)
            ),
        }
    }
}

/// (outbox rows, outbox rows not in their first state, audit rows) — what a refusal must not move.
fn footprint(db: &std::path::Path) -> (i64, Vec<(String, String)>, i64) {
    let c = rusqlite::Connection::open(db).unwrap();
    let count = |sql: &str| -> i64 { c.query_row(sql, [], |r| r.get(0)).unwrap() };
    let states = c
        .prepare("SELECT id, status FROM outbox ORDER BY id")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    (
        count("SELECT count(*) FROM outbox"),
        states,
        count("SELECT count(*) FROM audit_log"),
    )
}

#[test]
fn every_send_and_wallet_post_refuses_oversized_lying_and_chunked_bodies_and_queues_nothing() {
    let (b, unknown) = clinic();
    let s = b.serve();
    let cookie = login(&s.url, "awa", "4321");
    let csrf = session_csrf(&s.url, &cookie);
    let send_limit = kadi::web::send_pages::MAX_BODY;
    let front_limit = kadi::web::http::MAX_BODY_BYTES;
    let routes = [
        ("/dhis2/send-card".to_string(), true, send_limit),
        (format!("/beneficiaries/{UID}/send"), false, send_limit),
        ("/send/bulk".to_string(), false, send_limit),
        (
            format!("/send/messages/{unknown}/resend"),
            false,
            send_limit,
        ),
        (
            format!("/send/messages/{unknown}/mark-sent"),
            false,
            send_limit,
        ),
        (
            "/dhis2/google-wallet/bulk".to_string(),
            true,
            kadi::web::wallet::MAX_BULK_BODY,
        ),
    ]
    .map(|(path, json, limit)| Route { path, json, limit });
    let before = footprint(&b.db);
    let started = Instant::now();
    let mut slowest = Duration::ZERO;
    for route in &routes {
        assert!(
            route.limit < front_limit,
            "{}: the route's own limit",
            route.path
        );
        for attack in [
            Attack::Exact(route.limit + 1),
            Attack::Exact(front_limit + 1),
            Attack::LyingLength,
            Attack::ExpectContinue(front_limit + 1),
            Attack::Chunked(route.limit + 1),
            Attack::Chunked(front_limit + 1),
            Attack::HugeChunk,
        ] {
            let (status, body, took) =
                exchange(&s.url, &request(&s.url, route, &cookie, &csrf, attack));
            assert_eq!(status, 413, "{} {attack:?}: {body}", route.path);
            assert!(
                body.contains("too large"),
                "{} {attack:?}: {body}",
                route.path
            );
            // Refused at once, not after the 10 s body deadline.
            assert!(
                took < Duration::from_secs(5),
                "{} {attack:?}: {took:?}",
                route.path
            );
            slowest = slowest.max(took);
            assert_eq!(
                footprint(&b.db),
                before,
                "{} {attack:?} changed something",
                route.path
            );
            assert_eq!(get(&format!("{}/healthz", s.url), None).status, 200);
        }
    }
    eprintln!(
        "{} attacks in {:?}, slowest answer {slowest:?}",
        routes.len() * 7,
        started.elapsed()
    );
    // Just under the route's limit the same request is read and acted on: the limit is the
    // route's, not a side effect of the framing.
    let route = &routes[0];
    let ok = exchange(
        &s.url,
        &request(&s.url, route, &cookie, &csrf, Attack::Exact(route.limit)),
    );
    assert_eq!(ok.0, 202, "{}", ok.1);
    let ok = exchange(
        &s.url,
        &request(&s.url, route, &cookie, &csrf, Attack::Chunked(route.limit)),
    );
    assert_eq!(ok.0, 202, "{}", ok.1);
    let after = footprint(&b.db);
    assert_eq!(after.0, before.0 + 2, "two messages queued");
    assert!(after.1.contains(&(unknown.clone(), "unknown".to_string())));
}
