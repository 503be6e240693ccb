-- v15 (issue 18): signed cards that any box verifies offline (docs/verify.md).

-- Ed25519 public keys that sign cards: this box's own (`local`, the current one with its
-- private key sealed under `<db>.key`, never readable from this file alone) and every other box's,
-- pulled from DHIS2's dataStore (`dhis2`). A card is valid when its issue date lies within
-- [valid_from, valid_to] of the key that signed it; a rotated key keeps verifying its cards.
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

-- Revoked card serials: revoked here (`local`, published as `revoked-<box id>`) or by another
-- box (`dhis2`).
CREATE TABLE card_revocations (
    serial     TEXT PRIMARY KEY,
    reason     TEXT NOT NULL CHECK (reason IN ('lost', 'reissued', 'merged')),
    revoked_on TEXT NOT NULL,          -- YYYY-MM-DD, trusted date (server clock)
    revoked_by TEXT NOT NULL,
    box_id     TEXT NOT NULL,          -- the box that revoked it
    source     TEXT NOT NULL CHECK (source IN ('local', 'dhis2'))
);

-- Cards issued here: one serial per subject (MPI ID, or ENR:<enrollment>) and signing key, kept
-- until revoked, so rendering a card again gives the same payload (Ed25519 is deterministic).
CREATE TABLE card_issues (
    serial     TEXT PRIMARY KEY,
    subject    TEXT NOT NULL,
    kid        TEXT NOT NULL,
    issued_on  TEXT NOT NULL,          -- YYYY-MM-DD, trusted date (server clock)
    created_at TEXT NOT NULL
);
CREATE INDEX card_issues_subject ON card_issues(subject, kid);

-- The HMAC secret of K1 cards sat in clear in this file: anyone with a copy could forge cards.
DELETE FROM settings WHERE key = 'cards.qr_secret';
