//! Benchmark: `mpi_score` over 1,000,000 pairs through SQL, JSON parsing included. Prints a
//! table; never fails on time. `cargo bench -p kadi-sqlext --bench mpi_sql_speed`
//! (or `--profile fast`).
use std::time::Instant;

fn main() {
    let conn = rusqlite::Connection::open_in_memory().unwrap();
    kadi_sqlext::register(&conn).unwrap();
    conn.execute_batch("CREATE TABLE r(id INTEGER PRIMARY KEY, j TEXT)")
        .unwrap();
    let first = [
        "Aminata", "Fatou", "Moussa", "Mamadou", "Awa", "Ibrahima", "Khady", "Ousmane",
    ];
    let last = [
        "Diallo", "Ndiaye", "Sow", "Ba", "Fall", "Diop", "Faye", "Gueye", "Sarr", "Cisse",
    ];
    let tx = conn.unchecked_transaction().unwrap();
    for i in 0..1000usize {
        let j = format!(
            r#"{{"first_name":"{}","last_name":"{}","date_of_birth":"19{:02}-{:02}-{:02}","gender":"{}","phone_number":"+22177{:07}","health_center":"HC {}"}}"#,
            first[i % 8],
            last[(i / 8) % 10],
            i % 100,
            1 + i % 12,
            1 + i % 28,
            if i % 2 == 0 { "F" } else { "M" },
            i * 7919 % 10_000_000,
            i % 5
        );
        tx.execute("INSERT INTO r(j) VALUES (?1)", [j]).unwrap();
    }
    tx.commit().unwrap();
    let t = Instant::now();
    let (n, s): (i64, f64) = conn
        .query_row(
            "SELECT count(*), sum(mpi_score(a.j, b.j)) FROM r a, r b",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    let secs = t.elapsed().as_secs_f64();
    println!("| pairs | seconds | target |\n|---|---|---|\n| {n} | {secs:.3} | < 2 s on one core |  (sum {s:.1})");
}
