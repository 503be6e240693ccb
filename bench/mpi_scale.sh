#!/bin/sh
# Resolution at scale (issue 5): synthetic records from bench/mpi_synth.py resolved into an empty
# store by `kadi mpi eval`. Usage: bench/mpi_scale.sh [KADI_BINARY] [SIZES]
# (default ./target/release/kadi and "10000 100000"). Prints a table; never fails on numbers.
set -e
cd "$(dirname "$0")/.."
K=${1:-./target/release/kadi}
SIZES=${2:-"10000 100000"}
D=$(mktemp -d)
trap 'rm -rf "$D"' EXIT
echo "| records | seconds | records/s | peak RSS MB | comparisons | auto P | auto F1 | auto+review F1 | review items |"
echo "|--------:|--------:|----------:|------------:|------------:|-------:|--------:|---------------:|-------------:|"
for n in $SIZES; do
  python3 bench/mpi_synth.py "$n" "$D"
  $K mpi eval --json --records "$D/synth_$n.csv" --truth "$D/synth_${n}_truth.csv" | python3 -c "
import json,sys
r=json.load(sys.stdin)
print(f\"| {r['records']:>7} | {r['seconds']:>7.2f} | {r['records']/r['seconds']:>9.0f} | {r['peak_rss_mb']:>11.1f} | {r['comparisons']:>11} | {r['auto']['precision']:.4f} | {r['auto']['f1']:.4f} | {r['auto_plus_review']['f1']:.4f} | {r['review_items']:>12} |\")"
done
