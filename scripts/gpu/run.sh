#!/usr/bin/env bash
# Trains the default recipe from this GPU pack for a few minutes and exports
# the model. Finds libtorch by itself (LIBTORCH, /opt/torch/.venv, a Python
# with torch on PATH, or the torch venv that scripts/setup.sh made).
#
# usage: run.sh OUT [--minutes M] [--device cuda|cpu] [--head dist|regression]
#        (default 8 min, cuda, dist: the colour-distribution head)
# writes: OUT/best.ot (+ best.json), OUT/model.onnx, OUT/metrics.csv,
#         OUT/curves.png, OUT/samples.png, OUT/run.log, and prints images/s;
#         dist: also OUT/tradeoff.{csv,png}, OUT/vividness.png, with the
#         default vividness picked on the pack's val.tar.gz and written into
#         model.onnx's card.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
[ $# -ge 1 ] || { sed -n '2,/^set -euo/p' "$0" | grep '^#' | sed 's/^# \{0,1\}//'; exit 2; }
out=$1; shift
minutes=8
device=cuda
head=dist
while [ $# -gt 0 ]; do
    case "$1" in
        --minutes) minutes=$2; shift 2 ;;
        --device) device=$2; shift 2 ;;
        --head) head=$2; shift 2 ;;
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

# The recipe: lite (the pretrained EfficientNet-Lite0 encoder under the
# colour head; on a GPU the encoder is fine-tuned too, on a CPU it stays
# frozen and its outputs are computed once), Adam, cosine over as many
# epochs as fit in the budget, measured by a short benchmark first (bf16 on
# both devices).
if [ "$device" = cuda ]; then
    batch=512; lr=2e-3; finetune=(--finetune-encoder)
else
    batch=128; lr=1e-3; finetune=()
fi
ips=$("$bin" bench --arch lite --size 128 --compute bf16 --batch-size "$batch" --steps 10 --device "$device" 2>>"$log" |
    awk '$1 == "lite" {print $6}' | tail -n1)
[ -n "$ips" ] || { say "the benchmark failed (see $log)"; exit 1; }
images=$(tar -tzf "$here/data.tar.gz" | grep -c -i '\.jpeg$')
# 80 % of the budget for training steps, the rest for decoding, validation
# and the export. When not even one epoch of the whole pack fits (a short
# rehearsal on a CPU), train on the first images only, so that an epoch
# ends, is validated and gives best.ot.
# The benchmark runs the regression head. The distribution head's 261
# logit channels (a 3x3 convolution to them, log-softmax, the soft-target
# gather) cost more: measured 0.37 of the regression head's images/s on a
# 2-core CPU (ctx, bf16, batch 64; lite with a frozen encoder: 0.57); on a
# GPU assumed half (not yet measured, so planned on the safe side: the
# cosine ends early at worst).
if [ "$head" = dist ]; then
    ips=$(awk -v i="$ips" -v d="$device" 'BEGIN { print i * (d == "cuda" ? 0.5 : 0.35) }')
fi
read -r epochs max_images < <(awk -v ips="$ips" -v m="$minutes" -v n="$images" 'BEGIN {
    steps = ips * m * 60 * 0.8; e = int(steps / (n * 0.9));
    if (e >= 1) print e, 0; else print 1, int(steps * 0.8) }')
limit=()
[ "$max_images" -gt 0 ] && limit=(--max-images "$max_images")
say "device $device: bench $ips images/s at batch $batch; $images images; $epochs epoch(s) in $minutes min${limit[*]:+ (${limit[*]})}"

t0=$(date +%s)
"$bin" train --data "$here/data.tar.gz" --arch lite "${finetune[@]}" \
    --encoder-weights "$here/lite0-encoder.safetensors" --head "$head" --optimizer adam --lr "$lr" --schedule cosine \
    --bf16 --batch-size "$batch" --epochs "$epochs" --val-split 0.1 --device "$device" "${limit[@]}" \
    --max-minutes "$(awk -v m="$minutes" 'BEGIN { print m * 0.9 }')" --checkpoint-minutes 2 \
    --no-cache --quiet --out "$out" 2>&1 | tee -a "$log"
if [ ! -f "$out/best.ot" ]; then
    say "no epoch finished within $minutes min: no best.ot to export (resume: $bin train --out $out --resume)"
    exit 1
fi
vivid=()
if [ "$head" = dist ] && [ -f "$here/val.tar.gz" ]; then
    # A failed trade-off costs the default vividness, never the export.
    picked=$("$bin" tradeoff --model "$out/best.ot" --name "$head" --data "$here/val.tar.gz" \
        --device "$device" --out "$out" 2>>"$log") || say "tradeoff failed (see $log): exporting with vividness 0"
    echo "$picked" | tee -a "$log"
    v=$(echo "$picked" | sed -n 's/^default vividness of [^:]*: \([0-9.]*\).*/\1/p')
    [ -n "$v" ] && vivid=(--vividness "$v")
fi
"$bin" export "$out/best.ot" --out "$out/model.onnx" "${vivid[@]}" 2>&1 | tee -a "$log"
"$bin" status "$out" | tee -a "$log"
rm -f "$bin"
say "done in $(( $(date +%s) - t0 )) s"
