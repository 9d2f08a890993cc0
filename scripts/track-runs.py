#!/usr/bin/env python3
"""Scores training runs on photographs while they train.

Every --every minutes, for each run folder whose checkpoint moved on, it
copies last.ot and last.json, exports them to ONNX at --vividness (the
default model's 0.05), and scores the export through the device
(`colorize eval`) on val (the first 1,000 files of Tiny ImageNet's val,
extracted by scripts/score-model.sh), on photo-val and on Path (one of the
six photos). One CSV row per (run, checkpoint) goes to RUN/photo-track.csv:
images seen, training seconds, the trainer process's CPU seconds so far
(`cpu_seconds` of last.json; for runs of trainers that predate it, the
live process's from /proc when it is alive), and per set gain, colourfulness ratio and
AuC, and the green share (a* < -5) of Path, GreenMeadow, RainDrops and
OneStandsOut. These are the curves of docs/training.md's equal-CPU-time
comparison; `--once` scores what is there and exits.

usage: scripts/track-runs.py RUN [RUN ...] [--every MIN] [--vividness V] [--once]
"""
import argparse
import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CACHE = os.environ.get("COLORIZE_CACHE", os.path.expanduser("~/.cache/colorize"))
TARGET = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
DATA = os.environ.get("DATA", os.path.join(ROOT, "..", "shared", "data"))
GREEN = ["Path-2560x1600.jpg", "GreenMeadow.jpg", "RainDrops.jpg", "OneStandsOut.jpg"]
FIELDS = ["images_seen", "train_seconds", "cpu_seconds", "epoch", "position"]
for s in ["val", "photo_val"]:
    FIELDS += [f"{s}_gain", f"{s}_ratio", f"{s}_auc"]
FIELDS += ["green_" + g.split(".")[0].split("-")[0] for g in GREEN]
FIELDS += ["green_truth_" + g.split(".")[0].split("-")[0] for g in GREEN]


def cpu_seconds(run):
    """utime + stime of the run's trainer, or '' when it is not running."""
    try:
        pid = open(os.path.join(run, "train.pid")).read().strip()
        stat = open(f"/proc/{pid}/stat").read()
    except OSError:
        return ""
    fields = stat.rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return f"{(int(fields[11]) + int(fields[12])) / ticks:.0f}"


def evaluate(model, truth, per_image=None):
    cmd = [os.path.join(TARGET, "release", "colorize"), "eval", "--model", model]
    for t in truth:
        cmd += ["--truth", t]
    if per_image:
        cmd += ["--per-image", per_image]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def score(run, vividness):
    """One row for the run's current last.ot, or None if it has none."""
    meta_path = os.path.join(run, "last.json")
    if not os.path.exists(meta_path):
        return None
    with tempfile.TemporaryDirectory() as tmp:
        # A copy, so the trainer's next checkpoint cannot change it under
        # us; the JSON before and after the weights must agree, or a
        # checkpoint landed in between and the pair may not match.
        for _ in range(5):
            before = open(meta_path).read()
            shutil.copy(os.path.join(run, "last.ot"), os.path.join(tmp, "last.ot"))
            if open(meta_path).read() == before:
                break
            time.sleep(2)
        else:
            raise OSError("checkpoint kept changing while copied")
        open(os.path.join(tmp, "last.json"), "w").write(before)
        meta = json.loads(before)
        # The trainer records its CPU time since this was added; before,
        # the live process's, read now (later than the checkpoint).
        cpu = f"{meta['cpu_seconds']:.0f}" if meta.get("cpu_seconds") else cpu_seconds(run)
        onnx = os.path.join(tmp, "model.onnx")
        subprocess.run(
            [os.path.join(TARGET, "release", "colorize-train"), "export",
             os.path.join(tmp, "last.ot"), "--out", onnx, "--vividness", str(vividness)],
            check=True, capture_output=True)
        row = {"images_seen": meta.get("images_seen", 0),
               "train_seconds": f"{meta.get('train_seconds', 0):.0f}",
               "cpu_seconds": cpu, "epoch": meta["epoch"], "position": meta.get("position", 0)}
        val = evaluate(onnx, [os.path.join(CACHE, "val1000")])
        per = os.path.join(tmp, "photo-val.jsonl")
        pv = evaluate(onnx, [os.path.join(DATA, "photo-val")], per)
        path = os.path.join(tmp, "path.jsonl")
        evaluate(onnx, [os.path.join(DATA, "photos", GREEN[0])], path)
        for name, r in [("val", val), ("photo_val", pv)]:
            row[f"{name}_gain"] = f"{r['psnr_gain']:.4f}"
            row[f"{name}_ratio"] = f"{r['colourfulness_ratio']:.4f}"
            row[f"{name}_auc"] = f"{r['auc']:.4f}"
        lines = [json.loads(x) for f in [path, per] for x in open(f) if x.strip()]
        for g in GREEN:
            key = g.split(".")[0].split("-")[0]
            hit = [x for x in lines if x.get("file") == g]
            row["green_" + key] = f"{hit[0]['green_pred_pct']:.2f}" if hit else ""
            row["green_truth_" + key] = f"{hit[0]['green_truth_pct']:.2f}" if hit else ""
        return row


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", nargs="+")
    ap.add_argument("--every", type=float, default=10.0, help="minutes between rounds")
    ap.add_argument("--vividness", type=float, default=0.05)
    ap.add_argument("--once", action="store_true")
    a = ap.parse_args()
    if not os.path.exists(os.path.join(CACHE, "val1000", "done")):
        sys.exit("track-runs: no val1000 yet; scripts/score-model.sh extracts it")
    seen = {}
    while True:
        for run in a.runs:
            out = os.path.join(run, "photo-track.csv")
            try:
                stamp = os.path.getmtime(os.path.join(run, "last.json"))
            except OSError:
                continue
            if seen.get(run) == stamp:
                continue
            try:
                row = score(run, a.vividness)
            except (subprocess.CalledProcessError, OSError, ValueError, KeyError) as e:
                print(f"track-runs: {run}: {e}", file=sys.stderr)
                continue
            seen[run] = stamp
            if row is None:
                continue
            new = not os.path.exists(out)
            with open(out, "a", newline="") as f:
                w = csv.DictWriter(f, fieldnames=FIELDS)
                if new:
                    w.writeheader()
                w.writerow(row)
            print(f"track-runs: {os.path.basename(run.rstrip('/'))} {row}", flush=True)
        alive = any(cpu_seconds(r) for r in a.runs)
        if a.once or not alive:
            return
        time.sleep(a.every * 60)


if __name__ == "__main__":
    main()
