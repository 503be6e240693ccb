//! A record prepared once for many comparisons: names, date digits, sex, phone and ID keys,
//! address words. See `docs/mpi.md` (Speed).
use super::*;

/// Refills an optional text field in place: `make` writes the value into the buffer and says
/// whether there is one.
pub(super) fn fill_text(
    slot: &mut Option<String>,
    raw: Option<&str>,
    make: impl FnOnce(&str, &mut String) -> bool,
) {
    let mut buf = slot.take().unwrap_or_default();
    *slot = match raw {
        Some(raw) if make(raw, &mut buf) => Some(buf),
        _ => None,
    };
}

/// A date of birth as its eight digits `YYYYMMDD` (kept even when impossible, e.g. month 13,
/// because typos in real dates produce them and the digits still compare).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Dob {
    pub(super) digits: [u8; 8],
}

impl Dob {
    pub(super) fn parse(s: &str) -> Option<Dob> {
        let b = s.trim().as_bytes();
        let mut digits = [0u8; 8];
        let ok = match b.len() {
            10 if b[4] == b'-' && b[7] == b'-' => {
                let src = [b[0], b[1], b[2], b[3], b[5], b[6], b[8], b[9]];
                digits.copy_from_slice(&src);
                true
            }
            8 => {
                digits.copy_from_slice(b);
                true
            }
            _ => false,
        };
        if !ok || !digits.iter().all(u8::is_ascii_digit) {
            return None;
        }
        let d = Dob { digits };
        // `YYYY-00-00` is a placeholder for "unknown", not a date: treat as missing.
        if d.month() == 0 && d.day() == 0 {
            return None;
        }
        Some(d)
    }
    pub(super) fn num(&self, r: std::ops::Range<usize>) -> u32 {
        self.digits[r]
            .iter()
            .fold(0u32, |n, d| n * 10 + u32::from(d - b'0'))
    }
    pub(super) fn year(&self) -> u32 {
        self.num(0..4)
    }
    pub(super) fn month(&self) -> u32 {
        self.num(4..6)
    }
    pub(super) fn day(&self) -> u32 {
        self.num(6..8)
    }
    /// 1 January (or a zero day or month) is what registrars write when only the year is known.
    pub(super) fn is_estimated(&self) -> bool {
        (self.month() == 1 && self.day() == 1) || self.month() == 0 || self.day() == 0
    }
    pub(super) fn text(&self) -> &str {
        std::str::from_utf8(&self.digits).unwrap_or("")
    }
}

/// One record ready to compare: everything derived from its fields, computed once.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PreparedRecord {
    pub(super) first: Option<Name>,
    pub(super) last: Option<Name>,
    pub(super) dob: Option<Dob>,
    pub(super) sex: Option<u8>,
    pub(super) phone: Option<String>,
    pub(super) national_id: Option<String>,
    pub(super) address: Vec<String>,
    pub(super) health_center: Option<String>,
    pub(super) zone: Option<String>,
    /// Order key of the prepared content: comparisons put the smaller record first, so a score
    /// never depends on argument order (greedy address matching and crosswise names are not
    /// symmetric by themselves), and resolution does not depend on arrival order.
    pub(super) order_key: u64,
}

impl PreparedRecord {
    /// Prepares a record from a JSON object of card fields; `argument` names it in errors.
    pub fn from_json(json: &str, argument: usize) -> Result<PreparedRecord, MpiError> {
        let mut r = PreparedRecord::default();
        r.fill_json(json, argument)?;
        Ok(r)
    }

    /// Prepares a record from a field getter (e.g. `|f| card_fields.get(f)`).
    pub fn from_fields<'a>(get: impl Fn(&str) -> Option<&'a str>) -> PreparedRecord {
        let mut r = PreparedRecord::default();
        r.fill(FIELDS.map(get));
        r
    }

    /// Frees the spare capacity of its strings: a record kept for a whole resolution pass (one
    /// of 100,000) should hold no more than its text.
    pub fn shrink_to_fit(&mut self) {
        for name in [&mut self.first, &mut self.last].into_iter().flatten() {
            name.buf.shrink_to_fit();
        }
        for s in [
            &mut self.phone,
            &mut self.national_id,
            &mut self.health_center,
            &mut self.zone,
        ]
        .into_iter()
        .flatten()
        {
            s.shrink_to_fit();
        }
        for t in &mut self.address {
            t.shrink_to_fit();
        }
        self.address.shrink_to_fit();
    }

    /// Prepares the record of a JSON object into `self`, reusing its buffers (the SQL function
    /// prepares two records per call; their dozen strings need not be allocated every time).
    pub(super) fn fill_json(&mut self, json: &str, argument: usize) -> Result<(), MpiError> {
        let mut raw = RawFields::default();
        scan_object(json, &mut raw).map_err(|reason| MpiError::NotAnObject { argument, reason })?;
        self.fill(raw.values.each_ref().map(|v| v.as_deref()));
        Ok(())
    }

    /// Prepares raw values in [`FIELDS`] order into `self`, every field replaced.
    pub(super) fn fill(&mut self, values: [Option<&str>; 9]) {
        let [first, last, dob, sex, phone, national_id, address, health_center, zone] =
            values.map(|v| v.map(str::trim).filter(|s| !s.is_empty()));
        fill_name(&mut self.first, first);
        fill_name(&mut self.last, last);
        self.dob = dob.and_then(Dob::parse);
        self.sex = sex.and_then(parse_sex);
        fill_text(&mut self.phone, phone, phone_key_into);
        fill_text(&mut self.national_id, national_id, id_key_into);
        match address {
            Some(a) => address_tokens_into(a, &mut self.address),
            None => self.address.clear(),
        }
        let normalized = |s: &str, out: &mut String| {
            kadi_normalize_into(s, out);
            !out.is_empty()
        };
        fill_text(&mut self.health_center, health_center, normalized);
        fill_text(&mut self.zone, zone, normalized);
        self.order_key = self.content_hash();
    }

    /// FNV-1a over the prepared fields (stable across runs and platforms).
    pub(super) fn content_hash(&self) -> u64 {
        let mut h: u64 = 0xcbf29ce484222325;
        let mut eat = |bytes: &[u8]| {
            for &b in bytes.iter().chain(std::iter::once(&0xffu8)) {
                h ^= u64::from(b);
                h = h.wrapping_mul(0x100000001b3);
            }
        };
        for n in [&self.first, &self.last] {
            eat(n.as_ref().map_or(&[][..], |n| n.norm().as_bytes()));
        }
        eat(self.dob.as_ref().map_or(&[][..], |d| &d.digits[..]));
        eat(&[self.sex.unwrap_or(0)]);
        for t in [
            &self.phone,
            &self.national_id,
            &self.health_center,
            &self.zone,
        ] {
            eat(t.as_deref().map_or(&[][..], str::as_bytes));
        }
        for t in &self.address {
            eat(t.as_bytes());
        }
        h
    }

    /// True when no compared field has a value: such a record can never be matched.
    pub fn is_empty(&self) -> bool {
        self.first.is_none()
            && self.last.is_none()
            && self.dob.is_none()
            && self.phone.is_none()
            && self.national_id.is_none()
            && self.address.is_empty()
    }

    /// The normalised national ID, if any (deterministic links use it).
    pub fn national_id(&self) -> Option<&str> {
        self.national_id.as_deref()
    }

    /// The values one household shares, as keys that are equal exactly when the scorer calls
    /// them `exact`: the phone key (last 8 digits) and the address words (sorted, joined). The
    /// resolver counts how many people hold each (`docs/mpi.md`, Household and veto).
    pub fn household_values(&self) -> (Option<&str>, Option<String>) {
        let address = (!self.address.is_empty()).then(|| {
            let mut words: Vec<&str> = self.address.iter().map(String::as_str).collect();
            words.sort_unstable();
            words.join(" ")
        });
        (self.phone.as_deref(), address)
    }

    /// The given and family names as compact text (what [`crate::mpi::given_names_compared`]
    /// returns), for counting how many records of a store hold each name.
    pub fn name_texts(&self) -> [Option<&str>; 2] {
        [&self.first, &self.last].map(|n| n.as_ref().map(Name::compact))
    }

    /// The year of birth, if a date was written (a placeholder date counts as none).
    pub fn birth_year(&self) -> Option<u32> {
        self.dob.as_ref().map(Dob::year)
    }
}

/// The distinct words of an address (at most 32), written over `out`'s strings.
pub(super) fn address_tokens_into(s: &str, out: &mut Vec<String>) {
    let n = kadi_normalize(truncate_chars(s, ADDRESS_MAX));
    let mut len = 0;
    for t in n
        .split(|c: char| !c.is_alphanumeric())
        .filter(|t| !t.is_empty())
    {
        if len == 32 {
            break;
        }
        if !out[..len].iter().any(|u| u == t) {
            match out.get_mut(len) {
                Some(token) => {
                    token.clear();
                    token.push_str(t);
                }
                None => out.push(t.to_string()),
            }
            len += 1;
        }
    }
    out.truncate(len);
}

pub(super) fn parse_sex(s: &str) -> Option<u8> {
    // ASCII case only (`FÉMININ` is not recognised), as the spellings below have always been.
    let s = s.trim();
    let any = |words: &[&str]| words.iter().any(|w| s.eq_ignore_ascii_case(w));
    if any(&["m", "male", "h", "homme", "masculin"]) {
        Some(b'M')
    } else if any(&["f", "female", "femme", "feminin", "féminin"]) {
        Some(b'F')
    } else {
        None
    }
}

/// The last 8 digits of a phone number (E.164 or local): country codes and trunk prefixes vary
/// between records of one person, the subscriber number does not. Fewer than 6 digits: missing.
#[cfg(test)]
pub(super) fn phone_key(s: &str) -> Option<String> {
    let mut key = String::new();
    phone_key_into(s, &mut key).then_some(key)
}

pub(super) fn phone_key_into(s: &str, key: &mut String) -> bool {
    // The last 8 digits, kept in a ring so no buffer is needed for the rest.
    let mut last8 = [0u8; 8];
    let mut count = 0usize;
    for d in s.bytes().filter(u8::is_ascii_digit) {
        last8[count % 8] = d;
        count += 1;
    }
    if !(6..=20).contains(&count) {
        return false;
    }
    let kept = count.min(8);
    key.clear();
    key.extend((count - kept..count).map(|i| char::from(last8[i % 8])));
    true
}

#[cfg(test)]
pub(super) fn id_key(s: &str) -> Option<String> {
    let mut key = String::new();
    id_key_into(s, &mut key).then_some(key)
}

pub(super) fn id_key_into(s: &str, key: &mut String) -> bool {
    let s = truncate_chars(s, ID_MAX);
    key.clear();
    if s.is_ascii() {
        key.extend(
            s.bytes()
                .filter(u8::is_ascii_alphanumeric)
                .map(|b| char::from(b.to_ascii_uppercase())),
        );
    } else {
        key.extend(
            s.chars()
                .filter(|c| c.is_alphanumeric())
                .flat_map(char::to_uppercase),
        );
    }
    !key.is_empty()
}

pub(super) fn truncate_chars(s: &str, max: usize) -> &str {
    // A string of at most `max` bytes has at most `max` characters: most names stop here.
    if s.len() <= max {
        return s;
    }
    match s.char_indices().nth(max) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}
