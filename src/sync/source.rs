//! The DHIS2 calls the sync engine makes, as a trait the engine owns (the consumer defines the
//! interface, as litestream's `ReplicaClient`): the HTTP [`Client`] implements it for real runs,
//! and the tests' in-process fake ([`super::fake`]) serves the simulator's data without HTTP.
//!
//! Exactly the calls `sync` makes, nothing more: adding one here is adding one to every source.
use crate::dhis2::model::{
    EntityStamp, OrgUnit, OrgUnitLevel, Page, Program, SystemInfo, TrackedEntity,
};
use crate::dhis2::{Client, Dhis2Error, TrackedEntityQuery};

/// Where a sync run reads DHIS2 from. `Sync`: the fetcher thread pages while the run stores.
pub trait Dhis2Source: Sync {
    /// Version and server date (the run's watermark); also the connectivity probe.
    fn system_info(&self) -> Result<SystemInfo, Dhis2Error>;
    /// One program with its attributes and option sets.
    fn program(&self, uid: &str) -> Result<Program, Dhis2Error>;
    /// Every org unit the user can see.
    fn org_units(&self) -> Result<Vec<OrgUnit>, Dhis2Error>;
    /// The named org unit levels.
    fn org_unit_levels(&self) -> Result<Vec<OrgUnitLevel>, Dhis2Error>;
    /// One page (1-based) of tracked entities.
    fn tracked_entities_page(
        &self,
        query: &TrackedEntityQuery,
        page: u32,
        page_size: u32,
    ) -> Result<Page<TrackedEntity>, Dhis2Error>;
    /// How many tracked entities match, when the server says (for progress only).
    fn tracked_entities_total(&self, query: &TrackedEntityQuery)
        -> Result<Option<u64>, Dhis2Error>;
    /// One page of the completeness listing: UID, `updatedAt` and deleted flag of matching
    /// tracked entities, in the pages' order; with `with_total`, the server's count.
    fn tracked_entity_stamps(
        &self,
        query: &TrackedEntityQuery,
        page: u32,
        page_size: u32,
        with_total: bool,
    ) -> Result<Page<EntityStamp>, Dhis2Error>;
    /// The tracked entities with these UIDs in `program` (what a listing showed missing, and the
    /// quarantined records retried); undecodable ones in `rejected`.
    fn tracked_entities_by_uid(
        &self,
        program: &str,
        uids: &[String],
    ) -> Result<Page<TrackedEntity>, Dhis2Error>;
    /// HTTP requests sent so far, for the run report (a source that does not count says 0).
    fn requests_sent(&self) -> u64 {
        0
    }
}

impl Dhis2Source for Client {
    fn system_info(&self) -> Result<SystemInfo, Dhis2Error> {
        Client::system_info(self)
    }
    fn program(&self, uid: &str) -> Result<Program, Dhis2Error> {
        Client::program(self, uid)
    }
    fn org_units(&self) -> Result<Vec<OrgUnit>, Dhis2Error> {
        Client::org_units(self)
    }
    fn org_unit_levels(&self) -> Result<Vec<OrgUnitLevel>, Dhis2Error> {
        Client::org_unit_levels(self)
    }
    fn tracked_entities_page(
        &self,
        query: &TrackedEntityQuery,
        page: u32,
        page_size: u32,
    ) -> Result<Page<TrackedEntity>, Dhis2Error> {
        Client::tracked_entities_page(self, query, page, page_size)
    }
    fn tracked_entities_total(
        &self,
        query: &TrackedEntityQuery,
    ) -> Result<Option<u64>, Dhis2Error> {
        Client::tracked_entities_total(self, query)
    }
    fn tracked_entity_stamps(
        &self,
        query: &TrackedEntityQuery,
        page: u32,
        page_size: u32,
        with_total: bool,
    ) -> Result<Page<EntityStamp>, Dhis2Error> {
        Client::tracked_entity_stamps(self, query, page, page_size, with_total)
    }
    fn tracked_entities_by_uid(
        &self,
        program: &str,
        uids: &[String],
    ) -> Result<Page<TrackedEntity>, Dhis2Error> {
        Client::tracked_entities_by_uid(self, program, uids)
    }
    fn requests_sent(&self) -> u64 {
        Client::requests_sent(self)
    }
}
