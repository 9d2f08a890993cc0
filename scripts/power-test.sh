#!/usr/bin/env bash
# Power cuts on the emulated arm64 board (docs/robustness.md, "Power cuts").
# The box runs as its systemd unit would, its inbox and outputs on an ext4
# virtio disk; the host pulls the plug (SIGKILL to qemu: the guest's page
# cache is lost) inside each step of the box's durable write in turn, checks
# the disk as the next boot finds it, boots again, lets the box drain, and
# checks that every scan was colourized exactly once, byte-identical to an
# uninterrupted run, with no partial and no temp file and a clean fsck.
#
# usage: scripts/power-test.sh [--cuts N] [--seed S] [--tally]
#   --cuts N   power cuts in all, 5 per freshly formatted disk (default 5)
#   --seed S   replay the cuts of an earlier run (each run prints its seed)
#   --tally    write the result into docs/robustness.md ("Power cuts")
# env:   COLORIZE_BIN=path  the aarch64 binary to test (default: build it)
#        VM_PROFILE=dist     the shipping build (scripts/dist.sh); release by default
#        VM_PROFILE=debug    use the dev-profile binary `cargo test --target` built
#        POWER_WORK=dir      where images and consoles go (default: the cache)
# Examples:
#   scripts/power-test.sh                       # the test command's 5 cuts
#   scripts/power-test.sh --cuts 100 --tally    # the documented tally
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=env.sh
source scripts/env.sh
VM_LOG_NAME=power-test
# shellcheck source=vm/lib.sh
source scripts/vm/lib.sh

cuts=5
seed=()
tally=0
while [ $# -gt 0 ]; do
    case "$1" in
        --cuts) cuts=$2; shift 2 ;;
        --seed) seed=(--seed "$2"); shift 2 ;;
        --tally) tally=1; shift ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | grep '^#' | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "power-test: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done

arch=aarch64
fetch "$arch"
board_binary "$arch"
work=${POWER_WORK:-$cache/$arch/power}
mkdir -p "$work"
ird="$work/initrd"
# virtio for the disk, ext4 with the checksum its metadata uses.
initrd_tree "$arch" "$bin" scripts/vm/power-init.sh "$ird" virtio_mmio virtio_blk crc32c_generic ext4
mkdir -p "$ird/etc/colorize"
cp scripts/vm/box.toml "$ird/etc/colorize/box.toml"
initrd_pack "$ird" "$work/initrd.gz"

json="$work/tally.json"
rm -f "$json"
python3 scripts/vm/power_test.py --qemu "${QEMU[$arch]}" \
    --kernel "$(ls "$kdir"/boot/vmlinuz-* | head -n1)" --initrd "$work/initrd.gz" \
    --work "$work" --repo "$PWD" --cuts "$cuts" --json "$json" "${seed[@]}"

if [ "$tally" = 1 ]; then
    python3 scripts/vm/power_tally.py "$json" docs/robustness.md
    log "tally written into docs/robustness.md"
fi
