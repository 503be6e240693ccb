//! An in-process DHIS2 for the sync tests: serves the simulator's generated data
//! ([`crate::sim::generate`]: the same records as the HTTP simulator for the same seed, size and
//! version) through [`Dhis2Source`] without HTTP, and injects the faults sync must handle: a call
//! failing with a chosen [`Dhis2Error`], and a server that caps the page size (short pages).
//!
//! Not a DHIS2 imitation: no versions' wire shapes, auth or parameter names (the HTTP simulator
//! and `tests/dhis2_*.rs` test those). Only in builds with the `demo` feature.
use super::Dhis2Source;
use crate::dhis2::model::{
    EntityStamp, OrgUnit, OrgUnitLevel, Page, Program, SystemInfo, TrackedEntity,
};
use crate::dhis2::{parse_version, Dhis2Error, TrackedEntityQuery};
use crate::sim::data;
use std::collections::VecDeque;
use std::sync::Mutex;

/// The calls of [`Dhis2Source`], to aim a fault at one of them or count them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Call {
    SystemInfo,
    Program,
    OrgUnits,
    OrgUnitLevels,
    TrackedEntitiesPage,
    TrackedEntitiesTotal,
    TrackedEntityStamps,
    TrackedEntitiesByUid,
}

/// The fake server; cheap to build (records are generated at once).
pub struct FakeDhis2 {
    version: String,
    major_minor: (u32, u32),
    program: Program,
    org_units: Vec<OrgUnit>,
    levels: Vec<OrgUnitLevel>,
    records: Mutex<Vec<TrackedEntity>>,
    faults: Mutex<VecDeque<(Call, Dhis2Error)>>,
    max_page_size: Mutex<Option<u32>>,
    calls: Mutex<Vec<Call>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl FakeDhis2 {
    /// A server of `version` (e.g. `2.41`) holding the simulator's first `records` records for
    /// `seed`.
    pub fn new(version: &str, records: usize, seed: u64) -> anyhow::Result<FakeDhis2> {
        let major_minor = parse_version(version)
            .ok_or_else(|| anyhow::anyhow!("not a DHIS2 version: {version:?}"))?;
        let version = if version.matches('.').count() == 1 && !version.contains('-') {
            format!("{version}.0")
        } else {
            version.to_string()
        };
        Ok(FakeDhis2 {
            version,
            major_minor,
            program: data::program(),
            org_units: data::org_units(),
            levels: data::org_unit_levels(),
            records: Mutex::new(crate::sim::generate(seed, records)),
            faults: Mutex::new(VecDeque::new()),
            max_page_size: Mutex::new(None),
            calls: Mutex::new(Vec::new()),
        })
    }

    /// The next call of kind `call` fails with `error` (faults queue up in order).
    pub fn fail_next(&self, call: Call, error: Dhis2Error) {
        lock(&self.faults).push_back((call, error));
    }

    /// Answers at most `n` records per page, whatever was asked (as DHIS2's server-side cap).
    pub fn cap_page_size(&self, n: u32) {
        *lock(&self.max_page_size) = Some(n.max(1));
    }

    /// How many calls of kind `call` were made (failed ones included).
    pub fn calls(&self, call: Call) -> usize {
        lock(&self.calls).iter().filter(|c| **c == call).count()
    }

    /// The records held now (as [`crate::sim::SimHandle::snapshot`]).
    pub fn snapshot(&self) -> Vec<TrackedEntity> {
        lock(&self.records).clone()
    }

    /// Soft-deletes a tracked entity (and its enrollments), moving its `updatedAt` forward.
    pub fn delete_tracked_entity(&self, uid: &str) -> anyhow::Result<()> {
        let now = data::format_timestamp(now_ms());
        let mut records = lock(&self.records);
        let te = records
            .iter_mut()
            .find(|t| t.uid == uid)
            .ok_or_else(|| anyhow::anyhow!("no tracked entity {uid}"))?;
        te.deleted = true;
        te.updated_at = Some(now.clone());
        for e in &mut te.enrollments {
            e.deleted = true;
            e.updated_at = Some(now.clone());
        }
        Ok(())
    }

    /// Records the call and takes its fault, if one is queued for it.
    fn enter(&self, call: Call) -> Result<(), Dhis2Error> {
        lock(&self.calls).push(call);
        let mut faults = lock(&self.faults);
        match faults.iter().position(|(c, _)| *c == call) {
            Some(i) => Err(faults.remove(i).map(|(_, e)| e).unwrap_or_else(|| {
                Dhis2Error::Unreachable("fault queue changed under the fake".into())
            })),
            None => Ok(()),
        }
    }

    /// The records `query` selects, in the simulator's order.
    fn matching(&self, query: &TrackedEntityQuery) -> Result<Vec<TrackedEntity>, Dhis2Error> {
        if query.program != crate::sim::PROGRAM_UID {
            return Err(Dhis2Error::Rejected {
                status: 400,
                message: format!("Program is specified but does not exist: {}", query.program),
            });
        }
        let after = match &query.updated_after {
            Some(s) => Some(
                data::parse_timestamp(s).ok_or_else(|| Dhis2Error::Rejected {
                    status: 400,
                    message: format!("Invalid date format: {s}"),
                })?,
            ),
            None => None,
        };
        let paths: Vec<&str> = self
            .org_units
            .iter()
            .filter_map(|o| o.path.as_deref())
            .collect();
        let in_scope = |ou: Option<&str>| {
            query.org_units.is_empty()
                || ou.is_some_and(|ou| {
                    paths.iter().any(|p| {
                        p.ends_with(&format!("/{ou}"))
                            && query.org_units.iter().any(|u| p.split('/').any(|x| x == u))
                    })
                })
        };
        Ok(lock(&self.records)
            .iter()
            .filter(|t| query.include_deleted || !t.deleted)
            .filter(|t| {
                after.is_none_or(|a| {
                    t.updated_at
                        .as_deref()
                        .and_then(data::parse_timestamp)
                        .is_some_and(|u| u >= a)
                })
            })
            .filter(|t| in_scope(t.org_unit.as_deref()))
            .cloned()
            .collect())
    }

    fn page_of<T>(&self, all: Vec<T>, page: u32, page_size: u32) -> Page<T> {
        let size = match *lock(&self.max_page_size) {
            Some(cap) => page_size.max(1).min(cap),
            None => page_size.max(1),
        };
        let skip = (page.max(1) as usize - 1) * size as usize;
        let items: Vec<T> = all.into_iter().skip(skip).take(size as usize).collect();
        Page {
            items,
            page: page.max(1),
            page_size: size,
            total: None,
            bytes: 0,
            rejected: Vec::new(),
        }
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

impl Dhis2Source for FakeDhis2 {
    fn system_info(&self) -> Result<SystemInfo, Dhis2Error> {
        self.enter(Call::SystemInfo)?;
        Ok(SystemInfo {
            version: self.version.clone(),
            major_minor: self.major_minor,
            server_date: data::format_timestamp(now_ms()),
        })
    }

    fn program(&self, uid: &str) -> Result<Program, Dhis2Error> {
        self.enter(Call::Program)?;
        if uid != self.program.uid {
            return Err(Dhis2Error::Rejected {
                status: 404,
                message: format!("Program with id {uid} could not be found."),
            });
        }
        Ok(self.program.clone())
    }

    fn org_units(&self) -> Result<Vec<OrgUnit>, Dhis2Error> {
        self.enter(Call::OrgUnits)?;
        Ok(self.org_units.clone())
    }

    fn org_unit_levels(&self) -> Result<Vec<OrgUnitLevel>, Dhis2Error> {
        self.enter(Call::OrgUnitLevels)?;
        Ok(self.levels.clone())
    }

    fn tracked_entities_page(
        &self,
        query: &TrackedEntityQuery,
        page: u32,
        page_size: u32,
    ) -> Result<Page<TrackedEntity>, Dhis2Error> {
        self.enter(Call::TrackedEntitiesPage)?;
        let all = self.matching(query)?;
        Ok(self.page_of(all, page, page_size))
    }

    fn tracked_entities_total(
        &self,
        query: &TrackedEntityQuery,
    ) -> Result<Option<u64>, Dhis2Error> {
        self.enter(Call::TrackedEntitiesTotal)?;
        Ok(Some(self.matching(query)?.len() as u64))
    }

    fn tracked_entity_stamps(
        &self,
        query: &TrackedEntityQuery,
        page: u32,
        page_size: u32,
        with_total: bool,
    ) -> Result<Page<EntityStamp>, Dhis2Error> {
        self.enter(Call::TrackedEntityStamps)?;
        let all: Vec<EntityStamp> = self
            .matching(query)?
            .into_iter()
            .map(|t| EntityStamp {
                uid: t.uid,
                updated_at: t.updated_at,
                deleted: t.deleted,
            })
            .collect();
        let total = with_total.then_some(all.len() as u64);
        let mut p = self.page_of(all, page, page_size);
        p.total = total;
        Ok(p)
    }

    fn tracked_entities_by_uid(
        &self,
        program: &str,
        uids: &[String],
    ) -> Result<Page<TrackedEntity>, Dhis2Error> {
        self.enter(Call::TrackedEntitiesByUid)?;
        let query = TrackedEntityQuery {
            program: program.to_string(),
            ..Default::default()
        };
        let items: Vec<TrackedEntity> = self
            .matching(&query)?
            .into_iter()
            .filter(|t| uids.contains(&t.uid))
            .collect();
        Ok(Page {
            page: 1,
            page_size: items.len() as u32,
            items,
            total: None,
            bytes: 0,
            rejected: Vec::new(),
        })
    }
}
