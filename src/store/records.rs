//! Card records: the mapped card fields of each enrollment (written by sync/mapping, read by the
//! MPI, cards and the page), with the MPI ID each one resolved to.
use super::{now_utc, Store};
use crate::record::{CardFields, CardRecord};
use anyhow::{Context, Result};
use rusqlite::{params, OptionalExtension};

/// A card record with the MPI ID it is linked to (if resolved).
#[derive(Debug, Clone, PartialEq)]
pub struct ResolvedCard {
    pub record: CardRecord,
    pub mpi_id: Option<String>,
}

/// Stable hash of card fields (hex SHA-256 of their canonical JSON): tells whether a card changed.
pub fn content_hash(fields: &CardFields) -> String {
    let json = serde_json::to_string(fields).unwrap_or_default();
    json_hash(&json)
}

/// [`content_hash`] of fields already serialised (the store writes that JSON too: one pass).
fn json_hash(json: &str) -> String {
    // ring's SHA-256 (assembly, NEON on a Pi) rather than sha2's portable code, which was 4% of
    // a 5,000-record evaluation: every card record written hashes its fields. Same digest.
    let digest = ring::digest::digest(&ring::digest::SHA256, json.as_bytes());
    crate::secret::hex(digest.as_ref())
}

impl Store {
    /// Inserts or updates a card record. Returns true when it is new or its fields changed, in
    /// which case it is (re)queued for MPI resolution (`mpi_state = 'pending'`).
    ///
    /// One statement: the upsert's `WHERE` leaves an unchanged record alone (no row changed),
    /// instead of a lookup by enrollment UID followed by the upsert's own (a sync writes one
    /// card record per new enrollment).
    pub fn upsert_card_record(&self, rec: &CardRecord) -> Result<bool> {
        let json = serde_json::to_string(&rec.fields)?;
        let hash = json_hash(&json);
        let changed = self.conn().prepare_cached(
            "INSERT INTO card_records(enrollment_uid, tracked_entity_uid, program_uid, fields_json, content_hash, mapped_at, mpi_state)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'pending')
             ON CONFLICT(enrollment_uid) DO UPDATE SET tracked_entity_uid = excluded.tracked_entity_uid,
               program_uid = excluded.program_uid, fields_json = excluded.fields_json,
               content_hash = excluded.content_hash, mapped_at = excluded.mapped_at, mpi_state = 'pending'
             WHERE content_hash IS NOT excluded.content_hash",
        )?
        .execute(params![rec.enrollment_uid, rec.tracked_entity_uid, rec.program_uid, json, hash, now_utc()])?;
        Ok(changed > 0)
    }

    /// All card records of a program with their MPI IDs, ordered by last name, first name.
    pub fn card_records(&self, program_uid: &str) -> Result<Vec<ResolvedCard>> {
        let mut stmt = self.conn().prepare(
            "SELECT c.enrollment_uid, c.tracked_entity_uid, c.program_uid, c.fields_json, l.mpi_id
             FROM card_records c LEFT JOIN mpi_links l ON l.enrollment_uid = c.enrollment_uid
             WHERE c.program_uid = ?1
             ORDER BY json_extract(c.fields_json, '$.last_name'), json_extract(c.fields_json, '$.first_name'), c.enrollment_uid",
        )?;
        let rows = stmt.query_map(params![program_uid], row_to_resolved)?;
        rows.map(|r| r.map_err(anyhow::Error::from).and_then(|x| x))
            .collect()
    }

    /// One card record by enrollment UID.
    pub fn card_record(&self, enrollment_uid: &str) -> Result<Option<ResolvedCard>> {
        let row = self
            .conn()
            .query_row(
                "SELECT c.enrollment_uid, c.tracked_entity_uid, c.program_uid, c.fields_json, l.mpi_id
                 FROM card_records c LEFT JOIN mpi_links l ON l.enrollment_uid = c.enrollment_uid
                 WHERE c.enrollment_uid = ?1",
                params![enrollment_uid],
                row_to_resolved,
            )
            .optional()?;
        row.transpose()
    }
}

fn row_to_resolved(r: &rusqlite::Row<'_>) -> rusqlite::Result<Result<ResolvedCard>> {
    let enrollment_uid: String = r.get(0)?;
    let tracked_entity_uid: String = r.get(1)?;
    let program_uid: String = r.get(2)?;
    let json: String = r.get(3)?;
    let mpi_id: Option<String> = r.get(4)?;
    Ok(serde_json::from_str::<CardFields>(&json)
        .with_context(|| format!("card record {enrollment_uid} has unreadable fields"))
        .map(|fields| ResolvedCard {
            record: CardRecord {
                enrollment_uid,
                tracked_entity_uid,
                program_uid,
                fields,
            },
            mpi_id,
        }))
}
