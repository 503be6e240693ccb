-- v7: the sync run holder (boot id, process start time) and the last DHIS2 server date.
-- A bare PID does not identify the process that holds a `running` sync row: after a power cut
-- the box reboots, PIDs start over, and the old PID often belongs to some other live process
-- (PID 1 at worst), which blocked every sync for hours. A holder is the PID together with this
-- boot's ID, the process start time (`/proc/PID/stat` field 22, clock ticks since boot) and the
-- time since boot when the run started (CLOCK_BOOTTIME, which a wall-clock jump does not move).
ALTER TABLE sync_runs ADD COLUMN boot_id TEXT;
ALTER TABLE sync_runs ADD COLUMN pid_start_time INTEGER;
ALTER TABLE sync_runs ADD COLUMN started_since_boot_ms INTEGER;

-- The last date DHIS2 reported (`serverDate` of /api/system/info), with the box's boot stamp when
-- it was read: the box has no real-time clock, and dates printed for good (the year inside an
-- MPI ID) must come from something trusted. One row.
CREATE TABLE dhis2_server_clock (
    id                INTEGER PRIMARY KEY CHECK (id = 1),
    server_date       TEXT NOT NULL,
    boot_id           TEXT,
    since_boot_ms     INTEGER,
    recorded_at       TEXT NOT NULL
);
