#!/usr/bin/env python3
"""Calls per second of kadi's SQL functions next to sqlean's `fuzzy` extension, in one process.

Both extensions are loaded into the SAME sqlite connection (the one `sqlean.py` provides, which
allows `load_extension`), so both pay exactly the same per-row and per-call overhead; the
`length()` row shows that overhead on its own. Pairs are ASCII names with typos (sqlean's
distances refuse non-ASCII), 1,000,000 rows by default. A benchmark, never a test: it prints a
table and exits 0 whatever the numbers.

`mpi_score` has no sqlean counterpart; it runs on three tables of JSON record pairs: every row a
different pair (ASCII, as card records mostly are), every row a different pair with accented
names and health centres (`Aïssatou`, `Guédiawaye`), and pairs drawn from only 1,000 records (the
shape of `mpi_score(a.j, b.j)` over a join, where the per-thread cache of prepared records works).
With `--baseline-so` another build (say, main's) runs in its own connection to the same tables,
interleaved with this one, so the `kadi/baseline` column compares the two in one run. Rates are
per CPU second of this process, not wall time: on a shared machine the wall clock also counts the
time other jobs held the core (CPU time still moves with them, so compare within one run).

    pip install sqlean.py
    cargo build --release --manifest-path sqlext/loadable/Cargo.toml
    python3 bench/sqlext_bench.py [--rows N] [--repeat R] [--only mpi_score] [--so path/to/libkadi_sqlext.so]
                                  [--baseline-so path/to/main's/libkadi_sqlext.so]
"""
import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SO = os.path.join(ROOT, "sqlext/loadable/target/release/libkadi_sqlext.so")

FIRST = ["Mamadou", "Fatou", "Aissatou", "Ousmane", "Aminata", "Ibrahima", "Mariama", "Abdoulaye", "Khadija", "Seydou",
         "Ndeye", "Moussa", "Awa", "Cheikh", "Binta", "Souleymane", "Kadiatou", "Oumar", "Ramatoulaye", "Djibril",
         "Astou", "Boubacar", "Coumba", "Lamine", "Penda", "Modou", "Rokhaya", "Alioune", "Dieynaba", "Babacar"]
FIRST_ACCENTED = ["Aïssatou", "Ndèye", "Mariétou", "Adama", "Sokhna", "Fatoumata", "Maïmouna", "Ousmane", "Khadidiatou",
                  "Abdoulaye", "Seynabou", "Amadou"]
LAST_ACCENTED = ["Guèye", "Cissé", "Touré", "Traoré", "Konaté", "Diallo", "Ndiaye", "Sène", "Dramé", "Sow", "Faye"]
CENTRES_ACCENTED = ["Guédiawaye", "Thiès", "Sédhiou", "Centre de santé de Mbour", "Poste de santé Keur Massar", "Pikine"]
LAST = ["Diallo", "Ndiaye", "Diop", "Sow", "Ba", "Fall", "Gueye", "Sy", "Traore", "Coulibaly", "Konate", "Camara",
        "Toure", "Cisse", "Sarr", "Faye", "Mbaye", "Kane", "Thiam", "Ouattara", "Keita", "Diarra", "Sangare", "Barry"]


def typo(rng, s):
    """One random edit (delete, insert, transpose or substitute), or none."""
    if len(s) < 2 or rng.random() < 0.3:
        return s
    i = rng.randrange(len(s) - 1)
    k = rng.randrange(4)
    c = rng.choice("aeioudnlmrst")
    if k == 0:
        return s[:i] + s[i + 1:]
    if k == 1:
        return s[:i] + c + s[i:]
    if k == 2:
        return s[:i] + s[i + 1] + s[i] + s[i + 2:]
    return s[:i] + c + s[i + 1:]


def record(rng, first, last, centres=("Pikine", "Guediawaye", "Rufisque")):
    return {
        "first_name": first, "last_name": last,
        "date_of_birth": "19%02d-%02d-%02d" % (rng.randrange(40, 99), rng.randrange(1, 13), rng.randrange(1, 29)),
        "gender": rng.choice("MF"), "health_center": rng.choice(centres),
    }


def record_pair(rng, first, last, centres=("Pikine", "Guediawaye", "Rufisque")):
    """Two JSON texts: a record and the same person with typos in both names."""
    a = record(rng, first, last, centres)
    b = dict(a, first_name=typo(rng, first), last_name=typo(rng, last))
    return json.dumps(a, ensure_ascii=False), json.dumps(b, ensure_ascii=False)


def best_rates(runs, rows, repeat):
    """Calls per CPU second of each (connection, query), best of `repeat`, runs interleaved so
    that a busy machine slows every contender alike. CPU time of this (single-threaded) process
    rather than wall time: on a shared machine the wall clock also counts other jobs' turns."""
    best = [float("inf")] * len(runs)
    for _ in range(repeat):
        for i, (conn, sql) in enumerate(runs):
            t = time.process_time()
            conn.execute(sql).fetchone()
            best[i] = min(best[i], time.process_time() - t)
    return [rows / b for b in best]


def load(sqlean, db, so):
    conn = sqlean.connect(db)
    conn.enable_load_extension(True)
    conn.load_extension(so[:-3] if so.endswith(".so") else so)
    return conn


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--so", help="an already built libkadi_sqlext.so (default: build this checkout's)")
    ap.add_argument("--baseline-so", help="another build (say, of main) measured side by side in the same run")
    ap.add_argument("--only", help="run only the rows whose name contains this text")
    args = ap.parse_args()
    so = args.so or SO
    try:
        import sqlean
    except ImportError:
        sys.exit("needs sqlean.py: pip install sqlean.py")
    if not args.so:  # A no-op when the extension is fresh.
        subprocess.run(["cargo", "build", "--release", "--quiet", "--manifest-path",
                        os.path.join(ROOT, "sqlext/loadable/Cargo.toml")], check=True)
    sqlean.extensions.enable("fuzzy")
    # One database file, one connection per build: each connection has its own functions.
    tmp = tempfile.TemporaryDirectory()
    db = os.path.join(tmp.name, "bench.db")
    conn = load(sqlean, db, so)
    base = load(sqlean, db, args.baseline_so) if args.baseline_so else None
    conn.execute("PRAGMA journal_mode = OFF")

    rows = [
        ("per-row overhead: length(a)+length(b)", "SELECT sum(length(a) + length(b)) FROM pairs", None),
        ("jaro_winkler", "SELECT sum(jaro_winkler(a, b)) FROM pairs", "SELECT sum(fuzzy_jarowin(a, b)) FROM pairs"),
        ("levenshtein", "SELECT sum(levenshtein(a, b)) FROM pairs", "SELECT sum(fuzzy_leven(a, b)) FROM pairs"),
        ("damerau_levenshtein", "SELECT sum(damerau_levenshtein(a, b)) FROM pairs", "SELECT sum(fuzzy_damlev(a, b)) FROM pairs"),
        ("soundex", "SELECT count(soundex(a)) FROM pairs", "SELECT count(fuzzy_soundex(a)) FROM pairs"),
        ("mpi_score (JSON records, distinct pairs)", "SELECT sum(mpi_score(a, b)) FROM recs", None),
        ("mpi_score (accented, distinct pairs)", "SELECT sum(mpi_score(a, b)) FROM recs_accented", None),
        ("mpi_score (pairs of 1,000 records)", "SELECT sum(mpi_score(a, b)) FROM recs_reused", None),
    ]
    rows = [r for r in rows if not args.only or args.only in r[0]]
    wanted = {sql.split(" FROM ")[1] for r in rows for sql in r[1:] if sql}

    rng = random.Random(20260515)
    pairs, recs, accented = [], [], []
    for _ in range(args.rows):
        f, l = rng.choice(FIRST), rng.choice(LAST)
        a = f + " " + l
        b = typo(rng, f) + " " + typo(rng, l)
        pairs.append((a, b))
        if "recs" in wanted:
            recs.append(record_pair(rng, f, l))
        if "recs_accented" in wanted:
            accented.append(record_pair(rng, rng.choice(FIRST_ACCENTED), rng.choice(LAST_ACCENTED),
                                        CENTRES_ACCENTED))
    few = [record_pair(rng, rng.choice(FIRST), rng.choice(LAST))[i % 2] for i in range(1000)]
    reused = [(rng.choice(few), rng.choice(few)) for _ in range(args.rows)] if "recs_reused" in wanted else []
    tables = [("pairs", pairs), ("recs", recs), ("recs_accented", accented), ("recs_reused", reused)]
    for table, data in tables:
        conn.execute(f"CREATE TABLE {table}(a TEXT, b TEXT)")
        conn.executemany(f"INSERT INTO {table} VALUES (?, ?)", data)
    conn.commit()
    distinct = {t: conn.execute(f"SELECT count(*) FROM (SELECT DISTINCT a, b FROM {t})").fetchone()[0]
                for t, _ in tables[1:] if t in wanted}

    # Same answers first: the two must agree where their definitions agree.
    diff = conn.execute("SELECT count(*) FROM pairs WHERE levenshtein(a, b) != fuzzy_leven(a, b)").fetchone()[0]
    n = args.rows
    print(f"SQLite {conn.execute('select sqlite_version()').fetchone()[0]} (sqlean.py), {n:,} rows per table, "
          f"best of {args.repeat}, calls per CPU second of one core")
    print(f"levenshtein disagreements kadi vs sqlean: {diff}")
    print(f"kadi .so size: {os.path.getsize(so):,} bytes" +
          (f" (baseline {os.path.getsize(args.baseline_so):,})" if base else ""))
    if distinct:
        print("distinct record pairs: " + ", ".join(f"{t} {d:,}" for t, d in distinct.items()))
    print()
    head = f"| {'function':<40} | {'kadi calls/s':>14} | {'sqlean calls/s':>14} | {'kadi/sqlean':>11} |"
    rule = f"|{'-' * 42}|{'-' * 16}|{'-' * 16}|{'-' * 13}|"
    if base:
        head += f" {'baseline calls/s':>16} | {'kadi/baseline':>13} |"
        rule += f"{'-' * 18}|{'-' * 15}|"
    head += f" {'s per 1M':>8} |"
    rule += f"{'-' * 10}|"
    print(head)
    print(rule)
    for name, kadi_sql, sqlean_sql in rows:
        runs = [(conn, kadi_sql)] + ([(conn, sqlean_sql)] if sqlean_sql else []) + ([(base, kadi_sql)] if base else [])
        rates = best_rates(runs, n, args.repeat)
        k = rates[0]
        line = f"| {name:<40} | {k:>14,.0f} | "
        line += f"{rates[1]:>14,.0f} | {k / rates[1]:>10.2f}x |" if sqlean_sql else f"{'':>14} | {'':>11} |"
        if base:
            line += f" {rates[-1]:>16,.0f} | {k / rates[-1]:>12.2f}x |"
        line += f" {1e6 / k:>8.2f} |"
        print(line)


if __name__ == "__main__":
    main()
