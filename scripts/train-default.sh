#!/usr/bin/env bash
# Starts, or resumes, the default model's long training run in the
# background: niced, logging to the run folder, stopping cleanly (with a
# checkpoint) after a time budget. Run it again later to continue exactly
# where it stopped (mid-epoch, learning-rate schedule included).
#
# usage: scripts/train-default.sh [--minutes M] [--foreground]
# env:   RUN=folder        the run folder (default ~/.cache/colorize/runs/default)
#        DATA=folder       Tiny ImageNet shards (default ../shared/data/tiny-imagenet)
#        EPOCHS=n          epochs of the cosine schedule (a resume keeps the run's)
#        LR=x              learning rate of a new run (default 1e-3)
#        EXTRA="..."       more `colorize-train train` options for a new run
# Then:  colorize-train status "$RUN"      (target/release/colorize-train)
#        kill -TERM "$(cat "$RUN/train.pid")"   stops it cleanly with a checkpoint
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=env.sh
source scripts/env.sh

minutes=120
foreground=0
while [ $# -gt 0 ]; do
    case "$1" in
        --minutes) minutes=$2; shift 2 ;;
        --foreground) foreground=1; shift ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | grep '^#' | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "train-default: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done

RUN=${RUN:-$HOME/.cache/colorize/runs/default}
DATA=${DATA:-$COLORIZE_ROOT/../shared/data/tiny-imagenet}
# The default recipe (models/README.md): the lite arch (the pretrained
# encoder frozen, its outputs cached on the first run: about 50 CPU-minutes
# on 2 cores) with the distribution head, every class of the four train
# shards, gray images skipped, 10 % held out for validation. EPOCHS (the
# cosine schedule's length) defaults to the run's own when resuming. The
# shipped model was two runs (one epoch at 1e-3, then --init-from it at
# 5e-4): LR=5e-4 EXTRA="--init-from RUN1/best.ot" gives the second.
if [ -z "${EPOCHS:-}" ] && [ -f "$RUN/config.json" ]; then
    EPOCHS=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["epochs"])' "$RUN/config.json")
fi
EPOCHS=${EPOCHS:-4}
recipe=(--arch lite --head dist --optimizer adam --lr "${LR:-1e-3}" --schedule cosine --batch-size 128
    --epochs "$EPOCHS" --val-split 0.1 --seed 1)
# bf16 pays only on CPUs with AMX (or a GPU); BF16=1 turns it on.
[ "${BF16:-0}" = 1 ] && recipe+=(--bf16)

if [ -f "$RUN/train.pid" ] && kill -0 "$(cat "$RUN/train.pid")" 2>/dev/null; then
    echo "train-default: already running (pid $(cat "$RUN/train.pid")) in $RUN" >&2
    exit 1
fi

cargo build --release -p colorize-train
bin=$COLORIZE_TARGET/release/colorize-train
mkdir -p "$RUN"
if [ -f "$RUN/last.json" ] || [ -f "$RUN/last.json.tmp" ]; then
    args=(train --out "$RUN" --resume --epochs "$EPOCHS" --max-minutes "$minutes" --quiet)
    echo "train-default: resuming $RUN for at most $minutes min"
else
    data=()
    for s in "$DATA"/train-*.tar.gz; do data+=(--data "$s"); done
    [ ${#data[@]} -gt 0 ] || { echo "train-default: no train-*.tar.gz in $DATA" >&2; exit 1; }
    # shellcheck disable=SC2206
    args=(train "${data[@]}" "${recipe[@]}" ${EXTRA:-} --out "$RUN" --max-minutes "$minutes" --quiet)
    echo "train-default: starting $RUN for at most $minutes min"
fi
echo "train-default: log in $RUN/train.log; progress: $bin status $RUN"
if [ "$foreground" = 1 ]; then
    nice -n 19 "$bin" "${args[@]}" 2>&1 | tee -a "$RUN/train.log"
    exit "${PIPESTATUS[0]}"
fi
nohup nice -n 19 "$bin" "${args[@]}" >> "$RUN/train.log" 2>&1 &
echo $! > "$RUN/train.pid"
echo "train-default: pid $!"
