#!/bin/sh
# Household evaluation (issue 14): the simulator at two seeds, with and without households, under
# today's error model (clerk) and the held-out one (ocr), each evaluated with and without national
# IDs. Every set goes through the real path: `kadi sim dhis2` over loopback, `kadi sync`, then
# `kadi mpi eval --synced` with the simulator's pair truth and household truth.
# Usage: bench/mpi_households.sh [KADI_BINARY] [RECORDS] [SEED_A] [SEED_B]
# (default ./target/fast/kadi, 5000, 42, 7). Prints a table; never fails on numbers.
set -e
cd "$(dirname "$0")/.."
K=${1:-./target/fast/kadi}
N=${2:-5000}
A=${3:-42}
B=${4:-7}
D=$(mktemp -d)
MAP=$(mktemp)
SIM=
trap '[ -n "$SIM" ] && kill $SIM 2>/dev/null; rm -rf "$D" "$MAP"' EXIT
# The demo mapping plus the households' ADDRESS attribute (the demo mapping itself maps no
# address, so the demo and its tests keep their data).
cat >"$MAP" <<'JSON'
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
echo "| seed | households | error model | national_id | auto P / R / F1 | auto+review P / R / F1 | review share | household false links auto (10y+) | auto+review (10y+) | s |"
echo "|---|---|---|---|---|---|---|---|---|---|"
for seed in $A $B; do
  for hh in no yes; do
    for model in clerk ocr; do
      rm -f "$D"/*
      PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
      H=""; [ $hh = yes ] && H="--households"
      $K sim dhis2 --listen 127.0.0.1:$PORT --version 2.41 --records "$N" --seed "$seed" $H \
        --error-model $model --truth "$D/truth.csv" --households-truth "$D/households.csv" \
        --no-gzip >"$D/sim.log" 2>&1 &
      SIM=$!
      for _ in $(seq 1 100); do
        [ -s "$D/households.csv" ] && break
        sleep 0.1
      done
      sleep 0.3
      echo district | $K --db "$D/kadi.db" dhis2 config --url "http://127.0.0.1:$PORT" --username admin --password-stdin --json >/dev/null
      $K --db "$D/kadi.db" map set --program P3jJH5Tu5VC --file "$MAP" --json >/dev/null
      $K --db "$D/kadi.db" sync --program P3jJH5Tu5VC --json >"$D/sync.json"
      kill $SIM 2>/dev/null || true
      wait $SIM 2>/dev/null || true
      SIM=
      for nid in yes no; do
        W=""; [ $nid = no ] && W="--without national_id"
        j=$($K mpi eval --json --synced "$D/kadi.db" --truth "$D/truth.csv" --households "$D/households.csv" $W)
        J="$j" python3 -c "
import json,os
r=json.loads(os.environ['J'])
a,b,h=r['auto'],r['auto_plus_review'],r['household_false_links']
hh=f\"{h['auto']} ({h['auto_born_10y_apart']}) | {h['auto_plus_review']} ({h['auto_plus_review_born_10y_apart']})\" if '$hh'=='yes' else '- | -'
print(f\"| $seed | $hh | $model | $nid | {a['precision']:.4f} / {a['recall']:.4f} / {a['f1']:.4f} | {b['precision']:.4f} / {b['recall']:.4f} / {b['f1']:.4f} | {r['review_items']/r['records']:.1%} | {hh} | {r['seconds']} |\")"
      done
    done
  done
done
