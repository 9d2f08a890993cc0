#!/usr/bin/env python3
"""Equal CPU time, lite against ctx: each run's validation curve (the
trainer's held-out split, the same 9,639 images for both) put on one time
axis, this machine's, so that the two recipes are compared at the same cost.

A run's own `seconds` column is not comparable across machines and loads
(ctx trained on an Intel Xeon with AMX in bf16, lite on a 2-core AMD EPYC
sharing its cores with builds), so time is counted as image-passes at the
training rate `colorize-train bench` measures for each arch on one machine,
plus, for lite, the one-off pass of the frozen encoder over the data set.

usage: scripts/equal-time.py --ctx CSV --ctx-rate IMG_S
           --lite CSV [--lite CSV ...] --lite-rate IMG_S --encoder-rate IMG_S
           [--images 86747] [--svg OUT.svg]
Prints a Markdown table; writes the figure with --svg. Standard library only.
"""
import argparse
import csv


def read(path):
    with open(path) as f:
        return [
            {k: float(v) for k, v in row.items()} for row in csv.DictReader(f)
        ]


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--ctx", required=True, help="ctx run's metrics.csv")
    p.add_argument("--ctx-rate", type=float, required=True, help="ctx training images/s")
    p.add_argument("--lite", action="append", required=True,
                   help="lite runs' metrics.csv, in order (a later run starts from the earlier's weights)")
    p.add_argument("--lite-rate", type=float, required=True, help="lite head training images/s")
    p.add_argument("--encoder-rate", type=float, required=True,
                   help="images/s of the frozen encoder's one pass over the data")
    p.add_argument("--images", type=int, default=86747, help="training images an epoch")
    p.add_argument("--svg")
    a = p.parse_args()

    n = a.images
    # (CPU-minutes, gain, ratio, label) at each epoch's end.
    ctx = [((r["epoch"] * n / a.ctx_rate) / 60, r["val_psnr"] - r["val_psnr_gray"],
            r["val_colourfulness_ratio"], f"ctx epoch {int(r['epoch'])}") for r in read(a.ctx)]
    encoder_minutes = n / a.encoder_rate / 60
    t = encoder_minutes * 60
    lite = []
    for i, path in enumerate(a.lite):
        for r in read(path):
            t += n / a.lite_rate
            lite.append((t / 60, r["val_psnr"] - r["val_psnr_gray"],
                         r["val_colourfulness_ratio"], f"lite run {i + 1} epoch {int(r['epoch'])}"))

    def best_by(curve, minutes):
        # What a run would ship by then: its best val epoch so far.
        done = [c for c in curve if c[0] <= minutes + 1e-9]
        return max(done, key=lambda c: c[1]) if done else None

    print(f"Time: image-passes at {a.ctx_rate:.0f} images/s (ctx), {a.lite_rate:.0f} images/s (lite's head), "
          f"plus lite's encoder pass over {n:,} images at {a.encoder_rate:.0f} images/s "
          f"({encoder_minutes:.0f} min).\n")
    print("| CPU time (this machine) | lite: best val so far | gain | ratio | ctx: best val so far | gain | ratio |")
    print("|---|---|---|---|---|---|---|")
    for m, g, c, label in lite:
        b = best_by(lite, m)
        cb = best_by(ctx, m)
        cs = f"{cb[3]} | {cb[1]:+.3f} dB | {cb[2]:.3f}" if cb else "no epoch yet | | "
        print(f"| {m:.0f} min | {b[3]} | {b[1]:+.3f} dB | {b[2]:.3f} | {cs} |")
    end = ctx[-1][0]
    cb = best_by(ctx, end)
    lb = best_by(lite, end)
    print(f"| {end:.0f} min (ctx's 10 epochs) | {lb[3]} | {lb[1]:+.3f} dB | {lb[2]:.3f} | "
          f"{cb[3]} | {cb[1]:+.3f} dB | {cb[2]:.3f} |")

    if a.svg:
        write_svg(a.svg, [("ctx", "#1f77b4", ctx), ("lite", "#d62728", lite)], encoder_minutes)


def write_svg(path, series, encoder_minutes):
    w, h, left, right, top, bottom = 720, 400, 70, 20, 30, 50
    xs = [c[0] for _, _, s in series for c in s] + [0]
    ys = [c[1] for _, _, s in series for c in s] + [0]
    x0, x1 = 0, max(xs) * 1.05
    y0, y1 = min(0, min(ys)), max(ys) * 1.1

    def X(v):
        return left + (v - x0) / (x1 - x0) * (w - left - right)

    def Y(v):
        return h - bottom - (v - y0) / (y1 - y0) * (h - top - bottom)

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" '
           f'font-family="sans-serif" font-size="12">',
           f'<rect width="{w}" height="{h}" fill="white"/>',
           f'<text x="{w / 2}" y="18" text-anchor="middle">val PSNR gain over gray (trainer split) '
           f'against CPU time on this machine</text>']
    for i in range(6):
        v = y0 + (y1 - y0) * i / 5
        out.append(f'<line x1="{left}" x2="{w - right}" y1="{Y(v):.1f}" y2="{Y(v):.1f}" stroke="#ddd"/>')
        out.append(f'<text x="{left - 6}" y="{Y(v) + 4:.1f}" text-anchor="end">{v:+.2f} dB</text>')
    for i in range(6):
        v = x0 + (x1 - x0) * i / 5
        out.append(f'<text x="{X(v):.1f}" y="{h - bottom + 18}" text-anchor="middle">{v:.0f}</text>')
    out.append(f'<text x="{w / 2}" y="{h - 10}" text-anchor="middle">CPU minutes (2 cores)</text>')
    out.append(f'<line x1="{X(encoder_minutes):.1f}" x2="{X(encoder_minutes):.1f}" y1="{top}" '
               f'y2="{h - bottom}" stroke="#d62728" stroke-dasharray="4 4"/>')
    out.append(f'<text x="{X(encoder_minutes) + 4:.1f}" y="{top + 14}" fill="#d62728">'
               f'lite: encoder pass done</text>')
    for k, (name, colour, s) in enumerate(series):
        pts = " ".join(f"{X(c[0]):.1f},{Y(c[1]):.1f}" for c in s)
        out.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{pts}"/>')
        for c in s:
            out.append(f'<circle cx="{X(c[0]):.1f}" cy="{Y(c[1]):.1f}" r="3" fill="{colour}"/>')
        out.append(f'<text x="{w - right - 60}" y="{h - bottom - 20 - 16 * k}" fill="{colour}">{name}</text>')
    out.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
