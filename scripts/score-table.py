#!/usr/bin/env python3
"""Markdown table of `scripts/score-model.sh` outputs, for model cards.

usage: scripts/score-table.py LABEL=FILE.jsonl [LABEL=FILE.jsonl ...]
One row per (set, model, vividness), sets in first-seen order; the shares
of green pixels (a* < -5) in the originals and the outputs of the green
check's photos (score-model.sh's `green:` lines; older files' Path line),
where the files have them, are listed under the table. Standard library
only.
"""
import json
import re
import sys


def main():
    if len(sys.argv) < 2 or any("=" not in a for a in sys.argv[1:]):
        sys.exit(__doc__.strip())
    rows, sets, green, old_green = {}, [], {}, []
    for arg in sys.argv[1:]:
        label, path = arg.split("=", 1)
        for line in open(path):
            if line.startswith("{"):
                d = json.loads(line)
                r = d["result"]
                if d["set"] not in sets:
                    sets.append(d["set"])
                v = r.get("vividness", "-")
                rows.setdefault(d["set"], []).append((label, v, r))
                continue
            m = re.match(r"green: (\S+) original ([\d.]+) % model ([\d.]+) %(?: vividness (\S+))?", line)
            if m:
                photo, orig, out, v = m.groups()
                g = green.setdefault(photo, [orig, []])
                g[1].append(f"{label}" + (f" at {v}" if v else "") + f" {out} %")
                continue
            m = re.search(r"tmp\.\w+/(\S+): ([\d.]+) % of pixels with a\* < -5", line)
            if m:
                old_green.append(f"{label}: {m.group(2)} %")
    print("| set | model | vividness | PSNR | predict-gray | gain | colourfulness ratio | AuC |")
    print("|---|---|---|---|---|---|---|---|")
    for s in sets:
        for label, v, r in rows[s]:
            print(f"| {s} ({r['images']}) | {label} | {v} | {r['psnr']:.3f} | {r['psnr_gray']:.3f} | "
                  f"{r['psnr_gain']:+.3f} dB | {r['colourfulness_ratio']:.3f} | {r['auc']:.4f} |")
    if green:
        print("\nShare of pixels with a\\* < -5 (green), original and outputs:\n")
        for photo, (orig, outs) in green.items():
            print(f"- `{photo}`: original {orig} %; " + "; ".join(outs))
    if old_green:
        print("\nShare of `Path-2560x1600.jpg`'s output pixels with a\\* < -5: " + "; ".join(old_green) + ".")


if __name__ == "__main__":
    main()
