#!/usr/bin/env bash
# Builds the one-shot GPU pack: a folder of at most 60 MiB with a stripped
# `colorize-train` (libtorch linked dynamically; it loads libtorch_cuda.so at
# start where one is found), the largest class-balanced subset of the Tiny
# ImageNet training JPEGs that fits, and run.sh, which trains the default
# recipe for a few minutes and exports the model.
#
# usage: scripts/gpu-pack.sh DIR
#        scripts/gpu-pack.sh --repro EXP[,EXP...] DIR
#   --repro  instead of training data, carry the paper-reproduction runs and
#            data splits of these experiments (scripts/reproduce.sh --list;
#            not the full-set ones: 100,000 images do not fit), to continue
#            them on the GPU with DIR/repro.sh
# env:   DATA=folder   Tiny ImageNet shards (default ../shared/data/tiny-imagenet)
#        PACK_MIB=58   size limit of DIR (58: the device call also carries the
#                      repository, 64 MiB in all)
#        REPRO_DIR     reproduction runs (default ~/.cache/colorize/reproduction)
# Then:  DIR/run.sh OUT [--minutes M] [--device cuda|cpu] [--head dist|regression]
#        DIR/repro.sh OUT [--minutes M] [--device cuda|cpu] EXP...   (--repro)
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=env.sh
source scripts/env.sh
repro=""
if [ "${1:-}" = --repro ]; then
    [ $# -ge 3 ] || { echo "gpu-pack: --repro EXP[,EXP...] DIR (see --help)" >&2; exit 2; }
    repro=$2
    shift 2
fi
[ $# -eq 1 ] || { sed -n '2,/^set -euo/p' "$0" | grep '^#' | sed 's/^# \{0,1\}//'; exit 2; }
dir=$1
DATA=${DATA:-$COLORIZE_ROOT/../shared/data/tiny-imagenet}
limit=$(( ${PACK_MIB:-58} * 1024 * 1024 ))

cargo build --release -p colorize-train
rm -rf "$dir" && mkdir -p "$dir"
strip -o "$dir/colorize-train" "$COLORIZE_TARGET/release/colorize-train"
# xz: 28 MB -> 6 MB; run.sh unpacks it (xz, or Python's lzma where xz is missing).
xz -9 -T2 "$dir/colorize-train"
cp scripts/gpu/run.sh scripts/gpu/lib.sh "$dir/"
# The pretrained encoder of --arch lite, only the layers it uses (stem and
# blocks 0..10: 2.9 MB instead of 18.8): the GPU machine has no network.
lite0="$COLORIZE_CACHE/pretrained/efficientnet-lite0.safetensors"
[ -f "$lite0" ] || { echo "gpu-pack: $lite0 missing (scripts/setup.sh installs it)" >&2; exit 1; }
python3 - "$lite0" "$dir/lite0-encoder.safetensors" <<'PY'
import json, re, struct, sys
src, dst = sys.argv[1:]
with open(src, "rb") as f:
    n = struct.unpack("<Q", f.read(8))[0]
    header = json.loads(f.read(n))
    body = f.read()
keep = re.compile(r"^(_conv_stem|_bn0|_blocks\.([0-9]|10)\.)")
out, chunks, at = {}, [], 0
for name, t in header.items():
    if name == "__metadata__" or not keep.match(name):
        continue
    a, b = t["data_offsets"]
    out[name] = dict(t, data_offsets=[at, at + b - a])
    chunks.append(body[a:b])
    at += b - a
head = json.dumps(out, separators=(",", ":")).encode()
head += b" " * (-len(head) % 8)
with open(dst, "wb") as f:
    f.write(struct.pack("<Q", len(head)) + head + b"".join(chunks))
PY
# Where this machine's libtorch is: run.sh's last resort (rehearsals here).
echo "$LIBTORCH" > "$dir/libtorch.path"
chmod +x "$dir/run.sh"

if [ -n "$repro" ]; then
    REPRO_DIR=${REPRO_DIR:-$HOME/.cache/colorize/reproduction}
    # The pack mirrors the repository's layout so reproduce.sh runs from it.
    mkdir -p "$dir/scripts/repro" "$dir/repro/data" "$dir/repro/runs"
    cp scripts/reproduce.sh scripts/env.sh "$dir/scripts/"
    cp scripts/repro/*.py "$dir/scripts/repro/"
    cp scripts/gpu/repro.sh "$dir/repro.sh"
    IFS=, read -r -a exps <<<"$repro"
    for exp in "${exps[@]}"; do
        subset=$(scripts/reproduce.sh --list | awk -v e="$exp" '$1 == e {print $2}')
        [ -n "$subset" ] || { echo "gpu-pack: no experiment '$exp' (scripts/reproduce.sh --list)" >&2; exit 2; }
        [ "$subset" != full ] || { echo "gpu-pack: $exp trains on all 100,000 images, which do not fit in a pack" >&2; exit 2; }
        if [ ! -f "$REPRO_DIR/data/$subset/done" ]; then
            # --max-minutes 0: only the data split (and scoring what exists).
            REPRO_DIR=$REPRO_DIR scripts/reproduce.sh --max-minutes 0 "$exp"
        fi
        [ -d "$dir/repro/data/$subset" ] || cp -r "$REPRO_DIR/data/$subset" "$dir/repro/data/"
        run=$REPRO_DIR/runs/$exp
        if [ -f "$run/last.json" ]; then
            mkdir -p "$dir/repro/runs/$exp"
            # The run as it stands (resumed on the GPU) and its finished stages.
            cp "$run"/last.ot "$run"/last.json "$run"/last.opt.ot "$run"/config.json \
                "$dir/repro/runs/$exp/"
            # No metrics.csv yet when a run stopped inside its first epoch.
            [ -f "$run/metrics.csv" ] && cp "$run/metrics.csv" "$dir/repro/runs/$exp/"
            cp "$run"/epoch*.ot "$run"/epoch*.json "$dir/repro/runs/$exp/" 2>/dev/null || true
            [ -f "$run/best.ot" ] && cp "$run"/best.ot "$run"/best.json "$dir/repro/runs/$exp/"
        fi
    done
    total=$(du -sb "$dir" | cut -f1)
    echo "gpu-pack: $dir: $(awk -v t="$total" 'BEGIN { printf "%.1f", t / 1048576 }') MiB (limit ${PACK_MIB:-58} MiB): reproduction of ${exps[*]}"
    [ "$total" -le "$limit" ] || { echo "gpu-pack: over the limit" >&2; exit 1; }
    exit 0
fi

# The first 1,000 files of val.tar.gz (the project's "val" for model
# choices): run.sh picks a distribution head's default vividness on them.
if [ -f "$DATA/val.tar.gz" ]; then
    python3 - "$DATA/val.tar.gz" "$dir/val.tar.gz" <<'PY'
import sys, tarfile
n = 0
with tarfile.open(sys.argv[1]) as src, tarfile.open(sys.argv[2], "w:gz", compresslevel=9) as out:
    for m in src:
        if m.isfile() and m.name.upper().endswith(".JPEG"):
            out.addfile(m, src.extractfile(m))
            n += 1
            if n == 1000:
                break
PY
fi
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
