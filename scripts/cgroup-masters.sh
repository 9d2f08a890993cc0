#!/usr/bin/env bash
# Four A4 masters at 1200 dpi (9920x14032, 16-bit gray TIFF, 278 MB each)
# through `colorize files --threads 4` inside a 1.5 GiB memory cgroup, the
# memory a 2 GB board has left for it (issue 37, docs/robustness.md).
# Passes when all four outputs are byte-identical to an unconstrained run,
# the kernel killed nothing and the cgroup's peak stayed within its limit.
#
# usage: sudo scripts/cgroup-masters.sh        (root: it makes a cgroup)
# env:   MASTERS_DIR   where the masters and outputs go (default: a folder
#                      in the cache, removed after; 1.1 GB of masters, 2 GB
#                      of outputs; not a tmpfs, whose files a cgroup is
#                      charged for as memory)
#        LIMIT_MIB     the cgroup's limit (default 1536)
#        PHOTO         the photo the masters are tiled from
#                      (default ../shared/data/photos/Path-2560x1600.jpg)
# Needs cgroup v1's memory controller or cgroup v2 with memory enabled.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=env.sh
source scripts/env.sh

limit_mib=${LIMIT_MIB:-1536}
# The outputs' XMP date fixed, so two runs can be byte-compared.
export SOURCE_DATE_EPOCH=1764633600
photo=${PHOTO:-$COLORIZE_ROOT/../shared/data/photos/Path-2560x1600.jpg}
log() { printf '\033[1mcgroup-masters:\033[0m %s\n' "$*" >&2; }

cargo build --release -q -p colorize-device --bin colorize --example make_master
bin=$COLORIZE_TARGET/release/colorize
make_master=$COLORIZE_TARGET/release/examples/make_master

mkdir -p "$COLORIZE_CACHE"
work=${MASTERS_DIR:-$(mktemp -d "$COLORIZE_CACHE/masters.XXXXXX")}
[ "$(stat -f -c %T "$work")" != tmpfs ] || { log "$work is on a tmpfs: set MASTERS_DIR to a disk folder"; exit 2; }
[ -x /usr/bin/time ] || { log "needs /usr/bin/time (apt install time)"; exit 2; }
mkdir -p "$work/masters"
cleanup_cg=""
trap '[ -n "$cleanup_cg" ] && rmdir "$cleanup_cg" 2>/dev/null; [ -z "${MASTERS_DIR:-}" ] && rm -rf "$work"' EXIT

for i in 1 2 3 4; do
    f=$work/masters/a4-$i.tif
    # Each a different part of the tiling, so no two outputs are alike.
    [ -f "$f" ] || "$make_master" "$photo" gray16-tiff "9920x$((14032 + i - 1))" "$f"
done
log "masters: $(du -sh "$work/masters" | cut -f1) in $work/masters"

log "unconstrained: colorize files --threads 4"
"$bin" files "$work/masters" --out "$work/free" --threads 4 | tee "$work/free.log"

# The cgroup: v1's memory controller if mounted, else v2.
if [ -d /sys/fs/cgroup/memory ] && [ -f /sys/fs/cgroup/memory/memory.limit_in_bytes ]; then
    cg=/sys/fs/cgroup/memory/colorize-masters-$$
    mkdir "$cg"
    cleanup_cg=$cg
    echo $((limit_mib << 20)) > "$cg/memory.limit_in_bytes"
    peak_file=$cg/memory.max_usage_in_bytes
    oom_count() { sed -n 's/^oom_kill //p' "$cg/memory.oom_control"; }
else
    cg=/sys/fs/cgroup/colorize-masters-$$
    mkdir "$cg"
    cleanup_cg=$cg
    echo $((limit_mib << 20)) > "$cg/memory.max"
    echo 0 > "$cg/memory.swap.max" 2>/dev/null || true
    peak_file=$cg/memory.peak
    [ -f "$peak_file" ] || { log "this kernel's cgroup v2 has no memory.peak (5.19 or later)"; exit 2; }
    oom_count() { sed -n 's/^oom_kill //p' "$cg/memory.events"; }
fi
log "in $cg, limit $limit_mib MiB: colorize files --threads 4 (defaults otherwise)"
set +e
sh -c 'echo $$ > "$1/cgroup.procs" && shift && exec "$@"' sh "$cg" \
    /usr/bin/time -f "%M" -o "$work/cg.rss" "$bin" files "$work/masters" --out "$work/cg" --threads 4 | tee "$work/cg.log"
status=${PIPESTATUS[0]}
set -e
peak=$(cat "$peak_file")
kills=$(oom_count)
rss_kib=$(tail -1 "$work/cg.rss")
# The cgroup's peak counts the page cache of the files read and written
# too (the kernel reclaims it at the limit); the process's own peak is
# what the budget governs.
log "exit $status; colorize's peak RSS $((rss_kib >> 10)) MiB; the cgroup's peak (page cache included) $((peak >> 20)) MiB of $limit_mib MiB; OOM kills: ${kills:-0}"

fail=0
[ "$status" = 0 ] || { log "FAIL: colorize exited $status"; fail=1; }
[ "${kills:-0}" = 0 ] || { log "FAIL: the kernel killed ${kills} process(es)"; fail=1; }
[ "$peak" -le $((limit_mib << 20)) ] || { log "FAIL: the cgroup's peak over the limit"; fail=1; }
[ "$rss_kib" -le $((limit_mib << 10)) ] || { log "FAIL: colorize's peak RSS over the limit"; fail=1; }
same=0
for i in 1 2 3 4; do
    if cmp -s "$work/free/a4-$i.png" "$work/cg/a4-$i.png"; then
        same=$((same + 1))
    else
        log "FAIL: a4-$i.png differs from the unconstrained run's (or is missing)"
        fail=1
    fi
done
log "$same of 4 outputs byte-identical to the unconstrained run"
[ "$fail" = 0 ] && log "passed"
exit "$fail"
