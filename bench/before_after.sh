#!/usr/bin/env bash
# Before/after of a refactor, in one run: two built `kadi` binaries (OLD, NEW) do the same jobs,
# interleaved round by round, and the table shows the median of each with the NEW/OLD ratio.
# A refactor that changes no behaviour should show ratios of about 1.00 (noise on this machine is
# a few per cent; run more rounds to narrow it). A benchmark, never a test: it exits 0 whatever
# the numbers, and fails only if a command fails.
#
# Jobs: `kadi sync --no-mpi` of N records from the simulator (DHIS2 2.41, served by NEW's
# `kadi sim serve`, a separate process), `kadi mpi resolve` of what it stored, and
# `kadi cards bench` at 300 and 600 dpi on 2 threads (1,000 cards). Wall seconds of each child.
#
#   bench/before_after.sh OLD_KADI NEW_KADI [N=20000] [ROUNDS=3]
#   e.g. git worktree add /tmp/old <commit> && (cd /tmp/old && cargo build --profile fast)
#        cargo build --profile fast && bench/before_after.sh /tmp/old/target/fast/kadi target/fast/kadi
set -euo pipefail
OLD=${1:?usage: before_after.sh OLD_KADI NEW_KADI [N] [ROUNDS]}
NEW=${2:?usage: before_after.sh OLD_KADI NEW_KADI [N] [ROUNDS]}
N=${3:-20000}
PROGRAM=P3jJH5Tu5VC  # the simulator's demo program
ROUNDS=${4:-3}
WORK=$(mktemp -d)
trap 'kill $SIM_PID 2>/dev/null || true; rm -rf "$WORK"' EXIT

"$NEW" sim dhis2 --listen 127.0.0.1:0 --records "$N" --version 2.41 --json >"$WORK/sim.json" 2>"$WORK/sim.err" &
SIM_PID=$!
for _ in $(seq 100); do [ -s "$WORK/sim.json" ] && break; sleep 0.1; done
URL=$(python3 -c "import json,sys; print(json.loads(open(sys.argv[1]).readline())['base_url'])" "$WORK/sim.json")

now() { date +%s.%N; }
# seconds JOB BIN DB: runs one job, prints its wall seconds.
seconds() {
  local job=$1 bin=$2 db=$3 t0 t1
  case $job in
    sync)
      rm -f "$db" "$db"-* 
      echo district | "$bin" --db "$db" dhis2 config --url "$URL" --username admin --password-stdin --json >/dev/null
      "$bin" --db "$db" map set --program "$PROGRAM" --demo --json >/dev/null
      t0=$(now); "$bin" --db "$db" sync --program "$PROGRAM" --no-mpi --json >/dev/null; t1=$(now) ;;
    resolve)
      t0=$(now); "$bin" --db "$db" mpi resolve --json >/dev/null; t1=$(now) ;;
    cards300)
      t0=$(now); "$bin" cards bench --n 1000 --dpi 300 --threads 2 >/dev/null; t1=$(now) ;;
    cards600)
      t0=$(now); "$bin" cards bench --n 1000 --dpi 600 --threads 2 >/dev/null; t1=$(now) ;;
  esac
  python3 -c "print(f'{$t1-$t0:.3f}')"
}

declare -A T
for r in $(seq "$ROUNDS"); do
  for job in sync resolve cards300 cards600; do
    # Alternate which binary goes first, so neither always runs on a warmer machine.
    if (( r % 2 )); then order="old new"; else order="new old"; fi
    for which in $order; do
      bin=$OLD; [ "$which" = new ] && bin=$NEW
      s=$(set -e; seconds "$job" "$bin" "$WORK/$which.db") || { echo "$job failed with $bin" >&2; exit 1; }
      T[$job-$which]="${T[$job-$which]:-} $s"
    done
  done
done

median() { python3 -c "import statistics,sys; print(f'{statistics.median(map(float, sys.argv[1:])):.3f}')" $1; }
printf '\n%d records, %d rounds, median wall seconds\n\n' "$N" "$ROUNDS"
printf '| %-38s | %8s | %8s | %9s |\n' job before after after/before
printf '|%s|%s|%s|%s|\n' ---------------------------------------- ---------: ---------: ----------:
for job in sync resolve cards300 cards600; do
  case $job in
    sync) what="kadi sync --no-mpi ($N records)";;
    resolve) what="kadi mpi resolve ($N records)";;
    cards300) what="kadi cards bench 1000 x 300 dpi, 2 thr";;
    cards600) what="kadi cards bench 1000 x 600 dpi, 2 thr";;
  esac
  o=$(median "${T[$job-old]}"); n=$(median "${T[$job-new]}")
  printf '| %-38s | %8s | %8s | %9s |\n' "$what" "$o" "$n" "$(python3 -c "print(f'{$n/$o:.2f}')")"
done
