#!/usr/bin/env bash
# Scores an ONNX model the way the model card reports it, through the
# device path (`colorize eval`: colour truth -> L* -> colourize at full
# resolution -> the shared metrics):
#   val    the first 1,000 files of Tiny ImageNet's val.tar.gz (gray truths
#          skipped), extracted once to $COLORIZE_CACHE/val1000
#   sipi   ../shared/data/sipi-color (14 photos, 256 and 512 px)
#   photos ../shared/data/photos (six 2560x1600 JPEGs)
#   mixed  sipi-color plus the six photos, as one set
# at each vividness given (none: the model's default), one JSON line per
# (set, vividness), and the share of green (a* < -5) pixels in the
# colourized Path-2560x1600.jpg against the original's.
#
# usage: scripts/score-model.sh MODEL.onnx [VIVIDNESS ...]
# env:   DATA (default ../shared/data), SETS (default "val mixed")
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=env.sh
source scripts/env.sh
[ $# -ge 1 ] || { sed -n '2,/^set -euo/p' "$0" | grep '^#' | sed 's/^# \{0,1\}//'; exit 2; }
model=$1
shift
DATA=${DATA:-$COLORIZE_ROOT/../shared/data}
SETS=${SETS:-val mixed}
vivid=("$@")
[ ${#vivid[@]} -gt 0 ] || vivid=(default)

cargo build -q --release -p colorize-device --bin colorize --example green_share
bin=$COLORIZE_TARGET/release/colorize

val=$COLORIZE_CACHE/val1000
if [ ! -f "$val/done" ]; then
    mkdir -p "$val"
    python3 - "$DATA/tiny-imagenet/val.tar.gz" "$val" <<'PY'
import os, sys, tarfile
n = 0
with tarfile.open(sys.argv[1]) as t:
    for m in t:
        if m.isfile() and m.name.upper().endswith(".JPEG"):
            with open(os.path.join(sys.argv[2], os.path.basename(m.name)), "wb") as f:
                f.write(t.extractfile(m).read())
            n += 1
            if n == 1000:
                break
PY
    touch "$val/done"
fi

for set in $SETS; do
    case $set in
        val) truth=("$val") ;;
        sipi) truth=("$DATA/sipi-color") ;;
        photos) truth=("$DATA/photos") ;;
        mixed) truth=("$DATA/sipi-color" "$DATA/photos") ;;
        *) echo "score-model: unknown set $set" >&2; exit 2 ;;
    esac
    args=()
    for t in "${truth[@]}"; do args+=(--truth "$t"); done
    for v in "${vivid[@]}"; do
        vv=()
        [ "$v" = default ] || vv=(--vividness "$v")
        json=$("$bin" eval "${args[@]}" --model "$model" "${vv[@]}" 2>/dev/null)
        echo "{\"set\": \"$set\", \"vividness\": \"$v\", \"result\": $json}"
    done
done

path=$DATA/photos/Path-2560x1600.jpg
if [ -f "$path" ]; then
    out=$(mktemp -d)
    "$bin" files "$path" --model "$model" --out "$out" >/dev/null 2>&1
    "$COLORIZE_TARGET/release/examples/green_share" "$path" "$out"/Path-2560x1600.*
    rm -rf "$out"
fi
