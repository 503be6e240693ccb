//! Phonetic codes. `soundex`, `metaphone` and `nysiis` reproduce the Python `jellyfish` 1.3.0
//! codes exactly, quirks included (they work on the raw string: `soundex("Łukasz")` is `Ł220`,
//! `nysiis` keeps accented letters), because analysts compare them with codes computed elsewhere.
//! `kadi_phonetic` is kadi's own key, tuned for West African and French spellings of names; it
//! normalises first (see [`crate::normalize`]) and is documented rule by rule below.
use crate::normalize::kadi_normalize;
use std::cell::RefCell;
use unicode_normalization::UnicodeNormalization;
use unicode_segmentation::UnicodeSegmentation;

/// American Soundex (letter + 3 digits) of `s`; `""` for `""`. Upper-cased and NFKD-decomposed
/// first; the first character is kept as is, whatever script it is in.
pub fn soundex(s: &str) -> String {
    if s.is_ascii() {
        // Same rules without the Unicode pipeline: upper-casing and NFKD leave ASCII as is.
        return soundex_ascii(s.as_bytes())
            .map(|code| code.iter().map(|&b| char::from(b)).collect())
            .unwrap_or_default();
    }
    soundex_chars(s.to_uppercase().nfkd())
}

/// [`soundex`] of an ASCII string without allocating: `None` for `""`, else the four bytes.
pub fn soundex_ascii(s: &[u8]) -> Option<[u8; 4]> {
    let (&first, rest) = s.split_first()?;
    let code = |c: u8| match c.to_ascii_uppercase() {
        b'B' | b'F' | b'P' | b'V' => b'1',
        b'C' | b'G' | b'J' | b'K' | b'Q' | b'S' | b'X' | b'Z' => b'2',
        b'D' | b'T' => b'3',
        b'L' => b'4',
        b'M' | b'N' => b'5',
        b'R' => b'6',
        _ => 0,
    };
    let mut out = [first.to_ascii_uppercase(), b'0', b'0', b'0'];
    let mut filled = 1;
    let mut last = code(first);
    for &c in rest {
        match code(c) {
            0 if !matches!(c, b'H' | b'h' | b'W' | b'w') => last = 0,
            0 => {}
            d => {
                if d != last {
                    out[filled] = d;
                    filled += 1;
                    if filled == 4 {
                        break;
                    }
                }
                last = d;
            }
        }
    }
    Some(out)
}

fn soundex_chars(mut chars: impl Iterator<Item = char>) -> String {
    let Some(first) = chars.next() else {
        return String::new();
    };
    let code = |c: char| match c {
        'B' | 'F' | 'P' | 'V' => Some('1'),
        'C' | 'G' | 'J' | 'K' | 'Q' | 'S' | 'X' | 'Z' => Some('2'),
        'D' | 'T' => Some('3'),
        'L' => Some('4'),
        'M' | 'N' => Some('5'),
        'R' => Some('6'),
        _ => None,
    };
    let mut out = String::with_capacity(8);
    out.push(first);
    let mut digits = 0;
    let mut last = code(first);
    for c in chars {
        match code(c) {
            Some(d) => {
                if Some(d) != last {
                    out.push(d);
                    digits += 1;
                    if digits == 3 {
                        break;
                    }
                }
                last = Some(d);
            }
            // H and W do not separate two equal codes; vowels and anything else do.
            None if c != 'H' && c != 'W' => last = None,
            None => {}
        }
    }
    for _ in digits..3 {
        out.push('0');
    }
    out
}

fn is_vowel(c: char) -> bool {
    matches!(c, 'A' | 'E' | 'I' | 'O' | 'U')
}

fn is_iey(c: char) -> bool {
    matches!(c, 'I' | 'E' | 'Y')
}

/// Metaphone (Lawrence Philips' original, as jellyfish implements it) of `s`; words stay
/// separated by one space; letters outside A-Z (after NFKD) are skipped.
pub fn metaphone(s: &str) -> String {
    let upper = s.to_uppercase();
    let mut v: Vec<char> = upper.nfkd().collect();
    if ["KN", "GN", "PN", "WR", "AE"]
        .iter()
        .any(|p| upper.starts_with(p))
        && !v.is_empty()
    {
        v.remove(0);
    }
    let at = |i: usize| v.get(i).copied().unwrap_or('*');
    let mut out = String::with_capacity(v.len());
    let mut i = 0;
    while i < v.len() {
        let c = v[i];
        let next = at(i + 1);
        let after = at(i + 2);
        let prev = if i == 0 { None } else { Some(v[i - 1]) };
        if c == next && c != 'C' {
            i += 1;
            continue;
        }
        i += 1 + metaphone_step(c, prev, next, after, &mut out);
    }
    out
}

/// Appends the code of letter `c` (between `prev` and the two letters after it, `*` past the
/// end) to `out`; returns how many of the following letters it consumed too.
fn metaphone_step(c: char, prev: Option<char>, next: char, after: char, out: &mut String) -> usize {
    let mut skip = 0;
    match c {
        'A' | 'E' | 'I' | 'O' | 'U' if prev.is_none() || prev == Some(' ') => out.push(c),
        'B' if prev != Some('M') || next != '*' => out.push('B'),
        'C' => {
            if (next == 'I' && after == 'A') || next == 'H' {
                skip = 1;
                out.push('X');
            } else if is_iey(next) {
                skip = 1;
                out.push('S');
            } else {
                out.push('K');
            }
        }
        'D' => {
            if next == 'G' && is_iey(after) {
                skip = 2;
                out.push('J');
            } else {
                out.push('T');
            }
        }
        'F' | 'J' | 'L' | 'M' | 'N' | 'R' => out.push(c),
        'G' => {
            if is_iey(next) {
                out.push('J');
            } else if (next == 'H' && after != '*' && !is_vowel(after))
                || (next == 'N' && after == '*')
            {
                skip = 1;
            } else {
                out.push('K');
            }
        }
        'H' if prev.is_none() || is_vowel(next) || !prev.is_some_and(is_vowel) => out.push('H'),
        'K' if prev != Some('C') => out.push('K'),
        'P' => {
            if next == 'H' {
                skip = 1;
                out.push('F');
            } else {
                out.push('P');
            }
        }
        'Q' => out.push('K'),
        'S' => {
            if next == 'H' {
                skip = 1;
                out.push('X');
            } else if next == 'I' && (after == 'O' || after == 'A') {
                skip = 2;
                out.push('X');
            } else {
                out.push('S');
            }
        }
        'T' => {
            if next == 'I' && (after == 'O' || after == 'A') {
                out.push('X');
            } else if next == 'H' {
                skip = 1;
                out.push('0');
            } else if next != 'C' || after != 'H' {
                out.push('T');
            }
        }
        'V' => out.push('F'),
        'W' => {
            if prev.is_none() && next == 'H' {
                skip = 1;
                out.push('W');
            } else if is_vowel(next) {
                out.push('W');
            }
        }
        'X' => {
            if prev.is_none() {
                if next == 'H' || (next == 'I' && (after == 'O' || after == 'A')) {
                    out.push('X');
                } else {
                    out.push('S');
                }
            } else {
                out.push_str("KS");
            }
        }
        'Y' if is_vowel(next) => out.push('Y'),
        'Z' => out.push('S'),
        ' ' if !out.is_empty() && !out.ends_with(' ') => out.push(' '),
        _ => {}
    }
    skip
}

fn is_vowel_g(g: &str) -> bool {
    matches!(g, "A" | "E" | "I" | "O" | "U")
}

/// NYSIIS code of `s` (jellyfish's variant: no 6-character truncation), on upper-cased grapheme
/// clusters, so accented letters are kept (`Sène` -> `SÈN`).
pub fn nysiis(s: &str) -> String {
    let upper = s.to_uppercase();
    let u = upper.as_str();
    let mut v: Vec<&str> = u.graphemes(true).collect();
    if v.is_empty() {
        return String::new();
    }
    let set = |v: &mut Vec<&str>, i: usize, g: &'static str| {
        if let Some(slot) = v.get_mut(i) {
            *slot = g;
        }
    };
    // Step 1: prefixes.
    if u.starts_with("MAC") {
        set(&mut v, 1, "C");
    } else if u.starts_with("KN") {
        v.remove(0);
    } else if u.starts_with('K') {
        set(&mut v, 0, "C");
    } else if u.starts_with("PH") || u.starts_with("PF") {
        set(&mut v, 0, "F");
        set(&mut v, 1, "F");
    } else if u.starts_with("SCH") {
        set(&mut v, 1, "S");
        set(&mut v, 2, "S");
    }
    // Step 2: suffixes.
    if u.ends_with("IE") || u.ends_with("EE") {
        v.pop();
        v.pop();
        v.push("Y");
    } else if ["DT", "RT", "RD", "NT", "ND"]
        .iter()
        .any(|x| u.ends_with(x))
    {
        v.pop();
        v.pop();
        v.push("D");
    }
    let Some(&first) = v.first() else {
        return String::new();
    };
    // Steps 3 and 4: the key starts with the first letter; translate the rest.
    let mut key: Vec<&str> = vec![first];
    let mut i = 1;
    while i < v.len() {
        let next = v.get(i + 1).copied();
        let prev = v[i - 1];
        let mut two: [&str; 2] = ["", ""];
        let chunk: &[&str] = match v[i] {
            "E" if next == Some("V") => {
                i += 1;
                &["A", "F"]
            }
            "A" | "E" | "I" | "O" | "U" => &["A"],
            "Q" => &["G"],
            "Z" => &["S"],
            "M" => &["N"],
            "K" if next == Some("N") => &["N"],
            "K" => &["C"],
            "S" if next == Some("C") && v.get(i + 2).copied() == Some("H") => {
                i += 2;
                &["S", "S"]
            }
            "P" if next == Some("H") => {
                i += 1;
                &["F"]
            }
            "H" if !is_vowel_g(prev) || next.is_some_and(|n| !is_vowel_g(n)) || next.is_none() => {
                if is_vowel_g(prev) {
                    &["A"]
                } else {
                    two[0] = prev;
                    &two[..1]
                }
            }
            "W" if is_vowel_g(prev) => {
                two[0] = prev;
                &two[..1]
            }
            g => {
                two[0] = g;
                &two[..1]
            }
        };
        if chunk.last() != key.last() {
            key.extend_from_slice(chunk);
        }
        i += 1;
    }
    // Steps 5 to 7: trailing S, AY -> Y, trailing A.
    if key.len() > 1 && key.last() == Some(&"S") {
        key.pop();
    }
    if key.ends_with(&["A", "Y"]) {
        key.remove(key.len() - 2);
    }
    if key.len() > 1 && key.last() == Some(&"A") {
        key.pop();
    }
    key.concat()
}

/// kadi's phonetic key for West African and French names. Each word of the normalised name
/// (see [`kadi_normalize`]) is rewritten left to right, then tidied:
///
/// | rule | example |
/// |---|---|
/// | `ph`→f, `th`→t, `kh`→k, `gh`→g, `ck`/`q`/`qu`→k | Khadija = Kadija |
/// | `sh`, `ch`, `tch`, `tj` → x (the "sh/tch" sound); but `chr` → kr | Cheikh = Sheikh |
/// | `dj`, and `di` before a vowel → j | Djibril = Jibril, Diallo = Jallo |
/// | `gu` before e/i/y → g | Guèye = Gèye |
/// | `c` before e/i/y → s, other `c` → k | Cissé = Sissé, Coulibaly = Koulibaly |
/// | `ou` and `w` → u, `z` → s, `x` → ks | Mamadou = Mamadu, Ouattara = Wattara |
/// | `h` is silent | Mouhamed = Mouamed, Bah = Ba |
/// | letters doubled after the rewrite count once | Diallo = Dialo, Cissé = Cisé |
/// | a final `e` is silent, then `ay`/`ey`/`ai`/`ei` → e | Ndèye = Ndeye = Ndey, Seydou = Saidou |
/// | `y` → i | Coulibaly = Kulibali |
///
/// Digits are dropped; words stay separated by one space. `""` for a name with no letters.
pub fn kadi_phonetic(name: &str) -> String {
    kadi_phonetic_of_normalized(&kadi_normalize(name))
}

/// [`kadi_phonetic`] of a name already passed through [`kadi_normalize`] (saves normalising
/// twice when the caller keeps both, as the MPI scorer does).
pub fn kadi_phonetic_of_normalized(normalised: &str) -> String {
    let mut out = String::new();
    kadi_phonetic_of_normalized_into(normalised, &mut out);
    out
}

/// [`kadi_phonetic_of_normalized`] written into `out` (replacing its content), reusing its
/// allocation.
pub fn kadi_phonetic_of_normalized_into(normalised: &str, out: &mut String) {
    out.clear();
    out.reserve(normalised.len());
    with_scratch(|letters, rewritten| {
        for word in normalised.split(' ') {
            let before = out.len();
            if !out.is_empty() {
                out.push(' ');
            }
            let key_start = out.len();
            word_key_into(word, letters, rewritten, out);
            if out.len() == key_start {
                out.truncate(before);
            }
        }
    });
}

/// Runs `f` with this thread's two scratch buffers (fresh ones if they are unavailable): the MPI
/// scorer computes a key for every record it prepares, and allocating the buffers per call was a
/// tenth of the key's cost.
fn with_scratch(f: impl FnOnce(&mut Vec<char>, &mut Vec<char>)) {
    thread_local! {
        static SCRATCH: RefCell<(Vec<char>, Vec<char>)> =
            const { RefCell::new((Vec::new(), Vec::new())) };
    }
    let mut f = Some(f);
    let _ = SCRATCH.try_with(|scratch| {
        if let (Ok(mut s), Some(f)) = (scratch.try_borrow_mut(), f.take()) {
            let (letters, rewritten) = &mut *s;
            f(letters, rewritten);
            // A pathological name must not pin a large buffer for the thread's lifetime.
            if letters.capacity() > 1024 || rewritten.capacity() > 2048 {
                *s = (Vec::new(), Vec::new());
            }
        }
    });
    if let Some(f) = f {
        f(&mut Vec::new(), &mut Vec::new());
    }
}

/// Appends the key of one normalised word to `out`.
fn word_key_into(word: &str, w: &mut Vec<char>, s: &mut Vec<char>, out: &mut String) {
    w.clear();
    w.extend(word.chars().filter(|c| c.is_alphabetic()));
    s.clear();
    let at = |i: usize| w.get(i).copied().unwrap_or(' ');
    let vowel = |c: char| matches!(c, 'a' | 'e' | 'i' | 'o' | 'u' | 'y');
    let mut i = 0;
    while i < w.len() {
        let (c, n, nn) = (w[i], at(i + 1), at(i + 2));
        let (emit, used): (&[char], usize) = match c {
            'p' if n == 'h' => (&['f'], 2),
            't' if n == 'c' && nn == 'h' => (&['x'], 3),
            't' if n == 'h' => (&['t'], 2),
            't' if n == 'j' => (&['x'], 2),
            'k' if n == 'h' => (&['k'], 2),
            'g' if n == 'h' => (&['g'], 2),
            'c' if n == 'h' && nn == 'r' => (&['k'], 2),
            'c' | 's' if n == 'h' => (&['x'], 2),
            'c' if n == 'k' => (&['k'], 2),
            'c' if matches!(n, 'e' | 'i' | 'y') => (&['s'], 1),
            'q' if n == 'u' => (&['k'], 2),
            'c' | 'q' => (&['k'], 1),
            'd' if n == 'j' => (&['j'], 2),
            'd' if n == 'i' && vowel(nn) && nn != 'i' => (&['j'], 2),
            'g' if n == 'u' && matches!(nn, 'e' | 'i' | 'y') => (&['g'], 2),
            'o' if n == 'u' => (&['u'], 2),
            'w' => (&['u'], 1),
            'z' => (&['s'], 1),
            'x' => (&['k', 's'], 1),
            'h' => (&[], 1),
            _ => (std::slice::from_ref(&w[i]), 1),
        };
        // One push per character: `extend_from_slice` calls memcpy for these one-char slices.
        for &e in emit {
            s.push(e);
        }
        i += used;
    }
    s.dedup();
    if s.len() > 2 && s.last() == Some(&'e') {
        s.pop();
    }
    // Vowel pairs fold, `y` becomes `i`; doubles created by folding (`ey` + `e`) count once.
    let mut last = None;
    let mut emit = |c: char, out: &mut String| {
        if Some(c) != last {
            out.push(c);
        }
        last = Some(c);
    };
    let mut j = 0;
    while j < s.len() {
        let (c, n) = (s[j], s.get(j + 1).copied());
        if matches!(c, 'a' | 'e')
            && matches!(n, Some('y') | Some('i'))
            && !s.get(j + 2).is_some_and(|c| vowel(*c))
        {
            emit('e', out);
            j += 2;
            continue;
        }
        emit(if c == 'y' { 'i' } else { c }, out);
        j += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The examples table of `sqlext/README.md`: pairs that must share a key.
    const SAME_KEY: &[(&str, &str)] = &[
        ("Mamadou", "Mamadu"),
        ("Ndèye", "Ndeye"),
        ("Ndeye", "Ndey"),
        ("Diallo", "Jallo"),
        ("Djibril", "Jibril"),
        ("N'Diaye", "Ndiaye"),
        ("Cissé", "Sissé"),
        ("Coulibaly", "Kulibali"),
        ("Ouattara", "Wattara"),
        ("Seydou", "Saidou"),
        ("Khadija", "Kadija"),
        ("Cheikh", "Sheikh"),
        ("Bah", "Ba"),
        ("Mouhamed", "Mouamed"),
        ("Guèye", "Gèye"),
        ("Philippe", "Filip"),
        ("Abdoulaye", "Abdoulay"),
        ("Ousmane", "Usman"),
        ("Christophe", "Kristof"),
    ];

    #[test]
    fn west_african_and_french_spelling_variants_share_a_key() {
        for (a, b) in SAME_KEY {
            assert_eq!(kadi_phonetic(a), kadi_phonetic(b), "{a} vs {b}");
        }
    }

    #[test]
    fn different_names_keep_different_keys() {
        for (a, b) in [
            ("Diallo", "Diop"),
            ("Fatou", "Fanta"),
            ("Sow", "Sy"),
            ("Ba", "Bakary"),
            ("Ndiaye", "Ndoye"),
        ] {
            assert_ne!(kadi_phonetic(a), kadi_phonetic(b), "{a} vs {b}");
        }
    }

    #[test]
    fn the_key_of_a_normalised_name_is_the_key_of_the_name() {
        for (a, b) in SAME_KEY {
            assert_eq!(
                kadi_phonetic_of_normalized(&kadi_normalize(a)),
                kadi_phonetic(a)
            );
            assert_eq!(
                kadi_phonetic_of_normalized(&kadi_normalize(b)),
                kadi_phonetic(b)
            );
        }
    }

    #[test]
    fn names_without_letters_give_an_empty_key() {
        assert_eq!(kadi_phonetic(""), "");
        assert_eq!(kadi_phonetic("123 - '"), "");
    }

    #[test]
    fn ascii_soundex_agrees_with_the_unicode_path() {
        let mut x = 0x2545_f491_u64;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let len = (x % 9) as usize;
            let word: String = (0..len)
                .map(|k| b"aBhWcdTlmR o1-"[((x >> (8 + 4 * k)) % 14) as usize] as char)
                .collect();
            let fast = soundex_ascii(word.as_bytes())
                .map(|c| String::from_utf8_lossy(&c).into_owned())
                .unwrap_or_default();
            let unicode = soundex_chars(word.to_uppercase().chars());
            assert_eq!(fast, unicode, "{word:?}");
        }
    }

    #[test]
    fn jellyfish_codes_for_a_few_names() {
        assert_eq!(soundex("Łukasz"), "Ł220");
        assert_eq!(soundex(""), "");
        assert_eq!(metaphone("Ndèye Fatou Sène"), "NTY FT SN");
        assert_eq!(nysiis("Sène"), "SÈN");
        assert_eq!(nysiis("Mamadou"), "MANAD");
    }
}
