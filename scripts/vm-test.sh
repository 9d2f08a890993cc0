#!/usr/bin/env bash
# End-to-end camera test on an emulated ARM board: Debian's own kernel under
# qemu-system, the real vivid V4L2 driver, and the `colorize` binary (static,
# or dynamic with its glibc) in a busybox initramfs. The VM captures 5 frames (plus two fault-injection
# runs), writes the results as a tar archive onto a second virtio disk, and
# powers off; the host then decodes every PNG and checks counts and sizes.
#
# usage: scripts/vm-test.sh [aarch64|armv7 ...]   (default: aarch64)
# env:   COLORIZE_BIN=path   use this binary instead of building
#        VM_PROFILE=dist      the shipping build (scripts/dist.sh); release by default
#        VM_PROFILE=debug     use (and build if needed) the dev-profile binary that
#                             `cargo test --target ...` already built: one build
#                             per target serves qemu-user tests and the VM
#        VM_TIMEOUT=seconds  wall-clock limit for one boot (default 600)
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=env.sh
source scripts/env.sh

VM_LOG_NAME=vm-test
# shellcheck source=vm/lib.sh
source scripts/vm/lib.sh

run_arch() {
    local arch=$1
    log "== $arch =="
    fetch "$arch"
    board_binary "$arch"
    local vmlinuz kver
    vmlinuz=$(ls "$kdir"/boot/vmlinuz-* | head -n1)
    kver=${vmlinuz##*/vmlinuz-}

    local work="$cache/$arch/run"
    rm -rf "$work" && mkdir -p "$work"
    local ird="$work/initrd"
    # vivid and its dependencies; virtio for the results disk on the virt board.
    initrd_tree "$arch" "$bin" scripts/vm/init.sh "$ird" virtio_mmio virtio_blk vivid
    initrd_pack "$ird" "$work/initrd.gz"

    truncate -s 64M "$work/results.img"
    log "booting $kver under ${QEMU[$arch]%% *} (limit ${VM_TIMEOUT:-600}s)"
    local t0=$SECONDS rc=0
    # shellcheck disable=SC2086
    # -nic none: the `virt` board otherwise adds a default virtio NIC whose
    # option ROM (efi-virtio.rom) lives in ipxe-qemu, a package that
    # `--no-install-recommends` leaves out, and qemu refuses to start without
    # it. The VM needs no network: results go out on the second disk.
    timeout "${VM_TIMEOUT:-600}" ${QEMU[$arch]} -m 1024 -smp 2 -nographic -no-reboot -nic none \
        -kernel "$vmlinuz" -initrd "$work/initrd.gz" \
        -append "console=ttyAMA0 panic=-1 quiet loglevel=3" \
        -drive "file=$work/results.img,format=raw,if=none,id=results" \
        -device virtio-blk-device,drive=results \
        </dev/null > "$work/console.log" 2>&1 || rc=$?
    tr -d '\r' < "$work/console.log" > "$work/console.txt"
    grep -E '^(VM:|\[(basic|recover|giveup)\])' "$work/console.txt" || true
    log "VM ran $((SECONDS - t0)) s (qemu status $rc)"
    grep -q '^VM: done' "$work/console.txt" || { log "FAIL: the VM did not finish (see $work/console.txt)"; tail -n 30 "$work/console.txt"; return 1; }

    rm -rf "$work/results" && mkdir -p "$work/results"
    tar -xf "$work/results.img" -C "$work/results"
    python3 scripts/vm/check.py "$work/results" "$work/console.txt"
    log "$arch: passed"
}

archs=("$@")
[ ${#archs[@]} -gt 0 ] || archs=(aarch64)
for a in "${archs[@]}"; do
    [ -n "${RUST_TARGET[$a]:-}" ] || { echo "unknown board $a (aarch64 or armv7)" >&2; exit 2; }
    run_arch "$a"
done
