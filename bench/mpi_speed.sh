#!/bin/sh
# Speed and memory of identity resolution (issue 14, deliverable 4) beside Splink in the same run.
# Sets: FEBRL2 (5,000 records), the simulator (households, held-out seed) at 5,000 and 50,000
# records with Splink, and at 100,000 records kadi alone (Splink is not run there). Each simulator
# set goes through the real path: `kadi sim dhis2` over loopback, `kadi sync` (its seconds and
# peak MB are shown too), then `kadi mpi eval --synced`, whose seconds load the records into a
# fresh store and resolve them. Targets: kadi time <= 1/10 of Splink's at 5k and 50k; 100,000
# records in < 30 s and < 200 MB.
# Usage: bench/mpi_speed.sh [KADI_BINARY] [SEED] [SIZES_WITH_SPLINK] [SIZES_KADI_ONLY]
# (default ./target/release/kadi, 7, "5000 50000", "100000"). Needs `pip install splink pandas`
# for the Splink columns ("-" without it). Prints a table; never fails on numbers.
set -e
cd "$(dirname "$0")/.."
K=${1:-./target/release/kadi}
SEED=${2:-7}
WITH=${3:-"5000 50000"}
ALONE=${4:-"100000"}
D=$(mktemp -d)
SIM=
trap '[ -n "$SIM" ] && kill $SIM 2>/dev/null; rm -rf "$D"' EXIT
cat >"$D/map.json" <<'JSON'
{"programme_uid":"P3jJH5Tu5VC","mappings":[
 {"dhis2_attribute_code":"FIRST_NAME","card_field":"first_name"},
 {"dhis2_attribute_code":"LAST_NAME","card_field":"last_name"},
 {"dhis2_attribute_code":"DATE_OF_BIRTH","card_field":"date_of_birth"},
 {"dhis2_attribute_code":"SEX","card_field":"gender","value_map":{"MALE":"M","FEMALE":"F"}},
 {"dhis2_attribute_code":"PHONE","card_field":"phone_number"},
 {"dhis2_attribute_code":"BENEFICIARY_ID","card_field":"beneficiary_id"},
 {"dhis2_attribute_code":"NATIONAL_ID","card_field":"national_id"},
 {"dhis2_attribute_code":"ADDRESS","card_field":"address"}]}
JSON

# row NAME RECORDS KADI_JSON SPLINK_JSON SYNC_S SYNC_MB
row() {
  KJ="$3" SJ="$4" python3 -c "
import json,os
r=json.loads(os.environ['KJ'])
try: s=json.loads(os.environ['SJ'])
except Exception: s=None
sp=f\"{s['seconds']:.2f} | {s['peak_rss_mb']:.0f} | {r['seconds']/s['seconds']:.3f} ({s['seconds']/r['seconds']:.1f}x)\" if s else '- | - | -'
print(f\"| $1 | $2 | {r['seconds']:.2f} | {r['peak_rss_mb']:.0f} | {sp} | {r['comparisons']} | {r['auto']['precision']:.4f} / {r['auto']['recall']:.4f} | {r['review_items']} | $5 | $6 |\")"
}

echo "| set | records | kadi s | kadi MB | Splink s | Splink MB | kadi / Splink time | comparisons | auto P / R | review items | sync s | sync MB |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|"
F=../shared/mpi-data
kj=$($K mpi eval --json --febrl $F/febrl2.csv --febrl-truth $F/febrl2_truth.csv)
sj=$(python3 bench/mpi_splink.py $F/febrl2.csv $F/febrl2_truth.csv 2>/dev/null | tail -1 || true)
row febrl2 5000 "$kj" "$sj" - -

for n in $WITH $ALONE; do
  rm -rf "$D/s" && mkdir "$D/s"
  PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  $K sim dhis2 --listen 127.0.0.1:$PORT --version 2.41 --records "$n" --seed "$SEED" --households \
    --truth "$D/s/truth.csv" --households-truth "$D/s/households.csv" --no-gzip >"$D/sim.log" 2>&1 &
  SIM=$!
  for _ in $(seq 1 600); do
    [ -s "$D/s/households.csv" ] && break
    sleep 0.1
  done
  sleep 0.3
  echo district | $K --db "$D/s/kadi.db" dhis2 config --url "http://127.0.0.1:$PORT" --username admin --password-stdin --json >/dev/null
  $K --db "$D/s/kadi.db" map set --program P3jJH5Tu5VC --file "$D/map.json" --json >/dev/null
  /usr/bin/time -f "%e %M" -o "$D/sync.time" $K --db "$D/s/kadi.db" sync --program P3jJH5Tu5VC --json >/dev/null
  kill $SIM 2>/dev/null || true
  wait $SIM 2>/dev/null || true
  SIM=
  read -r ss sk <"$D/sync.time"
  sm=$((sk / 1024))
  kj=$($K mpi eval --json --synced "$D/s/kadi.db" --truth "$D/s/truth.csv" --export-csv "$D/s/records.csv")
  sj=
  case " $WITH " in
    *" $n "*) sj=$(python3 bench/mpi_splink.py "$D/s/records.csv" "$D/s/records_truth.csv" 2>/dev/null | tail -1 || true) ;;
  esac
  row "simulator seed $SEED" "$n" "$kj" "$sj" "$ss" "$sm"
done
