#!/usr/bin/env bash
# One hint on a whole object: GreenMeadow (../shared/data/photo-val) with a
# single grass-green point at its centre (sRGB #4c8c2b, a colour a person
# would call grass green, not read from the photo), through the real
# `colorize files --hint`, and the share of the output's pixels with
# a* < -5 (`colorize eval --per-image` reads it from the output as a
# truth), beside the same without the hint and the original's.
#
# usage: scripts/hint-green.sh [MODEL.onnx]   (default: the embedded model)
# env:   DATA (default ../shared/data)
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=env.sh
source scripts/env.sh
DATA=${DATA:-$COLORIZE_ROOT/../shared/data}
photo=$DATA/photo-val/GreenMeadow.jpg
model=()
[ $# -eq 0 ] || model=(--model "$1")
cargo build -q --release -p colorize-device --bin colorize
bin=$COLORIZE_TARGET/release/colorize
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$bin" files "$photo" "${model[@]}" --out "$tmp/auto" >/dev/null
"$bin" files "$photo" "${model[@]}" --out "$tmp/hint" --hint '50%,50%=#4c8c2b' >/dev/null
"$bin" eval --truth "$photo" --truth "$tmp/auto/GreenMeadow.png" --truth "$tmp/hint/GreenMeadow.png" \
    --per-image "$tmp/green.jsonl" >/dev/null
python3 - "$tmp/green.jsonl" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
for name, r in zip(["original", "automatic", "one green point at the centre"], rows):
    print(f"GreenMeadow {name}: {r['green_truth_pct']:.1f} % of pixels with a* < -5")
PY
