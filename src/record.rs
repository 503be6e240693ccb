//! kadi's own record types that cross module boundaries (wire shapes stay in the modules that own
//! the wire). A `CardRecord` is what mapping produces from DHIS2 data, what the MPI compares and
//! what a card shows.

use serde::{Deserialize, Serialize};

/// The card fields kadi knows, in display order. Mapping targets must be one of these (or one
/// of the MPI-only fields `national_id`, `address`). One list for the box and the SQL functions:
/// it is the printable head of `kadi_sqlext::mapping::CARD_FIELDS`, whose tail is MPI-only.
pub const CARD_FIELDS: &[&str] = kadi_sqlext::mapping::CARD_FIELDS.split_at(10).0;

/// Card fields of one enrollment; `None` where the source had no value or no mapping.
/// Dates are `YYYY-MM-DD`, gender is `M`, `F` or `U`, phone numbers E.164 where they parse.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CardFields {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date_of_birth: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gender: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub beneficiary_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone_number: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_center: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org_unit: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enrollment_date: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zone: Option<String>,
    /// Not a card field: used by the MPI only when a mapping provides it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub national_id: Option<String>,
    /// Not a card field: used by the MPI only when a mapping provides it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
}

impl CardFields {
    /// The full name as printed: first name then last name, skipping missing parts.
    pub fn full_name(&self) -> String {
        [self.first_name.as_deref(), self.last_name.as_deref()]
            .into_iter()
            .flatten()
            .filter(|s| !s.trim().is_empty())
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Reads one card field by its name (see [`CARD_FIELDS`]).
    pub fn get(&self, field: &str) -> Option<&str> {
        match field {
            "first_name" => self.first_name.as_deref(),
            "last_name" => self.last_name.as_deref(),
            "date_of_birth" => self.date_of_birth.as_deref(),
            "gender" => self.gender.as_deref(),
            "beneficiary_id" => self.beneficiary_id.as_deref(),
            "phone_number" => self.phone_number.as_deref(),
            "health_center" => self.health_center.as_deref(),
            "org_unit" => self.org_unit.as_deref(),
            "enrollment_date" => self.enrollment_date.as_deref(),
            "zone" => self.zone.as_deref(),
            "national_id" => self.national_id.as_deref(),
            "address" => self.address.as_deref(),
            _ => None,
        }
    }

    /// Sets one card field by its name; returns false for an unknown field.
    pub fn set(&mut self, field: &str, value: Option<String>) -> bool {
        let slot = match field {
            "first_name" => &mut self.first_name,
            "last_name" => &mut self.last_name,
            "date_of_birth" => &mut self.date_of_birth,
            "gender" => &mut self.gender,
            "beneficiary_id" => &mut self.beneficiary_id,
            "phone_number" => &mut self.phone_number,
            "health_center" => &mut self.health_center,
            "org_unit" => &mut self.org_unit,
            "enrollment_date" => &mut self.enrollment_date,
            "zone" => &mut self.zone,
            "national_id" => &mut self.national_id,
            "address" => &mut self.address,
            _ => return false,
        };
        *slot = value;
        true
    }
}

/// One enrollment as a card: who it is, which program, and its mapped fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CardRecord {
    pub enrollment_uid: String,
    pub tracked_entity_uid: String,
    pub program_uid: String,
    pub fields: CardFields,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn card_fields_are_the_ten_printable_fields_and_every_one_is_readable() {
        assert_eq!(CARD_FIELDS.len(), 10);
        assert_eq!(CARD_FIELDS.last(), Some(&"zone"));
        let mut f = CardFields::default();
        for field in CARD_FIELDS {
            assert!(
                f.set(field, Some(format!("v-{field}"))),
                "{field} cannot be set"
            );
            assert_eq!(f.get(field), Some(format!("v-{field}").as_str()));
        }
    }
}
