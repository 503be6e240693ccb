//! The log-likelihood weight of each agreement level, field by field (`ln(m/u)`); the table and
//! the reasons for each number are in `docs/mpi.md`.
use super::*;

/// A name that disagrees: ln(0.1/0.99), a replaced or nick name in one true pair in ten
/// (why and what -2.5 cost: `docs/mpi.md`).
pub(super) const NAME_DISAGREE: f64 = -2.3;

/// Both names disagree: ONE event (a record filed under another person's names replaces both),
/// ln(0.03/0.97) ≈ -3.5 shared between the two; see `docs/mpi.md` and the guard in [`explain_prepared`].
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
/// each agreement weighs by its own name's frequency, as a straight one does (`docs/mpi.md`).
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

/// Address weights: a full address (both sides with [`FULL_ADDRESS_WORDS`]+ words) is near unique
/// (ln(0.9/1e-4) ≈ 9.1); shorter ones are shared by households. See `docs/mpi.md`.
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
