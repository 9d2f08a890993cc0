#!/usr/bin/env bash
# What the box's web page (cargo feature `web`) adds to the shipped binary
# (issue 29: at most 1.5 MB on aarch64): builds `colorize` as scripts/dist.sh
# does (profile dist, stripped), without and with the feature, and prints
# both sizes and the difference. Two LTO builds: minutes each.
#
#   scripts/web-size.sh [TARGET]     (default aarch64-unknown-linux-gnu)
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=env.sh
source scripts/env.sh
target="${1:-aarch64-unknown-linux-gnu}"
case "$target" in
    x86_64-unknown-linux-gnu) strip_tool=strip ;;
    aarch64-unknown-linux-gnu) strip_tool=aarch64-linux-gnu-strip ;;
    armv7-unknown-linux-gnueabihf) strip_tool=arm-linux-gnueabihf-strip ;;
    *) echo "web-size.sh: unknown target $target" >&2; exit 2 ;;
esac
bin="$COLORIZE_TARGET/$target/dist/colorize"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
for features in camera camera,web; do
    cargo build -q --profile dist -p colorize-device --features "$features" --bin colorize --target "$target"
    "$strip_tool" -o "$tmp/$features" "$bin"
done
without=$(stat -c %s "$tmp/camera")
with=$(stat -c %s "$tmp/camera,web")
awk -v t="$target" -v a="$without" -v b="$with" 'BEGIN {
    printf "%s dist, stripped: without web %d bytes, with web %d bytes: +%d bytes (%.3f MB)\n", t, a, b, b - a, (b - a) / 1e6 }'
