//! Phone numbers for sending: E.164 for the configured country, checked against a small rule
//! table kept as data ([`RULES`]), so a number that cannot reach a mobile phone is refused with a
//! reason BEFORE a message is queued (a queued message to a landline would fail at the provider
//! hours later, when nobody is looking).
//!
//! Parsing (spaces, dashes, `00`, a trunk `0`, `(0)`) is `kadi_sqlext::mapping::normalize_phone`,
//! the very function the mapping uses when it stores `phone_number`; this module adds the
//! per-country rules. A number of a country not in the table passes on E.164 shape alone.

/// One country's mobile numbering: what a valid mobile number looks like after the country code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CountryRule {
    /// ISO 3166-1 alpha-2 code (`SN`).
    pub iso: &'static str,
    /// Country calling code without `+` (`221`).
    pub calling_code: &'static str,
    /// Digits of a national number (after the calling code).
    pub national_digits: usize,
    /// Prefixes of the national number that are mobile ranges.
    pub mobile_prefixes: &'static [&'static str],
}

/// The built-in rules: Senegal first (the first deployments), then neighbours. Data, not code:
/// add a line to add a country.
pub const RULES: &[CountryRule] = &[
    // Senegal: 9 digits; mobiles 70 (Expresso), 75/76 (Free), 77/78 (Orange).
    CountryRule {
        iso: "SN",
        calling_code: "221",
        national_digits: 9,
        mobile_prefixes: &["70", "75", "76", "77", "78"],
    },
    // Mali: 8 digits; mobiles 5x, 6x, 7x, 8x, 9x.
    CountryRule {
        iso: "ML",
        calling_code: "223",
        national_digits: 8,
        mobile_prefixes: &["5", "6", "7", "8", "9"],
    },
    // Côte d'Ivoire: 10 digits since 2021; mobiles 01 (Moov), 05 (MTN), 07 (Orange).
    CountryRule {
        iso: "CI",
        calling_code: "225",
        national_digits: 10,
        mobile_prefixes: &["01", "05", "07"],
    },
    // Burkina Faso: 8 digits; mobiles 5x, 6x, 7x.
    CountryRule {
        iso: "BF",
        calling_code: "226",
        national_digits: 8,
        mobile_prefixes: &["5", "6", "7"],
    },
    // Guinea: 9 digits; mobiles 6xx.
    CountryRule {
        iso: "GN",
        calling_code: "224",
        national_digits: 9,
        mobile_prefixes: &["6"],
    },
    // Mauritania: 8 digits; mobiles 2x, 3x, 4x.
    CountryRule {
        iso: "MR",
        calling_code: "222",
        national_digits: 8,
        mobile_prefixes: &["2", "3", "4"],
    },
    // The Gambia: 7 digits; mobiles 2, 3, 5, 6, 7, 9.
    CountryRule {
        iso: "GM",
        calling_code: "220",
        national_digits: 7,
        mobile_prefixes: &["2", "3", "5", "6", "7", "9"],
    },
];

/// The rule for a country named by ISO code (`SN`, any case) or calling code (`221`, `+221`).
pub fn rule_for(country: &str) -> Option<&'static CountryRule> {
    let c = country.trim().trim_start_matches('+');
    RULES
        .iter()
        .find(|r| r.iso.eq_ignore_ascii_case(c) || r.calling_code == c)
}

/// The E.164 form of `raw` for a box in `country` (ISO or calling code), or why it is refused.
pub fn normalize(raw: &str, country: &str) -> Result<String, String> {
    if raw.trim().is_empty() {
        return Err("no phone number".into());
    }
    let home = rule_for(country);
    let calling_code = match home {
        Some(r) => r.calling_code,
        None => country.trim().trim_start_matches('+'),
    };
    // A country whose numbers begin with 0 (Côte d'Ivoire) has no trunk prefix to drop: a
    // national number of the full length keeps its 0.
    let typed: String = raw.chars().filter(char::is_ascii_digit).collect();
    let raw = match home {
        Some(r)
            if r.mobile_prefixes.iter().any(|p| p.starts_with('0'))
                && !raw.trim_start().starts_with('+')
                && typed.len() == r.national_digits =>
        {
            format!("+{}{typed}", r.calling_code)
        }
        _ => raw.to_string(),
    };
    let raw = raw.as_str();
    let Some(e164) = kadi_sqlext::mapping::normalize_phone(raw, calling_code) else {
        return Err(format!(
            "{raw:?} is not a phone number (expected digits, optionally +{calling_code} or 00{calling_code} first)"
        ));
    };
    let digits = &e164[1..];
    let Some(rule) = RULES.iter().find(|r| digits.starts_with(r.calling_code)) else {
        return Ok(e164);
    };
    let national = &digits[rule.calling_code.len()..];
    if national.len() != rule.national_digits {
        return Err(format!(
            "{e164} has {} digits after +{}; numbers in {} have {}",
            national.len(),
            rule.calling_code,
            rule.iso,
            rule.national_digits
        ));
    }
    if !rule.mobile_prefixes.iter().any(|p| national.starts_with(p)) {
        return Err(format!(
            "{e164} is not a mobile number in {} (mobile numbers start with {})",
            rule.iso,
            rule.mobile_prefixes.join(", ")
        ));
    }
    Ok(e164)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn senegal_mobile_numbers_in_every_written_form_become_e164() {
        for raw in [
            "77 123 45 67",
            "771234567",
            "+221 77 123 45 67",
            "00221771234567",
            "221771234567",
            "77-123-45-67",
            "+221 (0)77 123 45 67",
        ] {
            assert_eq!(
                normalize(raw, "SN").as_deref(),
                Ok("+221771234567"),
                "{raw}"
            );
        }
        for prefix in ["70", "75", "76", "77", "78"] {
            let raw = format!("{prefix}1234567");
            assert_eq!(normalize(&raw, "221"), Ok(format!("+221{raw}")));
        }
    }

    #[test]
    fn senegal_landlines_short_numbers_and_garbage_are_refused_with_a_reason() {
        let landline = normalize("33 821 00 00", "SN").unwrap_err();
        assert!(landline.contains("not a mobile number"), "{landline}");
        let short = normalize("77 123 45", "SN").unwrap_err();
        assert!(
            short.contains("digits") || short.contains("not a phone"),
            "{short}"
        );
        let long = normalize("77 123 45 678", "SN").unwrap_err();
        assert!(long.contains("have 9"), "{long}");
        assert!(normalize("call me", "SN").is_err());
        assert!(normalize("", "SN").unwrap_err().contains("no phone"));
    }

    #[test]
    fn other_countries_come_from_the_table_and_a_foreign_number_keeps_its_own_rule() {
        assert_eq!(
            normalize("07 07 12 34 56", "CI").as_deref(),
            Ok("+2250707123456")
        );
        assert!(normalize("27 22 12 34 56", "CI").is_err());
        assert_eq!(
            normalize("76 12 34 56", "ML").as_deref(),
            Ok("+22376123456")
        );
        // A Malian number typed on a Senegalese box, in international form.
        assert_eq!(
            normalize("+223 76 12 34 56", "SN").as_deref(),
            Ok("+22376123456")
        );
        // A country outside the table passes on E.164 shape.
        assert_eq!(
            normalize("+33 6 12 34 56 78", "SN").as_deref(),
            Ok("+33612345678")
        );
        assert_eq!(rule_for("sn").map(|r| r.calling_code), Some("221"));
        assert_eq!(rule_for("+226").map(|r| r.iso), Some("BF"));
    }
}
