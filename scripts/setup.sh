#!/usr/bin/env bash
# Installs what building and testing colorize needs, skipping what is there:
# Debian cross compilers and qemu, the rustup ARM targets and components, and
# libtorch (the torch==2.11.0 wheel, minimal set) in a project-local venv.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=env.sh
source "$here/env.sh"

log() { printf '\033[1msetup:\033[0m %s\n' "$*"; }

apt_pkgs=(gcc-aarch64-linux-gnu gcc-arm-linux-gnueabihf libc6-dev-arm64-cross
    libc6-dev-armhf-cross qemu-user qemu-system-arm libclang-dev cpio python3-venv)
missing=()
for p in "${apt_pkgs[@]}"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    log "apt: installing ${missing[*]}"
    sudo_cmd=""
    [ "$(id -u)" = 0 ] || sudo_cmd="sudo"
    $sudo_cmd apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

for t in aarch64-unknown-linux-gnu armv7-unknown-linux-gnueabihf; do
    rustup target list --installed | grep -qx "$t" || { log "rustup: adding $t"; rustup target add "$t"; }
done
for c in clippy rustfmt; do
    rustup component list --installed | grep -q "^$c" || rustup component add "$c"
done

if [ -z "${LIBTORCH:-}" ] || [ ! -f "$LIBTORCH/lib/libtorch_cpu.so" ]; then
    log "libtorch: installing torch==2.11.0 (minimal wheel set, ~540 MB) into $TORCH_VENV"
    mkdir -p "$COLORIZE_CACHE"
    python3 -m venv "$TORCH_VENV"
    "$TORCH_VENV/bin/pip" install -q --disable-pip-version-check --no-deps \
        torch==2.11.0 'nvidia-cuda-runtime==13.0.*' 'nvidia-cuda-cupti==13.0.*'
    source "$here/env.sh"
fi
log "ready (LIBTORCH=$LIBTORCH)"
