#!/usr/bin/env bash
# Trains the default recipe from this GPU pack for a few minutes and exports
# the model. Finds libtorch by itself (LIBTORCH, /opt/torch/.venv, a Python
# with torch on PATH, or the project's .cache/torch-venv).
#
# usage: run.sh OUT [--minutes M] [--device cuda|cpu]   (default 8 min, cuda)
# writes: OUT/best.ot (+ best.json), OUT/model.onnx, OUT/metrics.csv,
#         OUT/curves.png, OUT/samples.png, OUT/run.log, and prints images/s.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
[ $# -ge 1 ] || { sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
out=$1; shift
minutes=8
device=cuda
while [ $# -gt 0 ]; do
    case "$1" in
        --minutes) minutes=$2; shift 2 ;;
        --device) device=$2; shift 2 ;;
        *) echo "run.sh: unknown option $1" >&2; exit 2 ;;
    esac
done
mkdir -p "$out"
out=$(cd "$out" && pwd)
log="$out/run.log"
say() { echo "run.sh: $*" | tee -a "$log" >&2; }

# shellcheck source=lib.sh
source "$here/lib.sh"
find_libtorch || { say "no libtorch found (set LIBTORCH to a torch install)"; exit 1; }
say "libtorch: $TORCH_LIB"

bin="$out/.colorize-train"
if [ -f "$here/colorize-train.xz" ]; then
    unpack_bin "$bin"
else
    bin="$here/colorize-train"
fi

# The recipe: ctx, Adam, cosine over as many epochs as fit in the budget,
# measured by a short benchmark first (bf16 on both devices).
if [ "$device" = cuda ]; then batch=512; lr=2e-3; else batch=128; lr=1e-3; fi
ips=$("$bin" bench --arch ctx --compute bf16 --batch-size "$batch" --steps 10 --device "$device" 2>>"$log" |
    awk '$1 == "ctx" {print $6}' | tail -n1)
[ -n "$ips" ] || { say "the benchmark failed (see $log)"; exit 1; }
images=$(tar -tzf "$here/data.tar.gz" | grep -c -i '\.jpeg$')
# 80 % of the budget for training steps, the rest for decoding, validation
# and the export. When not even one epoch of the whole pack fits (a short
# rehearsal on a CPU), train on the first images only, so that an epoch
# ends, is validated and gives best.ot.
read -r epochs max_images < <(awk -v ips="$ips" -v m="$minutes" -v n="$images" 'BEGIN {
    steps = ips * m * 60 * 0.8; e = int(steps / (n * 0.9));
    if (e >= 1) print e, 0; else print 1, int(steps * 0.8) }')
limit=()
[ "$max_images" -gt 0 ] && limit=(--max-images "$max_images")
say "device $device: bench $ips images/s at batch $batch; $images images; $epochs epoch(s) in $minutes min${limit[*]:+ (${limit[*]})}"

t0=$(date +%s)
"$bin" train --data "$here/data.tar.gz" --arch ctx --optimizer adam --lr "$lr" --schedule cosine \
    --bf16 --batch-size "$batch" --epochs "$epochs" --val-split 0.1 --device "$device" "${limit[@]}" \
    --max-minutes "$(awk -v m="$minutes" 'BEGIN { print m * 0.9 }')" --checkpoint-minutes 2 \
    --no-cache --quiet --out "$out" 2>&1 | tee -a "$log"
if [ ! -f "$out/best.ot" ]; then
    say "no epoch finished within $minutes min: no best.ot to export (resume: $bin train --out $out --resume)"
    exit 1
fi
"$bin" export "$out/best.ot" --out "$out/model.onnx" 2>&1 | tee -a "$log"
"$bin" status "$out" | tee -a "$log"
rm -f "$bin"
say "done in $(( $(date +%s) - t0 )) s"
