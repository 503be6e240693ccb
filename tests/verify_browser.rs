//! The /verify page (issue 18) in headless Chromium: staff paste a card's code and see every
//! claim, and pick a phone's JPEG photo of the card in the upload form; logged out, the public
//! mode shows only what the card prints and no link into the desk. Over plain HTTP: a photo upload (multipart, as the form sends it) verifies, and the upload
//! path takes 8 MiB and not a byte more, while every other path keeps the front's 64 KiB.
#[path = "support/photo.rs"]
mod photo;
mod support;

use support::browser::*;
use support::*;

/// The pulse card carrying `payload`, rendered at 300 dpi (PNG).
fn card_png(payload: &str) -> Vec<u8> {
    let content = kadi::cards::CardContent {
        full_name: "Awa Ndiaye".into(),
        mpi_id: Some("SN-DKR-26-7KQ4MX9P-Z".into()),
        qr_payload: payload.to_string(),
        ..Default::default()
    };
    kadi::cards::render_card_png(&content, "pulse", 300).unwrap()
}

fn signed_card(db: &std::path::Path) -> (String, String) {
    let store = kadi::store::Store::open(db).unwrap();
    let holder = kadi::verify::sign::Holder {
        subject: "SN-DKR-26-7KQ4MX9P-Z".into(),
        name: "Awa Ndiaye".into(),
        date_of_birth: Some("1990-05-12".into()),
        health_center: Some("Centre de Santé de Médina".into()),
    };
    let payload = kadi::verify::sign::payload(&store, &holder).unwrap();
    let serial = kadi::verify::verify(&store, &payload)
        .unwrap()
        .claims
        .unwrap()
        .serial;
    (payload, serial)
}

#[test]
fn staff_and_the_public_verify_a_pasted_card_code_in_a_real_browser() {
    let b = TestBox::new();
    b.add_staff("awa", "4321");
    let (payload, serial) = signed_card(&b.db);
    let s = b.serve();
    let Some(mut browser) = Browser::launch() else {
        return;
    };

    // Public mode, no login: only what the card prints.
    browser.goto(&format!("{}/verify/public", s.url));
    browser.type_into("#payload", &payload);
    browser.click("#verify-paste");
    browser.wait_for("the verdict", "!!document.querySelector('#verdict-status')");
    let text = browser.text();
    assert!(text.contains("Valid card"), "{text}");
    assert!(
        text.contains("Awa Ndiaye") && text.contains("SN-DKR-26-7KQ4MX9P-Z"),
        "{text}"
    );
    assert!(text.contains("Centre de Santé de Médina"), "{text}");
    assert!(
        !text.contains(&serial) && !text.contains("1990-05-12"),
        "{text}"
    );
    let desk_links = browser.eval(
        "document.querySelectorAll('a[href^=\"/beneficiaries\"], a[href^=\"/review\"]').length",
    );
    assert_eq!(desk_links, Some(serde_json::json!(0)));
    browser.screenshot("verify-public");

    // Garbage is unreadable, publicly too.
    browser.goto(&format!("{}/verify", s.url));
    browser.type_into("#payload", "KC1:not-a-card");
    browser.click("#verify-paste");
    browser.wait_for("the verdict", "!!document.querySelector('#verdict-status')");
    assert!(browser.text().contains("Unreadable"), "{}", browser.text());

    // Staff see every claim.
    log_in(&mut browser, &s.url, "awa", "4321");
    browser.goto(&format!("{}/verify", s.url));
    browser.type_into("#payload", &payload);
    browser.click("#verify-paste");
    browser.wait_for("the verdict", "!!document.querySelector('#claim-serial')");
    let text = browser.text();
    assert!(
        text.contains("Valid card") && text.contains(&serial),
        "{text}"
    );
    assert!(text.contains("1990-05-12"), "{text}");
    browser.viewport(Browser::PHONE);
    browser.screenshot("verify-staff-phone");

    // A phone's photo of the printed card (JPEG), picked in the upload form and submitted.
    let png = card_png(&payload);
    let jpeg = photo::Photo {
        rotate_degrees: 3.0,
        background: true,
        jpeg_quality: Some(80),
        ..Default::default()
    }
    .of(&png, 7);
    assert!(jpeg.starts_with(&[0xFF, 0xD8]), "a JPEG");
    let picked = b.dir.path().join("card-photo.jpg");
    std::fs::write(&picked, &jpeg).unwrap();
    browser.goto(&format!("{}/verify", s.url));
    // A phone's file picker offers what `accept` names: its camera's JPEGs must be among them.
    let accept = browser.eval("document.querySelector('#photo').accept");
    assert!(
        accept
            .as_ref()
            .and_then(|a| a.as_str())
            .is_some_and(|a| a.contains("image/jpeg")),
        "{accept:?}"
    );
    browser.choose_file("#photo", &picked);
    browser.eval("window.__kadi_old = true");
    browser.click("#verify-photo");
    browser.wait_for(
        "the photo's verdict",
        "!window.__kadi_old && !!document.querySelector('#verdict-status')",
    );
    let text = browser.text();
    assert!(
        text.contains("Valid card") && text.contains(&serial),
        "{text}"
    );
}

fn post_bytes(url: &str, cookie: &str, content_type: &str, body: Vec<u8>) -> (u16, String) {
    let r = agent()
        .post(url)
        .header("Cookie", cookie)
        .header("Content-Type", content_type)
        .send(&body[..]);
    match r {
        Ok(mut r) => (
            r.status().as_u16(),
            r.body_mut().read_to_string().unwrap_or_default(),
        ),
        // The front may close the connection after answering 413 to a body it will not read.
        Err(e) => (0, e.to_string()),
    }
}

#[test]
fn a_photo_upload_verifies_and_the_upload_limit_is_8_mib_and_no_more() {
    let b = TestBox::new();
    b.add_staff("awa", "4321");
    let (payload, _) = signed_card(&b.db);
    let s = b.serve();
    let cookie = login(&s.url, "awa", "4321");
    let csrf = session_csrf(&s.url, &cookie);
    let png = card_png(&payload);
    let multipart = |image: &[u8]| {
        let mut body = format!("--B0undary\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n{csrf}\r\n--B0undary\r\nContent-Disposition: form-data; name=\"photo\"; filename=\"card.png\"\r\nContent-Type: image/png\r\n\r\n").into_bytes();
        body.extend_from_slice(image);
        body.extend_from_slice(b"\r\n--B0undary--\r\n");
        body
    };
    let form_type = "multipart/form-data; boundary=B0undary";
    let (status, html) = post_bytes(
        &format!("{}/verify/image", s.url),
        &cookie,
        form_type,
        multipart(&png),
    );
    assert_eq!(status, 200, "{html}");
    assert!(
        html.contains("Valid card") && html.contains("Awa Ndiaye"),
        "{html}"
    );
    // Without the CSRF token: refused.
    let (status, _) = post_bytes(
        &format!("{}/verify/image", s.url),
        &cookie,
        "image/png",
        png.clone(),
    );
    assert_eq!(status, 403);

    // Exactly 8 MiB reaches the handler (a PNG padded with junk after IEND is not a card: 422
    // unreadable, not 413); one byte more is refused before it is read.
    let limit = 8 * 1024 * 1024;
    let mut padded = multipart(&png);
    padded.resize(limit, b' ');
    let (status, html) = post_bytes(
        &format!("{}/verify/image", s.url),
        &cookie,
        form_type,
        padded.clone(),
    );
    assert!(status == 200 || status == 422, "{status}: {html}");
    padded.push(b' ');
    let (status, _) = post_bytes(
        &format!("{}/verify/image", s.url),
        &cookie,
        form_type,
        padded,
    );
    assert!(status == 413 || status == 0, "{status}");
    // The other verify paths keep the front's 64 KiB.
    let big = vec![b'a'; 64 * 1024 + 1];
    let (status, _) = post_bytes(
        &format!("{}/verify/public", s.url),
        "",
        "application/x-www-form-urlencoded",
        big,
    );
    assert!(status == 413 || status == 0, "{status}");
    // And the server still answers.
    assert_eq!(get(&format!("{}/healthz", s.url), None).status, 200);
}
