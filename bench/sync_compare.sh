#!/usr/bin/env bash
# Sync before/after, in one run: two built `kadi` binaries (OLD, NEW) each do a first sync of N
# records into a fresh store and then a no-change sync, against one simulator (NEW's
# `kadi sim dhis2`, a separate process, so nothing of it counts as kadi's). Per sync: wall
# seconds, kadi's own CPU (user + sys of the `kadi sync` process alone, from wait4), CPU per
# 100,000 records pulled, HTTP requests (counted by the simulator), peak RSS (the child's own
# VmHWM, polled) and the report's status. A benchmark, never a test: it exits 0 whatever the
# numbers, and fails only if a command fails.
#
#   bench/sync_compare.sh OLD_KADI NEW_KADI [N=100000] [VERSION=2.41] [PAGE_SIZE=500]
#   e.g. bench/sync_compare.sh /work/main/target/fast/kadi target/fast/kadi
# GZIP=1 serves gzip as nginx in front of DHIS2 does (default off: on loopback it only adds CPU
# on both sides of the same cores, as in bench/sync.rs).
set -euo pipefail
OLD=${1:?usage: sync_compare.sh OLD_KADI NEW_KADI [N] [VERSION] [PAGE_SIZE]}
NEW=${2:?usage: sync_compare.sh OLD_KADI NEW_KADI [N] [VERSION] [PAGE_SIZE]}
N=${3:-100000}
VERSION=${4:-2.41}
PAGE_SIZE=${5:-500}
PROGRAM=P3jJH5Tu5VC  # the simulator's demo program
WORK=$(mktemp -d)
SIM_PID=
trap '[ -n "$SIM_PID" ] && kill "$SIM_PID" 2>/dev/null; rm -rf "$WORK"' EXIT

GZIP_FLAG=--no-gzip
[ "${GZIP:-0}" = 1 ] && GZIP_FLAG=
"$NEW" sim dhis2 --listen 127.0.0.1:0 --records "$N" --version "$VERSION" $GZIP_FLAG --json \
  >"$WORK/sim.json" 2>"$WORK/sim.err" &
SIM_PID=$!
for _ in $(seq 300); do [ -s "$WORK/sim.json" ] && break; sleep 0.1; done
URL=$(python3 -c "import json,sys; print(json.loads(open(sys.argv[1]).readline())['base_url'])" "$WORK/sim.json")

# measure.py LABEL BIN DB: one `kadi sync`, measured; prints one JSON line.
cat >"$WORK/measure.py" <<'PY'
import json, os, subprocess, sys, threading, time, urllib.request
label, kadi, db, url, program, page_size = sys.argv[1:7]
def sim_requests():
    with urllib.request.urlopen(url + "/kadi-sim/stats", timeout=10) as r:
        return json.load(r)["requests"]
before = sim_requests()
t0 = time.monotonic()
child = subprocess.Popen([kadi, "--db", db, "sync", "--program", program, "--no-mpi",
                          "--page-size", page_size, "--json"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
peak = [0]
def poll():
    # The child's own high-water mark (ru_maxrss would carry this process's from the fork).
    while child.poll() is None:
        try:
            for line in open(f"/proc/{child.pid}/status"):
                if line.startswith("VmHWM:"):
                    peak[0] = max(peak[0], int(line.split()[1]))
        except OSError:
            pass
        time.sleep(0.01)
watcher = threading.Thread(target=poll)
watcher.start()
out, err = child.communicate()
watcher.join()
wall = time.monotonic() - t0
# communicate() reaped the child; its rusage is in RUSAGE_CHILDREN, which only ever grows:
# the caller runs one measurement per process, so the totals are this child's alone.
import resource
ru = resource.getrusage(resource.RUSAGE_CHILDREN)
report = json.loads(out) if out.strip() else {}
if child.returncode != 0:
    sys.stderr.write(err.decode(errors="replace"))
print(json.dumps({
    "label": label, "wall": wall, "cpu": ru.ru_utime + ru.ru_stime,
    "requests": sim_requests() - before, "peak_mb": peak[0] / 1024,
    "pulled": report.get("pulled", 0), "created": report.get("created", 0),
    "status": report.get("status", "exit %d" % child.returncode),
}))
PY

for which in old new; do
  bin=$OLD; [ "$which" = new ] && bin=$NEW
  db="$WORK/$which.db"
  echo district | "$bin" --db "$db" dhis2 config --url "$URL" --username admin --password-stdin --json >/dev/null
  "$bin" --db "$db" map set --program "$PROGRAM" --demo --json >/dev/null
  for run in first no-change; do
    python3 "$WORK/measure.py" "$which $run" "$bin" "$db" "$URL" "$PROGRAM" "$PAGE_SIZE" >>"$WORK/rows.jsonl"
  done
done

python3 - "$WORK/rows.jsonl" "$N" "$VERSION" "$PAGE_SIZE" <<'PY'
import json, sys
rows = {r["label"]: r for r in map(json.loads, open(sys.argv[1]))}
n, version, page_size = sys.argv[2], sys.argv[3], sys.argv[4]
print(f"\n{n} records, DHIS2 {version} simulator, page size {page_size}, kadi sync --no-mpi\n")
print("| sync      | binary | wall s | kadi CPU s | CPU s per 100k | requests | peak RSS MB | pulled | created | status |")
print("|-----------|--------|-------:|-----------:|---------------:|---------:|------------:|-------:|--------:|--------|")
for run in ("first", "no-change"):
    for which in ("old", "new"):
        r = rows[f"{which} {run}"]
        per = r["cpu"] / int(n) * 100000
        label = "before" if which == "old" else "after"
        print(f"| {run:<9} | {label:<6} | {r['wall']:>6.2f} | {r['cpu']:>10.2f} | {per:>14.2f} | {r['requests']:>8} | {r['peak_mb']:>11.1f} | {r['pulled']:>6} | {r['created']:>7} | {r['status']:<6} |")
PY
