//! Time a box can trust. A Raspberry Pi has no real-time clock: until NTP (or DHIS2) answers, its
//! wall clock may read 1970 or whatever it read at the last shutdown, and an operator may set it by
//! hand. So kadi never uses the bare wall clock for anything printed or stored for good:
//! - [`build_date`] is a floor: no trusted date lies before the commit the binary was built from;
//! - [`since_boot`] with [`boot_id`] is a monotonic bound that survives wall-clock jumps (it counts
//!   suspend too), for expiring sessions and recognising a run left behind by a power cut;
//! - [`plausible_today`] is the box's date when it is plausible, else the floor.
use chrono::NaiveDate;
use std::time::Duration;

/// The date of the commit this binary was built from (`YYYY-MM-DD`, embedded by `build.rs`).
pub const BUILD_DATE: &str = env!("KADI_BUILD_DATE");

/// [`BUILD_DATE`] as a date (1970-01-01 if it were ever malformed, which build.rs prevents).
pub fn build_date() -> NaiveDate {
    NaiveDate::parse_from_str(BUILD_DATE, "%Y-%m-%d").unwrap_or_default()
}

/// Today by the box's clock if it is not before the build date, else the build date.
pub fn plausible_today() -> NaiveDate {
    chrono::Utc::now().date_naive().max(build_date())
}

/// The latest date the box can trust has come, for dates stored for good (a card's issue date):
/// DHIS2's last reported date moved on by the time measured since on the monotonic clock (same
/// boot) beats the box clock; otherwise the box clock counts when it is not behind the last
/// server date; never before the build date. The same rule as the MPI ID's year
/// (`mpi::id::IdYear`), for callers that do not make MPI IDs.
pub fn trusted_today(last_server: Option<(NaiveDate, Option<Duration>)>) -> NaiveDate {
    let build = build_date();
    match last_server {
        Some((server, Some(elapsed))) => {
            (server + chrono::Duration::days((elapsed.as_secs() / 86_400) as i64)).max(build)
        }
        Some((server, None)) => chrono::Utc::now().date_naive().max(server).max(build),
        None => plausible_today(),
    }
}

/// True when the wall clock reads a date before this binary was built: it cannot be right.
pub fn wall_clock_is_implausible() -> bool {
    chrono::Utc::now().date_naive() < build_date()
}

/// `YYYY-MM-DDTHH:MM:SSZ`: the one format of every time kadi stores (UTC, sorts as text).
pub fn format_utc(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Parses a stored time (any RFC 3339 form, e.g. [`format_utc`]'s) into UTC.
pub fn parse_utc(s: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    chrono::DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&chrono::Utc))
}

/// This boot's random ID (`/proc/sys/kernel/random/boot_id`), which changes at every boot: a
/// process ID or a monotonic time means something only together with it.
pub fn boot_id() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

/// Time since boot, including suspend (`CLOCK_BOOTTIME`): never jumps when the wall clock is set.
pub fn since_boot() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_BOOTTIME exists on every Linux kadi runs on.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_BOOTTIME, &mut ts) };
    if rc != 0 {
        return Duration::ZERO;
    }
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// A point on the monotonic clock that can be stored: this boot's ID and the time since boot.
/// Comparing two stamps of the same boot gives real elapsed time whatever the wall clock did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootStamp {
    pub boot_id: String,
    pub since_boot_ms: i64,
}

impl BootStamp {
    /// Now, or `None` where the system does not expose a boot ID.
    pub fn now() -> Option<BootStamp> {
        Some(BootStamp {
            boot_id: boot_id()?,
            since_boot_ms: since_boot().as_millis() as i64,
        })
    }

    /// Time elapsed since `self` if it was taken during this boot; `None` from another boot.
    pub fn elapsed(&self) -> Option<Duration> {
        self.elapsed_until(&BootStamp::now()?)
    }

    /// Time from `self` to `later` if both were taken during the same boot; `None` otherwise.
    pub fn elapsed_until(&self, later: &BootStamp) -> Option<Duration> {
        (later.boot_id == self.boot_id).then(|| {
            Duration::from_millis(
                later
                    .since_boot_ms
                    .saturating_sub(self.since_boot_ms)
                    .max(0) as u64,
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_build_date_is_a_real_date_and_a_floor() {
        assert!(build_date() > NaiveDate::from_ymd_opt(2026, 1, 1).unwrap());
        assert!(plausible_today() >= build_date());
    }

    #[test]
    fn the_trusted_date_follows_the_server_when_measured_and_never_goes_before_the_build() {
        let server = NaiveDate::from_ymd_opt(2030, 3, 1).unwrap();
        let two_days = Duration::from_secs(2 * 86_400 + 5);
        assert_eq!(
            trusted_today(Some((server, Some(two_days)))),
            NaiveDate::from_ymd_opt(2030, 3, 3).unwrap()
        );
        // A server date from another boot is a floor under the box clock.
        assert_eq!(trusted_today(Some((server, None))), server);
        let old = NaiveDate::from_ymd_opt(2001, 1, 1).unwrap();
        assert_eq!(
            trusted_today(Some((old, Some(Duration::ZERO)))),
            build_date()
        );
    }

    #[test]
    fn boot_stamps_measure_within_one_boot_only() {
        let stamp = BootStamp::now().expect("Linux exposes a boot id");
        std::thread::sleep(Duration::from_millis(20));
        assert!(stamp.elapsed().unwrap() >= Duration::from_millis(20));
        let other = BootStamp {
            boot_id: "another-boot".into(),
            since_boot_ms: 0,
        };
        assert_eq!(other.elapsed(), None);
    }
}
