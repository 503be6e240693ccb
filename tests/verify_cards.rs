//! Signed cards across boxes (issue 18): box A prints a card and publishes its key to the
//! simulator's dataStore during a sync; box B (another database) syncs against the same
//! simulator and then, with the simulator stopped, verifies A's card offline. Each way a card can
//! fail has its own answer: a flipped bit, a key B never pulled, a serial A revoked (shared
//! through the dataStore), an expired key, garbage and an old K1 card.
mod support;

use kadi::cards::qr;
use kadi::store::card_data::CardFilter;
use kadi::store::Store;
use kadi::verify::Status;
use support::*;

fn sync(store: &Store) -> serde_json::Value {
    let report = kadi::jobs::sync(store, PROGRAM, &kadi::sync::SyncOptions::default()).unwrap();
    report
        .card_keys
        .expect("the card-key step ran after the sync")
}

fn flip_signature_bit(payload: &str) -> String {
    let mut bytes = kadi_sqlext::card::base45_decode(&payload[4..]).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x01;
    format!("KC1:{}", kadi_sqlext::card::base45_encode(&bytes))
}

#[test]
fn a_card_printed_on_box_a_verifies_on_box_b_offline_after_one_sync() {
    let sim = sim("2.41", 12);
    let (dir_a, dir_b, dir_c) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let a = mapped_sim_store(dir_a.path(), &sim);
    let exchanged = sync(&a);
    assert_eq!(exchanged["published_keys"], 1, "{exchanged}");
    let records = a
        .cards_to_generate(PROGRAM, &CardFilter::default())
        .unwrap();
    assert!(records.len() >= 2);
    let payloads = qr::payloads(&a, &records[..2]).unwrap();
    let (card, to_revoke) = (payloads[0].clone(), payloads[1].clone());
    // Rendering again gives the same payload: one serial per person, deterministic signature.
    assert_eq!(qr::payload(&a, &records[0]).unwrap(), card);
    // The printed card carries exactly that payload (read back from the PNG).
    let content = kadi::cards::CardContent::from_record(&records[0], card.clone());
    let png = kadi::cards::render_card_png(&content, "pulse", 300).unwrap();
    assert_eq!(
        kadi::cards::scan::decode_qr(&png).unwrap(),
        vec![card.clone()]
    );
    assert_eq!(
        kadi::verify::verify(&a, &card).unwrap().status,
        Status::Valid
    );

    // A revokes the second card; its next sync publishes the revocation.
    let serial = kadi::verify::verify(&a, &to_revoke)
        .unwrap()
        .claims
        .unwrap()
        .serial;
    let (ok, out, err) = kadi(
        a.path(),
        &[
            "card", "revoke", "--serial", &serial, "--reason", "lost", "--json",
        ],
        None,
    );
    assert!(ok, "{out}{err}");
    assert_eq!(sync(&a)["published_revocations"], 1);

    // Box B: one sync pulls A's key and revocation.
    let b = mapped_sim_store(dir_b.path(), &sim);
    let pulled = sync(&b);
    assert_eq!(pulled["other_boxes"], 1, "{pulled}");
    assert_eq!(pulled["keys_pulled"], 1, "{pulled}");
    assert_eq!(pulled["revocations_pulled"], 1, "{pulled}");
    // Box C signs with a key it never published.
    let c = Store::open(&dir_c.path().join("kadi.db")).unwrap();
    let foreign = qr::payload(&c, &records[0]).unwrap();
    drop(sim);

    // Offline now.
    let verdict = kadi::verify::verify(&b, &card).unwrap();
    assert_eq!(verdict.status, Status::Valid, "{verdict:?}");
    let claims = verdict.claims.unwrap();
    assert_eq!(Some(claims.mpi_id.clone()), records[0].mpi_id);
    assert_eq!(claims.issued_on.len(), 10);
    assert_eq!(verdict.issuer_box.unwrap(), a.box_id().unwrap());
    let status = |p: &str| kadi::verify::verify(&b, p).unwrap().status;
    assert_eq!(status(&flip_signature_bit(&card)), Status::InvalidSignature);
    assert_eq!(status(&foreign), Status::UnknownKey);
    assert_eq!(status(&to_revoke), Status::Revoked);
    assert_eq!(status("hello"), Status::Unreadable);
    let old = kadi::verify::verify(&b, "K1:SN-DKR-26-7KQ4MX9P-Z:ABCDEFGH").unwrap();
    assert_eq!(old.status, Status::Unreadable);
    assert!(old.reason.unwrap().starts_with("old format"));

    // The command line: JSON shape and exit codes.
    let (ok, out, _) = kadi(b.path(), &["verify", &card, "--json"], None);
    assert!(ok, "{out}");
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(json["status"], "valid");
    assert_eq!(json["payload"], card.as_str());
    assert_eq!(json["claims"]["serial"], claims.serial.as_str());
    let (ok, out, _) = kadi(b.path(), &["verify", &to_revoke, "--json"], None);
    assert!(!ok, "a revoked card exits non-zero");
    assert!(out.contains("\"revoked\""), "{out}");
    let png_path = dir_b.path().join("card.png");
    std::fs::write(&png_path, &png).unwrap();
    let (ok, out, _) = kadi(
        b.path(),
        &["verify", "--image", png_path.to_str().unwrap(), "--json"],
        None,
    );
    assert!(ok && out.contains("\"valid\""), "{out}");

    // The SQL function answers the same from B's tables (the extension's code, registered here).
    let conn = rusqlite::Connection::open(b.path()).unwrap();
    kadi_sqlext::register(&conn).unwrap();
    let sql = |p: Option<&str>| -> serde_json::Value {
        let s: String = conn
            .query_row("SELECT kadi_verify(?1)", [p], |r| r.get(0))
            .unwrap();
        serde_json::from_str(&s).unwrap()
    };
    assert_eq!(sql(Some(&card))["status"], "valid");
    assert_eq!(sql(Some(&to_revoke))["status"], "revoked");
    assert_eq!(sql(None)["status"], "unreadable");
    assert_eq!(sql(Some("\u{0}garbage"))["status"], "unreadable");

    // A's key expired (its validity ended before the card's issue date) on B.
    conn.execute(
        "UPDATE card_keys SET valid_to = '2020-01-01' WHERE source = 'dhis2'",
        [],
    )
    .unwrap();
    assert_eq!(status(&card), Status::Expired);
    assert_eq!(sql(Some(&card))["status"], "expired");
}

#[test]
fn a_merge_revokes_the_merged_identitys_cards_and_rotation_keeps_old_cards_valid() {
    let (_dir, store) = open_store();
    let holder = |id: &str| kadi::verify::sign::Holder {
        subject: id.into(),
        name: "Awa Ndiaye".into(),
        ..Default::default()
    };
    let old_card = kadi::verify::sign::payload(&store, &holder("SN-DKR-26-AAAAAAAA-A")).unwrap();
    let rotated = kadi::verify::keys::rotate(&store, &kadi::actor::Actor::Cli).unwrap();
    assert_eq!(rotated.retired.len(), 1);
    // The old key no longer signs but still verifies what it signed.
    assert_eq!(
        kadi::verify::verify(&store, &old_card).unwrap().status,
        Status::Valid
    );
    let new_card = kadi::verify::sign::payload(&store, &holder("SN-DKR-26-AAAAAAAA-A")).unwrap();
    assert_ne!(new_card, old_card);
    // An MPI merge revokes the merged identity's live cards (reason merged).
    for id in ["SN-DKR-26-AAAAAAAA-A", "SN-DKR-26-BBBBBBBB-B"] {
        store.mpi_insert_identity(id, "{}").unwrap();
    }
    kadi::mpi::merge_identities(
        &store,
        "SN-DKR-26-BBBBBBBB-B",
        "SN-DKR-26-AAAAAAAA-A",
        &kadi::actor::Actor::Cli,
    )
    .unwrap();
    for p in [&old_card, &new_card] {
        let v = kadi::verify::verify(&store, p).unwrap();
        assert_eq!(v.status, Status::Revoked, "{v:?}");
        assert!(v.reason.unwrap().contains("merged"));
    }
    // Reissuing revokes the live card; the next print gets a new serial.
    let survivor = kadi::verify::sign::payload(&store, &holder("SN-DKR-26-BBBBBBBB-B")).unwrap();
    let revoked =
        kadi::verify::revoke::reissue(&store, "SN-DKR-26-BBBBBBBB-B", &kadi::actor::Actor::Cli)
            .unwrap();
    assert_eq!(revoked.len(), 1);
    assert_eq!(
        kadi::verify::verify(&store, &survivor).unwrap().status,
        Status::Revoked
    );
    let again = kadi::verify::sign::payload(&store, &holder("SN-DKR-26-BBBBBBBB-B")).unwrap();
    assert_eq!(
        kadi::verify::verify(&store, &again).unwrap().status,
        Status::Valid
    );
}

/// A stolen box's key: box B revokes box A's whole signing key (`kadi keys revoke`). B refuses
/// A's cards at once; box C, after one sync, refuses every card A signed, whatever issue date it
/// claims, in `kadi verify` and in `kadi_verify`, while C's own cards stay valid. A, at its next
/// sync, learns its key is revoked and signs with a new key, which it publishes in the same
/// exchange: C accepts A's new cards. A malformed key revocation in the dataStore is skipped
/// and named.
#[test]
fn a_stolen_boxs_key_revoked_on_one_box_revokes_its_cards_everywhere_and_the_box_signs_anew() {
    let sim = sim("2.41", 12);
    let (dir_a, dir_b, dir_c) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let a = mapped_sim_store(dir_a.path(), &sim);
    sync(&a);
    let records = a
        .cards_to_generate(PROGRAM, &CardFilter::default())
        .unwrap();
    let card = qr::payload(&a, &records[0]).unwrap();
    let a_kid = kadi::verify::verify(&a, &card).unwrap().claims.unwrap().kid;
    let b = mapped_sim_store(dir_b.path(), &sim);
    let c = mapped_sim_store(dir_c.path(), &sim);
    sync(&b);
    sync(&c);
    let own_on_c = qr::payload(&c, &records[1]).unwrap();
    assert_eq!(
        kadi::verify::verify(&b, &card).unwrap().status,
        Status::Valid
    );

    revoke_key_on_the_command_line(&b, &a_kid, &a.box_id().unwrap());
    let on_b = kadi::verify::verify(&b, &card).unwrap();
    assert_eq!(on_b.status, Status::Revoked, "{on_b:?}");
    assert!(
        on_b.reason.as_deref().unwrap().contains(&a_kid)
            && on_b.reason.as_deref().unwrap().contains("stolen"),
        "{on_b:?}"
    );
    let published = sync(&b);
    assert_eq!(published["published_key_revocations"], 1, "{published}");

    // Someone writes a malformed key revocation under another box's name.
    let client = kadi::link::client_from_store(&c).unwrap();
    client
        .datastore_put(
            kadi::verify::exchange::NAMESPACE,
            "revoked-rogue",
            &serde_json::json!({"box": "rogue",
                "revocations": [{"serial": "ABCDEFGHIJK", "reason": "lost", "revoked_on": "2026-01-01"}],
                "keys": [{"kid": "zz", "reason": "stolen", "revoked_on": "2026-01-01"},
                         {"kid": a_kid, "reason": "bored", "revoked_on": "2026-01-01"},
                         {"kid": 7}, "garbage"]}),
        )
        .unwrap();

    // C pulls the revocation: A's card is revoked there too, offline, by both verifiers.
    let pulled = sync(&c);
    assert_eq!(pulled["key_revocations_pulled"], 1, "{pulled}");
    // Each malformed entry is named; none costs the card revocation beside it.
    let skipped: Vec<&str> = pulled["errors"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e.as_str())
        .filter(|e| e.starts_with("revoked-rogue: key revocation"))
        .collect();
    assert_eq!(skipped.len(), 4, "{pulled}");
    assert!(skipped[0].contains("\"zz\""), "{skipped:?}");
    assert_eq!(pulled["revocations_pulled"], 1, "{pulled}");
    let on_c = kadi::verify::verify(&c, &card).unwrap();
    assert_eq!(on_c.status, Status::Revoked, "{on_c:?}");
    assert_eq!(
        kadi::verify::verify(&c, &own_on_c).unwrap().status,
        Status::Valid
    );
    assert_refused_by_every_verifier(&c, &card, &a_kid, &b.box_id().unwrap());
    // A forgery naming the revoked key is still a forgery.
    assert_eq!(
        kadi::verify::verify(&c, &flip_signature_bit(&card))
            .unwrap()
            .status,
        Status::InvalidSignature
    );

    // A syncs: its key was revoked elsewhere, so it signs with a new one, published at once.
    let renewed = sync(&a);
    let new_kid = renewed["new_signing_key"].as_str().unwrap().to_string();
    assert_ne!(new_kid, a_kid);
    assert_eq!(renewed["published_keys"], 2, "{renewed}");
    let reprinted = qr::payload(&a, &records[0]).unwrap();
    assert_ne!(reprinted, card);
    let claims = kadi::verify::verify(&a, &reprinted)
        .unwrap()
        .claims
        .unwrap();
    assert_eq!(claims.kid, new_kid);
    assert_eq!(
        kadi::verify::verify(&a, &card).unwrap().status,
        Status::Revoked
    );
    sync(&c);
    drop(sim);
    assert_eq!(
        kadi::verify::verify(&c, &reprinted).unwrap().status,
        Status::Valid
    );
    assert_eq!(
        kadi::verify::verify(&c, &card).unwrap().status,
        Status::Revoked
    );
}

/// `kadi keys revoke` on box `b` for key `kid` of box `owner`: a key ID that is not one and an
/// unknown reason are refused; the revocation is answered, and audited.
fn revoke_key_on_the_command_line(b: &Store, kid: &str, owner: &str) {
    let (ok, _, err) = kadi(
        b.path(),
        &["keys", "revoke", "--kid", "not-a-key", "--reason", "stolen"],
        None,
    );
    assert!(!ok && err.contains("not a key ID"), "{err}");
    let (ok, _, err) = kadi(
        b.path(),
        &["keys", "revoke", "--kid", kid, "--reason", "lost"],
        None,
    );
    assert!(!ok && err.contains("stolen"), "{err}");
    let (ok, out, err) = kadi(
        b.path(),
        &[
            "keys", "revoke", "--kid", kid, "--reason", "stolen", "--json",
        ],
        None,
    );
    assert!(ok, "{out}{err}");
    let revoked: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(revoked["newly_revoked"], true, "{revoked}");
    assert_eq!(revoked["own_key"], false);
    assert_eq!(revoked["box_id"], owner);
    let audited: i64 = rusqlite::Connection::open(b.path())
        .unwrap()
        .query_row(
            "SELECT count(*) FROM audit_log WHERE action = 'card_key.revoke' AND entity = ?1 AND actor = 'cli'",
            [kid],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(audited, 1);
}

/// Box `c` refuses `card` (signed with revoked key `kid`, revoked by box `by`) on the command
/// line and in `kadi_verify`, and lists the key as revoked.
fn assert_refused_by_every_verifier(c: &Store, card: &str, kid: &str, by: &str) {
    let (ok, out, _) = kadi(c.path(), &["verify", card, "--json"], None);
    assert!(!ok && out.contains("\"revoked\""), "{out}");
    let (_, out, _) = kadi(c.path(), &["keys", "list", "--json"], None);
    let list: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(list["revoked_keys"][0]["kid"], kid, "{list}");
    assert_eq!(list["revoked_keys"][0]["revoked_by"], format!("box:{by}"));
    let conn = rusqlite::Connection::open(c.path()).unwrap();
    kadi_sqlext::register(&conn).unwrap();
    let sql: String = conn
        .query_row("SELECT kadi_verify(?1)", [card], |r| r.get(0))
        .unwrap();
    let sql: serde_json::Value = serde_json::from_str(&sql).unwrap();
    assert_eq!(sql["status"], "revoked", "{sql}");
    assert!(sql["reason"].as_str().unwrap().contains(kid));
}
