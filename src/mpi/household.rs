//! Which phones and addresses belong to a household: values held by several people in the
//! store. Two members of one household share all of them, so between them a shared phone or
//! address says "same family", not "same person" (`docs/mpi.md`, Household and veto).
//!
//! This is a stand-in for term-frequency tables of the scorer's parameters: everything that
//! asks how many people share a value goes through [`household_values`] and
//! [`HouseholdValues::shared_by_household`], so the two can be swapped for those tables.
use crate::store::Store;
use anyhow::{Context, Result};
use kadi_sqlext::mpi::PreparedRecord;
use std::collections::HashMap;

/// People (told apart by their birth years) who must hold one phone or address for it to be a
/// household's. One person's records carry one birth year, or two when a year was mistyped; a
/// third year is a third person, so three years are at least two people besides a slip. Twins
/// are two of three people (a parent, or an older child) at the least.
pub const HOUSEHOLD_PEOPLE: usize = 3;

/// Distinct birth years seen on the records holding a value, up to [`HOUSEHOLD_PEOPLE`].
#[derive(Debug, Default, Clone, Copy)]
struct Years {
    years: [u32; HOUSEHOLD_PEOPLE],
    len: usize,
}

impl Years {
    fn add(&mut self, year: u32) {
        if self.len < HOUSEHOLD_PEOPLE && !self.years[..self.len].contains(&year) {
            self.years[self.len] = year;
            self.len += 1;
        }
    }
}

/// How many people (birth years, up to [`HOUSEHOLD_PEOPLE`]) hold each phone and address.
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

    /// True when the two records share a phone or an address (exactly) that
    /// [`HOUSEHOLD_PEOPLE`] people hold.
    pub fn shared_by_household(&self, a: &PreparedRecord, b: &PreparedRecord) -> bool {
        let household = |m: &HashMap<String, Years>, v: &str| {
            m.get(v).is_some_and(|y| y.len >= HOUSEHOLD_PEOPLE)
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
    store.mpi_each_record_fields(&mut |json| {
        let record = PreparedRecord::from_json(json, 1)
            .map_err(|e| anyhow::anyhow!("{e}"))
            .context("a card record has unreadable fields")?;
        values.add(&record);
        Ok(())
    })?;
    Ok(values)
}
