#!/usr/bin/env bash
# Runs the cargo-fuzz targets in fuzz/ one after the other (one libFuzzer
# process at a time, in the foreground), each for SECONDS_PER_TARGET seconds
# (default 600), starting from the committed seeds (fuzz/seeds/<target>) plus
# the working corpus (fuzz/corpus/<target>, not in git). Prints a table of
# executions and crashes and exits non-zero if any target crashed; crashing
# inputs are in fuzz/artifacts/<target>/, full logs in fuzz/logs/<target>.log.
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]
#
# Environment:
#   FUZZ_RUNS=N      also stop a target after N executions (whichever of time
#                    and runs comes first); default: time only.
#   FUZZ_TIMEOUT=S   one input running longer than S seconds is a crash (30).
#   FUZZ_RSS_MB=MB   memory limit of the fuzzing process (2048).
#   FUZZ_SANITIZER   cargo fuzz's --sanitizer (address).
#   FUZZ_NO_BUILD=1  run the binaries already in fuzz/target, do not build.
#
# Needs the nightly toolchain (rustup toolchain install nightly); installs
# cargo-fuzz if it is missing. See docs/robustness.md.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

secs=${1:-600}
if [ $# -gt 0 ]; then shift; fi
case $secs in '' | *[!0-9]*)
    echo "usage: scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]" >&2
    exit 2
    ;;
esac
runs=${FUZZ_RUNS:-0}
timeout=${FUZZ_TIMEOUT:-30}
rss=${FUZZ_RSS_MB:-2048}
sanitizer=${FUZZ_SANITIZER:-address}

if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    echo "==> installing cargo-fuzz"
    cargo install cargo-fuzz --locked
fi

cd "$root/fuzz"
all=$(cargo +nightly fuzz list)
if [ $# -gt 0 ]; then
    targets=("$@")
    for t in "${targets[@]}"; do
        if ! grep -qx -- "$t" <<<"$all"; then
            echo "unknown fuzz target $t; targets: $(echo $all)" >&2
            exit 2
        fi
    done
else
    mapfile -t targets <<<"$all"
fi

echo "==> building ${targets[*]} (nightly, sanitizer $sanitizer)"
if [ -n "${FUZZ_NO_BUILD:-}" ]; then
    echo "FUZZ_NO_BUILD is set: using the binaries already built"
elif [ $# -gt 0 ]; then
    for t in "${targets[@]}"; do
        cargo +nightly fuzz build -s "$sanitizer" "$t"
    done
else
    cargo +nightly fuzz build -s "$sanitizer"
fi

triple=$(rustc +nightly -vV | sed -n 's/^host: //p')
mkdir -p logs
rows=()
failed=0
for t in "${targets[@]}"; do
    mkdir -p "corpus/$t" "artifacts/$t"
    before=$(find "artifacts/$t" -type f | wc -l)
    log="logs/$t.log"
    args=(-max_total_time="$secs" -rss_limit_mb="$rss" -timeout="$timeout" -print_final_stats=1)
    if [ "$runs" -gt 0 ]; then
        args+=(-runs="$runs")
    fi
    echo "==> $t: ${secs}s, ${runs} runs (0: no cap), log fuzz/$log"
    start=$(date +%s)
    set +e
    # The binary cargo fuzz built, run directly: `cargo fuzz run` would
    # rebuild whenever the working tree changed since the build.
    ASAN_OPTIONS=${ASAN_OPTIONS:-detect_odr_violation=0} \
        "target/$triple/release/$t" -artifact_prefix="artifacts/$t/" \
        "${args[@]}" "corpus/$t" "seeds/$t" >"$log" 2>&1
    rc=$?
    set -e
    wall=$(($(date +%s) - start))
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    crashes=$(($(find "artifacts/$t" -type f | wc -l) - before))
    if [ "$rc" -ne 0 ] && [ "$crashes" -eq 0 ]; then
        crashes=1 # died without leaving an input
    fi
    if [ "$crashes" -gt 0 ]; then
        failed=1
        tail -n 40 "$log"
    fi
    rows+=("$(printf '%-16s %14s %8s %8s' "$t" "${execs:-?}" "${wall}s" "$crashes")")
done

echo
printf '%-16s %14s %8s %8s\n' target executions wall crashes
printf '%s\n' "${rows[@]}"
if [ "$failed" -ne 0 ]; then
    echo "crashing inputs: fuzz/artifacts/<target>/" >&2
    exit 1
fi
