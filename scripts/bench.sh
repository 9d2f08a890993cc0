#!/usr/bin/env bash
# Benchmarks side by side with OpenCV and onnxruntime (issue 7): Lab
# conversion, inference, whole frame, peak memory, camera-loop allocations.
# One core, one thread each. Prints one markdown table and writes it, with
# the machine's description, to BENCHMARKS.md. A command, not a test.
#
#   scripts/bench.sh                       # photo from ../shared/data/photos if there
#   BENCH_PHOTO=my-2560x1600.jpg scripts/bench.sh
#   scripts/bench.sh photos                # only the six-photo section (issue 17)
#   BENCH_BEFORE=dir scripts/bench.sh photos   # ... beside an earlier build
#
# `photos`: `colorize files` over the six photos of ../shared/data/photos
# (or BENCH_PHOTOS, a folder) as one process, against one Python process
# that only decodes and re-encodes them with OpenCV and against the Python
# OpenCV + onnxruntime colourize pipeline, with peak RSS and the per-photo
# stages; writes its section of BENCHMARKS.md in place. BENCH_BEFORE is a
# folder holding `colorize` (profile dist) and `stages` (the example,
# release) built from an earlier commit, e.g.
#   git worktree add /tmp/before <rev> && cd /tmp/before && \
#     cargo build --profile dist -p colorize-device --bin colorize && \
#     cargo build --release -p colorize-device --example stages && \
#     mkdir -p /tmp/before-bin && cp target/dist/colorize target/release/examples/stages /tmp/before-bin/
# (`stages --stage all` came with issue 17: for an older commit, copy
# today's device/examples/stages.rs into it first).
#
# Environment: BENCH_PHOTO (a JPEG; default the first 2560x1600 photo in
# ../shared/data/photos, else a generated image), BENCH_CPU (core to pin to,
# default 0), BENCH_RUNS (inference runs, default 50), BENCH_FRAME_RUNS
# (whole-frame runs, default 7), BENCH_OUT (default BENCHMARKS.md),
# BENCH_NOTE (appended to the machine line, e.g. "shared with two builds").
# Installs what is missing: apt `time` (peak RSS), and a Python venv in
# .cache/bench-venv with opencv-python-headless, onnxruntime and numpy.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\033[1mbench:\033[0m %s\n' "$*" >&2; }

missing=()
[ -x /usr/bin/time ] || missing+=(time)
command -v taskset >/dev/null || missing+=(util-linux)
python3 -c 'import ensurepip' 2>/dev/null || missing+=(python3-venv)
if [ ${#missing[@]} -gt 0 ]; then
    log "apt: installing ${missing[*]}"
    sudo_cmd=""
    [ "$(id -u)" = 0 ] || sudo_cmd="sudo"
    $sudo_cmd apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

venv=.cache/bench-venv
if ! "$venv/bin/python" -c 'import cv2, onnxruntime, numpy' 2>/dev/null; then
    log "python: creating $venv (opencv-python-headless, onnxruntime, numpy)"
    mkdir -p .cache
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check opencv-python-headless onnxruntime numpy
fi

if [ "${1:-}" = photos ]; then
    # `colorize` as it ships (profile dist: LTO, what scripts/dist.sh
    # builds); the per-stage example from the release profile.
    log "cargo build --profile dist -p colorize-device --bin colorize (LTO: minutes)"
    cargo build --profile dist -q -p colorize-device --bin colorize
    log "cargo build --release -p colorize-device --example stages"
    cargo build --release -q -p colorize-device --example stages
    dir="${BENCH_PHOTOS:-../shared/data/photos}"
    photos=("$dir"/*.jpg)
    [ -f "${photos[0]}" ] || { log "no JPEG photos in $dir (set BENCH_PHOTOS)"; exit 1; }
    before=()
    [ -n "${BENCH_BEFORE:-}" ] && before=(--before "$BENCH_BEFORE" --before-label "${BENCH_BEFORE_LABEL:-before}")
    log "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
    "$venv/bin/python" bench/photos.py \
        --colorize "${CARGO_TARGET_DIR:-target}/dist/colorize" \
        --stages "${CARGO_TARGET_DIR:-target}/release/examples/stages" \
        "${before[@]}" \
        --photos "${photos[@]}" \
        --model models/colorize-default.onnx \
        --cpu "${BENCH_CPU:-0}" \
        --runs "${BENCH_FRAME_RUNS:-5}" \
        --out "${BENCH_OUT:-BENCHMARKS.md}" \
        --note "${BENCH_NOTE:-}"
    log "wrote the photos section of ${BENCH_OUT:-BENCHMARKS.md}"
    exit 0
fi

log "cargo build --release -p colorize-device --bin colorize --example bench"
cargo build --release -q -p colorize-device --bin colorize --example bench

photo="${BENCH_PHOTO:-}"
if [ -z "$photo" ]; then
    for f in ../shared/data/photos/*2560x1600*.jpg; do
        [ -f "$f" ] && { photo="$f"; break; }
    done
fi
photo_args=()
if [ -n "$photo" ]; then
    photo_args=(--photo "$photo")
else
    log "no photo found: using a generated 2560x1600 image"
fi

tract_version="$(sed -n '/^name = "tract-onnx"$/{n;s/version = "\(.*\)"/\1/p}' Cargo.lock)"
log "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
"$venv/bin/python" bench/run.py \
    --bench-bin "${CARGO_TARGET_DIR:-target}/release/examples/bench" \
    --colorize "${CARGO_TARGET_DIR:-target}/release/colorize" \
    "${photo_args[@]}" \
    --model models/colorize-default.onnx \
    --model models/colorize-default-int8.onnx \
    --cpu "${BENCH_CPU:-0}" \
    --runs "${BENCH_RUNS:-50}" \
    --frame-runs "${BENCH_FRAME_RUNS:-7}" \
    --out "${BENCH_OUT:-BENCHMARKS.md}" \
    --note "${BENCH_NOTE:-}" \
    --tract-version "$tract_version"
log "wrote ${BENCH_OUT:-BENCHMARKS.md}"
