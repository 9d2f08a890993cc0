#!/usr/bin/env bash
# Runs every test of the project: installs what is missing, then host tests
# (train-host included), the same tests for aarch64 and armv7 under qemu-user,
# the Debian package in a chroot, the fuzz targets' seeds, the emulated boards (arm64 on the dist build: the
# camera, power cuts, a board with little RAM) and
# the fmt and clippy gates. `.ci/run` calls exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."
t0=$SECONDS
# shellcheck source=env.sh
source scripts/env.sh
# One cargo target folder for every clone on this machine (README, "The two
# commands"): a second clone, or the next commit, reuses tract, libtorch's
# bindings and image for all three targets. Our own crates are removed from
# it first: cargo names a workspace crate's build by its path inside the
# workspace, so another clone's build of it could otherwise pass for this
# one's. Two test runs from different clones at once would share binaries:
# give one its own CARGO_TARGET_DIR.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$COLORIZE_CACHE/target}"
bash scripts/setup.sh
source scripts/env.sh
own_crates=(-p colorize-shared -p colorize-model -p colorize-io -p colorize-device -p colorize-train -p colorize-e2e)
for target in "" aarch64-unknown-linux-gnu armv7-unknown-linux-gnueabihf; do
    cargo clean -q "${own_crates[@]}" ${target:+--target "$target"}
done

t_step=$SECONDS
step() {
    printf '\n\033[1m==> %s\033[0m  (previous step %d s, %d s in all)\n' "$*" \
        $((SECONDS - t_step)) $((SECONDS - t0))
    t_step=$SECONDS
}

step "cargo fmt --check"
cargo fmt --all --check

step "house rules: no import cycles, cli imported only by cli, files within 600 lines, colorize-train free of tract"
python3 scripts/check-layers.py

# Files only, a second: a page that contradicts the code or BENCHMARKS.md
# (the embedded model's kind, a quoted speed ratio) fails before any build.
step "docs agree with the code and BENCHMARKS.md (scripts/check-docs.sh)"
bash scripts/check-docs.sh

# The camera (V4L2, `--features camera`) and the box's web page (`web`) are
# off in a default build: lint both that build and the one that ships.
step "cargo clippy -D warnings (workspace, all targets; camera and web on, then off)"
cargo clippy --workspace --all-targets --features colorize-device/camera,colorize-device/web -- -D warnings
cargo clippy -p colorize-device --all-targets -- -D warnings

step "colorize-shared builds no_std (no default features)"
cargo check -p colorize-shared --no-default-features

step "host tests: default members (the browser test drives Debian's chromium)"
cargo test --features colorize-device/camera,colorize-device/web -- --show-output

# The host tests just built target/debug/colorize: the package test installs
# it, packaged by scripts/package.sh exactly as the shipping build is.
step "Debian package (amd64): install, upgrade, remove, purge in a minbase chroot; lintian; systemd-analyze verify"
bash scripts/package-test.sh --profile debug

step "Slurm: a single-node cluster runs the job array (one task cancelled, resubmitted)"
bash scripts/slurm-test.sh

step "Kubernetes: the Indexed Job validated offline against the API schema"
bash scripts/k8s-validate.sh

step "host tests: train-host (libtorch)"
cargo test -p colorize-train -- --show-output

for target in aarch64-unknown-linux-gnu armv7-unknown-linux-gnueabihf; do
    step "tests for $target under qemu-user"
    cargo test --target "$target" --features colorize-device/camera,colorize-device/web -- --show-output
done

step "fuzz targets: built (stable, no instrumentation) and every seed replayed"
bash scripts/fuzz-replay.sh

# The arm64 board runs what ships: the dist build (LTO, stripped) that
# scripts/dist.sh makes. The armhf board reuses the debug build the qemu-user
# tests made.
step "dist build for aarch64 (scripts/dist.sh)"
bash scripts/dist.sh aarch64-unknown-linux-gnu

step "emulated arm64 board (dist build) and armhf board: vivid camera under qemu-system"
VM_PROFILE=dist bash scripts/vm-test.sh aarch64
VM_PROFILE=debug bash scripts/vm-test.sh armv7

step "emulated arm64 board (dist build): 5 power cuts while the box writes (ext4 disk)"
VM_PROFILE=dist bash scripts/power-test.sh --cuts 5
step "emulated arm64 board (dist build) with 288 MiB of RAM: four masters within the memory budget"
VM_PROFILE=dist bash scripts/memory-board-test.sh
step "all tests passed"
