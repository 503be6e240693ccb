//! Times as staff read them: in the box's local time and plain words ("Today 14:05"), never the
//! stored UTC (`2026-12-03T23:51:58Z`). Display only: what kadi stores stays UTC.
//!
//! The offset is the setting [`OFFSET_SETTING`] (`+01:00`, `-03:30`, `UTC`) when set, else the
//! offset of the box's own time zone (`/etc/localtime`, `TZ`) at start. `kadi serve` reads it once
//! at start ([`load`]); the templates' `when` and `localtime` filters use it.
use crate::store::Store;
use chrono::{DateTime, FixedOffset, Offset, Utc};
use std::sync::atomic::{AtomicI32, Ordering};

/// The setting that names the offset the page shows times in (`+00:00` in Dakar).
pub const OFFSET_SETTING: &str = "web.time_offset";

/// Seconds east of UTC of the times the page shows (set by [`load`]).
static OFFSET_SECS: AtomicI32 = AtomicI32::new(0);

/// `+01:00`, `-0330`, `+1`, `UTC` / `Z` -> the offset; `None` when unreadable.
pub fn parse_offset(text: &str) -> Option<FixedOffset> {
    let t = text.trim();
    if t.eq_ignore_ascii_case("utc") || t.eq_ignore_ascii_case("z") || t.eq_ignore_ascii_case("gmt")
    {
        return FixedOffset::east_opt(0);
    }
    let (sign, rest) = match t.as_bytes().first()? {
        b'+' => (1, &t[1..]),
        b'-' => (-1, &t[1..]),
        _ => return None,
    };
    let digits: String = rest.chars().filter(|c| *c != ':').collect();
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (h, m) = match digits.len() {
        1 | 2 => (digits.parse::<i32>().ok()?, 0),
        4 => (
            digits[..2].parse::<i32>().ok()?,
            digits[2..].parse::<i32>().ok()?,
        ),
        _ => return None,
    };
    if h > 14 || m > 59 {
        return None;
    }
    FixedOffset::east_opt(sign * (h * 3600 + m * 60))
}

/// Reads the offset the page shows times in (the setting, else the box's zone) and keeps it.
pub fn load(store: &Store) -> FixedOffset {
    let set = store
        .setting(OFFSET_SETTING)
        .ok()
        .flatten()
        .and_then(|v| parse_offset(&v));
    let offset = set.unwrap_or_else(|| *chrono::Local::now().offset());
    OFFSET_SECS.store(offset.local_minus_utc(), Ordering::Relaxed);
    offset
}

/// The offset kept by [`load`] (UTC before it ran).
pub fn offset() -> FixedOffset {
    FixedOffset::east_opt(OFFSET_SECS.load(Ordering::Relaxed)).unwrap_or(Utc.fix())
}

/// `Today 14:05`, `Yesterday 09:12`, `3 Dec 14:05`, `3 Dec 2025 14:05` (a stored UTC time seen at
/// `offset`, relative to `now`); unreadable text comes back as it is.
pub fn plain(stored: &str, offset: FixedOffset, now: DateTime<Utc>) -> String {
    let Some(t) = crate::clock::parse_utc(stored) else {
        return stored.to_string();
    };
    let local = t.with_timezone(&offset);
    let today = now.with_timezone(&offset).date_naive();
    let day = local.date_naive();
    let clock = local.format("%H:%M");
    if day == today {
        format!("Today {clock}")
    } else if today.pred_opt() == Some(day) {
        format!("Yesterday {clock}")
    } else if day.format("%Y").to_string() == today.format("%Y").to_string() {
        format!("{} {clock}", local.format("%-d %b"))
    } else {
        format!("{} {clock}", local.format("%-d %b %Y"))
    }
}

/// `2026-12-03 14:05` at `offset`: a full local time for tables (the audit log).
pub fn local(stored: &str, offset: FixedOffset) -> String {
    match crate::clock::parse_utc(stored) {
        Some(t) => t
            .with_timezone(&offset)
            .format("%Y-%m-%d %H:%M:%S")
            .to_string(),
        None => stored.to_string(),
    }
}

/// `1,234`: counts as staff read them.
pub fn thousands(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 {
        format!("-{out}")
    } else {
        out
    }
}

/// Registers the `when` (plain words), `localtime` (full) and `thousands` template filters.
pub fn add_filters(env: &mut minijinja::Environment<'static>) {
    env.add_filter("when", |s: String| plain(&s, offset(), Utc::now()));
    env.add_filter("localtime", |s: String| local(&s, offset()));
    env.add_filter("thousands", |n: i64| thousands(n));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        crate::clock::parse_utc(s).unwrap()
    }

    #[test]
    fn times_read_in_local_words() {
        let dakar = parse_offset("UTC").unwrap();
        let paris = parse_offset("+01:00").unwrap();
        let now = at("2026-12-04T10:00:00Z");
        assert_eq!(plain("2026-12-04T09:05:00Z", dakar, now), "Today 09:05");
        assert_eq!(plain("2026-12-03T23:51:58Z", dakar, now), "Yesterday 23:51");
        // An hour east, late last night is early today.
        assert_eq!(plain("2026-12-03T23:51:58Z", paris, now), "Today 00:51");
        assert_eq!(plain("2026-11-02T08:00:00Z", dakar, now), "2 Nov 08:00");
        assert_eq!(
            plain("2025-11-02T08:00:00Z", dakar, now),
            "2 Nov 2025 08:00"
        );
        assert_eq!(plain("garbage", dakar, now), "garbage");
        assert_eq!(local("2026-12-03T23:51:58Z", paris), "2026-12-04 00:51:58");
        assert_eq!(parse_offset("-0330").unwrap().local_minus_utc(), -12600);
        assert_eq!(parse_offset("+3").unwrap().local_minus_utc(), 10800);
        assert!(parse_offset("Africa/Dakar").is_none());
        assert!(parse_offset("+25:00").is_none());
        assert_eq!(thousands(1234), "1,234");
        assert_eq!(thousands(123), "123");
        assert_eq!(thousands(1234567), "1,234,567");
    }
}
