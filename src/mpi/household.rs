//! Which phones and addresses belong to a household: values that someone besides the two
//! records compared holds, told apart by birth year. Two members of one household share all of them, so between them a shared phone or
//! address says "same family", not "same person" (`docs/mpi.md`, Household and veto).
//!
//! This is a stand-in for term-frequency tables of the scorer's parameters: everything that
//! asks how many people share a value goes through [`household_values`] and
//! [`HouseholdValues::shared_by_household`], so the two can be swapped for those tables.
use crate::store::Store;
use anyhow::{Context, Result};
use kadi_sqlext::mpi::PreparedRecord;
use std::collections::HashMap;

/// Birth years kept per phone or address: enough to find someone of another age among the
/// people of one household (parents, children, grandparents) without growing with its size.
const YEARS_KEPT: usize = 4;

/// Whole years between two birth years that make two people: one person's records carry one
/// birth year, or one a year off when it was misremembered (the scorer's own bound for birth
/// dates "years apart", `docs/mpi.md`).
const ANOTHER_PERSON_YEARS: u32 = 2;

/// Distinct birth years seen on the records holding a value, up to `YEARS_KEPT`.
#[derive(Debug, Default, Clone, Copy)]
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

/// The birth years (up to `YEARS_KEPT`) of the records holding each phone and address.
#[derive(Debug, Default)]
pub struct HouseholdValues {
    phones: HashMap<String, Years>,
    addresses: HashMap<String, Years>,
}

impl HouseholdValues {
    /// Counts one record's phone and address under its birth year (a record without a birth
    /// date tells no one apart and is not counted).
    pub fn add(&mut self, record: &PreparedRecord) {
        let Some(year) = record.birth_year() else {
            return;
        };
        let (phone, address) = record.household_values();
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

/// Reads every card record of the store once and counts the people holding each phone and
/// address (the whole store, not the pass: the answer must not depend on arrival order).
pub fn household_values(store: &Store) -> Result<HouseholdValues> {
    let mut values = HouseholdValues::default();
    store.for_each_card_fields(|uid, json| {
        let record = PreparedRecord::from_json(json, 1)
            .map_err(|e| anyhow::anyhow!("{e}"))
            .with_context(|| format!("card record {uid} has unreadable fields"))?;
        values.add(&record);
        Ok(())
    })?;
    Ok(values)
}
