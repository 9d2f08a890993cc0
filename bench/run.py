#!/usr/bin/env python3
"""Driver of `scripts/bench.sh` (issue 7): runs our rows (the Rust `bench`
example and the `colorize` binary) and the OpenCV / onnxruntime rows, one
thread each, and writes one markdown report.

    python bench/run.py --bench-bin target/release/examples/bench \
        --colorize target/release/colorize --photo PHOTO.jpg --out BENCHMARKS.md

Every measurement is pinned to one CPU (`taskset -c CPU`, default 0) and
runs single-threaded (tract by default, OpenCV `setNumThreads(1)`,
onnxruntime one intra-op and one inter-op thread).
"""
import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import reference_pipeline  # noqa: E402
import sections  # noqa: E402


def log(msg):
    print(f"bench: {msg}", file=sys.stderr, flush=True)


def timings(runs, fn):
    """(median, fastest) seconds of `runs` calls after one warm-up call."""
    fn()
    times = []
    for _ in range(max(1, runs)):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), min(times)


def median_s(runs, fn):
    return timings(runs, fn)[0]


def pin(cpu):
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {cpu})


# --- machine ---------------------------------------------------------------

def machine():
    info = {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count()}
    try:
        text = Path("/proc/cpuinfo").read_text()
        m = re.search(r"^model name\s*:\s*(.+)$", text, re.M)
        if m:
            info["cpu"] = m.group(1).strip()
        m = re.search(r"^cpu MHz\s*:\s*([\d.]+)$", text, re.M)
        if m:
            info["mhz"] = float(m.group(1))
        m = re.search(r"^flags\s*:\s*(.+)$", text, re.M)
        flags = set(m.group(1).split()) if m else set()
        info["isa"] = ("AVX-512" if "avx512f" in flags else "AVX2+FMA" if "fma" in flags
                       else "NEON" if platform.machine() in ("aarch64", "armv7l") else "scalar")
    except OSError:
        pass
    info["arch"] = platform.machine()
    info["kernel"] = platform.release()
    info["load"] = os.getloadavg()
    try:
        mem = Path("/proc/meminfo").read_text()
        info["mem_gib"] = int(re.search(r"MemTotal:\s*(\d+)", mem).group(1)) / 2**20
    except (OSError, AttributeError):
        pass
    return info


def f32_peak(info):
    """Peak f32 GFLOP/s of one core, and how it was computed (or None)."""
    mhz = info.get("mhz")
    lanes = {"AVX-512": 16, "AVX2+FMA": 8}.get(info.get("isa"))
    if not mhz or not lanes:
        return None, None
    peak = mhz / 1e3 * lanes * 2 * 2
    how = (f"{info['isa']}: {lanes} f32 lanes x 2 (FMA) x 2 FMA units x "
           f"{mhz / 1e3:.2f} GHz (nominal clock from /proc/cpuinfo; 2 FMA units assumed)")
    return peak, how


# --- rows ------------------------------------------------------------------

def run_rust_bench(bench_bin, cpu, photo, work, models, runs):
    cmd = ["taskset", "-c", str(cpu), str(bench_bin), "--work", str(work), "--runs", str(runs)]
    if photo:
        cmd += ["--photo", str(photo)]
    for m in models:
        cmd += ["--model", str(m)]
    log(" ".join(cmd))
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def opencv_lab(work, w, h, runs):
    rgb = np.fromfile(work / "lab-input.rgb", dtype=np.uint8).reshape(h, w, 3)
    mpix = w * h / 1e6
    lab = cv2.cvtColor(rgb, cv2.COLOR_RGB2Lab)
    rows = []
    s = median_s(runs, lambda: cv2.cvtColor(rgb, cv2.COLOR_RGB2Lab, dst=lab))
    rows.append({"kind": "lab", "dir": "rgb2lab", "impl": "opencv", "ms": s * 1e3, "mpix_s": mpix / s})
    back = np.empty_like(rgb)
    s = median_s(runs, lambda: cv2.cvtColor(lab, cv2.COLOR_Lab2RGB, dst=back))
    rows.append({"kind": "lab", "dir": "lab2rgb", "impl": "opencv", "ms": s * 1e3, "mpix_s": mpix / s})
    return rows


def ort_infer(model, runs):
    sess = reference_pipeline.session(str(model))
    inp = sess.get_inputs()[0]
    size = inp.shape[2]
    x = ((np.arange(size * size) % 97).astype(np.float32) / 48.0 - 1.0).reshape(1, 1, size, size)
    s, fastest = timings(runs, lambda: sess.run(None, {inp.name: x}))
    return {"kind": "infer", "runtime": "onnxruntime", "model": str(model), "size": size,
            "ms": s * 1e3, "min_ms": fastest * 1e3, "runs": runs}


def timed_process(cmd, cpu, runs):
    """Median wall seconds of `cmd` pinned to `cpu`, and its peak RSS (KiB)
    from `/usr/bin/time -v`."""
    full = ["taskset", "-c", str(cpu)] + cmd
    subprocess.run(full, check=True, capture_output=True)  # warm the page cache
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        subprocess.run(full, check=True, capture_output=True)
        times.append(time.perf_counter() - t)
    rss = None
    if Path("/usr/bin/time").exists():
        r = subprocess.run(["/usr/bin/time", "-v"] + full, check=True, capture_output=True, text=True)
        m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", r.stderr)
        rss = int(m.group(1)) if m else None
    return statistics.median(times), min(times), rss


# --- report ----------------------------------------------------------------

def fmt(v, digits=1):
    return "n/a" if v is None else f"{v:,.{digits}f}"


def verdict(ok):
    return "**met**" if ok else "**missed**"


def report(info, rows, frame, args):
    peak, peak_how = f32_peak(info)
    lab = {(r["dir"], r["impl"]): r for r in rows if r["kind"] == "lab"}
    src = next((r for r in rows if r["kind"] == "lab_input"), None)
    infer = [r for r in rows if r["kind"] == "infer"]
    cam = next((r for r in rows if r["kind"] == "camera_allocs"), None)
    # The shipped input size: the smallest size the inference rows ran at
    # (the other is the 256x256 variant).
    shipped = min((r["size"] for r in infer), default=None)
    out = []
    p = out.append
    p("## Lab, inference, one frame, camera loop (issue 7)")
    p("")
    p(f"Written by `scripts/bench.sh main` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} "
      f"at commit {args.commit}. "
      "Every row runs on one core (`taskset -c "
      f"{args.cpu}`), one thread: tract's default single-thread executor, OpenCV "
      "`cv2.setNumThreads(1)`, onnxruntime with one intra-op and one inter-op thread. "
      "Times are medians.")
    p("")
    load = info["load"]
    p(f"**Machine:** {info['cpu']} ({info.get('isa', '?')}, {info.get('mhz', 0):.0f} MHz nominal), "
      f"{info['cores']} cores, {info.get('mem_gib', 0):.0f} GiB, {info['arch']}, Linux {info['kernel']}. "
      f"Load average at the start {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f} (1/5/15 min), "
      f"at the end {os.getloadavg()[0]:.2f} (1 min)"
      + (f"; {args.note}" if args.note else "") + ".")
    p("")
    kind = "int8" if "int8" in Path(args.embedded).name else "f32"
    p(f"Embedded model (what `colorize` runs without `--model`): `{args.embedded}` ({kind}"
      + (f", input {shipped}x{shipped}" if shipped else "") + ").")
    p("")
    p(f"Versions: opencv-python-headless {cv2.__version__}, onnxruntime {ort.__version__}, "
      f"numpy {np.__version__}, tract {args.tract_version}.")
    p("")
    p("| # | benchmark | ours | value | reference | value | ours faster by (reference time / ours) | target | met? |")
    p("|---|---|---|---|---|---|---|---|---|")

    # 1. Lab
    what = "2560x1600" if not src else f"{src['width']}x{src['height']}"
    for d, name in (("rgb2lab", "sRGB8 -> Lab"), ("lab2rgb", "Lab -> sRGB8")):
        fx, f64, cv = lab.get((d, "fixed")), lab.get((d, "f64")), lab.get((d, "opencv"))
        if fx and cv:
            ratio = fx["mpix_s"] / cv["mpix_s"]
            p(f"| 1 | Lab {name}, {what} | fixed point | {fmt(fx['mpix_s'])} Mpixel/s | OpenCV `cvtColor` 8-bit | "
              f"{fmt(cv['mpix_s'])} Mpixel/s | {ratio:.2f}x | >= 1.0x OpenCV | {verdict(ratio >= 1.0)} |")
        if f64 and cv:
            p(f"| 1 | Lab {name}, {what} | f64 reference | {fmt(f64['mpix_s'])} Mpixel/s | OpenCV `cvtColor` 8-bit | "
              f"{fmt(cv['mpix_s'])} Mpixel/s | {f64['mpix_s'] / cv['mpix_s']:.2f}x | (baseline) | |")
    lo = lab.get(("rgb2l", "fixed"))
    cv = lab.get(("rgb2lab", "opencv"))
    if lo and cv:
        p(f"| 1 | sRGB8 -> L* only (what `colorize files` uses), {what} | fixed point | {fmt(lo['mpix_s'])} Mpixel/s | "
          f"OpenCV full Lab | {fmt(cv['mpix_s'])} Mpixel/s | {lo['mpix_s'] / cv['mpix_s']:.2f}x | | |")

    # 2. Inference
    def key(r):
        m = Path(r["model"]).stem
        return m.replace("-256", ""), r["size"]
    by = {}
    for r in infer:
        by.setdefault(key(r), {})[r["runtime"]] = r
    gflops = {k: v["tract"].get("gflop") for k, v in by.items() if "tract" in v}
    for (stem, size), v in sorted(by.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        t, o = v.get("tract"), v.get("onnxruntime")
        if not t or not o:
            continue
        g = t.get("gflop")
        ach_t = g / (t["ms"] / 1e3) if g else None
        ach_o = g / (o["ms"] / 1e3) if g else None
        pk_t = f", {100 * ach_t / peak:.1f}% of f32 peak" if peak and g else ""
        pk_o = f", {100 * ach_o / peak:.1f}% of f32 peak" if peak and g else ""
        kind = "int8" if "int8" in stem else "f32"
        p(f"| 2 | inference `{stem}` ({kind}) at {size}x{size}, {g:.3f} GFLOP/frame | tract | "
          f"{t['ms']:.3f} ms (fastest {t['min_ms']:.3f}; {fmt(ach_t, 2)} GFLOP/s{pk_t}) | onnxruntime, same file | "
          f"{o['ms']:.3f} ms (fastest {o['min_ms']:.3f}; "
          f"{fmt(ach_o, 2)} GFLOP/s{pk_o}) | {o['ms'] / t['ms']:.2f}x | | |")
    for size in sorted({k[1] for k in by}):
        ti = next((v.get("tract") for (s, z), v in by.items() if z == size and "int8" in s), None)
        of = next((v.get("onnxruntime") for (s, z), v in by.items() if z == size and "int8" not in s), None)
        if ti and of:
            ok = ti["ms"] <= of["ms"]
            p(f"| 2 | target at {size}x{size}: tract int8 vs onnxruntime f32 | tract int8 | {ti['ms']:.3f} ms | "
              f"onnxruntime f32 | {of['ms']:.3f} ms | {of['ms'] / ti['ms']:.2f}x | tract int8 <= ORT f32 | {verdict(ok)} |")

    # 3. Whole frame
    if frame:
        o, r = frame["ours"], frame["ref"]
        ratio = r["s"] / o["s"]
        p(f"| 3 | whole frame: {frame['photo']} ({frame['size']}) JPEG -> colourized PNG, process wall time | "
          f"`colorize files --threads 1` | {o['s'] * 1e3:.0f} ms (fastest {o['min_s'] * 1e3:.0f}) | "
          f"Python cv2 + onnxruntime (`bench/reference_pipeline.py`) | {r['s'] * 1e3:.0f} ms "
          f"(fastest {r['min_s'] * 1e3:.0f}) | {ratio:.2f}x | <= 150 ms, >= 1.5x | "
          f"{verdict(o['s'] <= 0.150 and ratio >= 1.5)} ({'ms ok' if o['s'] <= 0.150 else 'ms over'}, "
          f"{'ratio ok' if ratio >= 1.5 else 'ratio short'}) |")
        orss, rrss = o["rss_kib"], r["rss_kib"]
        if orss and rrss:
            p(f"| 3 | whole frame: peak RSS (`/usr/bin/time -v`) | `colorize files` | {orss / 1024:.1f} MiB | "
              f"Python reference | {rrss / 1024:.1f} MiB | {rrss / orss:.2f}x less | <= 64 MB | "
              f"{verdict(orss * 1024 <= 64e6)} |")
        p(f"| 3 | whole frame: PNG size | `colorize files` | {o['bytes'] / 1e6:.2f} MB | Python reference "
          f"(cv2 PNG default) | {r['bytes'] / 1e6:.2f} MB | | | |")

    # 4. Camera loop
    if cam:
        ok = cam["loop_per_frame"] == 0
        p(f"| 4 | camera loop ({cam['size']}, fake camera, embedded model): heap allocations per "
          f"steady-state frame, whole `capture_to_dir` | ours + tract | {cam['loop_per_frame']:.1f} | | | | "
          f"0 | {verdict(ok)} |")
        p(f"| 4 | ... capture -> L* / our code in `Worker::colorize_plane` / PNG encode (`output::encode`) / tract `run` | | "
          f"{cam['capture']:.1f} / {cam['ours_in_colorize']:.1f} / {cam['encode_png']:.1f} / "
          f"{cam['tract_run']:.1f} | | | | 0 | |")
    p("")
    stages = [r for r in rows if r["kind"] == "stage"]
    pngs = [r for r in rows if r["kind"] == "png"]
    if stages:
        p("Where the whole frame's time goes (ours, in process, same photo, one core, median of 5; "
          "start-up, model load and the atomic write are the rest of the process time):")
        p("")
        p("| stage | ms |")
        p("|---|---|")
        names = {"decode": "JPEG decode (`images::open`)", "l_plane": "sRGB8 -> L\\* plane (`lstar::l_plane`)",
                 "predict": f"box filter to {shipped}x{shipped} + tract inference, embedded model "
                            "(`Session::predict`)",
                 "colorize_plane": "predict + bilinear a\\*b\\* upsampling + Lab -> sRGB8 + gamut hold "
                                   "(`pipeline::Worker::colorize_plane`, `recombine::frame`)",
                 "predict_hints1": "the same with 1 colour hint (`Session::set_hints`; the hinted plan)",
                 "predict_hints5": "the same with 5 colour hints",
                 "encode": "PNG encode (`output::encode`)"}
        for r in stages:
            p(f"| {names.get(r['stage'], r['stage'])} | {r['ms']:.1f} |")
        p("")
        costs = {r["hints"]: r for r in rows if r["kind"] == "hint_cost"}
        if costs:
            parts = [f"{c['ratio'] - 1:+.1%} with {n} hint{'s' if n > 1 else ''}" for n, c in sorted(costs.items())]
            p(f"Colour hints on the predict stage: {' and '.join(parts)} (the median ratio of "
              f"{next(iter(costs.values()))['pairs']} back-to-back pairs with and without; target: at most +10 %). "
              "Without hints the model runs only up to its automatic output (`ab_auto`): the base graph, at no cost.")
            p("")
    if pngs:
        prod = next((r for r in pngs if r["setting"] == "product"), None)
        p("PNG settings on the colourized frame (png crate, lossless in every case; the file-size trade-off):")
        p("")
        p("| compression + filter | encode ms | bytes | vs Balanced+Adaptive |")
        p("|---|---|---|---|")
        base = next((r for r in pngs if r["setting"] == "Balanced+Adaptive"), None)
        for r in pngs:
            if r["setting"] == "product":
                continue
            rel = f"{r['bytes'] / base['bytes']:.2f}x size" if base else ""
            p(f"| {r['setting']} | {r['ms']:.1f} | {r['bytes']:,} | {rel} |")
        if prod:
            p(f"| what `colorize files` writes | | {prod['bytes']:,} | |")
        p("")
    if peak:
        p(f"f32 peak of one core: {peak:.0f} GFLOP/s ({peak_how}). The int8 rows are measured "
          "against the same f32 figure, so their percentages compare work done, not the int8 peak.")
        p("")
    p("Notes:")
    p("")
    p(f"- Lab input: {src['source'] if src else '?'}, the same RGB8 buffer for every row. "
      "On x86_64 our plane functions run an AVX2 build of the same integer code when the CPU has "
      "it (runtime detection, as OpenCV dispatches to AVX2/AVX-512); on ARM the same code is "
      "compiled for NEON. "
      "Our rows produce Q8.8 L\\*a\\*b\\* planes (0.004 L\\* steps); OpenCV's 8-bit `COLOR_RGB2Lab` "
      "writes interleaved 8-bit Lab (L\\* in 0.39 steps, a\\*b\\* in whole units). "
      "Lab -> sRGB8 converts the forward result back in each case.")
    skipped = [r for r in rows if r["kind"] == "infer_skip"]
    if skipped:
        big = (f"No 256x256 rows: tract can not run the model at another size than {shipped}x{shipped} "
               f"({skipped[0]['why']}: a global branch with fully connected layers is fixed to the "
               "shipped size). ")
    else:
        big = ("256x256 is the same weights with the declared input and output shapes scaled (the net "
               f"is fully convolutional; the shipped files are fixed at {shipped}x{shipped} and the "
               "device only runs that size). ")
    p("- Inference: the same ONNX file for both runtimes; input 1x1xHxW, median of "
      f"{args.runs} runs after a warm-up. " + big + "GFLOP/frame is 2 x the multiply-adds of tract's "
      "cost model of the graph (convolutions).")
    if frame:
        p(f"- Whole frame: median of {args.frame_runs} runs of the whole process (start-up, model load "
          f"and optimisation included, the embedded model for ours, the same file "
          f"(`{args.embedded}`) for Python), pinned to one core. Ours also does what the reference leaves out: "
          "the out-of-gamut chroma reduction and the atomic, fsynced write. "
          "PNG: ours png crate `Compression::Fast` (fdeflate) with adaptive row filters, "
          "the reference OpenCV's default (zlib level 1); lossless either way.")
        why = reference_pipeline.caveat(args.embedded)
        if why:
            p(f"- Not the same work: {why}.")
    if cam:
        p("- Camera loop: the difference of two `capture_to_dir` runs (20 and 4 frames, fake "
          "640x480 gray camera, PNG files written) over 16 frames, so set-up cancels out; the "
          "stages are counted the same way over 20 frames. tract's `run` allocates its "
          "activations and outputs every call (tract 0.23 has no arena for the CPU plan).")
    p("")
    p("Reproduce: `scripts/bench.sh main` (options: `BENCH_PHOTO=path.jpg`, `BENCH_CPU=n`, "
      "`BENCH_RUNS=n`, `BENCH_FRAME_RUNS=n`; see the script).")
    return "\n".join(out) + "\n"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bench-bin", required=True)
    ap.add_argument("--colorize", required=True)
    ap.add_argument("--photo", default=None)
    ap.add_argument("--model", action="append", default=[])
    ap.add_argument("--work", default=".cache/bench")
    ap.add_argument("--out", default="BENCHMARKS.md")
    ap.add_argument("--cpu", type=int, default=0)
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--frame-runs", type=int, default=7)
    ap.add_argument("--note", default="")
    ap.add_argument("--tract-version", default="?")
    ap.add_argument("--commit", default="?")
    ap.add_argument("--embedded", required=True,
                    help="the ONNX file `colorize` embeds (device/src/lib.rs DEFAULT_MODEL)")
    args = ap.parse_args()

    info = machine()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    photo = Path(args.photo) if args.photo else None
    rows = run_rust_bench(args.bench_bin, args.cpu, photo, work, args.model, args.runs)

    pin(args.cpu)
    cv2.setNumThreads(1)
    src = next(r for r in rows if r["kind"] == "lab_input")
    log("OpenCV Lab")
    rows += opencv_lab(work, src["width"], src["height"], 7)
    log("onnxruntime")
    for m in args.model:
        rows.append(ort_infer(m, args.runs))
        big = work / f"{Path(m).stem}-256.onnx"
        if big.exists():  # the bench example writes it only for a fully convolutional model
            rows.append(ort_infer(big, args.runs))

    frame = None
    jpg = Path(next(r for r in rows if r["kind"] == "frame_input")["path"])
    log(f"whole frame on {jpg}")
    with tempfile.TemporaryDirectory(dir=work) as tmp:
        tmp = Path(tmp)
        ours_cmd = [str(Path(args.colorize).resolve()), "files", str(jpg), "--out", str(tmp / "ours"),
                    "--threads", "1"]
        embedded = args.embedded
        ref_out = tmp / "ref.png"
        ref_cmd = [sys.executable, str(HERE / "reference_pipeline.py"), str(jpg), str(ref_out), str(embedded)]
        s_o, min_o, rss_o = timed_process(ours_cmd, args.cpu, args.frame_runs)
        s_r, min_r, rss_r = timed_process(ref_cmd, args.cpu, args.frame_runs)
        ours_png = next((tmp / "ours").glob("*.png"))
        img = cv2.imread(str(jpg), cv2.IMREAD_UNCHANGED)
        frame = {
            "photo": jpg.name, "size": f"{img.shape[1]}x{img.shape[0]}",
            "ours": {"s": s_o, "min_s": min_o, "rss_kib": rss_o, "bytes": ours_png.stat().st_size},
            "ref": {"s": s_r, "min_s": min_r, "rss_kib": rss_r, "bytes": ref_out.stat().st_size},
        }
    for r in rows:
        print(json.dumps(r), file=sys.stderr)
    text = report(info, rows, frame, args)
    # The other generated sections (six photos, ARM counts) are kept;
    # anything not generated is dropped (bench/sections.py).
    sections.write_section(args.out, "main", text)
    print(text)


if __name__ == "__main__":
    main()
