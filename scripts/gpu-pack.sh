#!/usr/bin/env bash
# Builds the one-shot GPU pack: a folder of at most 60 MiB with a stripped
# `colorize-train` (libtorch linked dynamically; it loads libtorch_cuda.so at
# start where one is found), the largest class-balanced subset of the Tiny
# ImageNet training JPEGs that fits, and run.sh, which trains the default
# recipe for a few minutes and exports the model.
#
# usage: scripts/gpu-pack.sh DIR
# env:   DATA=folder   Tiny ImageNet shards (default ../shared/data/tiny-imagenet)
#        PACK_MIB=58   size limit of DIR (58: the device call also carries the
#                      repository, 64 MiB in all)
# Then:  DIR/run.sh OUT [--minutes M] [--device cuda|cpu]
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=env.sh
source scripts/env.sh
[ $# -eq 1 ] || { sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
dir=$1
DATA=${DATA:-$COLORIZE_ROOT/../shared/data/tiny-imagenet}
limit=$(( ${PACK_MIB:-58} * 1024 * 1024 ))

cargo build --release -p colorize-train
rm -rf "$dir" && mkdir -p "$dir"
strip -o "$dir/colorize-train" target/release/colorize-train
# xz: 28 MB -> 6 MB; run.sh unpacks it (xz, or Python's lzma where xz is missing).
xz -9 -T2 "$dir/colorize-train"
cp scripts/gpu/run.sh "$dir/run.sh"
# Where this machine's libtorch is: run.sh's last resort (rehearsals here).
echo "$LIBTORCH" > "$dir/libtorch.path"
chmod +x "$dir/run.sh"

used=$(du -sb "$dir" | cut -f1)
# 64 KiB of slack for the file system's rounding.
budget=$(( limit - used - 65536 ))
shards=("$DATA"/train-*.tar.gz)
[ -f "${shards[0]}" ] || { echo "gpu-pack: no train-*.tar.gz in $DATA" >&2; exit 1; }
n=$(python3 scripts/gpu/subset.py --out "$dir/data.tar.gz" --max-bytes "$budget" "${shards[@]}")
total=$(du -sb "$dir" | cut -f1)
awk -v d="$dir" -v t="$total" -v l="$limit" -v b="$(stat -c %s "$dir/colorize-train.xz")" \
    -v n="$n" -v s="$(stat -c %s "$dir/data.tar.gz")" 'BEGIN {
    printf "gpu-pack: %s: %.1f MiB (limit %d MiB): binary %.1f MiB (xz), %d training images %.1f MiB\n",
        d, t / 1048576, l / 1048576, b / 1048576, n, s / 1048576 }'
[ "$total" -le "$limit" ] || { echo "gpu-pack: over the limit" >&2; exit 1; }
