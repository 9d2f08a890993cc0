#!/usr/bin/env bash
# Reruns the experiments of "Colorizing Grayscale Images" (Gupta & Konda) with
# colorize-train, one command each, and copies their figures and numbers into
# docs/reproduction/<experiment>/. See docs/reproduction/README.md for the
# claims they test.
#
# usage: scripts/reproduce.sh [--max-minutes M] [--list] [EXPERIMENT...]
#   EXPERIMENT   one or more of the names --list prints (default: all, in order)
#   --max-minutes M   training time for this whole invocation (default: no
#                limit); what is left over stops cleanly with a checkpoint
#   --list       print the experiments and exit
# env:   REPRO_DIR=folder  runs and data splits (default ~/.cache/colorize/reproduction)
#        DATA=folder       Tiny ImageNet shards (default ../shared/data/tiny-imagenet)
#        PHOTOS=folder     photographs for the full-set figure (default ../shared/data/photos)
#        COMPUTE="..."     compute flags for new runs (default "--bf16 --channels-last";
#                          "" trains in f32 as the paper did)
#        DEVICE=auto|cpu|cuda
#        COLORIZE_TRAIN=path   use this colorize-train binary instead of building one
#        NICE=n            nice level of the training processes (default 0)
#
# Resumable: run the same command again and every experiment continues where
# it stopped (mid-epoch). An experiment trains in stages (fish: 100, 500, 1000
# epochs); each finished stage is kept as epoch<N>.ot and scored on the
# held-out test images. An experiment stopped by --max-minutes is scored as
# far as it got and labelled with the epochs really done.
#
# Data protocol (scripts/repro/split.py): per class, every 10th image (by its
# number) is a test image (500 -> 450 train / 50 test); the trainer holds out
# 0.1 of train for validation (--val-split 0.1).
#
# examples:
#   scripts/reproduce.sh fish                   # the paper's goldfish experiment
#   scripts/reproduce.sh --max-minutes 20 full  # 20 minutes of the full-set run
#   scripts/reproduce.sh --list
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=env.sh
source scripts/env.sh

FISH=n01443537
LIZARD=n01629819,n01641577,n01644900,n01698640,n01742172
FOOD=n07579787,n07583066,n07614500,n07695742,n07711569,n07715103,n07720875,n07734744,n07747607,n07749582,n07753592,n07768694,n07871810,n07873807,n07875152,n07920052

# name | data subset | stages (epochs) | train options
EXPERIMENTS=(
    "fish|fish|100 500 1000|--arch paper --batch-size 50"
    "fish-mlp|fish|100 500 1000|--arch mlp --batch-size 50"
    "lizard|lizard|1000|--arch paper --batch-size 50"
    "food|food|1000|--arch paper --batch-size 50"
    "fish-relu|fish|100 500|--arch paper --batch-size 50 --output relu"
    "fish-dropout25|fish|100 500|--arch paper --batch-size 50 --dropout 0.25"
    "fish-dropout50|fish|100 500|--arch paper --batch-size 50 --dropout 0.5"
    "fish-deeper|fish|100 500|--arch paper --batch-size 50 --depth 12"
    "full|full|100|--arch paper --batch-size 1000"
    "full-mlp|full|100|--arch mlp --batch-size 1000"
    "full-batch5000|full|1|--arch paper --batch-size 5000"
)

usage() { sed -n '2,/^set -euo/p' "$0" | grep '^#' | sed 's/^# \{0,1\}//'; }
max_minutes=""
selected=()
while [ $# -gt 0 ]; do
    case "$1" in
        --max-minutes) max_minutes=$2; shift 2 ;;
        --list)
            for e in "${EXPERIMENTS[@]}"; do
                IFS='|' read -r name subset stages opts <<<"$e"
                printf '%-16s %-7s epochs %-13s %s\n' "$name" "$subset" "$stages" "$opts"
            done
            exit 0 ;;
        -h|--help) usage; exit 0 ;;
        -*) echo "reproduce: unknown option $1 (see --help)" >&2; exit 2 ;;
        *) selected+=("$1"); shift ;;
    esac
done
if [ ${#selected[@]} -eq 0 ]; then
    for e in "${EXPERIMENTS[@]}"; do selected+=("${e%%|*}"); done
fi
for s in "${selected[@]}"; do
    printf '%s\n' "${EXPERIMENTS[@]}" | grep -q "^$s|" ||
        { echo "reproduce: no experiment '$s' (see --list)" >&2; exit 2; }
done

REPRO_DIR=${REPRO_DIR:-$HOME/.cache/colorize/reproduction}
DATA=${DATA:-$COLORIZE_ROOT/../shared/data/tiny-imagenet}
PHOTOS=${PHOTOS:-$COLORIZE_ROOT/../shared/data/photos}
COMPUTE=${COMPUTE---bf16 --channels-last}
DEVICE=${DEVICE:-auto}
DOCS=$COLORIZE_ROOT/docs/reproduction
shards=("$DATA"/train-*.tar.gz)

if [ -n "${COLORIZE_TRAIN:-}" ]; then
    bin=$COLORIZE_TRAIN
else
    cargo build --release -p colorize-train
    bin=$COLORIZE_TARGET/release/colorize-train
fi
started=$SECONDS

# Minutes of this invocation's budget left (empty: no limit).
minutes_left() {
    [ -n "$max_minutes" ] || return 0
    python3 -c "import sys; print(f'{max(0.0, float(sys.argv[1]) - float(sys.argv[2]) / 60):.2f}')" \
        "$max_minutes" "$((SECONDS - started))"
}
out_of_time() { [ -n "$max_minutes" ] && python3 -c "import sys; sys.exit(float(sys.argv[1]) > 0.05)" "$(minutes_left)"; }
json_field() { python3 -c "import json, sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" "$1" "$2"; }

# Makes the data split of subset $1 (once) and sets SPLIT_DIR to it. Not
# called in a command substitution: there `set -e` would not stop on a
# failed split.
split() {
    local subset=$1 classes
    case $subset in
        fish) classes=$FISH ;;
        lizard) classes=$LIZARD ;;
        food) classes=$FOOD ;;
        full) classes="" ;;
    esac
    SPLIT_DIR=$REPRO_DIR/data/$subset
    # A finished split (a GPU pack carries them) needs no shards.
    if [ ! -f "$SPLIT_DIR/done" ] && [ ! -f "${shards[0]}" ]; then
        echo "reproduce: no train-*.tar.gz in $DATA to make the $subset split from (set DATA to the folder that has Tiny ImageNet's shards)" >&2
        exit 1
    fi
    python3 scripts/repro/split.py --out "$SPLIT_DIR" ${classes:+--classes "$classes"} "${shards[@]}" >&2
}

# A resumed run reads its data from its config.json: point that at this
# machine's split, so that runs carried to or from a GPU machine resume.
point_run_at() {
    python3 - "$1/config.json" "$2" <<'PY'
import json, sys
path, data = sys.argv[1], sys.argv[2]
cfg = json.load(open(path))
if cfg.get("data") != [data]:
    cfg["data"] = [data]
    json.dump(cfg, open(path + ".tmp", "w"), indent=2)
    import os
    os.replace(path + ".tmp", path)
PY
}

# Scores checkpoint $1 (.ot) on the test folder $2; writes <stem>.test.json,
# <stem>.per-image.csv and <stem>.grid.png beside it, and copies them to $3.
score() {
    local ckpt=$1 test=$2 docs=$3 stem=${1%.ot}
    if [ ! -f "$stem.test.json" ] || [ "$ckpt" -nt "$stem.test.json" ] ||
        [ ! -f "$stem.per-image.csv" ]; then
        "$bin" eval --model "$ckpt" --data "$test" --device "$DEVICE" \
            --grid "$stem.grid.png" --grid-images 10 \
            --per-image "$stem.per-image.csv" >"$stem.test.json.tmp"
        mv "$stem.test.json.tmp" "$stem.test.json"
    fi
    local label=${4:-$(basename "$stem")}
    for ext in test.json per-image.csv grid.png; do
        cp "$stem.$ext" "$docs/$label.$ext"
    done
}

run_experiment() {
    local name=$1 subset=$2 stages=$3 opts=$4
    local dir run docs reached=0
    split "$subset"
    dir=$SPLIT_DIR
    run=$REPRO_DIR/runs/$name
    docs=$DOCS/$name
    mkdir -p "$run" "$docs"
    for stage in $stages; do
        local done_epochs=0
        [ -f "$run/last.json" ] && done_epochs=$(json_field "$run/last.json" epoch)
        if [ "$done_epochs" -lt "$stage" ]; then
            if out_of_time; then break; fi
            local limit=()
            [ -n "$max_minutes" ] && limit=(--max-minutes "$(minutes_left)")
            if [ -f "$run/last.json" ]; then
                echo "reproduce: $name: resuming at epoch $done_epochs, training to $stage"
                point_run_at "$run" "$dir/train"
                nice -n "${NICE:-0}" "$bin" train --out "$run" --resume --epochs "$stage" \
                    --device "$DEVICE" "${limit[@]}" --quiet 2>&1 | tee -a "$run/train.log"
            else
                echo "reproduce: $name: training to epoch $stage"
                # shellcheck disable=SC2086
                nice -n "${NICE:-0}" "$bin" train --data "$dir/train" --val-split 0.1 --seed 1 \
                    $opts $COMPUTE --epochs "$stage" --device "$DEVICE" --out "$run" "${limit[@]}" \
                    --quiet 2>&1 | tee -a "$run/train.log"
                # A new run replaces what docs/ held from an earlier run.
                rm -rf "$docs" && mkdir -p "$docs"
            fi
            done_epochs=$(json_field "$run/last.json" epoch)
        fi
        if [ "$done_epochs" -eq "$stage" ] && [ ! -f "$run/epoch$stage.ot" ]; then
            cp "$run/last.ot" "$run/epoch$stage.ot"
            cp "$run/last.json" "$run/epoch$stage.json"
        fi
        if [ -f "$run/epoch$stage.ot" ]; then
            score "$run/epoch$stage.ot" "$dir/test" "$docs"
            reached=$stage
        fi
    done
    # Stopped short of the last stage: score where it stands, labelled.
    local last_stage=${stages##* }
    rm -f "$docs"/partial-epoch*
    if [ "$reached" != "$last_stage" ] && [ -f "$run/last.json" ]; then
        local epochs
        epochs=$(json_field "$run/last.json" epoch)
        if [ "$epochs" -gt "$reached" ]; then
            score "$run/last.ot" "$dir/test" "$docs" "partial-epoch$epochs"
        fi
        echo "reproduce: $name: stopped at epoch $epochs of $last_stage (run again to continue)"
    fi
    # The paper's figure 8: the full-set model on photographs with no colour
    # original. Ours are the gray conversions (L*) of colour photographs,
    # shown beside the result; the model never sees their colour.
    if [ "$name" = full ] && [ -f "$run/last.ot" ] && compgen -G "$PHOTOS/*.jpg" >/dev/null; then
        local ckpt=$run/last.ot
        [ -f "$run/epoch$last_stage.ot" ] && ckpt=$run/epoch$last_stage.ot
        rm -rf "$docs/photos"
        "$bin" colorize --model "$ckpt" --device "$DEVICE" "$PHOTOS"/*.jpg -o "$docs/photos" \
            --max-side 480 --with-gray --format jpg
    fi
    for f in metrics.csv config.json; do
        [ -f "$run/$f" ] && cp "$run/$f" "$docs/"
    done
    # Redrawn with the moving mean that long, noisy runs need.
    [ -f "$run/metrics.csv" ] && "$bin" curves "$run/metrics.csv" --out "$docs/curves.png"
    grep -h -E "halved|out of memory|needs an estimated" "$run/train.log" >"$docs/memory.log" 2>/dev/null ||
        rm -f "$docs/memory.log"
}

for s in "${selected[@]}"; do
    for e in "${EXPERIMENTS[@]}"; do
        IFS='|' read -r name subset stages opts <<<"$e"
        [ "$name" = "$s" ] && run_experiment "$name" "$subset" "$stages" "$opts"
    done
done
python3 scripts/repro/summarize.py "$DOCS"
