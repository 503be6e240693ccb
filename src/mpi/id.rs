//! MPI IDs: `SN-DKR-26-XXXXXXXX-C` — country and district prefix (a setting, so boxes of different
//! districts never collide), two-digit year, eight random characters and one check character.
//!
//! The alphabet has 32 symbols without the look-alikes O/0 and I/1. The check character is a
//! Damm-style check over the quasigroup `x ∘ y = 2·x ⊕ y` in GF(32) (polynomial x⁵+x²+1): each row
//! and column is a permutation (so any single wrong character is caught) and the quasigroup is
//! weakly totally anti-symmetric (so any swap of two adjacent different characters is caught).
//! 40 random bits per district and year make an offline collision on two boxes very unlikely; the
//! store's primary key catches one on the same box (the caller draws again).

use chrono::{Datelike, NaiveDate};

/// The 32 symbols of the random part and the check character.
pub const ALPHABET: &[u8; 32] = b"23456789ABCDEFGHJKLMNPQRSTUVWXYZ";

fn value(c: u8) -> Option<u8> {
    ALPHABET
        .iter()
        .position(|&a| a == c.to_ascii_uppercase())
        .map(|p| p as u8)
}

/// Multiplication by 2 in GF(32) with x⁵+x²+1.
fn times2(x: u8) -> u8 {
    let y = x << 1;
    if y & 0x20 != 0 {
        (y ^ 0x25) & 0x1f
    } else {
        y
    }
}

fn step(interim: u8, v: u8) -> u8 {
    times2(interim) ^ v
}

/// The check character of a random part (None if it holds a character outside the alphabet).
pub fn check_char(random: &str) -> Option<char> {
    let mut interim = 0u8;
    for c in random.bytes() {
        interim = step(interim, value(c)?);
    }
    // The check k closes the chain: step(interim, k) == 0  <=>  k = 2·interim.
    Some(ALPHABET[times2(interim) as usize] as char)
}

/// Eight bytes of the system's random source for a new ID's random part. Taken from a buffer
/// refilled 512 bytes at a time: a first pass makes thousands of IDs, and one system call each
/// was 4% of its thread. An MPI ID is an identifier, not a secret (tokens and keys are drawn
/// straight from the system, [`crate::secret::random_bytes`]).
fn random_part_bytes() -> anyhow::Result<[u8; 8]> {
    use std::cell::RefCell;
    thread_local! {
        static POOL: RefCell<([u8; 512], usize)> = const { RefCell::new(([0; 512], 512)) };
    }
    POOL.with(|pool| {
        let (buf, used) = &mut *pool.borrow_mut();
        if *used + 8 > buf.len() {
            *buf = crate::secret::random_bytes()?;
            *used = 0;
        }
        let mut out = [0u8; 8];
        out.copy_from_slice(&buf[*used..*used + 8]);
        // Used bytes are not kept.
        buf[*used..*used + 8].fill(0);
        *used += 8;
        Ok(out)
    })
}

/// A fresh MPI ID for `prefix` (e.g. `SN-DKR`) and two-digit `year`.
pub fn new_mpi_id(prefix: &str, year: u32) -> anyhow::Result<String> {
    let bytes = random_part_bytes()?;
    let random: String = bytes
        .iter()
        .map(|b| ALPHABET[(b & 31) as usize] as char)
        .collect();
    let check =
        check_char(&random).ok_or_else(|| anyhow::anyhow!("internal: bad MPI ID alphabet"))?;
    Ok(format!("{prefix}-{:02}-{random}-{check}", year % 100))
}

/// Where the year inside a new MPI ID comes from. It is printed on cards for good, and a box
/// without a real-time clock may read 1970 (or 2031) for a while, so the box clock alone is never
/// enough: the year is the enrollment's when that date is plausible, else the last date DHIS2
/// reported (moved on by the monotonic time since, within the same boot), and never a date before
/// the build date ([`crate::clock::build_date`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdYear {
    /// The latest date that can be trusted to have come: no enrollment date lies after it.
    trusted_today: NaiveDate,
    /// DHIS2's date at the last sync (plus the time since, when measured within this boot).
    server_today: Option<NaiveDate>,
}

/// Enrollment dates before this are typing errors or placeholders, not a year to print.
const EARLIEST_ENROLLMENT: (i32, u32, u32) = (2000, 1, 1);

impl IdYear {
    /// From the box's date, the last server date (with the time elapsed since it was read, when
    /// that is known on the monotonic clock) and the build date.
    pub fn new(
        box_today: NaiveDate,
        last_server: Option<(NaiveDate, Option<std::time::Duration>)>,
        build_date: NaiveDate,
    ) -> IdYear {
        let server_today = last_server.map(|(d, elapsed)| match elapsed {
            Some(e) => d + chrono::Duration::days((e.as_secs() / 86_400) as i64),
            None => d,
        });
        let measured = last_server.is_some_and(|(_, e)| e.is_some());
        let floor = server_today.map_or(build_date, |s| s.max(build_date));
        // Measured on the monotonic clock since DHIS2 answered, the server's date beats any box
        // clock; otherwise the box clock counts when it is not behind what is known to have been.
        let trusted_today = match server_today {
            Some(s) if measured => s.max(build_date),
            _ => box_today.max(floor),
        };
        IdYear {
            trusted_today,
            server_today: server_today.map(|s| s.max(build_date)),
        }
    }

    /// The latest trusted date.
    pub fn trusted_today(&self) -> NaiveDate {
        self.trusted_today
    }

    /// The four-digit year for a new ID of a record enrolled on `enrollment_date` (`YYYY-MM-DD`,
    /// a longer timestamp is cut to its date).
    pub fn year_for(&self, enrollment_date: Option<&str>) -> u32 {
        let earliest = NaiveDate::from_ymd_opt(
            EARLIEST_ENROLLMENT.0,
            EARLIEST_ENROLLMENT.1,
            EARLIEST_ENROLLMENT.2,
        )
        .unwrap_or_default();
        let enrolled = enrollment_date
            .and_then(|d| d.get(..10))
            .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
            .filter(|d| *d >= earliest && *d <= self.trusted_today);
        let date = enrolled.or(self.server_today).unwrap_or(self.trusted_today);
        date.year().max(0) as u32
    }
}

/// True when `id` has the MPI ID shape and its check character is right.
pub fn is_valid_mpi_id(id: &str) -> bool {
    let parts: Vec<&str> = id.rsplitn(3, '-').collect();
    let [check, random, _rest] = parts.as_slice() else {
        return false;
    };
    if random.len() != 8 || check.len() != 1 {
        return false;
    }
    let mut interim = 0u8;
    for c in random.bytes().chain(check.bytes()) {
        match value(c) {
            Some(v) => interim = step(interim, v),
            None => return false,
        }
    }
    interim == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_single_wrong_or_swapped_character_is_caught() {
        for _ in 0..200 {
            let id = new_mpi_id("SN-DKR", 26).unwrap();
            assert!(is_valid_mpi_id(&id), "{id}");
            let chars: Vec<char> = id.chars().collect();
            let start = id.len() - 10;
            for i in (start..id.len()).filter(|&i| chars[i] != '-') {
                for &a in ALPHABET.iter() {
                    let mut c = chars.clone();
                    if c[i] == a as char {
                        continue;
                    }
                    c[i] = a as char;
                    let s: String = c.iter().collect();
                    assert!(!is_valid_mpi_id(&s), "{id} -> {s}");
                }
                let j = if i + 1 < id.len() && chars[i + 1] != '-' {
                    i + 1
                } else if i + 2 < id.len() {
                    i + 2
                } else {
                    continue;
                };
                if chars[i] != chars[j] {
                    let mut c = chars.clone();
                    c.swap(i, j);
                    let s: String = c.iter().collect();
                    assert!(!is_valid_mpi_id(&s), "{id} -> {s}");
                }
            }
        }
    }

    fn date(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn the_year_comes_from_a_plausible_enrollment_date() {
        let build = date("2026-06-01");
        let y = IdYear::new(date("1970-01-05"), None, build);
        assert_eq!(y.trusted_today(), build);
        assert_eq!(y.year_for(Some("2026-03-02")), 2026);
        assert_eq!(y.year_for(Some("2024-12-31T10:00:00.000")), 2024);
        // After the trusted today, before 2000 or garbage: not an enrollment date to print.
        assert_eq!(y.year_for(Some("2031-01-01")), 2026);
        assert_eq!(y.year_for(Some("1999-12-31")), 2026);
        assert_eq!(y.year_for(Some("soon")), 2026);
        assert_eq!(y.year_for(None), 2026);
    }

    #[test]
    fn without_an_enrollment_date_the_server_date_beats_a_wrong_box_clock() {
        let build = date("2026-06-01");
        // The clock reads 1970: the last server date (moved on by 400 days measured since) wins.
        let y = IdYear::new(
            date("1970-01-05"),
            Some((
                date("2027-12-01"),
                Some(std::time::Duration::from_secs(400 * 86_400)),
            )),
            build,
        );
        assert_eq!(y.year_for(None), 2029);
        // The clock reads 2031 and the server date is from another boot: the server date decides
        // the year, though the box clock may still be right about today.
        let y = IdYear::new(date("2031-05-05"), Some((date("2027-03-01"), None)), build);
        assert_eq!(y.year_for(None), 2027);
        assert_eq!(y.year_for(Some("2030-01-01")), 2030);
        // Nothing from a server and a clock before the build date: the build date's year.
        assert_eq!(
            IdYear::new(date("2001-01-01"), None, build).year_for(None),
            2026
        );
        // A box clock after the build date and no server: the box clock.
        assert_eq!(
            IdYear::new(date("2027-02-01"), None, build).year_for(None),
            2027
        );
    }

    #[test]
    fn ids_avoid_look_alike_characters_and_keep_the_readable_shape() {
        let id = new_mpi_id("SN-DKR", 2026).unwrap();
        assert!(id.starts_with("SN-DKR-26-"), "{id}");
        assert_eq!(id.len(), "SN-DKR-26-XXXXXXXX-C".len());
        assert!(!id[10..].contains(['O', '0', 'I', '1']));
    }
}
