//! The sync engine: pulls a program's metadata, org units and tracked entities from DHIS2 into the
//! store, page by page (one transaction per page with its cursor), incrementally by the server's
//! own `updatedAfter` watermark; runs mapping and MPI resolution on what arrived; schedules runs.
pub mod cli;
