#!/usr/bin/env bash
# ARM cost without a board (issue 17): guest instructions per frame stage
# of the aarch64 and armv7 release builds, counted exactly by a QEMU TCG
# plugin (scripts/insn/insn.c) under qemu-user, for the f32 and the int8
# model. Each stage runs 0 and REPEAT times after the same setup
# (device/examples/stages.rs); the difference over REPEAT is the stage's own
# count. Prints a Markdown table (BENCHMARKS.md, "ARM instruction counts").
#
# Usage: scripts/insn-count.sh [PHOTO]   (default: ../shared/data/photos/Path-2560x1600.jpg)
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=env.sh
source scripts/env.sh
photo=${1:-../shared/data/photos/Path-2560x1600.jpg}
repeat=${REPEAT:-2}
plugin=$COLORIZE_CACHE/insn/libinsn.so
mkdir -p "$(dirname "$plugin")"
gcc -O2 -shared -fPIC -fvisibility=hidden -o "$plugin" scripts/insn/insn.c

count() { # runner... -- args: prints the instruction count
    local out
    out=$("$@" 2>&1 >/dev/null | sed -n 's/^insn-count: //p')
    [ -n "$out" ] || { echo "insn-count.sh: no count from: $*" >&2; exit 1; }
    echo "$out"
}

echo "| target | model | decode | L* plane | predict | recombination | PNG encode |"
echo "|---|---|---|---|---|---|---|"
for target in aarch64-unknown-linux-gnu armv7-unknown-linux-gnueabihf; do
    cargo build -q --release -p colorize-device --example stages --target "$target"
    bin=$COLORIZE_TARGET/$target/release/examples/stages
    case $target in
        aarch64*) run=(qemu-aarch64 -plugin "$plugin" -L /usr/aarch64-linux-gnu) ;;
        armv7*) run=(qemu-arm -plugin "$plugin" -L /usr/arm-linux-gnueabihf) ;;
    esac
    declare -A shared=()
    for model in models/colorize-default.onnx models/colorize-default-int8.onnx; do
        row="| ${target%%-*} | $( [[ $model == *int8* ]] && echo int8 || echo f32 ) |"
        for stage in decode lplane predict recombine encode; do
            if [ "$stage" != predict ] && [ -n "${shared[$stage]:-}" ]; then
                row+=" ${shared[$stage]} |"
                continue
            fi
            base=$(count "${run[@]}" "$bin" --photo "$photo" --model "$model" --stage "$stage" --repeat 0)
            full=$(count "${run[@]}" "$bin" --photo "$photo" --model "$model" --stage "$stage" --repeat "$repeat")
            m=$(python3 -c "print(f'{($full - $base) / $repeat / 1e6:.1f} M')")
            [ "$stage" != predict ] && shared[$stage]=$m
            row+=" $m |"
        done
        echo "$row"
    done
    unset shared
done
