#!/usr/bin/env bash
# Installs kadi on a Raspberry Pi OS (or any systemd) box. Idempotent: run it again to upgrade.
#   sudo firmware/install.sh [path/to/kadi]      (default: target/release/kadi)
# KADI_PREFIX / KADI_UNIT_DIR install elsewhere (tests); KADI_NO_ENABLE=1 skips systemctl.
# Then add a staff account:
#   sudo systemd-run --pipe -p DynamicUser=yes -p StateDirectory=kadi \
#     /usr/local/bin/kadi --db /var/lib/kadi/kadi.db staff add --username NAME --pin-stdin
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
binary="${1:-$here/../target/release/kadi}"
prefix="${KADI_PREFIX:-/usr/local}"
unit_dir="${KADI_UNIT_DIR:-/etc/systemd/system}"

if [[ ! -x "$binary" ]]; then
    echo "install.sh: no kadi binary at $binary (build it with: cargo build --release)" >&2
    exit 1
fi
if [[ $EUID -ne 0 && -z "${KADI_PREFIX:-}" ]]; then
    echo "install.sh: run as root (sudo), or set KADI_PREFIX and KADI_UNIT_DIR to install elsewhere" >&2
    exit 1
fi

install -d -m 0755 "$prefix/bin" "$unit_dir" "$prefix/share/doc/kadi"
# install(1) writes a new file and renames it, so a running kadi keeps its old binary until restart.
install -m 0755 "$binary" "$prefix/bin/kadi"
install -m 0644 "$here/kadi.service" "$unit_dir/kadi.service"
if [[ -f "$here/../README.md" ]]; then
    install -m 0644 "$here/../README.md" "$prefix/share/doc/kadi/README.md"
fi

if [[ -n "${KADI_NO_ENABLE:-}" ]]; then
    echo "kadi installed to $prefix/bin/kadi and $unit_dir/kadi.service (KADI_NO_ENABLE set: not enabled)"
elif command -v systemctl >/dev/null 2>&1 && [[ -d /run/systemd/system ]]; then
    systemctl daemon-reload
    systemctl enable kadi.service
    # restart (not start) so that re-running the script after an upgrade picks up the new binary.
    systemctl restart kadi.service
    echo "kadi installed and running: http://$(hostname -I 2>/dev/null | awk '{print $1}'):8080/"
else
    echo "kadi installed to $prefix/bin/kadi and $unit_dir/kadi.service (systemd not running here: not enabled)"
fi
