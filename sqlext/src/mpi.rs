//! MPI scoring of two card-field records: the one scorer behind SQL `mpi_score` / `mpi_explain` /
//! `mpi_band` / `mpi_block_keys` and the binary's identity resolution (`kadi::mpi`), so an analyst
//! in `sqlite3` and the box compute the very same numbers.
//!
//! # Model
//! Fellegi-Sunter style: every field compared gives an *agreement level* (exact, close, phonetic,
//! similar, disagree, missing) and each level a log-likelihood weight `ln(m/u)` (natural log), set
//! a priori from what each error means, not fitted on the evaluation truth. The weights and a prior
//! are summed and squashed by a logistic: `score = 1 / (1 + exp(-(PRIOR + Σ w)))`. A missing field
//! (absent, empty, non-string, `U` sex, placeholder date) weighs 0: neither rewards nor punishes.
//!
//! | field | exact | close | phonetic | similar | disagree | why |
//! |---|---|---|---|---|---|---|
//! | first_name (a similar pair of names made only of common parts weighs 0) | +4.0 (common name +2.5) | +3.0 (JW ≥ 0.92, or two adjacent letters swapped or one dropped in a name of 3+ letters, or two forms of one name of [`NAME_VARIANTS`]; common +2.0; compound names part by part, the weakest part deciding) | +2.5 (common +2.0) | +1.0 (JW ≥ 0.84, one compound name inside the other, one part of two shared, or two neighbouring letters swapped plus one letter dropped or doubled) | -2.3 (both names: -1.8 each) | u≈1/100, ≈1/30 for the most common West African names ([`COMMON_NAMES`]); replaced or nick names in ~10% of true pairs |
//! | last_name | +5.0 (common +3.0) | +4.0 (as first_name; common +2.5) | +3.0 (common +2.5) | +1.5 | -2.3 (both names: -1.8 each) | rarer than first names but shared by households; changed at marriage |
//! | date_of_birth | +6.0 (+2.5 on 1 January or a zero day/month) | +3.5 (day/month swap, one digit, adjacent digits swapped, year ±1; +1.0 on 1 January) | | -1.0 (same year only) | -3.0 | u≈1/(365·80); registrars estimate 1 January; ~5% of true pairs carry a wrong date |
//! | gender | +0.5 | | | | -3.0 | half of everyone agrees; a disagreeing sex is rare in a true pair |
//! | phone_number (last 8 digits) | +5.0 | +2.0 (one digit or one insertion) | | | -1.5 | households share phones and people change them |
//! | national_id | +9.0 | +2.5 (one edit) | | | -3.0 | nearly unique; typos happen |
//! | address (token-set Dice, fuzzy tokens: a word by Jaro-Winkler, a number of 3+ digits with two neighbouring digits swapped 0.9, one substituted digit 0.5) | +8.0 (≥ 0.99; +9.0 for two full addresses of 5+ words) | +6.5 (+7.5 full; ≥ 0.75, or letter-bigram Dice ≥ 0.85 when words were split or merged) | | +2.0 (≥ 0.5) | -2.5 | a full address is nearly unique (u≈1e-4); people move |
//! | health_center | +0.7 | | | | -1.5 | one big center holds many people (u of agreement ≈ 0.3); most people return to their clinic (m of disagreement ≈ 0.2, u ≈ 0.85: ln(0.2/0.85)) |
//! | zone (district) | +0.3 | | | | -1.5 | on top of the clinic's -1.5: another district is far rarer in a true pair than another clinic of the same district (m ≈ 5% of true pairs against u ≈ 0.9 of candidates across a region: ln(0.05/0.9) ≈ -2.9 for the two together). It was -0.2, which put another district barely below another clinic: at 100,000 simulator records, 40 of the 67 directly scored false automatic links were in another district with a date one slip off |
//!
//! `PRIOR = -8.0`: the prior log-odds of a candidate pair (blocking already demanded agreement on
//! a name code, date, phone or ID, so candidates are far likelier matches than random pairs).
//! With the fixed bands (link ≥ 0.95 ⇔ Σw ≥ 10.94, review ≥ 0.75 ⇔ Σw ≥ 9.1): exact rare first
//! and last names with an exact date link (15.0); "Fatou Diallo" with the same date links only
//! just (11.5) and drops to review when the clinic or phone disagrees; the same names with a date
//! one digit off need more agreement (9.0 → new unless sex, clinic or phone agree); a mother and
//! child sharing family name and phone stay apart. Names are also compared crosswise (first ↔ last swapped, even when
//! one of them is also mistyped).
//!
//! **Guard**: twins (another first name, same family name and date, or no date to tell) and namesakes of another
//! generation (same names, another date) look like one person to an additive model however much
//! household data agrees; so does a pair where neither name agrees (a record filed under another
//! person's names, or two people of one household born the same day). Such pairs are capped just
//! under the link band (a person decides) unless the national IDs agree exactly.
//!
//! Name, address and ID texts are cut at 64 / 256 / 64 characters before comparison, which bounds
//! the cost of pathological input without changing real records.
//!
//! # Blocking keys
//! See [`block_keys`]: coarse phonetic codes (a private Soundex-like code, kept here so stored keys
//! do not change when `kadi_phonetic` evolves) combined with date parts, plus phone and national ID.
//!
//! # Speed
//! [`PreparedRecord`] holds everything the comparison needs (normalised names, phonetic keys,
//! date digits, phone digits, address tokens) so the binary prepares each record once; the JSON
//! entry points use a small scanner that borrows unescaped strings and ignores unknown fields.
//! SQL `mpi_score` keeps prepared records in a per-thread cache only when they are likely to come
//! back (see `PreparedCache`), and otherwise prepares into the buffers of the previous call's
//! records, so a call over two new records allocates next to nothing.
use crate::normalize::{kadi_normalize, kadi_normalize_into};
use crate::phonetic::{kadi_phonetic, kadi_phonetic_of_normalized_into};
use crate::text::jaro_winkler;
use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::{BuildHasher, BuildHasherDefault, Hasher};
use std::rc::Rc;

/// Why a record could not be scored.
#[derive(Debug, Clone, PartialEq)]
pub enum MpiError {
    /// The argument (1 or 2) is not a JSON object.
    NotAnObject { argument: usize, reason: String },
}

impl std::fmt::Display for MpiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MpiError::NotAnObject { argument, reason } => {
                write!(f, "argument {argument} is not a JSON object: {reason}")
            }
        }
    }
}

impl std::error::Error for MpiError {}

/// Score bands: at or above `LINK` links automatically, at or above `REVIEW` waits for a person.
pub const LINK: f64 = 0.95;
/// See [`LINK`].
pub const REVIEW: f64 = 0.75;
/// Log-odds of a match before any field is compared (see the module doc).
pub const PRIOR: f64 = -8.0;

/// The highest log-odds a guarded pair can reach: just under the link band (0.9499).
const GUARD_CAP: f64 = 2.943;
const NAME_MAX: usize = 64;
const ADDRESS_MAX: usize = 256;
const ID_MAX: usize = 64;

/// How well one field agrees between two records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Missing on either side: weight 0.
    Missing,
    /// Clearly different values.
    Disagree,
    /// Weak agreement (partly similar names, same birth year only, half the address).
    Similar,
    /// Same phonetic key.
    Phonetic,
    /// One typo, swapped day/month, a name contained in the other.
    Close,
    /// Same value after normalisation.
    Exact,
}

impl Level {
    /// The level's name in `mpi_explain`.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Missing => "missing",
            Level::Disagree => "disagree",
            Level::Similar => "similar",
            Level::Phonetic => "phonetic",
            Level::Close => "close",
            Level::Exact => "exact",
        }
    }
}

/// The fields the scorer compares, in `mpi_explain` order.
pub const FIELDS: [&str; 9] = [
    "first_name",
    "last_name",
    "date_of_birth",
    "gender",
    "phone_number",
    "national_id",
    "address",
    "health_center",
    "zone",
];

/// A normalised name with its keys: the normalised text, its letters and digits only, its
/// phonetic key and its coarse code, one after another in one buffer. One allocation per name
/// instead of four: a resolution pass keeps 100,000 records (30 MB less).
#[derive(Debug, Clone, PartialEq)]
struct Name {
    buf: String,
    /// Where `norm`, `compact` and `phonetic` end in `buf` (`code` runs to its end).
    ends: [u16; 3],
    /// One of the most frequent West African names (see [`COMMON_NAMES`]).
    common: bool,
    /// The group of [`NAME_VARIANTS`] the name belongs to (1-based), 0 for none.
    variant: u8,
}

thread_local! {
    /// Scratch buffers of [`Name::fill`]: norm, compact, phonetic, code.
    static NAME_PARTS: std::cell::RefCell<[String; 4]> = Default::default();
}

/// The most frequent given and family names of Senegal and its neighbours. Agreement on one of
/// them is weak evidence (u ≈ 1/30 instead of ≈ 1/300 for other names), so it weighs less: a
/// cheap, a-priori stand-in for term-frequency adjustment that works offline and in SQL alike.
pub const COMMON_NAMES: &[&str] = &[
    // family names
    "diallo",
    "ndiaye",
    "diop",
    "fall",
    "sow",
    "ba",
    "bah",
    "gueye",
    "faye",
    "sarr",
    "cisse",
    "mbaye",
    "thiam",
    "ka",
    "niang",
    "toure",
    "kane",
    "seck",
    "diouf",
    "camara",
    "sy",
    "ndour",
    "sene",
    "dieng",
    "badji",
    "mendy",
    "sagna",
    "coly",
    "tall",
    "wade",
    "lo",
    "traore",
    "keita",
    "coulibaly",
    "konate",
    "diarra",
    "kone",
    "sylla",
    "barry",
    "balde",
    "sall",
    "mbodj",
    "diagne",
    "samb",
    "ndoye",
    "fofana",
    "dembele",
    "sanogo",
    "ouedraogo",
    "diaw",
    "diatta",
    "manga",
    "gomis",
    "ndao",
    "kante",
    "drame",
    // given names
    "mamadou",
    "moussa",
    "ibrahima",
    "ousmane",
    "abdoulaye",
    "cheikh",
    "modou",
    "aliou",
    "amadou",
    "alioune",
    "babacar",
    "lamine",
    "pape",
    "souleymane",
    "omar",
    "oumar",
    "malick",
    "serigne",
    "idrissa",
    "assane",
    "mbaye",
    "demba",
    "boubacar",
    "mohamed",
    "mouhamed",
    "ahmed",
    "ali",
    "issa",
    "seydou",
    "adama",
    "fatou",
    "fatoumata",
    "aminata",
    "awa",
    "khady",
    "mariama",
    "mariam",
    "aissatou",
    "ndeye",
    "coumba",
    "rokhaya",
    "seynabou",
    "astou",
    "binta",
    "dieynaba",
    "marieme",
    "oumou",
    "yacine",
    "sokhna",
    "fama",
    "ramatoulaye",
    "khadija",
    "aicha",
    "kadiatou",
    "hawa",
];

/// True for a name of [`COMMON_NAMES`] (a hash set built once: every prepared name asks).
fn is_common_name(compact: &str) -> bool {
    static SET: std::sync::OnceLock<
        std::collections::HashSet<&'static str, BuildHasherDefault<FastHasher>>,
    > = std::sync::OnceLock::new();
    SET.get_or_init(|| COMMON_NAMES.iter().copied().collect())
        .contains(compact)
}

/// Spellings and short forms of one given name, as West African registers write them: the
/// civil name and the name used every day ("Fatou" for "Fatoumata", "Khady" for "Khadija"), the
/// French and English transliterations of one Arabic name ("Oumar" / "Omar", "Ibrahima" /
/// "Ibrahim", "Seynabou" / "Zeynab"). Two names of one group are one person's name written two
/// ways, so they compare as `close` (a typo's level), not as the weak `similar` that
/// Jaro-Winkler gives "fatou" / "fatoumata" (and that weighs 0 for two common names, see
/// [`explain_prepared`]): a second registration under the everyday name with the date's day and
/// month swapped was left a new identity. Only unambiguous pairs are listed: "Abdou" (short for
/// any Abd- name), "Modou" / "Mamadou" and "Amadou" / "Ahmed" are used as different names and
/// stay apart; "Assane" (Hassan) and "Ousseynou" (Hussein), the classic names of twin brothers,
/// are two groups.
pub const NAME_VARIANTS: &[&[&str]] = &[
    &["fatou", "fatoumata", "fatimata", "fatim"],
    &[
        "khady",
        "khadi",
        "khadija",
        "khadidja",
        "khadidiatou",
        "kadidiatou",
        "kadiatou",
    ],
    &[
        "mariama", "mariam", "mariame", "marieme", "maryam", "maryama", "meriem",
    ],
    &[
        "mouhamed",
        "mohamed",
        "mohammed",
        "mouhammed",
        "muhammad",
        "mohamad",
        "mouhamad",
    ],
    &["oumar", "omar", "umar"],
    &["ibrahima", "ibrahim", "brahim"],
    &["ousmane", "ousman", "usman"],
    &["aminata", "aminatou"],
    &["awa", "hawa"],
    &["aissatou", "aissata"],
    &["cheikh", "cheick", "cheik", "sheikh"],
    &["seynabou", "zeynabou", "zeinabou", "zeynab", "zeinab"],
    &["assane", "hassane", "hassan"],
    &["ousseynou", "housseynou", "hussein", "houssein"],
    &["abdoulaye", "abdallah", "abdullah"],
    &["boubacar", "aboubacar", "aboubakar", "abubakar"],
    &["souleymane", "souleyman", "sulayman", "suleiman"],
    &["moussa", "mousa", "musa"],
    &["idrissa", "idriss", "idris"],
    &["seydou", "seidou"],
    &["binta", "bintou"],
    &["coumba", "koumba"],
    &["dieynaba", "dienaba"],
    &["rokhaya", "rokaya"],
    &["yacine", "yassine"],
    &["aicha", "aichatou", "aisha"],
];

/// The 1-based group of [`NAME_VARIANTS`] of a compact name, 0 for none.
fn variant_group(compact: &str) -> u8 {
    static MAP: std::sync::OnceLock<HashMap<&'static str, u8, BuildHasherDefault<FastHasher>>> =
        std::sync::OnceLock::new();
    MAP.get_or_init(|| {
        NAME_VARIANTS
            .iter()
            .enumerate()
            .flat_map(|(i, group)| group.iter().map(move |n| (*n, i as u8 + 1)))
            .collect()
    })
    .get(compact)
    .copied()
    .unwrap_or(0)
}

impl Name {
    fn empty() -> Name {
        Name {
            buf: String::new(),
            ends: [0; 3],
            common: false,
            variant: 0,
        }
    }

    fn norm(&self) -> &str {
        &self.buf[..self.ends[0] as usize]
    }

    fn compact(&self) -> &str {
        &self.buf[self.ends[0] as usize..self.ends[1] as usize]
    }

    fn phonetic(&self) -> &str {
        &self.buf[self.ends[1] as usize..self.ends[2] as usize]
    }

    fn code(&self) -> &str {
        &self.buf[self.ends[2] as usize..]
    }

    #[cfg(test)]
    fn new(raw: &str) -> Option<Name> {
        let mut name = Name::empty();
        name.fill(raw).then_some(name)
    }

    /// Prepares `raw` into this name's buffers (reused from record to record); false when the
    /// name has no letters or digits.
    fn fill(&mut self, raw: &str) -> bool {
        NAME_PARTS.with(|parts| {
            let mut parts = parts.borrow_mut();
            let [norm, compact, phonetic, code] = &mut *parts;
            let raw = truncate_chars(raw, NAME_MAX);
            kadi_normalize_into(raw, norm);
            if norm.is_empty() {
                return false;
            }
            compact.clear();
            if norm.is_ascii() {
                compact.extend(
                    norm.bytes()
                        .filter(u8::is_ascii_alphanumeric)
                        .map(char::from),
                );
            } else {
                compact.extend(norm.chars().filter(|c| c.is_alphanumeric()));
            }
            if compact.is_empty() {
                return false;
            }
            // `kadi_normalize` is idempotent on output made of lower-case ASCII letters, digits
            // and single spaces (folding it again changes nothing, honorifics included), so the
            // key can skip normalising a second time. Other output (rare: `㎁` folds to `nA`)
            // takes the full path.
            let folded = norm
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b' ');
            if folded {
                kadi_phonetic_of_normalized_into(norm, phonetic);
            } else {
                *phonetic = kadi_phonetic(norm);
            }
            coarse_code_into(compact, code);
            self.common = is_common_name(compact);
            self.variant = variant_group(compact);
            self.buf.clear();
            for (i, part) in [&*norm, &*compact, &*phonetic].into_iter().enumerate() {
                self.buf.push_str(part);
                // Names are cut at NAME_MAX characters: a few hundred bytes at most.
                self.ends[i] = self.buf.len() as u16;
            }
            self.buf.push_str(code);
            true
        })
    }
}

/// Refills an optional name in place, keeping its buffers when there is a name.
fn fill_name(slot: &mut Option<Name>, raw: Option<&str>) {
    let mut name = slot.take().unwrap_or_else(Name::empty);
    *slot = match raw {
        Some(raw) if name.fill(raw) => Some(name),
        _ => None,
    };
}

/// Refills an optional text field in place: `make` writes the value into the buffer and says
/// whether there is one.
fn fill_text(
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
struct Dob {
    digits: [u8; 8],
}

impl Dob {
    fn parse(s: &str) -> Option<Dob> {
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
    fn num(&self, r: std::ops::Range<usize>) -> u32 {
        self.digits[r]
            .iter()
            .fold(0u32, |n, d| n * 10 + u32::from(d - b'0'))
    }
    fn year(&self) -> u32 {
        self.num(0..4)
    }
    fn month(&self) -> u32 {
        self.num(4..6)
    }
    fn day(&self) -> u32 {
        self.num(6..8)
    }
    /// 1 January (or a zero day or month) is what registrars write when only the year is known.
    fn is_estimated(&self) -> bool {
        (self.month() == 1 && self.day() == 1) || self.month() == 0 || self.day() == 0
    }
    fn text(&self) -> &str {
        std::str::from_utf8(&self.digits).unwrap_or("")
    }
}

/// One record ready to compare: everything derived from its fields, computed once.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PreparedRecord {
    first: Option<Name>,
    last: Option<Name>,
    dob: Option<Dob>,
    sex: Option<u8>,
    phone: Option<String>,
    national_id: Option<String>,
    address: Vec<String>,
    health_center: Option<String>,
    zone: Option<String>,
    /// Order key of the prepared content: comparisons put the smaller record first, so a score
    /// never depends on argument order (greedy address matching and crosswise names are not
    /// symmetric by themselves), and resolution does not depend on arrival order.
    order_key: u64,
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
    fn fill_json(&mut self, json: &str, argument: usize) -> Result<(), MpiError> {
        let mut raw = RawFields::default();
        scan_object(json, &mut raw).map_err(|reason| MpiError::NotAnObject { argument, reason })?;
        self.fill(raw.values.each_ref().map(|v| v.as_deref()));
        Ok(())
    }

    /// Prepares raw values in [`FIELDS`] order into `self`, every field replaced.
    fn fill(&mut self, values: [Option<&str>; 9]) {
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
    fn content_hash(&self) -> u64 {
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
}

/// Per-field outcome of one comparison.
#[derive(Debug, Clone, PartialEq)]
pub struct Explanation {
    /// The score in [0, 1].
    pub score: f64,
    /// `PRIOR + Σ weights`.
    pub log_odds: f64,
    /// One entry per field in [`FIELDS`] order: (field, level, weight).
    pub fields: [(&'static str, Level, f64); 9],
    /// True when first and last names agreed crosswise.
    pub names_swapped: bool,
}

impl Explanation {
    /// The explanation as a JSON object text.
    pub fn to_json(&self) -> String {
        let mut s = String::with_capacity(512);
        s.push_str(&format!(
            "{{\"score\":{},\"band\":\"{}\",\"log_odds\":{},\"prior\":{},\"names_swapped\":{},\"fields\":{{",
            round6(self.score),
            band(self.score),
            round6(self.log_odds),
            PRIOR,
            self.names_swapped
        ));
        for (i, (f, level, w)) in self.fields.iter().enumerate() {
            if i > 0 {
                s.push(',');
            }
            s.push_str(&format!(
                "\"{f}\":{{\"level\":\"{}\",\"weight\":{}}}",
                level.as_str(),
                w
            ));
        }
        s.push_str("}}");
        s
    }
}

fn round6(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

fn logistic(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// Scores two prepared records; result in [0, 1].
pub fn score_prepared(a: &PreparedRecord, b: &PreparedRecord) -> f64 {
    explain_prepared(a, b).score
}

/// The score of two prepared records when it can reach `floor`, `None` when it certainly cannot
/// (then [`score_prepared`] is below `floor`; when `Some`, the value is exactly its score).
///
/// Why: names are the costly comparisons (Jaro-Winkler, phonetic keys, compound parts, crosswise
/// retries) and most candidates a blocking key brings are other people. Their date of birth, sex,
/// phone, address and clinic are compared first (cheap); when even the best possible names cannot
/// lift the log-odds to `floor`, the names are never compared. The guard only ever lowers a score,
/// so the bound stays an upper bound. Resolution only needs to know which candidates reach the
/// review band; at 100,000 records most of its 3 million comparisons stop here.
pub fn score_prepared_from(a: &PreparedRecord, b: &PreparedRecord, floor: f64) -> Option<f64> {
    let (x, y) = ordered(a, b);
    let others: f64 = other_fields(x, y).iter().map(|f| f.2).sum();
    static NAME_WEIGHT_MAX: std::sync::LazyLock<f64> = std::sync::LazyLock::new(name_weight_max);
    let reachable = PRIOR + others + *NAME_WEIGHT_MAX;
    if floor > 0.0 && floor < 1.0 && reachable < (floor / (1.0 - floor)).ln() {
        return None;
    }
    Some(score_prepared(a, b))
}

/// The most the two name fields can add (their best levels, with or without a common name).
fn name_weight_max() -> f64 {
    let levels = [
        Level::Exact,
        Level::Close,
        Level::Phonetic,
        Level::Similar,
        Level::Disagree,
        Level::Missing,
    ];
    let best = |w: fn(Level, bool) -> f64| {
        levels
            .iter()
            .flat_map(|&l| [w(l, false), w(l, true)])
            .fold(0.0_f64, f64::max)
    };
    // Both names disagreeing weigh as one event; a common-parts first name weighs 0.
    (best(w_first) + best(w_last)).max(2.0 * NAMES_BOTH_DISAGREE_EACH)
}

/// The smaller record first (by content), so no score depends on argument order.
fn ordered<'r>(
    a: &'r PreparedRecord,
    b: &'r PreparedRecord,
) -> (&'r PreparedRecord, &'r PreparedRecord) {
    if a.order_key <= b.order_key {
        (a, b)
    } else {
        (b, a)
    }
}

/// Every field but the names: (field, level, weight), in [`FIELDS`] order.
fn other_fields(a: &PreparedRecord, b: &PreparedRecord) -> [(&'static str, Level, f64); 7] {
    let dob = compare_dob(a.dob.as_ref(), b.dob.as_ref());
    let sex = match (a.sex, b.sex) {
        (Some(x), Some(y)) if x == y => Level::Exact,
        (Some(_), Some(_)) => Level::Disagree,
        _ => Level::Missing,
    };
    let phone = compare_codes(a.phone.as_deref(), b.phone.as_deref());
    let nid = compare_codes(a.national_id.as_deref(), b.national_id.as_deref());
    let address = compare_address(&a.address, &b.address);
    let hc = compare_plain(a.health_center.as_deref(), b.health_center.as_deref());
    let zone = compare_plain(a.zone.as_deref(), b.zone.as_deref());
    let estimated = a.dob.is_some_and(|d| d.is_estimated());
    [
        ("date_of_birth", dob, w_dob(dob, estimated)),
        ("gender", sex, w_simple(sex, 0.5, -3.0)),
        ("phone_number", phone, w_code(phone, 5.0, 2.0, -1.5)),
        ("national_id", nid, w_code(nid, 9.0, 2.5, -3.0)),
        (
            "address",
            address,
            w_address(
                address,
                a.address.len().min(b.address.len()) >= FULL_ADDRESS_WORDS,
            ),
        ),
        ("health_center", hc, w_simple(hc, 0.7, -1.5)),
        ("zone", zone, w_simple(zone, 0.3, -1.5)),
    ]
}

/// Compares two prepared records field by field.
pub fn explain_prepared(a: &PreparedRecord, b: &PreparedRecord) -> Explanation {
    let (a, b) = ordered(a, b);
    let (first, last, swapped) = compare_names(a, b);
    let others = other_fields(a, b);
    let dob = others[0].1;
    let nid = others[3].1;
    let no_name_agrees = first == Level::Disagree && last == Level::Disagree;
    // The names each slot compared: crosswise when the names were swapped.
    let (fa, fb, la, lb) = if swapped {
        (&a.first, &b.last, &a.last, &b.first)
    } else {
        (&a.first, &b.first, &a.last, &b.last)
    };
    let fields = [
        (
            "first_name",
            first,
            if no_name_agrees {
                NAMES_BOTH_DISAGREE_EACH
            } else if first == Level::Similar && common_parts(&a.first) && common_parts(&b.first) {
                // "aminata khady" / "aminata fama": sharing one very common part is no evidence.
                0.0
            } else {
                w_first(first, common(fa, fb))
            },
        ),
        (
            "last_name",
            last,
            if no_name_agrees {
                NAMES_BOTH_DISAGREE_EACH
            } else {
                w_last(last, common(la, lb))
            },
        ),
        others[0],
        others[1],
        others[2],
        others[3],
        others[4],
        others[5],
        others[6],
    ];
    let mut log_odds = PRIOR + fields.iter().map(|f| f.2).sum::<f64>();
    // Guard: twins (same family name and date, another first name) and namesakes of another
    // generation (same names, another date) look like one person to an additive model, however
    // much the household data (address, phone, clinic) agrees. Such pairs never link on their own:
    // a person decides, unless the national IDs agree.
    // Siblings without a recorded date (another first name, same family name, same household)
    // are the twins case with nothing to tell them apart: guarded as well, now that a full
    // address weighs more (a replaced first name with the family name and a full address agreeing
    // and no date would otherwise link).
    // A family name missing on one side does not tell twins apart either ("Awa" and "Adama" born
    // the same day at one address, no family name written on one card).
    let twins = first == Level::Disagree
        && last != Level::Disagree
        && (dob >= Level::Close || dob == Level::Missing);
    let generations = first >= Level::Close
        && last >= Level::Close
        && dob <= Level::Similar
        && dob != Level::Missing;
    // Neither name agreeing (both present and different) is a third such case: only the date and
    // household data agree, which a person must confirm (the names weigh as one event, see
    // `NAMES_BOTH_DISAGREE_EACH`).
    if (twins || generations || no_name_agrees) && nid != Level::Exact {
        log_odds = log_odds.min(GUARD_CAP);
    }
    Explanation {
        score: logistic(log_odds),
        log_odds,
        fields,
        names_swapped: swapped,
    }
}

/// A name that disagrees: `ln(m/u)` with m ≈ 0.1 (a replaced, nick or other-language name in
/// about one true pair in ten, as the module doc says) and u ≈ 0.99: ln(0.1/0.99) = -2.3. It was
/// -2.5 (m ≈ 0.08), which left true pairs with one replaced name and an agreeing family name and
/// address (nothing else known) just under the review band: a new identity nobody looks at.
const NAME_DISAGREE: f64 = -2.3;

/// Both names disagree: weighed as ONE event, not two. A record filed under another person's
/// names (the caretaker's, a sibling's card, a name used at home instead of the civil one)
/// replaces first and family name together, so in true pairs the two disagreements are strongly
/// correlated and the independence assumption (2 × -2.3 = -4.6, m ≈ 1%) overstates the evidence:
/// m ≈ 3% of true pairs, u ≈ 0.97 of candidate non-matches, ln(0.03/0.97) ≈ -3.5, shared -1.8 per
/// name. Such a pair is never linked automatically (see the guard in [`explain_prepared`]): an
/// exact birth date and the same full address bring it to review, where a person decides.
const NAMES_BOTH_DISAGREE_EACH: f64 = -1.8;

fn w_first(l: Level, common: bool) -> f64 {
    match l {
        Level::Exact if common => 2.5,
        Level::Close | Level::Phonetic if common => 2.0,
        Level::Exact => 4.0,
        Level::Close => 3.0,
        Level::Phonetic => 2.5,
        Level::Similar => 1.0,
        Level::Disagree => NAME_DISAGREE,
        Level::Missing => 0.0,
    }
}

fn w_last(l: Level, common: bool) -> f64 {
    match l {
        Level::Exact if common => 3.0,
        Level::Close | Level::Phonetic if common => 2.5,
        Level::Exact => 5.0,
        Level::Close => 4.0,
        Level::Phonetic => 3.0,
        Level::Similar => 1.5,
        Level::Disagree => NAME_DISAGREE,
        Level::Missing => 0.0,
    }
}

/// True when the agreeing name is a common one (either side): its agreement is a likelier
/// coincidence. When names were swapped, each slot holds the two names that agree crosswise, so
/// each agreement weighs by its own name's frequency, as a straight one does.
///
/// Until now any common name among the four made both crosswise agreements weigh as common: an
/// exact swap of a rare given name and a common family name ("Théophile Niang" / "Niang
/// Théophile", same clinic, 1 January) scored 4.5 for its names against 7.0 straight and was a
/// second card on the simulator's 10k export. Two common names swapped ("Diallo Aminata",
/// "Mbaye Diop") still weigh as common: both of their names are.
fn common(a: &Option<Name>, b: &Option<Name>) -> bool {
    let is = |n: &Option<Name>| n.as_ref().is_some_and(|n| n.common);
    is(a) || is(b)
}

/// True when every part of a (compound) name is one of [`COMMON_NAMES`].
fn common_parts(n: &Option<Name>) -> bool {
    n.as_ref()
        .is_some_and(|n| n.norm().split(' ').all(is_common_name))
}

fn w_dob(l: Level, estimated: bool) -> f64 {
    match l {
        Level::Exact if estimated => 2.5,
        // 1 January with one year digit off ("1977" / "1987") is a decade apart, not a typo of a
        // known date: only the year carried information, and it disagrees in one digit.
        Level::Close if estimated => 1.0,
        Level::Exact => 6.0,
        Level::Close | Level::Phonetic => 3.5,
        Level::Similar => -1.0,
        Level::Disagree => -3.0,
        Level::Missing => 0.0,
    }
}

fn w_simple(l: Level, agree: f64, disagree: f64) -> f64 {
    match l {
        Level::Exact => agree,
        Level::Missing => 0.0,
        _ => disagree,
    }
}

fn w_code(l: Level, exact: f64, close: f64, disagree: f64) -> f64 {
    match l {
        Level::Exact => exact,
        Level::Close => close,
        Level::Missing => 0.0,
        _ => disagree,
    }
}

/// Distinct words both addresses must have for a *full* address (house number, street, quarter
/// or locality, town, postcode ...): see [`w_address`].
const FULL_ADDRESS_WORDS: usize = 5;

/// Address weights. A full address (both sides with at least [`FULL_ADDRESS_WORDS`] distinct
/// words) agreeing is near unique: u ≈ 1e-4 as the module doc says, m ≈ 0.9, ln(0.9/1e-4) ≈ 9.1,
/// so +9.0 exact and +7.5 close (a word or two mistyped, split or reordered). Shorter addresses
/// ("medina dakar", "12 rue 5") keep the former +8.0 / +6.5: many households share them.
/// Before, every address weighed +8.0 whatever its length, which undervalued the agreement of
/// two full addresses: true pairs whose names or date were replaced, with the rest agreeing, fell
/// under the review band.
fn w_address(l: Level, full: bool) -> f64 {
    match l {
        Level::Exact if full => 9.0,
        Level::Close if full => 7.5,
        Level::Exact => 8.0,
        Level::Close => 6.5,
        Level::Similar => 2.0,
        Level::Missing => 0.0,
        _ => -2.5,
    }
}

fn name_level(a: &Name, b: &Name) -> Level {
    if a.compact() == b.compact() {
        return Level::Exact;
    }
    if a.variant != 0 && a.variant == b.variant {
        return Level::Close;
    }
    let parts = a.norm().matches(' ').count();
    if parts > 0 && parts == b.norm().matches(' ').count() {
        return compound_level(a.norm(), b.norm());
    }
    let jw = jaro_winkler(a.norm(), b.norm());
    if jw >= 0.92 || short_name_typo(a.compact(), b.compact()) {
        return Level::Close;
    }
    // The coarse code only sees the first letters: "idrissa abdoulaye" and "idrissa" share it,
    // but a compound name against one of its parts is the weak case below, not a phonetic match.
    let single = parts == 0 && !b.norm().contains(' ');
    if (!a.phonetic().is_empty() && a.phonetic() == b.phonetic())
        || (single && a.code().len() >= 3 && a.code() == b.code() && jw >= 0.8)
    {
        return Level::Phonetic;
    }
    // Compound names: "mamadou lamine" and "lamine" may be one person, but the shared part is
    // common to many people, so this is only weak agreement.
    if a.norm().contains(' ') || b.norm().contains(' ') {
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

/// Two slips in one name: two neighbouring letters swapped and one letter dropped or doubled
/// ("sagna" / "sgaana", "niang" / "nagn", "awa" / "aaaw"). Jaro-Winkler puts these at 0.75-0.83,
/// under the similar band, so a true pair with the name typed twice wrong fell to "disagree"
/// (-2.3), and with a clinic change or a year off became a second card: 4 of the 18 true pairs
/// left as a new identity on the simulator's 10k export were such names. Only insertion,
/// deletion and one swap: a substituted letter is another family ("fall" / "sall", "diop" /
/// "diouf", "seck" / "sene" stay apart). ASCII only (names fold to it; others stay as they were).
fn swap_and_indel(a: &str, b: &str) -> bool {
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
fn short_name_typo(a: &str, b: &str) -> bool {
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
fn compound_level(a: &str, b: &str) -> Level {
    let part = |x: &str, y: &str| -> Level {
        if x == y {
            return Level::Exact;
        }
        let v = variant_group(x);
        if v != 0 && v == variant_group(y) {
            return Level::Close;
        }
        let jw = jaro_winkler(x, y);
        if jw >= 0.92 {
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

fn opt_level(a: Option<&Name>, b: Option<&Name>) -> Level {
    match (a, b) {
        (Some(a), Some(b)) => name_level(a, b),
        _ => Level::Missing,
    }
}

/// (first level, last level, swapped): crosswise agreement counts as two close names.
fn compare_names(a: &PreparedRecord, b: &PreparedRecord) -> (Level, Level, bool) {
    let first = opt_level(a.first.as_ref(), b.first.as_ref());
    let last = opt_level(a.last.as_ref(), b.last.as_ref());
    if first >= Level::Close && last >= Level::Close {
        return (first, last, false);
    }
    let x1 = opt_level(a.first.as_ref(), b.last.as_ref());
    let x2 = opt_level(a.last.as_ref(), b.first.as_ref());
    if x1 >= Level::Close && x2 >= Level::Close {
        return (Level::Close, Level::Close, true);
    }
    // Swapped and one of them also mistyped or replaced: the crosswise agreement still counts,
    // and so does the other crosswise pair's own level: "eliza nguyen" / "nguy en elixa" is a
    // swap with "eliza" / "elixa" similar, not disagreeing (as disagreeing, the pair looked like
    // twins, a replaced first name, and waited for a person).
    if first == Level::Disagree && last == Level::Disagree {
        if x1 >= Level::Close {
            return (Level::Close, x2.max(Level::Disagree), true);
        }
        if x2 >= Level::Close {
            return (x1.max(Level::Disagree), Level::Close, true);
        }
    }
    (first, last, false)
}

fn compare_dob(a: Option<&Dob>, b: Option<&Dob>) -> Level {
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
fn one_typo(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && (first_differences(a, b).1 == 1 || adjacent_swap(a, b))
}

/// Two strings of one length that differ only by two neighbouring characters swapped.
fn adjacent_swap(a: &[u8], b: &[u8]) -> bool {
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
fn first_differences(a: &[u8], b: &[u8]) -> ([usize; 3], usize) {
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
fn compare_codes(a: Option<&str>, b: Option<&str>) -> Level {
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

fn one_indel(a: &[u8], b: &[u8]) -> bool {
    let (s, l) = if a.len() < b.len() { (a, b) } else { (b, a) };
    if l.len() != s.len() + 1 {
        return false;
    }
    let p = s.iter().zip(l).take_while(|(x, y)| x == y).count();
    s[p..] == l[p + 1..]
}

fn compare_plain(a: Option<&str>, b: Option<&str>) -> Level {
    match (a, b) {
        (Some(a), Some(b)) if a == b => Level::Exact,
        (Some(_), Some(_)) => Level::Disagree,
        _ => Level::Missing,
    }
}

/// Token-set Dice similarity with fuzzy token matches (typos in street or suburb names, split
/// words) mapped to levels.
fn compare_address(a: &[String], b: &[String]) -> Level {
    if a.is_empty() || b.is_empty() {
        return Level::Missing;
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
                let jw = jaro_winkler(t, u);
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
    } else if letters_dice(a, b) >= 0.85 {
        // Split or merged words ("new town" / "newntown", "launcestonrstreet") defeat a token
        // comparison; the letters of the whole address, spaces aside, still agree.
        Level::Close
    } else if dice >= 0.5 {
        Level::Similar
    } else {
        Level::Disagree
    }
}

/// Dice coefficient of the character bigrams of two token lists joined without spaces. Two
/// addresses sharing only suburb, postcode and state stay near 0.6; a split or merged word in an
/// otherwise equal address stays above 0.9.
fn letters_dice(a: &[String], b: &[String]) -> f64 {
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

/// The distinct words of an address (at most 32), written over `out`'s strings.
fn address_tokens_into(s: &str, out: &mut Vec<String>) {
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

fn parse_sex(s: &str) -> Option<u8> {
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
fn phone_key(s: &str) -> Option<String> {
    let mut key = String::new();
    phone_key_into(s, &mut key).then_some(key)
}

fn phone_key_into(s: &str, key: &mut String) -> bool {
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
fn id_key(s: &str) -> Option<String> {
    let mut key = String::new();
    id_key_into(s, &mut key).then_some(key)
}

fn id_key_into(s: &str, key: &mut String) -> bool {
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

fn truncate_chars(s: &str, max: usize) -> &str {
    // A string of at most `max` bytes has at most `max` characters: most names stop here.
    if s.len() <= max {
        return s;
    }
    match s.char_indices().nth(max) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// A coarse Soundex-like code (first letter + up to 3 consonant classes) for blocking: tolerant of
/// vowel changes and doubled letters, stable whatever `kadi_phonetic` becomes.
fn coarse_code(compact: &str) -> String {
    let mut out = String::with_capacity(4);
    coarse_code_into(compact, &mut out);
    out
}

/// [`coarse_code`] written into `out` (replacing its content).
fn coarse_code_into(compact: &str, out: &mut String) {
    out.clear();
    let mut last = 0u8;
    for (i, c) in compact.chars().enumerate() {
        let class = match c {
            'b' | 'f' | 'p' | 'v' => b'1',
            'c' | 'g' | 'j' | 'k' | 'q' | 's' | 'x' | 'z' => b'2',
            'd' | 't' => b'3',
            'l' => b'4',
            'm' | 'n' => b'5',
            'r' => b'6',
            'h' | 'w' => continue,
            _ => b'0',
        };
        if i == 0 {
            out.push(c);
        } else if class != b'0' && class != last {
            out.push(class as char);
        }
        last = class;
        if out.len() >= 4 {
            break;
        }
    }
}

/// The blocking keys of a record: candidates for a record are the records sharing at least one.
///
/// - `ln:<last code>:<year>`: last name and birth year (first-name and day errors);
/// - `nd:<name code>:<date>`: first or last name and full date of birth (name errors, swaps);
/// - `lm:<name code>:<month-day>`: first or last name with month and day: year errors, also
///   when the names were swapped;
/// - `ns:<name code>:<year><day and month, sorted>`: first or last name with a date whose day and
///   month may have been swapped;
/// - `nm:<code>:<code>`: both names, sorted (date errors, swapped names), unless both are common;
/// - `ad:<first address token>:<code of the second>`: house number and street (name and date errors);
/// - `np:<name code>:<second-last address token>`: a name and the postcode or suburb;
/// - `dp:<date>:<second-last address token>`: the date and the postcode or suburb (both names off);
/// - `dh:<date>:<health center>`: same birth date at the same clinic (both names changed);
/// - `dw:<date>:<street code>` and `lw:<last code>:<street code>` (not for the most common family
///   names): the code of the address's first word of 3+ letters (the street, quarter or villa)
///   with the date or the family name. The `ad`, `np` and `dp` keys need the house number or the
///   postcode/suburb token to agree exactly, and a mistyped or missing number or postcode is a
///   common slip: on FEBRL2 without national ID, 10 of the 23 true pairs left apart were never
///   compared for that reason (both names or the date replaced besides);
/// - `ph:<last 8 digits>`, `id:<national id>`: direct identifiers.
pub fn block_keys(r: &PreparedRecord) -> Vec<String> {
    let mut keys = Vec::with_capacity(6);
    let first = r.first.as_ref().map(|n| n.code());
    let last = r.last.as_ref().map(|n| n.code());
    if let Some(d) = r.dob {
        let t = d.text();
        if let Some(l) = last {
            keys.push(format!("ln:{l}:{}", &t[..4]));
        }
        // An estimated date (1 January) says nothing about month and day: no month-day key,
        // which would otherwise be the largest block of all. Both names make one, so a second
        // registration with its names swapped AND its year mistyped still meets the first (its
        // family name is then in the first-name field): without this, such a pair of two common
        // names (no `nm` key) shared no key at all.
        if !d.is_estimated() {
            for n in [last, first].into_iter().flatten() {
                keys.push(format!("lm:{n}:{}", &t[4..]));
            }
        }
        // Both names with the full date: catches last-name errors and swapped names.
        for n in [first, last].into_iter().flatten() {
            keys.push(format!("nd:{n}:{t}"));
        }
        // Day and month swapped (DD/MM entered as MM/DD) is the commonest date slip, and the
        // year keys cannot be relied on to catch it: `ln` holds everyone of a common family name
        // born that year, which in a health programme's recent years passes the block cap (on
        // the simulator's 100,000 records, 27 of 31 true pairs never compared were such swaps).
        // The names with the year and the day and month in either order meet it in a block as
        // small as `nd`'s. Only dates whose swap is a date (day <= 12) make one.
        let (m, dd) = (&t[4..6], &t[6..8]);
        if m != dd && d.day() <= 12 && d.month() <= 12 && !d.is_estimated() {
            let (lo, hi) = if m < dd { (m, dd) } else { (dd, m) };
            for n in [first, last].into_iter().flatten() {
                keys.push(format!("ns:{n}:{}{lo}{hi}", &t[..4]));
            }
        }
    }
    // Names without a date: only when at least one name is not among the most common ones, or
    // "Fatou Diallo" alone would be one of the largest blocks of a Senegalese box.
    let both_common =
        r.first.as_ref().is_some_and(|n| n.common) && r.last.as_ref().is_some_and(|n| n.common);
    if let (Some(f), Some(l), false) = (first, last, both_common) {
        let (x, y) = if f <= l { (f, l) } else { (l, f) };
        keys.push(format!("nm:{x}:{y}"));
    }
    if let [number, street, ..] = r.address.as_slice() {
        keys.push(format!("ad:{number}:{}", coarse_code(street)));
    }
    // A name with the address's second-last token (the postcode or suburb in most addresses).
    if r.address.len() >= 2 {
        let place = &r.address[r.address.len() - 2];
        for n in [first, last].into_iter().flatten() {
            keys.push(format!("np:{n}:{place}"));
        }
        if let Some(d) = r.dob {
            keys.push(format!("dp:{}:{place}", d.text()));
        }
    }
    if let Some(word) = r
        .address
        .iter()
        .find(|t| t.chars().filter(|c| c.is_alphabetic()).count() >= 3)
    {
        let street = coarse_code(word);
        if let Some(d) = r.dob.filter(|d| !d.is_estimated()) {
            keys.push(format!("dw:{}:{street}", d.text()));
        }
        if let Some(l) = r.last.as_ref().filter(|n| !n.common) {
            keys.push(format!("lw:{}:{street}", l.code()));
        }
    }
    if let (Some(d), Some(hc)) = (
        r.dob.filter(|d| !d.is_estimated()),
        r.health_center.as_deref(),
    ) {
        keys.push(format!("dh:{}:{hc}", d.text()));
    }
    if let Some(p) = &r.phone {
        keys.push(format!("ph:{p}"));
    }
    if let Some(n) = &r.national_id {
        keys.push(format!("id:{n}"));
    }
    keys
}

/// Longest JSON text the prepared-record cache keeps.
const PREPARED_JSON_MAX: usize = 4096;
/// Records the cache holds before it is cleared.
const PREPARED_CACHE_MAX: usize = 4096;
/// Slots of the filter that remembers which records were prepared once.
const SEEN_SLOTS: usize = 4096;

/// Records prepared recently, by JSON text: SQL such as `mpi_score(a.j, b.j)` over a join passes
/// the same records many times, so each is prepared once. Bounded: cleared when full.
///
/// Keeping a record costs a copy of its text and a map insertion, wasted when every row brings
/// new records (pairs from a blocking query). So a record is kept only when reuse is likely: the
/// cache has been hitting lately (at least one lookup in nine), or this very text was prepared
/// before (a direct-mapped filter of text hashes remembers the recent ones).
struct PreparedCache {
    map: HashMap<Box<str>, Rc<PreparedRecord>, BuildHasherDefault<FastHasher>>,
    seen: Box<[u64]>,
    hits: u32,
    misses: u32,
    /// Records not kept, returned after their call to be refilled by the next ones.
    spare: [Option<Box<PreparedRecord>>; 2],
}

thread_local! {
    static PREPARED: RefCell<PreparedCache> = RefCell::new(PreparedCache {
        map: HashMap::default(),
        seen: vec![0; SEEN_SLOTS].into_boxed_slice(),
        hits: 0,
        misses: 0,
        spare: [None, None],
    });
}

/// A prepared record, shared with the cache or not kept. Boxed, so that handing a spare record
/// around moves a pointer, not the record.
enum Prepared {
    Shared(Rc<PreparedRecord>),
    Own(Box<PreparedRecord>),
}

impl Prepared {
    /// Gives a record that was not kept back to the spares, for the next call to refill.
    fn recycle(self) {
        if let Prepared::Own(p) = self {
            let _ = PREPARED.try_with(|cache| {
                if let Ok(mut cache) = cache.try_borrow_mut() {
                    if let Some(slot) = cache.spare.iter_mut().find(|s| s.is_none()) {
                        *slot = Some(p);
                    }
                }
            });
        }
    }
}

impl std::ops::Deref for Prepared {
    type Target = PreparedRecord;
    fn deref(&self) -> &PreparedRecord {
        match self {
            Prepared::Shared(p) => p,
            Prepared::Own(p) => p,
        }
    }
}

/// FxHash-style multiply-rotate hash over 8 bytes at a time, with a final mix so the low bits
/// (the map's bucket index) depend on every byte. SipHash's resistance to chosen collisions buys
/// nothing here (the texts are the box's own records, the map is small and cleared when full)
/// and cost as much as a tenth of preparing a record; no crate for fifteen lines.
#[derive(Default, Clone, Copy)]
struct FastHasher(u64);

impl FastHasher {
    const K: u64 = 0x517c_c1b7_2722_0a95;
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(Self::K);
    }
}

impl Hasher for FastHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        let mut word = [0u8; 8];
        word[..rest.len()].copy_from_slice(rest);
        // The length separates "ab" from "ab\0".
        self.add(u64::from_le_bytes(word) ^ ((rest.len() as u64) << 59));
    }
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }
    fn finish(&self) -> u64 {
        let h = self.0;
        (h ^ (h >> 32)).wrapping_mul(Self::K) ^ (h >> 29)
    }
}

fn prepared_cached(json: &str, argument: usize) -> Result<Prepared, MpiError> {
    if json.len() > PREPARED_JSON_MAX {
        return PreparedRecord::from_json(json, argument).map(|p| Prepared::Own(Box::new(p)));
    }
    // Look up, and decide whether a miss is worth keeping (see `PreparedCache`).
    let looked_up = PREPARED.try_with(|cache| {
        let mut cache = cache.try_borrow_mut().ok()?;
        if let Some(p) = cache.map.get(json) {
            let p = Rc::clone(p);
            cache.hits = cache.hits.saturating_add(1);
            return Some(Err(p));
        }
        cache.misses = cache.misses.saturating_add(1);
        if cache.hits.saturating_add(cache.misses) >= 1 << 16 {
            // Forget slowly: the hit rate follows the query being run.
            cache.hits /= 2;
            cache.misses /= 2;
        }
        let h = BuildHasherDefault::<FastHasher>::default().hash_one(json);
        let slot = &mut cache.seen[(h as usize) % SEEN_SLOTS];
        let seen_before = *slot == h;
        *slot = h;
        let keep = seen_before || cache.hits.saturating_mul(8) >= cache.misses;
        let spare = if keep {
            None
        } else {
            cache.spare.iter_mut().find_map(Option::take)
        };
        Some(Ok((keep, spare)))
    });
    let (keep, spare) = match looked_up {
        Ok(Some(Err(shared))) => return Ok(Prepared::Shared(shared)),
        Ok(Some(Ok(decided))) => decided,
        // The thread is exiting or the cache is busy: prepare without it.
        Ok(None) | Err(_) => (false, None),
    };
    if !keep {
        let mut p = spare.unwrap_or_default();
        // On an error the record is dropped: the next call allocates a fresh spare.
        p.fill_json(json, argument)?;
        return Ok(Prepared::Own(p));
    }
    let p = PreparedRecord::from_json(json, argument)?;
    let p = Rc::new(p);
    let _ = PREPARED.try_with(|cache| {
        if let Ok(mut cache) = cache.try_borrow_mut() {
            if cache.map.len() >= PREPARED_CACHE_MAX {
                cache.map.clear();
            }
            cache.map.insert(json.into(), Rc::clone(&p));
        }
    });
    Ok(Prepared::Shared(p))
}

/// Scores two records given as JSON text; result in [0, 1].
pub fn score_json(a: &str, b: &str) -> Result<f64, MpiError> {
    let (a, b) = (prepared_cached(a, 1)?, prepared_cached(b, 2)?);
    let score = score_prepared(&a, &b);
    a.recycle();
    b.recycle();
    Ok(score)
}

/// Per-field contributions as JSON text.
pub fn explain_json(a: &str, b: &str) -> Result<String, MpiError> {
    let (a, b) = (
        PreparedRecord::from_json(a, 1)?,
        PreparedRecord::from_json(b, 2)?,
    );
    Ok(explain_prepared(&a, &b).to_json())
}

/// 'link', 'review' or 'new' for a score.
pub fn band(score: f64) -> &'static str {
    if score >= LINK {
        "link"
    } else if score >= REVIEW {
        "review"
    } else {
        "new"
    }
}

/// Blocking keys of a record, as a JSON array text.
pub fn block_keys_json(record: &str) -> Result<String, MpiError> {
    let r = PreparedRecord::from_json(record, 1)?;
    let keys = block_keys(&r);
    let mut s = String::from("[");
    for (i, k) in keys.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        push_json_string(&mut s, k);
    }
    s.push(']');
    Ok(s)
}

fn push_json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

// ---------------------------------------------------------------------------------------------
// A small JSON object scanner: the SQL function parses two objects per call, so it keeps the
// compared string values (borrowed when they hold no escapes) and validates the rest without
// building a tree. Nested objects/arrays are validated by serde_json (rare in card records).

#[derive(Default)]
struct RawFields<'a> {
    values: [Option<Cow<'a, str>>; 9],
}

struct Scanner<'a> {
    s: &'a str,
    b: &'a [u8],
    i: usize,
}

impl<'a> Scanner<'a> {
    fn ws(&mut self) {
        while self.i < self.b.len() && matches!(self.b[self.i], b' ' | b'\t' | b'\n' | b'\r') {
            self.i += 1;
        }
    }
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }
    fn expect(&mut self, c: u8) -> Result<(), String> {
        self.ws();
        if self.peek() == Some(c) {
            self.i += 1;
            Ok(())
        } else {
            Err(format!("expected '{}' at byte {}", c as char, self.i))
        }
    }
    fn string(&mut self) -> Result<Cow<'a, str>, String> {
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
    fn escaped(&mut self, start: usize) -> Result<Cow<'a, str>, String> {
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
    fn hex4(&mut self) -> Result<u32, String> {
        let h = self.s.get(self.i..self.i + 4).ok_or("short \\u escape")?;
        self.i += 4;
        u32::from_str_radix(h, 16).map_err(|_| "invalid \\u escape".to_string())
    }
    /// A scalar value: Some(text) for strings and numbers, None for true/false/null.
    /// Err(None) asks the caller to validate with serde_json (nested value).
    fn scalar(&mut self) -> Result<Option<Cow<'a, str>>, Option<String>> {
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
    fn literal(&mut self, word: &str) -> Result<(), Option<String>> {
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
fn plain_run(b: &[u8]) -> usize {
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

fn utf8_len(first: u8) -> usize {
    match first {
        0xF0..=0xFF => 4,
        0xE0..=0xEF => 3,
        0xC0..=0xDF => 2,
        _ => 1,
    }
}

fn scan_object<'a>(s: &'a str, out: &mut RawFields<'a>) -> Result<(), String> {
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

fn scan_fast<'a>(sc: &mut Scanner<'a>, out: &mut RawFields<'a>) -> Result<(), Option<String>> {
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

fn scan_slow<'a>(s: &'a str, out: &mut RawFields<'a>) -> Result<(), String> {
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

#[cfg(test)]
mod preparation_paths {
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coarse_code_is_soundex_like() {
        assert_eq!(coarse_code("diallo"), "d4");
        assert_eq!(coarse_code("ndiaye"), "n3");
        assert_eq!(coarse_code("robert"), "r163");
    }

    #[test]
    fn scanner_reads_escapes_and_numbers() {
        let r = PreparedRecord::from_json(
            r#"{"first_name":"A\u00efcha","national_id":12345,"x":[1,{"y":2}]}"#,
            1,
        )
        .unwrap();
        assert_eq!(r.first.as_ref().unwrap().norm(), "aicha");
        assert_eq!(r.national_id(), Some("12345"));
    }
}
