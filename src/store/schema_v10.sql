-- v10: sync runs that cannot prove they hold everything, and records that cannot be decoded.
-- A run ends by checking what it holds against the server; when a record stays missing or
-- undecodable it ends `partial`, never `ok` (SQLite cannot change a CHECK: the table is rebuilt).
CREATE TABLE sync_runs_v10 (
    id          INTEGER PRIMARY KEY,
    program_uid TEXT NOT NULL,
    started_at  TEXT NOT NULL,
    finished_at TEXT,
    status      TEXT NOT NULL CHECK (status IN ('running', 'ok', 'partial', 'failed', 'interrupted')),
    pid         INTEGER,
    report_json TEXT,
    boot_id     TEXT,
    pid_start_time INTEGER,
    started_since_boot_ms INTEGER
);
INSERT INTO sync_runs_v10(id, program_uid, started_at, finished_at, status, pid, report_json, boot_id,
    pid_start_time, started_since_boot_ms)
  SELECT id, program_uid, started_at, finished_at, status, pid, report_json, boot_id, pid_start_time,
    started_since_boot_ms FROM sync_runs;
DROP TABLE sync_runs;
ALTER TABLE sync_runs_v10 RENAME TO sync_runs;

-- Tracked entities the server sent but kadi could not decode (an invalid UTF-8 byte, a value of
-- the wrong shape, a bad date): named with the reason, fetched again by UID at every run, and
-- removed once they decode. The rest of their page is stored as usual.
CREATE TABLE sync_quarantine (
    program_uid   TEXT NOT NULL,
    uid           TEXT NOT NULL,
    reason        TEXT NOT NULL,
    first_seen_at TEXT NOT NULL,
    last_seen_at  TEXT NOT NULL,
    attempts      INTEGER NOT NULL DEFAULT 1,
    PRIMARY KEY (program_uid, uid)
) WITHOUT ROWID;
