#!/bin/sh
# Beneficiary search over a large box: the folded term index against the LIKE search it replaced,
# same run, same file (bench/search.rs). Prints a markdown table; never fails on timing.
# Usage: bench/search.sh [RECORDS]   (default 100000)
set -eu
cd "$(dirname "$0")/.."
KADI_BENCH_RECORDS="${1:-100000}" cargo bench --bench search --profile fast
