-- v2: pending card records in enrollment order straight from an index. With the v1 index on
-- `mpi_state` alone, `WHERE mpi_state = 'pending' ORDER BY enrollment_uid LIMIT 500` read and
-- sorted every pending record for each batch of 500 (quadratic in a first sync of 100,000).
DROP INDEX card_records_mpi_state;
CREATE INDEX card_records_mpi_state ON card_records(mpi_state, enrollment_uid);
