#!/usr/bin/env python3
"""The whole-photo benchmark (issue 17), `scripts/bench.sh photos`: the six
2560x1600 photos through three single-process pipelines, one core, one
thread each, in one run:

- ours: `colorize files PHOTOS --out DIR --threads 1` (the embedded model);
- OpenCV decode and re-encode only: `bench/decode_reencode.py`
  (`cv2.imread` + `cv2.imwrite` PNG, nothing else);
- the Python colourize pipeline: `bench/reference_pipeline.py` (OpenCV +
  onnxruntime, the same steps as ours).

Runs are interleaved (ours, OpenCV, Python, ours, ...) so that load on a
shared machine hits all three alike; medians are reported, with peak RSS
(`/usr/bin/time -v`) and, per photo, where our time goes (the `stages`
example). With `--before DIR` (a `colorize` and `stages` built from an
earlier commit) the same is measured for it, in the same run.

Writes its section of BENCHMARKS.md (bench/sections.py).
"""
import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import sections  # noqa: E402
STAGES = ["decode", "lplane", "predict", "recombine", "encode"]
STAGE_NAMES = {
    "decode": "JPEG decode",
    "lplane": "L\\* plane",
    "predict": "predict (box filter + model)",
    "recombine": "recombination + Lab -> sRGB8 + hold",
    "encode": "PNG encode",
}


def log(msg):
    print(f"photos: {msg}", file=sys.stderr, flush=True)


def run_timed(cmd, cpu):
    """Wall seconds and peak RSS (KiB) of one run of `cmd` pinned to `cpu`."""
    full = ["/usr/bin/time", "-f", "%M", "taskset", "-c", str(cpu)] + cmd
    t = time.perf_counter()
    r = subprocess.run(full, capture_output=True, text=True)
    wall = time.perf_counter() - t
    if r.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{r.stderr[-2000:]}")
    return wall, int(r.stderr.strip().splitlines()[-1])


def stages(binary, photo, cpu, repeat):
    r = subprocess.run(["taskset", "-c", str(cpu), str(binary), "--photo", str(photo),
                        "--stage", "all", "--repeat", str(repeat)],
                       capture_output=True, text=True, check=True)
    out = {}
    for line in r.stdout.splitlines():
        name, ms = line.split("\t")
        out[name] = float(ms)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--colorize", required=True)
    ap.add_argument("--stages", required=True)
    ap.add_argument("--before", default=None, help="folder with an earlier build's colorize and stages")
    ap.add_argument("--before-label", default="before")
    ap.add_argument("--photos", nargs="+", required=True)
    ap.add_argument("--model", required=True, help="ONNX file for the Python pipeline (the one ours embeds)")
    ap.add_argument("--cpu", type=int, default=0)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--stage-runs", type=int, default=5)
    ap.add_argument("--out", default="BENCHMARKS.md")
    ap.add_argument("--note", default="")
    ap.add_argument("--commit", default="?")
    args = ap.parse_args()

    photos = [str(Path(p).resolve()) for p in args.photos]
    py = sys.executable
    work = Path(tempfile.mkdtemp(prefix="colorize-photos-"))
    pipelines = {"ours": [str(Path(args.colorize).resolve()), "files", *photos, "--out", None, "--threads", "1"]}
    if args.before:
        pipelines["before"] = [str(Path(args.before, "colorize").resolve()), "files", *photos, "--out", None,
                               "--threads", "1"]
    pipelines["opencv"] = [py, str(HERE / "decode_reencode.py"), "--out", None, *photos]
    pipelines["python"] = [py, str(HERE / "reference_pipeline.py"), "--model", args.model, "--out", None,
                           *photos]
    load0 = os.getloadavg()
    walls = {k: [] for k in pipelines}
    rss = {k: 0 for k in pipelines}
    for i in range(args.runs + 1):  # the first round warms the page cache
        for name, cmd in pipelines.items():
            out = work / f"{name}-{i}"
            cmd = [str(out) if c is None else c for c in cmd]
            wall, kib = run_timed(cmd, args.cpu)
            subprocess.run(["rm", "-rf", str(out)], check=True)
            if i > 0:
                walls[name].append(wall)
            rss[name] = max(rss[name], kib)
        log(f"round {i}: " + ", ".join(f"{k} {walls[k][-1]:.3f} s" for k in walls if walls[k]))
    med = {k: statistics.median(v) for k, v in walls.items()}

    log("stages per photo")
    per_photo = []
    for p in photos:
        row = {"photo": Path(p).name, "ours": stages(args.stages, p, args.cpu, args.stage_runs)}
        if args.before:
            row["before"] = stages(Path(args.before, "stages"), p, args.cpu, args.stage_runs)
        per_photo.append(row)
    load1 = os.getloadavg()

    from run import machine, verdict  # the main section's machine line and verdicts
    cpu = machine()["cpu"]
    n = len(photos)
    ratio_cv = med["ours"] / med["opencv"]
    ratio_py = med["python"] / med["ours"]
    mib = lambda k: rss[k] / 1024
    lines = ["## Six photos, one process each (issue 17)", ""]
    lines.append(f"Written by `scripts/bench.sh photos` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} "
                 f"at commit {args.commit}: "
                 f"{n} photos of 2560x1600 ({', '.join(Path(p).name for p in photos)}), each pipeline one "
                 f"process over all of them, pinned to one core (`taskset -c {args.cpu}`), one thread; "
                 f"median of {args.runs} interleaved rounds after a warm-up round. {cpu}, {os.cpu_count()} "
                 f"cores, {platform.system()} {platform.release()}; load average {load0[0]:.2f} at the start, "
                 f"{load1[0]:.2f} at the end{'; ' + args.note if args.note else ''}.")
    lines.append("")
    lines.append("| pipeline | wall time, 6 photos | per photo | peak RSS | ours vs it | target | met? |")
    lines.append("|---|---|---|---|---|---|---|")

    def row(name, label, vs, target, ok):
        lines.append(f"| {label} | {med[name]:.3f} s (fastest {min(walls[name]):.3f}) | "
                     f"{1000 * med[name] / n:.0f} ms | {mib(name):.1f} MiB | {vs} | {target} | {ok} |")

    row("ours", "`colorize files` (ours)", "", "peak RSS <= 64 MB", verdict(rss["ours"] * 1024 <= 64e6))
    if args.before:
        row("before", f"`colorize files`, {args.before_label}", f"{med['ours'] / med['before']:.2f}x its time",
            "", "")
    row("opencv", "OpenCV decode + PNG re-encode only (`cv2.imread` + `cv2.imwrite`)",
        # 0.6x with the 64x64 ctx model (issue 17); the pretrained-encoder
        # issue lets a better model spend margin up to 0.75x.
        f"{ratio_cv:.2f}x its time", "<= 0.75x", verdict(ratio_cv <= 0.75))
    row("python", "Python colourize pipeline (OpenCV + onnxruntime)", f"{ratio_py:.2f}x faster",
        ">= 2x faster", verdict(ratio_py >= 2.0))
    import reference_pipeline  # the venv's onnxruntime, as the pipeline itself
    why = reference_pipeline.caveat(args.model)
    if why:
        lines += ["", f"Not the same work: {why}."]
    lines.append("")
    lines.append("Where our time goes, per photo (`device/examples/stages.rs --stage all`: each stage of "
                 f"`colorize files` alone, in process, median of {args.stage_runs}; ms)"
                 + (f"; {args.before_label} -> now:" if args.before else ":"))
    lines.append("")
    lines.append("| photo | " + " | ".join(STAGE_NAMES[s] for s in STAGES) + " | sum |")
    lines.append("|---" * (len(STAGES) + 2) + "|")
    for r in per_photo:
        cells = []
        for s in STAGES:
            now = r["ours"][s]
            cells.append(f"{r['before'][s]:.1f} -> {now:.1f}" if "before" in r else f"{now:.1f}")
        total = sum(r["ours"][s] for s in STAGES)
        if "before" in r:
            total_s = f"{sum(r['before'][s] for s in STAGES):.1f} -> {total:.1f}"
        else:
            total_s = f"{total:.1f}"
        lines.append(f"| {r['photo']} | " + " | ".join(cells) + f" | {total_s} |")
    # The binary measured above, as it ships (profile dist), stripped of its
    # symbols like scripts/dist.sh does (without the `camera` feature, which
    # scripts/dist.sh adds).
    stripped = work / "colorize-stripped"
    subprocess.run(["strip", "-o", str(stripped), str(Path(args.colorize).resolve())], check=True)
    lines += ["", f"Binary size: the `colorize` measured above (x86_64, profile dist, embedded model "
              f"`{args.model}` included, without the `camera` feature) is "
              f"{Path(args.colorize).stat().st_size:,} bytes, {stripped.stat().st_size:,} bytes stripped "
              "(`strip`, as `scripts/dist.sh` does; `scripts/dist.sh TARGET` prints the size of the "
              "shipped build, `camera` feature included, for each target)."]
    lines += ["", "Reproduce: `scripts/bench.sh photos` (`BENCH_BEFORE=dir` adds an earlier build; see the "
              "script)."]
    section = "\n".join(lines)
    sections.write_section(args.out, "photos", section)
    print(section)
    subprocess.run(["rm", "-rf", str(work)], check=True)
    json.dump({"median_s": med, "rss_kib": rss, "per_photo": per_photo}, sys.stderr)
    print(file=sys.stderr)


if __name__ == "__main__":
    main()
