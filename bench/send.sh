#!/usr/bin/env bash
# Messages per second the outbox worker can PREPARE (no network): WhatsApp = render the card PNG
# from the store, hash it, look the media cache up, build the template request; SMS = fill the
# text and split it (GSM-7/UCS-2). Baseline in the same run: rendering the card PNG alone (what
# printing costs). Peak RSS of the process. Prints a table; never fails on timing.
#
#   bench/send.sh [N]        # N messages per row (default 300)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-300}
cargo build --profile fast --quiet
K=target/fast/kadi
printf '\n%-4s %6s %14s %16s %16s %10s %9s %10s %8s\n' dpi n render_only/s whatsapp_cold/s whatsapp_warm/s sms/s png_B request_B rss_MB
for dpi in 300 600; do
  $K send bench --n "$N" --dpi "$dpi" | python3 -c '
import json, sys
r = json.load(sys.stdin)
print("%-4d %6d %14.1f %16.1f %16.1f %10.0f %9d %10d %8.1f" % (r["dpi"], r["n"], r["render_only_per_s"],
      r["whatsapp_cold_per_s"], r["whatsapp_warm_per_s"], r["sms_per_s"], r["mean_png_bytes"],
      r["mean_request_bytes"], r["peak_rss_mb"]))'
done
