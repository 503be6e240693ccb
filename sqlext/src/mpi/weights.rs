//! Which weighted slot ([`Slot`]) each agreement level falls in, field by field; the weights
//! themselves are in [`Params`] (a-priori: `docs/mpi.md`, The weight table; learned: `kadi mpi
//! train`).
use super::params::Slot;
use super::*;

/// A name that disagrees: ln(0.1/0.99), a replaced or nick name in one true pair in ten
/// (why and what -2.5 cost: `docs/mpi.md`).
pub(super) const NAME_DISAGREE: f64 = -2.3;

/// Both names disagree: ONE event (a record filed under another person's names replaces both),
/// ln(0.03/0.97) ≈ -3.5 shared between the two; see `docs/mpi.md` and the guard in [`explain_prepared`].
pub(super) const NAMES_BOTH_DISAGREE_EACH: f64 = -1.8;

/// The slot of a name level (`first`: the given name, else the family name); `None` when missing.
pub(super) fn name_slot(first: bool, l: Level, common: bool) -> Option<Slot> {
    use Slot::*;
    let s = match (l, common) {
        (Level::Exact, false) => [FirstExact, LastExact],
        (Level::Exact, true) => [FirstExactCommon, LastExactCommon],
        (Level::Close, false) => [FirstClose, LastClose],
        (Level::Close, true) => [FirstCloseCommon, LastCloseCommon],
        (Level::Phonetic, false) => [FirstPhonetic, LastPhonetic],
        (Level::Phonetic, true) => [FirstPhoneticCommon, LastPhoneticCommon],
        (Level::Similar, _) => [FirstSimilar, LastSimilar],
        (Level::Disagree, _) => [FirstDisagree, LastDisagree],
        (Level::Missing, _) => return None,
    };
    Some(s[usize::from(!first)])
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

/// The slot of a birth-date level; 1 January with one year digit off ("1977" / "1987") is a
/// decade apart, not a typo of a known date: only the year carried information.
pub(super) fn dob_slot(l: Level, estimated: bool) -> Option<Slot> {
    Some(match l {
        Level::Exact if estimated => Slot::DobExactEstimated,
        Level::Close | Level::Phonetic if estimated => Slot::DobCloseEstimated,
        Level::Exact => Slot::DobExact,
        Level::Close | Level::Phonetic => Slot::DobClose,
        Level::Similar => Slot::DobSimilar,
        Level::Disagree => Slot::DobDisagree,
        Level::Missing => return None,
    })
}

/// The slot of a two-way field (agree / disagree): sex, clinic, zone.
pub(super) fn simple_slot(l: Level, agree: Slot, disagree: Slot) -> Option<Slot> {
    match l {
        Level::Exact => Some(agree),
        Level::Missing => None,
        _ => Some(disagree),
    }
}

/// The slot of a code (phone, national ID): exact, one edit, different.
pub(super) fn code_slot(l: Level, exact: Slot, close: Slot, disagree: Slot) -> Option<Slot> {
    match l {
        Level::Exact => Some(exact),
        Level::Close => Some(close),
        Level::Missing => None,
        _ => Some(disagree),
    }
}

/// Distinct words both addresses must have for a *full* address (house number, street, quarter
/// or locality, town, postcode ...): see [`address_slot`].
pub(super) const FULL_ADDRESS_WORDS: usize = 5;

/// Address slots: a full address (both sides with [`FULL_ADDRESS_WORDS`]+ words) is near unique;
/// shorter ones are shared by households. See `docs/mpi.md`.
pub(super) fn address_slot(l: Level, full: bool) -> Option<Slot> {
    Some(match l {
        Level::Exact if full => Slot::AddressExactFull,
        Level::Close if full => Slot::AddressCloseFull,
        Level::Exact => Slot::AddressExact,
        Level::Close => Slot::AddressClose,
        Level::Similar => Slot::AddressSimilar,
        Level::Missing => return None,
        _ => Slot::AddressDisagree,
    })
}
