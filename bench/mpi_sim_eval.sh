#!/bin/sh
# Issue 5's third evaluation set: the simulator's records with its --truth export, pulled by
# `kadi sync` over loopback, then `kadi mpi eval --synced` resolves the synced card records into a
# fresh store by the same code path. Usage: bench/mpi_sim_eval.sh [KADI_BINARY] [RECORDS] [SEED]
# (default ./target/release/kadi, 10000, 42). Prints the evaluation JSON; never fails on numbers.
# SIM_ARGS="--households --error-model ocr" draws households and the held-out error model.
set -e
cd "$(dirname "$0")/.."
K=${1:-./target/release/kadi}
N=${2:-10000}
SEED=${3:-42}
D=$(mktemp -d)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
$K sim dhis2 --listen 127.0.0.1:$PORT --version 2.41 --records "$N" --seed "$SEED" $SIM_ARGS \
  --truth "$D/truth.csv" --no-gzip >"$D/sim.log" 2>&1 &
SIM=$!
trap 'kill $SIM 2>/dev/null; rm -rf "$D"' EXIT
for _ in $(seq 1 100); do
  [ -s "$D/truth.csv" ] && break
  sleep 0.1
done
sleep 0.5
echo district | $K --db "$D/kadi.db" dhis2 config --url "http://127.0.0.1:$PORT" --username admin --password-stdin --json >/dev/null
$K --db "$D/kadi.db" map set --program P3jJH5Tu5VC --demo --json >/dev/null
$K --db "$D/kadi.db" sync --program P3jJH5Tu5VC --json >"$D/sync.json"
[ -n "$KEEP" ] && cp "$D/kadi.db" "$D/truth.csv" "$KEEP"/
$K mpi eval --json --synced "$D/kadi.db" --truth "$D/truth.csv"
