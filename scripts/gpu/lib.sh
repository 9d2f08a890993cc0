# Sourced by the GPU pack's run.sh and repro.sh: finds libtorch and unpacks
# the pack's colorize-train. Needs `here` (the pack folder).
# shellcheck shell=bash

# find_libtorch: exports LD_LIBRARY_PATH with the first libtorch found (LIBTORCH,
# /opt/torch/.venv, a Python with torch on PATH, or the project's
# torch venv recorded at packing) and sets TORCH_LIB to its lib folder.
# Not in a subshell: the export must reach the caller.
find_libtorch() {
    local d
    for d in "${LIBTORCH:-}" /opt/torch/.venv/lib/python3*/site-packages/torch \
        "$(python3 -c 'import os, torch; print(os.path.dirname(torch.__file__))' 2>/dev/null || true)" \
        "$(cat "$here/libtorch.path" 2>/dev/null || true)"; do
        if [ -n "$d" ] && [ -f "$d/lib/libtorch_cpu.so" ]; then
            export LD_LIBRARY_PATH="$d/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
            TORCH_LIB="$d/lib"
            return 0
        fi
    done
    return 1
}

# unpack_bin DEST: writes the pack's colorize-train (xz, or Python's lzma
# where xz is missing) to DEST.
unpack_bin() {
    if command -v xz >/dev/null; then
        xz -dc "$here/colorize-train.xz" >"$1"
    else
        python3 -c 'import lzma, sys; sys.stdout.buffer.write(lzma.open(sys.argv[1]).read())' \
            "$here/colorize-train.xz" >"$1"
    fi
    chmod +x "$1"
}
