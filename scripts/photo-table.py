#!/usr/bin/env python3
"""Markdown table of photo-val per-image scores, for model cards.

usage: scripts/photo-table.py PERIMAGE.jsonl [--label NAME PERIMAGE2.jsonl ...]

Each PERIMAGE.jsonl is what `colorize eval --truth ../shared/data/photo-val
--per-image FILE` writes (or `PER_IMAGE=DIR scripts/score-model.sh`, as
DIR/photo-val-VIVIDNESS.jsonl). `--label NAME` names the file after it; an
unnamed file is named by its base name. One row per image scored in the first
file (gray truths, skipped by the scorer, are left out): each model's PSNR
gain over predicting gray, the truth's share of green pixels (a* < -5) and
each model's, the truth's mean a* and each model's (a warm cast shows as a
model's a* above the truth's), then a mean row. Standard library only.
"""
import json
import os
import sys


def load(path):
    rows = {}
    with open(path) as f:
        for line in f:
            if line.strip():
                d = json.loads(line)
                if not d.get("skipped_gray") and "error" not in d:
                    rows[d["file"]] = d
    return rows


def parse(args):
    runs, label = [], None
    it = iter(args)
    for a in it:
        if a == "--label":
            label = next(it, None)
            if label is None:
                sys.exit(__doc__.strip())
        elif a.startswith("-"):
            sys.exit(__doc__.strip())
        else:
            name = label if label is not None else os.path.splitext(os.path.basename(a))[0]
            runs.append((name, load(a)))
            label = None
    if not runs or label is not None:
        sys.exit(__doc__.strip())
    return runs


def main():
    runs = parse(sys.argv[1:])
    files = list(runs[0][1])
    for name, rows in runs[1:]:
        missing = [f for f in files if f not in rows]
        if missing:
            sys.exit(f"photo-table: {name} has no scores for {', '.join(missing)}")
    names = [n for n, _ in runs]
    head = ["image"] + [f"gain {n}" for n in names] + ["green truth"] + [f"green {n}" for n in names]
    head += ["a* truth"] + [f"a* {n}" for n in names]
    print("| " + " | ".join(head) + " |")
    print("|---" + "|---:" * (len(head) - 1) + "|")
    sums = [0.0] * (3 * len(runs) + 2)
    for f in files:
        vals = [rows[f]["psnr_gain"] for _, rows in runs]
        vals += [runs[0][1][f]["green_truth_pct"]] + [rows[f]["green_pred_pct"] for _, rows in runs]
        vals += [runs[0][1][f]["mean_a_truth"]] + [rows[f]["mean_a_pred"] for _, rows in runs]
        for i, v in enumerate(vals):
            sums[i] += v
        print("| " + " | ".join([os.path.splitext(f)[0]] + cells(vals, len(runs))) + " |")
    means = [s / max(len(files), 1) for s in sums]
    print("| " + " | ".join([f"**mean ({len(files)})**"] + cells(means, len(runs))) + " |")


def cells(vals, n):
    gain, green, a = vals[:n], vals[n:2 * n + 1], vals[2 * n + 1:]
    return [f"{v:+.2f} dB" for v in gain] + [f"{v:.1f} %" for v in green] + [f"{v:+.1f}" for v in a]


if __name__ == "__main__":
    main()
