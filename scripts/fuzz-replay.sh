#!/usr/bin/env bash
# Builds every cargo-fuzz target in fuzz/ with the stable toolchain (no
# sanitizer, no coverage instrumentation: libFuzzer's driver only) and runs
# each once over its committed seed corpus (fuzz/seeds/<target>), so the
# test command proves the targets still compile against the crates and that
# no seed crashes them. Seconds once built. Fuzzing itself: scripts/fuzz.sh.
#
# usage: scripts/fuzz-replay.sh
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=env.sh
source scripts/env.sh
cargo build --manifest-path fuzz/Cargo.toml --bins --target-dir "$COLORIZE_TARGET"
failed=0
for seeds in fuzz/seeds/*/; do
    target=$(basename "$seeds")
    n=$(find "$seeds" -type f | wc -l)
    bin="$COLORIZE_TARGET/debug/$target"
    if ! log=$("$bin" -runs=0 "$seeds" 2>&1); then
        printf '%s\n' "$log" | tail -n 30 >&2
        echo "fuzz-replay: $target FAILED on its seeds" >&2
        failed=1
        continue
    fi
    # libFuzzer's last line: "Done N runs in S second(s)".
    ran=$(printf '%s\n' "$log" | sed -n 's/^Done \([0-9]*\) runs.*/\1/p')
    if [ "${ran:-0}" -lt "$n" ]; then
        echo "fuzz-replay: $target ran ${ran:-0} of its $n seeds" >&2
        failed=1
        continue
    fi
    printf '%-14s %2d seeds replayed\n' "$target" "$n"
done
exit "$failed"
