#!/usr/bin/env python3
"""The ARM section of BENCHMARKS.md, `scripts/bench.sh arm`: takes the table
`scripts/insn-count.sh` printed (guest instructions per frame stage under
qemu-user, aarch64 and armv7, f32 and int8 model) and writes it with a frame
total and the figures derived from it (int8 / f32 predict, the model's share
of the frame). Every number in the section comes from that table.

    python bench/arm.py --table insn.md --photo PHOTO --qemu "qemu-aarch64 version 7.2.x" \
        --commit abc1234 --out BENCHMARKS.md
"""
import argparse
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import sections  # noqa: E402

STAGES = ["decode", "L\\* plane", "predict", "recombination", "PNG encode"]


def parse(table):
    """{(target, model): [M instructions per stage]} from insn-count.sh's table."""
    rows = {}
    for line in table.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 2 + len(STAGES) or cells[0] in ("target", "") or cells[0].startswith("---"):
            continue
        rows[(cells[0], cells[1])] = [float(c.removesuffix(" M")) for c in cells[2:]]
    if not rows:
        raise SystemExit(f"arm.py: no rows in the table:\n{table}")
    return rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--table", required=True, help="the output of scripts/insn-count.sh")
    ap.add_argument("--photo", required=True)
    ap.add_argument("--qemu", default="qemu-user")
    ap.add_argument("--repeat", default="2")
    ap.add_argument("--embedded", required=True)
    ap.add_argument("--commit", default="?")
    ap.add_argument("--out", default="BENCHMARKS.md")
    args = ap.parse_args()
    rows = parse(Path(args.table).read_text())

    lines = ["## ARM instruction counts (issue 17)", ""]
    lines.append(
        f"Written by `scripts/bench.sh arm` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} at "
        f"commit {args.commit}: guest instructions per frame stage of the `--release` aarch64 and armv7 "
        f"builds of `device/examples/stages.rs`, counted exactly under {args.qemu} by a TCG plugin "
        "(`scripts/insn/insn.c`: every translated block adds its instruction count, inline, each time "
        "it runs). `scripts/insn-count.sh` runs each stage 0 and "
        f"{args.repeat} times after the same setup and prints the difference per run. Photo: "
        f"`{Path(args.photo).name}`; models: `models/colorize-default.onnx` (f32) and "
        f"`models/colorize-default-int8.onnx` (int8); millions of instructions.")
    lines.append("")
    lines.append("| target | model | " + " | ".join(STAGES) + " | frame (sum) | predict share |")
    lines.append("|---" * (len(STAGES) + 4) + "|")
    for (target, model), v in rows.items():
        total = sum(v)
        lines.append(f"| {target} | {model} | " + " | ".join(f"{x:.1f} M" for x in v)
                     + f" | {total:.0f} M | {100 * v[2] / total:.0f} % |")
    lines.append("")
    targets = sorted({t for t, _ in rows})
    ratio = []
    for t in targets:
        f, i = rows.get((t, "f32")), rows.get((t, "int8"))
        if f and i:
            ratio.append(f"{i[2] / f[2]:.1f}x on {t}")
    kind = "int8" if "int8" in Path(args.embedded).name else "f32"
    lines.append(
        "How to read it: \"predict\" is the model at its input size plus the box filter of the full "
        "L\\* plane down to it; it is the only stage that depends on the model, so the other stages "
        "are measured once per target. Instruction counts are not cycles (a NEON instruction does "
        "more than a scalar one; memory stalls are not counted), so a timing on a real board may "
        "rank the stages differently. Rust's `armv7-unknown-linux-gnueabihf` target has no NEON.")
    lines.append("")
    if ratio:
        lines.append(f"tract's int8 graph takes {', '.join(ratio)} the f32 graph's instructions to predict; "
                     f"the embedded model is the {kind} file (`{args.embedded}`; models/README.md, "
                     "\"Which file is embedded\").")
        lines.append("")
    lines.append("Reproduce: `scripts/bench.sh arm` (`scripts/insn-count.sh [PHOTO]` prints the table alone).")
    section = "\n".join(lines)
    sections.write_section(args.out, "arm", section)
    print(section)


if __name__ == "__main__":
    main()
