-- The whole schema at the newest version (`SCHEMA_VERSION`), for a new database: what
-- `schema_v1.sql` .. the newest migration build from nothing, as `sqlite_master` holds it (in
-- its order, so every table precedes its indexes). Replaying the migrations on a new database
-- parsed the schema again at every statement and rebuilt tables v16 rebuilds: 5.5 ms of a new
-- evaluation store, ~1 ms this way. Not edited by hand: a new migration changes it, and
-- `store::tests::a_new_database_gets_the_schema_its_migrations_build` fails until it is
-- regenerated with `KADI_BLESS_SCHEMA=1 cargo test --lib a_new_database_gets_the_schema` (the
-- run that writes it still fails; the next one, built with it, passes).
CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
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
, programme_uid TEXT, created_at TEXT);
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
, attributes_json TEXT NOT NULL DEFAULT '[]');
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
CREATE TABLE mpi_identities (
    mpi_id       TEXT PRIMARY KEY,
    golden_json  TEXT NOT NULL DEFAULT '{}',
    merged_into  TEXT REFERENCES mpi_identities(mpi_id),
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL
);
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
, kind TEXT NOT NULL DEFAULT 'pair' CHECK (kind IN ('pair', 'split')));
CREATE INDEX review_items_status ON review_items(status);
CREATE INDEX review_items_enrollment ON review_items(enrollment_uid);
CREATE TABLE mpi_merges (
    merged_mpi_id    TEXT PRIMARY KEY REFERENCES mpi_identities(mpi_id),
    survivor_mpi_id  TEXT NOT NULL REFERENCES mpi_identities(mpi_id),
    enrollments_json TEXT NOT NULL,
    merged_by        TEXT NOT NULL,
    merged_at        TEXT NOT NULL
);
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
, queued_by TEXT);
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
, boot_id TEXT, since_boot_ms INTEGER);
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
CREATE VIEW attribute_values(tracked_entity_uid, attribute_uid, value, server_updated_at) AS
    SELECT t.uid, j.value ->> 0, j.value ->> 1, j.value ->> 2
    FROM tracked_entities t, json_each(t.attributes_json) j;
CREATE TABLE mpi_block_keys_staged (
    enrollment_uid TEXT NOT NULL REFERENCES card_records(enrollment_uid) ON DELETE CASCADE,
    block_key      TEXT NOT NULL,
    PRIMARY KEY (enrollment_uid, block_key)
) WITHOUT ROWID;
CREATE TABLE login_throttle (
    username     TEXT NOT NULL,
    address      TEXT NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    last_attempt TEXT NOT NULL,
    locked_until TEXT,
    audit_id     INTEGER,
    PRIMARY KEY (username, address)
) WITHOUT ROWID;
CREATE INDEX sessions_username ON sessions(username);
CREATE TABLE dhis2_server_clock (
    id                INTEGER PRIMARY KEY CHECK (id = 1),
    server_date       TEXT NOT NULL,
    boot_id           TEXT,
    since_boot_ms     INTEGER,
    recorded_at       TEXT NOT NULL
);
CREATE UNIQUE INDEX review_items_pending_split ON review_items(enrollment_uid)
    WHERE status = 'pending' AND kind = 'split';
CREATE TABLE mpi_params (
    id           INTEGER PRIMARY KEY,
    created_at   TEXT NOT NULL,
    created_by   TEXT NOT NULL,
    records      INTEGER NOT NULL,
    params_json  TEXT NOT NULL,
    active       INTEGER NOT NULL DEFAULT 0 CHECK (active IN (0, 1))
);
CREATE UNIQUE INDEX mpi_params_in_force ON mpi_params(active) WHERE active = 1;
CREATE TABLE "sync_runs" (
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
CREATE TABLE sync_quarantine (
    program_uid   TEXT NOT NULL,
    uid           TEXT NOT NULL,
    reason        TEXT NOT NULL,
    first_seen_at TEXT NOT NULL,
    last_seen_at  TEXT NOT NULL,
    attempts      INTEGER NOT NULL DEFAULT 1,
    PRIMARY KEY (program_uid, uid)
) WITHOUT ROWID;
CREATE TABLE api_tokens (
    id           INTEGER PRIMARY KEY,
    name         TEXT NOT NULL UNIQUE,
    role         TEXT NOT NULL CHECK (role IN ('staff', 'admin')),
    token_hash   TEXT NOT NULL UNIQUE,
    created_at   TEXT NOT NULL,
    last_used_at TEXT,
    revoked_at   TEXT
);
CREATE INDEX tasks_queued ON tasks(status) WHERE queued_by IS NOT NULL;
CREATE TABLE search_terms (
    term           TEXT NOT NULL,
    enrollment_uid TEXT NOT NULL,
    PRIMARY KEY (term, enrollment_uid)
) WITHOUT ROWID;
CREATE INDEX search_terms_enrollment ON search_terms(enrollment_uid);
CREATE TABLE search_records (
    enrollment_uid TEXT PRIMARY KEY,
    sort_key       TEXT NOT NULL,
    group_key      TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX search_records_sort ON search_records(sort_key, enrollment_uid, group_key);
CREATE INDEX search_records_group ON search_records(group_key);
CREATE TABLE search_stale (
    enrollment_uid TEXT PRIMARY KEY
) WITHOUT ROWID;
CREATE TABLE outbox (
    id              TEXT PRIMARY KEY,
    channel         TEXT NOT NULL CHECK (channel IN ('whatsapp', 'sms')),
    -- E.164, checked before the row is made.
    recipient       TEXT NOT NULL,
    enrollment_uid  TEXT,
    -- WhatsApp: 'template' (always allowed) or 'text' (only inside the 24 h window).
    mode            TEXT NOT NULL DEFAULT 'template' CHECK (mode IN ('template', 'text')),
    -- SMS text, or the WhatsApp free-form text; for a template, its body parameters (JSON array).
    body            TEXT NOT NULL,
    status          TEXT NOT NULL DEFAULT 'queued'
                    CHECK (status IN ('queued', 'sending', 'accepted', 'delivered', 'read', 'failed', 'unknown')),
    provider_id     TEXT,
    attempts        INTEGER NOT NULL DEFAULT 0,
    -- failed: 1 when a staff "resend" may succeed (the provider was busy too long), 0 when not.
    retryable       INTEGER,
    last_error      TEXT,
    -- queued: not before this UTC time (backoff, Retry-After); NULL = at once.
    next_attempt_at TEXT,
    -- sending: the process holding the row (`boot id:pid:start ticks`), to tell a crash.
    claimed_by      TEXT,
    queued_by       TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    accepted_at     TEXT
);
CREATE INDEX outbox_status ON outbox(status, next_attempt_at, created_at);
CREATE INDEX outbox_enrollment ON outbox(enrollment_uid);
CREATE TABLE send_media (
    phone_number_id TEXT NOT NULL,
    image_sha256    TEXT NOT NULL,
    media_id        TEXT NOT NULL,
    uploaded_at     TEXT NOT NULL,
    PRIMARY KEY (phone_number_id, image_sha256)
) WITHOUT ROWID;
CREATE TABLE send_contacts (
    recipient       TEXT PRIMARY KEY,
    last_inbound_at TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE card_keys (
    kid            TEXT PRIMARY KEY,   -- hex of the first 8 bytes of SHA-256(public key)
    public_key     TEXT NOT NULL,      -- hex of the 32-byte Ed25519 public key
    box_id         TEXT NOT NULL,
    valid_from     TEXT NOT NULL,      -- YYYY-MM-DD
    valid_to       TEXT,               -- YYYY-MM-DD; NULL while the key signs
    source         TEXT NOT NULL CHECK (source IN ('local', 'dhis2')),
    private_sealed TEXT,               -- PKCS#8, sealed; only the local key that signs
    created_at     TEXT NOT NULL
);
CREATE TABLE card_revocations (
    serial     TEXT PRIMARY KEY,
    reason     TEXT NOT NULL CHECK (reason IN ('lost', 'reissued', 'merged')),
    revoked_on TEXT NOT NULL,          -- YYYY-MM-DD, trusted date (server clock)
    revoked_by TEXT NOT NULL,
    box_id     TEXT NOT NULL,          -- the box that revoked it
    source     TEXT NOT NULL CHECK (source IN ('local', 'dhis2'))
);
CREATE TABLE card_issues (
    serial     TEXT PRIMARY KEY,
    subject    TEXT NOT NULL,
    kid        TEXT NOT NULL,
    issued_on  TEXT NOT NULL,          -- YYYY-MM-DD, trusted date (server clock)
    created_at TEXT NOT NULL
);
CREATE INDEX card_issues_subject ON card_issues(subject, kid);
CREATE TABLE "card_records" (
    enrollment_uid     TEXT PRIMARY KEY,
    tracked_entity_uid TEXT NOT NULL,
    program_uid        TEXT NOT NULL,
    fields_json        TEXT NOT NULL,
    content_hash       TEXT NOT NULL,
    mapped_at          TEXT NOT NULL,
    mpi_state          TEXT NOT NULL DEFAULT 'pending'
                       CHECK (mpi_state = 'pending' OR mpi_state = 'resolved' OR mpi_state = 'review')
);
CREATE INDEX card_records_program ON card_records(program_uid);
CREATE INDEX card_records_mpi_state ON card_records(mpi_state, enrollment_uid);
CREATE TABLE "mpi_links" (
    enrollment_uid TEXT PRIMARY KEY REFERENCES card_records(enrollment_uid) ON DELETE CASCADE,
    mpi_id         TEXT NOT NULL REFERENCES mpi_identities(mpi_id),
    score          REAL,
    method         TEXT NOT NULL
                   CHECK (method = 'new' OR method = 'auto' OR method = 'human' OR method = 'deterministic'),
    linked_at      TEXT NOT NULL
);
CREATE INDEX mpi_links_mpi ON mpi_links(mpi_id);
CREATE TRIGGER search_card_inserted AFTER INSERT ON card_records BEGIN
    INSERT INTO search_stale(enrollment_uid) VALUES (new.enrollment_uid)
        ON CONFLICT(enrollment_uid) DO NOTHING;
END;
CREATE TRIGGER search_card_updated AFTER UPDATE OF fields_json ON card_records
WHEN old.fields_json IS NOT new.fields_json BEGIN
    INSERT INTO search_stale(enrollment_uid) VALUES (new.enrollment_uid)
        ON CONFLICT(enrollment_uid) DO NOTHING;
END;
CREATE TRIGGER search_card_deleted AFTER DELETE ON card_records BEGIN
    DELETE FROM search_terms WHERE enrollment_uid = old.enrollment_uid;
    DELETE FROM search_records WHERE enrollment_uid = old.enrollment_uid;
    DELETE FROM search_stale WHERE enrollment_uid = old.enrollment_uid;
END;
CREATE TRIGGER search_link_inserted AFTER INSERT ON mpi_links BEGIN
    INSERT INTO search_stale(enrollment_uid) VALUES (new.enrollment_uid)
        ON CONFLICT(enrollment_uid) DO NOTHING;
END;
CREATE TRIGGER search_link_updated AFTER UPDATE OF mpi_id ON mpi_links
WHEN old.mpi_id IS NOT new.mpi_id BEGIN
    INSERT INTO search_stale(enrollment_uid) VALUES (new.enrollment_uid)
        ON CONFLICT(enrollment_uid) DO NOTHING;
END;
CREATE TRIGGER search_link_deleted AFTER DELETE ON mpi_links BEGIN
    INSERT INTO search_stale(enrollment_uid) VALUES (old.enrollment_uid)
        ON CONFLICT(enrollment_uid) DO NOTHING;
END;
CREATE TABLE mpi_record_keys (
    enrollment_uid TEXT PRIMARY KEY REFERENCES card_records(enrollment_uid) ON DELETE CASCADE,
    keys_json      TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE "mpi_block_keys" (
    block_key      TEXT NOT NULL,
    enrollment_uid TEXT NOT NULL,
    PRIMARY KEY (block_key, enrollment_uid)
) WITHOUT ROWID;
CREATE TRIGGER mpi_record_keys_deleted AFTER DELETE ON mpi_record_keys BEGIN
    DELETE FROM mpi_block_keys
     WHERE enrollment_uid = old.enrollment_uid
       AND block_key IN (SELECT value FROM json_each(old.keys_json));
END;
CREATE TABLE card_key_revocations (
    kid        TEXT PRIMARY KEY,       -- hex key ID, as in card_keys (the key may not be known yet)
    reason     TEXT NOT NULL CHECK (reason = 'stolen' OR reason = 'compromised'),
    revoked_on TEXT NOT NULL,          -- YYYY-MM-DD, trusted date (server clock)
    revoked_by TEXT NOT NULL,          -- an actor here; `box:<id>` for pulled rows
    box_id     TEXT NOT NULL,          -- the box that revoked it
    source     TEXT NOT NULL CHECK (source = 'local' OR source = 'dhis2')
);
