#!/usr/bin/env bash
# Writes BENCHMARKS.md, all of it: every figure there comes from this script
# (bench/sections.py puts the sections together and drops anything else).
# One core, one thread each. A command, not a test.
#
#   scripts/bench.sh            # every section: main, photos, arm (about 40 min on 2 cores)
#   scripts/bench.sh main       # Lab, inference, one whole frame, camera-loop allocations
#   scripts/bench.sh photos     # the six photos through whole processes (issue 17)
#   scripts/bench.sh arm        # ARM instruction counts under qemu-user (scripts/insn-count.sh)
#   scripts/bench.sh web        # the box's inbox with its web page off, and on under a hammering client
#   scripts/bench.sh memory     # estimated against measured peak memory, one row per kind of input (issue 37)
#   BENCH_BEFORE=dir scripts/bench.sh photos   # ... beside an earlier build
#
# `main` (issue 7): side by side with OpenCV and onnxruntime: Lab conversion,
# inference, one whole frame as a process, peak memory, camera-loop
# allocations (bench/run.py and device/examples/bench.rs).
#
# `photos`: `colorize files` over the six photos of ../shared/data/photos
# (or BENCH_PHOTOS, a folder) as one process, against one Python process
# that only decodes and re-encodes them with OpenCV and against the Python
# OpenCV + onnxruntime colourize pipeline, with peak RSS, the per-photo
# stages and the binary's size (bench/photos.py). BENCH_BEFORE is a
# folder holding `colorize` (profile dist) and `stages` (the example,
# release) built from an earlier commit, e.g.
#   git worktree add /tmp/before <rev> && cd /tmp/before && \
#     cargo build --profile dist -p colorize-device --bin colorize && \
#     cargo build --release -p colorize-device --example stages && \
#     mkdir -p /tmp/before-bin && cp target/dist/colorize target/release/examples/stages /tmp/before-bin/
# (`stages --stage all` came with issue 17: for an older commit, copy
# today's device/examples/stages.rs into it first).
#
# `arm`: guest instructions per frame stage of the aarch64 and armv7 builds,
# f32 and int8 model (scripts/insn-count.sh: cross builds of the `stages`
# example, qemu-user with a counting plugin; needs scripts/setup.sh's cross
# toolchains), written with totals by bench/arm.py.
#
# `web` (issue 29): `colorize box --drain` over 50 scans (the six photos,
# gray, 1024 px wide), web page off against on with a client
# fetching /api/status back to back (bench/boxweb.py).
#
# `memory` (issue 37): each kind of input colourized alone, the memory
# budget's estimate against the peak RSS (bench/memory.py; inputs made by
# the make_master example, the A4 master 278 MB on disk for a moment, in
# BENCH_TMP or /tmp).
#
# Environment: BENCH_PHOTO (a JPEG; default the first 2560x1600 photo in
# ../shared/data/photos, else a generated image), BENCH_CPU (core to pin to,
# default 0), BENCH_RUNS (inference runs, default 50), BENCH_FRAME_RUNS
# (whole-frame runs, default 7; the six-photo rounds, default 5),
# BENCH_ARM_PHOTO (default ../shared/data/photos/Path-2560x1600.jpg),
# BENCH_WEB_RUNS (web page off/on rounds, default 7), BENCH_OUT (default BENCHMARKS.md), BENCH_NOTE (appended to the machine
# line, e.g. "shared with two builds"; say there when the runs were reduced).
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

what="${1:-all}"
case "$what" in
    all | main | photos | arm | web | memory) ;;
    *) log "unknown section '$what': all, main, photos, arm, web or memory"; exit 2 ;;
esac
out="${BENCH_OUT:-BENCHMARKS.md}"
target_dir="${CARGO_TARGET_DIR:-target}"
# The commit every section names, and whether the sources measured differed
# from it (a figure must be traceable to the code that produced it).
commit="$(git rev-parse --short HEAD)"
if [ -n "$(git status --porcelain -- device shared io model models bench scripts/bench.sh scripts/insn-count.sh Cargo.lock)" ]; then
    commit="$commit (with uncommitted changes)"
fi
# The file `colorize` embeds, from the include_bytes! of DEFAULT_MODEL: the
# Python pipelines load the same file, and the sections say which it is.
embedded="$(sed -n 's|.*DEFAULT_MODEL.*include_bytes!("\.\./\.\./\(models/[^"]*\)").*|\1|p' device/src/lib.rs)"
[ -f "$embedded" ] || { log "can not find the embedded model in device/src/lib.rs (got '$embedded')"; exit 1; }

bench_main() {
    log "cargo build --release -p colorize-device --bin colorize --example bench"
    cargo build --release -q -p colorize-device --bin colorize --example bench

    local photo="${BENCH_PHOTO:-}" f
    if [ -z "$photo" ]; then
        for f in ../shared/data/photos/*2560x1600*.jpg; do
            [ -f "$f" ] && { photo="$f"; break; }
        done
    fi
    local photo_args=()
    if [ -n "$photo" ]; then
        photo_args=(--photo "$photo")
    else
        log "no photo found: using a generated 2560x1600 image"
    fi

    local tract_version
    tract_version="$(sed -n '/^name = "tract-onnx"$/{n;s/version = "\(.*\)"/\1/p}' Cargo.lock)"
    log "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
    "$venv/bin/python" bench/run.py \
        --bench-bin "$target_dir/release/examples/bench" \
        --colorize "$target_dir/release/colorize" \
        "${photo_args[@]}" \
        --model models/colorize-default.onnx \
        --model models/colorize-default-int8.onnx \
        --embedded "$embedded" \
        --cpu "${BENCH_CPU:-0}" \
        --runs "${BENCH_RUNS:-50}" \
        --frame-runs "${BENCH_FRAME_RUNS:-7}" \
        --out "$out" \
        --note "${BENCH_NOTE:-}" \
        --commit "$commit" \
        --tract-version "$tract_version" >/dev/null
    log "wrote the main section of $out"
}

bench_photos() {
    # `colorize` as it ships (profile dist: LTO, what scripts/dist.sh
    # builds); the per-stage example from the release profile.
    log "cargo build --profile dist -p colorize-device --bin colorize (LTO: minutes)"
    cargo build --profile dist -q -p colorize-device --bin colorize
    log "cargo build --release -p colorize-device --example stages"
    cargo build --release -q -p colorize-device --example stages
    local dir="${BENCH_PHOTOS:-../shared/data/photos}"
    local photos=("$dir"/*.jpg)
    [ -f "${photos[0]}" ] || { log "no JPEG photos in $dir (set BENCH_PHOTOS)"; exit 1; }
    local before=()
    [ -n "${BENCH_BEFORE:-}" ] && before=(--before "$BENCH_BEFORE" --before-label "${BENCH_BEFORE_LABEL:-before}")
    log "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
    "$venv/bin/python" bench/photos.py \
        --colorize "$target_dir/dist/colorize" \
        --stages "$target_dir/release/examples/stages" \
        "${before[@]}" \
        --photos "${photos[@]}" \
        --model "$embedded" \
        --cpu "${BENCH_CPU:-0}" \
        --runs "${BENCH_FRAME_RUNS:-5}" \
        --out "$out" \
        --note "${BENCH_NOTE:-}" \
        --commit "$commit" >/dev/null
    log "wrote the photos section of $out"
}

bench_arm() {
    local photo="${BENCH_ARM_PHOTO:-../shared/data/photos/Path-2560x1600.jpg}" table
    [ -f "$photo" ] || { log "no photo $photo for the ARM counts (set BENCH_ARM_PHOTO)"; exit 1; }
    table="$(mktemp)"
    # shellcheck disable=SC2064 # expand now: the local is gone when the trap runs
    trap "rm -f '$table'" EXIT
    log "scripts/insn-count.sh $photo (two cross builds, then qemu-user: minutes)"
    REPEAT="${REPEAT:-2}" scripts/insn-count.sh "$photo" >"$table"
    python3 bench/arm.py --table "$table" --photo "$photo" \
        --qemu "$(qemu-aarch64 --version | head -n 1 | sed 's/ *(.*//') (and qemu-arm)" \
        --repeat "${REPEAT:-2}" --embedded "$embedded" --commit "$commit" --out "$out" >/dev/null
    log "wrote the arm section of $out"
}

bench_web() {
    log "cargo build --release -p colorize-device --features web --bin colorize"
    cargo build --release -q -p colorize-device --features web --bin colorize
    local dir="${BENCH_WEB_PHOTOS:-../shared/data/photos}" photos=() f
    for f in "$dir"/*; do
        case "$f" in *.png | *.jpg | *.tif | *.tiff) photos+=("$f") ;; esac
    done
    [ ${#photos[@]} -gt 0 ] || { log "no images in $dir (set BENCH_WEB_PHOTOS)"; exit 1; }
    log "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
    "$venv/bin/python" bench/boxweb.py \
        --colorize "$target_dir/release/colorize" \
        --photos "${photos[@]}" \
        --rounds "${BENCH_WEB_RUNS:-7}" \
        --out "$out" \
        --note "${BENCH_NOTE:-}" \
        --commit "$commit" >/dev/null
    log "wrote the web section of $out"
}

bench_memory() {
    log "cargo build --release -p colorize-device --bin colorize --example make_master"
    cargo build --release -q -p colorize-device --bin colorize --example make_master
    log "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
    python3 bench/memory.py \
        --colorize "$target_dir/release/colorize" \
        --make-master "$target_dir/release/examples/make_master" \
        --photos "${BENCH_PHOTOS:-../shared/data/photos}" \
        --out "$out" \
        --note "${BENCH_NOTE:-}" \
        --commit "$commit"
    log "wrote the memory section of $out"
}

# Each section's time goes to stderr: the header's estimate comes from them.
for section in main photos arm web memory; do
    if [ "$what" = all ] || [ "$what" = "$section" ]; then
        started=$SECONDS
        "bench_$section"
        log "$section: $((SECONDS - started)) s"
    fi
done
