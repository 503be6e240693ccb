#!/bin/sh
# FEBRL evaluation of kadi's MPI beside Splink measured in the same run (bench/mpi_splink.py), and
# beside the peer baselines of ../shared/mpi-data/README.md.
# Usage: bench/mpi_eval.sh   (after `cargo build --release`; `pip install splink pandas` for the
# Splink columns, which read "-" without it). Prints a table; never fails on numbers.
set -e
cd "$(dirname "$0")/.."
K=${KADI:-./target/release/kadi}
D=../shared/mpi-data
echo "| set | national_id | auto P / R / F1 | auto+review P / R / F1 | review share | new-identity true pairs | comparisons | kadi s | kadi RSS MB | Splink p>=0.5 P / R / F1 | Splink s | Splink RSS MB | kadi time / Splink time | README peer best F1 (oracle) |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
for set in febrl1 febrl2; do
  for nid in yes no; do
    if [ $nid = no ]; then W="--without national_id"; S="--without-nid"; else W=""; S=""; fi
    kj=$($K mpi eval --json --febrl $D/$set.csv --febrl-truth $D/${set}_truth.csv $W)
    sj=$(python3 bench/mpi_splink.py $D/$set.csv $D/${set}_truth.csv $S 2>/dev/null | tail -1 || true)
    KJ="$kj" SJ="$sj" python3 -c "
import json,os
r=json.loads(os.environ['KJ'])
try: s=json.loads(os.environ['SJ'])
except Exception: s=None
peer={('febrl2','yes'):'0.9992 (recordlinkage ECM)',('febrl2','no'):'0.9959 (Splink + address)'}.get(('$set','$nid'),'-')
a,b=r['auto'],r['auto_plus_review']
sp=f\"{s['precision']:.4f} / {s['recall']:.4f} / {s['f1']:.4f} | {s['seconds']:.2f} | {s['peak_rss_mb']} | {r['seconds']/s['seconds']:.3f}\" if s else '- | - | - | -'
print(f\"| $set | $nid | {a['precision']:.4f} / {a['recall']:.4f} / {a['f1']:.4f} | {b['precision']:.4f} / {b['recall']:.4f} / {b['f1']:.4f} | {r['review_items']/r['records']:.1%} | {r['new_identity_true_pairs']} ({r['new_identity_true_pairs']/r['true_pairs']:.1%}) | {r['comparisons']} | {r['seconds']} | {r['peak_rss_mb']} | {sp} | {peer} |\")"
  done
done
