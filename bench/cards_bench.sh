#!/usr/bin/env bash
# Cards per second: kadi vs the Pillow baseline (../shared/baselines/cards_pillow.py), same run,
# same card content (the baseline's ten names and four health centres), PNG encoding and file
# writes included, at 300 and 600 dpi with 1 and 2 threads/processes. Then the 1 -> 2 thread
# speed-up, one large card split into bands, and peak RSS while rendering 10,000 cards.
# Prints a table; never fails on timing.
#
#   bench/cards_bench.sh [N]        # N cards per row (default 1000)
#   needs: pip install pillow qrcode; fonts-dejavu-core
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-1000}
PILLOW=../shared/baselines/cards_pillow.py
cargo build --release --quiet
K=target/release/kadi
field() { python3 -c "import json,sys; print(json.loads(sys.stdin.read())['$1'])"; }

printf '\n%-5s %-8s %12s %12s %7s %11s %11s %9s %9s\n' dpi threads kadi_cards/s pillow_c/s ratio kadi_png_B pillow_png_B kadi_MB pillow_MB
declare -A KPS
for dpi in 300 600; do
  for t in 1 2; do
    k=$($K cards bench --n "$N" --dpi "$dpi" --threads "$t")
    if python3 -c "import PIL, qrcode" 2>/dev/null; then
      p=$(python3 "$PILLOW" --dpi "$dpi" --n "$N" --procs "$t")
    else
      p='{"cards_per_s": 0, "mean_png_bytes": 0, "peak_rss_mb": 0}'
    fi
    kc=$(echo "$k" | field cards_per_s); pc=$(echo "$p" | field cards_per_s)
    KPS[$dpi-$t]=$kc
    ratio=$(python3 -c "print(f'{$kc/$pc:.1f}x' if $pc else 'n/a')")
    printf '%-5s %-8s %12s %12s %7s %11s %11s %9s %9s\n' "$dpi" "$t" "$kc" "$pc" "$ratio" \
      "$(echo "$k" | field mean_png_bytes)" "$(echo "$p" | field mean_png_bytes)" \
      "$(echo "$k" | field peak_rss_mb)" "$(echo "$p" | field peak_rss_mb)"
  done
done
echo
for dpi in 300 600; do
  python3 -c "print(f'kadi 1 -> 2 thread speed-up at $dpi dpi: {${KPS[$dpi-2]}/${KPS[$dpi-1]}:.2f}x')"
done
b1=$($K cards bench --n 100 --dpi 600 --threads 1 --bands 1 | field cards_per_s)
b2=$($K cards bench --n 100 --dpi 600 --threads 2 --bands 2 | field cards_per_s)
echo "one 600 dpi card split into 2 bands on 2 threads: $b1 -> $b2 cards/s (render only is split; PNG deflate stays serial)"
r=$($K cards bench --n 10000 --dpi 300 --threads 2)
echo "10,000 cards at 300 dpi on 2 threads: $(echo "$r" | field cards_per_s) cards/s, peak RSS $(echo "$r" | field peak_rss_mb) MB"
