#!/usr/bin/env bash
# Installs kadi on a Raspberry Pi OS (or any systemd) box. Idempotent: run it again to upgrade.
#   sudo firmware/install.sh [path/to/kadi]      (default: target/release/kadi)
# KADI_PREFIX / KADI_UNIT_DIR install elsewhere (tests); KADI_NO_ENABLE=1 skips systemctl.
# KADI_DB / KADI_BACKUP_DIR name the database and where the pre-upgrade backup goes
# (default /var/lib/kadi/kadi.db and /var/lib/kadi/backups).
#
# An upgrade: backs the database up first (with the new binary, which copies without migrating),
# keeps the binary it replaces as $prefix/bin/kadi.previous, and installs the new one by temp
# file + rename (a power cut leaves the old or the new binary, never half of one).
# Roll back (README, "Upgrade and roll back"):
#   sudo systemctl stop kadi
#   sudo mv /usr/local/bin/kadi.previous /usr/local/bin/kadi
#   sudo -u kadi kadi --db /var/lib/kadi/kadi.db restore --from /var/lib/kadi/backups/kadi-STAMP.db
#   sudo systemctl start kadi
# Then add a staff account (as the service's user, so the files stay the service's):
#   sudo -u kadi /usr/local/bin/kadi --db /var/lib/kadi/kadi.db staff add --username NAME --pin-stdin
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
binary="${1:-$here/../target/release/kadi}"
prefix="${KADI_PREFIX:-/usr/local}"
unit_dir="${KADI_UNIT_DIR:-/etc/systemd/system}"
db="${KADI_DB:-/var/lib/kadi/kadi.db}"
backup_dir="${KADI_BACKUP_DIR:-/var/lib/kadi/backups}"

if [[ ! -x "$binary" ]]; then
    echo "install.sh: no kadi binary at $binary (build it with: cargo build --release)" >&2
    exit 1
fi
if [[ $EUID -ne 0 && -z "${KADI_PREFIX:-}" ]]; then
    echo "install.sh: run as root (sudo), or set KADI_PREFIX and KADI_UNIT_DIR to install elsewhere" >&2
    exit 1
fi

# The service's static user (a real install only; tests install elsewhere as themselves).
as_kadi=()
if [[ -z "${KADI_PREFIX:-}" ]]; then
    if ! id -u kadi >/dev/null 2>&1; then
        useradd --system --home-dir /var/lib/kadi --no-create-home --shell /usr/sbin/nologin kadi
    fi
    as_kadi=(runuser -u kadi --)
fi

install -d -m 0755 "$prefix/bin" "$unit_dir" "$prefix/share/doc/kadi"

target="$prefix/bin/kadi"
if [[ -e "$target" ]] && cmp -s "$binary" "$target"; then
    echo "kadi binary unchanged"
else
    # Back up before an upgrade; a failed backup stops the upgrade.
    if [[ -e "$target" && -f "$db" ]]; then
        # A box installed with DynamicUser= still has files of a dynamic user: back up as root
        # (systemd chowns the state directory to kadi at the next start).
        if [[ ${#as_kadi[@]} -gt 0 && "$(stat -c %U "$db")" != kadi ]]; then
            as_kadi=()
        fi
        "${as_kadi[@]}" "$binary" --db "$db" backup --to "$backup_dir" --keep 7
    fi
    tmp="$prefix/bin/.kadi.new.$$"
    trap 'rm -f "$tmp"' EXIT
    install -m 0755 "$binary" "$tmp"
    sync "$tmp"
    if [[ -e "$target" ]]; then
        # The running kadi keeps its (renamed) binary until it restarts.
        ln -f "$target" "$prefix/bin/kadi.previous"
    fi
    mv -f "$tmp" "$target"
    sync "$prefix/bin"
    trap - EXIT
fi
for unit in kadi.service kadi-backup.service kadi-backup.timer; do
    install -m 0644 "$here/$unit" "$unit_dir/$unit"
done
if [[ -f "$here/../README.md" ]]; then
    install -m 0644 "$here/../README.md" "$prefix/share/doc/kadi/README.md"
fi

if [[ -n "${KADI_NO_ENABLE:-}" ]]; then
    echo "kadi installed to $target and $unit_dir (KADI_NO_ENABLE set: not enabled)"
elif command -v systemctl >/dev/null 2>&1 && [[ -d /run/systemd/system ]]; then
    systemctl daemon-reload
    systemctl enable kadi.service kadi-backup.timer
    systemctl start kadi-backup.timer
    # restart (not start) so that re-running the script after an upgrade picks up the new binary.
    systemctl restart kadi.service
    echo "kadi installed and running: http://$(hostname -I 2>/dev/null | awk '{print $1}'):8080/"
else
    echo "kadi installed to $target and $unit_dir (systemd not running here: not enabled)"
fi
