//! Blocking keys: which records are compared at all.
use super::*;

/// A blocking key from its parts, concatenated: `format!` spent ~900 instructions a key in its
/// formatting machinery, two thirds of keying a record (a dozen keys each, for every record a
/// pass prepares); this is one allocation of the exact size and the copies.
macro_rules! key {
    ($($part:expr),+ $(,)?) => {
        concat_key(&[$(AsRef::<str>::as_ref(&$part)),+])
    };
}

fn concat_key(parts: &[&str]) -> String {
    let mut key = String::with_capacity(parts.iter().map(|p| p.len()).sum());
    for part in parts {
        key.push_str(part);
    }
    key
}

/// A coarse Soundex-like code (first letter + up to 3 consonant classes) for blocking: tolerant of
/// vowel changes and doubled letters, stable whatever `kadi_phonetic` becomes.
pub(super) fn coarse_code(compact: &str) -> String {
    let mut out = String::with_capacity(4);
    coarse_code_into(compact, &mut out);
    out
}

/// [`coarse_code`] written into `out` (replacing its content).
pub(super) fn coarse_code_into(compact: &str, out: &mut String) {
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
/// - `nz:<code>:<code>:<zone>`: two common names, sorted, within their district (a missing or
///   misread date with two common names);
/// - `ad:<first address token>:<code of the second>`: house number and street (name and date errors);
/// - `np:<name code>:<second-last address token>`: a name and the postcode or suburb;
/// - `dp:<date>:<second-last address token>`: the date and the postcode or suburb (both names off);
/// - `dz:<date>:<zone>`: the date within the district (both names misread, another clinic), or
///   without a district `dh:<date>:<health center>`, the date at the same clinic;
/// - `hs:<house number>:<locality>`: house number and the word before the postcode (a street
///   rewritten and a postcode mistyped; see [`house_and_locality_key`]);
/// - `dw:<date>:<street code>` and `lw:<last code>:<street code>` (not for the most common family
///   names): the code of the address's first word of 3+ letters (the street, quarter or villa)
///   with the date or the family name, for a mistyped or missing house number or postcode that
///   the `ad`, `np` and `dp` keys need exactly (measured effect: `docs/mpi.md`);
/// - `sl:<street code>:<locality>`, `lh:<last code>:<house number>`, `dl:<date>:<region>`,
///   `ls:<last code>:<region>`: for full addresses with a postcode, the street in its locality,
///   the family name with the house number, the date in the region and (no date or no given
///   name) the family name in the region: duplicates differing in both names, or a name and
///   the date (see [`full_address_keys`]);
/// - `im:<initials>:<month and day>:<zone>`: both names' initials with the birth month and day,
///   each pair sorted (a slip in each name with a mistyped year or swapped day and month; see
///   [`initials_key`]);
/// - `ph:<last 8 digits>`, `id:<national id>`: direct identifiers;
/// - `ww:` / `wd:<OCR-tolerant name code>:<zone>:<sex>`: the weak-date pass, for records without
///   a birth date or with an estimated one (see [`weak_date_keys`] and [`lookup_keys`]).
pub fn block_keys(r: &PreparedRecord) -> Vec<String> {
    let mut keys = Vec::with_capacity(6);
    let first = r.first.as_ref().map(|n| n.code());
    let last = r.last.as_ref().map(|n| n.code());
    if let Some(d) = r.dob {
        let t = d.text();
        if let Some(l) = last {
            keys.push(key!("ln:", l, ":", &t[..4]));
        }
        // An estimated date (1 January) says nothing about month and day: no month-day key,
        // which would otherwise be the largest block of all. Both names make one, so a second
        // registration with its names swapped AND its year mistyped still meets the first (its
        // family name is then in the first-name field): without this, such a pair of two common
        // names (no `nm` key) shared no key at all.
        if !d.is_estimated() {
            for n in [last, first].into_iter().flatten() {
                keys.push(key!("lm:", n, ":", &t[4..]));
            }
        }
        // Both names with the full date: catches last-name errors and swapped names.
        for n in [first, last].into_iter().flatten() {
            keys.push(key!("nd:", n, ":", t));
        }
        // Day and month swapped (DD/MM entered as MM/DD) is the commonest date slip, and the
        // year keys cannot be relied on to catch it: `ln` holds everyone of a common family name
        // born that year, which in a health programme's recent years passes the block cap
        // (measured: `docs/mpi.md`).
        // The names with the year and the day and month in either order meet it in a block as
        // small as `nd`'s. Only dates whose swap is a date (day <= 12) make one.
        let (m, dd) = (&t[4..6], &t[6..8]);
        if m != dd && d.day() <= 12 && d.month() <= 12 && !d.is_estimated() {
            let (lo, hi) = if m < dd { (m, dd) } else { (dd, m) };
            for n in [first, last].into_iter().flatten() {
                keys.push(key!("ns:", n, ":", &t[..4], lo, hi));
            }
        }
        if let Some(k) = initials_key(r, &t[4..]) {
            keys.push(k);
        }
    }
    // Names without a date: only when at least one name is not among the most common ones, or
    // "Fatou Diallo" alone would be one of the largest blocks of a Senegalese box.
    let both_common =
        r.first.as_ref().is_some_and(|n| n.common) && r.last.as_ref().is_some_and(|n| n.common);
    if let (Some(f), Some(l), false) = (first, last, both_common) {
        let (x, y) = if f <= l { (f, l) } else { (l, f) };
        keys.push(key!("nm:", x, ":", y));
    }
    // Two common names without a date still meet within their district: a re-registration
    // whose date was left out or misread (and whose phone is missing) shares no other key, and
    // "Fatou Diallo" of one district is a block a clinic box can read.
    if let (Some(f), Some(l), true, Some(z)) = (first, last, both_common, r.zone.as_deref()) {
        let (x, y) = if f <= l { (f, l) } else { (l, f) };
        keys.push(key!("nz:", x, ":", y, ":", z));
    }
    if let [number, street, ..] = r.address.as_slice() {
        keys.push(key!("ad:", number, ":", coarse_code(street)));
    }
    // A name with the address's second-last token (the postcode or suburb in most addresses).
    if r.address.len() >= 2 {
        let place = &r.address[r.address.len() - 2];
        for n in [first, last].into_iter().flatten() {
            keys.push(key!("np:", n, ":", place));
        }
        if let Some(d) = r.dob {
            keys.push(key!("dp:", d.text(), ":", place));
        }
    }
    if let Some(k) = house_and_locality_key(&r.address) {
        keys.push(k);
    }
    full_address_keys(r, &mut keys);
    if let Some(word) = r
        .address
        .iter()
        .find(|t| t.chars().filter(|c| c.is_alphabetic()).count() >= 3)
    {
        let street = coarse_code(word);
        if let Some(d) = r.dob.filter(|d| !d.is_estimated()) {
            keys.push(key!("dw:", d.text(), ":", street));
        }
        if let Some(l) = r.last.as_ref().filter(|n| !n.common) {
            keys.push(key!("lw:", l.code(), ":", street));
        }
    }
    // Both names misread (OCR: "Ournou Dlouf" for "Oumou Diouf") leave no name key; the birth
    // date within the district is still a small block (a district's records spread over decades
    // of dates) and meets it, also when the two registrations were at different clinics. The
    // clinic's `dh` block lies within it, so `dh` is only made without a district.
    if let Some(d) = r.dob.filter(|d| !d.is_estimated()) {
        match (r.zone.as_deref(), r.health_center.as_deref()) {
            (Some(z), _) => keys.push(key!("dz:", d.text(), ":", z)),
            (None, Some(hc)) => keys.push(key!("dh:", d.text(), ":", hc)),
            (None, None) => {}
        }
    }
    if let Some(p) = &r.phone {
        keys.push(key!("ph:", p));
    }
    if let Some(n) = &r.national_id {
        keys.push(key!("id:", n));
    }
    weak_date_keys(r, Side::Filed, &mut keys);
    keys
}

/// `im:<initials>:<month and day>:<zone>`: the initials of both names (sorted, so a swap keeps
/// them) with the birth month and day (sorted too, so a day/month swap keeps them), within the
/// district when there is one. For a second registration with a slip in *each* name and a
/// mistyped year or swapped day and month ("Pape Sagna" 1998 / "Ppae Sanga" 1997, "Joseph
/// Fall" 09-03 / "Jsoeph Flal" 03-09): every name key needs one name's code, every date key the
/// full date or the year, so such a pair shared none (the only true pairs blocking missed on the
/// simulator's tuning seeds 101-105 without national IDs; `docs/mpi.md`). Slips rarely touch a
/// name's first letter, and two initials with a month and day are a block as small as a full
/// date's. Not for estimated dates (1 January) or a name missing.
fn initials_key(r: &PreparedRecord, month_day: &str) -> Option<String> {
    if r.dob.is_some_and(|d| d.is_estimated()) {
        return None;
    }
    let (m, d) = month_day.split_at(2);
    let (lo, hi) = if m <= d { (m, d) } else { (d, m) };
    let a = r.first.as_ref()?.compact().chars().next()?;
    let b = r.last.as_ref()?.compact().chars().next()?;
    let (a, b) = if a <= b { (a, b) } else { (b, a) };
    let zone = r.zone.as_deref().unwrap_or("");
    Some(format!("im:{a}{b}:{lo}{hi}:{zone}"))
}

/// `hs:<house number>:<locality>`: the house number with the word just before the postcode
/// (the suburb or town), for an address whose street was rewritten or reordered and whose
/// postcode was mistyped ("26 sollya place erina ardns galston 6285" / "26 griffin place erina
/// gardns galston 6258"): `ad` needs the street's first word, `np` and `dp` the postcode. On
/// FEBRL1 (tuning) 10 true pairs shared one kind of key only, 8 of them with such an address;
/// this gives those 8 a second. Only for addresses that start with a number and carry a postcode
/// after a word (a number later than the first token); short addresses ("73 santhiaba") have
/// `ad` already.
fn house_and_locality_key(address: &[String]) -> Option<String> {
    let number = address.first()?;
    if !number.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let is_number = |t: &String| t.bytes().all(|b| b.is_ascii_digit());
    let postcode = address.iter().skip(2).rposition(is_number)? + 2;
    let locality = &address[postcode - 1];
    if is_number(locality) {
        return None;
    }
    Some(key!("hs:", number, ":", locality))
}

/// `sl:<street code>:<locality>`, `lh:<family name code>:<house number>`, `dl:<date>:<region>`
/// and `ls:<family name code>:<region>`: for a full address ending in a postcode (and a region:
/// street ... locality, postcode, state: "84 nicklin crescent bayswater 2144 nsw"), the street
/// within its locality (house number and postcode left out), the family name with the house
/// number, the date within the region, and for a record without a date or a given name the
/// family name within the region.
/// Duplicates of one person registered several times carry each registration's errors, so two
/// of them can differ in both names, or in a name and the date, besides a rewritten house
/// number or postcode: every name key needs one name's code, every date key the full date with
/// a name, a postcode or a district, and such a pair shared no key. The three blocks are small
/// where full addresses are written (a street of one suburb; a family name or a birth date
/// among a region's records); short addresses ("36 Sor", the quarter its own `ad` block) and
/// addresses without a postcode make none (`docs/mpi.md`, Full-address keys).
fn full_address_keys(r: &PreparedRecord, keys: &mut Vec<String>) {
    let address = &r.address;
    if address.len() < FULL_ADDRESS_WORDS {
        return;
    }
    let is_number = |t: &String| t.bytes().all(|b| b.is_ascii_digit());
    let Some(postcode) = address.iter().skip(2).rposition(is_number).map(|p| p + 2) else {
        return;
    };
    let locality = &address[postcode - 1];
    let street = address
        .iter()
        .find(|t| t.chars().filter(|c| c.is_alphabetic()).count() >= 3);
    if let (Some(street), false) = (street, is_number(locality)) {
        keys.push(key!("sl:", coarse_code(street), ":", locality));
    }
    if let (Some(l), true) = (&r.last, is_number(&address[0])) {
        keys.push(key!("lh:", l.code(), ":", address[0]));
    }
    let Some(region) = address.get(postcode + 1).filter(|t| !is_number(t)) else {
        return;
    };
    let dob = r.dob.filter(|d| !d.is_estimated());
    if let Some(d) = dob {
        keys.push(key!("dl:", d.text(), ":", region));
    }
    // Without a date or a given name, the family name is all a name key has left: within the
    // region. Only then: a region's family-name block is the largest of these.
    if let (Some(l), true) = (&r.last, dob.is_none() || r.first.is_none()) {
        keys.push(key!("ls:", l.code(), ":", region));
    }
}

/// The keys a record's candidates are read under: its own [`block_keys`] and, across the
/// weak-date pass (see [`weak_date_keys`]), the keys of the other side. Always a superset of
/// [`block_keys`] but for the dated records' `wd` keys, which only weak-date records read.
pub fn lookup_keys(r: &PreparedRecord) -> Vec<String> {
    let mut keys = block_keys(r);
    keys.retain(|k| compared_among_themselves(k));
    keys.extend(lookup_keys_also(r));
    keys
}

/// The keys of [`lookup_keys`] that are not among the record's [`block_keys`] (one or two): a
/// resolution pass keeps these beside the filed keys instead of a second full list.
pub fn lookup_keys_also(r: &PreparedRecord) -> Vec<String> {
    let mut keys = Vec::with_capacity(2);
    weak_date_keys(r, Side::ReadAlso, &mut keys);
    keys
}

/// False for keys whose records are never compared with each other, only with records that read
/// the key without being filed under it (`wd`, below): training's blocked pairs leave them out.
pub fn compared_among_themselves(key: &str) -> bool {
    !key.starts_with("wd:")
}

/// Which list [`weak_date_keys`] writes.
#[derive(Clone, Copy, PartialEq)]
enum Side {
    /// The keys a record is filed under.
    Filed,
    /// The keys its candidates are read under besides those it is filed under.
    ReadAlso,
}

/// The weak-date pass. A record without a birth date, or with an estimated one (1 January),
/// has no date keys a misread name can fall back on: with a name garbled by OCR ("Tbéophile",
/// "Gomls", "Drarné") or a nickname, it met no earlier registration (on the simulator's `ocr`
/// model, every true pair blocking missed had such a record on one side; `docs/mpi.md`).
/// Such records ("weak") meet every record whose given or family name has the same
/// OCR-tolerant code ([`ocr_code`]) in the same district with the same sex, one name being
/// enough: `ww:` files weak records (both names), `wd:` dated ones (the family name). Weak records read both, dated ones only
/// `ww:`: two dated records never meet here (they have their date keys), so the pairs added
/// are those with a weak side, a few per cent of records, and a common name's crowded `wd:`
/// block costs only the weak records reading it, each its first `block_cap`.
fn weak_date_keys(r: &PreparedRecord, side: Side, keys: &mut Vec<String>) {
    let Some(zone) = r.zone.as_deref() else {
        return;
    };
    let weak = r.dob.is_none_or(|d| d.is_estimated());
    let sex = match r.sex {
        Some(b'M') => "m",
        Some(b'F') => "f",
        _ => "u",
    };
    let filed_dated = side == Side::Filed && !weak;
    let mut codes: Vec<String> = [&r.first, &r.last]
        .into_iter()
        .flatten()
        // A dated record is filed under its family name only (its given name when it has none):
        // a weak record reads both its names, so a swap or a garbled given name is still met.
        // One key a record fewer than both names (a third of the pass's added pairs) for 2 of
        // 199 pairs fewer at 50,000 tuning records.
        .skip(usize::from(
            filed_dated && r.last.is_some() && r.first.is_some(),
        ))
        .map(|n| ocr_code(n.compact()))
        .collect();
    codes.dedup();
    let family = match (side, weak) {
        (Side::Filed, true) | (Side::ReadAlso, false) => "ww",
        (Side::Filed, false) | (Side::ReadAlso, true) => "wd",
    };
    for c in &codes {
        keys.push(key!(family, ":", c, ":", zone, ":", sex));
    }
}

/// [`coarse_code`] of a name with the letters OCR confuses folded together ("rn" / "m", "ri" /
/// "n", "cl" / "d", "vv" / "w"; i, l, j and 1; b and h; u and v; c and e; o and 0; s and 5), so
/// that a name read with such a slip keeps its code: "gomls" and "gomis", "drarne" and "drame",
/// "covmba" and "coumba", "tbeophile" and "theophile". Coarser than [`coarse_code`] (b, c, l and
/// v drop out), so only used where a date or district narrows the block.
pub(super) fn ocr_code(compact: &str) -> String {
    // One pass, no intermediate strings: every record makes two of these.
    let mut folded = String::with_capacity(compact.len());
    let mut chars = compact.chars().peekable();
    while let Some(c) = chars.next() {
        let next = chars.peek().copied();
        let c = match (c, next) {
            ('r', Some('n')) => {
                chars.next();
                'm'
            }
            ('r', Some('i')) => {
                chars.next();
                'n'
            }
            ('c', Some('l')) => {
                chars.next();
                'd'
            }
            ('v', Some('v')) => {
                chars.next();
                'w'
            }
            ('n', Some('n')) => {
                chars.next();
                'n'
            }
            ('l' | '1' | 'j', _) => 'i',
            ('b', _) => 'h',
            ('v', _) => 'u',
            ('c', _) => 'e',
            ('0', _) => 'o',
            ('5', _) => 's',
            (c, _) => c,
        };
        folded.push(c);
    }
    let mut out = String::with_capacity(4);
    coarse_code_into(&folded, &mut out);
    out
}
