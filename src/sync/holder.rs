//! Who holds a running sync, in a form that survives a reboot. A `running` row in `sync_runs`
//! outlives its process when the power goes; after the reboot the PID it names is soon reused
//! (by PID 1, by a web worker, by anything), so a bare PID would block every sync for hours. A
//! holder is live only when this is the same boot, a process with that PID exists, and it started
//! at the same moment (`/proc/PID/stat` field 22, clock ticks since boot, never reused within one
//! boot for the same PID). A run older than [`HUNG_AFTER`] on the monotonic clock is treated as
//! hung, whatever its holder.
use crate::store::sync_data::RunHolder;
use std::time::Duration;

/// A run that has held its row this long (CLOCK_BOOTTIME) is hung: a later run may start.
pub const HUNG_AFTER: Duration = Duration::from_secs(6 * 3600);

/// The holder of a run this process starts now.
pub fn this_process() -> RunHolder {
    let pid = std::process::id();
    RunHolder {
        pid,
        boot_id: crate::clock::boot_id(),
        start_time: process_start_time(pid),
        started_since_boot_ms: crate::clock::BootStamp::now().map(|s| s.since_boot_ms),
    }
}

/// Whether `holder` is still running its sync: same boot, the PID alive, and the same process
/// (its start time matches), for less than [`HUNG_AFTER`].
pub fn is_live(holder: &RunHolder) -> bool {
    is_live_in(
        holder,
        crate::clock::boot_id().as_deref(),
        crate::clock::since_boot(),
        &process_start_time,
        &pid_exists,
    )
}

/// [`is_live`] against a given boot, monotonic time and process table (for tests).
pub fn is_live_in(
    holder: &RunHolder,
    boot_id: Option<&str>,
    since_boot: Duration,
    start_time_of: &dyn Fn(u32) -> Option<i64>,
    pid_exists: &dyn Fn(u32) -> bool,
) -> bool {
    let Some(held_boot) = holder.boot_id.as_deref() else {
        // A row from before holders carried a boot id: only the PID is known.
        return pid_exists(holder.pid);
    };
    if boot_id != Some(held_boot) {
        return false;
    }
    if let Some(started) = holder.started_since_boot_ms {
        let age = (since_boot.as_millis() as i64).saturating_sub(started);
        if age > HUNG_AFTER.as_millis() as i64 {
            return false;
        }
    }
    match (holder.start_time, start_time_of(holder.pid)) {
        (Some(held), Some(now)) => held == now,
        // No such process in /proc: it is gone.
        (_, None) => false,
        // The holder could not read its own start time: fall back to the PID within this boot.
        (None, Some(_)) => pid_exists(holder.pid),
    }
}

/// Field 22 (`starttime`) of `/proc/PID/stat`, or `None` when there is no such process.
pub fn process_start_time(pid: u32) -> Option<i64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_start_time(&stat)
}

/// The start time in a `/proc/PID/stat` line. The command name (field 2) is in parentheses and
/// may itself hold spaces and parentheses, so fields are counted after the last `)`.
fn parse_start_time(stat: &str) -> Option<i64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    // `rest` starts at field 3 (state): field 22 is the 20th after the parenthesis.
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// Whether a process with this id exists (signal 0 checks without sending anything).
fn pid_exists(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    // SAFETY: kill with signal 0 only checks for existence and permission; no signal is sent.
    let rc = unsafe { libc::kill(pid, 0) };
    rc == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn holder(boot: &str, start: i64, started_ms: i64) -> RunHolder {
        RunHolder {
            pid: 1234,
            boot_id: Some(boot.into()),
            start_time: Some(start),
            started_since_boot_ms: Some(started_ms),
        }
    }

    #[test]
    fn the_start_time_is_read_after_a_command_name_with_spaces_and_parentheses() {
        let line = "1234 (kadi (x) y) S 1 1234 1234 0 -1 4194560 100 0 0 0 5 3 0 0 20 0 4 0 987654 1000 50";
        assert_eq!(parse_start_time(line), Some(987654));
        assert_eq!(parse_start_time("garbage"), None);
        let me = process_start_time(std::process::id()).expect("/proc of this process");
        assert!(me > 0);
    }

    #[test]
    fn a_holder_is_live_only_in_the_same_boot_with_the_same_process_start() {
        let alive = |_: u32| true;
        let started = |_: u32| Some(500);
        let now = Duration::from_secs(3600);
        assert!(is_live_in(
            &holder("b1", 500, 1_000),
            Some("b1"),
            now,
            &started,
            &alive
        ));
        // Another boot: the PID means nothing.
        assert!(!is_live_in(
            &holder("b0", 500, 1_000),
            Some("b1"),
            now,
            &started,
            &alive
        ));
        // The PID was reused by a process that started at another moment.
        assert!(!is_live_in(
            &holder("b1", 499, 1_000),
            Some("b1"),
            now,
            &started,
            &alive
        ));
        // No such process.
        assert!(!is_live_in(
            &holder("b1", 500, 1_000),
            Some("b1"),
            now,
            &|_| None,
            &|_| false
        ));
        // Hung for longer than the bound.
        let late = HUNG_AFTER + Duration::from_secs(10);
        assert!(!is_live_in(
            &holder("b1", 500, 1_000),
            Some("b1"),
            late,
            &started,
            &alive
        ));
    }
}
