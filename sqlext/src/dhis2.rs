//! DHIS2 helpers that need no server: UIDs (11 characters, a letter first, then letters and
//! digits, drawn from the operating system's cryptographic random source so a box can create
//! records offline without collisions) and period identifiers (`2026W20`, `2026Q2`, …) computed
//! from a date with a hand-rolled proleptic Gregorian calendar (no chrono in the extension).

const LETTERS: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
const ALNUM: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

/// Period types [`dhis2_period`] understands, with DHIS2's names.
pub const PERIOD_TYPES: &[&str] = &[
    "Daily",
    "Weekly",
    "Monthly",
    "BiMonthly",
    "Quarterly",
    "SixMonthly",
    "Yearly",
    "FinancialApril",
    "FinancialJuly",
    "FinancialOct",
    "FinancialNov",
];

/// Why a DHIS2 helper could not answer.
#[derive(Debug, Clone, PartialEq)]
pub enum Dhis2Error {
    /// The operating system's random source failed (no UID is better than a guessable one).
    Randomness(String),
    /// The date is not a real `YYYY-MM-DD` calendar date.
    BadDate(String),
    /// The period type is not one of [`PERIOD_TYPES`].
    UnknownPeriodType(String),
}

impl std::fmt::Display for Dhis2Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Dhis2Error::Randomness(e) => write!(f, "the system random source failed: {e}"),
            Dhis2Error::BadDate(d) => write!(f, "'{d}' is not a calendar date in YYYY-MM-DD form"),
            Dhis2Error::UnknownPeriodType(t) => write!(
                f,
                "unknown period type '{t}'; expected one of {}",
                PERIOD_TYPES.join(", ")
            ),
        }
    }
}

impl std::error::Error for Dhis2Error {}

/// A new DHIS2 UID. Uses rejection sampling so every letter and digit is equally likely.
pub fn dhis2_uid() -> Result<String, Dhis2Error> {
    let mut uid = String::with_capacity(11);
    let mut pool = [0u8; 32];
    let mut used = pool.len();
    while uid.len() < 11 {
        if used == pool.len() {
            getrandom::fill(&mut pool).map_err(|e| Dhis2Error::Randomness(e.to_string()))?;
            used = 0;
        }
        let byte = pool[used];
        used += 1;
        let alphabet = if uid.is_empty() { LETTERS } else { ALNUM };
        // Keep only bytes below the largest multiple of the alphabet size: no modulo bias.
        let limit = 256 - 256 % alphabet.len();
        if (byte as usize) < limit {
            uid.push(alphabet[byte as usize % alphabet.len()] as char);
        }
    }
    Ok(uid)
}

/// True when `s` has DHIS2's UID shape: 11 ASCII letters or digits, the first a letter.
pub fn dhis2_uid_valid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 11 && b[0].is_ascii_alphabetic() && b.iter().all(u8::is_ascii_alphanumeric)
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if is_leap(y) => 29,
        _ => 28,
    }
}

/// A calendar date, validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Date {
    /// Year (0001..=9999).
    pub year: i64,
    /// Month 1..=12.
    pub month: u32,
    /// Day of month 1..=31.
    pub day: u32,
}

impl Date {
    /// Parses `YYYY-MM-DD`; a trailing time (`T…` or ` …`) is ignored, as DHIS2 sends both.
    pub fn parse(s: &str) -> Result<Date, Dhis2Error> {
        let bad = || Dhis2Error::BadDate(s.chars().take(40).collect());
        let b = s.trim().as_bytes();
        if b.len() < 10
            || (b.len() > 10 && b[10] != b'T' && b[10] != b' ')
            || b[4] != b'-'
            || b[7] != b'-'
        {
            return Err(bad());
        }
        let num = |r: std::ops::Range<usize>| -> Option<u32> {
            b[r].iter().try_fold(0u32, |acc, d| {
                d.is_ascii_digit().then(|| acc * 10 + u32::from(d - b'0'))
            })
        };
        let (year, month, day) = match (num(0..4), num(5..7), num(8..10)) {
            (Some(y), Some(m), Some(d)) => (i64::from(y), m, d),
            _ => return Err(bad()),
        };
        if year == 0 || !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
            return Err(bad());
        }
        Ok(Date { year, month, day })
    }

    /// Days since 1970-01-01.
    fn days(self) -> i64 {
        crate::calendar::days_from_civil(self.year, i64::from(self.month), i64::from(self.day))
    }

    /// ISO weekday, Monday = 1 … Sunday = 7.
    pub fn iso_weekday(self) -> u32 {
        // 1970-01-01 was a Thursday (4).
        ((self.days() + 3).rem_euclid(7) + 1) as u32
    }

    /// Day of the year, 1-based.
    fn ordinal(self) -> i64 {
        self.days()
            - Date {
                year: self.year,
                month: 1,
                day: 1,
            }
            .days()
            + 1
    }

    /// ISO 8601 week-numbering year and week (weeks start on Monday; week 1 holds the first
    /// Thursday), which is what DHIS2's `Weekly` periods use.
    pub fn iso_week(self) -> (i64, u32) {
        let week = (self.ordinal() - i64::from(self.iso_weekday()) + 10) / 7;
        if week < 1 {
            (self.year - 1, weeks_in_iso_year(self.year - 1))
        } else if week > i64::from(weeks_in_iso_year(self.year)) {
            (self.year + 1, 1)
        } else {
            (self.year, week as u32)
        }
    }
}

/// 52 or 53: a year has 53 ISO weeks when it starts on a Thursday, or on a Wednesday in a leap year.
fn weeks_in_iso_year(year: i64) -> u32 {
    let jan1 = Date {
        year,
        month: 1,
        day: 1,
    }
    .iso_weekday();
    if jan1 == 4 || (jan1 == 3 && is_leap(year)) {
        53
    } else {
        52
    }
}

/// The DHIS2 period identifier containing `date` (`YYYY-MM-DD`) for a period type:
/// Daily `20260515`, Weekly (ISO) `2026W20`, Monthly `202605`, BiMonthly `202603B`, Quarterly
/// `2026Q2`, SixMonthly `2026S1`, Yearly `2026`, and financial years named by the year they start
/// in: FinancialApril `2026April`, FinancialJuly `2025July`, FinancialOct `2025Oct`,
/// FinancialNov `2025Nov` (all for 2026-05-15). Type names are matched ignoring case.
pub fn dhis2_period(date: &str, period_type: &str) -> Result<String, Dhis2Error> {
    let kind = PERIOD_TYPES
        .iter()
        .find(|t| t.eq_ignore_ascii_case(period_type.trim()))
        .ok_or_else(|| Dhis2Error::UnknownPeriodType(period_type.chars().take(40).collect()))?;
    let d = Date::parse(date)?;
    let (y, m) = (d.year, d.month);
    let financial =
        |start: u32, name: &str| format!("{}{name}", if m >= start { y } else { y - 1 });
    Ok(match *kind {
        "Daily" => format!("{y:04}{m:02}{:02}", d.day),
        "Weekly" => {
            let (wy, w) = d.iso_week();
            format!("{wy:04}W{w}")
        }
        "Monthly" => format!("{y:04}{m:02}"),
        "BiMonthly" => format!("{y:04}{:02}B", m.div_ceil(2)),
        "Quarterly" => format!("{y:04}Q{}", m.div_ceil(3)),
        "SixMonthly" => format!("{y:04}S{}", if m <= 6 { 1 } else { 2 }),
        "Yearly" => format!("{y:04}"),
        "FinancialApril" => financial(4, "April"),
        "FinancialJuly" => financial(7, "July"),
        "FinancialOct" => financial(10, "Oct"),
        _ => financial(11, "Nov"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn period(d: &str, t: &str) -> String {
        dhis2_period(d, t).unwrap_or_else(|e| e.to_string())
    }

    #[test]
    fn every_period_type_names_mid_may_2026_as_dhis2_does() {
        let d = "2026-05-15";
        assert_eq!(period(d, "Daily"), "20260515");
        assert_eq!(period(d, "Weekly"), "2026W20");
        assert_eq!(period(d, "Monthly"), "202605");
        assert_eq!(period(d, "BiMonthly"), "202603B");
        assert_eq!(period(d, "Quarterly"), "2026Q2");
        assert_eq!(period(d, "SixMonthly"), "2026S1");
        assert_eq!(period(d, "Yearly"), "2026");
        assert_eq!(period(d, "FinancialJuly"), "2025July");
        assert_eq!(period(d, "FinancialApril"), "2026April");
        assert_eq!(period("2026-07-01", "FinancialJuly"), "2026July");
    }

    #[test]
    fn iso_weeks_cross_year_boundaries_correctly() {
        // Known ISO weeks (ISO 8601 calendars): late December may be week 1 of next year and
        // early January may be week 52 or 53 of the previous year.
        for (d, w) in [
            ("2024-12-30", "2025W1"),
            ("2025-12-29", "2026W1"),
            ("2026-01-01", "2026W1"),
            ("2027-01-01", "2026W53"),
            ("2027-01-03", "2026W53"),
            ("2027-01-04", "2027W1"),
            ("2021-01-03", "2020W53"),
            ("2022-01-01", "2021W52"),
            ("2020-12-31", "2020W53"),
            ("2019-12-30", "2020W1"),
            ("2016-01-03", "2015W53"),
            ("2008-12-29", "2009W1"),
            ("2010-01-03", "2009W53"),
            ("2000-02-29", "2000W9"),
        ] {
            assert_eq!(period(d, "Weekly"), w, "{d}");
        }
    }

    #[test]
    fn impossible_dates_and_unknown_types_are_errors() {
        for d in [
            "2026-02-29",
            "2026-13-01",
            "2026-00-10",
            "2026-5-15",
            "",
            "yesterday",
            "1900-02-29",
            "0000-01-01",
        ] {
            assert!(
                matches!(dhis2_period(d, "Daily"), Err(Dhis2Error::BadDate(_))),
                "{d}"
            );
        }
        assert!(dhis2_period("2000-02-29", "Daily").is_ok());
        assert!(matches!(
            dhis2_period("2026-05-15", "Fortnightly"),
            Err(Dhis2Error::UnknownPeriodType(_))
        ));
        assert_eq!(period("2026-05-15T10:00:00.000", "monthly"), "202605");
    }

    #[test]
    fn uids_have_dhis2_shape_and_differ() {
        let a = dhis2_uid().unwrap_or_default();
        let b = dhis2_uid().unwrap_or_default();
        assert!(dhis2_uid_valid(&a) && dhis2_uid_valid(&b));
        assert_ne!(a, b);
        assert!(dhis2_uid_valid("P3jJH5Tu5VC"));
        for bad in [
            "3jJH5Tu5VCx",
            "P3jJH5Tu5V",
            "P3jJH5Tu5VC1",
            "P3jJH5Tu5V-",
            "P3jJH5Tu5Vé",
        ] {
            assert!(!dhis2_uid_valid(bad), "{bad}");
        }
    }
}
