#!/usr/bin/env bash
# Continues the paper-reproduction runs this GPU pack carries (made by
# `scripts/gpu-pack.sh --repro`) on the GPU, then puts the runs and their
# scored results in one file to bring back.
#
# usage: repro.sh OUT [--minutes M] [--device cuda|cpu] EXPERIMENT...
# writes: OUT/repro-results.tar.gz (runs/<exp>/ and docs/reproduction/),
#         OUT/repro.log
# Back home: tar -xzf repro-results.tar.gz -C ~/.cache/colorize/reproduction runs
#            then scripts/reproduce.sh --max-minutes 0 EXPERIMENT... scores
#            and copies them (without --max-minutes 0 it also trains on).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
[ $# -ge 1 ] || { sed -n '2,/^set -euo/p' "$0" | grep '^#' | sed 's/^# \{0,1\}//'; exit 2; }
out=$1; shift
minutes=8
device=cuda
exps=()
while [ $# -gt 0 ]; do
    case "$1" in
        --minutes) minutes=$2; shift 2 ;;
        --device) device=$2; shift 2 ;;
        -*) echo "repro.sh: unknown option $1" >&2; exit 2 ;;
        *) exps+=("$1"); shift ;;
    esac
done
[ ${#exps[@]} -gt 0 ] || { echo "repro.sh: name the experiments to continue" >&2; exit 2; }
mkdir -p "$out"
out=$(cd "$out" && pwd)
log="$out/repro.log"
say() { echo "repro.sh: $*" | tee -a "$log" >&2; }

# shellcheck source=lib.sh
source "$here/lib.sh"
find_libtorch || { say "no libtorch found (set LIBTORCH to a torch install)"; exit 1; }
say "libtorch: $TORCH_LIB"
bin="$here/.colorize-train"
unpack_bin "$bin"

t0=$(date +%s)
# The pack mirrors the repository's layout (scripts/, docs/), so
# reproduce.sh runs from it unchanged.
REPRO_DIR="$here/repro" COLORIZE_TRAIN="$bin" DEVICE="$device" \
    bash "$here/scripts/reproduce.sh" --max-minutes "$minutes" "${exps[@]}" 2>&1 | tee -a "$log" || true
tar -czf "$out/repro-results.tar.gz" -C "$here/repro" runs \
    -C "$here" docs/reproduction
say "done in $(( $(date +%s) - t0 )) s: $out/repro-results.tar.gz ($(du -h "$out/repro-results.tar.gz" | cut -f1))"
