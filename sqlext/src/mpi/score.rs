//! The comparison of two prepared records: field levels and weights summed into a score, with
//! the guard for twins and namesakes. See `docs/mpi.md`.
use super::*;

/// Per-field outcome of one comparison.
#[derive(Debug, Clone, PartialEq)]
pub struct Explanation {
    /// The score in [0, 1].
    pub score: f64,
    /// `prior + Σ weights`, capped by the guard and vetoes.
    pub log_odds: f64,
    /// One entry per field in [`FIELDS`] order: (field, level, weight).
    pub fields: [(&'static str, Level, f64); 9],
    /// True when first and last names agreed crosswise.
    pub names_swapped: bool,
    /// Why the pair is kept out of the link band, in plain words ("birth dates 33 years apart"),
    /// several joined by "; "; `None` when nothing vetoes it (`docs/mpi.md`, Household and veto).
    pub veto: Option<String>,
    /// The household-shared fields' positive weight before and after the household cap
    /// ([`Params::household_cap`]).
    pub household: (f64, f64),
    /// The prior log-odds the score started from.
    pub prior: f64,
    /// True when a personal field contradicts (another sex, first name, national ID, birth
    /// dates years apart, or another first name and another birth date): not a guard's doubt.
    pub contradicted: bool,
}

impl Explanation {
    /// True when the pair agrees on at most one personal field (a first name, a birth date or
    /// a national ID at least `phonetic`) while another contradicts it. Between two members of one
    /// household that is what twins (one date, two names) and namesakes of two generations (one
    /// name, two dates) look like: all else they share is the household's. The resolver asks it
    /// of pairs whose phone or address a third person holds (`docs/mpi.md`, Household and veto).
    pub fn one_personal_agreement_against_contradiction(&self) -> bool {
        let agrees = |i: usize| self.fields[i].1 >= Level::Phonetic;
        let personal = [0, 2, 5].into_iter().filter(|&i| agrees(i)).count();
        self.contradicted && personal <= 1
    }

    /// The explanation as a JSON object text, ending with the reasons in plain words (`reasons.rs`).
    pub fn to_json(&self) -> String {
        let mut s = String::with_capacity(512);
        s.push_str(&format!(
            "{{\"score\":{},\"band\":\"{}\",\"log_odds\":{},\"prior\":{},\"names_swapped\":{},",
            round6(self.score),
            band(self.score),
            round6(self.log_odds),
            round6(self.prior),
            self.names_swapped
        ));
        match &self.veto {
            // Reasons are fixed ASCII phrases and numbers: no escaping needed.
            Some(v) => s.push_str(&format!("\"veto\":\"{v}\",")),
            None => s.push_str("\"veto\":null,"),
        }
        s.push_str(&format!(
            "\"household\":{{\"weight\":{},\"counted\":{}}},\"fields\":{{",
            round6(self.household.0),
            round6(self.household.1)
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
        s.push_str("},\"reasons\":");
        let levels = self.fields.map(|(f, l, _)| (f, l));
        let words = reasons(&levels, self.names_swapped, self.veto.as_deref());
        // A struct of strings always serialises.
        s.push_str(&serde_json::to_string(&words).unwrap_or_else(|_| "null".to_string()));
        s.push('}');
        s
    }
}

pub(super) fn round6(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

pub(super) fn logistic(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// Scores two prepared records with the a-priori parameters; result in [0, 1].
pub fn score_prepared(a: &PreparedRecord, b: &PreparedRecord) -> f64 {
    explain_prepared(a, b).score
}

/// Scores two prepared records with the given parameters; result in [0, 1].
pub fn score_prepared_with(p: &Params, a: &PreparedRecord, b: &PreparedRecord) -> f64 {
    explain_prepared_with(p, a, b).score
}

/// The score of two prepared records when it can reach `floor`, `None` when it certainly cannot
/// (then [`score_prepared`] is below `floor`; when `Some`, the value is exactly its score).
///
/// Why: names are the costly comparisons (Jaro-Winkler, phonetic keys, compound parts, crosswise
/// retries) and most candidates a blocking key brings are other people. Their date of birth, sex,
/// phone, address and clinic are compared first (cheap); when even the best possible names cannot
/// lift the log-odds to `floor`, the names are never compared. The guard only ever lowers a score,
/// so the bound stays an upper bound. Resolution only needs to know which candidates reach the
/// review band, and most of its comparisons stop here (`docs/mpi.md`, Speed).
pub fn score_prepared_from(a: &PreparedRecord, b: &PreparedRecord, floor: f64) -> Option<f64> {
    score_prepared_from_with(default_params(), a, b, floor)
}

/// [`score_prepared_from`] with the given parameters.
pub fn score_prepared_from_with(
    p: &Params,
    a: &PreparedRecord,
    b: &PreparedRecord,
    floor: f64,
) -> Option<f64> {
    let (x, y) = ordered(a, b);
    let fields = other_fields(p, x, y);
    let others: f64 = fields.iter().map(|f| f.2).sum();
    let reachable = p.prior + others + p.name_weight_max();
    // A pair whose names are all there is to go on may be lifted into review by its names.
    let lifted = floor <= logistic(NAMES_ONLY_FLOOR) && names_only(&fields);
    if floor > 0.0 && floor < 1.0 && reachable < (floor / (1.0 - floor)).ln() && !lifted {
        return None;
    }
    Some(score_prepared_with(p, a, b))
}

/// The smaller record first (by content), so no score depends on argument order.
pub(super) fn ordered<'r>(
    a: &'r PreparedRecord,
    b: &'r PreparedRecord,
) -> (&'r PreparedRecord, &'r PreparedRecord) {
    if a.order_key <= b.order_key {
        (a, b)
    } else {
        (b, a)
    }
}

/// Every field but the names: (field, level, slot), in [`FIELDS`] order.
pub(super) fn other_levels(
    a: &PreparedRecord,
    b: &PreparedRecord,
) -> [(&'static str, Level, Option<Slot>); 7] {
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
    let full = a.address.len().min(b.address.len()) >= FULL_ADDRESS_WORDS;
    use Slot::*;
    // The weights and the reason for each: `docs/mpi.md`, The weight table.
    [
        ("date_of_birth", dob, dob_slot(dob, estimated)),
        ("gender", sex, simple_slot(sex, SexExact, SexDisagree)),
        (
            "phone_number",
            phone,
            code_slot(phone, PhoneExact, PhoneClose, PhoneDisagree),
        ),
        (
            "national_id",
            nid,
            code_slot(nid, NidExact, NidClose, NidDisagree),
        ),
        ("address", address, address_slot(address, full)),
        (
            "health_center",
            hc,
            simple_slot(hc, ClinicExact, ClinicDisagree),
        ),
        // The district is implied by the clinic: it adds evidence only when the clinics do not
        // agree (counting both double-counts one place; `docs/mpi.md`, Learned parameters).
        (
            "zone",
            zone,
            if hc == Level::Exact {
                None
            } else {
                simple_slot(zone, ZoneExact, ZoneDisagree)
            },
        ),
    ]
}

/// Every field but the names: (field, level, weight), in [`FIELDS`] order. Exact phones and
/// addresses weigh by how many records share them when the parameters carry term frequencies.
pub(super) fn other_fields(
    p: &Params,
    a: &PreparedRecord,
    b: &PreparedRecord,
) -> [(&'static str, Level, f64); 7] {
    other_levels(a, b).map(|(field, level, slot)| {
        let mut w = slot.map_or(0.0, |s| p.w(s));
        if p.tf.is_some() {
            match slot {
                Some(Slot::PhoneExact) => {
                    w += p.tf_adjust(2, 0, a.phone.as_deref().unwrap_or(""));
                }
                Some(s @ (Slot::AddressExact | Slot::AddressExactFull)) => {
                    let split = usize::from(s == Slot::AddressExactFull);
                    w += p.tf_adjust(3, split, &address_key(&a.address));
                }
                _ => {}
            }
        }
        (field, level, w)
    })
}

/// The term-frequency key of an address: its distinct words, sorted (an exact agreement is the
/// same word set in any order).
pub fn address_key(words: &[String]) -> String {
    let mut w: Vec<&str> = words.iter().map(String::as_str).collect();
    w.sort_unstable();
    w.join(" ")
}

/// The levels and slots of both names: (first level, last level, swapped, first slot, last slot).
/// Both names disagreeing weigh as one event ([`Slot::NamesBothDisagree`] each).
pub(super) fn name_slots(
    a: &PreparedRecord,
    b: &PreparedRecord,
) -> (Level, Level, NamePairs, Option<Slot>, Option<Slot>) {
    name_slots_from(a, b, compare_names(a, b))
}

/// [`name_slots`] from the names' levels already compared ([`compare_names`] or
/// [`super::compare::compare_names_by`]).
pub(super) fn name_slots_from(
    a: &PreparedRecord,
    b: &PreparedRecord,
    (first, last, pairs): (Level, Level, NamePairs),
) -> (Level, Level, NamePairs, Option<Slot>, Option<Slot>) {
    if first == Level::Disagree && last == Level::Disagree {
        let s = Some(Slot::NamesBothDisagree);
        return (first, last, pairs, s, s);
    }
    let (fa, fb, la, lb) = names_compared(a, b, pairs);
    (
        first,
        last,
        pairs,
        name_slot(true, first, common(fa, fb)),
        name_slot(false, last, common(la, lb)),
    )
}

/// The names each slot compared (first slot a, b; last slot a, b): crosswise when the names
/// were swapped, the crosswise agreeing pair as the family name when only it agreed.
#[allow(clippy::type_complexity)]
fn names_compared<'r>(
    a: &'r PreparedRecord,
    b: &'r PreparedRecord,
    pairs: NamePairs,
) -> (
    &'r Option<Name>,
    &'r Option<Name>,
    &'r Option<Name>,
    &'r Option<Name>,
) {
    match pairs {
        NamePairs::Straight => (&a.first, &b.first, &a.last, &b.last),
        NamePairs::Swapped | NamePairs::FamilyCrosswise(false) => {
            (&a.first, &b.last, &a.last, &b.first)
        }
        NamePairs::FamilyCrosswise(true) => (&a.last, &b.first, &a.first, &b.last),
    }
}

/// The weight of a name slot, with the term-frequency adjustment of an exact agreement.
fn name_weight(p: &Params, slot: Option<Slot>, name: &Option<Name>, tf_field: usize) -> f64 {
    let Some(s) = slot else { return 0.0 };
    let mut w = p.w(s);
    if p.tf.is_some() {
        if let (
            Slot::FirstExact | Slot::FirstExactCommon | Slot::LastExact | Slot::LastExactCommon,
            Some(n),
        ) = (s, name)
        {
            let split = usize::from(matches!(s, Slot::FirstExactCommon | Slot::LastExactCommon));
            w += p.tf_adjust(tf_field, split, n.compact());
        }
    }
    w
}

/// Compares two prepared records field by field, with the a-priori parameters.
pub fn explain_prepared(a: &PreparedRecord, b: &PreparedRecord) -> Explanation {
    explain_prepared_with(default_params(), a, b)
}

/// Compares two prepared records field by field.
pub fn explain_prepared_with(p: &Params, a: &PreparedRecord, b: &PreparedRecord) -> Explanation {
    let (a, b) = ordered(a, b);
    let (first, last, pairs, first_slot, last_slot) = name_slots(a, b);
    let swapped = pairs != NamePairs::Straight;
    let others = other_fields(p, a, b);
    let dob = others[0].1;
    let nid = others[3].1;
    let no_name_agrees = first == Level::Disagree && last == Level::Disagree;
    let (fa, fb, la, _) = names_compared(a, b, pairs);
    let fields = [
        (
            "first_name",
            first,
            if !no_name_agrees
                && first == Level::Similar
                && common_parts(&a.first)
                && common_parts(&b.first)
            {
                // "aminata khady" / "aminata fama": sharing one very common part is no evidence.
                0.0
            } else {
                name_weight(p, first_slot, fa, 0)
            },
        ),
        ("last_name", last, name_weight(p, last_slot, la, 1)),
        others[0],
        others[1],
        others[2],
        others[3],
        others[4],
        others[5],
        others[6],
    ];
    let household = household_weight(p, &fields);
    let mut log_odds = p.prior + fields.iter().map(|f| f.2).sum::<f64>();

    // Household evidence counts jointly, capped, toward the link band only: a pair it alone
    // lifts over the link line waits for a person (the review band is the plain sum).
    let household_only = log_odds - household.0 + household.1 < LINK_LOG_ODDS;
    // Guard: twins (same family name and date, another first name) and namesakes of another
    // generation (same names, another date) look like one person to an additive model, however
    // much the household data (address, phone, clinic) agrees. Such pairs never link on their own:
    // a person decides, unless the national IDs agree.
    // Siblings without a recorded date (another first name, same family name, same household)
    // are the twins case with nothing to tell them apart: guarded as well (`docs/mpi.md`).
    // A family name missing on one side does not tell twins apart either ("Awa" and "Adama" born
    // the same day at one address, no family name written on one card).
    // Sisters and brothers often share one part of a compound given name ("Ndèye Fatou" /
    // "Ndèye", "Marie-Thérèse" / "Anne-Marie"): that weak agreement tells twins apart no better
    // than two different names (`docs/mpi.md`, Household and veto).
    let shared_part = first == Level::Similar && (compound(fa) || compound(fb));
    let twins = (first == Level::Disagree || shared_part)
        && last != Level::Disagree
        && (dob >= Level::Close || dob == Level::Missing);
    let generations = first >= Level::Close
        && last >= Level::Close
        && dob <= Level::Similar
        && dob != Level::Missing;
    // Neither name agreeing (both present and different) is a third such case: only the date and
    // household data agree, which a person must confirm (the names weigh as one event, see
    // `NAMES_BOTH_DISAGREE_EACH`).
    let mut reasons = contradictions(a, b, Some(first), &others);
    // Another first name and another birth date (not a slip of one, not years apart either):
    // the second, weaker contradiction (`docs/mpi.md`, Household and veto).
    let other_date = another_birth_date(first, &others, &reasons);
    if let Some(why) = other_date {
        reasons.push(why.to_string());
    }
    // Two independent contradictions of the person (sex, date, given name) are not one slip.
    // A national ID retyped with two slips is a clerical error a person can spot: it keeps a pair
    // out of the link band, not out of review.
    let strong = reasons
        .iter()
        .filter(|r| !r.starts_with("national"))
        .count()
        >= 2;
    if reasons.is_empty() && (twins || generations || no_name_agrees) && nid != Level::Exact {
        reasons.push(guard_reason(twins, shared_part, generations));
    }
    if reasons.is_empty() && household_only && log_odds > GUARD_CAP {
        reasons.push(GUARD_REASONS[4].to_string());
    }
    if reasons.is_empty()
        && nid != Level::Exact
        && namesakes_a_digit_apart(first, last, a, b, &others)
    {
        reasons.push(GUARD_REASONS[5].to_string());
    }
    if reasons.is_empty() && log_odds > GUARD_CAP && names_alone(&others) {
        reasons.push(GUARD_REASONS[6].to_string());
    }
    if !reasons.is_empty() {
        log_odds = log_odds.min(if strong { VETO_CAP } else { GUARD_CAP });
    } else if first >= Level::Close && last >= Level::Close && names_only(&others) {
        log_odds = log_odds.max(NAMES_ONLY_FLOOR);
    }
    let contradicted = reasons.iter().any(|r| !is_guard_reason(r));
    let veto = (!reasons.is_empty()).then(|| reasons.join("; "));
    Explanation {
        score: logistic(log_odds),
        log_odds,
        fields,
        names_swapped: swapped,
        veto,
        household,
        prior: p.prior,
        contradicted,
    }
}

/// True when a birth date is missing, the pair is of one place (clinic or district) and
/// nothing else disagrees (sex, phone, national ID, address; any of them may be missing): with
/// both names agreeing (exactly, by a slip, or crosswise), the names are all there is to go on.
/// Such a pair is at least put in the review band (`NAMES_ONLY_FLOOR`): a person decides, who
/// can ask the patient. Weighed alone, a missing date weighs 0 and the names and clinic of a
/// re-registration whose date was left out or unreadable (common on forms read by OCR) stay far
/// under review with a common name ("Amadou Diop", one clinic: 0.21), a new identity nobody
/// looks at (`docs/mpi.md`, Misread and respelled names).
fn names_only<W: Copy>(others: &[(&'static str, Level, W); 7]) -> bool {
    let [dob, sex, phone, nid, address, hc, zone] = others.map(|f| f.1);
    dob == Level::Missing
        && (hc == Level::Exact || zone == Level::Exact)
        && [sex, phone, nid, address]
            .iter()
            .all(|l| *l >= Level::Close || *l == Level::Missing)
}

/// True when nothing personal but the names can agree: no birth date on one side, neither the
/// phone nor the national ID agrees (exactly or by a slip), no address word agrees. Such a pair never
/// links automatically, whatever the parameters: the a-priori table cannot put names, sex and
/// a place over the link line, but learned weights with term frequencies can (two rare names
/// and one district linked two people born years apart, one record undated). A person decides,
/// who can ask for the date (`docs/mpi.md`, Namesakes a digit apart and names alone).
fn names_alone<W: Copy>(others: &[(&'static str, Level, W); 7]) -> bool {
    let [dob, _, phone, nid, address, _, _] = others.map(|f| f.1);
    dob == Level::Missing && phone < Level::Close && nid < Level::Close && address < Level::Similar
}

/// The fields a household shares (family name, phone, address, clinic, zone): what they add
/// together, and what of it counts.
pub(super) const HOUSEHOLD_FIELDS: [&str; 5] = [
    "last_name",
    "phone_number",
    "address",
    "health_center",
    "zone",
];

/// The household fields' agreeing weight before and after [`Params::household_cap`]. They are not
/// independent (one family: one name, one phone, one address, one clinic), so toward the link
/// band their agreements count jointly, capped; their disagreements count in full.
fn household_weight(p: &Params, fields: &[(&'static str, Level, f64); 9]) -> (f64, f64) {
    let raw: f64 = fields
        .iter()
        .filter(|f| HOUSEHOLD_FIELDS.contains(&f.0))
        .map(|f| f.2.max(0.0))
        .sum();
    (raw, raw.min(p.household_cap()))
}

/// Evidence that the two records are two people, each in plain words; none when the national
/// IDs agree exactly (an identity document outweighs a typed sex or date). Each is more than a
/// plausible slip (`docs/mpi.md`, Household and veto): a birth date off by a typo, a day/month
/// swap or one year is `close`, not here.
fn contradictions(
    a: &PreparedRecord,
    b: &PreparedRecord,
    first: Option<Level>,
    others: &[(&'static str, Level, impl Copy); 7],
) -> Vec<String> {
    let mut out = Vec::new();
    let (dob, sex, nid) = (others[0].1, others[1].1, others[3].1);
    if nid == Level::Exact {
        return out;
    }
    if sex == Level::Disagree {
        out.push("sexes differ".to_string());
    }
    if let (Level::Disagree, Some(x), Some(y)) = (dob, a.dob.as_ref(), b.dob.as_ref()) {
        if let Some(reason) = dates_years_apart(x, y) {
            out.push(reason);
        }
    }
    if nid == Level::Disagree {
        out.push("national IDs differ".to_string());
    }
    // `Disagree` is after variants, nicknames, phonetic keys and typos: two different names.
    if first == Some(Level::Disagree) {
        out.push("first names differ".to_string());
    }
    out
}

/// "birth dates N years apart" when two dates are further apart than a misremembered date
/// ([`DATE_YEARS_APART`] whole years) or, when either is an estimated 1 January, an estimated
/// age ([`ESTIMATED_YEARS_APART`] years).
fn dates_years_apart(x: &Dob, y: &Dob) -> Option<String> {
    let (lo, hi) = if x.digits <= y.digits { (x, y) } else { (y, x) };
    if x.is_estimated() || y.is_estimated() {
        let years = hi.year() - lo.year();
        return (years > ESTIMATED_YEARS_APART).then(|| format!("birth years {years} apart"));
    }
    let mut years = hi.year() - lo.year();
    if (hi.month(), hi.day()) < (lo.month(), lo.day()) {
        years = years.saturating_sub(1);
    }
    (years >= DATE_YEARS_APART).then(|| format!("birth dates {years} years apart"))
}

/// Why two records cannot be one person whatever their names: another sex, birth dates years
/// apart, another national ID (the first reason, in plain words). The resolver asks it of every
/// member of an identity before a record joins it, so identities do not chain (A links to B, C
/// to B, but C contradicts A). Names are left out: members may be filed under another form of
/// one name, and the pair's own score already weighed the names.
pub fn identity_contradiction(a: &PreparedRecord, b: &PreparedRecord) -> Option<String> {
    let (a, b) = ordered(a, b);
    contradictions(a, b, None, &other_levels(a, b))
        .into_iter()
        .next()
}

/// The pairs of names that may be the two records' given names, as compact text: the
/// first-name slot's pair, and when the names agreed crosswise (a swap: which record was
/// written the wrong way round is unknown) the other slot's pair too. The resolver asks how many
/// records of the store hold each (`docs/mpi.md`, Households the store can see: two given names
/// in use are two names, not a slip of one).
pub fn given_names_compared<'r>(
    a: &'r PreparedRecord,
    b: &'r PreparedRecord,
) -> [(Option<&'r str>, Option<&'r str>); 2] {
    let (a, b) = ordered(a, b);
    let (_, _, pairs) = compare_names(a, b);
    let (fa, fb, la, lb) = names_compared(a, b, pairs);
    let text = |n: &'r Option<Name>| n.as_ref().map(Name::compact);
    let other = if pairs == NamePairs::Swapped {
        (text(la), text(lb))
    } else {
        (None, None)
    };
    [(text(fa), text(fb)), other]
}

/// True for a compound given name ("ndeye fatou", "marie therese").
fn compound(n: &Option<Name>) -> bool {
    n.as_ref().is_some_and(|n| n.norm().contains(' '))
}

/// "birth dates differ" when the first names differ and the two birth dates differ by more than
/// a slip (the level is `similar`, the same year only, or `disagree`) without being years apart
/// (that is a contradiction of its own), and no national ID agrees even in part. Such a pair has
/// nothing personal in common: only what a household shares (family name, phone, address,
/// clinic). A true pair needs two independent errors to look like this (a replaced first name,
/// ~1 pair in 10, and a wrongly written date, ~1 in 20), two siblings need none.
fn another_birth_date(
    first: Level,
    others: &[(&'static str, Level, f64); 7],
    reasons: &[String],
) -> Option<&'static str> {
    let (dob, nid) = (others[0].1, others[3].1);
    let dates_differ = matches!(dob, Level::Similar | Level::Disagree);
    let years_apart = reasons.iter().any(|r| r.starts_with("birth"));
    (first == Level::Disagree && dates_differ && !years_apart && nid <= Level::Disagree)
        .then_some("birth dates differ")
}

/// The reasons that are a guard's doubt, not a contradiction.
const GUARD_REASONS: [&str; 7] = [
    "first names share only one part, same family (twins or siblings)",
    "other first names, same family (twins or siblings)",
    "same names, another birth date (another generation)",
    "neither name agrees",
    "only household evidence (family, phone, address, clinic) agrees",
    "same names, birth dates one typed digit apart (a slip or a namesake)",
    "only the names agree, no birth date (a person can ask for it)",
];

/// Namesakes a digit apart: both names agree, the birth dates are one typed digit (or two
/// neighbouring digits swapped) apart without being a day/month swap or the same day a year
/// off, and neither the phone nor the address agrees (the national ID is checked by the
/// caller). Two people of one name born in one cohort have dates one digit apart far more
/// often than the date's a-priori `close` weight assumes (the days 21 and 27 of one month, the
/// years 2012 and 2019 of one day), so on tuning data at 20,000 records every false automatic
/// link left was such a pair ("Penda Da Silva" 2019-04-20 / 2012-04-20, other phones); a true
/// pair with a mistyped digit and nothing else personal in common waits for a person instead
/// (`docs/mpi.md`, Namesakes a digit apart).
fn namesakes_a_digit_apart<W: Copy>(
    first: Level,
    last: Level,
    a: &PreparedRecord,
    b: &PreparedRecord,
    others: &[(&'static str, Level, W); 7],
) -> bool {
    let [dob, _, phone, _, address, _, _] = others.map(|f| f.1);
    let (Some(x), Some(y)) = (a.dob.as_ref(), b.dob.as_ref()) else {
        return false;
    };
    first >= Level::Close
        && last >= Level::Close
        && dob == Level::Close
        && phone != Level::Exact
        && !same_place(address, &a.address, &b.address)
        && typed_digit_apart(x, y)
}

/// True when two addresses name one home: they agree exactly, or closely with the very same
/// numbers (a word mistyped, split or reordered). "36 Sor" / "38 Sor" is `close` by its
/// house number's slip, but it is also two neighbours' addresses: in a quarter of a few hundred
/// houses, namesakes living a digit apart are as likely as a mistyped number, and with a date
/// one typed digit apart besides the pair carries two slips and nothing personal in common.
/// A full address (street, number, suburb, town, postcode) with one number mistyped still names
/// one home by its other words (`docs/mpi.md`, Namesakes a digit apart).
fn same_place(level: Level, a: &[String], b: &[String]) -> bool {
    let full = a.len().min(b.len()) >= FULL_ADDRESS_WORDS;
    level == Level::Exact || (level == Level::Close && (full || numbers_identical(a, b)))
}

/// Two dates one typed digit (or two neighbouring digits swapped) apart that are neither a
/// day/month swap nor the same day a year off: the slips [`compare_dob`] calls `close`
/// that do not come from the date's own shape.
fn typed_digit_apart(x: &Dob, y: &Dob) -> bool {
    let swap = x.year() == y.year() && x.month() == y.day() && x.day() == y.month();
    let year_off = x.digits[4..] == y.digits[4..] && x.year().abs_diff(y.year()) == 1;
    !swap && !year_off && one_typo(&x.digits, &y.digits)
}

fn is_guard_reason(r: &str) -> bool {
    GUARD_REASONS.contains(&r)
}

/// The guard's reason when no contradiction named one.
fn guard_reason(twins: bool, shared_part: bool, generations: bool) -> String {
    if twins && shared_part {
        GUARD_REASONS[0]
    } else if twins {
        GUARD_REASONS[1]
    } else if generations {
        GUARD_REASONS[2]
    } else {
        GUARD_REASONS[3]
    }
    .to_string()
}
