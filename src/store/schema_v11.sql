-- v11 (s10-a): API tokens and the DHIS2 connection's programme and creation time.
-- A token is random (32 bytes from the OS) and high-entropy, so a plain SHA-256 is enough to
-- store it (no salt, no slow hash: nobody guesses 256 bits); the token itself is shown once.
-- Names stay unique after a revoke so that an audit row's `token:NAME` names one token forever.
CREATE TABLE api_tokens (
    id           INTEGER PRIMARY KEY,
    name         TEXT NOT NULL UNIQUE,
    role         TEXT NOT NULL CHECK (role IN ('staff', 'admin')),
    token_hash   TEXT NOT NULL UNIQUE,
    created_at   TEXT NOT NULL,
    last_used_at TEXT,
    revoked_at   TEXT
);

-- The programme the box works with (POST /dhis2/config `programme_uid`) and when the connection
-- was first configured (`created_at` of the Oomus-shaped config; `updated_at` already exists).
ALTER TABLE dhis2_connection ADD COLUMN programme_uid TEXT;
ALTER TABLE dhis2_connection ADD COLUMN created_at TEXT;
UPDATE dhis2_connection SET created_at = updated_at WHERE created_at IS NULL;
