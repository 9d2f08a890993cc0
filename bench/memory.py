#!/usr/bin/env python3
"""Estimated against measured peak memory, one row per kind of input
(issue 37), `scripts/bench.sh memory`.

For each input: `colorize info --estimate FILE --threads 1 --memory BIG`
gives the program's share (its resident memory once the model is loaded,
and one worker's session) and the image's estimated need, read from its
header; `/usr/bin/time` gives the peak RSS of `colorize files FILE
--threads 1`. The estimate must be within 25 % of the measurement and
never under it by more than 10 %.

The inputs are made by the `make_master` example from one photo tiled
to size (device/examples/make_master.rs), plus the photos themselves for
progressive JPEGs. Writes its section of BENCHMARKS.md (bench/sections.py)
and exits 1 if a row is out of bounds.
"""
import argparse
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import sections  # noqa: E402

MIB = 1 << 20
# (label, make_master kind or None for a photo as it is, size, extension,
#  output format)
ROWS = [
    ("8-bit RGB JPEG (baseline)", "rgb8-jpeg", "6000x4000", "jpg", "png"),
    ("8-bit RGB JPEG (progressive 4:4:4, a photo)", None, "Autumn-2560x1600.jpg", "jpg", "png"),
    ("8-bit RGB JPEG (progressive 4:2:2, a photo)", None, "ColorfulCups-2560x1600.jpg", "jpg", "png"),
    ("8-bit RGB PNG", "rgb8-png", "6000x4000", "png", "png"),
    ("16-bit gray PNG", "gray16-png", "6000x4000", "png", "png"),
    ("16-bit RGB PNG", "rgb16-png", "6000x4000", "png", "png"),
    ("16-bit gray TIFF", "gray16-tiff", "6000x4000", "tif", "png"),
    ("16-bit RGB TIFF", "rgb16-tiff", "6000x4000", "tif", "png"),
    ("8-bit RGB PNG, ICC-tagged (Adobe RGB compatible)", "rgb8-png-icc", "6000x4000", "png", "png"),
    ("16-bit gray TIFF into JPEG", "gray16-tiff", "6000x4000", "tif", "jpeg"),
    ("A4 at 1200 dpi: 16-bit gray TIFF, 139 Mpixel", "gray16-tiff", "9920x14032", "tif", "png"),
]
ICC = "/usr/share/color/icc/compatibleWithAdobeRGB1998.icc"


def log(msg):
    print(f"memory: {msg}", file=sys.stderr, flush=True)


def estimate(colorize, path, fmt):
    out = subprocess.run(
        [colorize, "info", "--estimate", str(path), "--threads", "1", "--memory", "100000",
         "--format", fmt],
        check=True, capture_output=True, text=True).stdout
    program = int(re.search(r"less (\d+) MiB for the program", out).group(1))
    line = [x for x in out.splitlines() if x.startswith(str(path))][0]
    m = re.search(r": (.*), needs about (\d+) MiB", line)
    return m.group(1), program, int(m.group(2))


def measure(colorize, path, fmt, work):
    res = subprocess.run(
        ["/usr/bin/time", "-f", "%M", colorize, "files", str(path), "--out", str(work / "out"),
         "--threads", "1", "--format", fmt],
        check=True, capture_output=True, text=True)
    return int(res.stderr.strip().splitlines()[-1]) * 1024 / MIB


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--colorize", required=True)
    ap.add_argument("--make-master", required=True)
    ap.add_argument("--photos", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--commit", required=True)
    ap.add_argument("--note", default="")
    args = ap.parse_args()

    photos = Path(args.photos)
    source = photos / "Path-2560x1600.jpg"
    rows, bad = [], []
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_TMP")) as tmp:
        work = Path(tmp)
        for label, kind, size, ext, fmt in ROWS:
            if kind is None:
                path = photos / size
            else:
                path = work / f"{kind}-{size}.{ext}"
                if not path.exists():
                    cmd = [args.make_master, str(source), kind, size, str(path)]
                    if kind.endswith("-icc"):
                        cmd.append(ICC)
                    subprocess.run(cmd, check=True)
            described, program, need = estimate(args.colorize, path, fmt)
            measured = measure(args.colorize, path, fmt, work)
            est = program + need
            ratio = est / measured
            ok = 0.9 <= ratio <= 1.25
            if not ok:
                bad.append(label)
            log(f"{label}: estimated {est} MiB, measured {measured:.0f} MiB ({ratio:.2f})")
            rows.append(f"| {label} | {described} | {fmt.upper()} | {program} + {need} = {est} MiB "
                        f"| {measured:.0f} MiB | {ratio:.2f} | {'yes' if ok else '**no**'} |")
            if kind is not None and size == "9920x14032":
                path.unlink()
    cpu = "unknown CPU"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    note = f"; {args.note}" if args.note else ""
    body = f"""## Memory: estimated and measured peak (issue 37)

Written by `scripts/bench.sh memory` on {when} at commit {args.commit}: each input colourized alone by `colorize files FILE --threads 1` (release build, embedded model), its peak RSS from `/usr/bin/time`; the estimate is what the memory budget charges, as `colorize info --estimate FILE --threads 1` prints it: the program's share (its resident memory once the model is loaded, and one worker's session) plus the image's need from its header (`colorize_io::memory::estimate`). Inputs other than the photos are one photo (Path-2560x1600.jpg) tiled to size by `device/examples/make_master.rs`. {cpu}, {platform.machine()}{note}. Bounds: within 25 % of the measurement, never under it by more than 10 % (estimate / measured between 0.90 and 1.25).

| input | header | output | estimate (program + image) | measured peak RSS | estimate / measured | in bounds |
|---|---|---|---|---|---|---|
""" + "\n".join(rows) + """

Reproduce: `scripts/bench.sh memory`."""
    sections.write_section(args.out, "memory", body)
    if bad:
        log(f"out of bounds: {', '.join(bad)}")
        sys.exit(1)


if __name__ == "__main__":
    main()
