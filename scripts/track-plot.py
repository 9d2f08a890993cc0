#!/usr/bin/env python3
"""Equal CPU time from scripts/track-runs.py's photo-track.csv files: each
run's val and photo-val gain and colourfulness ratio against the CPU
seconds its trainer had used (feature cache included), as a Markdown table
and an SVG figure of two panels (gain, ratio).

A row whose trainer had already exited when it was scored, from a trainer
that did not yet record its CPU time, has no CPU seconds; it takes the
run's last known CPU seconds per training second, and the table marks
it with ~ (an estimate).

With --origin, every run starts from that point at 0 CPU minutes: the
model the runs were initialised from (scored with scripts/score-model.sh).

A run that read a feature cache another run computed did not pay for it:
--offset LABEL=MIN adds those CPU minutes to its points.

usage: scripts/track-plot.py LABEL=RUN/photo-track.csv [...] [--svg OUT.svg]
           [--origin VAL_GAIN,VAL_RATIO,PV_GAIN,PV_RATIO] [--offset LABEL=MIN ...]
Standard library only.
"""
import argparse
import csv

COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd"]


def read(path):
    rows = [r for r in csv.DictReader(open(path))]
    per_train_second = None
    out = []
    for r in rows:
        train = float(r["train_seconds"])
        estimated = not r["cpu_seconds"]
        if r["cpu_seconds"]:
            cpu = float(r["cpu_seconds"])
            if train > 0:
                per_train_second = cpu / train
        elif per_train_second is not None:
            cpu = train * per_train_second
        else:
            continue
        out.append({"cpu_min": cpu / 60, "estimated": estimated, "images": int(r["images_seen"]),
                    "val_gain": float(r["val_gain"]), "val_ratio": float(r["val_ratio"]),
                    "pv_gain": float(r["photo_val_gain"]), "pv_ratio": float(r["photo_val_ratio"]),
                    "green": [r[k] for k in r if k.startswith("green_") and "truth" not in k]})
    return out


def svg(path, series):
    w, h, pad = 760, 300, 50
    panels = [("gain over gray (dB)", "val_gain", "pv_gain"), ("colourfulness ratio", "val_ratio", "pv_ratio")]
    xmax = max(p["cpu_min"] for _, s in series for p in s) or 1
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h * 2}" font-family="sans-serif" font-size="12">',
             f'<rect width="{w}" height="{h * 2}" fill="white"/>']
    for k, (title, vk, pk) in enumerate(panels):
        top = k * h
        vals = [p[key] for _, s in series for p in s for key in (vk, pk)]
        lo, hi = min(vals), max(vals)
        lo, hi = lo - 0.05 * (hi - lo or 1), hi + 0.05 * (hi - lo or 1)

        def X(v):
            return pad + (w - 2 * pad) * v / xmax

        def Y(v, top=top, lo=lo, hi=hi):
            return top + h - pad + -(h - 2 * pad) * (v - lo) / (hi - lo)

        parts.append(f'<text x="{w / 2}" y="{top + 20}" text-anchor="middle">{title}: val (solid), photo-val (dashed)</text>')
        parts.append(f'<line x1="{pad}" y1="{top + h - pad}" x2="{w - pad}" y2="{top + h - pad}" stroke="black"/>')
        parts.append(f'<line x1="{pad}" y1="{top + pad}" x2="{pad}" y2="{top + h - pad}" stroke="black"/>')
        for t in range(5):
            v = lo + (hi - lo) * t / 4
            parts.append(f'<text x="{pad - 4}" y="{Y(v):.1f}" text-anchor="end">{v:.2f}</text>')
            m = xmax * t / 4
            parts.append(f'<text x="{X(m):.1f}" y="{top + h - pad + 15}" text-anchor="middle">{m:.0f}</text>')
        parts.append(f'<text x="{w / 2}" y="{top + h - 12}" text-anchor="middle">trainer CPU minutes (feature cache included)</text>')
        for i, (label, s) in enumerate(series):
            c = COLOURS[i % len(COLOURS)]
            for key, dash in [(vk, ""), (pk, ' stroke-dasharray="5,3"')]:
                pts = " ".join(f"{X(p['cpu_min']):.1f},{Y(p[key]):.1f}" for p in s)
                parts.append(f'<polyline points="{pts}" fill="none" stroke="{c}" stroke-width="2"{dash}/>')
            if k == 0:
                # Bottom left: the curves start at the top left and fall.
                y = top + h - pad - 10 - 15 * (len(series) - 1 - i)
                parts.append(f'<text x="{pad + 10}" y="{y}" fill="{c}">{label}</text>')
    parts.append("</svg>")
    open(path, "w").write("\n".join(parts) + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("runs", nargs="+", help="LABEL=path/to/photo-track.csv")
    ap.add_argument("--svg")
    ap.add_argument("--origin", help="VAL_GAIN,VAL_RATIO,PV_GAIN,PV_RATIO of the starting model")
    ap.add_argument("--offset", action="append", default=[], help="LABEL=CPU minutes to add")
    a = ap.parse_args()
    offsets = {k: float(v) for k, v in (o.rsplit("=", 1) for o in a.offset)}
    series = []
    for spec in a.runs:
        label, path = spec.split("=", 1)
        points = read(path)
        for p in points:
            p["cpu_min"] += offsets.get(label, 0.0)
        if a.origin:
            vg, vr, pg, pr = (float(v) for v in a.origin.split(","))
            points.insert(0, {"cpu_min": 0.0, "estimated": False, "images": 0, "val_gain": vg, "val_ratio": vr,
                              "pv_gain": pg, "pv_ratio": pr, "green": []})
        series.append((label, points))
    print("| run | CPU min | images | val gain | val ratio | photo-val gain | photo-val ratio | green: Path / GreenMeadow / RainDrops / OneStandsOut (%) |")
    print("|---|---|---|---|---|---|---|---|")
    for label, s in series:
        for p in s:
            cpu = ("~" if p["estimated"] else "") + f"{p['cpu_min']:.0f}"
            print(f"| {label} | {cpu} | {p['images']:,} | {p['val_gain']:+.3f} | {p['val_ratio']:.3f} | "
                  f"{p['pv_gain']:+.3f} | {p['pv_ratio']:.3f} | {' / '.join(p['green'])} |")
    if a.svg:
        svg(a.svg, series)


if __name__ == "__main__":
    main()
