#!/usr/bin/env python3
"""Colour hints against their count: a model that takes hints, scored by
`colorize eval --hints random:N` (points drawn from each truth, the same
points in every run) at N = 0, 1, 2, 5, 10 and 20 on val (the first 1,000
files of val.tar.gz, as scripts/score-model.sh extracts them) and on
photo-val. Writes OUT.csv (one row per set and N: gain, colourfulness
ratio, hints followed, spread) and OUT.svg (gain against N, one line per
set), and prints the Markdown table the model card and README cite.

usage: scripts/hint-curve.py MODEL.onnx OUT (e.g. models/hints)
env:   COLORIZE (the binary; default target/release/colorize),
       VAL (default $COLORIZE_CACHE/val1000), PHOTO_VAL (default ../shared/data/photo-val)
Standard library only.
"""
import csv
import json
import os
import subprocess
import sys

POINTS = [0, 1, 2, 5, 10, 20]
COLOURS = {"val": "#1f77b4", "photo-val": "#d62728"}


def run(binary, model, truth, n):
    cmd = [binary, "eval", "--model", model, "--truth", truth]
    if n:
        cmd += ["--hints", f"random:{n}"]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def svg(rows, path):
    w, h, left, bottom, top, right = 520, 320, 56, 40, 16, 110
    gains = [r["gain"] for r in rows]
    lo, hi = min(0.0, min(gains)), max(gains) * 1.05
    xs = {n: left + (w - left - right) * i / (len(POINTS) - 1) for i, n in enumerate(POINTS)}

    def y(v):
        return top + (h - top - bottom) * (1 - (v - lo) / (hi - lo))

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="12">',
           f'<rect width="{w}" height="{h}" fill="white"/>']
    step = 1.0 if hi - lo > 4 else 0.5
    v = 0.0
    while v <= hi:
        out.append(f'<line x1="{left}" x2="{w - right}" y1="{y(v):.1f}" y2="{y(v):.1f}" stroke="#ddd"/>')
        out.append(f'<text x="{left - 6}" y="{y(v) + 4:.1f}" text-anchor="end">{v:+.1f}</text>')
        v += step
    for n, x in xs.items():
        out.append(f'<text x="{x:.1f}" y="{h - bottom + 16}" text-anchor="middle">{n}</text>')
    out.append(f'<text x="{(left + w - right) / 2:.0f}" y="{h - 6}" text-anchor="middle">colour hints per image (drawn from the truth)</text>')
    out.append(f'<text x="14" y="{(top + h - bottom) / 2:.0f}" text-anchor="middle" transform="rotate(-90 14 {(top + h - bottom) / 2:.0f})">PSNR gain over gray (dB)</text>')
    for k, (name, colour) in enumerate(COLOURS.items()):
        pts = [(xs[r["points"]], y(r["gain"])) for r in rows if r["set"] == name]
        if not pts:
            continue
        out.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{" ".join(f"{a:.1f},{b:.1f}" for a, b in pts)}"/>')
        out += [f'<circle cx="{a:.1f}" cy="{b:.1f}" r="3" fill="{colour}"/>' for a, b in pts]
        out.append(f'<text x="{w - right + 8}" y="{top + 16 + 18 * k}" fill="{colour}">{name}</text>')
    out.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    model, out = sys.argv[1], sys.argv[2]
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    binary = os.environ.get("COLORIZE", os.path.join(root, "target/release/colorize"))
    cache = os.environ.get("COLORIZE_CACHE", os.path.expanduser("~/.cache/colorize"))
    sets = {"val": os.environ.get("VAL", os.path.join(cache, "val1000")),
            "photo-val": os.environ.get("PHOTO_VAL", os.path.join(root, "../shared/data/photo-val"))}
    rows = []
    for name, truth in sets.items():
        for n in POINTS:
            r = run(binary, model, truth, n)
            rows.append({"set": name, "points": n, "gain": r["psnr_gain"],
                         "ratio": r["colourfulness_ratio"], "images": r["images"],
                         "hints_in_gamut": r.get("hints_in_gamut", ""),
                         "fidelity": r.get("hint_fidelity", ""), "spread": r.get("hint_spread", "")})
            print(f"{name} {n:2} points: gain {r['psnr_gain']:+.3f} dB", file=sys.stderr)
    with open(out + ".csv", "w", newline="") as f:
        wr = csv.DictWriter(f, fieldnames=list(rows[0]))
        wr.writeheader()
        wr.writerows(rows)
    svg(rows, out + ".svg")
    print("| set | points | gain (dB) | colourfulness ratio | hints followed (ΔE_ab <= 6, of those in gamut) | spread (share of the hint's truth region within ΔE_ab 10) |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        fid = f"{r['fidelity']:.1%} of {r['hints_in_gamut']}" if r["points"] else ""
        spread = f"{r['spread']:.1%}" if r["points"] else ""
        print(f"| {r['set']} | {r['points']} | {r['gain']:+.3f} | {r['ratio']:.3f} | {fid} | {spread} |")


if __name__ == "__main__":
    main()
