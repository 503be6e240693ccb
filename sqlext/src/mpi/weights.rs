//! The log-likelihood weight of each agreement level, field by field (`ln(m/u)`); the table and
//! the reasons for each number are in `docs/mpi.md`.
use super::*;

/// A name that disagrees: `ln(m/u)` with m ≈ 0.1 (a replaced, nick or other-language name in
/// about one true pair in ten, as the module doc says) and u ≈ 0.99: ln(0.1/0.99) = -2.3. It was
/// -2.5 (m ≈ 0.08), which left true pairs with one replaced name and an agreeing family name and
/// address (nothing else known) just under the review band: a new identity nobody looks at.
pub(super) const NAME_DISAGREE: f64 = -2.3;

/// Both names disagree: weighed as ONE event, not two. A record filed under another person's
/// names (the caretaker's, a sibling's card, a name used at home instead of the civil one)
/// replaces first and family name together, so in true pairs the two disagreements are strongly
/// correlated and the independence assumption (2 × -2.3 = -4.6, m ≈ 1%) overstates the evidence:
/// m ≈ 3% of true pairs, u ≈ 0.97 of candidate non-matches, ln(0.03/0.97) ≈ -3.5, shared -1.8 per
/// name. Such a pair is never linked automatically (see the guard in [`explain_prepared`]): an
/// exact birth date and the same full address bring it to review, where a person decides.
pub(super) const NAMES_BOTH_DISAGREE_EACH: f64 = -1.8;

pub(super) fn w_first(l: Level, common: bool) -> f64 {
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

pub(super) fn w_last(l: Level, common: bool) -> f64 {
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
pub(super) fn common(a: &Option<Name>, b: &Option<Name>) -> bool {
    let is = |n: &Option<Name>| n.as_ref().is_some_and(|n| n.common);
    is(a) || is(b)
}

/// True when every part of a (compound) name is one of [`COMMON_NAMES`].
pub(super) fn common_parts(n: &Option<Name>) -> bool {
    n.as_ref()
        .is_some_and(|n| n.norm().split(' ').all(is_common_name))
}

pub(super) fn w_dob(l: Level, estimated: bool) -> f64 {
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

pub(super) fn w_simple(l: Level, agree: f64, disagree: f64) -> f64 {
    match l {
        Level::Exact => agree,
        Level::Missing => 0.0,
        _ => disagree,
    }
}

pub(super) fn w_code(l: Level, exact: f64, close: f64, disagree: f64) -> f64 {
    match l {
        Level::Exact => exact,
        Level::Close => close,
        Level::Missing => 0.0,
        _ => disagree,
    }
}

/// Distinct words both addresses must have for a *full* address (house number, street, quarter
/// or locality, town, postcode ...): see [`w_address`].
pub(super) const FULL_ADDRESS_WORDS: usize = 5;

/// Address weights. A full address (both sides with at least [`FULL_ADDRESS_WORDS`] distinct
/// words) agreeing is near unique: u ≈ 1e-4 as the module doc says, m ≈ 0.9, ln(0.9/1e-4) ≈ 9.1,
/// so +9.0 exact and +7.5 close (a word or two mistyped, split or reordered). Shorter addresses
/// ("medina dakar", "12 rue 5") keep the former +8.0 / +6.5: many households share them.
/// Before, every address weighed +8.0 whatever its length, which undervalued the agreement of
/// two full addresses: true pairs whose names or date were replaced, with the rest agreeing, fell
/// under the review band.
pub(super) fn w_address(l: Level, full: bool) -> f64 {
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
