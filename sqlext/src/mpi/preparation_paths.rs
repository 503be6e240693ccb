//! The fast paths of record preparation (byte scanning, ASCII shortcuts, the cache) give
//! exactly what the straightforward code gives; the straightforward code is kept here.
use super::*;

fn next(x: &mut u64) -> u64 {
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    *x
}

/// Up to `max` random pieces glued together.
fn text(x: &mut u64, pieces: &[&str], max: u64) -> String {
    let n = next(x) % (max + 1);
    (0..n)
        .map(|_| pieces[(next(x) % pieces.len() as u64) as usize])
        .collect()
}

const NAME_PIECES: &[&str] = &[
    "Mamadou",
    "fatou",
    "DIALLO",
    "Aïssatou",
    "Ndèye",
    "Guèye",
    "N'Diaye",
    "M’Baye",
    "Cissé",
    "Ɓaaba",
    "Ŋgoné",
    "Straße",
    "Ａｍｉ",
    "㎁",
    "Σ",
    " ",
    "  ",
    "-",
    ".",
    "Dr",
    "Mme",
    "M.",
    "M",
    "el",
    "Hadji",
    "2",
    "\t",
    "ch",
    "ou",
    "x",
    "é",
    "\u{301}",
    "ĳ",
    "¼",
    "ß",
    "Œ",
];

#[test]
fn plain_run_agrees_with_a_byte_by_byte_search() {
    let mut x = 0x3c6e_f372_u64;
    for _ in 0..20_000 {
        let bytes: Vec<u8> = (0..(next(&mut x) % 24))
            .map(|_| {
                let r = next(&mut x) as u8;
                match r % 16 {
                    0 => b'"',
                    1 => b'\\',
                    2 => r % 0x20,
                    3 => 0x80 | r,
                    _ => b'a' + r % 26,
                }
            })
            .collect();
        let slow = bytes
            .iter()
            .position(|&c| c == b'"' || c == b'\\' || c < 0x20)
            .unwrap_or(bytes.len());
        assert_eq!(plain_run(&bytes), slow, "{bytes:?}");
    }
}

#[test]
fn names_prepare_as_the_straightforward_code_does() {
    let mut x = 0x510e_527f_u64;
    for _ in 0..20_000 {
        let raw = text(&mut x, NAME_PIECES, 6);
        let expected = {
            let cut = match raw.char_indices().nth(NAME_MAX) {
                Some((i, _)) => &raw[..i],
                None => &raw[..],
            };
            let norm = kadi_normalize(cut);
            let compact: String = norm.chars().filter(|c| c.is_alphanumeric()).collect();
            (!norm.is_empty() && !compact.is_empty()).then(|| {
                let phonetic = kadi_phonetic(&norm);
                let code = coarse_code(&compact);
                let common = COMMON_NAMES.contains(&compact.as_str());
                (norm, compact, phonetic, code, common)
            })
        };
        let got = Name::new(&raw).map(|n| {
            (
                n.norm().to_string(),
                n.compact().to_string(),
                n.phonetic().to_string(),
                n.code().to_string(),
                n.common,
            )
        });
        assert_eq!(got, expected, "{raw:?}");
    }
}

#[test]
fn phone_id_and_sex_keys_are_those_of_the_straightforward_code() {
    let phone_slow = |s: &str| {
        let digits: Vec<u8> = s.bytes().filter(u8::is_ascii_digit).collect();
        if digits.len() < 6 || digits.len() > 20 {
            return None;
        }
        String::from_utf8(digits[digits.len().saturating_sub(8)..].to_vec()).ok()
    };
    let id_slow = |s: &str| {
        let k: String = s
            .chars()
            .take(ID_MAX)
            .filter(|c| c.is_alphanumeric())
            .flat_map(char::to_uppercase)
            .collect();
        (!k.is_empty()).then_some(k)
    };
    let sex_slow = |s: &str| match s.trim().to_ascii_lowercase().as_str() {
        "m" | "male" | "h" | "homme" | "masculin" => Some(b'M'),
        "f" | "female" | "femme" | "feminin" | "féminin" => Some(b'F'),
        _ => None,
    };
    let pieces = [
        "0", "1", "7", "9", "+", " ", "-", "(", "a", "B", "é", "ß", "ǆ", "ｂ", "٣", "m", "ale",
        "F", "emme", "FÉMININ", "féminin", "Homme", "MASCULIN", "\t",
    ];
    let mut x = 0x9b05_688c_u64;
    for _ in 0..50_000 {
        let s = text(&mut x, &pieces, 30);
        assert_eq!(phone_key(&s), phone_slow(&s), "{s:?}");
        assert_eq!(id_key(&s), id_slow(&s), "{s:?}");
        assert_eq!(parse_sex(&s), sex_slow(&s), "{s:?}");
        assert_eq!(parse_sex(s.trim()), sex_slow(&s), "{s:?}");
    }
}

fn json(s: &str) -> String {
    serde_json::to_string(s).unwrap()
}

/// A JSON record built from random pieces; `i` varies the date so records differ.
fn record(x: &mut u64, i: u64) -> String {
    let mut fields = vec![
        format!("\"first_name\":{}", json(&text(x, NAME_PIECES, 3))),
        format!("\"last_name\":{}", json(&text(x, NAME_PIECES, 2))),
        format!(
            "\"date_of_birth\":\"19{:02}-0{}-1{}\"",
            i % 100,
            1 + i % 9,
            i % 10
        ),
        format!(
            "\"gender\":\"{}\"",
            ["F", "m", "Femme", "x"][(i % 4) as usize]
        ),
        format!(
            "\"health_center\":{:?}",
            text(x, &["Thiès", "Guédiawaye", "Pikine", " "], 2)
        ),
    ];
    if i.is_multiple_of(3) {
        fields.push(format!(
            "\"phone_number\":\"+22177{:07}\"",
            next(x) % 10_000_000
        ));
        fields.push(format!(
            "\"address\":{:?}",
            text(x, &["12 ", "rue ", "Sébastien ", "Dakar "], 5)
        ));
    }
    if i.is_multiple_of(5) {
        fields.push(format!("\"national_id\":\"1 75{}-ab\"", i % 97));
    }
    format!("{{{}}}", fields.join(","))
}

#[test]
fn json_and_field_getters_prepare_the_same_record() {
    let mut x = 0x1f83_d9ab_u64;
    for i in 0..2_000 {
        let json = record(&mut x, i);
        let map: std::collections::HashMap<String, serde_json::Value> =
            serde_json::from_str(&json).unwrap();
        let from_fields =
            PreparedRecord::from_fields(|f| map.get(f).and_then(serde_json::Value::as_str));
        assert_eq!(
            PreparedRecord::from_json(&json, 1).unwrap(),
            from_fields,
            "{json}"
        );
    }
}

#[test]
fn a_refilled_record_equals_a_freshly_prepared_one() {
    let mut x = 0xa54f_f53a_u64;
    let mut reused = PreparedRecord::default();
    for round in 0..5_000 {
        // Every field comes and goes: nothing of the previous record may remain.
        let json = if round % 7 == 3 {
            "{}".to_string()
        } else {
            let i = next(&mut x) % 1000;
            record(&mut x, i)
        };
        reused.fill_json(&json, 1).unwrap();
        assert_eq!(
            reused,
            PreparedRecord::from_json(&json, 1).unwrap(),
            "{json}"
        );
    }
}

#[test]
fn cached_scores_equal_scores_of_freshly_prepared_records() {
    let mut x = 0x5be0_cd19_u64;
    let pool: Vec<String> = (0..50).map(|i| record(&mut x, i)).collect();
    // Distinct pairs first (records not kept), then pairs from a small pool (kept and
    // reused), then distinct pairs again while the hit rate decays.
    for round in 0..3 {
        for i in 0..3_000u64 {
            let (a, b) = if round == 1 {
                let a = &pool[(next(&mut x) % 50) as usize];
                (a.clone(), pool[(next(&mut x) % 50) as usize].clone())
            } else {
                (record(&mut x, i), record(&mut x, i + 1))
            };
            let fresh = score_prepared(
                &PreparedRecord::from_json(&a, 1).unwrap(),
                &PreparedRecord::from_json(&b, 2).unwrap(),
            );
            assert_eq!(score_json(&a, &b).unwrap(), fresh, "{a} / {b}");
        }
    }
    assert!(PREPARED.with(|c| !c.borrow().map.is_empty()));
}
