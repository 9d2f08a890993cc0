#!/usr/bin/env bash
# Equal wall time, equal cores: today's default recipe (unet, f32, Adam 1e-3,
# batch 64) against the ctx recipe (bf16, Adam 1e-3 with a cosine over the
# epochs that fit, batch 128), trained side by side with one thread each on
# train-0, each stopped after MIN minutes of training; then the state each
# reached (last.ot) is scored on the first 1,000 files of val.tar.gz.
#
# usage: scripts/compare-archs.sh [OUTDIR]   (default ~/.cache/colorize/compare)
# env:   MIN=minutes (default 10), DATA=Tiny ImageNet folder, CTX_EPOCHS (default 8)
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=env.sh
source scripts/env.sh
out=${1:-$HOME/.cache/colorize/compare}
MIN=${MIN:-10}
DATA=${DATA:-$COLORIZE_ROOT/../shared/data/tiny-imagenet}
cargo build --release -p colorize-train
bin=$COLORIZE_TARGET/release/colorize-train
rm -rf "$out/unet" "$out/ctx"
mkdir -p "$out"
common=(--data "$DATA/train-0.tar.gz" --val-split 0.1 --seed 1 --threads 1 --quiet --max-minutes "$MIN")
"$bin" train "${common[@]}" --arch unet --optimizer adam --lr 1e-3 --batch-size 64 --epochs 1000 \
    --out "$out/unet" > "$out/unet.log" 2>&1 &
u=$!
"$bin" train "${common[@]}" --arch ctx --bf16 --optimizer adam --lr 1e-3 --schedule cosine \
    --batch-size 128 --epochs "${CTX_EPOCHS:-8}" --out "$out/ctx" > "$out/ctx.log" 2>&1 &
c=$!
wait "$u" "$c"
for a in unet ctx; do
    "$bin" status "$out/$a" | sed -n '3,4p' | sed "s/^/$a: /"
    "$bin" eval --model "$out/$a/last.ot" --data "$DATA/val.tar.gz" --max-images 1000 --device cpu \
        2>/dev/null | tee "$out/$a.eval.json" | sed "s/^/$a: /"
done
