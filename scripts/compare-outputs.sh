#!/usr/bin/env bash
# Byte-compares what two `colorize` builds write for the same inputs (the
# six photos and sipi-color by default) in PNG, JPEG and TIFF, with the
# outputs' dates fixed: a refactoring that should change nothing must pass.
#
#   scripts/compare-outputs.sh BEFORE_BIN AFTER_BIN [INPUT...]
# e.g. (an older commit built in a worktree with its own target folder):
#   git worktree add /tmp/before <rev>
#   (cd /tmp/before && CARGO_TARGET_DIR=/tmp/before-target cargo build --release -p colorize-device --bin colorize)
#   scripts/compare-outputs.sh /tmp/before-target/release/colorize target/release/colorize
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 2 ] || { echo "usage: scripts/compare-outputs.sh BEFORE_BIN AFTER_BIN [INPUT...]" >&2; exit 2; }
before=$1 after=$2
shift 2
[ $# -gt 0 ] || set -- ../shared/data/photos ../shared/data/sipi-color
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export SOURCE_DATE_EPOCH=1764633600
status=0
for format in png jpeg tiff; do
    "$before" files "$@" --out "$work/before-$format" --format "$format" >/dev/null
    "$after" files "$@" --out "$work/after-$format" --format "$format" >/dev/null
    n=$(find "$work/after-$format" -type f | wc -l)
    if diff -r "$work/before-$format" "$work/after-$format" >/dev/null; then
        echo "$format: $n outputs byte-identical"
    else
        diff -rq "$work/before-$format" "$work/after-$format" | head >&2
        echo "$format: outputs differ" >&2
        status=1
    fi
done
exit "$status"
