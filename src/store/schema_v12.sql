-- v12: card tasks queued from the page or the API (`POST /dhis2/generate-cards`) are run by the
-- card task worker of `kadi serve`, which finds them by `queued_by` (the staff member or token
-- that asked; NULL for a `kadi cards generate` run, which its own process runs). A queued task
-- left `generating` by a killed server is resumed by the next one.
ALTER TABLE tasks ADD COLUMN queued_by TEXT;
CREATE INDEX tasks_queued ON tasks(status) WHERE queued_by IS NOT NULL;
