//! A small JSON object scanner: the SQL function parses two objects per call, so it keeps the
//! compared string values (borrowed when they hold no escapes) and validates the rest without
//! building a tree. Nested objects/arrays are validated by serde_json (rare in card records).
use super::*;

#[derive(Default)]
pub(super) struct RawFields<'a> {
    pub(super) values: [Option<Cow<'a, str>>; 9],
}

pub(super) struct Scanner<'a> {
    pub(super) s: &'a str,
    pub(super) b: &'a [u8],
    pub(super) i: usize,
}

impl<'a> Scanner<'a> {
    pub(super) fn ws(&mut self) {
        while self.i < self.b.len() && matches!(self.b[self.i], b' ' | b'\t' | b'\n' | b'\r') {
            self.i += 1;
        }
    }
    pub(super) fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }
    pub(super) fn expect(&mut self, c: u8) -> Result<(), String> {
        self.ws();
        if self.peek() == Some(c) {
            self.i += 1;
            Ok(())
        } else {
            Err(format!("expected '{}' at byte {}", c as char, self.i))
        }
    }
    pub(super) fn string(&mut self) -> Result<Cow<'a, str>, String> {
        self.expect(b'"')?;
        let start = self.i;
        self.i += plain_run(self.b.get(self.i..).unwrap_or_default());
        match self.peek() {
            Some(b'"') => {
                self.i += 1;
                Ok(Cow::Borrowed(&self.s[start..self.i - 1]))
            }
            Some(b'\\') => self.escaped(start),
            Some(_) => Err(format!("control character in string at byte {}", self.i)),
            None => Err("unterminated string".into()),
        }
    }
    pub(super) fn escaped(&mut self, start: usize) -> Result<Cow<'a, str>, String> {
        let mut out = String::from(&self.s[start..self.i]);
        loop {
            let Some(c) = self.peek() else {
                return Err("unterminated string".into());
            };
            match c {
                b'"' => {
                    self.i += 1;
                    return Ok(Cow::Owned(out));
                }
                b'\\' => {
                    self.i += 1;
                    let e = self.peek().ok_or("unterminated escape")?;
                    self.i += 1;
                    match e {
                        b'"' => out.push('"'),
                        b'\\' => out.push('\\'),
                        b'/' => out.push('/'),
                        b'b' => out.push('\u{8}'),
                        b'f' => out.push('\u{c}'),
                        b'n' => out.push('\n'),
                        b'r' => out.push('\r'),
                        b't' => out.push('\t'),
                        b'u' => {
                            let hi = self.hex4()?;
                            let cp = if (0xD800..0xDC00).contains(&hi) {
                                if self.b.get(self.i) != Some(&b'\\')
                                    || self.b.get(self.i + 1) != Some(&b'u')
                                {
                                    return Err("unpaired surrogate".into());
                                }
                                self.i += 2;
                                let lo = self.hex4()?;
                                if !(0xDC00..0xE000).contains(&lo) {
                                    return Err("unpaired surrogate".into());
                                }
                                0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                            } else {
                                hi
                            };
                            out.push(char::from_u32(cp).ok_or("invalid \\u escape")?);
                        }
                        _ => return Err(format!("invalid escape at byte {}", self.i)),
                    }
                }
                c if c < 0x20 => {
                    return Err(format!("control character in string at byte {}", self.i))
                }
                _ => {
                    // Copy one whole UTF-8 character.
                    let len = utf8_len(c);
                    let end = (self.i + len).min(self.b.len());
                    out.push_str(self.s.get(self.i..end).ok_or("invalid UTF-8")?);
                    self.i = end;
                }
            }
        }
    }
    pub(super) fn hex4(&mut self) -> Result<u32, String> {
        let h = self.s.get(self.i..self.i + 4).ok_or("short \\u escape")?;
        self.i += 4;
        u32::from_str_radix(h, 16).map_err(|_| "invalid \\u escape".to_string())
    }
    /// A scalar value: Some(text) for strings and numbers, None for true/false/null.
    /// Err(None) asks the caller to validate with serde_json (nested value).
    pub(super) fn scalar(&mut self) -> Result<Option<Cow<'a, str>>, Option<String>> {
        self.ws();
        match self.peek() {
            Some(b'"') => self.string().map(Some).map_err(Some),
            Some(b'{') | Some(b'[') => Err(None),
            Some(b't') => self.literal("true").map(|_| None),
            Some(b'f') => self.literal("false").map(|_| None),
            Some(b'n') => self.literal("null").map(|_| None),
            Some(c) if c == b'-' || c.is_ascii_digit() => {
                let start = self.i;
                while self.peek().is_some_and(|c| {
                    c.is_ascii_digit() || matches!(c, b'-' | b'+' | b'.' | b'e' | b'E')
                }) {
                    self.i += 1;
                }
                let t = &self.s[start..self.i];
                if t.parse::<f64>().is_err() || t.starts_with('+') {
                    return Err(Some(format!("invalid number at byte {start}")));
                }
                Ok(Some(Cow::Borrowed(t)))
            }
            _ => Err(Some(format!("expected a value at byte {}", self.i))),
        }
    }
    pub(super) fn literal(&mut self, word: &str) -> Result<(), Option<String>> {
        if self.s[self.i..].starts_with(word) {
            self.i += word.len();
            Ok(())
        } else {
            Err(Some(format!("invalid literal at byte {}", self.i)))
        }
    }
}

/// How many bytes at the start of `b` a JSON string can hold as they are: up to the first `"`,
/// backslash or control character. Eight bytes at a time (the names, dates and places of a
/// record are most of its text): a zero-byte test per searched value, whose lowest flagged byte
/// is always a real match.
pub(super) fn plain_run(b: &[u8]) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let zero_bytes = |v: u64| v.wrapping_sub(ONES) & !v & HIGH;
    let mut i = 0;
    while let Some(chunk) = b.get(i..i + 8) {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let x = u64::from_le_bytes(word);
        let special = zero_bytes(x ^ (ONES * u64::from(b'"')))
            | zero_bytes(x ^ (ONES * u64::from(b'\\')))
            | (x.wrapping_sub(ONES * 0x20) & !x & HIGH);
        if special != 0 {
            return i + (special.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    i + b[i..]
        .iter()
        .take_while(|&&c| c != b'"' && c != b'\\' && c >= 0x20)
        .count()
}

pub(super) fn utf8_len(first: u8) -> usize {
    match first {
        0xF0..=0xFF => 4,
        0xE0..=0xEF => 3,
        0xC0..=0xDF => 2,
        _ => 1,
    }
}

pub(super) fn scan_object<'a>(s: &'a str, out: &mut RawFields<'a>) -> Result<(), String> {
    let mut sc = Scanner {
        s,
        b: s.as_bytes(),
        i: 0,
    };
    match scan_fast(&mut sc, out) {
        Ok(()) => Ok(()),
        Err(Some(e)) => Err(e),
        Err(None) => scan_slow(s, out),
    }
}

pub(super) fn scan_fast<'a>(
    sc: &mut Scanner<'a>,
    out: &mut RawFields<'a>,
) -> Result<(), Option<String>> {
    sc.ws();
    if sc.peek() != Some(b'{') {
        return Err(Some("not an object".into()));
    }
    sc.i += 1;
    sc.ws();
    if sc.peek() == Some(b'}') {
        sc.i += 1;
    } else {
        loop {
            let key = sc.string().map_err(Some)?;
            sc.expect(b':').map_err(Some)?;
            let value = sc.scalar()?;
            if let Some(slot) = FIELDS.iter().position(|f| *f == key) {
                out.values[slot] = value;
            }
            sc.ws();
            match sc.peek() {
                Some(b',') => sc.i += 1,
                Some(b'}') => {
                    sc.i += 1;
                    break;
                }
                _ => return Err(Some(format!("expected ',' or '}}' at byte {}", sc.i))),
            }
        }
    }
    sc.ws();
    if sc.i != sc.b.len() {
        return Err(Some(format!("trailing characters at byte {}", sc.i)));
    }
    Ok(())
}

pub(super) fn scan_slow<'a>(s: &'a str, out: &mut RawFields<'a>) -> Result<(), String> {
    let v: serde_json::Value = serde_json::from_str(s).map_err(|e| e.to_string())?;
    let serde_json::Value::Object(m) = v else {
        return Err("not an object".into());
    };
    for (i, f) in FIELDS.iter().enumerate() {
        out.values[i] = match m.get(*f) {
            Some(serde_json::Value::String(s)) => Some(Cow::Owned(s.clone())),
            Some(serde_json::Value::Number(n)) => Some(Cow::Owned(n.to_string())),
            _ => None,
        };
    }
    Ok(())
}
