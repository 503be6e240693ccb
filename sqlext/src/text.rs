//! String metrics on user-perceived characters: Jaro, Jaro-Winkler, Levenshtein and (true,
//! unrestricted) Damerau-Levenshtein.
//!
//! A "character" here is an extended grapheme cluster (Unicode UAX #29), never a byte: `é` counts
//! as one whether it is written precomposed or as `e` + combining accent, and `😀` counts as one.
//! This is also what the independent reference (Python `jellyfish` 1.3.0, see
//! `../shared/mpi-data/string-metric-vectors.csv`) does, and a test holds us to its values.
//!
//! Jaro-Winkler is the textbook one: prefix scale 0.1, common prefix of at most 4 characters,
//! boost only when Jaro > 0.7, a match window of `max(len) / 2 - 1` on both sides (so the
//! function is symmetric), and no long-string adjustment. Both-empty strings score 0.0 (as
//! jellyfish does: nothing matched).
//!
//! Speed: when both strings are ASCII (and hold no CR, which pairs with LF into one grapheme) the
//! metrics run on bytes and allocate nothing: for up to 64 characters Jaro uses bit masks and
//! Levenshtein Myers' bit-parallel algorithm, with per-thread tables instead of per-call ones.
//! Otherwise the graphemes are interned to small integers once and generic code runs on those.
//!
//! Cost: Jaro and Levenshtein take O(n·m) time and O(n + m) memory; Damerau-Levenshtein takes
//! O(n·m) time and memory. The functions here are total (no length limit); the SQL layer refuses
//! inputs longer than [`MAX_METRIC_CHARS`] / [`MAX_DAMERAU_CHARS`] so a query cannot hang.
use std::cell::RefCell;
use std::collections::HashMap;
use unicode_segmentation::UnicodeSegmentation;

/// Longest input (in characters) the SQL functions `jaro`, `jaro_winkler` and `levenshtein`
/// accept: 10,000 × 10,000 cells is about 0.1 s, with O(n) memory.
pub const MAX_METRIC_CHARS: usize = 10_000;
/// Longest input (in characters) SQL `damerau_levenshtein` accepts: its full matrix of
/// 2,000 × 2,000 cells is 16 MB.
pub const MAX_DAMERAU_CHARS: usize = 2_000;

/// Longest strings (per side) served from stack buffers.
const STACK: usize = 64;

/// Number of user-perceived characters (grapheme clusters) in `s`.
pub fn char_count(s: &str) -> usize {
    if is_plain_ascii(s) {
        s.len()
    } else {
        s.graphemes(true).count()
    }
}

/// True when every byte of `s` is its own grapheme: ASCII without CR (CR LF is one grapheme).
#[inline]
fn is_plain_ascii(s: &str) -> bool {
    is_plain_ascii_bytes(s.as_bytes())
}

/// Both strings as sequences of small integers, one per grapheme, equal graphemes equal ids.
fn intern(a: &str, b: &str) -> (Vec<u32>, Vec<u32>, usize) {
    let mut ids: HashMap<&str, u32> = HashMap::new();
    let va: Vec<u32> = a.graphemes(true).map(|g| intern_one(g, &mut ids)).collect();
    let vb: Vec<u32> = b.graphemes(true).map(|g| intern_one(g, &mut ids)).collect();
    let alphabet = ids.len();
    (va, vb, alphabet)
}

fn intern_one<'a>(g: &'a str, ids: &mut HashMap<&'a str, u32>) -> u32 {
    let next = ids.len() as u32;
    *ids.entry(g).or_insert(next)
}

/// True when every byte is its own character: ASCII without CR. For such strings the `*_ascii`
/// functions below give exactly the results of their `&str` counterparts, without UTF-8 work.
#[inline]
pub fn is_plain_ascii_bytes(s: &[u8]) -> bool {
    // Eight bytes at a time: no high bit set, and no byte equal to CR (a zero byte in w ^ CRs).
    const HIGH: u64 = 0x8080_8080_8080_8080;
    const ONES: u64 = 0x0101_0101_0101_0101;
    const CRS: u64 = 0x0d0d_0d0d_0d0d_0d0d;
    let mut chunks = s.chunks_exact(8);
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let w = u64::from_le_bytes(word);
        let x = w ^ CRS;
        if w & HIGH != 0 || (x.wrapping_sub(ONES) & !x & HIGH) != 0 {
            return false;
        }
    }
    chunks.remainder().iter().all(|&b| b < 0x80 && b != b'\r')
}

/// [`jaro`] for strings that satisfy [`is_plain_ascii_bytes`] (other bytes count one each).
pub fn jaro_ascii(a: &[u8], b: &[u8]) -> f64 {
    u8::jaro(a, b)
}

/// [`jaro_winkler`] for strings that satisfy [`is_plain_ascii_bytes`].
pub fn jaro_winkler_ascii(a: &[u8], b: &[u8]) -> f64 {
    winkler(a, b)
}

/// [`levenshtein`] for strings that satisfy [`is_plain_ascii_bytes`].
pub fn levenshtein_ascii(a: &[u8], b: &[u8]) -> usize {
    let (a, b) = trim_common(a, b);
    let (long, short) = if a.len() < b.len() { (b, a) } else { (a, b) };
    if short.is_empty() {
        long.len()
    } else if short.len() <= 64 {
        levenshtein_bits(long, short)
    } else {
        levenshtein_seq(long, short)
    }
}

/// [`damerau_levenshtein`] for strings that satisfy [`is_plain_ascii_bytes`].
pub fn damerau_levenshtein_ascii(a: &[u8], b: &[u8]) -> usize {
    let mut last_row = [0usize; 128];
    damerau_seq(a, b, |c| usize::from(*c & 0x7f), &mut last_row)
}

/// Jaro similarity in [0, 1]; 0.0 when either string is empty.
pub fn jaro(a: &str, b: &str) -> f64 {
    if is_plain_ascii(a) && is_plain_ascii(b) {
        u8::jaro(a.as_bytes(), b.as_bytes())
    } else {
        let (va, vb, _) = intern(a, b);
        jaro_seq(&va, &vb).0
    }
}

/// Jaro-Winkler similarity in [0, 1] (prefix scale 0.1, prefix up to 4, boost when Jaro > 0.7).
pub fn jaro_winkler(a: &str, b: &str) -> f64 {
    if is_plain_ascii(a) && is_plain_ascii(b) {
        winkler(a.as_bytes(), b.as_bytes())
    } else {
        let (va, vb, _) = intern(a, b);
        winkler(&va, &vb)
    }
}

fn winkler<T: Copy + Eq + JaroFast>(a: &[T], b: &[T]) -> f64 {
    let mut weight = T::jaro(a, b);
    if weight > 0.7 {
        let limit = a.len().min(b.len()).min(4);
        let mut prefix = 0;
        while prefix < limit && a[prefix] == b[prefix] {
            prefix += 1;
        }
        if prefix > 0 {
            weight += prefix as f64 * 0.1 * (1.0 - weight);
        }
    }
    weight
}

/// Picks the fastest Jaro for a sequence type: bitmasks for short ASCII, the general loop else.
trait JaroFast: Sized {
    fn jaro(a: &[Self], b: &[Self]) -> f64;
}

impl JaroFast for u8 {
    fn jaro(a: &[u8], b: &[u8]) -> f64 {
        if a.len() <= 64 && b.len() <= 64 {
            jaro_bits(a, b)
        } else {
            jaro_seq(a, b).0
        }
    }
}

impl JaroFast for u32 {
    fn jaro(a: &[u32], b: &[u32]) -> f64 {
        jaro_seq(a, b).0
    }
}

thread_local! {
    /// Per-character bit masks of the shorter string, for the bit-parallel paths. Kept per thread
    /// and cleared entry by entry after each call, so no call pays for zeroing 1 KB.
    static PEQ: RefCell<[u64; 128]> = const { RefCell::new([0u64; 128]) };
    /// The Damerau-Levenshtein table, reused across calls on this thread.
    static DAMERAU_TABLE: RefCell<Vec<usize>> = const { RefCell::new(Vec::new()) };
}

/// Runs `f` with the positions of each byte of `pattern` set in a zeroed-elsewhere table.
fn with_peq<R>(pattern: &[u8], f: impl FnOnce(&[u64; 128]) -> R) -> R {
    PEQ.with(|cell| match cell.try_borrow_mut() {
        Ok(mut peq) => {
            for (j, &c) in pattern.iter().enumerate() {
                peq[usize::from(c & 0x7f)] |= 1 << j;
            }
            let result = f(&peq);
            for &c in pattern {
                peq[usize::from(c & 0x7f)] = 0;
            }
            result
        }
        // Unreachable (no re-entrancy), but a fresh table is always correct.
        Err(_) => {
            let mut peq = [0u64; 128];
            for (j, &c) in pattern.iter().enumerate() {
                peq[usize::from(c & 0x7f)] |= 1 << j;
            }
            f(&peq)
        }
    })
}

/// Jaro for ASCII strings of at most 64 bytes: the "first unmatched equal character in the
/// window" of the textbook loop is the lowest set bit of (positions of that character in `b`)
/// AND (window) AND NOT (already matched), so each character costs a few word operations.
fn jaro_bits(a: &[u8], b: &[u8]) -> f64 {
    if a.is_empty() || b.is_empty() {
        return 0.0;
    }
    with_peq(b, |peq| jaro_bits_with(a, b, peq))
}

fn jaro_bits_with(a: &[u8], b: &[u8], peq: &[u64; 128]) -> f64 {
    let window = (a.len().max(b.len()) / 2).saturating_sub(1);
    // The window of position i is `span` (2·window+1 bits) centred on bit i; bits beyond b's
    // length never match because `peq` has none there. window <= 31, so span fits a word.
    let span = (1u64 << (2 * window + 1)) - 1;
    let (mut a_flags, mut b_flags) = (0u64, 0u64);
    for (i, &c) in a.iter().enumerate() {
        let in_window = if i >= window {
            span << (i - window)
        } else {
            span >> (window - i)
        };
        let candidates = peq[usize::from(c & 0x7f)] & in_window & !b_flags;
        if candidates != 0 {
            b_flags |= candidates & candidates.wrapping_neg();
            a_flags |= 1 << i;
        }
    }
    let matches = a_flags.count_ones() as usize;
    if matches == 0 {
        return 0.0;
    }
    let mut half_transpositions = 0usize;
    let (mut af, mut bf) = (a_flags, b_flags);
    while af != 0 {
        let (i, j) = (af.trailing_zeros() as usize, bf.trailing_zeros() as usize);
        if a[i] != b[j] {
            half_transpositions += 1;
        }
        af &= af - 1;
        bf &= bf - 1;
    }
    let t = (half_transpositions / 2) as f64;
    let m = matches as f64;
    (m / a.len() as f64 + m / b.len() as f64 + (m - t) / m) / 3.0
}

/// Jaro on two sequences; also returns the number of matches. The arithmetic is written in the
/// reference's order so results agree to the last bit.
fn jaro_seq<T: Copy + Eq>(a: &[T], b: &[T]) -> (f64, usize) {
    if a.is_empty() || b.is_empty() {
        return (0.0, 0);
    }
    let (mut a_stack, mut b_stack) = ([false; STACK], [false; STACK]);
    let (mut a_heap, mut b_heap) = (Vec::new(), Vec::new());
    let a_flags: &mut [bool] = if a.len() <= STACK {
        &mut a_stack[..a.len()]
    } else {
        a_heap.resize(a.len(), false);
        &mut a_heap
    };
    let b_flags: &mut [bool] = if b.len() <= STACK {
        &mut b_stack[..b.len()]
    } else {
        b_heap.resize(b.len(), false);
        &mut b_heap
    };
    let window = (a.len().max(b.len()) / 2).saturating_sub(1);
    let mut matches = 0usize;
    for (i, ca) in a.iter().enumerate() {
        let lo = i.saturating_sub(window);
        let hi = (i + window).min(b.len() - 1);
        for j in lo..=hi {
            if !b_flags[j] && b[j] == *ca {
                a_flags[i] = true;
                b_flags[j] = true;
                matches += 1;
                break;
            }
        }
    }
    if matches == 0 {
        return (0.0, 0);
    }
    let mut half_transpositions = 0usize;
    let mut k = 0usize;
    for (i, ca) in a.iter().enumerate() {
        if a_flags[i] {
            while !b_flags[k] {
                k += 1;
            }
            if *ca != b[k] {
                half_transpositions += 1;
            }
            k += 1;
        }
    }
    let t = (half_transpositions / 2) as f64;
    let m = matches as f64;
    (
        (m / a.len() as f64 + m / b.len() as f64 + (m - t) / m) / 3.0,
        matches,
    )
}

/// Levenshtein edit distance in characters (insert, delete, substitute; each costs 1).
pub fn levenshtein(a: &str, b: &str) -> usize {
    if a == b {
        return 0;
    }
    if is_plain_ascii(a) && is_plain_ascii(b) {
        levenshtein_ascii(a.as_bytes(), b.as_bytes())
    } else {
        let (va, vb, _) = intern(a, b);
        levenshtein_seq(&va, &vb)
    }
}

/// Strips the common prefix and suffix, which never change an edit distance.
fn trim_common<'x, T: Eq>(mut a: &'x [T], mut b: &'x [T]) -> (&'x [T], &'x [T]) {
    let p = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    a = &a[p..];
    b = &b[p..];
    let s = a
        .iter()
        .rev()
        .zip(b.iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    (&a[..a.len() - s], &b[..b.len() - s])
}

/// Levenshtein by Myers' bit-parallel algorithm (Hyyrö's formulation for whole strings): one
/// machine word holds a DP column for a `short` of up to 64 ASCII bytes, so each byte of `long`
/// costs a dozen word operations instead of `short.len()` cell updates.
fn levenshtein_bits(long: &[u8], short: &[u8]) -> usize {
    with_peq(short, |peq| levenshtein_bits_with(long, short, peq))
}

fn levenshtein_bits_with(long: &[u8], short: &[u8], peq: &[u64; 128]) -> usize {
    let (mut vp, mut vn) = (!0u64, 0u64);
    let mut distance = short.len();
    let last = 1u64 << (short.len() - 1);
    for &c in long {
        let pm = peq[usize::from(c & 0x7f)];
        let d0 = (((pm & vp).wrapping_add(vp)) ^ vp) | pm | vn;
        let mut hp = vn | !(d0 | vp);
        let mut hn = d0 & vp;
        if hp & last != 0 {
            distance += 1;
        }
        if hn & last != 0 {
            distance -= 1;
        }
        hp = (hp << 1) | 1;
        hn <<= 1;
        vp = hn | !(d0 | hp);
        vn = hp & d0;
    }
    distance
}

fn levenshtein_seq<T: Copy + Eq>(a: &[T], b: &[T]) -> usize {
    let (a, b) = trim_common(a, b);
    // The row runs over the shorter string: memory min(n, m) + 1.
    let (a, b) = if a.len() < b.len() { (b, a) } else { (a, b) };
    if b.is_empty() {
        return a.len();
    }
    let mut stack = [0usize; STACK + 1];
    let mut heap = Vec::new();
    let row: &mut [usize] = if b.len() <= STACK {
        &mut stack[..=b.len()]
    } else {
        heap.resize(b.len() + 1, 0);
        &mut heap
    };
    for (j, cell) in row.iter_mut().enumerate() {
        *cell = j;
    }
    for (i, ca) in a.iter().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            let substitute = diagonal + usize::from(ca != cb);
            row[j + 1] = substitute.min(above + 1).min(row[j] + 1);
            diagonal = above;
        }
    }
    row[b.len()]
}

/// True Damerau-Levenshtein distance in characters: insertions, deletions, substitutions and
/// transpositions of adjacent characters, where a transposed pair may be edited again
/// (`ca` -> `abc` is 2; the restricted "optimal string alignment" variant says 3).
pub fn damerau_levenshtein(a: &str, b: &str) -> usize {
    if a == b {
        return 0;
    }
    if is_plain_ascii(a) && is_plain_ascii(b) {
        damerau_levenshtein_ascii(a.as_bytes(), b.as_bytes())
    } else {
        let (va, vb, alphabet) = intern(a, b);
        let mut last_row = vec![0usize; alphabet];
        damerau_seq(&va, &vb, |c| *c as usize, &mut last_row)
    }
}

/// Lowrance-Wagner: a (n+2)×(m+2) matrix and, per character, the last row it was seen in.
fn damerau_seq<T: Eq>(
    a: &[T],
    b: &[T],
    index: impl Fn(&T) -> usize,
    last_row: &mut [usize],
) -> usize {
    // A common prefix or suffix never takes part in an optimal edit script (as for Levenshtein;
    // rapidfuzz relies on the same fact), and typo pairs share most of their letters.
    let (a, b) = trim_common(a, b);
    let (n, m) = (a.len(), b.len());
    if n == 0 || m == 0 {
        return n + m;
    }
    let cells = (n + 2) * (m + 2);
    DAMERAU_TABLE.with(|cell| match cell.try_borrow_mut() {
        Ok(mut table) => {
            if table.len() < cells {
                table.resize(cells, 0);
            }
            let d = &mut table[..cells];
            let distance = damerau_fill(a, b, &index, last_row, d);
            // Give back memory a huge call took, keep a small table warm.
            if table.len() > 1 << 16 {
                *table = Vec::new();
            }
            distance
        }
        Err(_) => damerau_fill(a, b, &index, last_row, &mut vec![0; cells]),
    })
}

/// Fills the Lowrance-Wagner table `d` ((n+2)×(m+2), any prior content) and returns the distance.
fn damerau_fill<T: Eq>(
    a: &[T],
    b: &[T],
    index: &impl Fn(&T) -> usize,
    last_row: &mut [usize],
    d: &mut [usize],
) -> usize {
    let (n, m) = (a.len(), b.len());
    let width = m + 2;
    let infinite = n + m;
    d[0] = infinite;
    for i in 0..=n {
        d[(i + 1) * width] = infinite;
        d[(i + 1) * width + 1] = i;
    }
    for j in 0..=m {
        d[j + 1] = infinite;
        d[width + j + 1] = j;
    }
    for i in 1..=n {
        let mut last_match_col = 0usize;
        for j in 1..=m {
            // `last_row` only ever holds indices already written, so it stays in bounds.
            let i1 = last_row.get(index(&b[j - 1])).copied().unwrap_or(0);
            let j1 = last_match_col;
            let cost = if a[i - 1] == b[j - 1] {
                last_match_col = j;
                0
            } else {
                1
            };
            let substitute = d[i * width + j] + cost;
            let insert = d[(i + 1) * width + j] + 1;
            let delete = d[i * width + j + 1] + 1;
            let transpose = d[i1 * width + j1] + (i - i1 - 1) + 1 + (j - j1 - 1);
            d[(i + 1) * width + j + 1] = substitute.min(insert).min(delete).min(transpose);
        }
        if let Some(slot) = last_row.get_mut(index(&a[i - 1])) {
            *slot = i;
        }
    }
    d[(n + 1) * width + m + 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn textbook_pairs_score_as_published() {
        assert!((jaro_winkler("MARTHA", "MARHTA") - 0.9611111111111111).abs() < 1e-12);
        assert!((jaro("DIXON", "DICKSONX") - 0.7666666666666666).abs() < 1e-12);
        assert_eq!(levenshtein("kitten", "sitting"), 3);
        assert_eq!(damerau_levenshtein("ca", "abc"), 2);
    }

    #[test]
    fn precomposed_and_decomposed_accents_count_as_one_character() {
        assert_eq!(levenshtein("é", "e\u{301}"), 1);
        assert_eq!(char_count("Se\u{300}ne"), 4);
        assert_eq!(char_count("a\r\nb"), 3);
    }

    #[test]
    fn bit_parallel_levenshtein_agrees_with_the_table_on_random_ascii() {
        let mut x = 0x1234_5678_u64;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for _ in 0..20_000 {
            let mut word = |n: u64| -> Vec<u8> {
                (0..next() % n)
                    .map(|_| b"abcd \x7f"[(next() % 6) as usize])
                    .collect()
            };
            let (a, b) = (word(80), word(70));
            let (sa, sb) = (
                String::from_utf8_lossy(&a).into_owned(),
                String::from_utf8_lossy(&b).into_owned(),
            );
            assert_eq!(
                levenshtein(&sa, &sb),
                levenshtein_seq(&a, &b),
                "{sa:?} {sb:?}"
            );
        }
    }

    #[test]
    fn bitmask_jaro_agrees_with_the_textbook_loop_on_random_ascii() {
        let mut x = 0x9876_5431_u64;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for _ in 0..20_000 {
            let mut word = |n: u64| -> Vec<u8> {
                (0..next() % n)
                    .map(|_| b"abcab "[(next() % 6) as usize])
                    .collect()
            };
            let (a, b) = (word(65), word(65));
            if a.len() <= 64 && b.len() <= 64 {
                assert_eq!(jaro_bits(&a, &b), jaro_seq(&a, &b).0, "{a:?} {b:?}");
            }
        }
    }

    #[test]
    fn damerau_with_common_affixes_trimmed_agrees_with_the_full_table() {
        let mut x = 0x5555_1234_u64;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for _ in 0..20_000 {
            let mut word = |n: u64| -> Vec<u8> {
                (0..next() % n)
                    .map(|_| b"abcab"[(next() % 5) as usize])
                    .collect()
            };
            let (a, b) = (word(12), word(12));
            let mut last_row = [0usize; 128];
            let mut full = vec![0usize; (a.len() + 2) * (b.len() + 2)];
            let want = if a.is_empty() || b.is_empty() {
                a.len() + b.len()
            } else {
                damerau_fill(&a, &b, &|c: &u8| *c as usize, &mut last_row, &mut full)
            };
            let mut last_row = [0usize; 128];
            assert_eq!(
                damerau_seq(&a, &b, |c| *c as usize, &mut last_row),
                want,
                "{a:?} {b:?}"
            );
        }
    }

    #[test]
    fn plain_ascii_detection_agrees_with_a_byte_by_byte_check() {
        for s in [
            "",
            "a",
            "abcdefgh",
            "abcdefghi",
            "abcdefg\r",
            "abcdefgh\r",
            "\rbcdefghijklmnop",
            "é",
            "abcdefghé",
            "\x0c\x0e\x0d",
        ] {
            let want = s.bytes().all(|b| b < 0x80 && b != b'\r');
            assert_eq!(is_plain_ascii_bytes(s.as_bytes()), want, "{s:?}");
        }
        for b in 0..=255u8 {
            let mut v = vec![b'a'; 16];
            v[9] = b;
            assert_eq!(is_plain_ascii_bytes(&v), b < 0x80 && b != b'\r', "byte {b}");
        }
    }

    #[test]
    fn jaro_winkler_is_symmetric_on_long_first_strings() {
        assert_eq!(
            jaro_winkler("DIXON", "DICKSONX"),
            jaro_winkler("DICKSONX", "DIXON")
        );
    }

    #[test]
    fn long_strings_use_the_heap_paths_and_agree_with_short_logic() {
        let a = "ab".repeat(100);
        let b = "ba".repeat(100);
        assert_eq!(levenshtein(&a, &b), 2);
        assert_eq!(damerau_levenshtein(&a, &b), 2);
        assert!((jaro(&a, &b) - 2.5 / 3.0).abs() < 1e-12);
    }
}
