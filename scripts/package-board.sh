#!/usr/bin/env bash
# Once, outside the test command: the arm64 package on an emulated board
# that boots Debian with systemd. Makes an arm64 Debian root (debootstrap
# --foreign on this machine, its second stage on the board's emulated CPU),
# installs dist/colorize-box_*_arm64.deb there with apt, boots it under
# qemu-system-aarch64 with systemd as init, and checks that the box came up
# by itself and coloured a scan dropped into its inbox. The console log is
# kept in $work/console-*.txt; the lines that matter go to
# docs/package-board.log, which docs/deploy.md cites.
#
# usage: scripts/package-board.sh [DEB]   (asks sudo for debootstrap and the disk)   (default: dist/colorize-box_*_arm64.deb,
#        made by scripts/package.sh aarch64-unknown-linux-gnu)
# env:   MIRROR (default http://deb.debian.org/debian), VM_TIMEOUT seconds per boot (default 3000)
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=env.sh
source scripts/env.sh
VM_LOG_NAME=package-board
# shellcheck source=vm/lib.sh
source scripts/vm/lib.sh
deb=${1:-$(ls dist/colorize-box_*_arm64.deb 2>/dev/null | sort -V | tail -n1 || true)}
[ -f "$deb" ] || { echo "package-board: no arm64 package; run scripts/package.sh aarch64-unknown-linux-gnu" >&2; exit 1; }
# The host-side builds before root: cargo's target folder stays the caller's.
cargo build -q -p colorize-device --bin colorize --example make_master --example image_diff
if [ "$(id -u)" != 0 ]; then
    # debootstrap and an ext4 root owned by root need root.
    exec sudo -E PATH="$PATH" bash "$COLORIZE_ROOT/scripts/package-board.sh" "$(realpath "$deb")"
fi
arch=aarch64
fetch "$arch"
vmlinuz=$(ls "$kdir"/boot/vmlinuz-* | head -n1)
work=$cache/$arch/package-board
rm -rf "$work" && mkdir -p "$work"
rootfs=$work/rootfs
dpkg-deb -x "$deb" "$work/pkg"
suite=$(. /etc/os-release && echo "$VERSION_CODENAME")

log "debootstrap --foreign --arch=arm64 --variant=minbase $suite"
debootstrap --foreign --arch=arm64 --variant=minbase \
    --include=systemd,systemd-sysv,udev,procps,adduser,init-system-helpers \
    "$suite" "$rootfs" "${MIRROR:-http://deb.debian.org/debian}" > "$work/debootstrap.log" 2>&1 ||
    { tail -n 20 "$work/debootstrap.log"; exit 1; }
echo colorize-board > "$rootfs/etc/hostname"
# The console is the board's serial port; no password to type there.
cp "$deb" "$rootfs/root/"
photo=$COLORIZE_ROOT/../shared/data/photos/Path-2560x1600.jpg
[ -f "$photo" ] || photo=$COLORIZE_ROOT/docs/before-after.jpg
"$COLORIZE_TARGET/debug/examples/make_master" "$photo" gray16-tiff 1600x1000 "$rootfs/root/scan.tif"
# What this machine makes of the same scan, to compare the board's output with.
mkdir -p "$work/host"
cp "$rootfs/root/scan.tif" "$work/host/scan-0001.tif"
"$COLORIZE_TARGET/debug/colorize" files "$work/host/scan-0001.tif" --out "$work/host-out" >/dev/null
install -m 0755 scripts/vm/package-board-check.sh "$rootfs/root/board-check.sh"
cat > "$rootfs/etc/systemd/system/board-check.service" <<'UNIT'
[Unit]
Description=scripts/package-board.sh: drop a scan into the box's inbox, wait for its output
After=colorize-box.service
[Service]
Type=oneshot
ExecStart=/root/board-check.sh
StandardOutput=journal+console
[Install]
WantedBy=multi-user.target
UNIT
mkfs.ext4 -q -F -L board -d "$rootfs" "$work/disk.img" 2G
rm -rf "$rootfs"

boot() { # name init-script
    local name=$1 init=$2 rc=0 t0=$SECONDS
    # The initramfs only mounts the disk: the binary initrd_tree puts in
    # (the package's own) is not needed there.
    initrd_tree "$arch" "$work/pkg/usr/bin/colorize" "$init" "$work/initrd-$name" \
        virtio_mmio virtio_blk crc32c_generic ext4
    rm -f "$work/initrd-$name/bin/colorize"
    initrd_pack "$work/initrd-$name" "$work/initrd-$name.gz"
    log "boot $name (limit ${VM_TIMEOUT:-3000} s)"
    timeout "${VM_TIMEOUT:-3000}" ${QEMU[$arch]} -m 1024 -smp 4 -nographic -no-reboot -nic none \
        -kernel "$vmlinuz" -initrd "$work/initrd-$name.gz" \
        -append "console=ttyAMA0 panic=-1 loglevel=3 systemd.show_status=1" \
        -drive "file=$work/disk.img,format=raw,if=none,id=disk" \
        -device virtio-blk-device,drive=disk \
        </dev/null > "$work/console-$name.log" 2>&1 || rc=$?
    tr -d '\r' < "$work/console-$name.log" | sed 's/\x1b\[[0-9;]*m//g' > "$work/console-$name.txt"
    # A BOARD line can share its console line with getty's login prompt.
    grep -ao 'BOARD: .*' "$work/console-$name.txt" > "$work/board-$name.txt" || true
    cat "$work/board-$name.txt"
    log "boot $name: $((SECONDS - t0)) s (qemu status $rc)"
}

boot install scripts/vm/package-install-init.sh
grep -q '^BOARD: installed' "$work/board-install.txt" || { log "FAIL: the install boot did not finish ($work/console-install.txt)"; exit 1; }
grep -q '^BOARD: apt exit 0' "$work/board-install.txt" || { log "FAIL: apt-get install failed"; exit 1; }
boot systemd scripts/vm/package-boot-init.sh
fail=0
grep -q '^BOARD: colorize-box after boot: active, enabled' "$work/board-systemd.txt" || { log "FAIL: the box did not come up by itself"; fail=1; }
grep -q '^BOARD: output after' "$work/board-systemd.txt" || { log "FAIL: no output for the scan"; fail=1; }
debugfs -R "dump /var/lib/colorize/out/scan-0001.png $work/scan-0001.png" "$work/disk.img" 2>/dev/null || true
if [ -s "$work/scan-0001.png" ] &&
    diff_line=$("$COLORIZE_TARGET/debug/examples/image_diff" "$work/host-out/scan-0001.png" "$work/scan-0001.png"); then
    log "the board's output against this machine's: $diff_line"
else
    log "FAIL: the board's output is missing or differs from this machine's: ${diff_line:-}"
    fail=1
fi
# The log docs/deploy.md cites: what the board printed, and systemd's lines
# about the box from the boot's console.
{
    echo "# scripts/package-board.sh, $(date -u +%Y-%m-%d) at commit $(git rev-parse --short HEAD), $(basename "$deb")"
    echo "## first boot: debootstrap's second stage, apt-get install, the config"
    grep -v '^BOARD: apt: [^c]' "$work/board-install.txt" || true
    echo "## second boot: systemd"
    grep -a -E 'colorize-box|Multi-User' "$work/console-systemd.txt" | grep -v 'BOARD:' | sed 's/^ *//' || true
    cat "$work/board-systemd.txt"
    echo "## this machine"
    echo "output against this machine's: ${diff_line:-none}"
    echo "result: $([ "$fail" = 0 ] && echo passed || echo FAILED)"
} > "$work/package-board.log"
cp "$work/package-board.log" "$COLORIZE_ROOT/docs/package-board.log"
rm -f "$work/disk.img"
[ "$fail" = 0 ] && log "passed: the arm64 package installed with apt, the box came up at boot and coloured the scan (log: docs/package-board.log)"
exit "$fail"
