-- v14: the outbox (s11-s, docs/send.md). v1's `outbox` table was never written: it is replaced.
-- A message is a row made BEFORE any network call; its `id` (made on the box) is the idempotency
-- key that every later step and the provider request carry. States:
--   queued -> sending -> accepted (provider id) [-> delivered -> read, only if polled]
--   queued -> sending -> failed (reason, retryable) | queued again (retry, `next_attempt_at`)
--   sending -> unknown: the process that claimed the row died mid-send (crash, power cut, kill -9)
--   or the request went out and no answer came back. Never resent blindly: staff resolve it.
DROP TABLE IF EXISTS outbox;
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

-- WhatsApp media IDs of uploaded card images, per phone-number ID and image SHA-256: a card
-- image is uploaded once, then sent by ID (Meta keeps uploaded media for 30 days).
CREATE TABLE send_media (
    phone_number_id TEXT NOT NULL,
    image_sha256    TEXT NOT NULL,
    media_id        TEXT NOT NULL,
    uploaded_at     TEXT NOT NULL,
    PRIMARY KEY (phone_number_id, image_sha256)
) WITHOUT ROWID;

-- Last message received from a number (WhatsApp's 24 h customer service window). Written by
-- whatever learns of an inbound message (a webhook relay); free-form text only inside the window.
CREATE TABLE send_contacts (
    recipient       TEXT PRIMARY KEY,
    last_inbound_at TEXT NOT NULL
) WITHOUT ROWID;
