//! Field comparisons: how well two names, dates, codes and addresses agree (a [`Level`]).
use super::*;

pub(super) fn name_level(a: &Name, b: &Name) -> Level {
    if a.compact() == b.compact() {
        return Level::Exact;
    }
    if a.variant != 0 && a.variant == b.variant {
        return Level::Close;
    }
    let parts = a.spaces;
    if parts > 0 && parts == b.spaces {
        return compound_level(a.norm(), b.norm());
    }
    // Most pairs of different names are far apart (every random pair training counts): their
    // Jaro-Winkler is bounded under the lowest threshold below without computing it.
    let jw = jaro_winkler_reaching(a.norm(), b.norm(), a.letters, b.letters, JW_LOWEST);
    if jw >= 0.92 || short_name_typo(a.compact(), b.compact()) || names_misread(a, b) {
        return Level::Close;
    }
    // The coarse code only sees the first letters: "idrissa abdoulaye" and "idrissa" share it,
    // but a compound name against one of its parts is the weak case below, not a phonetic match.
    let single = parts == 0 && b.spaces == 0;
    if (!a.phonetic().is_empty() && a.phonetic() == b.phonetic())
        || (single && a.code().len() >= 3 && a.code() == b.code() && jw >= 0.8)
    {
        return Level::Phonetic;
    }
    // Compound names: "mamadou lamine" and "lamine" may be one person, but the shared part is
    // common to many people, so this is only weak agreement.
    if a.spaces > 0 || b.spaces > 0 {
        let (short, long) = if a.norm().len() <= b.norm().len() {
            (a, b)
        } else {
            (b, a)
        };
        if short
            .norm()
            .split(' ')
            .all(|t| long.norm().split(' ').any(|u| u == t))
        {
            return Level::Similar;
        }
    }
    if jw >= 0.84 || swap_and_indel(a.compact(), b.compact()) {
        return Level::Similar;
    }
    Level::Disagree
}

/// The lowest Jaro-Winkler threshold [`name_level`] tests (phonetic codes agreeing need it).
const JW_LOWEST: f64 = 0.8;

/// The bytes of a plain ASCII string as bits `byte & 63` (`Name::letters`); 0 when it is not
/// plain ASCII (no bound then).
pub(super) fn letter_bits(s: &str) -> u64 {
    if s.bytes().all(|b| b.is_ascii() && b != b'\r') {
        s.bytes().fold(0, |m, b| m | 1 << (b & 63))
    } else {
        0
    }
}

/// An upper bound of `jaro_winkler(x, y)` from their [`letter_bits`], 1.0 when either string is
/// not plain ASCII (bits 0). Jaro is (m/|x| + m/|y| + (m - t)/m) / 3 over m matched letters and
/// t transpositions; every letter of `x` that matches is somewhere in `y`, so m is at most the letters of `x` found in
/// `y`'s set (and the other way round), and t >= 0. The Winkler boost grows with Jaro, so the
/// bound of Jaro with the real common prefix bounds the whole. About a tenth of the work of
/// computing it, and most pairs of two different names fall under [`JW_LOWEST`].
fn jaro_winkler_bound(x: &str, y: &str, x_bits: u64, y_bits: u64) -> f64 {
    if x_bits == 0 || y_bits == 0 {
        return 1.0;
    }
    let (x, y) = (x.as_bytes(), y.as_bytes());
    let found = |s: &[u8], set: u64| s.iter().filter(|&&c| set >> (c & 63) & 1 == 1).count();
    let m = found(x, y_bits).min(found(y, x_bits)) as f64;
    if m == 0.0 {
        return 0.0;
    }
    let jaro = (m / x.len() as f64 + m / y.len() as f64 + 1.0) / 3.0;
    if jaro <= 0.7 {
        return jaro;
    }
    let prefix = x.iter().zip(y).take(4).take_while(|(p, q)| p == q).count();
    jaro + prefix as f64 * 0.1 * (1.0 - jaro)
}

/// Jaro-Winkler of `x` and `y` when its bound ([`jaro_winkler_bound`]) may reach `at_least`,
/// else 0: the same answer to every test against `at_least` or more, without computing it for
/// the many pairs of names and address words that are far apart.
fn jaro_winkler_reaching(x: &str, y: &str, x_bits: u64, y_bits: u64, at_least: f64) -> f64 {
    if jaro_winkler_bound(x, y, x_bits, y_bits) < at_least - 1e-9 {
        0.0
    } else {
        jaro_winkler(x, y)
    }
}

/// One name read or heard wrong: the two spellings are one after folding together the letters a
/// form reader confuses ([`misread_step`]), or the spellings one sound is written with
/// ([`respelled_step`]), or both ("Sène" / "Sèrie", "Malick" / "Mollck", "Ba" / "Bo", "Gueye" /
/// "Gveie", "Souleymane" / "Suleymane"). Such a name is a slip, `close` like a typo: Jaro-Winkler
/// puts these at 0.7-0.9 and, on short names, under the similar band ("ba" / "bo" 0.67), so a
/// re-registration read by OCR lost its names' agreement and stayed a new identity
/// (`docs/mpi.md`, Misread and respelled names). Two names that differ by anything else stay
/// apart ("fall" / "sall", "diop" / "diouf"). ASCII only (names fold to it).
pub(super) fn misread(a: &str, b: &str) -> bool {
    misread_applies(a) && misread_applies(b) && folds_agree(a.as_bytes(), b.as_bytes(), [true; 3])
}

/// Names [`misread`] compares: ASCII (names fold to it) and at most `NAME_MAX` bytes.
fn misread_applies(name: &str) -> bool {
    name.len() <= NAME_MAX && name.is_ascii()
}

/// Whether `a` and `b` are one after one of [`misread`]'s three folds, trying only the folds
/// `try_fold` allows (misread, respelled, both).
fn folds_agree(a: &[u8], b: &[u8], try_fold: [bool; 3]) -> bool {
    // Folded as streams and compared letter by letter: two names that are not one slip apart
    // (nearly every pair a pass or training compares) differ within a letter or two, so this
    // stops there instead of folding both names three ways in full (training compares 100,000
    // random pairs; whole folds were 14% of a 5,000-record evaluation with `--train`).
    (try_fold[0] && folded(a, misread_step).eq(folded(b, misread_step)))
        || (try_fold[1] && folded(a, respelled_step).eq(folded(b, respelled_step)))
        // Both slips in one name: respelled, then misread.
        || (try_fold[2]
            && Folded::new(folded(a, respelled_step), misread_step)
                .eq(Folded::new(folded(b, respelled_step), misread_step)))
}

/// The hashes [`names_misread`] compares first: of `compact` folded by [`misread_step`], by
/// [`respelled_step`] and by both; `None` when [`misread`] would not compare it.
pub(super) fn fold_hashes(compact: &str) -> Option<[u16; 3]> {
    if !misread_applies(compact) {
        return None;
    }
    let c = compact.as_bytes();
    let hash = |letters: &mut dyn Iterator<Item = u8>| {
        let h = letters.fold(0x811c_9dc5u32, |h, b| {
            (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
        });
        (h ^ (h >> 16)) as u16
    };
    Some([
        hash(&mut folded(c, misread_step)),
        hash(&mut folded(c, respelled_step)),
        hash(&mut Folded::new(folded(c, respelled_step), misread_step)),
    ])
}

/// [`misread`] of two prepared names' compact forms: a fold whose hashes differ cannot be
/// equal, so only a fold with equal hashes is compared letter by letter.
fn names_misread(a: &Name, b: &Name) -> bool {
    if !(a.foldable && b.foldable) {
        return false;
    }
    let (fa, fb) = (a.folds, b.folds);
    let same_hash = [fa[0] == fb[0], fa[1] == fb[1], fa[2] == fb[2]];
    folds_agree(a.compact().as_bytes(), b.compact().as_bytes(), same_hash)
}

/// One step of a fold: the letter `c` (followed by `next`) becomes the returned letter, and
/// `next` is used up too when the flag is true (a two-letter spelling folded into one).
type Step = fn(u8, Option<u8>) -> (u8, bool);

/// A name folded letter by letter by [`misread_step`] or [`respelled_step`].
struct Folded<I: Iterator<Item = u8>> {
    letters: std::iter::Peekable<I>,
    step: Step,
}

impl<I: Iterator<Item = u8>> Folded<I> {
    fn new(letters: I, step: Step) -> Self {
        Folded {
            letters: letters.peekable(),
            step,
        }
    }
}

impl<I: Iterator<Item = u8>> Iterator for Folded<I> {
    type Item = u8;

    fn next(&mut self) -> Option<u8> {
        let c = self.letters.next()?;
        let (folded, two) = (self.step)(c, self.letters.peek().copied());
        if two {
            self.letters.next();
        }
        Some(folded)
    }
}

/// Folds, one step at a time, the letters a reader of handwritten or printed forms confuses into one: "rn" and "m",
/// "ri" and "n", "cl" and "d", "vv" and "w"; i, l, j and 1; b and h; u and v; c and e; a and o;
/// o and 0; s and 5.
fn misread_step(c: u8, next: Option<u8>) -> (u8, bool) {
    match (c, next) {
        (b'r', Some(b'n')) => (b'm', true),
        (b'r', Some(b'i')) => (b'n', true),
        (b'c', Some(b'l')) => (b'd', true),
        (b'v', Some(b'v')) => (b'w', true),
        (b'l' | b'1' | b'j', _) => (b'i', false),
        (b'b', _) => (b'h', false),
        (b'v', _) => (b'u', false),
        (b'c', _) => (b'e', false),
        (b'o' | b'0', _) => (b'a', false),
        (b'5', _) => (b's', false),
        (c, _) => (c, false),
    }
}

/// Folds, one step at a time, the spellings one sound is written with (a name heard and written down): "ou" and
/// "u", "sh" and "ch", "kh", "c" (not in "ch") and "k", "ph" and "f", "dj" and "j", "ss" and
/// "s", "y" and "i", "mb" and "m".
fn respelled_step(c: u8, next: Option<u8>) -> (u8, bool) {
    match (c, next) {
        (b'o', Some(b'u')) => (b'u', true),
        (b's', Some(b'h')) | (b'c', Some(b'h')) => (b'x', true),
        (b'k', Some(b'h')) => (b'k', true),
        (b'p', Some(b'h')) => (b'f', true),
        (b'd', Some(b'j')) => (b'j', true),
        (b's', Some(b's')) => (b's', true),
        (b'm', Some(b'b')) => (b'm', true),
        (b'c', _) => (b'k', false),
        (b'y', _) => (b'i', false),
        (c, _) => (c, false),
    }
}

/// `name` folded by `step`, as a stream.
fn folded(name: &[u8], step: Step) -> Folded<std::iter::Copied<std::slice::Iter<'_, u8>>> {
    Folded::new(name.iter().copied(), step)
}

/// Two slips in one name: two neighbouring letters swapped and one letter dropped or doubled
/// ("sagna" / "sgaana", "niang" / "nagn", "awa" / "aaaw"). Jaro-Winkler puts these at 0.75-0.83,
/// under the similar band (measured effect: `docs/mpi.md`). Only insertion, deletion and one
/// swap: a substituted letter is another family ("fall" / "sall"). ASCII only.
pub(super) fn swap_and_indel(a: &str, b: &str) -> bool {
    let (short, long) = if a.len() < b.len() { (a, b) } else { (b, a) };
    if long.len() != short.len() + 1
        || short.len() < 3
        || long.len() > NAME_MAX
        || !long.is_ascii()
        || !short.is_ascii()
    {
        return false;
    }
    let (s, l) = (short.as_bytes(), long.as_bytes());
    let mut dropped = [0u8; NAME_MAX];
    (0..l.len()).any(|i| {
        let n = l.len() - 1;
        dropped[..i].copy_from_slice(&l[..i]);
        dropped[i..n].copy_from_slice(&l[i + 1..]);
        adjacent_swap(&dropped[..n], s)
    })
}

/// "sow" / "swo", "sene" / "sne": two adjacent letters swapped, or one letter dropped, in a name
/// of at least three letters. Jaro-Winkler punishes both hard on short names (0.56 for sow/swo),
/// where they are the commonest typing slips. A substituted letter is not included: "fall" and
/// "sall", "ka" and "ba" are other families.
///
/// A letter dropped from a three-letter name ("sow" / "sw", "awa" / "aa") is the same slip and
/// was left out only because its remainder has two letters, the length of many real family
/// names ("ba", "ka", "sy", "lo"). A remainder that is itself one of [`COMMON_NAMES`] is such a
/// name ("bal" / "ba" stays other families); any other two letters ("sw", "aa") name no one and
/// are the slip.
pub(super) fn short_name_typo(a: &str, b: &str) -> bool {
    let (x, y) = (a.as_bytes(), b.as_bytes());
    match x.len().min(y.len()) {
        0..=1 => false,
        2 => {
            let short = if x.len() == 2 { a } else { b };
            one_indel(x, y) && !is_common_name(short)
        }
        _ => adjacent_swap(x, y) || one_indel(x, y),
    }
}

/// Two compound names with as many parts ("babacar ousmane" / "babacar souleymane"): compared
/// part by part, in order or reversed, the weakest part deciding. Jaro-Winkler over the whole text
/// would call those two close (a long shared prefix) although they name two brothers; one shared
/// part with another one different is only weak agreement.
pub(super) fn compound_level(a: &str, b: &str) -> Level {
    let part = |x: &str, y: &str| -> Level {
        if x == y {
            return Level::Exact;
        }
        let v = variant_group(x);
        if v != 0 && v == variant_group(y) {
            return Level::Close;
        }
        let jw = jaro_winkler(x, y);
        if jw >= 0.92 || misread(x, y) {
            Level::Close
        } else if x.len() >= 3 && kadi_phonetic(x) == kadi_phonetic(y) {
            Level::Phonetic
        } else if jw >= 0.84 {
            Level::Similar
        } else {
            Level::Disagree
        }
    };
    let worst = |pairs: &mut dyn Iterator<Item = (&str, &str)>| {
        let mut worst = Level::Exact;
        let mut any_agrees = false;
        for (x, y) in pairs {
            let l = part(x, y);
            any_agrees |= l >= Level::Close;
            worst = worst.min(l);
        }
        if worst == Level::Disagree && any_agrees {
            Level::Similar
        } else {
            worst
        }
    };
    let straight = worst(&mut a.split(' ').zip(b.split(' ')));
    let reversed = worst(&mut a.split(' ').zip(b.split(' ').rev()));
    straight.max(reversed)
}

pub(super) fn opt_level(a: Option<&Name>, b: Option<&Name>) -> Level {
    match (a, b) {
        (Some(a), Some(b)) => name_level(a, b),
        _ => Level::Missing,
    }
}

/// Which names [`compare_names`] compared with which.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum NamePairs {
    /// First with first, last with last.
    Straight,
    /// Crosswise: `a.first` with `b.last` in the first-name slot, `a.last` with `b.first` in the
    /// last-name slot.
    Swapped,
    /// One name agrees crosswise, the other two differ: the agreeing pair is weighed as the
    /// family name (`a.first` with `b.last` when true, else `a.last` with `b.first`), the other
    /// as the given names.
    FamilyCrosswise(bool),
}

/// (first level, last level, which names were compared): crosswise agreement counts as two
/// close names.
pub(super) fn compare_names(a: &PreparedRecord, b: &PreparedRecord) -> (Level, Level, NamePairs) {
    compare_names_by(|a_first, b_first| {
        let x = if a_first { &a.first } else { &a.last };
        let y = if b_first { &b.first } else { &b.last };
        opt_level(x.as_ref(), y.as_ref())
    })
}

/// [`compare_names`] with the level of two names given by `level(a_first, b_first)` (which of
/// `a`'s names, which of `b`'s): training remembers the levels of pairs of names it has seen.
pub(super) fn compare_names_by(
    mut level: impl FnMut(bool, bool) -> Level,
) -> (Level, Level, NamePairs) {
    let first = level(true, true);
    let last = level(false, false);
    if first >= Level::Close && last >= Level::Close {
        return (first, last, NamePairs::Straight);
    }
    let x1 = level(true, false);
    let x2 = level(false, true);
    if x1 >= Level::Close && x2 >= Level::Close {
        return (Level::Close, Level::Close, NamePairs::Swapped);
    }
    // Swapped and one of them also mistyped or replaced: the crosswise agreement still counts,
    // and so does the other crosswise pair's own level: "eliza nguyen" / "nguy en elixa" is a
    // swap with "eliza" / "elixa" similar, not disagreeing (as disagreeing, the pair looked like
    // twins, a replaced first name, and waited for a person).
    // When the other crosswise pair does not look like one name either (`disagree`), the one
    // agreeing is weighed as the family name and the two others as different given names: in
    // a household that is a family name written in the given-name box beside two given names
    // (siblings "Lô Bineta" / "Adama Lô"). Weighed the other way round, the different given
    // names counted as a family-name disagreement and neither the twins guard nor "first names
    // differ" saw them; such siblings linked.
    if first == Level::Disagree && last == Level::Disagree {
        if x1 >= Level::Close {
            if x2 == Level::Disagree {
                return (x2, Level::Close, NamePairs::FamilyCrosswise(true));
            }
            return (Level::Close, x2, NamePairs::Swapped);
        }
        if x2 >= Level::Close {
            if x1 == Level::Disagree {
                return (x1, Level::Close, NamePairs::FamilyCrosswise(false));
            }
            return (x1, Level::Close, NamePairs::Swapped);
        }
    }
    (first, last, NamePairs::Straight)
}

pub(super) fn compare_dob(a: Option<&Dob>, b: Option<&Dob>) -> Level {
    let (Some(a), Some(b)) = (a, b) else {
        return Level::Missing;
    };
    if a.digits == b.digits {
        return Level::Exact;
    }
    let (ya, yb) = (a.year(), b.year());
    if ya == yb && a.month() == b.day() && a.day() == b.month() {
        return Level::Close;
    }
    if a.digits[4..] == b.digits[4..] && ya.abs_diff(yb) == 1 {
        return Level::Close;
    }
    if one_typo(&a.digits, &b.digits) {
        return Level::Close;
    }
    if ya == yb {
        return Level::Similar;
    }
    Level::Disagree
}

/// One substituted character or two adjacent characters swapped (same length).
pub(super) fn one_typo(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && (first_differences(a, b).1 == 1 || adjacent_swap(a, b))
}

/// Two strings of one length that differ only by two neighbouring characters swapped.
pub(super) fn adjacent_swap(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    match first_differences(a, b) {
        ([i, j, _], 2) => j == i + 1 && a[i] == b[j] && a[j] == b[i],
        _ => false,
    }
}

/// The first (up to three) positions where two strings of one length differ, and how many of
/// them were found (three means "three or more"). No allocation: dates, phones and IDs of every
/// candidate pair go through here.
pub(super) fn first_differences(a: &[u8], b: &[u8]) -> ([usize; 3], usize) {
    let mut at = [0; 3];
    let mut n = 0;
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        if x != y {
            at[n] = i;
            n += 1;
            if n == 3 {
                break;
            }
        }
    }
    (at, n)
}

/// Exact, one typo (same length), or one insertion/deletion: close; else disagree.
pub(super) fn compare_codes(a: Option<&str>, b: Option<&str>) -> Level {
    let (Some(a), Some(b)) = (a, b) else {
        return Level::Missing;
    };
    if a == b {
        return Level::Exact;
    }
    let (x, y) = (a.as_bytes(), b.as_bytes());
    if one_typo(x, y) || one_indel(x, y) {
        return Level::Close;
    }
    Level::Disagree
}

pub(super) fn one_indel(a: &[u8], b: &[u8]) -> bool {
    let (s, l) = if a.len() < b.len() { (a, b) } else { (b, a) };
    if l.len() != s.len() + 1 {
        return false;
    }
    let p = s.iter().zip(l).take_while(|(x, y)| x == y).count();
    s[p..] == l[p + 1..]
}

pub(super) fn compare_plain(a: Option<&str>, b: Option<&str>) -> Level {
    match (a, b) {
        (Some(a), Some(b)) if a == b => Level::Exact,
        (Some(_), Some(_)) => Level::Disagree,
        _ => Level::Missing,
    }
}

/// Token-set Dice similarity with fuzzy token matches (typos in street or suburb names, split
/// words) mapped to levels.
pub(super) fn compare_address(a: &[String], b: &[String]) -> Level {
    if a.is_empty() || b.is_empty() {
        return Level::Missing;
    }
    if a == b {
        // What the token matching below would conclude (every token paired, Dice 1), without
        // its quadratic search: members of one household share the address word for word, and
        // on household-shaped data most candidate pairs are such pairs.
        return Level::Exact;
    }
    let mut used = [false; 32];
    let mut unmatched_a: [bool; 32] = [false; 32];
    let mut matched = 0.0;
    for (i, t) in a.iter().enumerate() {
        if let Some(j) = b.iter().enumerate().position(|(j, u)| !used[j] && u == t) {
            used[j] = true;
            matched += 1.0;
        } else {
            unmatched_a[i] = true;
        }
    }
    for (i, t) in a.iter().enumerate() {
        if !unmatched_a[i] {
            continue;
        }
        let digits = t.bytes().all(|c| c.is_ascii_digit());
        let mut best: Option<(usize, f64)> = None;
        for (j, u) in b.iter().enumerate() {
            if used[j] {
                continue;
            }
            let sim = if digits {
                let (x, y) = (t.as_bytes(), u.as_bytes());
                if x.len() >= 3 && adjacent_swap(x, y) {
                    // Two neighbouring digits swapped in a postcode or long house number is a
                    // typing slip, credited like a mistyped word; a substituted digit may be
                    // the house next door or the next postcode, so it keeps half.
                    0.9
                } else if one_typo(x, y) {
                    0.5
                } else {
                    0.0
                }
            } else if t.len() >= 3 && u.len() >= 3 {
                let jw = jaro_winkler_reaching(t, u, letter_bits(t), letter_bits(u), 0.88);
                if jw >= 0.88 {
                    jw
                } else if u.starts_with(t.as_str()) || t.starts_with(u.as_str()) {
                    0.5
                } else {
                    0.0
                }
            } else {
                0.0
            };
            if sim > 0.0 && best.is_none_or(|(_, s)| sim > s) {
                best = Some((j, sim));
            }
        }
        if let Some((j, s)) = best {
            used[j] = true;
            matched += s;
        }
    }
    let dice = 2.0 * matched / (a.len() + b.len()) as f64;
    if dice >= 0.99 {
        Level::Exact
    } else if dice >= 0.75 {
        Level::Close
    } else if same_numbers(a, b) && letters_dice(a, b) >= 0.85 {
        // Split or merged words ("new town" / "newntown", "launcestonrstreet") defeat a token
        // comparison; the letters of the whole address, spaces aside, still agree.
        Level::Close
    } else if dice >= 0.5 {
        Level::Similar
    } else {
        Level::Disagree
    }
}

/// True unless both addresses carry numbers (house number, postcode) and one of them differs
/// beyond a slip (one digit, two neighbouring digits swapped) from every number of the other:
/// the letters of "161 parcelles assainies" and "88 parcelles assainies" agree (a long quarter
/// name outweighs the digits), but they are two houses of one quarter, not a split or merged
/// word. A postcode typed one digit off ("2086" / "2085") is still a slip.
pub(super) fn same_numbers(a: &[String], b: &[String]) -> bool {
    // Iterated, not collected: nearly every pair of different addresses gets here (training's
    // random pairs: two vectors allocated a pair).
    fn numbers(t: &[String]) -> impl Iterator<Item = &[u8]> + Clone {
        t.iter()
            .map(|w| w.as_bytes())
            .filter(|w| w.iter().all(u8::is_ascii_digit))
    }
    let (x, y) = (numbers(a), numbers(b));
    let (mut few, many) = if x.clone().count() <= y.clone().count() {
        (x, y)
    } else {
        (y, x)
    };
    few.all(|n| {
        many.clone()
            .any(|m| n == m || one_typo(n, m) || adjacent_swap(n, m))
    })
}

/// True when two addresses carry the very same numbers (house numbers, postcodes), in any order.
pub(super) fn numbers_identical(a: &[String], b: &[String]) -> bool {
    fn numbers(t: &[String]) -> Vec<&str> {
        let mut v: Vec<&str> = t
            .iter()
            .map(String::as_str)
            .filter(|w| w.bytes().all(|c| c.is_ascii_digit()))
            .collect();
        v.sort_unstable();
        v
    }
    numbers(a) == numbers(b)
}

/// Dice coefficient of the character bigrams of two token lists joined without spaces. Two
/// addresses sharing only suburb, postcode and state stay near 0.6; a split or merged word in an
/// otherwise equal address stays above 0.9.
pub(super) fn letters_dice(a: &[String], b: &[String]) -> f64 {
    fn bigrams(t: &[String]) -> Vec<(char, char)> {
        let mut v = Vec::with_capacity(64);
        let mut prev: Option<char> = None;
        for c in t.iter().flat_map(|s| s.chars()) {
            if let Some(p) = prev {
                v.push((p, c));
            }
            prev = Some(c);
        }
        v.sort_unstable();
        v
    }
    let (x, y) = (bigrams(a), bigrams(b));
    if x.is_empty() || y.is_empty() {
        return 0.0;
    }
    let (mut i, mut j, mut common) = (0, 0, 0usize);
    while i < x.len() && j < y.len() {
        match x[i].cmp(&y[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                common += 1;
                i += 1;
                j += 1;
            }
        }
    }
    2.0 * common as f64 / (x.len() + y.len()) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fold as it was written before it streamed: whole names into buffers.
    fn fold_whole(name: &[u8], step: Step, out: &mut [u8; NAME_MAX]) -> usize {
        let mut n = 0;
        let mut i = 0;
        while i < name.len() && n < NAME_MAX {
            let (c, two) = step(name[i], name.get(i + 1).copied());
            out[n] = c;
            n += 1;
            i += if two { 2 } else { 1 };
        }
        n
    }

    fn misread_whole(a: &str, b: &str) -> bool {
        if a.len() > NAME_MAX || b.len() > NAME_MAX || !a.is_ascii() || !b.is_ascii() {
            return false;
        }
        let (a, b) = (a.as_bytes(), b.as_bytes());
        let (mut x, mut y) = ([0u8; NAME_MAX], [0u8; NAME_MAX]);
        let (mut x2, mut y2) = ([0u8; NAME_MAX], [0u8; NAME_MAX]);
        for step in [misread_step as Step, respelled_step] {
            let (n, m) = (fold_whole(a, step, &mut x), fold_whole(b, step, &mut y));
            if x[..n] == y[..m] {
                return true;
            }
        }
        let (n, m) = (
            fold_whole(a, respelled_step, &mut x),
            fold_whole(b, respelled_step, &mut y),
        );
        let (n, m) = (
            fold_whole(&x[..n], misread_step, &mut x2),
            fold_whole(&y[..m], misread_step, &mut y2),
        );
        x2[..n] == y2[..m]
    }

    /// Streaming the folds changes when `misread` stops, never what it answers: every pair
    /// of names built from the letters the folds touch (and a few others), up to five
    /// letters, answers as the whole-name fold did, and so do the documented examples.
    #[test]
    fn streamed_folds_answer_as_whole_name_folds() {
        let letters = b"rnicvlj1bhuoe0a5sykpdmgx";
        let mut names = vec![String::new()];
        let mut frontier = vec![String::new()];
        for _ in 0..3 {
            let mut next = Vec::new();
            for n in &frontier {
                for &c in letters {
                    next.push(format!("{n}{}", c as char));
                }
            }
            names.extend(next.iter().cloned());
            frontier = next;
        }
        // Longer names: each short one with a common ending.
        let short: Vec<String> = names.iter().take(700).cloned().collect();
        for n in &short {
            names.push(format!("{n}ou"));
            names.push(format!("{n}ch"));
        }
        let mut agree = 0;
        let mut checked = 0u64;
        for (i, a) in names.iter().enumerate().step_by(7) {
            for b in names.iter().skip(i % 5).step_by(11) {
                let whole = misread_whole(a, b);
                assert_eq!(misread(a, b), whole, "{a:?} / {b:?}");
                // Prepared names take the hashed way: the same answer.
                if let (Some(x), Some(y)) = (Name::new(a), Name::new(b)) {
                    if x.compact() == a && y.compact() == b {
                        assert_eq!(names_misread(&x, &y), whole, "{a:?} / {b:?}");
                    }
                }
                agree += whole as u32;
                checked += 1;
            }
        }
        assert!(checked > 500_000, "{checked}");
        assert!(
            agree > 1_000,
            "too few slips among the pairs to test: {agree}"
        );
        for (a, b, slip) in [
            ("sene", "serie", true),
            ("malick", "mollck", true),
            ("ba", "bo", true),
            ("gueye", "gveie", true),
            ("souleymane", "suleymane", true),
            ("fall", "sall", false),
            ("diop", "diouf", false),
        ] {
            assert_eq!(misread(a, b), slip, "{a} / {b}");
            assert_eq!(misread_whole(a, b), slip, "{a} / {b}");
        }
    }

    /// The bound [`name_level`] skips Jaro-Winkler with is never under the real value, on
    /// common names, their slips (a letter dropped, doubled, replaced, two swapped), compound and
    /// non-ASCII names; and it does skip: most pairs of two different names fall under it.
    #[test]
    fn jaro_winkler_bound_is_never_under_the_value() {
        let mut raw: Vec<String> = COMMON_NAMES.iter().map(|n| n.to_string()).collect();
        for n in COMMON_NAMES.iter().take(60) {
            let b = n.as_bytes();
            for i in 0..b.len() {
                let mut dropped = b.to_vec();
                dropped.remove(i);
                let mut doubled = b.to_vec();
                doubled.insert(i, b[i]);
                let mut replaced = b.to_vec();
                replaced[i] = b"aeioumnsk"[i % 9];
                raw.extend(
                    [dropped, doubled, replaced]
                        .into_iter()
                        .map(|v| String::from_utf8(v).expect("ascii")),
                );
                if i + 1 < b.len() {
                    let mut swapped = b.to_vec();
                    swapped.swap(i, i + 1);
                    raw.push(String::from_utf8(swapped).expect("ascii"));
                }
            }
        }
        raw.extend(
            [
                "mamadou lamine",
                "lamine mamadou",
                "ndeye fatou",
                "fatou",
                "aïssatou",
                "aissatou",
                "żaneta",
                "zaneta",
                "張偉",
                "jean-pierre",
                "o'neil",
                "a",
                "ab",
                "ba2",
            ]
            .map(String::from),
        );
        let names: Vec<Name> = raw.iter().filter_map(|r| Name::new(r)).collect();
        assert!(names.len() > 1_000, "{}", names.len());
        let (mut pairs, mut under) = (0u64, 0u64);
        for a in &names {
            for b in &names {
                let jw = jaro_winkler(a.norm(), b.norm());
                let bound = jaro_winkler_bound(a.norm(), b.norm(), a.letters, b.letters);
                assert!(
                    bound >= jw - 1e-12,
                    "{:?} / {:?}: bound {bound} under {jw}",
                    a.norm(),
                    b.norm()
                );
                pairs += 1;
                under += u64::from(bound < JW_LOWEST - 1e-9);
            }
        }
        assert!(under * 2 > pairs, "only {under} of {pairs} pairs bounded");
        // Address words: the bounded Jaro-Winkler is the real one wherever it can reach 0.88.
        let words: Vec<&str> = raw
            .iter()
            .map(String::as_str)
            .chain([
                "medina",
                "medine",
                "parcelles",
                "assainies",
                "grand",
                "yoff",
                "pikine",
                "guediawaye",
                "rue",
                "avenue",
                "cite",
                "keur",
                "massar",
                "137",
                "173",
                "dakar",
                "dakkar",
                "école",
            ])
            .collect();
        for t in &words {
            for u in &words {
                let got = jaro_winkler_reaching(t, u, letter_bits(t), letter_bits(u), 0.88);
                let jw = jaro_winkler(t, u);
                assert!(
                    got == jw || (got == 0.0 && jw < 0.88),
                    "{t:?} / {u:?}: {got} for {jw}"
                );
            }
        }
    }
}
