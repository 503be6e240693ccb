-- kadi schema, version 1. Applied once by store::migrate when PRAGMA user_version < 1.
-- Timestamps are ISO 8601 text in UTC; DHIS2 server timestamps are kept as the server sent them.

CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- The one DHIS2 connection of this box. The secret is sealed (see secret.rs), never clear text.
CREATE TABLE dhis2_connection (
    id             INTEGER PRIMARY KEY CHECK (id = 1),
    base_url       TEXT NOT NULL,
    auth_kind      TEXT NOT NULL CHECK (auth_kind IN ('basic', 'token')),
    username       TEXT,
    secret_sealed  TEXT NOT NULL,
    dhis2_version  TEXT,
    last_test_at   TEXT,
    last_test_status TEXT,
    updated_at     TEXT NOT NULL
);

CREATE TABLE programs (
    uid                 TEXT PRIMARY KEY,
    name                TEXT NOT NULL,
    code                TEXT,
    tracked_entity_type TEXT,
    server_updated_at   TEXT,
    fetched_at          TEXT NOT NULL
);

CREATE TABLE program_attributes (
    program_uid    TEXT NOT NULL REFERENCES programs(uid) ON DELETE CASCADE,
    attribute_uid  TEXT NOT NULL,
    code           TEXT,
    name           TEXT NOT NULL,
    display_name   TEXT,
    value_type     TEXT NOT NULL,
    option_set_uid TEXT,
    mandatory      INTEGER NOT NULL DEFAULT 0,
    sort_order     INTEGER NOT NULL DEFAULT 0,
    sensitive      INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (program_uid, attribute_uid)
);

CREATE TABLE option_sets (
    uid  TEXT PRIMARY KEY,
    name TEXT
);

CREATE TABLE options (
    option_set_uid TEXT NOT NULL REFERENCES option_sets(uid) ON DELETE CASCADE,
    code           TEXT NOT NULL,
    name           TEXT NOT NULL,
    sort_order     INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (option_set_uid, code)
);

CREATE TABLE org_unit_levels (
    level INTEGER PRIMARY KEY,
    name  TEXT NOT NULL
);

CREATE TABLE org_units (
    uid        TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    code       TEXT,
    level      INTEGER,
    path       TEXT,
    parent_uid TEXT
);
CREATE INDEX org_units_parent ON org_units(parent_uid);

CREATE TABLE tracked_entities (
    uid                 TEXT PRIMARY KEY,
    tracked_entity_type TEXT,
    org_unit_uid        TEXT,
    server_created_at   TEXT,
    server_updated_at   TEXT,
    deleted             INTEGER NOT NULL DEFAULT 0,
    synced_at           TEXT NOT NULL
);

-- Values of non-sensitive attributes only: the guardrail drops sensitive ones before the store.
CREATE TABLE attribute_values (
    tracked_entity_uid TEXT NOT NULL REFERENCES tracked_entities(uid) ON DELETE CASCADE,
    attribute_uid      TEXT NOT NULL,
    value              TEXT NOT NULL,
    server_updated_at  TEXT,
    PRIMARY KEY (tracked_entity_uid, attribute_uid)
) WITHOUT ROWID;

CREATE TABLE enrollments (
    uid                TEXT PRIMARY KEY,
    tracked_entity_uid TEXT NOT NULL REFERENCES tracked_entities(uid) ON DELETE CASCADE,
    program_uid        TEXT NOT NULL,
    org_unit_uid       TEXT,
    enrolled_at        TEXT,
    occurred_at        TEXT,
    status             TEXT,
    server_updated_at  TEXT,
    deleted            INTEGER NOT NULL DEFAULT 0,
    synced_at          TEXT NOT NULL
);
CREATE INDEX enrollments_te ON enrollments(tracked_entity_uid);
CREATE INDEX enrollments_program ON enrollments(program_uid);

-- The assign-codes mapping: which DHIS2 attribute feeds which card field, per program.
CREATE TABLE mappings (
    program_uid    TEXT NOT NULL,
    card_field     TEXT NOT NULL,
    attribute_uid  TEXT,
    matched_by     TEXT NOT NULL CHECK (matched_by IN ('code', 'display_name', 'uid', 'org_unit', 'enrollment')),
    matched_value  TEXT NOT NULL,
    value_map_json TEXT,
    updated_at     TEXT NOT NULL,
    PRIMARY KEY (program_uid, card_field)
);

-- Card fields of each enrollment, as produced by mapping (what the MPI compares and cards show).
-- No foreign key to enrollments: `kadi mpi eval` resolves CSV records that have no enrollment.
CREATE TABLE card_records (
    enrollment_uid     TEXT PRIMARY KEY,
    tracked_entity_uid TEXT NOT NULL,
    program_uid        TEXT NOT NULL,
    fields_json        TEXT NOT NULL,
    content_hash       TEXT NOT NULL,
    mapped_at          TEXT NOT NULL,
    mpi_state          TEXT NOT NULL DEFAULT 'pending' CHECK (mpi_state IN ('pending', 'resolved', 'review'))
);
CREATE INDEX card_records_program ON card_records(program_uid);
CREATE INDEX card_records_mpi_state ON card_records(mpi_state);

CREATE TABLE mpi_identities (
    mpi_id       TEXT PRIMARY KEY,
    golden_json  TEXT NOT NULL DEFAULT '{}',
    merged_into  TEXT REFERENCES mpi_identities(mpi_id),
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL
);

CREATE TABLE mpi_links (
    enrollment_uid TEXT PRIMARY KEY REFERENCES card_records(enrollment_uid) ON DELETE CASCADE,
    mpi_id         TEXT NOT NULL REFERENCES mpi_identities(mpi_id),
    score          REAL,
    method         TEXT NOT NULL CHECK (method IN ('new', 'auto', 'human', 'deterministic')),
    linked_at      TEXT NOT NULL
);
CREATE INDEX mpi_links_mpi ON mpi_links(mpi_id);

-- Blocking index: candidate lookup by key, never a full scan.
CREATE TABLE mpi_block_keys (
    block_key      TEXT NOT NULL,
    enrollment_uid TEXT NOT NULL REFERENCES card_records(enrollment_uid) ON DELETE CASCADE,
    PRIMARY KEY (block_key, enrollment_uid)
) WITHOUT ROWID;
CREATE INDEX mpi_block_keys_enrollment ON mpi_block_keys(enrollment_uid);

CREATE TABLE review_items (
    id                  INTEGER PRIMARY KEY,
    enrollment_uid      TEXT NOT NULL REFERENCES card_records(enrollment_uid) ON DELETE CASCADE,
    candidate_enrollment_uid TEXT NOT NULL,
    candidate_mpi_id    TEXT NOT NULL,
    score               REAL NOT NULL,
    explain_json        TEXT NOT NULL,
    status              TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'same', 'different')),
    decided_by          TEXT,
    decided_at          TEXT,
    created_at          TEXT NOT NULL
);
CREATE INDEX review_items_status ON review_items(status);
CREATE INDEX review_items_enrollment ON review_items(enrollment_uid);

-- One row per merge still in force: which records came from the merged identity, so a merge can
-- be undone exactly (`kadi mpi unmerge`).
CREATE TABLE mpi_merges (
    merged_mpi_id    TEXT PRIMARY KEY REFERENCES mpi_identities(mpi_id),
    survivor_mpi_id  TEXT NOT NULL REFERENCES mpi_identities(mpi_id),
    enrollments_json TEXT NOT NULL,
    merged_by        TEXT NOT NULL,
    merged_at        TEXT NOT NULL
);

-- Pairs a person said are different people: never proposed again.
CREATE TABLE mpi_not_same (
    enrollment_a TEXT NOT NULL,
    enrollment_b TEXT NOT NULL,
    decided_by   TEXT NOT NULL,
    decided_at   TEXT NOT NULL,
    PRIMARY KEY (enrollment_a, enrollment_b),
    CHECK (enrollment_a < enrollment_b)
);

CREATE TABLE cards (
    enrollment_uid TEXT NOT NULL,
    template       TEXT NOT NULL,
    dpi            INTEGER NOT NULL,
    content_hash   TEXT NOT NULL,
    path           TEXT,
    generated_at   TEXT NOT NULL,
    PRIMARY KEY (enrollment_uid, template, dpi)
);

CREATE TABLE sync_runs (
    id          INTEGER PRIMARY KEY,
    program_uid TEXT NOT NULL,
    started_at  TEXT NOT NULL,
    finished_at TEXT,
    status      TEXT NOT NULL CHECK (status IN ('running', 'ok', 'failed', 'interrupted')),
    pid         INTEGER,
    report_json TEXT
);

-- Resumable paging: where an interrupted run continues, and the watermark of the last full run.
CREATE TABLE sync_cursors (
    program_uid      TEXT PRIMARY KEY,
    watermark        TEXT,
    run_server_date  TEXT,
    run_updated_after TEXT,
    run_page_size    INTEGER,
    next_page        INTEGER,
    reconciled_at    TEXT,
    updated_at       TEXT NOT NULL
);

CREATE TABLE sync_schedule (
    program_uid         TEXT PRIMARY KEY,
    interval_minutes    INTEGER NOT NULL CHECK (interval_minutes IN (10, 15, 30, 60, 180)),
    enabled             INTEGER NOT NULL DEFAULT 1,
    auto_generate_cards INTEGER NOT NULL DEFAULT 0,
    next_sync_at        TEXT,
    updated_at          TEXT NOT NULL
);

CREATE TABLE tasks (
    id              TEXT PRIMARY KEY,
    kind            TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('pending', 'generating', 'done', 'failed')),
    total           INTEGER NOT NULL DEFAULT 0,
    done            INTEGER NOT NULL DEFAULT 0,
    body_json       TEXT,
    error           TEXT,
    started_at      TEXT,
    finished_at     TEXT,
    created_at      TEXT NOT NULL
);

CREATE TABLE staff (
    username     TEXT PRIMARY KEY,
    display_name TEXT,
    pin_hash     TEXT NOT NULL,
    role         TEXT NOT NULL DEFAULT 'staff' CHECK (role IN ('staff', 'admin')),
    created_at   TEXT NOT NULL
);

CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,
    username   TEXT NOT NULL REFERENCES staff(username) ON DELETE CASCADE,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
);

CREATE TABLE outbox (
    id           INTEGER PRIMARY KEY,
    channel      TEXT NOT NULL CHECK (channel IN ('whatsapp', 'sms')),
    recipient    TEXT NOT NULL,
    body         TEXT NOT NULL,
    enrollment_uid TEXT,
    status       TEXT NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'sent', 'failed')),
    attempts     INTEGER NOT NULL DEFAULT 0,
    last_error   TEXT,
    created_at   TEXT NOT NULL,
    sent_at      TEXT
);

-- Every state change: who, when, what, before and after.
CREATE TABLE audit_log (
    id          INTEGER PRIMARY KEY,
    at          TEXT NOT NULL,
    actor       TEXT NOT NULL,
    action      TEXT NOT NULL,
    entity      TEXT,
    before_json TEXT,
    after_json  TEXT
);
CREATE INDEX audit_log_entity ON audit_log(entity);
