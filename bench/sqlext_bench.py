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

    pip install sqlean.py
    cargo build --release --manifest-path sqlext/loadable/Cargo.toml
    python3 bench/sqlext_bench.py [--rows N] [--repeat R] [--only mpi_score] [--so path/to/libkadi_sqlext.so]
"""
import argparse
import json
import os
import random
import subprocess
import sys
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


def best_rates(conn, sqls, rows, repeat):
    """Calls/s of each query, best of `repeat`, runs interleaved so that a busy machine slows
    kadi and sqlean alike."""
    best = [float("inf")] * len(sqls)
    for _ in range(repeat):
        for i, sql in enumerate(sqls):
            t = time.perf_counter()
            conn.execute(sql).fetchone()
            best[i] = min(best[i], time.perf_counter() - t)
    return [rows / b for b in best]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--so", help="an already built libkadi_sqlext.so (default: build this checkout's)")
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
    conn = sqlean.connect(":memory:")
    conn.enable_load_extension(True)
    conn.load_extension(so[:-3] if so.endswith(".so") else so)

    rng = random.Random(20260515)
    pairs, recs, accented = [], [], []
    for _ in range(args.rows):
        f, l = rng.choice(FIRST), rng.choice(LAST)
        a = f + " " + l
        b = typo(rng, f) + " " + typo(rng, l)
        pairs.append((a, b))
        recs.append(record_pair(rng, f, l))
        accented.append(record_pair(rng, rng.choice(FIRST_ACCENTED), rng.choice(LAST_ACCENTED), CENTRES_ACCENTED))
    few = [record_pair(rng, rng.choice(FIRST), rng.choice(LAST))[i % 2] for i in range(1000)]
    reused = [(rng.choice(few), rng.choice(few)) for _ in range(args.rows)]
    for table, rows in [("pairs", pairs), ("recs", recs), ("recs_accented", accented), ("recs_reused", reused)]:
        conn.execute(f"CREATE TABLE {table}(a TEXT, b TEXT)")
        conn.executemany(f"INSERT INTO {table} VALUES (?, ?)", rows)
    conn.commit()
    distinct = {t: conn.execute(f"SELECT count(*) FROM (SELECT DISTINCT a, b FROM {t})").fetchone()[0]
                for t in ["recs", "recs_accented", "recs_reused"]}

    # Same answers first: the two must agree where their definitions agree.
    diff = conn.execute("SELECT count(*) FROM pairs WHERE levenshtein(a, b) != fuzzy_leven(a, b)").fetchone()[0]
    n = args.rows
    print(f"SQLite {conn.execute('select sqlite_version()').fetchone()[0]} (sqlean.py), {n:,} ASCII name pairs, best of {args.repeat}")
    print(f"levenshtein disagreements kadi vs sqlean: {diff}")
    print(f"kadi .so size: {os.path.getsize(so):,} bytes")
    print("distinct record pairs: " + ", ".join(f"{t} {d:,}" for t, d in distinct.items()))
    print()
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
    print(f"| {'function':<40} | {'kadi calls/s':>14} | {'sqlean calls/s':>14} | {'kadi/sqlean':>11} |")
    print(f"|{'-' * 42}|{'-' * 16}|{'-' * 16}|{'-' * 13}|")
    for name, kadi_sql, sqlean_sql in rows:
        if sqlean_sql:
            k, s = best_rates(conn, [kadi_sql, sqlean_sql], n, args.repeat)
            print(f"| {name:<40} | {k:>14,.0f} | {s:>14,.0f} | {k / s:>10.2f}x |")
        else:
            (k,) = best_rates(conn, [kadi_sql], n, args.repeat)
            extra = f"{n / k:.2f} s for {n:,}" if "mpi" in name else ""
            print(f"| {name:<40} | {k:>14,.0f} | {'':>14} | {extra:>11} |")


if __name__ == "__main__":
    main()
