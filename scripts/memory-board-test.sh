#!/usr/bin/env bash
# Big masters on a small board (issue 37, docs/robustness.md): the emulated
# arm64 board of the power-cut test booted with little RAM (-m 288, 4 CPUs)
# colourizes four 16-bit gray TIFF masters, each needing over a quarter
# of its RAM, with the default settings: `colorize files` takes its memory
# budget from MemAvailable and runs as many at once as fit (2), not one
# per CPU (4). Passes when every output matches this machine's own run
# (the same size; byte-identical, or within delta E_ab 2 and L* 0.5 where
# the model's floating point rounds differently on arm64: the
# image_diff example), the kernel log shows no OOM kill, and no more ran at
# once than the budget holds.
#
# usage: scripts/memory-board-test.sh
# env:   COLORIZE_BIN=path  the aarch64 binary (default: build it)
#        VM_PROFILE=dist     the shipping build; release by default
#        MEMORY_WORK=dir     where images and consoles go (default: the cache)
#        VM_TIMEOUT=seconds  wall-clock limit for the boot (default 600)
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=env.sh
source scripts/env.sh
VM_LOG_NAME=memory-board
# shellcheck source=vm/lib.sh
source scripts/vm/lib.sh

ram_mib=288
size=5000x4000    # 20 Mpixel: about 79 MiB to colourize, over a quarter of the RAM

arch=aarch64
fetch "$arch"
board_binary "$arch"
vmlinuz=$(ls "$kdir"/boot/vmlinuz-* | head -n1)
work=${MEMORY_WORK:-$cache/$arch/memory}
rm -rf "$work/stage" "$work/host-out" "$work/board-out" "$work/out"
mkdir -p "$work/stage/masters"

# This machine's side in the dev profile the host tests built already (its
# dependencies are optimised): no release build of tract for one reference.
cargo build -q -p colorize-device --bin colorize --example make_master --example image_diff
host_dir=$COLORIZE_TARGET/debug
host_bin=$host_dir/colorize
photo=$COLORIZE_ROOT/../shared/data/photos/Path-2560x1600.jpg
[ -f "$photo" ] || photo=$COLORIZE_ROOT/docs/before-after.jpg
w=${size%x*} h=${size#*x}
for i in 1 2 3 4; do
    "$host_dir/examples/make_master" "$photo" gray16-tiff "${w}x$((h + i))" \
        "$work/stage/masters/master-$i.tif"
done
export SOURCE_DATE_EPOCH=1764633600
log "reference outputs on this machine"
"$host_bin" files "$work/stage/masters" --out "$work/host-out" >/dev/null

mkfs.ext4 -q -F -L masters -d "$work/stage" "$work/disk.img" 800M
ird="$work/initrd"
initrd_tree "$arch" "$bin" scripts/vm/memory-init.sh "$ird" virtio_mmio virtio_blk crc32c_generic ext4
initrd_pack "$ird" "$work/initrd.gz"

log "booting with -m $ram_mib -smp 4 (limit ${VM_TIMEOUT:-600}s)"
t0=$SECONDS rc=0
# shellcheck disable=SC2086
timeout "${VM_TIMEOUT:-600}" ${QEMU[$arch]} -m "$ram_mib" -smp 4 -nographic -no-reboot -nic none \
    -kernel "$vmlinuz" -initrd "$work/initrd.gz" \
    -append "console=ttyAMA0 panic=-1 quiet loglevel=3" \
    -drive "file=$work/disk.img,format=raw,if=none,id=disk" \
    -device virtio-blk-device,drive=disk \
    </dev/null > "$work/console.log" 2>&1 || rc=$?
tr -d '\r' < "$work/console.log" > "$work/console.txt"
grep '^VM:' "$work/console.txt" || true
log "VM ran $((SECONDS - t0)) s (qemu status $rc)"

fail=0
grep -q '^VM: done' "$work/console.txt" || { log "FAIL: the VM did not finish (see $work/console.txt)"; tail -n 30 "$work/console.txt"; exit 1; }
grep -q '^VM: files exit 0$' "$work/console.txt" || { log "FAIL: colorize files failed on the board"; fail=1; }
grep -q '^VM: oom kills 0$' "$work/console.txt" || { log "FAIL: the kernel log shows an OOM kill"; fail=1; }
# As many at once as fit: what `colorize info --estimate` says fits, and
# what the batch's summary says ran.
fits=$(sed -n 's/^VM: .*master-1.tif: .*(fits, \([0-9]*\) at once)$/\1/p' "$work/console.txt")
ran=$(sed -n 's/^VM: files: 4 ok, 0 failed, .*; at most \([0-9]*\) at once .*/\1/p' "$work/console.txt")
log "the budget holds ${fits:-?} master(s) at once; the batch ran at most ${ran:-?} at once, on 4 CPUs"
{ [ -n "$fits" ] && [ -n "$ran" ] && [ "$ran" -le "$fits" ] && [ "$fits" -lt 4 ]; } \
    || { log "FAIL: expected fewer at once than CPUs, and no more than fit"; fail=1; }

debugfs -R "rdump /out $work" "$work/disk.img" 2>/dev/null
mv "$work/out" "$work/board-out"
same=0 close=0
for i in 1 2 3 4; do
    name=master-$i.png diff_line=""
    if cmp -s "$work/host-out/$name" "$work/board-out/$name"; then
        same=$((same + 1))
    elif [ -f "$work/board-out/$name" ] \
        && diff_line=$("$host_dir/examples/image_diff" "$work/host-out/$name" "$work/board-out/$name"); then
        log "$name: $diff_line"
        close=$((close + 1))
    else
        log "FAIL: $name is missing or differs from this machine's output: ${diff_line:-}"
        fail=1
    fi
done
log "of 4 outputs: $same byte-identical to this machine's, $close within delta E_ab 2"
rm -f "$work/disk.img"
[ "$fail" = 0 ] && log "passed"
exit "$fail"
