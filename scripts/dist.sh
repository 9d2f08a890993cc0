#!/usr/bin/env bash
# Builds the shipping `colorize` (Cargo profile `dist`: LTO, one codegen unit,
# size-optimised cold code) for each target and strips it with the target's
# binutils: cargo's `strip = true` leaves the symbol table of the static
# glibc in place (3.7 MB on aarch64). Prints each file and its size.
#
# usage: scripts/dist.sh [TARGET...]   (default: aarch64-unknown-linux-gnu)
#        targets: x86_64-unknown-linux-gnu aarch64-unknown-linux-gnu armv7-unknown-linux-gnueabihf
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=env.sh
source scripts/env.sh
[ $# -gt 0 ] || set -- aarch64-unknown-linux-gnu
for target in "$@"; do
    case "$target" in
        x86_64-unknown-linux-gnu) strip_tool=strip ;;
        aarch64-unknown-linux-gnu) strip_tool=aarch64-linux-gnu-strip ;;
        armv7-unknown-linux-gnueabihf) strip_tool=arm-linux-gnueabihf-strip ;;
        *) echo "dist.sh: unknown target $target" >&2; exit 2 ;;
    esac
    command -v "$strip_tool" >/dev/null || {
        echo "dist.sh: $strip_tool not found; scripts/setup.sh installs the cross binutils" >&2
        exit 1
    }
    cargo build --profile dist -p colorize-device --features camera,web --bin colorize --target "$target"
    bin="$COLORIZE_TARGET/$target/dist/colorize"
    "$strip_tool" "$bin"
    printf '%s  %s bytes\n' "$bin" "$(stat -c %s "$bin")"
done
