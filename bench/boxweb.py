#!/usr/bin/env python3
"""The box with its web page on and a client hammering it (issue 29),
`scripts/bench.sh web`: `colorize box --drain` over an inbox of N scans,
web page off against web page on with a client fetching `/api/status`
back to back (one request at a time, new connection each, loopback only,
until the box exits), in one run, rounds interleaved (off, on, on, off, ...)
so that load on a shared machine hits both alike. The box is not pinned:
it colourizes on one thread, the page and the client share the rest.

The scans are the photos given, turned gray and scaled to `--width`
pixels wide (OpenCV), cycled to N files. With the page on, the box also
writes a thumbnail per scan: that is part of the cost measured.

Writes its section of BENCHMARKS.md (bench/sections.py).
"""
import argparse
import http.client
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import sections  # noqa: E402


def log(msg):
    print(f"web: {msg}", file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def hammer(port, done, counts):
    """GET /api/status back to back until `done` is set."""
    while not done.is_set():
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            c.request("GET", "/api/status")
            r = c.getresponse()
            r.read()
            c.close()
            counts["ok" if r.status == 200 else "other"] += 1
        except OSError:
            counts["refused"] += 1  # not listening yet, or already gone
            time.sleep(0.01)


def one_run(colorize, scans, web, work):
    """Wall seconds of `colorize box --drain` over `scans`; requests served."""
    root = Path(tempfile.mkdtemp(dir=work))
    inbox, out = root / "inbox", root / "out"
    inbox.mkdir()
    for s in scans:
        shutil.copy(s, inbox / s.name)
    port = free_port()
    cfg = root / "box.toml"
    cfg.write_text(
        f'[output]\ndir = "{out}"\n[inbox]\ndir = "{inbox}"\npoll_ms = 100\n'
        f"[limits]\nmin_free_mb = 1\n"
        f'[web]\nenabled = {"true" if web else "false"}\nbind = "127.0.0.1:{port}"\n'
    )
    counts = {"ok": 0, "other": 0, "refused": 0}
    done = threading.Event()
    client = threading.Thread(target=hammer, args=(port, done, counts)) if web else None
    t = time.perf_counter()
    proc = subprocess.Popen([str(colorize), "box", "--config", str(cfg), "--drain"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if client:
        client.start()
    _, err = proc.communicate()
    wall = time.perf_counter() - t
    done.set()
    if client:
        client.join()
    if proc.returncode != 0:
        raise SystemExit(f"colorize box failed:\n{err[-2000:]}")
    made = len(list(out.glob("*.png")))
    if made != len(scans):
        raise SystemExit(f"colorize box wrote {made} outputs for {len(scans)} scans:\n{err[-2000:]}")
    shutil.rmtree(root)
    return wall, counts


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--colorize", required=True, help="a colorize built with the `web` feature")
    ap.add_argument("--photos", nargs="+", required=True)
    ap.add_argument("--scans", type=int, default=50)
    ap.add_argument("--width", type=int, default=1024)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--out", default="BENCHMARKS.md")
    ap.add_argument("--commit", default="")
    ap.add_argument("--note", default="")
    args = ap.parse_args()
    import cv2

    work = Path(tempfile.mkdtemp(prefix="colorize-web-bench-"))
    scans = []
    for i in range(args.scans):
        src = args.photos[i % len(args.photos)]
        img = cv2.imread(src, cv2.IMREAD_GRAYSCALE)
        h, w = img.shape
        img = cv2.resize(img, (args.width, round(h * args.width / w)), interpolation=cv2.INTER_AREA)
        p = work / f"scan-{i:03d}.jpg"
        cv2.imwrite(str(p), img, [cv2.IMWRITE_JPEG_QUALITY, 92])
        scans.append(p)
    size = f"{args.width}x{img.shape[0]}"

    load0 = os.getloadavg()
    log("warm-up round (page off)")
    one_run(args.colorize, scans, False, work)
    walls = {False: [], True: []}
    served = []
    for r in range(args.rounds):
        for web in ((False, True) if r % 2 == 0 else (True, False)):
            wall, counts = one_run(args.colorize, scans, web, work)
            walls[web].append(wall)
            if web:
                served.append(counts["ok"] / wall)
            log(f"round {r + 1}: page {'on' if web else 'off'}: {wall:.2f} s"
                + (f", {counts['ok']} status requests served" if web else ""))
    load1 = os.getloadavg()
    off, on = statistics.median(walls[False]), statistics.median(walls[True])
    ratio = on / off
    from run import machine, verdict  # the other sections' machine line and verdicts
    cpu = machine()["cpu"]
    ok = verdict(ratio <= 1.10)
    lines = ["## The box's web page under load (issue 29)", ""]
    lines.append(
        f"Written by `scripts/bench.sh web` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} at "
        f"commit {args.commit}: `colorize box --drain` (release build with the `web` feature, embedded "
        f"model) over an inbox of {args.scans} gray JPEG scans of {size} "
        f"({', '.join(Path(p).name for p in args.photos)}, cycled), with `[web]` off, and on with a "
        "client fetching `/api/status` back to back over loopback (one request at a time, a new "
        "connection each) for the whole run; the page on also writes a thumbnail per scan. Median of "
        f"{args.rounds} interleaved rounds after a warm-up; the whole process, model load included. "
        f"{cpu}, {os.cpu_count()} cores, not pinned; load average {load0[0]:.2f} at the start, "
        f"{load1[0]:.2f} at the end{'; ' + args.note if args.note else ''}.")
    lines += ["", "| page | wall time, {} scans | per scan | status requests served | on vs off | target | met? |"
              .format(args.scans), "|---|---|---|---|---|---|---|"]
    lines.append(f"| off | {off:.2f} s | {1000 * off / args.scans:.0f} ms | | | | |")
    lines.append(f"| on, hammered | {on:.2f} s | {1000 * on / args.scans:.0f} ms | "
                 f"{statistics.median(served):.0f} per second | {ratio:.3f}x its time | <= 1.10x | {ok} |")
    lines += ["", "Reproduce: `scripts/bench.sh web`."]
    section = "\n".join(lines)
    sections.write_section(args.out, "web", section)
    print(section)
    shutil.rmtree(work)


if __name__ == "__main__":
    main()
