//! Which phones and addresses belong to a household: values that someone besides the two
//! records compared holds, told apart by birth year. Two members of one household share all of them, so between them a shared phone or
//! address says "same family", not "same person" (`docs/mpi.md`, Household and veto).
//!
//! This is a stand-in for term-frequency tables of the scorer's parameters: everything that
//! asks how many people share a value goes through [`household_values`] and
//! [`HouseholdValues::shared_by_household`], so the two can be swapped for those tables.
use crate::store::Store;
use anyhow::Result;
use kadi_sqlext::mpi::{given_names_compared, Explanation, Level, PreparedRecord};
use std::collections::HashMap;

/// The reason a pair of one household with two given names in use waits for a person.
const TWO_NAMES_IN_USE: &str = "same household, two given names in use (twins or siblings)";

/// Birth years kept per phone or address: enough to find someone of another age among the
/// people of one household (parents, children, grandparents) without growing with its size.
const YEARS_KEPT: usize = 4;

/// Whole years between two birth years that make two people: one person's records carry one
/// birth year, or one a year off when it was misremembered (the scorer's own bound for birth
/// dates "years apart", `docs/mpi.md`).
const ANOTHER_PERSON_YEARS: u32 = 2;

/// Records of the store that must hold a given name for it to be a name in use, not a slip: a
/// typo is written once or twice, a name is given again and again.
const NAME_IN_USE: u32 = 3;

/// How much rarer than the other a name in use may be and still be a name of its own: a slip
/// that recurs (the same typo of a very common name, at 100,000 records) stays far rarer than
/// the name it slips from; two given names of one country ("Amadou" / "Mamadou", "Fatou" /
/// "Astou") are within a factor of a few.
const SLIP_RARER: u32 = 20;

/// Distinct birth years seen on the records holding a value, up to `YEARS_KEPT`.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
struct Years {
    years: [u32; YEARS_KEPT],
    len: usize,
}

impl Years {
    fn add(&mut self, year: u32) {
        if self.len < YEARS_KEPT && !self.years[..self.len].contains(&year) {
            self.years[self.len] = year;
            self.len += 1;
        }
    }

    /// True when two of the years are years apart: two people.
    fn two_people(&self) -> bool {
        let years = &self.years[..self.len];
        years
            .iter()
            .any(|&x| years.iter().any(|&y| x.abs_diff(y) >= ANOTHER_PERSON_YEARS))
    }

    /// True when a record born years away from both `a` and `b` holds the value: a third
    /// person, so the value is a household's, not the pair's own. A side without a birth date
    /// added no year here, so any year far from the other side's is someone else's.
    fn someone_else_than(&self, a: Option<u32>, b: Option<u32>) -> bool {
        let far = |y: u32, x: Option<u32>| x.is_none_or(|x| y.abs_diff(x) >= ANOTHER_PERSON_YEARS);
        self.years[..self.len]
            .iter()
            .any(|&y| far(y, a) && far(y, b))
    }
}

/// The birth years (up to `YEARS_KEPT`) of the records holding each phone and address, and how
/// many records hold each name.
#[derive(Debug, Default, PartialEq)]
pub struct HouseholdValues {
    phones: HashMap<String, Years>,
    addresses: HashMap<String, Years>,
    /// Records holding each name (given or family, compact text).
    names: HashMap<String, u32>,
    /// The birth years under each phone and address per given name ([`value_name_key`]):
    /// whether a household holds two people of one given name (a father and his namesake son).
    namesakes: HashMap<u64, Years>,
}

/// The key of a household value (a phone, `phone` true, or an address) and a given name.
fn value_name_key(phone: bool, value: &str, name: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::hash::DefaultHasher::new();
    (phone, value, name).hash(&mut h);
    h.finish()
}

impl HouseholdValues {
    /// Counts one record's phone and address under its birth year (a record without a birth
    /// date tells no one apart and is not counted).
    pub fn add(&mut self, record: &PreparedRecord) {
        let [first, last] = record.name_texts();
        for n in first.into_iter().chain(last.filter(|l| Some(*l) != first)) {
            match self.names.get_mut(n) {
                Some(c) => *c += 1,
                None => {
                    self.names.insert(n.to_string(), 1);
                }
            }
        }
        let Some(year) = record.birth_year() else {
            return;
        };
        let (phone, address) = record.household_values();
        if let Some(name) = first {
            let values = [(true, phone), (false, address.as_deref())];
            for (is_phone, v) in values.into_iter().filter_map(|(k, v)| Some((k, v?))) {
                let key = value_name_key(is_phone, v, name);
                self.namesakes.entry(key).or_default().add(year);
            }
        }
        if let Some(p) = phone {
            match self.phones.get_mut(p) {
                Some(y) => y.add(year),
                None => {
                    let mut y = Years::default();
                    y.add(year);
                    self.phones.insert(p.to_string(), y);
                }
            }
        }
        if let Some(a) = address {
            self.addresses.entry(a).or_default().add(year);
        }
    }

    /// True when the two records share a phone or an address (exactly) that someone else holds
    /// too: a record born at least `ANOTHER_PERSON_YEARS` years away from both of them.
    pub fn shared_by_household(&self, a: &PreparedRecord, b: &PreparedRecord) -> bool {
        let (ya, yb) = (a.birth_year(), b.birth_year());
        let household = |m: &HashMap<String, Years>, v: &str| {
            m.get(v).is_some_and(|y| y.someone_else_than(ya, yb))
        };
        let ((pa, aa), (pb, ab)) = (a.household_values(), b.household_values());
        let phone = matches!((pa, pb), (Some(x), Some(y)) if x == y && household(&self.phones, x));
        let address =
            matches!((&aa, &ab), (Some(x), Some(y)) if x == y && household(&self.addresses, x));
        phone || address
    }
}

impl HouseholdValues {
    /// Why a pair the scorer put in the link band must wait for a person instead: it shares a
    /// household's phone or address ([`Self::shared_by_household`]), so the family name,
    /// phone, address and clinic say "same family" and only the personal fields can say
    /// "same person": the given name and the birth date (twins share the date, a namesake son
    /// the name). Two cases leave them unable to:
    /// - the given names differ and both are names in use ([`Self::two_names_in_use`]):
    ///   "Amadou" / "Mamadou", "Fatou" / "Fatoumata" or "Fatou" / "Astou" born the same day
    ///   are twins as often as one person's two spellings;
    /// - the family names differ: in one household that leaves the given name as the only name
    ///   agreeing ("Gomis Ndèye" / "Gomis Fatou", both written family name first, agree on
    ///   "Gomis" in the given-name slot);
    /// - a birth date is missing and nothing but one given name ties the two: the given names
    ///   are only alike (`phonetic`, `similar`: "Bacar" / "Boubacar"), or the household holds
    ///   another person of that given name (a record of it born years away from the dated
    ///   side: [`Self::namesake_in_household`]).
    ///
    /// A national ID agreeing exactly settles it. `docs/mpi.md`, Households the store can see.
    pub fn household_doubt(
        &self,
        e: &Explanation,
        a: &PreparedRecord,
        b: &PreparedRecord,
    ) -> Option<&'static str> {
        let (first, last, dob, nid) = (e.fields[0].1, e.fields[1].1, e.fields[2].1, e.fields[5].1);
        if nid == Level::Exact || !self.shared_by_household(a, b) {
            return None;
        }
        let given = given_names_compared(a, b);
        if first < Level::Exact && self.two_given_names(&given) {
            return Some(TWO_NAMES_IN_USE);
        }
        if last == Level::Disagree {
            return Some("same household, family names differ");
        }
        if dob != Level::Missing {
            return None;
        }
        if first < Level::Close {
            return Some("same household, given names only alike, no birth date");
        }
        let mut names = given.iter().flat_map(|(x, y)| [x, y]).flatten();
        if names.any(|n| self.namesake_in_household(a, b, n)) {
            return Some("same household, two people of this given name, no birth date");
        }
        None
    }

    /// Identities do not chain through a slip: why record `a` must not join an identity whose
    /// member `b` shares its household and is known under another given name in use (the same
    /// rule as [`Self::household_doubt`]'s first case, asked of every member, not only of the
    /// member the record scored best with). "Asstou" (a slip, written once) is one slip from
    /// twin "Astou" and a variant of twin "Aïssatou"; once it joined one twin, the other twin
    /// linked to it and the two sisters shared one identity (`docs/mpi.md`, Identities do not
    /// chain through a slip). None when the national IDs agree exactly.
    pub fn other_name_in_household(
        &self,
        e: &Explanation,
        a: &PreparedRecord,
        b: &PreparedRecord,
    ) -> Option<&'static str> {
        let (first, nid) = (e.fields[0].1, e.fields[5].1);
        if nid == Level::Exact || first == Level::Exact || !self.shared_by_household(a, b) {
            return None;
        }
        self.two_given_names(&given_names_compared(a, b))
            .then_some(TWO_NAMES_IN_USE)
    }

    /// True when one of the compared pairs of given names is two names in use.
    fn two_given_names(&self, given: &[(Option<&str>, Option<&str>); 2]) -> bool {
        given.iter().any(|pair| match pair {
            (Some(x), Some(y)) => self.two_names_in_use(x, y),
            _ => false,
        })
    }

    /// True when a phone or address the two records share is held by a record of given name
    /// `name` born years away from the dated one of them (both undated: by two such records
    /// born years apart): then the household has two people of that name and a record without
    /// a birth date could be either.
    fn namesake_in_household(&self, a: &PreparedRecord, b: &PreparedRecord, name: &str) -> bool {
        let year = a.birth_year().or(b.birth_year());
        let ((pa, aa), (pb, ab)) = (a.household_values(), b.household_values());
        let address = aa.as_deref().filter(|x| Some(*x) == ab.as_deref());
        let shared = [(true, pa.filter(|p| Some(*p) == pb)), (false, address)];
        let found = shared.into_iter().any(|(is_phone, v)| {
            v.and_then(|v| self.namesakes.get(&value_name_key(is_phone, v, name)))
                .is_some_and(|years| match year {
                    Some(y) => years.someone_else_than(Some(y), None),
                    None => years.two_people(),
                })
        });
        found
    }

    /// True when two different names are both in use in the store (each held by at least
    /// `NAME_IN_USE` records, the rarer by at least 1/`SLIP_RARER` of the other's): two names,
    /// not one name and a slip of it.
    pub fn two_names_in_use(&self, x: &str, y: &str) -> bool {
        if x == y {
            return false;
        }
        let count = |n: &str| self.names.get(n).copied().unwrap_or(0);
        let (lo, hi) = {
            let (cx, cy) = (count(x), count(y));
            (cx.min(cy), cx.max(cy))
        };
        lo >= NAME_IN_USE && lo.saturating_mul(SLIP_RARER) >= hi
    }
}

/// Reads every card record of the store once and counts the people holding each phone and
/// address (the whole store, not the pass: the answer must not depend on arrival order).
pub fn household_values(store: &Store) -> Result<HouseholdValues> {
    household_values_passing(store, |_, _| {})
}

/// As [`household_values`], handing each prepared record with its UID on to `each` once it is
/// counted (a first pass keeps them instead of reading the store again).
pub fn household_values_passing(
    store: &Store,
    mut each: impl FnMut(String, PreparedRecord),
) -> Result<HouseholdValues> {
    let mut values = HouseholdValues::default();
    // In enrollment order: the birth years kept per value are the first ones seen.
    super::for_each_prepared(store, |uid, record| {
        values.add(&record);
        each(uid, record);
        Ok(())
    })?;
    Ok(values)
}
