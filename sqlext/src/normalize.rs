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
//!
//! Speed: the MPI scorer normalises every name, address and health centre it prepares, so there
//! are three paths giving the same result (tests pin it): ASCII text goes byte by byte; text made
//! only of ASCII, Latin-1 and Latin Extended-A characters (`Thiès`, `Aïssatou`; not `Ɓ`) folds
//! each character through a table built once from the Unicode path itself; anything else goes through
//! the Unicode path (lower case, NFKD, marks dropped). The table is per character, which is exact
//! because below U+0180 no character composes with its neighbours: NFKD only reorders combining
//! marks, and those are dropped.
use std::sync::OnceLock;
use unicode_normalization::char::is_combining_mark;
use unicode_normalization::UnicodeNormalization;

/// Honorifics dropped from the start of a name (compared after folding, trailing dot removed).
/// Keep every entry starting with m, d, p, s, r or h, or extend the filter in `is_honorific`; keep
/// the list sorted (it is binary-searched: most names start with one of those letters).
const HONORIFICS: &[&str] = &[
    "docteur",
    "doctor",
    "dom",
    "dona",
    "doutor",
    "doutora",
    "dr",
    "dre",
    "hon",
    "madame",
    "mademoiselle",
    "miss",
    "mister",
    "mlle",
    "mme",
    "mmes",
    "monsieur",
    "mr",
    "mrs",
    "ms",
    "mx",
    "pr",
    "prof",
    "professeur",
    "professor",
    "rev",
    "senhor",
    "senhora",
    "sir",
    "sr",
    "sra",
    "srta",
];

/// Folds a name to a comparable key: `N'Diaye` -> `ndiaye`, `Aïssatou` -> `aissatou`,
/// `Dr.  Ndèye-Fatou` -> `ndeye fatou`. See the module documentation for the rules.
///
/// One pass over the characters and one allocation (the result): the MPI scorer calls this for
/// every field of every record it prepares.
pub fn kadi_normalize(name: &str) -> String {
    let mut out = String::new();
    kadi_normalize_into(name, &mut out);
    out
}

/// [`kadi_normalize`] written into `out` (replacing its content), reusing its allocation: the MPI
/// scorer refills the same buffers record after record.
pub fn kadi_normalize_into(name: &str, out: &mut String) {
    let mut words = Words::with_buffer(std::mem::take(out), name.len());
    *out = if name.is_ascii() {
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
        match normalize_latin(name, words) {
            Ok(done) => done,
            Err(words) => normalize_chars(name, words),
        }
    };
}

/// Characters below this code point (ASCII, Latin-1, Latin Extended-A) fold through [`latin`].
const LATIN_END: u32 = 0x180;

/// What one character below [`LATIN_END`] becomes: the folds of its lower-cased NFKD form, combining
/// marks dropped (`É` -> `e`, `¼` -> `1`, space, `4`). `len` is `u8::MAX` for a character the
/// table cannot hold (never the case today; such text takes the Unicode path).
#[derive(Clone, Copy)]
struct LatinFold {
    len: u8,
    folds: [Fold; 3],
}

/// The per-character table of the Latin fast path, computed once from the Unicode path so the
/// two cannot drift apart (nor from the `unicode-normalization` version).
fn latin() -> &'static [LatinFold] {
    static TABLE: OnceLock<Vec<LatinFold>> = OnceLock::new();
    TABLE.get_or_init(|| {
        (0..LATIN_END)
            .map(|cp| {
                let mut entry = LatinFold {
                    len: 0,
                    folds: [Fold::Skip; 3],
                };
                let Some(c) = char::from_u32(cp) else {
                    entry.len = u8::MAX;
                    return entry;
                };
                for d in std::iter::once(c).flat_map(char::to_lowercase).nfkd() {
                    if is_combining_mark(d) {
                        continue;
                    }
                    match entry.folds.get_mut(usize::from(entry.len)) {
                        Some(slot) => {
                            *slot = fold(d);
                            entry.len += 1;
                        }
                        None => {
                            entry.len = u8::MAX;
                            break;
                        }
                    }
                }
                entry
            })
            .collect()
    })
}

/// [`kadi_normalize`] of text whose characters are all below [`LATIN_END`], through the table;
/// for any other text, `words` back, emptied.
fn normalize_latin(name: &str, mut words: Words) -> Result<String, Words> {
    let table = latin();
    for c in name.chars() {
        let Some(folds) = table
            .get(c as usize)
            .and_then(|entry| entry.folds.get(..usize::from(entry.len)))
        else {
            words.reset();
            return Err(words);
        };
        for &f in folds {
            words.feed(f);
        }
    }
    Ok(words.finish())
}

/// The general (Unicode) path of [`kadi_normalize`]; on ASCII it gives the same result as the
/// byte path, which a test checks.
fn normalize_chars(name: &str, mut words: Words) -> String {
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
    /// Words written into `out` (emptied first), which grows to `n` bytes if needed.
    fn with_buffer(mut out: String, n: usize) -> Words {
        out.clear();
        out.reserve(n);
        Words {
            out,
            current: None,
            last_leading: None,
            first_real: None,
        }
    }

    /// Back to no words at all, keeping the buffer.
    fn reset(&mut self) {
        self.out.clear();
        self.current = None;
        self.last_leading = None;
        self.first_real = None;
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
        Some(b'm' | b'd' | b'p' | b's' | b'r' | b'h') => HONORIFICS.binary_search(&word).is_ok(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::kadi_normalize;

    /// The Unicode path on its own.
    fn slow(name: &str) -> String {
        super::normalize_chars(name, super::Words::with_buffer(String::new(), 0))
    }

    /// The Latin table path on its own: `None` when the text has other characters.
    fn fast(name: &str) -> Option<String> {
        super::normalize_latin(name, super::Words::with_buffer(String::new(), 0)).ok()
    }

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
        assert!(
            super::HONORIFICS.windows(2).all(|w| w[0] < w[1]),
            "keep the list sorted"
        );
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
            assert_eq!(kadi_normalize(&name), slow(&name), "{name:?}");
        }
    }

    #[test]
    fn the_latin_table_agrees_with_the_unicode_path_on_every_character() {
        for cp in 0..super::LATIN_END {
            let Some(c) = char::from_u32(cp) else {
                continue;
            };
            for name in [format!("{c}"), format!("Ab{c}cD"), format!("{c}{c} {c}.x")] {
                let fast = fast(&name);
                assert_eq!(
                    fast.as_deref(),
                    Some(slow(&name).as_str()),
                    "U+{cp:04X} in {name:?}"
                );
                assert_eq!(kadi_normalize(&name), slow(&name));
            }
        }
    }

    #[test]
    fn the_latin_fast_path_agrees_with_the_unicode_path_on_random_text() {
        // Latin letters, accents, honorifics and punctuation, plus characters outside the table
        // (combining marks, Ɓ, Greek, fullwidth, CJK) that must send the text to the Unicode path.
        let pieces = [
            "a", "É", "è", "ï", "ç", "Ñ", "ß", "Æ", "œ", "Ø", "ł", "Đ", "ð", "þ", "ı", "İ", "ŉ",
            "ĳ", "ſ", "ŀ", "¼", "²", "ª", "µ", "´", "¨", "·", "\u{a0}", " ", "-", "'", "’", ".",
            "Dr", "M", "Mme", "x", "\u{301}", "Ɓ", "Ŋ", "Ａ", "Σ", "中", "9", "\t", "ǅ", "Ŀ", "ĸ",
        ];
        let mut x = 0x6a09_e667_u64;
        for _ in 0..50_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let name: String = (0..(x % 8))
                .map(|k| pieces[((x >> (8 + 6 * k)) % pieces.len() as u64) as usize])
                .collect();
            let slow = slow(&name);
            assert_eq!(kadi_normalize(&name), slow, "{name:?}");
            if name.chars().all(|c| (c as u32) < super::LATIN_END) {
                assert_eq!(fast(&name), Some(slow), "{name:?}");
            }
        }
    }

    #[test]
    fn empty_and_punctuation_only_names_give_empty_keys() {
        assert_eq!(kadi_normalize(""), "");
        assert_eq!(kadi_normalize(" '-. "), "");
    }
}
