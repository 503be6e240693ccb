//! Properties every string metric and name key must have on any input, checked on random
//! strings mixing ASCII, accents (precomposed and combining), other scripts, emoji and CR LF.
mod common;

use common::Rng;
use kadi_sqlext::normalize::kadi_normalize;
use kadi_sqlext::phonetic::kadi_phonetic;
use kadi_sqlext::text::{char_count, damerau_levenshtein, jaro, jaro_winkler, levenshtein};

const PIECES: &[&str] = &[
    "a",
    "b",
    "c",
    "A",
    " ",
    "-",
    "'",
    "é",
    "e\u{301}",
    "\u{301}",
    "ñ",
    "ß",
    "Ɓ",
    "王",
    "😀",
    "👩‍👩‍👧",
    "\r\n",
    "\r",
    "\n",
    "Dr.",
    "M.",
    "ou",
    "dj",
    "ch",
    "y",
];

fn random_string(rng: &mut Rng, max: usize) -> String {
    (0..rng.below(max + 1)).map(|_| *rng.pick(PIECES)).collect()
}

#[test]
fn similarities_stay_in_unit_range_and_are_symmetric() {
    let mut rng = Rng(7);
    for _ in 0..5_000 {
        let (a, b) = (random_string(&mut rng, 12), random_string(&mut rng, 90));
        for (name, f) in [
            ("jaro", jaro as fn(&str, &str) -> f64),
            ("jaro_winkler", jaro_winkler),
        ] {
            let (ab, ba) = (f(&a, &b), f(&b, &a));
            assert!((0.0..=1.0).contains(&ab), "{name}({a:?}, {b:?}) = {ab}");
            assert_eq!(ab, ba, "{name} is not symmetric on {a:?}, {b:?}");
        }
        assert!(jaro_winkler(&a, &b) >= jaro(&a, &b));
        if !a.is_empty() {
            assert_eq!(jaro_winkler(&a, &a), 1.0, "{a:?}");
        }
    }
}

#[test]
fn edit_distances_are_bounded_symmetric_and_damerau_never_exceeds_levenshtein() {
    let mut rng = Rng(11);
    for _ in 0..5_000 {
        let (a, b) = (random_string(&mut rng, 12), random_string(&mut rng, 80));
        let (la, lb) = (char_count(&a), char_count(&b));
        let l = levenshtein(&a, &b);
        let d = damerau_levenshtein(&a, &b);
        assert_eq!(l, levenshtein(&b, &a), "{a:?} {b:?}");
        assert_eq!(d, damerau_levenshtein(&b, &a), "{a:?} {b:?}");
        assert!(
            la.abs_diff(lb) <= d && d <= l && l <= la.max(lb),
            "{a:?} {b:?}: lev {l}, damerau {d}"
        );
        assert_eq!(levenshtein(&a, &a), 0);
    }
}

#[test]
fn normalising_twice_changes_nothing_and_phonetic_keys_ignore_normalisation() {
    let mut rng = Rng(13);
    for _ in 0..5_000 {
        let s = random_string(&mut rng, 16);
        let once = kadi_normalize(&s);
        assert_eq!(kadi_normalize(&once), once, "{s:?}");
        assert!(
            !once.starts_with(' ') && !once.ends_with(' ') && !once.contains("  "),
            "{s:?} -> {once:?}"
        );
        assert_eq!(kadi_phonetic(&once), kadi_phonetic(&s), "{s:?}");
    }
}
