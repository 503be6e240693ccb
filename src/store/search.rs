//! Finding a person: the beneficiary search index and its queries (`docs/search.md`).
//!
//! Each card record is indexed as a handful of *terms* in `search_terms` (schema v13): the words of
//! its first and last name folded by `kadi_normalize` (case and every accent of every script,
//! through Unicode decomposition: `Ndèye` = `ndeye`, `Ismaïla` = `ismaila`), its beneficiary ID,
//! national ID, enrollment UID and MPI ID compacted (folded, without dashes or spaces: `B-003` =
//! `b003`, `SN-DKR-26-AB…` = `sndkr26ab…`) and its phone number as E.164 digits, these two kinds
//! marked with a leading `#` so name words never match an ID. A query matches a record when every
//! word of it starts one of the record's name words (so `Sow Fatou` finds Fatou Sow), or the whole
//! query compacted starts one of its IDs (`SN DKR 26 …`, `B-01`), or the query read as a phone number of
//! the box's country is the record's number (`77 123 45 67`, `0771234567`, `00221…`, `+221…`).
//! Every lookup is a prefix range of one B-tree; no query reads the records' JSON.
//!
//! The terms are computed here, in Rust, from what built-in-SQL triggers marked stale in
//! `search_stale` (a record written, deleted or linked to another MPI ID): whoever writes card
//! records (sync, mapping, the MPI, a test's raw SQL) keeps the index right without knowing it.
//! [`Store::refresh_search_index`] folds the marked records; every search calls it first (one
//! empty-table probe when nothing changed), and the v13 migration calls it to fill the index.
//!
//! Results come flat (one row per record, the JSON API's shape) or grouped by MPI identity (the
//! page: one person with their records, and whether any of them waits for a review).
use super::mpi_data::MpiState;
use super::web_data::{BeneficiaryRecord, BeneficiarySearch};
use super::Store;
use crate::record::CardFields;
use anyhow::{Context, Result};
use rusqlite::params;

/// The schema version that created the search index (its migration fills it).
pub const SEARCH_SCHEMA_VERSION: i64 = 13;

/// How many stale records one refresh transaction folds (bounded memory on a Pi; the migration
/// of a 100,000-record box runs several).
const REFRESH_BATCH: usize = 5_000;

/// Above this code point a character ends a prefix range: any term starting with the prefix is
/// below `prefix + U+10FFFF` in SQLite's binary (UTF-8 byte) order.
const PREFIX_END: char = '\u{10FFFF}';

/// What starts the terms of IDs and phone numbers: name words never match an ID (`s` for Sow
/// must not match every `SN-DKR-…` MPI ID), and `kadi_normalize` never writes it.
const ID_MARK: char = '#';

/// Query words at least this long are intersected as prefix ranges; shorter ones only filter.
const MIN_INTERSECTED_CHARS: usize = 3;

/// Words shorter than this do not start a phone lookup (a national number has at least 7).
const MIN_PHONE_DIGITS: usize = 7;

/// One person found by a search: the records of one MPI identity (or one record not resolved yet).
#[derive(Debug, Clone, PartialEq)]
pub struct IdentityGroup {
    /// The identity's MPI ID (`None`: a record the MPI has not resolved).
    pub mpi_id: Option<String>,
    /// Every record of the identity (not only those the query matched), by name.
    pub records: Vec<BeneficiaryRecord>,
    /// True when any of the records waits for a person's review decision.
    pub pending_review: bool,
}

/// One page of a search grouped by identity.
#[derive(Debug, Clone, PartialEq)]
pub struct IdentitySearch {
    /// 1-based page number actually returned (clamped to the last page).
    pub page: u32,
    pub page_size: u32,
    /// People (groups) found.
    pub total: u64,
    /// Records the query matched.
    pub matched_records: u64,
    pub pages: u32,
    pub groups: Vec<IdentityGroup>,
}

/// A search query taken apart: the lookups it makes.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SearchQuery {
    /// Folded words; a record must have a term starting with each.
    pub words: Vec<String>,
    /// The whole query compacted, looked up among the IDs.
    pub compact: Option<String>,
    /// The query read as a phone number of the box's country, as E.164 digits.
    pub phone: Option<String>,
    /// True when the query was blank (it lists everyone; `%` or `-` alone find no one).
    pub blank: bool,
}

impl SearchQuery {
    /// Takes `text` apart; `country_code` (digits, e.g. `221`) reads national phone numbers.
    pub fn parse(text: &str, country_code: &str) -> SearchQuery {
        let folded = kadi_sqlext::normalize::kadi_normalize(text);
        let words: Vec<String> = folded
            .split(' ')
            .filter(|w| !w.is_empty())
            .map(str::to_string)
            .collect();
        let compact = Some(words.concat()).filter(|c| !c.is_empty());
        let digits = text.chars().filter(char::is_ascii_digit).count();
        let phone = (digits >= MIN_PHONE_DIGITS)
            .then(|| kadi_sqlext::mapping::normalize_phone(text, country_code))
            .flatten()
            .map(|p| p.trim_start_matches('+').to_string());
        SearchQuery {
            words,
            compact,
            phone,
            blank: text.trim().is_empty(),
        }
    }

    /// True for a blank query (the list of everyone).
    pub fn is_empty(&self) -> bool {
        self.blank
    }

    /// The `SELECT` of the matching enrollment UIDs and its parameters.
    fn matches_sql(&self) -> (String, Vec<String>) {
        let mut sql = Vec::new();
        let mut args = Vec::new();
        let prefix = |sql: &mut Vec<String>, args: &mut Vec<String>, p: &str| {
            let n = args.len();
            sql.push(format!(
                "SELECT enrollment_uid FROM search_terms WHERE term >= ?{} AND term < ?{}",
                n + 1,
                n + 2
            ));
            args.push(p.to_string());
            args.push(format!("{p}{PREFIX_END}"));
        };
        // Words of three letters or more are intersected (each side a prefix range of the
        // index); shorter words, which start a good part of every term, only filter the result
        // through each record's own few terms. When all words are short, the longest drives.
        let mut words: Vec<&String> = self.words.iter().collect();
        words.sort_by_key(|w| std::cmp::Reverse(w.chars().count()));
        if !words.is_empty() {
            let n_long = words
                .iter()
                .take_while(|w| w.chars().count() >= MIN_INTERSECTED_CHARS)
                .count()
                .max(1);
            let (long, short) = words.split_at(n_long);
            let mut sides = Vec::new();
            for w in long {
                prefix(&mut sides, &mut args, w);
            }
            let mut q = format!(
                "SELECT b.enrollment_uid FROM ({}) b WHERE 1",
                sides.join(" INTERSECT ")
            );
            for w in short {
                let n = args.len();
                q.push_str(&format!(
                    " AND EXISTS (SELECT 1 FROM search_terms u WHERE u.enrollment_uid = b.enrollment_uid AND u.term >= ?{} AND u.term < ?{})",
                    n + 1,
                    n + 2
                ));
                args.push(w.to_string());
                args.push(format!("{w}{PREFIX_END}"));
            }
            sql.push(q);
        }
        if let Some(c) = &self.compact {
            prefix(&mut sql, &mut args, &format!("{ID_MARK}{c}"));
        }
        if let Some(p) = &self.phone {
            args.push(format!("{ID_MARK}{p}"));
            sql.push(format!(
                "SELECT enrollment_uid FROM search_terms WHERE term = ?{}",
                args.len()
            ));
        }
        if sql.is_empty() {
            // Only punctuation: nothing to look for, no one found.
            return ("SELECT NULL WHERE 0".into(), args);
        }
        (sql.join(" UNION "), args)
    }
}

/// Folded text without spaces: how IDs are indexed and matched (`SN-DKR-26-X` = `sndkr26x`).
pub fn compact(text: &str) -> String {
    kadi_sqlext::normalize::kadi_normalize(text).replace(' ', "")
}

/// The search terms of one record (see the module documentation).
pub fn record_terms(
    enrollment_uid: &str,
    fields: &CardFields,
    mpi_id: Option<&str>,
) -> Vec<String> {
    let mut terms: Vec<String> = Vec::new();
    for name in [&fields.first_name, &fields.last_name]
        .into_iter()
        .flatten()
    {
        let folded = kadi_sqlext::normalize::kadi_normalize(name);
        terms.extend(
            folded
                .split(' ')
                .filter(|w| !w.is_empty())
                .map(str::to_string),
        );
    }
    let mut ids: Vec<String> = [&fields.beneficiary_id, &fields.national_id]
        .into_iter()
        .flatten()
        .map(|id| compact(id))
        .chain(std::iter::once(compact(enrollment_uid)))
        .chain(mpi_id.map(compact))
        .collect();
    if let Some(phone) = &fields.phone_number {
        ids.push(phone.chars().filter(char::is_ascii_digit).collect());
    }
    terms.retain(|t| !t.is_empty());
    terms.extend(
        ids.into_iter()
            .filter(|t| !t.is_empty())
            .map(|t| format!("{ID_MARK}{t}")),
    );
    terms.sort();
    terms.dedup();
    terms
}

/// The list order of a record: folded last name, then first name.
fn sort_key(fields: &CardFields) -> String {
    let fold =
        |s: &Option<String>| kadi_sqlext::normalize::kadi_normalize(s.as_deref().unwrap_or(""));
    format!("{} {}", fold(&fields.last_name), fold(&fields.first_name))
}

/// The record columns every result row reads (after `FROM card_records c LEFT JOIN mpi_links l`).
const RECORD_COLUMNS: &str = "c.enrollment_uid, c.program_uid, c.fields_json, l.mpi_id, c.mpi_state,
     EXISTS (SELECT 1 FROM review_items r WHERE r.status = 'pending'
             AND (r.enrollment_uid = c.enrollment_uid OR r.candidate_enrollment_uid = c.enrollment_uid))";

fn read_record(r: &rusqlite::Row<'_>) -> rusqlite::Result<Result<BeneficiaryRecord>> {
    let enrollment_uid: String = r.get(0)?;
    let program_uid: String = r.get(1)?;
    let json: String = r.get(2)?;
    let mpi_id: Option<String> = r.get(3)?;
    let mpi_state: MpiState = r.get(4)?;
    let pending_review: bool = r.get(5)?;
    Ok(serde_json::from_str::<CardFields>(&json)
        .with_context(|| format!("card record {enrollment_uid} has unreadable fields"))
        .map(|fields| BeneficiaryRecord {
            full_name: fields.full_name(),
            enrollment_uid,
            program_uid,
            mpi_id,
            mpi_state,
            fields,
            pending_review,
        }))
}

/// Page arithmetic: (pages, clamped page, offset).
fn paging(total: u64, page: u32, page_size: u32) -> (u32, u32, i64) {
    let pages = total.div_ceil(page_size as u64).max(1) as u32;
    let page = page.clamp(1, pages);
    (pages, page, (page as i64 - 1) * page_size as i64)
}

impl Store {
    /// Folds every record marked stale into the search index; returns how many. Cheap when
    /// nothing changed (one probe of an empty table), so every search calls it.
    pub fn refresh_search_index(&self) -> Result<usize> {
        let mut done = 0;
        loop {
            let has_stale: bool =
                self.conn()
                    .query_row("SELECT EXISTS (SELECT 1 FROM search_stale)", [], |r| {
                        r.get(0)
                    })?;
            if !has_stale {
                return Ok(done);
            }
            let tx = rusqlite::Transaction::new_unchecked(
                self.conn(),
                rusqlite::TransactionBehavior::Immediate,
            )
            .context("starting a search index refresh")?;
            let batch: Vec<(String, Option<String>, Option<String>)> = {
                let mut stmt = tx.prepare(
                    "SELECT s.enrollment_uid, c.fields_json, l.mpi_id FROM search_stale s
                     LEFT JOIN card_records c ON c.enrollment_uid = s.enrollment_uid
                     LEFT JOIN mpi_links l ON l.enrollment_uid = s.enrollment_uid LIMIT ?1",
                )?;
                let rows = stmt.query_map(params![REFRESH_BATCH as i64], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                })?;
                rows.collect::<rusqlite::Result<_>>()?
            };
            for (uid, json, mpi_id) in &batch {
                self.index_record(uid, json.as_deref(), mpi_id.as_deref())?;
            }
            tx.commit().context("saving the search index")?;
            done += batch.len();
        }
    }

    /// Replaces the terms of one record (`json` `None`: the record is gone) and unmarks it.
    fn index_record(&self, uid: &str, json: Option<&str>, mpi_id: Option<&str>) -> Result<()> {
        let c = self.conn();
        c.prepare_cached("DELETE FROM search_terms WHERE enrollment_uid = ?1")?
            .execute(params![uid])?;
        c.prepare_cached("DELETE FROM search_stale WHERE enrollment_uid = ?1")?
            .execute(params![uid])?;
        let Some(json) = json else {
            c.prepare_cached("DELETE FROM search_records WHERE enrollment_uid = ?1")?
                .execute(params![uid])?;
            return Ok(());
        };
        // An unreadable record is still listed (by UID): the page shows it as "(no name)".
        let fields: CardFields = serde_json::from_str(json).unwrap_or_default();
        let mut insert = c.prepare_cached(
            "INSERT OR IGNORE INTO search_terms(term, enrollment_uid) VALUES (?1, ?2)",
        )?;
        for term in record_terms(uid, &fields, mpi_id) {
            insert.execute(params![term, uid])?;
        }
        let group = match mpi_id {
            Some(m) => m.to_string(),
            None => format!("~{uid}"),
        };
        c.prepare_cached(
            "INSERT INTO search_records(enrollment_uid, sort_key, group_key) VALUES (?1, ?2, ?3)
             ON CONFLICT(enrollment_uid) DO UPDATE SET sort_key = excluded.sort_key,
               group_key = excluded.group_key",
        )?
        .execute(params![uid, sort_key(&fields), group])?;
        Ok(())
    }

    /// The `WITH m(uid) AS (...)` of a query and its parameters (every indexed record when empty).
    fn matches_cte(query: &SearchQuery) -> (String, Vec<String>) {
        if query.is_empty() {
            return (
                "WITH m(uid) AS (SELECT enrollment_uid FROM search_records)".into(),
                vec![],
            );
        }
        let (sql, args) = query.matches_sql();
        (format!("WITH m(uid) AS ({sql})"), args)
    }

    /// Searches card records (see the module documentation), one row per record ordered by last
    /// name then first name; `page` is 1-based and clamped to the last page.
    pub fn search_beneficiaries(
        &self,
        query: &SearchQuery,
        page: u32,
        page_size: u32,
    ) -> Result<BeneficiarySearch> {
        self.refresh_search_index()?;
        let page_size = page_size.clamp(1, 200);
        let (cte, args) = Self::matches_cte(query);
        let total: i64 = self.conn().query_row(
            &format!("{cte} SELECT count(*) FROM m"),
            rusqlite::params_from_iter(&args),
            |r| r.get(0),
        )?;
        let total = total.max(0) as u64;
        let (pages, page, offset) = paging(total, page, page_size);
        let n = args.len();
        let mut stmt = self.conn().prepare(&format!(
            "{cte} SELECT {RECORD_COLUMNS}
             FROM m JOIN search_records s ON s.enrollment_uid = m.uid
             JOIN card_records c ON c.enrollment_uid = m.uid
             LEFT JOIN mpi_links l ON l.enrollment_uid = m.uid
             ORDER BY s.sort_key, s.enrollment_uid LIMIT ?{} OFFSET ?{}",
            n + 1,
            n + 2
        ))?;
        let mut values: Vec<rusqlite::types::Value> = args.into_iter().map(Into::into).collect();
        values.push((page_size as i64).into());
        values.push(offset.into());
        let rows = stmt.query_map(rusqlite::params_from_iter(values), read_record)?;
        let rows = rows
            .map(|r| r.map_err(anyhow::Error::from).and_then(|x| x))
            .collect::<Result<Vec<_>>>()?;
        Ok(BeneficiarySearch {
            page,
            page_size,
            total,
            pages,
            rows,
        })
    }

    /// Searches as [`Store::search_beneficiaries`], grouped by MPI identity: one group per person
    /// with all their records, ordered by the first name in the list order.
    pub fn search_identities(
        &self,
        query: &SearchQuery,
        page: u32,
        page_size: u32,
    ) -> Result<IdentitySearch> {
        self.refresh_search_index()?;
        let page_size = page_size.clamp(1, 200);
        let (total, matched, keys) = if query.is_empty() {
            self.everyone_page(page, page_size)?
        } else {
            self.matched_groups_page(query, page, page_size)?
        };
        let (pages, page, _) = paging(total, page, page_size);
        let mut groups = Vec::with_capacity(keys.len());
        for key in keys {
            groups.push(self.identity_group(&key)?);
        }
        Ok(IdentitySearch {
            page,
            page_size,
            total,
            matched_records: matched,
            pages,
            groups,
        })
    }

    /// (people, records, group keys of the page) for a query that matched something: the matched
    /// records grouped by person, each person placed by their first record in the list order.
    fn matched_groups_page(
        &self,
        query: &SearchQuery,
        page: u32,
        page_size: u32,
    ) -> Result<(u64, u64, Vec<String>)> {
        let (cte, args) = Self::matches_cte(query);
        let groups_cte = format!(
            "{cte}, g(gkey, k) AS (SELECT s.group_key, min(s.sort_key)
               FROM m JOIN search_records s ON s.enrollment_uid = m.uid GROUP BY s.group_key)"
        );
        let (total, matched): (i64, i64) = self.conn().query_row(
            &format!("{groups_cte} SELECT (SELECT count(*) FROM g), (SELECT count(*) FROM m)"),
            rusqlite::params_from_iter(&args),
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        let total = total.max(0) as u64;
        let (_, _, offset) = paging(total, page, page_size);
        let n = args.len();
        let mut stmt = self.conn().prepare(&format!(
            "{groups_cte} SELECT gkey FROM g ORDER BY k, gkey LIMIT ?{} OFFSET ?{}",
            n + 1,
            n + 2
        ))?;
        let mut values: Vec<rusqlite::types::Value> = args.into_iter().map(Into::into).collect();
        values.push((page_size as i64).into());
        values.push(offset.into());
        let rows = stmt.query_map(rusqlite::params_from_iter(values), |r| r.get(0))?;
        let keys = rows.collect::<rusqlite::Result<_>>()?;
        Ok((total, matched.max(0) as u64, keys))
    }

    /// (people, records, group keys of the page) for the blank query: everyone. Walks the list
    /// order's index and keeps each person at their first record, so page 1 reads a few dozen
    /// index entries instead of grouping every record of the box.
    fn everyone_page(&self, page: u32, page_size: u32) -> Result<(u64, u64, Vec<String>)> {
        let (total, records): (i64, i64) = self.conn().query_row(
            "SELECT (SELECT count(DISTINCT group_key) FROM search_records), (SELECT count(*) FROM search_records)",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        let total = total.max(0) as u64;
        let (_, _, offset) = paging(total, page, page_size);
        let (skip, want) = (offset as usize, page_size as usize);
        let mut seen = std::collections::HashSet::new();
        let mut keys = Vec::with_capacity(want);
        let mut stmt = self.conn().prepare_cached(
            "SELECT group_key FROM search_records ORDER BY sort_key, enrollment_uid",
        )?;
        let mut rows = stmt.query([])?;
        while let Some(row) = rows.next()? {
            let key: String = row.get(0)?;
            if seen.insert(key.clone()) && seen.len() > skip {
                keys.push(key);
                if keys.len() == want {
                    break;
                }
            }
        }
        Ok((total, records.max(0) as u64, keys))
    }

    /// The records of one group key (an MPI ID, or `~` and an enrollment UID).
    fn identity_group(&self, key: &str) -> Result<IdentityGroup> {
        let (filter, value, mpi_id) = match key.strip_prefix('~') {
            Some(uid) => ("c.enrollment_uid = ?1", uid, None),
            None => ("l.mpi_id = ?1", key, Some(key.to_string())),
        };
        let mut stmt = self.conn().prepare_cached(&format!(
            "SELECT {RECORD_COLUMNS} FROM card_records c
             LEFT JOIN mpi_links l ON l.enrollment_uid = c.enrollment_uid
             LEFT JOIN search_records s ON s.enrollment_uid = c.enrollment_uid
             WHERE {filter} ORDER BY s.sort_key, c.enrollment_uid"
        ))?;
        let rows = stmt.query_map(params![value], read_record)?;
        let records = rows
            .map(|r| r.map_err(anyhow::Error::from).and_then(|x| x))
            .collect::<Result<Vec<_>>>()?;
        Ok(IdentityGroup {
            pending_review: records.iter().any(|r| r.pending_review),
            mpi_id,
            records,
        })
    }

    /// True when the record waits for a person's review decision (as either side of a pair).
    pub fn pending_review_of(&self, enrollment_uid: &str) -> Result<bool> {
        Ok(self.conn().query_row(
            "SELECT EXISTS (SELECT 1 FROM review_items WHERE status = 'pending'
               AND (enrollment_uid = ?1 OR candidate_enrollment_uid = ?1))",
            params![enrollment_uid],
            |r| r.get(0),
        )?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::CardRecord;

    fn store_with(people: &[(&str, &str, &str, Option<&str>)]) -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(&dir.path().join("kadi.db")).unwrap();
        for (i, (first, last, bid, phone)) in people.iter().enumerate() {
            let te = format!("te{i:09}");
            let en = format!("en{i:09}");
            s.conn()
                .execute(
                    "INSERT INTO tracked_entities(uid, synced_at) VALUES (?1, 'x')",
                    params![te],
                )
                .unwrap();
            s.conn()
                .execute(
                    "INSERT INTO enrollments(uid, tracked_entity_uid, program_uid, synced_at) VALUES (?1, ?2, 'P', 'x')",
                    params![en, te],
                )
                .unwrap();
            let fields = CardFields {
                first_name: Some(first.to_string()),
                last_name: Some(last.to_string()),
                beneficiary_id: Some(bid.to_string()),
                phone_number: phone.map(str::to_string),
                ..Default::default()
            };
            s.upsert_card_record(&CardRecord {
                enrollment_uid: en,
                tracked_entity_uid: te,
                program_uid: "P".into(),
                fields,
            })
            .unwrap();
        }
        (dir, s)
    }

    fn names(s: &Store, q: &str) -> Vec<String> {
        s.search_beneficiaries(&SearchQuery::parse(q, "221"), 1, 50)
            .unwrap()
            .rows
            .into_iter()
            .map(|r| r.full_name)
            .collect()
    }

    #[test]
    fn search_ignores_case_and_accents_both_ways_and_reads_either_order() {
        let (_d, s) = store_with(&[
            ("Ndèye", "Sène", "B-001", None),
            ("Ismaila", "Sene", "B-002", None),
            ("Fatou", "Sow", "B-003", Some("+221771234567")),
            ("Thérèse", "Ndiaye", "B-004", None),
        ]);
        assert_eq!(names(&s, "ndeye"), ["Ndèye Sène"]);
        assert_eq!(names(&s, "NDEYE"), ["Ndèye Sène"]);
        assert_eq!(names(&s, "Ismaïla"), ["Ismaila Sene"]);
        assert_eq!(names(&s, "Sène").len(), 2);
        assert_eq!(names(&s, "sene").len(), 2);
        assert_eq!(names(&s, "therese"), ["Thérèse Ndiaye"]);
        assert_eq!(names(&s, "Sow Fatou"), ["Fatou Sow"]);
        assert_eq!(names(&s, "fat so"), ["Fatou Sow"]);
        assert!(names(&s, "Sow Ndèye").is_empty());
        // A one-letter word matches names only, never the start of an ID (`en…`, `sn-dkr…`).
        assert!(names(&s, "fatou e").is_empty());
        for phone in [
            "+221 77 123 45 67",
            "771234567",
            "77 123 45 67",
            "00221771234567",
            "077-123-45-67",
        ] {
            assert_eq!(names(&s, phone), ["Fatou Sow"], "{phone}");
        }
        assert!(names(&s, "77 123 45 68").is_empty());
        assert_eq!(names(&s, "b-003"), ["Fatou Sow"]);
        // A national ID as written on the card, with or without its spaces.
        s.conn()
            .execute(
                "UPDATE card_records SET fields_json = json_set(fields_json, '$.national_id', '1 751 1990 01234') WHERE enrollment_uid = 'en000000003'",
                [],
            )
            .unwrap();
        assert_eq!(names(&s, "1751199001234"), ["Thérèse Ndiaye"]);
        assert_eq!(names(&s, "1 751 1990 01234"), ["Thérèse Ndiaye"]);
        assert_eq!(names(&s, "B 003"), ["Fatou Sow"]);
        assert_eq!(names(&s, "%").len(), 0);
        assert_eq!(names(&s, "").len(), 4);
    }

    #[test]
    fn the_index_follows_writes_relinks_and_deletes_made_by_anyone() {
        let (_d, s) = store_with(&[("Awa", "Diop", "B-001", None)]);
        assert_eq!(names(&s, "awa"), ["Awa Diop"]);
        // A raw SQL write (not through the store's upsert) is seen by the next search.
        s.conn()
            .execute(
                "UPDATE card_records SET fields_json = json_set(fields_json, '$.first_name', 'Aïda')",
                [],
            )
            .unwrap();
        assert!(names(&s, "awa").is_empty());
        assert_eq!(names(&s, "aida"), ["Aïda Diop"]);
        // An MPI ID, with or without dashes, any case.
        s.conn()
            .execute("INSERT INTO mpi_identities(mpi_id, created_at, updated_at) VALUES ('SN-DKR-26-ABCD2345-X', 'x', 'x')", [])
            .unwrap();
        s.conn()
            .execute("INSERT INTO mpi_links(enrollment_uid, mpi_id, method, linked_at) VALUES ('en000000000', 'SN-DKR-26-ABCD2345-X', 'new', 'x')", [])
            .unwrap();
        assert_eq!(names(&s, "sndkr26abcd2345x"), ["Aïda Diop"]);
        assert_eq!(names(&s, "SN-DKR-26-ABCD2345"), ["Aïda Diop"]);
        s.conn().execute("DELETE FROM card_records", []).unwrap();
        assert!(names(&s, "").is_empty());
        assert_eq!(s.count("search_terms").unwrap(), 0);
    }

    #[test]
    fn upserts_that_mark_a_record_twice_before_a_search_do_not_fail() {
        let (_d, s) = store_with(&[("Awa", "Diop", "B-001", None)]);
        let mut rec = s.card_record("en000000000").unwrap().unwrap().record;
        for name in ["Aïssatou", "Astou"] {
            rec.fields.first_name = Some(name.into());
            assert!(s.upsert_card_record(&rec).unwrap());
        }
        s.conn()
            .execute("INSERT INTO mpi_identities(mpi_id, created_at, updated_at) VALUES ('M1', 'x', 'x'), ('M2', 'x', 'x')", [])
            .unwrap();
        for m in ["M1", "M2"] {
            s.mpi_set_link(
                "en000000000",
                m,
                None,
                crate::store::mpi_data::LinkMethod::Human,
            )
            .unwrap();
        }
        assert_eq!(names(&s, "astou"), ["Astou Diop"]);
        assert_eq!(names(&s, "m2"), ["Astou Diop"]);
    }

    #[test]
    fn identities_group_their_records_and_carry_the_review_badge() {
        let (_d, s) = store_with(&[
            ("Fatou", "Sow", "B-001", None),
            ("Fatou", "Sow", "B-002", None),
            ("Fatoumata", "Sow", "B-003", None),
            ("Awa", "Sow", "B-004", None),
        ]);
        let c = s.conn();
        c.execute("INSERT INTO mpi_identities(mpi_id, created_at, updated_at) VALUES ('M1', 'x', 'x'), ('M2', 'x', 'x')", []).unwrap();
        c.execute("INSERT INTO mpi_links(enrollment_uid, mpi_id, method, linked_at) VALUES ('en000000000', 'M1', 'new', 'x'), ('en000000001', 'M1', 'auto', 'x'), ('en000000002', 'M1', 'auto', 'x'), ('en000000003', 'M2', 'new', 'x')", []).unwrap();
        c.execute("INSERT INTO review_items(enrollment_uid, candidate_enrollment_uid, candidate_mpi_id, score, explain_json, created_at) VALUES ('en000000003', 'en000000000', 'M1', 0.8, '{}', 'x')", []).unwrap();
        let found = s
            .search_identities(&SearchQuery::parse("fatou", "221"), 1, 25)
            .unwrap();
        assert_eq!((found.total, found.matched_records), (1, 3));
        assert_eq!(found.groups[0].records.len(), 3);
        assert!(found.groups[0].pending_review);
        let all = s
            .search_identities(&SearchQuery::parse("sow", "221"), 1, 25)
            .unwrap();
        assert_eq!(all.total, 2);
        assert_eq!(
            all.groups[0].mpi_id.as_deref(),
            Some("M2"),
            "Awa Sow sorts first"
        );
        assert!(all.groups[0].pending_review);
        // Everyone (blank query), one person per page, placed by their first record.
        let p1 = s
            .search_identities(&SearchQuery::parse("", "221"), 1, 1)
            .unwrap();
        let p2 = s
            .search_identities(&SearchQuery::parse("", "221"), 2, 1)
            .unwrap();
        assert_eq!((p1.total, p1.pages, p1.matched_records), (2, 2, 4));
        assert_eq!(p1.groups[0].mpi_id.as_deref(), Some("M2"));
        assert_eq!(p2.groups[0].mpi_id.as_deref(), Some("M1"));
        assert_eq!(p2.groups[0].records.len(), 3);
        assert!(s.pending_review_of("en000000003").unwrap());
        assert!(!s.pending_review_of("en000000001").unwrap());
    }
}
