#!/usr/bin/env python3
"""Splink (PyPI `splink`, Fellegi-Sunter with EM, DuckDB) on a FEBRL file: the peer that
`bench/mpi_eval.sh` times in the same run as `kadi mpi eval`. A benchmark, never a test.

    pip install splink
    python3 bench/mpi_splink.py ../shared/mpi-data/febrl2.csv ../shared/mpi-data/febrl2_truth.csv [--without-nid]

Prints one JSON line: seconds (wall, from before `import splink` to the clusters; Python start-up
excluded), peak_rss_mb, and pairwise precision / recall / F1 of the clusters at match
probability >= 0.5 (the fixed threshold of ../shared/mpi-data/README.md). The model follows
Splink's own FEBRL example: name, date, address and (optionally) national ID comparisons, u by
random sampling, m by EM on two blocking rules.

Given a kadi database filled by `kadi sync` (a path ending in `.db`, e.g. from `kadi sim dhis2`)
instead of a FEBRL file, it reads the card records as `kadi mpi eval --synced` does (records by
enrollment UID, the simulator's pair truth) and compares the card fields: names, date of birth,
sex, phone, address and (optionally) national ID, with the same blocking rules.
"""
import csv
import json
import resource
import sys
import time

t0 = time.perf_counter()
import pandas as pd  # noqa: E402
import splink.comparison_library as cl  # noqa: E402
from splink import DuckDBAPI, Linker, SettingsCreator, block_on  # noqa: E402

path, truth_path = sys.argv[1], sys.argv[2]
with_nid = "--without-nid" not in sys.argv
if path.endswith(".db"):
    import sqlite3  # noqa: E402

    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        rows = conn.execute("SELECT enrollment_uid, fields_json FROM card_records").fetchall()
    fields = ["first_name", "last_name", "date_of_birth", "gender", "phone_number", "address", "national_id"]
    records = []
    for uid, js in rows:
        f = json.loads(js)
        records.append({"unique_id": uid, **{k: (f.get(k) or None) for k in fields}})
    df = pd.DataFrame.from_records(records)
    cols = ["unique_id"] + fields[:-1] + (["national_id"] if with_nid else [])
    df = df[cols]
    first, last, nid = "first_name", "last_name", "national_id"
    comparisons = [
        cl.NameComparison(first),
        cl.NameComparison(last),
        cl.DateOfBirthComparison("date_of_birth", input_is_string=True, datetime_format="%Y-%m-%d",
                                 invalid_dates_as_null=True),
        cl.ExactMatch("gender"),
        cl.ExactMatch("phone_number"),
        cl.LevenshteinAtThresholds("address", [2, 5]),
    ]
else:
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    df = df.rename(columns={"rec_id": "unique_id"})
    df["address"] = df[["street_number", "address_1", "address_2", "suburb", "postcode", "state"]].apply(
        lambda r: " ".join(x for x in r if x), axis=1)
    df = df.replace("", None)
    cols = ["unique_id", "given_name", "surname", "date_of_birth", "address", "postcode", "suburb", "state"]
    if with_nid:
        cols.append("soc_sec_id")
    df = df[cols]
    first, last, nid = "given_name", "surname", "soc_sec_id"
    comparisons = [
        cl.NameComparison(first),
        cl.NameComparison(last),
        cl.DateOfBirthComparison("date_of_birth", input_is_string=True, datetime_format="%Y%m%d",
                                 invalid_dates_as_null=True),
        cl.LevenshteinAtThresholds("address", [2, 5]),
        cl.ExactMatch("postcode"),
        cl.ExactMatch("suburb"),
    ]
if with_nid:
    comparisons.append(cl.LevenshteinAtThresholds(nid, [1, 2]))
blocking = [block_on(first), block_on(last), block_on("date_of_birth")]
if with_nid:
    blocking.append(block_on(nid))
settings = SettingsCreator(link_type="dedupe_only", comparisons=comparisons,
                           blocking_rules_to_generate_predictions=blocking)
db_api = DuckDBAPI()
linker = Linker(db_api.register(df), settings)
linker.training.estimate_probability_two_random_records_match(
    [block_on(first, last, "date_of_birth")], recall=0.6)
linker.training.estimate_u_using_random_sampling(max_pairs=2e5)
linker.training.estimate_parameters_using_expectation_maximisation(block_on("date_of_birth"))
linker.training.estimate_parameters_using_expectation_maximisation(block_on(last))
pred = linker.inference.predict(threshold_match_probability=0.5)
clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(pred, 0.5).as_pandas_dataframe()
seconds = time.perf_counter() - t0

members = {}
for uid, cid in zip(clusters["unique_id"], clusters["cluster_id"]):
    members.setdefault(cid, []).append(uid)
predicted = set()
for m in members.values():
    m.sort()
    for i in range(len(m)):
        for j in range(i + 1, len(m)):
            predicted.add((m[i], m[j]))
truth = set()
with open(truth_path) as f:
    rows = csv.reader(f)
    next(rows)
    for a, b in rows:
        truth.add((min(a, b), max(a, b)))
tp = len(predicted & truth)
p = tp / len(predicted) if predicted else 1.0
r = tp / len(truth) if truth else 1.0
f1 = 2 * p * r / (p + r) if p + r else 0.0
print(json.dumps({"tool": "splink", "national_id": with_nid, "seconds": round(seconds, 3),
                  "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
                  "precision": round(p, 4), "recall": round(r, 4), "f1": round(f1, 4)}))
