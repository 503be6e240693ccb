#!/usr/bin/env python3
"""Order check: FEBRL converted to kadi's eval CSV with record ids renamed by a seeded random
permutation (resolution runs in id order, so this changes the arrival order), then evaluated.
Usage: python3 bench/mpi_order.py ../shared/mpi-data/febrl2 [--without national_id]
Prints one line per seed; identical lines mean order did not change the outcome (as measured)."""
import csv, json, random, subprocess, sys, tempfile, os
base = sys.argv[1]; extra = sys.argv[2:]
rows = list(csv.DictReader(open(base + ".csv")))
truth = list(csv.DictReader(open(base + "_truth.csv")))
kadi = os.path.join(os.path.dirname(__file__), "..", "target", "release", "kadi")
for seed in [0, 1, 2, 3]:
    rnd = random.Random(seed); perm = list(range(len(rows))); rnd.shuffle(perm)
    name = {r["rec_id"]: f"x{perm[i]:06d}" for i, r in enumerate(rows)}
    with tempfile.TemporaryDirectory() as d:
        with open(f"{d}/r.csv", "w", newline="") as f:
            w = csv.writer(f); w.writerow(["id", "first_name", "last_name", "date_of_birth", "address", "national_id"])
            for r in rows:
                dob = r["date_of_birth"]; dob = f"{dob[:4]}-{dob[4:6]}-{dob[6:]}" if len(dob) == 8 and dob.isdigit() else dob
                addr = " ".join(x for x in [r["street_number"], r["address_1"], r["address_2"], r["suburb"], r["postcode"], r["state"]] if x)
                w.writerow([name[r["rec_id"]], r["given_name"], r["surname"], dob, addr, r["soc_sec_id"]])
        with open(f"{d}/t.csv", "w", newline="") as f:
            w = csv.writer(f); w.writerow(["id_a", "id_b"])
            for t in truth: w.writerow([name[t["rec_id_l"]], name[t["rec_id_r"]]])
        out = json.loads(subprocess.check_output([kadi, "mpi", "eval", "--json", "--records", f"{d}/r.csv", "--truth", f"{d}/t.csv"] + extra))
    a, b = out["auto"], out["auto_plus_review"]
    print(f"seed {seed}: auto P {a['precision']:.4f} R {a['recall']:.4f} | auto+review P {b['precision']:.4f} R {b['recall']:.4f} | review {out['review_items']} | apart {out['new_identity_true_pairs']}")
