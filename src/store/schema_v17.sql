-- v17: a whole card signing key revoked. A box that is stolen (or whose key file leaked) still
-- holds its private key: rotating on that box does not help, and its old public key, kept for
-- verification, would keep vouching for any card the thief signs and dates as they please. So
-- any box may revoke a key (its own or another box's); the revocation travels through the
-- dataStore like card revocations, and every card signed with that key then verifies as
-- `revoked`, whatever issue date it claims (a thief can write any date). The box whose key it
-- is stops signing with it at once and makes a new key; its people's cards are printed again.
CREATE TABLE card_key_revocations (
    kid        TEXT PRIMARY KEY,       -- hex key ID, as in card_keys (the key may not be known yet)
    reason     TEXT NOT NULL CHECK (reason = 'stolen' OR reason = 'compromised'),
    revoked_on TEXT NOT NULL,          -- YYYY-MM-DD, trusted date (server clock)
    revoked_by TEXT NOT NULL,          -- an actor here; `box:<id>` for pulled rows
    box_id     TEXT NOT NULL,          -- the box that revoked it
    source     TEXT NOT NULL CHECK (source = 'local' OR source = 'dhis2')
);
