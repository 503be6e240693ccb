#!/bin/sh
# The MPI held-out protocol in one run (issue 14; docs/mpi.md, "Held-out protocol"): every
# evaluation set with and without national ID, each marked `tune` (the only sets anything may be
# tuned on: FEBRL1, simulator seed 42 clerk) or `held-out` (FEBRL2, seed 7, the `ocr` error
# model), kadi beside Splink (bench/mpi_splink.py) on the very same records, then scale rows.
# Simulator sets go through the real path: `kadi sim dhis2` over loopback, `kadi sync --no-mpi`,
# `kadi mpi eval --synced` (which resolves the synced records in a fresh store), and Splink reads
# the records that evaluation exported (`--export-csv`).
#
# Usage: bench/mpi_eval.sh
#   KADI=./target/release/kadi  the binary (`cargo build --release`: the box's build, with LTO;
#                             a `--profile fast` build, quicker to make, runs ~4% slower)
#   EVAL_FLAGS="..."          appended to every `kadi mpi eval` (e.g. --train)
#   QUICK=1                   skip the 50,000 / 100,000-record scale rows
#   RECORDS=5000              simulator records per set
#   RUNS=3                    runs of kadi and of Splink per set row; the row shows each one's
#                             median-time run (a single 0.2 s run varies by 20% on a shared
#                             machine; both tools are deterministic, so only the time differs)
# Needs python3 with splink and pandas (Splink columns read "-" without). Prints markdown tables;
# never fails on numbers.
set -e
cd "$(dirname "$0")/.."
K=${KADI:-./target/release/kadi}
N=${RECORDS:-5000}
D=../shared/mpi-data
W=$(mktemp -d)
SIM=
trap '[ -n "$SIM" ] && kill $SIM 2>/dev/null; rm -rf "$W"' EXIT
STARTED=$(date +%s)

# The demo mapping plus the ADDRESS attribute the simulator's households carry.
cat >"$W/map.json" <<'JSON'
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

# One table row from kadi's report ($KJ) and Splink's ($SJ).
cat >"$W/row.py" <<'PY'
import json, os, sys
name, role, nid, hh = sys.argv[1:5]
r = json.loads(os.environ["KJ"])
try:
    s = json.loads(os.environ.get("SJ", ""))
except Exception:
    s = None
def t(m): return f"{m['precision']:.4f} / {m['recall']:.4f} / {m['f1']:.4f}"
a, b = r["auto"], r["auto_plus_review"]
h = r.get("household_false_links")
hf = f"{h['auto']} / {h['auto_plus_review']}" if h and hh == "yes" else "-"
if s:
    o = s["oracle"]
    sp = (f"{s['at_0_95']['precision']:.4f} | {s['at_0_5']['precision']:.4f} | {o['f1']:.4f} @ {o['threshold']:.3f}"
          f" | {s['seconds']:.1f} | {s['peak_rss_mb']:.0f} | {r['seconds'] / s['seconds']:.3f}")
    gap = f"{b['f1'] - o['f1']:+.4f}"
else:
    sp, gap = "- | - | - | - | - | -", "-"
print(f"| {name} | {role} | {nid} | {t(a)} | {t(b)} | {gap} | {r['review_items'] / r['records']:.1%} "
      f"| {r['new_identity_true_pairs']} | {r['blocking_recall']:.4f} | {hf} | {r['seconds']:.2f} "
      f"| {r['peak_rss_mb']:.0f} | {sp} |")
PY

splink() { # RECORDS TRUTH [--without-nid] -> Splink's JSON line, or nothing
  python3 bench/mpi_splink.py "$@" 2>/dev/null | tail -1 || true
}

RUNS=${RUNS:-3}
median() { # COMMAND... -> the JSON of its median-time run of $RUNS (nothing if none printed JSON)
  : >"$W/runs"
  for _ in $(seq 1 "$RUNS"); do
    "$@" | python3 -c 'import json, sys
try: print(json.dumps(json.load(sys.stdin)))
except Exception: pass' >>"$W/runs" || true
  done
  python3 -c 'import json, sys
runs = sorted((json.loads(l) for l in open(sys.argv[1]) if l.strip()), key=lambda r: r["seconds"])
print(json.dumps(runs[(len(runs) - 1) // 2]) if runs else "")' "$W/runs"
}

# Serves the simulator (seed $1, error model $2, households yes/no $3, $4 records) and syncs it
# into $W/kadi.db; truth in $W/truth.csv, households in $W/households.csv.
sim_sync() {
  rm -f "$W"/kadi.db* "$W"/truth.csv "$W"/households.csv
  PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  H=""; [ "$3" = yes ] && H="--households"
  $K sim dhis2 --listen 127.0.0.1:$PORT --version 2.41 --records "$4" --seed "$1" $H \
    --error-model "$2" --truth "$W/truth.csv" --households-truth "$W/households.csv" \
    --no-gzip >"$W/sim.log" 2>&1 &
  SIM=$!
  for _ in $(seq 1 600); do
    [ -s "$W/households.csv" ] && break
    sleep 0.1
  done
  sleep 0.3
  echo district | $K --db "$W/kadi.db" dhis2 config --url "http://127.0.0.1:$PORT" --username admin --password-stdin --json >/dev/null
  $K --db "$W/kadi.db" map set --program P3jJH5Tu5VC --file "$W/map.json" --json >/dev/null
  $K --db "$W/kadi.db" sync --no-mpi --program P3jJH5Tu5VC --json >"$W/sync.json"
  kill $SIM 2>/dev/null || true
  wait $SIM 2>/dev/null || true
  SIM=
}

echo "## Held-out protocol ($(git rev-parse --short HEAD 2>/dev/null || echo '?'), $K ${EVAL_FLAGS:-(no EVAL_FLAGS)}, $(nproc) cores, load $(cut -d' ' -f1 /proc/loadavg), median of $RUNS runs per set row)"
echo
echo "| set | role | national_id | auto P / R / F1 | auto+review P / R / F1 | a+r F1 - Splink oracle F1 | review share | new-identity true pairs | blocking recall | household false links auto / a+r | kadi s | kadi MB | Splink P p>=0.95 | Splink P p>=0.5 | Splink oracle F1 @ p | Splink s | Splink MB | kadi / Splink time |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
for set in febrl1 febrl2; do
  role=held-out; [ $set = febrl1 ] && role=tune
  for nid in yes no; do
    Wo=""; S=""; [ $nid = no ] && { Wo="--without national_id"; S="--without-nid"; }
    KJ=$(median $K mpi eval --json --calibration --febrl $D/$set.csv --febrl-truth $D/${set}_truth.csv $Wo $EVAL_FLAGS)
    SJ=$(median splink $D/$set.csv $D/${set}_truth.csv $S)
    KJ="$KJ" SJ="$SJ" python3 "$W/row.py" "$set" $role $nid no
  done
done
SCALE_KJ=; SCALE_SJ=
for hh in no yes; do
  for spec in 42:clerk:tune 7:clerk:held-out 7:ocr:held-out; do
    seed=${spec%%:*}; rest=${spec#*:}; model=${rest%%:*}; role=${rest#*:}
    sim_sync "$seed" "$model" $hh "$N"
    name="sim $seed $model"; [ $hh = yes ] && name="$name households"
    HF=""; [ $hh = yes ] && HF="--households $W/households.csv"
    for nid in yes no; do
      Wo=""; [ $nid = no ] && Wo="--without national_id"
      KJ=$(median $K mpi eval --json --calibration --synced "$W/kadi.db" --truth "$W/truth.csv" $HF $Wo \
        --export-csv "$W/export.csv" $EVAL_FLAGS)
      SJ=$(median splink "$W/export.csv" "$W/export_truth.csv")
      KJ="$KJ" SJ="$SJ" python3 "$W/row.py" "$name" $role $nid $hh
      [ "$name $nid" = "sim 7 clerk yes" ] && { SCALE_KJ=$KJ; SCALE_SJ=$SJ; }
    done
  done
done

echo
echo "Scale (simulator seed 7, clerk, no households, national ID kept; the 5,000 row is the held-out row above):"
echo
echo "| records | kadi s | kadi MB | Splink s | Splink MB | kadi / Splink time |"
echo "|---|---|---|---|---|---|"
scale_row() { # RECORDS, kadi JSON, Splink JSON
  KJ="$2" SJ="$3" python3 -c "
import json, os
r = json.loads(os.environ['KJ'])
try: s = json.loads(os.environ['SJ'])
except Exception: s = None
sp = f\"{s['seconds']:.1f} | {s['peak_rss_mb']:.0f} | {r['seconds'] / s['seconds']:.3f}\" if s else '- | - | -'
print(f\"| {int('$1'):,} | {r['seconds']:.2f} | {r['peak_rss_mb']:.0f} | {sp} |\")"
}
scale_row "$N" "$SCALE_KJ" "$SCALE_SJ"
if [ -z "$QUICK" ]; then
  for n in 50000 100000; do
    sim_sync 7 clerk no $n
    X=""; [ $n = 50000 ] && X="--export-csv $W/export.csv"
    KJ=$($K mpi eval --json --synced "$W/kadi.db" --truth "$W/truth.csv" $X $EVAL_FLAGS)
    SJ=""; [ $n = 50000 ] && SJ=$(splink "$W/export.csv" "$W/export_truth.csv")
    scale_row $n "$KJ" "$SJ"
  done
fi
echo
echo "Whole run: $(( $(date +%s) - STARTED )) s."
