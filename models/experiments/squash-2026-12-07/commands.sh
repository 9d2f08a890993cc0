#!/usr/bin/env bash
# The runs of docs/training.md, "Photo-shaped crops" (2026-12-07), in the order they ran.
R=~/.cache/colorize/runs
# 1. From the shipped model, head only, 1e-4, one epoch, squashed crops (the control is
#    models/experiments/finetune-2026-12-07/head-1e-4: the same without --squash-crops).
RUN=$R/sq-1e-4 LR=1e-4 EPOCHS=1 BF16=1 EXTRA="--init-from models/colorize-default.onnx --squash-crops 1.8 --threads 2" \
    scripts/train-default.sh --minutes 120 --foreground
# 2. A fresh head on the pretrained encoder, 1e-3, one epoch, squashed crops, and its control.
RUN=$R/sq-fresh LR=1e-3 EPOCHS=1 BF16=1 EXTRA="--squash-crops 1.8 --threads 2" scripts/train-default.sh --minutes 75 --foreground
RUN=$R/fresh-1ep LR=1e-3 EPOCHS=1 BF16=1 EXTRA="--threads 2" scripts/train-default.sh --minutes 35 --foreground
scripts/track-runs.py $R/sq-1e-4 --once; scripts/track-runs.py $R/sq-fresh --once; scripts/track-runs.py $R/fresh-1ep --once
