# Sourced by the project's scripts: where libtorch lives and how to build and
# run for the ARM targets. Safe to source from any directory.
# shellcheck shell=bash
COLORIZE_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export COLORIZE_ROOT
# Downloads and installs that any clone of the project can share (the
# libtorch venv, the emulated boards' kernels, the test command's cargo
# target folder): outside the clone, so a fresh clone reuses them.
if [ -n "${XDG_CACHE_HOME:-}" ]; then
    export COLORIZE_CACHE="${COLORIZE_CACHE:-$XDG_CACHE_HOME/colorize}"
elif [ -n "${HOME:-}" ]; then
    export COLORIZE_CACHE="${COLORIZE_CACHE:-$HOME/.cache/colorize}"
else
    export COLORIZE_CACHE="${COLORIZE_CACHE:-$COLORIZE_ROOT/.cache}"
fi
export TORCH_VENV="${TORCH_VENV:-$COLORIZE_CACHE/torch-venv}"
# Where cargo puts builds: scripts run binaries from here.
export COLORIZE_TARGET="${CARGO_TARGET_DIR:-$COLORIZE_ROOT/target}"

# libtorch from the torch==2.11.0 wheel (pairs with tch 0.24.0).
# A glob, not `ls | head`: callers run with `set -euo pipefail`, and before the
# venv exists that pipeline fails and would end them on a clean clone.
for _site in "$TORCH_VENV"/lib/python3*/site-packages; do
    if [ -d "$_site/torch/lib" ]; then
        export LIBTORCH="$_site/torch"
        export LIBTORCH_CXX11_ABI=1
        break
    fi
done
unset _site

# Cross compilers and qemu-user runners (static linking: .cargo/config.toml).
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER="qemu-aarch64 -L /usr/aarch64-linux-gnu"
export CC_aarch64_unknown_linux_gnu=aarch64-linux-gnu-gcc
export CARGO_TARGET_ARMV7_UNKNOWN_LINUX_GNUEABIHF_LINKER=arm-linux-gnueabihf-gcc
export CARGO_TARGET_ARMV7_UNKNOWN_LINUX_GNUEABIHF_RUNNER="qemu-arm -L /usr/arm-linux-gnueabihf"
export CC_armv7_unknown_linux_gnueabihf=arm-linux-gnueabihf-gcc
# bindgen (v4l2-sys-mit) must parse the *target's* kernel headers with the
# target's ABI: V4L2 ioctl numbers encode struct sizes, so host layouts would
# give a binary whose every ioctl fails with ENOTTY on the board.
export BINDGEN_EXTRA_CLANG_ARGS_aarch64_unknown_linux_gnu="--target=aarch64-linux-gnu --sysroot=/usr/aarch64-linux-gnu -I/usr/aarch64-linux-gnu/include"
export BINDGEN_EXTRA_CLANG_ARGS_armv7_unknown_linux_gnueabihf="--target=arm-linux-gnueabihf --sysroot=/usr/arm-linux-gnueabihf -I/usr/arm-linux-gnueabihf/include"

# apt_install PKG...: installs without recommended packages and prints every
# package that this call added (the requested ones and their dependencies), so
# a run on a fresh machine says exactly what it needed. A CI failure that only
# shows on a fresh machine is reproduced by purging those (README, "Testing").
apt_install() {
    local sudo_cmd="" before
    [ "$(id -u)" = 0 ] || sudo_cmd="sudo"
    before=$(dpkg-query -W -f='${Package}:${Architecture}\n' 2>/dev/null | sort)
    $sudo_cmd apt-get update -qq || echo "apt-get update reported errors; using the indexes it got" >&2
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "$@" >/dev/null
    comm -13 <(echo "$before") <(dpkg-query -W -f='${Package}:${Architecture}\n' 2>/dev/null | sort) |
        sed 's/^/apt installed: /'
}
