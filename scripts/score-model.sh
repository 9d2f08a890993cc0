#!/usr/bin/env bash
# Scores an ONNX model the way the model card reports it, through the
# device path (`colorize eval`: colour truth -> L* -> colourize at full
# resolution -> the shared metrics). Sets:
#   val        the first 1,000 files of Tiny ImageNet's val.tar.gz (gray
#              truths skipped), extracted once to $COLORIZE_CACHE/val1000
#   photo-val  ../shared/data/photo-val (33 photographs, at most 1600 px;
#              the 3 nearly gray ones skipped): judges models on photographs
#   sipi       ../shared/data/sipi-color (14 photos, 256 and 512 px)
#   photos     ../shared/data/photos (six 2560x1600 JPEGs)
#   mixed      sipi-color plus the six photos, as one set
# At each vividness given (none: the model's default), for each set, one
# JSON line and one line with its gain, colourfulness ratio and AuC:
#   {"set": "photo-val", "vividness": "default", "result": {...colorize eval's JSON...}}
#   score: photo-val vividness default: gain +0.779 dB ratio 0.508 AuC 0.8204 (30 images, 3 gray skipped)
# Then, at each vividness and whatever SETS is, the share of green (a* < -5)
# pixels in the original and in the model's output of Path-2560x1600.jpg
# (photos/) and GreenMeadow, RainDrops and OneStandsOut (photo-val/), one
# line each (" vividness V" appended where a vividness was given):
#   green: Path-2560x1600.jpg original 73.2 % model 0.0 %
#
# usage: scripts/score-model.sh MODEL.onnx [VIVIDNESS ...]
# env:   DATA (default ../shared/data), SETS (default "val photo-val mixed"),
#        PER_IMAGE: a folder to keep each set's `colorize eval --per-image`
#        lines in, as SET-VIVIDNESS.jsonl (for scripts/photo-table.py)
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=env.sh
source scripts/env.sh
[ $# -ge 1 ] || { sed -n '2,/^set -euo/p' "$0" | grep '^#' | sed 's/^# \{0,1\}//'; exit 2; }
model=$1
shift
DATA=${DATA:-$COLORIZE_ROOT/../shared/data}
SETS=${SETS:-val photo-val mixed}
PER_IMAGE=${PER_IMAGE:-}
vivid=("$@")
[ ${#vivid[@]} -gt 0 ] || vivid=(default)
[ -z "$PER_IMAGE" ] || mkdir -p "$PER_IMAGE"

cargo build -q --release -p colorize-device --bin colorize
bin=$COLORIZE_TARGET/release/colorize

val=$COLORIZE_CACHE/val1000
case " $SETS " in
    *" val "*) [ -f "$val/done" ] || {
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
    } ;;
esac

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

for set in $SETS; do
    case $set in
        val) truth=("$val") ;;
        photo-val) truth=("$DATA/photo-val") ;;
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
        pi=()
        [ -z "$PER_IMAGE" ] || pi=(--per-image "$PER_IMAGE/$set-$v.jsonl")
        json=$("$bin" eval "${args[@]}" --model "$model" "${vv[@]}" "${pi[@]}" 2>/dev/null)
        echo "{\"set\": \"$set\", \"vividness\": \"$v\", \"result\": $json}"
        python3 - "$set" "$v" "$json" <<'PY'
import json, sys
r = json.loads(sys.argv[3])
print(f"score: {sys.argv[1]} vividness {sys.argv[2]}: gain {r['psnr_gain']:+.3f} dB "
      f"ratio {r['colourfulness_ratio']:.3f} AuC {r['auc']:.4f} "
      f"({r['images']} images, {r['skipped_gray']} gray skipped)")
PY
    done
done

# The green check: vegetation and water that should stay green.
green=()
for f in photos/Path-2560x1600.jpg photo-val/GreenMeadow.jpg photo-val/RainDrops.jpg \
    photo-val/OneStandsOut.jpg; do
    [ ! -f "$DATA/$f" ] || green+=(--truth "$DATA/$f")
done
if [ ${#green[@]} -gt 0 ]; then
    for v in "${vivid[@]}"; do
        vv=()
        [ "$v" = default ] || vv=(--vividness "$v")
        "$bin" eval "${green[@]}" --model "$model" "${vv[@]}" \
            --per-image "$tmp/green.jsonl" >/dev/null 2>"$tmp/green.err" ||
            { echo "score-model: the green check failed:" >&2; cat "$tmp/green.err" >&2; exit 1; }
        python3 - "$tmp/green.jsonl" "$v" <<'PY'
import json, sys
suffix = "" if sys.argv[2] == "default" else f" vividness {sys.argv[2]}"
for line in open(sys.argv[1]):
    d = json.loads(line)
    if "green_truth_pct" in d:
        print(f"green: {d['file']} original {d['green_truth_pct']:.1f} % "
              f"model {d['green_pred_pct']:.1f} %{suffix}")
PY
    done
fi
