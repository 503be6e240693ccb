//! Beneficiary search over a large box: the folded term index (`store::search`, schema v11)
//! against the search it replaced (a `LIKE` over every record's JSON), in the same run on the
//! same file. Prints a table; never fails on timing.
//!
//! `KADI_BENCH_RECORDS=100000 cargo bench --bench search --profile fast`
//! (`bench/search.sh` runs it and keeps the table.)
use kadi::store::search::SearchQuery;
use kadi::store::Store;
use std::time::Instant;

const PROGRAM: &str = "P3jJH5Tu5VC";
const FIRST: &[&str] = &[
    "Fatou",
    "Awa",
    "Ndèye",
    "Aïssatou",
    "Mariama",
    "Khady",
    "Coumba",
    "Thérèse",
    "Aminata",
    "Binta",
    "Moussa",
    "Ismaïla",
    "Mamadou",
    "Ousmane",
    "Cheikh",
    "Abdoulaye",
    "Ibrahima",
    "Émile",
    "Souleymane",
    "Babacar",
    "Modou",
    "Seydou",
    "Oumar",
    "Adama",
    "Pape",
];
const LAST: &[&str] = &[
    "Sow", "Diop", "Ndiaye", "Sène", "Fall", "Faye", "Diallo", "Ba", "Gueye", "Sarr", "Cissé",
    "Kouyaté", "Camara", "Touré", "Mbaye", "Niang", "Thiam", "Kane", "Seck", "Diouf", "Ka", "Sy",
    "Wade", "Dieng", "Kanouté",
];

/// A deterministic pseudo-random sequence (no dependency, same data every run).
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    fn pick<'a>(&mut self, list: &[&'a str]) -> &'a str {
        list[(self.next() as usize) % list.len()]
    }
}

fn fill(db: &std::path::Path, n: usize) -> anyhow::Result<()> {
    drop(Store::open(db)?);
    let mut conn = rusqlite::Connection::open(db)?;
    let tx = conn.transaction()?;
    let mut rng = Lcg(16);
    {
        let mut card = tx.prepare(
            "INSERT INTO card_records(enrollment_uid, tracked_entity_uid, program_uid, fields_json, content_hash, mapped_at, mpi_state)
             VALUES (?1, ?1, ?2, ?3, ?1, '2026-01-01T00:00:00Z', 'resolved')",
        )?;
        let mut identity = tx.prepare(
            "INSERT INTO mpi_identities(mpi_id, created_at, updated_at) VALUES (?1, 'x', 'x')",
        )?;
        let mut link = tx.prepare(
            "INSERT INTO mpi_links(enrollment_uid, mpi_id, method, linked_at) VALUES (?1, ?2, 'new', 'x')",
        )?;
        for i in 0..n {
            let uid = format!("E{i:010}");
            let fields = serde_json::json!({
                "first_name": rng.pick(FIRST), "last_name": rng.pick(LAST),
                "beneficiary_id": format!("B-{i:06}"),
                "date_of_birth": format!("19{:02}-{:02}-{:02}", 50 + rng.next() % 50, 1 + rng.next() % 12, 1 + rng.next() % 28),
                "gender": if rng.next().is_multiple_of(2) { "F" } else { "M" },
                "phone_number": format!("+22177{:07}", i),
                "health_center": "Centre de Santé Médina",
            });
            card.execute(rusqlite::params![uid, PROGRAM, fields.to_string()])?;
            // Every fifth person has a second record of the same identity.
            let owner = if i % 5 == 1 { i - 1 } else { i };
            let mpi = format!("SN-DKR-26-{owner:08}-X");
            if i % 5 != 1 {
                identity.execute([&mpi])?;
            }
            link.execute([&uid, &mpi])?;
        }
    }
    tx.commit()?;
    Ok(())
}

/// The search this index replaced, as it was (count, then the first page).
fn old_search(conn: &rusqlite::Connection, q: &str) -> anyhow::Result<i64> {
    let pattern = format!("%{}%", q.trim().to_lowercase());
    let filter = "FROM card_records c LEFT JOIN mpi_links l ON l.enrollment_uid = c.enrollment_uid
         WHERE ?1 = '%%'
            OR lower(coalesce(json_extract(c.fields_json, '$.first_name'), '') || ' ' ||
                     coalesce(json_extract(c.fields_json, '$.last_name'), '')) LIKE ?1 ESCAPE '\\'
            OR lower(coalesce(json_extract(c.fields_json, '$.last_name'), '') || ' ' ||
                     coalesce(json_extract(c.fields_json, '$.first_name'), '')) LIKE ?1 ESCAPE '\\'
            OR lower(coalesce(json_extract(c.fields_json, '$.beneficiary_id'), '')) LIKE ?1 ESCAPE '\\'
            OR lower(coalesce(l.mpi_id, '')) LIKE ?1 ESCAPE '\\'
            OR lower(c.enrollment_uid) LIKE ?1 ESCAPE '\\'";
    let total: i64 = conn.query_row(&format!("SELECT count(*) {filter}"), [&pattern], |r| {
        r.get(0)
    })?;
    let mut stmt = conn.prepare(&format!(
        "SELECT c.enrollment_uid, c.fields_json {filter}
         ORDER BY lower(json_extract(c.fields_json, '$.last_name')), lower(json_extract(c.fields_json, '$.first_name')), c.enrollment_uid
         LIMIT 25"
    ))?;
    let rows = stmt
        .query_map([&pattern], |r| r.get::<_, String>(0))?
        .count();
    let _ = rows;
    Ok(total)
}

/// Median milliseconds of `runs` calls of `f`, and what the last call returned.
fn time<T>(runs: usize, mut f: impl FnMut() -> anyhow::Result<T>) -> anyhow::Result<(f64, T)> {
    let mut ms = Vec::with_capacity(runs);
    let mut last = None;
    for _ in 0..runs {
        let t = Instant::now();
        last = Some(f()?);
        ms.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    ms.sort_by(|a, b| a.total_cmp(b));
    Ok((ms[ms.len() / 2], last.expect("runs > 0")))
}

fn main() -> anyhow::Result<()> {
    let n: usize = std::env::var("KADI_BENCH_RECORDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let runs = 5;
    let dir = tempfile::tempdir()?;
    let db = dir.path().join("kadi.db");
    let t = Instant::now();
    fill(&db, n)?;
    let filled = t.elapsed().as_secs_f64();
    let store = Store::open(&db)?;
    let t = Instant::now();
    let indexed = store.refresh_search_index()?;
    let index_s = t.elapsed().as_secs_f64();
    let terms = store.count("search_terms")?;
    println!("{n} records ({filled:.1} s to write); search index of {indexed} records built in {index_s:.2} s ({terms} terms)");
    println!();
    println!(
        "| query | kind | old LIKE ms | found (old) | new ms | found (new) | grouped ms | people |"
    );
    println!(
        "|-------|------|------------:|------------:|-------:|------------:|-----------:|-------:|"
    );
    let raw = rusqlite::Connection::open(&db)?;
    let queries = [
        ("fatou sow", "name"),
        ("Sow Fatou", "name, reversed"),
        ("fatou s", "name and an initial"),
        ("Ndeye Sene", "name, unaccented"),
        ("ismaïla kouyaté", "name, accented"),
        ("77 000 12 34", "phone, national"),
        ("+221770001234", "phone, E.164"),
        ("B-012345", "beneficiary ID"),
        ("sndkr2600012345x", "MPI ID, no dashes"),
        ("", "everyone (page 1)"),
    ];
    for (q, kind) in queries {
        let (old_ms, old_found) = time(runs, || old_search(&raw, q))?;
        let query = SearchQuery::parse(q, "221");
        let (new_ms, new_found) = time(runs, || {
            Ok(store.search_beneficiaries(&query, 1, 25)?.total)
        })?;
        let (group_ms, people) = time(runs, || Ok(store.search_identities(&query, 1, 25)?.total))?;
        println!("| `{q}` | {kind} | {old_ms:.1} | {old_found} | {new_ms:.1} | {new_found} | {group_ms:.1} | {people} |");
    }
    Ok(())
}
