#!/usr/bin/env bash
# Runs every test of the project: installs what is missing, then host tests
# (train-host included), the same tests for aarch64 and armv7 under qemu-user,
# and the fmt and clippy gates. `.ci/run` calls exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."
# One cargo target folder for every clone on this machine (README,
# "Testing"): a second clone, or the next commit, rebuilds only our own
# crates, not tract, libtorch's bindings or image for three targets. Cargo
# keys each clone's crates by their path, so clones never mix their builds.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-${COLORIZE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/colorize}/target}"
t0=$SECONDS
bash scripts/setup.sh
# shellcheck source=env.sh
source scripts/env.sh

t_step=$SECONDS
step() {
    printf '\n\033[1m==> %s\033[0m  (previous step %d s, %d s in all)\n' "$*" \
        $((SECONDS - t_step)) $((SECONDS - t0))
    t_step=$SECONDS
}

step "cargo fmt --check"
cargo fmt --all --check

step "cargo clippy -D warnings (workspace, all targets)"
cargo clippy --workspace --all-targets -- -D warnings

step "colorize-shared builds no_std (no default features)"
cargo check -p colorize-shared --no-default-features

step "host tests: default members"
cargo test -- --show-output

step "host tests: train-host (libtorch)"
cargo test -p colorize-train -- --show-output

for target in aarch64-unknown-linux-gnu armv7-unknown-linux-gnueabihf; do
    step "tests for $target under qemu-user"
    cargo test --target "$target" -- --show-output
done

step "emulated arm64 and armhf boards: vivid camera under qemu-system" && VM_PROFILE=debug bash scripts/vm-test.sh aarch64 armv7
step "all tests passed"
