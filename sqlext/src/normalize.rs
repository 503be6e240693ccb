//! Name normalisation for matching: the same person written by different clerks should give the
//! same key. `kadi_normalize` folds, in this order:
//!
//! 1. case (Unicode lower case) and accents (NFKD, combining marks dropped: é→e, ç→c, ñ→n,
//!    fullwidth letters to ASCII), plus letters NFKD leaves alone but clerks write without the
//!    diacritic: ß→ss, æ→ae, œ→oe, ø→o, ł→l, đ/ð→d, þ→th, ı→i and the African-alphabet letters
//!    ɓ→b, ɗ→d, ƙ→k, ƴ→y, ŋ→n, ɛ→e, ɔ→o;
//! 2. apostrophes of every kind disappear (`N'Diaye` = `Ndiaye`, `M’Baye` = `Mbaye`);
//! 3. hyphens and any other punctuation or symbol become a space (`Mame-Diarra` = `Mame Diarra`);
//! 4. runs of white space become one space, and the ends are trimmed;
//! 5. leading honorifics are dropped (`Dr.`, `Mr`, `Mme`, `Mlle`, `M.` with its dot, `Prof`,
//!    `Sra`, `Dona`, …), unless nothing would remain. `El Hadji` and `Cheikh` are kept: in West
//!    Africa they are often part of the registered name.
//!
//! Digits are kept (`Fatou2` stays `fatou2`): they are rare in names and meaningful when present.
use unicode_normalization::char::is_combining_mark;
use unicode_normalization::UnicodeNormalization;

/// Honorifics dropped from the start of a name (compared after folding, trailing dot removed).
/// Keep every entry starting with m, d, p, s, r or h, or extend the filter in `is_honorific`.
const HONORIFICS: &[&str] = &[
    "mr",
    "mrs",
    "ms",
    "mx",
    "miss",
    "mister",
    "sir",
    "dr",
    "dre",
    "doctor",
    "docteur",
    "doutor",
    "doutora",
    "prof",
    "professor",
    "professeur",
    "pr",
    "mme",
    "mmes",
    "madame",
    "mlle",
    "mademoiselle",
    "monsieur",
    "sr",
    "sra",
    "srta",
    "senhor",
    "senhora",
    "dona",
    "dom",
    "rev",
    "hon",
];

/// Folds a name to a comparable key: `N'Diaye` -> `ndiaye`, `Aïssatou` -> `aissatou`,
/// `Dr.  Ndèye-Fatou` -> `ndeye fatou`. See the module documentation for the rules.
///
/// One pass over the characters and one allocation (the result): the MPI scorer calls this for
/// every field of every record it prepares.
pub fn kadi_normalize(name: &str) -> String {
    let mut words = Words::with_capacity(name.len());
    if name.is_ascii() {
        for b in name.bytes() {
            words.feed(match b {
                b'\'' | b'`' => Fold::Skip,
                b'.' => Fold::Dot,
                b if b.is_ascii_alphanumeric() => Fold::One(char::from(b.to_ascii_lowercase())),
                _ => Fold::Space,
            });
        }
        words.finish()
    } else {
        normalize_chars(name)
    }
}

/// The general (Unicode) path of [`kadi_normalize`]; on ASCII it gives the same result as the
/// byte path, which a test checks.
fn normalize_chars(name: &str) -> String {
    let mut words = Words::with_capacity(name.len());
    for c in name.chars().flat_map(char::to_lowercase).nfkd() {
        if !is_combining_mark(c) {
            words.feed(fold(c));
        }
    }
    words.finish()
}

/// What one lower-case, decomposed character becomes.
#[derive(Clone, Copy)]
enum Fold {
    /// Apostrophes: vanish, joining the letters around them.
    Skip,
    /// Ends a word and marks it as abbreviated (`M.`).
    Dot,
    /// Punctuation, symbols, white space: end a word.
    Space,
    /// A letter or digit.
    One(char),
    /// A letter written as two (ß -> ss).
    Two(char, char),
}

fn fold(c: char) -> Fold {
    match c {
        '\'' | '\u{2019}' | '\u{2018}' | '`' | '\u{b4}' | '\u{2bc}' | '\u{2bb}' | '\u{2032}' => {
            Fold::Skip
        }
        '.' => Fold::Dot,
        'ß' => Fold::Two('s', 's'),
        'æ' => Fold::Two('a', 'e'),
        'œ' => Fold::Two('o', 'e'),
        'þ' => Fold::Two('t', 'h'),
        'ø' => Fold::One('o'),
        'ł' => Fold::One('l'),
        'đ' | 'ð' | 'ɗ' => Fold::One('d'),
        'ı' => Fold::One('i'),
        'ɓ' => Fold::One('b'),
        'ƙ' => Fold::One('k'),
        'ƴ' => Fold::One('y'),
        'ŋ' => Fold::One('n'),
        'ɛ' => Fold::One('e'),
        'ɔ' => Fold::One('o'),
        c if c.is_alphanumeric() => Fold::One(c),
        _ => Fold::Space,
    }
}

/// Collects words (runs of letters and digits) separated by one space, and drops the leading
/// honorifics once the whole name has been seen.
struct Words {
    out: String,
    /// Start (in `out`) of the word being written, if any.
    current: Option<usize>,
    /// Start of the last word finished while every word so far was an honorific.
    last_leading: Option<usize>,
    /// Start of the first word that is not an honorific.
    first_real: Option<usize>,
}

impl Words {
    fn with_capacity(n: usize) -> Words {
        Words {
            out: String::with_capacity(n),
            current: None,
            last_leading: None,
            first_real: None,
        }
    }

    fn push(&mut self, c: char) {
        if self.current.is_none() {
            if !self.out.is_empty() {
                self.out.push(' ');
            }
            self.current = Some(self.out.len());
        }
        self.out.push(c);
    }

    fn end_word(&mut self, dot: bool) {
        let Some(start) = self.current.take() else {
            return;
        };
        if self.first_real.is_none() {
            if is_honorific(&self.out[start..], dot) {
                self.last_leading = Some(start);
            } else {
                self.first_real = Some(start);
            }
        }
    }

    fn feed(&mut self, f: Fold) {
        match f {
            Fold::Skip => {}
            Fold::Dot => self.end_word(true),
            Fold::Space => self.end_word(false),
            Fold::One(c) => self.push(c),
            Fold::Two(a, b) => {
                self.push(a);
                self.push(b);
            }
        }
    }

    fn finish(mut self) -> String {
        self.end_word(false);
        // Honorifics go unless nothing would remain; then the last word stays.
        let cut = self.first_real.or(self.last_leading).unwrap_or(0);
        if cut > 0 {
            self.out.drain(..cut);
        }
        self.out
    }
}

/// True for a word that is a courtesy title; `m` counts only when written with its dot (`M.`),
/// since a bare `M` is more often an initial.
fn is_honorific(word: &str, dot: bool) -> bool {
    match word.as_bytes().first() {
        _ if word == "m" => dot,
        // Every honorific starts with one of these letters: most names leave here.
        Some(b'm' | b'd' | b'p' | b's' | b'r' | b'h') => HONORIFICS.contains(&word),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::kadi_normalize;

    #[test]
    fn accents_case_and_apostrophes_fold_away() {
        assert_eq!(kadi_normalize("N'Diaye"), kadi_normalize("Ndiaye"));
        assert_eq!(kadi_normalize("Aïssatou"), "aissatou");
        assert_eq!(kadi_normalize("FRANÇOIS Niño"), "francois nino");
        assert_eq!(kadi_normalize("M’Baye"), "mbaye");
        assert_eq!(kadi_normalize("Ndèye"), kadi_normalize("Ndeye"));
    }

    #[test]
    fn hyphens_and_repeated_spaces_become_one_space() {
        assert_eq!(kadi_normalize("  Mame-Diarra   Ba "), "mame diarra ba");
        assert_eq!(kadi_normalize("Sene,\tNdeye"), "sene ndeye");
    }

    #[test]
    fn leading_honorifics_are_dropped_but_not_a_lone_one() {
        assert_eq!(kadi_normalize("Dr. Diallo"), "diallo");
        assert_eq!(kadi_normalize("Mme Ndeye Sene"), "ndeye sene");
        assert_eq!(kadi_normalize("M. Diop"), "diop");
        assert_eq!(kadi_normalize("Dr.Diallo"), "diallo");
        assert_eq!(kadi_normalize("M Diop"), "m diop");
        assert_eq!(kadi_normalize("Madame"), "madame");
        assert_eq!(kadi_normalize("El Hadji Malick Sy"), "el hadji malick sy");
    }

    #[test]
    fn african_alphabet_letters_fold_to_latin() {
        assert_eq!(kadi_normalize("Ɓaaba Ɗiallo Ŋgoné"), "baaba diallo ngone");
        assert_eq!(kadi_normalize("Straße"), "strasse");
        assert_eq!(kadi_normalize("İbrahim"), "ibrahim");
        assert_eq!(kadi_normalize("Ａｍｉｎａｔａ"), "aminata");
    }

    #[test]
    fn every_honorific_passes_the_first_letter_filter() {
        for h in super::HONORIFICS {
            assert!(super::is_honorific(h, false), "{h}");
        }
    }

    #[test]
    fn the_ascii_fast_path_agrees_with_the_unicode_path() {
        let pieces = [
            "a", "B", " ", "  ", ".", "'", "`", "-", ",", "Dr", "M", "mme", "9", "\t", "MR.",
        ];
        let mut x = 0x1f2e_3d4c_u64;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let name: String = (0..(x % 7))
                .map(|k| pieces[((x >> (8 + 5 * k)) % 15) as usize])
                .collect();
            assert_eq!(
                kadi_normalize(&name),
                super::normalize_chars(&name),
                "{name:?}"
            );
        }
    }

    #[test]
    fn empty_and_punctuation_only_names_give_empty_keys() {
        assert_eq!(kadi_normalize(""), "");
        assert_eq!(kadi_normalize(" '-. "), "");
    }
}
