//! The MPI scorer as a user of `mpi_score` / `mpi_explain` / `mpi_band` / `mpi_block_keys` sees it.
use kadi_sqlext::mpi::*;

const AMINATA: &str = r#"{"first_name":"Aminata","last_name":"Diallo","date_of_birth":"1990-03-12","gender":"F","phone_number":"+221771234567","health_center":"Pikine"}"#;

fn with(base: &str, field: &str, value: &str) -> String {
    let mut v: serde_json::Value = serde_json::from_str(base).unwrap();
    v[field] = serde_json::Value::String(value.into());
    v.to_string()
}

#[test]
fn bands_are_fixed_at_095_and_075() {
    assert_eq!(band(0.95), "link");
    assert_eq!(band(0.9499), "review");
    assert_eq!(band(0.75), "review");
    assert_eq!(band(0.7499), "new");
    assert_eq!(band(0.0), "new");
    assert_eq!(band(1.0), "link");
}

#[test]
fn the_same_record_links_and_scores_are_symmetric_and_in_range() {
    let s = score_json(AMINATA, AMINATA).unwrap();
    assert!((LINK..=1.0).contains(&s), "{s}");
    let other = with(AMINATA, "first_name", "Aminta");
    let (ab, ba) = (
        score_json(AMINATA, &other).unwrap(),
        score_json(&other, AMINATA).unwrap(),
    );
    assert!((ab - ba).abs() < 1e-12);
}

#[test]
fn typos_swapped_day_month_and_local_phone_formats_still_link() {
    let b = r#"{"first_name":"Aminatta","last_name":"DIALLO","date_of_birth":"1990-12-03","gender":"F","phone_number":"77 123 45 67","health_center":"Pikine"}"#;
    assert_eq!(band(score_json(AMINATA, b).unwrap()), "link");
}

#[test]
fn swapped_first_and_last_names_count_as_agreement() {
    let b = with(
        &with(AMINATA, "first_name", "Diallo"),
        "last_name",
        "Aminata",
    );
    let e: serde_json::Value = serde_json::from_str(&explain_json(AMINATA, &b).unwrap()).unwrap();
    assert_eq!(e["names_swapped"], true);
    assert_eq!(e["band"], "link");
}

#[test]
fn twins_with_other_first_names_never_link_automatically() {
    let twin = with(AMINATA, "first_name", "Fatou");
    let s = score_json(AMINATA, &twin).unwrap();
    assert_ne!(band(s), "link", "{s}");
}

#[test]
fn a_namesake_of_another_generation_does_not_link() {
    let father = r#"{"first_name":"Mamadou","last_name":"Ba","date_of_birth":"1960-05-01","gender":"M","phone_number":"+221770000001"}"#;
    let son = r#"{"first_name":"Mamadou","last_name":"Ba","date_of_birth":"1992-08-17","gender":"M","phone_number":"+221770000001"}"#;
    assert_ne!(band(score_json(father, son).unwrap()), "link");
}

#[test]
fn a_mother_and_child_sharing_phone_and_family_name_stay_apart() {
    let child = r#"{"first_name":"Moussa","last_name":"Diallo","date_of_birth":"2019-07-02","gender":"M","phone_number":"+221771234567","health_center":"Pikine"}"#;
    assert_eq!(band(score_json(AMINATA, child).unwrap()), "new");
}

#[test]
fn a_disagreeing_sex_counts_against_and_a_missing_field_is_neutral() {
    let base = score_json(AMINATA, AMINATA).unwrap();
    let other_sex = score_json(AMINATA, &with(AMINATA, "gender", "M")).unwrap();
    assert!(other_sex < base);
    let e: serde_json::Value =
        serde_json::from_str(&explain_json(AMINATA, r#"{"first_name":"Aminata"}"#).unwrap())
            .unwrap();
    assert_eq!(e["fields"]["phone_number"]["level"], "missing");
    assert_eq!(e["fields"]["phone_number"]["weight"], 0.0);
}

#[test]
fn an_agreeing_national_id_counts_heavily() {
    let a =
        r#"{"last_name":"Ndiaye","national_id":"1 234 1990 00123","date_of_birth":"1990-01-01"}"#;
    let b = r#"{"last_name":"Ndiaye","national_id":"1234199000123","date_of_birth":"1990-01-01"}"#;
    let without = score_json(
        r#"{"last_name":"Ndiaye","date_of_birth":"1990-01-01"}"#,
        r#"{"last_name":"Ndiaye","date_of_birth":"1990-01-01"}"#,
    )
    .unwrap();
    let with_id = score_json(a, b).unwrap();
    assert_eq!(band(with_id), "link");
    assert_eq!(band(without), "new");
}

#[test]
fn explain_lists_every_field_with_level_and_weight() {
    let e: serde_json::Value =
        serde_json::from_str(&explain_json(AMINATA, AMINATA).unwrap()).unwrap();
    for f in FIELDS {
        assert!(e["fields"][f]["level"].is_string(), "{f}");
        assert!(e["fields"][f]["weight"].is_number(), "{f}");
    }
    assert_eq!(e["fields"]["first_name"]["level"], "exact");
}

#[test]
fn malformed_json_is_an_error_naming_the_argument() {
    let e = score_json(AMINATA, "{not json").unwrap_err();
    assert!(e.to_string().contains("argument 2"), "{e}");
    let e = score_json("[1,2]", AMINATA).unwrap_err();
    assert!(e.to_string().contains("argument 1"), "{e}");
    for bad in [
        r#"{"a":1}x"#,
        r#"{"a":01x}"#,
        r#"{"a":tru}"#,
        r#"{"a":"\q"}"#,
        r#"{"a":[1,,2]}"#,
        "",
        "{",
        r#"{"a" 1}"#,
    ] {
        assert!(score_json(bad, AMINATA).is_err(), "{bad:?} accepted");
    }
    assert!(block_keys_json("null").is_err());
}

#[test]
fn odd_inputs_never_panic() {
    let long = "a".repeat(10_000);
    let odd = [
        "{}".to_string(),
        r#"{"date_of_birth":"1900-00-00","first_name":""}"#.into(),
        r#"{"first_name":5,"last_name":null,"gender":true,"date_of_birth":{"y":1},"phone_number":[1]}"#.into(),
        format!(r#"{{"first_name":"{long}","last_name":"{long}","address":"{long}"}}"#),
        r#"{"first_name":"\ud83d\ude00 É","date_of_birth":"99999999","phone_number":"+"}"#.into(),
        r#"{"date_of_birth":"2024-13-45","national_id":"-","address":"  ,, "}"#.into(),
    ];
    for a in &odd {
        for b in &odd {
            let s = score_json(a, b).unwrap();
            assert!((0.0..=1.0).contains(&s), "{a} {b} {s}");
            explain_json(a, b).unwrap();
        }
        block_keys_json(a).unwrap();
    }
    assert_eq!(band(score_json("{}", "{}").unwrap()), "new");
}

#[test]
fn placeholder_dates_are_missing_not_agreement() {
    let a = r#"{"last_name":"Sow","date_of_birth":"1900-00-00"}"#;
    let e: serde_json::Value = serde_json::from_str(&explain_json(a, a).unwrap()).unwrap();
    assert_eq!(e["fields"]["date_of_birth"]["level"], "missing");
    assert_eq!(block_keys_json(a).unwrap(), "[]");
}

#[test]
fn block_keys_cover_names_dates_and_phone() {
    let keys: Vec<String> = serde_json::from_str(&block_keys_json(AMINATA).unwrap()).unwrap();
    assert!(
        !keys.iter().any(|k| k.starts_with("nm:")),
        "two very common names make no name-only block: {keys:?}"
    );
    let rare = with(AMINATA, "last_name", "Kouyatembe");
    let rare: Vec<String> = serde_json::from_str(&block_keys_json(&rare).unwrap()).unwrap();
    assert!(rare.iter().any(|k| k.starts_with("nm:")), "{rare:?}");
    for prefix in ["ln:", "lm:", "nd:", "ph:", "dh:"] {
        assert!(
            keys.iter().any(|k| k.starts_with(prefix)),
            "{prefix} missing from {keys:?}"
        );
    }
    assert!(keys.contains(&"ph:71234567".to_string()), "{keys:?}");
}

#[test]
fn full_addresses_block_the_street_in_its_locality_and_names_in_their_region() {
    let keys =
        |j: &str| -> Vec<String> { serde_json::from_str(&block_keys_json(j).unwrap()).unwrap() };
    let shared = |a: &str, b: &str| -> Vec<String> {
        let (x, y) = (keys(a), keys(b));
        x.into_iter().filter(|k| y.contains(k)).collect()
    };
    // Two registrations of one person differing in the given name, the date and the family
    // name's code, the house number left out of one: only the street in its suburb is left.
    let a = r#"{"first_name":"olivia","last_name":"hartley","date_of_birth":"1970-03-15","address":"42 banksia street lindfield 2070 nsw"}"#;
    let b = r#"{"first_name":"grace","last_name":"hatrley","date_of_birth":"1984-09-22","address":"banksia street lindfield 2070 nsw"}"#;
    let both = shared(a, b);
    assert!(
        !both.is_empty() && both.iter().all(|k| k.starts_with("sl:")),
        "{both:?}"
    );
    // Another street and postcode, no date on one and no given name on the other: the family
    // name within the region.
    let c = r#"{"first_name":"olivia","last_name":"hartley","address":"42 banksia street lindfield 2070 nsw"}"#;
    let d = r#"{"last_name":"hartley","date_of_birth":"1970-03-15","address":"7 ocean parade manly 2095 nsw"}"#;
    assert!(
        shared(c, d).iter().any(|k| k.starts_with("ls:")),
        "{:?}",
        shared(c, d)
    );
    // A dated record with both names is not filed under its family name in the region.
    assert!(
        !keys(a).iter().any(|k| k.starts_with("ls:")),
        "{:?}",
        keys(a)
    );
    // A short address (house number and quarter) makes none of these: `ad` is its block.
    let short = r#"{"first_name":"Awa","last_name":"Sarr","date_of_birth":"1990-04-03","address":"36 Santhiaba"}"#;
    let full_keys = ["sl:", "lh:", "dl:", "ls:"];
    assert!(
        !keys(short)
            .iter()
            .any(|k| full_keys.iter().any(|p| k.starts_with(p))),
        "{:?}",
        keys(short)
    );
}

#[test]
fn prepared_and_json_paths_agree() {
    let b = with(AMINATA, "last_name", "Dialo");
    let (pa, pb) = (
        PreparedRecord::from_json(AMINATA, 1).unwrap(),
        PreparedRecord::from_json(&b, 2).unwrap(),
    );
    assert_eq!(score_prepared(&pa, &pb), score_json(AMINATA, &b).unwrap());
    let keys = block_keys(&pa);
    assert_eq!(
        serde_json::to_string(&keys).unwrap(),
        block_keys_json(AMINATA).unwrap()
    );
}

#[test]
fn mpi_score_through_sql_matches_the_rust_function() {
    let conn = rusqlite::Connection::open_in_memory().unwrap();
    kadi_sqlext::register(&conn).unwrap();
    let s: f64 = conn
        .query_row("SELECT mpi_score(?1, ?2)", [AMINATA, AMINATA], |r| r.get(0))
        .unwrap();
    assert_eq!(s, score_json(AMINATA, AMINATA).unwrap());
    let err = conn
        .query_row("SELECT mpi_score(?1, 'x')", [AMINATA], |r| {
            r.get::<_, f64>(0)
        })
        .unwrap_err();
    assert!(err.to_string().contains("argument 2"), "{err}");
}

#[test]
fn scores_do_not_depend_on_argument_order_even_with_addresses_and_partial_swaps() {
    let a = r#"{"first_name":"Timothy","last_name":"Dominey","address":"23 bacchus hircuit frankston car avan park werrington 2405 vic"}"#;
    let b = r#"{"first_name":"Coffey","last_name":"Timothy","address":"23 bacchus circuit frankston caravan park werrington 2450 vic"}"#;
    assert_eq!(score_json(a, b).unwrap(), score_json(b, a).unwrap());
    assert_eq!(explain_json(a, b).unwrap(), explain_json(b, a).unwrap());
}

#[test]
fn a_compound_first_name_against_one_of_its_parts_is_weak_agreement() {
    // Seen on the synthetic 20k set: "Idrissa Abdoulaye" and "Idrissa" share the coarse code of
    // their first letters; with the same family name, date and sex at another clinic they linked.
    let a = r#"{"first_name":"Idrissa Abdoulaye","last_name":"Badji","date_of_birth":"1996-10-02","gender":"M","health_center":"Yeumbeul","zone":"Dakar"}"#;
    let b = r#"{"first_name":"Idrissa","last_name":"Badji","date_of_birth":"1996-10-02","gender":"M","health_center":"Pikine","zone":"Dakar"}"#;
    let e: serde_json::Value = serde_json::from_str(&explain_json(a, b).unwrap()).unwrap();
    assert_eq!(e["fields"]["first_name"]["level"], "similar", "{e}");
    assert_ne!(e["band"], "link", "{e}");
    // The same names with a typo in one part are still phonetic / close.
    let c = with(a, "first_name", "Idrisa Abdoulaye");
    let e: serde_json::Value = serde_json::from_str(&explain_json(a, &c).unwrap()).unwrap();
    assert!(
        ["close", "phonetic", "exact"]
            .contains(&e["fields"]["first_name"]["level"].as_str().unwrap()),
        "{e}"
    );
}

#[test]
fn brothers_with_compound_names_sharing_one_part_do_not_link() {
    // Seen on the synthetic 100k set: whole-text Jaro-Winkler called these "close".
    let a = r#"{"first_name":"Babacar Ousmane","last_name":"Badji","date_of_birth":"1977-01-01","gender":"M","health_center":"Pikine"}"#;
    let b = with(a, "first_name", "Babacar Souleymane");
    let e: serde_json::Value = serde_json::from_str(&explain_json(a, &b).unwrap()).unwrap();
    assert_eq!(e["fields"]["first_name"]["level"], "similar", "{e}");
    assert_ne!(e["band"], "link", "{e}");
    // Parts in the other order, or one part mistyped, still agree.
    let known = with(a, "date_of_birth", "1977-06-21");
    let c = with(&known, "first_name", "Ousmane Babacar");
    assert_eq!(band(score_json(&known, &c).unwrap()), "link");
    let d = with(a, "first_name", "Babacar Ousmanne");
    let e: serde_json::Value = serde_json::from_str(&explain_json(a, &d).unwrap()).unwrap();
    assert_eq!(e["fields"]["first_name"]["level"], "close", "{e}");
}

#[test]
fn estimated_birth_dates_one_digit_apart_are_weak_evidence() {
    // 1 January 1977 and 1 January 1987: registrars' estimates a decade apart, not a typo.
    let a = r#"{"first_name":"Abdoulaye","last_name":"Kane","date_of_birth":"1977-01-01","gender":"M","health_center":"Pikine"}"#;
    let b = with(a, "date_of_birth", "1987-01-01");
    assert_ne!(band(score_json(a, &b).unwrap()), "link");
    // A real date with one digit off stays a typo of the same date.
    let c = with(a, "date_of_birth", "1977-03-14");
    let d = with(a, "date_of_birth", "1977-03-19");
    let e: serde_json::Value = serde_json::from_str(&explain_json(&c, &d).unwrap()).unwrap();
    assert_eq!(e["fields"]["date_of_birth"]["weight"], 3.5, "{e}");
}

#[test]
fn an_address_with_split_or_merged_words_is_still_close() {
    let a = r#"{"first_name":"Brydee","last_name":"Macphail","address":"57 tuthill place korrelocking new town 2234 nsw"}"#;
    let b = with(
        a,
        "address",
        "57 tuthill fplace korrelocking newntown 2234 nsw",
    );
    let e: serde_json::Value = serde_json::from_str(&explain_json(a, &b).unwrap()).unwrap();
    assert_eq!(e["fields"]["address"]["level"], "close", "{e}");
    // Another street of the same suburb is not.
    let c = with(
        a,
        "address",
        "22 smith street korrelocking new town 2234 nsw",
    );
    let e: serde_json::Value = serde_json::from_str(&explain_json(a, &c).unwrap()).unwrap();
    assert_ne!(e["fields"]["address"]["level"], "close", "{e}");
    assert_ne!(e["fields"]["address"]["level"], "exact", "{e}");
}

#[test]
fn short_family_names_with_swapped_or_dropped_letters_are_close_but_other_families_are_not() {
    let level = |a: &str, b: &str| level_of(r#"{"first_name":"Fatou"}"#, "last_name", a, b);
    assert_eq!(level("Sow", "Swo"), "close");
    assert_eq!(level("Sène", "Sne"), "close");
    assert_eq!(level("Niang", "Niagn"), "close");
    // A letter dropped from a three-letter name, unless what is left is a family name itself.
    assert_eq!(level("Sow", "Sw"), "close");
    assert_eq!(level("Awa", "Aa"), "close");
    assert_ne!(level("Bal", "Ba"), "close");
    assert_ne!(level("Kan", "Ka"), "close");
    // Substitutions are other families.
    assert_eq!(level("Fall", "Sall"), "disagree");
    assert_eq!(level("Ka", "Ba"), "disagree");
}

/// A household of Thiès with a full address (six words) and a rare family name.
const SENGHOR: &str = r#"{"first_name":"Ousseynou","last_name":"Senghor","address":"villa 12 cite keur gorgui thies 21000"}"#;

fn explained(a: &str, b: &str) -> serde_json::Value {
    serde_json::from_str(&explain_json(a, b).unwrap()).unwrap()
}

/// The level `field` compares at when two copies of `base` differ only there (`a` / `b`).
fn level_of(base: &str, field: &str, a: &str, b: &str) -> String {
    explained(&with(base, field, a), &with(base, field, b))["fields"][field]["level"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn a_replaced_first_name_with_family_name_and_full_address_goes_to_review_never_links() {
    // A first name replaced (a name used at home, a nickname): ln(0.1/0.99) = -2.3. With the
    // family name and a full address short of its postcode, the pair reaches review (it was new
    // at -2.5 with the address at +6.5).
    let other = with(
        &with(SENGHOR, "first_name", "Pathe"),
        "address",
        "villa 12 cite keur gorgui thies",
    );
    let e = explained(SENGHOR, &other);
    assert_eq!(e["fields"]["first_name"]["weight"], -2.3, "{e}");
    assert_eq!(e["fields"]["address"]["level"], "close", "{e}");
    assert_eq!(e["band"], "review", "{e}");
    // The same address exactly: brothers of one household without a recorded date look exactly
    // like this, so the pair is guarded as twins are and stays in review.
    let brother = with(SENGHOR, "first_name", "Pathe");
    let e = explained(SENGHOR, &brother);
    assert_eq!(e["fields"]["address"]["weight"], 9.0, "{e}");
    assert!(e["log_odds"].as_f64().unwrap() < 2.944, "{e}");
    assert_eq!(e["band"], "review", "{e}");
}

#[test]
fn neither_name_agreeing_weighs_as_one_event_and_never_links() {
    let a = with(SENGHOR, "date_of_birth", "1987-06-23");
    // Filed under other names (a caretaker's, a sibling's card): date and full address agree.
    let b = with(&with(&a, "first_name", "Mariama"), "last_name", "Cisse");
    let e = explained(&a, &b);
    assert_eq!(e["fields"]["first_name"]["weight"], -1.8, "{e}");
    assert_eq!(e["fields"]["last_name"]["weight"], -1.8, "{e}");
    assert_eq!(e["band"], "review", "{e}");
    // However much household data agrees besides, a person decides...
    let household = r#"{"phone_number":"+221770001122","health_center":"Thies","gender":"F"}"#;
    let add = |r: &str| {
        let mut v: serde_json::Value = serde_json::from_str(r).unwrap();
        let h: serde_json::Value = serde_json::from_str(household).unwrap();
        for (k, x) in h.as_object().unwrap() {
            v[k] = x.clone();
        }
        v.to_string()
    };
    let (a2, b2) = (add(&a), add(&b));
    assert_eq!(band(score_json(&a2, &b2).unwrap()), "review");
    // ... unless the national IDs agree exactly.
    let (a3, b3) = (
        with(&a2, "national_id", "1 987 1999 01234"),
        with(&b2, "national_id", "1987199901234"),
    );
    assert_eq!(band(score_json(&a3, &b3).unwrap()), "link");
}

#[test]
fn a_full_address_weighs_more_than_a_short_one() {
    let e = explained(SENGHOR, SENGHOR);
    assert_eq!(e["fields"]["address"]["weight"], 9.0, "{e}");
    let short = with(SENGHOR, "address", "keur gorgui thies");
    let e = explained(&short, &short);
    assert_eq!(e["fields"]["address"]["level"], "exact", "{e}");
    assert_eq!(e["fields"]["address"]["weight"], 8.0, "{e}");
    // Five words on one side only is not two full addresses.
    let e = explained(
        SENGHOR,
        &with(SENGHOR, "address", "12 cite keur gorgui thies"),
    );
    assert_ne!(e["fields"]["address"]["weight"], 9.0, "{e}");
}

#[test]
fn twins_with_a_family_name_missing_on_one_card_never_link_automatically() {
    let a = with(SENGHOR, "date_of_birth", "2011-04-09");
    let mut twin: serde_json::Value =
        serde_json::from_str(&with(&a, "first_name", "Adama")).unwrap();
    twin.as_object_mut().unwrap().remove("last_name");
    let e = explained(&a, &twin.to_string());
    assert_eq!(e["fields"]["last_name"]["level"], "missing", "{e}");
    assert_eq!(e["band"], "review", "{e}");
}

#[test]
fn a_mistyped_house_number_or_postcode_still_blocks_through_the_street() {
    let keys =
        |r: &str| -> Vec<String> { serde_json::from_str(&block_keys_json(r).unwrap()).unwrap() };
    let a = with(SENGHOR, "date_of_birth", "1987-06-23");
    // Both names replaced, number and postcode mistyped: only date and street are left.
    let b = with(
        &with(&with(&a, "first_name", "Mariama"), "last_name", "Cisse"),
        "address",
        "villa 21 cite keur gorgui thies 21001",
    );
    let (ka, kb) = (keys(&a), keys(&b));
    assert!(
        ka.iter().any(|k| k.starts_with("dw:") && kb.contains(k)),
        "{ka:?} / {kb:?}"
    );
    // No date: the family name and the street.
    let c = with(
        &with(SENGHOR, "first_name", "Pathe"),
        "address",
        "villa cite keur gorgui thies 12000",
    );
    let kc = keys(&c);
    assert!(
        keys(SENGHOR)
            .iter()
            .any(|k| k.starts_with("lw:") && kc.contains(k)),
        "{kc:?}"
    );
    // A very common family name makes no family-name-and-street block (it would be huge).
    let diallo = with(SENGHOR, "last_name", "Diallo");
    assert!(!keys(&diallo).iter().any(|k| k.starts_with("lw:")));
}

#[test]
fn rare_names_agreeing_crosswise_weigh_as_rare_names_common_ones_as_common() {
    let a = with(SENGHOR, "date_of_birth", "1954-09-03");
    let swapped = with(
        &with(&with(&a, "first_name", "Senghor"), "last_name", "Ousseynou"),
        "date_of_birth",
        "1948-12-18",
    );
    let e = explained(&a, &swapped);
    assert_eq!(e["names_swapped"], true, "{e}");
    assert_eq!(e["fields"]["first_name"]["weight"], 3.0, "{e}");
    assert_eq!(e["fields"]["last_name"]["weight"], 4.0, "{e}");
    // Another date: a namesake of another generation is possible, a person decides.
    assert_eq!(e["band"], "review", "{e}");
    let b = with(
        &with(AMINATA, "first_name", "Diallo"),
        "last_name",
        "Aminata",
    );
    let e = explained(AMINATA, &b);
    assert_eq!(e["fields"]["first_name"]["weight"], 2.0, "{e}");
    assert_eq!(e["fields"]["last_name"]["weight"], 2.5, "{e}");
}

#[test]
fn swapped_common_names_with_a_mistyped_year_still_share_a_block() {
    let keys =
        |r: &str| -> Vec<String> { serde_json::from_str(&block_keys_json(r).unwrap()).unwrap() };
    // "Aminata Ndour" registered again as "Ndour Aminata", one year later: two very common names
    // (no name-only key), another year and another full date.
    let a =
        r#"{"first_name":"Aminata","last_name":"Ndour","date_of_birth":"2007-03-13","gender":"F"}"#;
    let b =
        r#"{"first_name":"Ndour","last_name":"Aminata","date_of_birth":"2008-03-13","gender":"F"}"#;
    let (ka, kb) = (keys(a), keys(b));
    assert!(ka.iter().any(|k| kb.contains(k)), "{ka:?} / {kb:?}");
    // 1 January says nothing about month and day: still no month-day key.
    let jan = with(a, "date_of_birth", "2007-01-01");
    assert!(!keys(&jan).iter().any(|k| k.starts_with("lm:")));
}

#[test]
fn an_everyday_form_of_a_given_name_is_close_not_weak() {
    let level = |a: &str, b: &str| level_of(r#"{"last_name":"Wade"}"#, "first_name", a, b);
    assert_eq!(level("Fatou", "Fatoumata"), "close");
    assert_eq!(level("Khady", "Khadija"), "close");
    assert_eq!(level("Omar", "Oumar"), "close");
    assert_eq!(level("Awa", "Hawa"), "close");
    // Part by part in compound names.
    assert_eq!(level("Fatou Binta", "Fatoumata Bintou"), "close");
    // The names of twin brothers, and names used as different ones, stay apart.
    assert_eq!(level("Assane", "Ousseynou"), "disagree");
    assert_ne!(level("Modou", "Mamadou"), "close");
    // "Fatou Wade" registered again as "Fatoumata Wade" with day and month swapped: a person
    // looks (it was a new identity: a similar pair of common names weighs 0).
    let a = r#"{"first_name":"Fatou","last_name":"Wade","date_of_birth":"1987-05-02","gender":"F","health_center":"Pikine"}"#;
    let b = r#"{"first_name":"Fatoumata","last_name":"Wade","date_of_birth":"1987-02-05","gender":"F","health_center":"Pikine"}"#;
    assert_eq!(explained(a, b)["band"], "review");
}

#[test]
fn a_day_and_month_swap_meets_its_record_in_a_small_block() {
    let keys =
        |r: &str| -> Vec<String> { serde_json::from_str(&block_keys_json(r).unwrap()).unwrap() };
    let a =
        r#"{"first_name":"Moussa","last_name":"Ndiaye","date_of_birth":"2025-10-09","gender":"M"}"#;
    let b = with(a, "date_of_birth", "2025-09-10");
    // Not through the family name and year: that block holds every Ndiaye born in 2025, past the
    // block cap in a big programme.
    let shared: Vec<String> = keys(a)
        .into_iter()
        .filter(|k| keys(&b).contains(k) && !k.starts_with("ln:"))
        .collect();
    assert!(shared.iter().any(|k| k.starts_with("ns:")), "{shared:?}");
    // A day above 12 cannot be a swapped month; 1 January is an estimate: no such key.
    for d in ["2025-10-19", "2025-01-01"] {
        let k = keys(&with(a, "date_of_birth", d));
        assert!(!k.iter().any(|k| k.starts_with("ns:")), "{k:?}");
    }
}

#[test]
fn a_name_typed_with_a_swap_and_a_letter_dropped_or_doubled_is_similar() {
    let level = |a: &str, b: &str| level_of(r#"{"first_name":"Moussa"}"#, "last_name", a, b);
    assert_eq!(level("Sagna", "Sgaana"), "similar");
    assert_eq!(level("Niang", "Nagn"), "similar");
    assert_eq!(level("Awa", "Aaaw"), "similar");
    // A substituted letter is another family, whatever else changed.
    for (a, b) in [
        ("Seck", "Sene"),
        ("Faye", "Fall"),
        ("Fall", "Sall"),
        ("Diallo", "Diatta"),
    ] {
        assert_eq!(level(a, b), "disagree", "{a} / {b}");
    }
    // A true pair from the simulator's 10k export: the family name typed twice wrong, the rest
    // agreeing. It was a second card (-0.3); now a link.
    let a = r#"{"first_name":"Moussa","last_name":"Sagna","date_of_birth":"2024-07-01","gender":"M","health_center":"Centre de Santé de Mbour","zone":"Mbour"}"#;
    let b = with(a, "last_name", "Sgaana");
    assert_eq!(explained(a, &b)["band"], "link");
}

#[test]
fn each_crosswise_agreement_of_swapped_names_weighs_by_its_own_name() {
    // A true pair from the simulator's 10k export: a rare given name and a common family name
    // swapped, same clinic, 1 January. It was a second card; a person now looks.
    let a = r#"{"first_name":"Niang","last_name":"Théophile","date_of_birth":"2022-01-01","gender":"M","health_center":"Poste de Santé de Randoulène","zone":"Thiès"}"#;
    let b = with(&with(a, "first_name", "Théophile"), "last_name", "Niang");
    let e = explained(a, &b);
    assert_eq!(e["names_swapped"], true, "{e}");
    // Niang (common) against Niang, Théophile (rare) against Théophile: one close agreement
    // with a common name's weight and one with a rare name's (which slot holds which depends on
    // the order the scorer puts the records in): 2.5 + 3.0, where both used to weigh as common.
    let names = |e: &serde_json::Value| {
        e["fields"]["first_name"]["weight"].as_f64().unwrap()
            + e["fields"]["last_name"]["weight"].as_f64().unwrap()
    };
    assert_eq!(names(&e), 5.5, "{e}");
    assert_eq!(e["band"], "review", "{e}");
    assert_eq!(explained(&b, a)["score"], e["score"]);
    // Two common names swapped keep the common weights (2.0 + 2.5).
    let c = r#"{"first_name":"Diallo","last_name":"Aminata","date_of_birth":"2022-01-01"}"#;
    let d = r#"{"first_name":"Aminata","last_name":"Diallo","date_of_birth":"2022-01-01"}"#;
    assert_eq!(names(&explained(c, d)), 4.5);
}

#[test]
fn a_postcode_with_two_digits_swapped_is_a_slip_not_another_place() {
    let addr = |a: &str, b: &str| {
        level_of(
            r#"{"first_name":"Kayla","last_name":"Tu"}"#,
            "address",
            a,
            b,
        )
    };
    // FEBRL2 entity 209: the street replaced, a word mistyped and the postcode's last digits
    // swapped; house number, village, suburb and state agree.
    let a = "6 chauvel circle adventist retireemnt village coleambally 3137 qld";
    let b = "6 crichton crescent adventist retirement village coleambally 3173 qld";
    assert_eq!(addr(a, b), "close");
    // Another last digit is the next postcode: half the credit, and the pair stays similar.
    let c = "6 crichton crescent adventist retirement village coleambally 3138 qld";
    assert_eq!(addr(a, c), "similar");
}

#[test]
fn a_date_slip_in_another_district_waits_for_a_person() {
    // A false automatic link at 100,000 simulator records: the same rare names, a date one slip
    // off, another clinic in another district.
    let a = r#"{"first_name":"Geneviève","last_name":"Preira","date_of_birth":"1992-11-15","gender":"F","health_center":"Poste de Santé de Ross Béthio","zone":"Dagana"}"#;
    let other_district = r#"{"first_name":"Geneviève","last_name":"Preira","date_of_birth":"1992-11-10","gender":"F","health_center":"Centre de Santé d'Oussouye","zone":"Oussouye"}"#;
    assert_eq!(explained(a, other_district)["band"], "review");
    // Another clinic of the same district: people do that, but with nothing personal besides
    // the names and a date a digit off it is a namesake as often as a slip: a person decides
    // (`namesakes_with_birth_dates_one_typed_digit_apart_wait_for_a_person`); the same phone
    // besides links.
    let same_district = with(
        &with(other_district, "zone", "Dagana"),
        "health_center",
        "Centre de Santé de Dagana",
    );
    assert_eq!(explained(a, &same_district)["band"], "review");
    let phone = "+221770000123";
    let same_phone = with(&same_district, "phone_number", phone);
    assert_eq!(
        explained(&with(a, "phone_number", phone), &same_phone)["band"],
        "link"
    );
    // The same date in another district still links: the names and the date carry it.
    let moved = with(other_district, "date_of_birth", "1992-11-15");
    assert_eq!(explained(a, &moved)["band"], "link");
}

#[test]
fn namesakes_a_house_number_and_a_date_digit_apart_wait_for_a_person() {
    // Two neighbours of one quarter with one name, born days apart: the short address is
    // `close` only by its house number's slip, which is no more personal than the date's.
    let a = r#"{"first_name":"Ousmane","last_name":"Faye","date_of_birth":"1988-03-12","gender":"M","phone_number":"+221770001111","address":"45 Keur Massar","health_center":"Keur Massar"}"#;
    let b = with(
        &with(
            &with(a, "date_of_birth", "1988-03-17"),
            "phone_number",
            "+221760002222",
        ),
        "address",
        "46 Keur Massar",
    );
    let e = explained(a, &b);
    assert_eq!(e["fields"]["address"]["level"], "close", "{e}");
    assert_eq!(e["band"], "review", "{e}");
    assert!(
        e["veto"].as_str().unwrap().contains("one typed digit"),
        "{e}"
    );
    // The same home (the address word for word, or a word mistyped with the same number) still
    // links the date slip.
    let same_home = with(&b, "address", "45 Keur Massar");
    assert_eq!(explained(a, &same_home)["band"], "link");
    let misspelt = with(&b, "address", "45 Keur Masar");
    assert_eq!(explained(a, &misspelt)["band"], "link");
    // A full address with one number mistyped still names one home by its other words.
    let full = |n: &str| format!("{n} rue 10 Keur Massar Dakar");
    let c = with(a, "address", &full("45"));
    let d = with(&b, "address", &full("46"));
    assert_eq!(explained(&c, &d)["band"], "link");
}

#[test]
fn a_swap_with_the_other_name_mistyped_keeps_that_names_own_level() {
    // FEBRL1 entity 37: names swapped, the family name split and the given name mistyped.
    let a = r#"{"first_name":"eliza","last_name":"nguyen","date_of_birth":"1926-06-26","address":"29 buxton street fergson lodge cunnamulla 2256 sa"}"#;
    let b = r#"{"first_name":"nguy en","last_name":"elixa","date_of_birth":"1926-06-26","address":"29 buxton street fergson oldge cunnamulla 2257 sa"}"#;
    let e = explained(a, b);
    assert_eq!(e["names_swapped"], true, "{e}");
    let levels = [
        e["fields"]["first_name"]["level"].as_str().unwrap(),
        e["fields"]["last_name"]["level"].as_str().unwrap(),
    ];
    // "nguyen" / "nguy en" close, "eliza" / "elixa" at its own (phonetic) level, not disagree.
    assert!(
        levels.contains(&"close") && levels.contains(&"phonetic"),
        "{e}"
    );
    // Not the twins pattern (a replaced first name): the pair links.
    assert_eq!(e["band"], "link", "{e}");
}

#[test]
fn two_common_names_without_a_date_meet_within_their_district() {
    let keys =
        |j: &str| -> Vec<String> { serde_json::from_str(&block_keys_json(j).unwrap()).unwrap() };
    let dated = r#"{"first_name":"Fatou","last_name":"Diallo","date_of_birth":"1990-04-03","zone":"Pikine"}"#;
    let undated = r#"{"first_name":"Diallo","last_name":"Fatou","zone":"Pikine"}"#;
    let (a, b) = (keys(dated), keys(undated));
    let shared: Vec<&String> = a.iter().filter(|k| b.contains(k)).collect();
    assert!(
        shared.iter().any(|k| k.starts_with("nz:")),
        "a re-registration without its date (names swapped) meets the first: {a:?} / {b:?}"
    );
    // Only for two common names (a rarer pair has its own name-only key), only with a district.
    let rare = r#"{"first_name":"Fatou","last_name":"Kouyatembe","zone":"Pikine"}"#;
    assert!(!keys(rare).iter().any(|k| k.starts_with("nz:")));
    let nowhere = r#"{"first_name":"Fatou","last_name":"Diallo"}"#;
    assert!(!keys(nowhere).iter().any(|k| k.starts_with("nz:")));
}

/// The keys under which the later record `b` finds the earlier record `a` (`a` filed under them,
/// `b` reading them), as resolution looks them up.
fn keys_finding(a: &str, b: &str) -> Vec<String> {
    let a = block_keys(&PreparedRecord::from_json(a, 1).unwrap());
    lookup_keys(&PreparedRecord::from_json(b, 2).unwrap())
        .into_iter()
        .filter(|k| a.contains(k))
        .collect()
}

fn person(first: &str, last: &str, dob: &str, clinic: &str) -> String {
    let mut v = serde_json::json!({
        "first_name": first, "last_name": last, "gender": "F",
        "health_center": clinic, "zone": "Podor",
    });
    if !dob.is_empty() {
        v["date_of_birth"] = dob.into();
    }
    v.to_string()
}

#[test]
fn both_names_misread_still_meet_by_date_within_the_district() {
    // Two registrations at two clinics of one district, both names read with OCR slips.
    let a = person("Oumou", "Diouf", "2016-03-14", "Ndioum");
    let b = person("Ournou", "Dlouf", "2016-03-14", "Podor");
    // (The initials with the birthday, `im`, meet it too when the first letters were read right.)
    assert_eq!(
        keys_finding(&a, &b),
        ["im:do:0314:podor", "dz:20160314:podor"]
    );
    let first_letter_misread = person("Ournou", "Clouf", "2016-03-14", "Podor");
    assert_eq!(
        keys_finding(&a, &first_letter_misread),
        ["dz:20160314:podor"]
    );
    // Another date: nothing.
    let c = person("Ournou", "Dlouf", "2016-03-15", "Podor");
    assert!(keys_finding(&a, &c).is_empty());
}

#[test]
fn a_record_without_a_date_finds_a_dated_one_by_an_ocr_tolerant_name_in_the_district() {
    let dated = person("Awa", "Gomis", "1990-05-07", "Ndioum");
    let undated = person("Awa", "Gomls", "", "Ndioum");
    let found = keys_finding(&dated, &undated);
    assert!(!found.is_empty());
    assert!(found.iter().all(|k| k.starts_with("wd:")), "{found:?}");
    // And the other way round: a dated record finds an earlier undated one (its `ww` keys).
    let found = keys_finding(&undated, &dated);
    assert!(!found.is_empty());
    assert!(found.iter().all(|k| k.starts_with("ww:")), "{found:?}");
    // Another district or another sex: not found.
    let elsewhere = undated.replace("Podor", "Matam");
    assert!(keys_finding(&dated, &elsewhere).is_empty());
    let male = undated.replace(r#""F""#, r#""M""#);
    assert!(keys_finding(&dated, &male).is_empty());
}

#[test]
fn an_estimated_date_is_weak_and_two_weak_records_meet_by_one_name() {
    // 1 January (an estimated age) and no date: a given name garbled, the family name kept.
    let estimated = person("Sokhna", "Mbengue", "1987-01-01", "Ndioum");
    let undated = person("Sokbna", "Mbengue", "", "Podor");
    let found = keys_finding(&estimated, &undated);
    assert!(!found.is_empty());
    assert!(found.iter().all(|k| k.starts_with("ww:")), "{found:?}");
}

#[test]
fn two_dated_records_never_meet_through_the_weak_date_keys() {
    // Both are filed under `wd:` keys of one name code, district and sex, but only records
    // without a firm date read them: dated records have their date keys.
    let a = person("Awa", "Gomis", "1990-05-07", "Ndioum");
    let b = person("Awa", "Gomls", "1985-02-03", "Ndioum");
    let (fa, fb) = (
        block_keys(&PreparedRecord::from_json(&a, 1).unwrap()),
        block_keys(&PreparedRecord::from_json(&b, 1).unwrap()),
    );
    assert!(fa.iter().any(|k| k.starts_with("wd:") && fb.contains(k)));
    assert!(
        keys_finding(&a, &b).is_empty(),
        "{:?}",
        keys_finding(&a, &b)
    );
    assert!(!compared_among_themselves("wd:a:podor:f"));
}

/// The level `mpi_explain` gives a field.
fn level(a: &str, b: &str, field: &str) -> String {
    let e: serde_json::Value = serde_json::from_str(&explain_json(a, b).unwrap()).unwrap();
    e["fields"][field]["level"].as_str().unwrap().to_string()
}

#[test]
fn names_misread_or_respelled_are_one_slip_and_other_names_stay_apart() {
    // A form read by OCR ("rn" for "m", "ri" for "n", "l" for "i", "o" for "a", "v" for "u",
    // "b" for "h") or a name heard and written ("ou" / "u", "y" / "i"): one name, `close`.
    for (read, name, field) in [
        ("Sèrie", "Sène", "last_name"),
        ("Bo", "Ba", "last_name"),
        ("Dlop", "Diop", "last_name"),
        ("Dvbois", "Dubois", "last_name"),
        ("Drarné", "Dramé", "last_name"),
        ("Mollck", "Malick", "first_name"),
        ("Tbiaw", "Thiaw", "last_name"),
        ("Gveie", "Gueye", "last_name"),
        ("Suleymane", "Souleymane", "first_name"),
    ] {
        let a = with(AMINATA, field, name);
        let b = with(AMINATA, field, read);
        assert_eq!(level(&a, &b, field), "close", "{name} / {read}");
    }
    // Other letters are other names, however alike.
    for (x, y) in [
        ("Fall", "Sall"),
        ("Diop", "Diouf"),
        ("Seck", "Sene"),
        ("Ka", "Ba"),
    ] {
        let a = with(AMINATA, "last_name", x);
        let b = with(AMINATA, "last_name", y);
        assert_ne!(level(&a, &b, "last_name"), "close", "{x} / {y}");
    }
}

#[test]
fn a_record_without_a_birth_date_whose_names_agree_in_one_place_goes_to_a_person() {
    // A re-registration whose date was left out or unreadable, with a common name and no phone:
    // names, sex and clinic are all there is, too little to link and too much to drop.
    let dated = r#"{"first_name":"Amadou","last_name":"Diop","date_of_birth":"1979-05-15","gender":"M","health_center":"Pikine","zone":"Dakar"}"#;
    let undated = r#"{"first_name":"Amadou","last_name":"Diop","gender":"M","health_center":"Pikine","zone":"Dakar"}"#;
    assert_eq!(band(score_json(dated, undated).unwrap()), "review");
    // Names misread or swapped still count as agreeing; another clinic of one district too.
    let misread = r#"{"first_name":"Diop","last_name":"Arnadou","gender":"M","health_center":"Thiaroye","zone":"Dakar"}"#;
    assert_eq!(band(score_json(dated, misread).unwrap()), "review");
    // Anything else that disagrees, another place, or a name that differs: a new identity.
    for other in [
        with(undated, "phone_number", "+221770000001"),
        with(&with(undated, "zone", "Thiès"), "health_center", "Thiès"),
        with(undated, "first_name", "Moussa"),
        with(undated, "gender", "F"),
    ] {
        let with_phone = with(dated, "phone_number", "+221779999999");
        let a = if other.contains("phone_number") {
            &with_phone
        } else {
            dated
        };
        assert_eq!(band(score_json(a, &other).unwrap()), "new", "{other}");
    }
    // With both dates known the dates speak, not this rule.
    let both = with(undated, "date_of_birth", "1962-01-30");
    assert_ne!(band(score_json(dated, &both).unwrap()), "review");
}

#[test]
fn namesakes_with_birth_dates_one_typed_digit_apart_wait_for_a_person() {
    // Rare names, one clinic, other phones: only the names and a date say "same person".
    let a = r#"{"first_name":"Penda","last_name":"Da Silva","date_of_birth":"2019-04-20","gender":"F","phone_number":"+221771111111","health_center":"Diamaguène","zone":"Pikine"}"#;
    for (dob, expected) in [
        ("2012-04-20", "review"), // one year digit: seven years apart
        ("2019-04-27", "review"), // one day digit
        ("2019-07-20", "review"), // one month digit
        ("2019-20-04", "link"),   // day and month swapped: the date's own shape
        ("2018-04-20", "link"),   // the same day a year off
        ("2019-04-20", "link"),
    ] {
        let b = with(
            &with(a, "date_of_birth", dob),
            "phone_number",
            "+221772222222",
        );
        let e: serde_json::Value = serde_json::from_str(&explain_json(a, &b).unwrap()).unwrap();
        assert_eq!(e["band"], expected, "{dob}: {e}");
        if expected == "review" {
            assert!(
                e["veto"].as_str().unwrap().contains("one typed digit"),
                "{e}"
            );
            // The same phone besides: one person with a mistyped date.
            let same_phone = with(a, "date_of_birth", dob);
            assert_eq!(band(score_json(a, &same_phone).unwrap()), "link", "{dob}");
        }
    }
}

#[test]
fn a_slip_in_each_name_and_a_mistyped_year_still_meet_by_initials_and_birthday() {
    // Both names typed with two letters swapped (no name code agrees) and the year one off (no
    // date key agrees): only the initials with month and day are left.
    let a = person("Moussa", "Sarr", "2001-04-17", "Ndioum");
    let b = person("Mosusa", "Srar", "2002-04-17", "Podor");
    assert_eq!(keys_finding(&a, &b), ["im:ms:0417:podor"]);
    // Day and month swapped instead of the year: the same key (month and day sorted).
    let swapped = person("Mosusa", "Srar", "2001-11-04", "Podor");
    let c = person("Moussa", "Sarr", "2001-04-11", "Ndioum");
    assert_eq!(keys_finding(&c, &swapped), ["im:ms:0411:podor"]);
    // Names swapped keep the initials.
    let crosswise = person("Srar", "Mosusa", "2002-04-17", "Podor");
    assert_eq!(keys_finding(&a, &crosswise), ["im:ms:0417:podor"]);
    // Another initial, another district or an estimated date: no such key.
    assert!(keys_finding(&a, &person("Nosusa", "Srar", "2002-04-17", "Podor")).is_empty());
    assert!(keys_finding(&a, &b.replace("Podor", "Matam")).is_empty());
    let estimated = person("Moussa", "Sarr", "2001-01-01", "Ndioum");
    assert!(
        !block_keys(&PreparedRecord::from_json(&estimated, 1).unwrap())
            .iter()
            .any(|k| k.starts_with("im:"))
    );
}

#[test]
fn a_rewritten_street_and_a_mistyped_postcode_still_meet_by_house_number_and_town() {
    let at = |first: &str, last: &str, dob: &str, address: &str| {
        serde_json::json!({
            "first_name": first, "last_name": last, "date_of_birth": dob, "address": address,
        })
        .to_string()
    };
    // Other names and dates (a record filed under a relative's names, the date replaced): only
    // the house number and the town before the postcode agree.
    let a = at(
        "Awa",
        "Ndiaye",
        "1980-02-03",
        "26 rue carnot medina dakar 10200",
    );
    let b = at(
        "Khady",
        "Sow",
        "1975-06-07",
        "26 avenue blaise diagne dakar 10020",
    );
    assert_eq!(keys_finding(&a, &b), ["hs:26:dakar"]);
    // Another house number: nothing.
    let c = at(
        "Khady",
        "Sow",
        "1975-06-07",
        "28 avenue blaise diagne dakar 10020",
    );
    assert!(keys_finding(&a, &c).is_empty());
    // A short address without a postcode makes no such key (its number and quarter are `ad`).
    let short = at("Awa", "Ndiaye", "1980-02-03", "73 santhiaba");
    assert!(!block_keys(&PreparedRecord::from_json(&short, 1).unwrap())
        .iter()
        .any(|k| k.starts_with("hs:")));
}
