-- v6: login throttle state and monotonic session stamps.
--
-- The throttle lives here, not in the server's memory, because `kadi staff unlock` is another
-- process and because a restart must not hand an attacker a fresh budget. One row per
-- (username, client address) and one per address with username '*' (the per-address budget
-- across usernames; '*' is no valid username). `attempts` counts failed attempts plus the ones
-- being checked right now (reserved before the PIN is verified, so the check-and-count is one
-- transaction); a success removes its reservation. `audit_id` is the audit row that counts the
-- refusals of the current lock, so a flood of refused attempts is one audit row with a count.
CREATE TABLE login_throttle (
    username     TEXT NOT NULL,
    address      TEXT NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    last_attempt TEXT NOT NULL,
    locked_until TEXT,
    audit_id     INTEGER,
    PRIMARY KEY (username, address)
) WITHOUT ROWID;

-- Where on the monotonic clock (this boot's ID and CLOCK_BOOTTIME in ms) a session was made: it
-- ends after its lifetime of real elapsed time even when the wall clock is wrong or set back.
ALTER TABLE sessions ADD COLUMN boot_id TEXT;
ALTER TABLE sessions ADD COLUMN since_boot_ms INTEGER;
CREATE INDEX sessions_username ON sessions(username);
