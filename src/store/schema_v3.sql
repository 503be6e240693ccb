-- v3: a tracked entity deleted on the server (or moved out of scope) drops its card records by
-- `tracked_entity_uid`, which v1 did not index: every such deletion scanned all card records.
CREATE INDEX card_records_tracked_entity ON card_records(tracked_entity_uid);
