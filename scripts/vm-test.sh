#!/usr/bin/env bash
# End-to-end camera test on an emulated ARM board: Debian's own kernel under
# qemu-system, the real vivid V4L2 driver, and the `colorize` binary (static,
# or dynamic with its glibc) in a busybox initramfs. The VM captures 5 frames (plus two fault-injection
# runs), writes the results as a tar archive onto a second virtio disk, and
# powers off; the host then decodes every PNG and checks counts and sizes.
#
# usage: scripts/vm-test.sh [aarch64|armv7 ...]   (default: aarch64)
# env:   COLORIZE_BIN=path   use this binary instead of building
#        VM_PROFILE=debug     use (and build if needed) the dev-profile binary that
#                             `cargo test --target ...` already built: one build
#                             per target serves qemu-user tests and the VM
#        VM_TIMEOUT=seconds  wall-clock limit for one boot (default 600)
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=env.sh
source scripts/env.sh
root="$PWD"
cache="$COLORIZE_CACHE/vm"
mkdir -p "$cache"

log() { printf '\033[1mvm-test:\033[0m %s\n' "$*"; }
sudo_cmd=""
[ "$(id -u)" = 0 ] || sudo_cmd="sudo"

# What the host needs: qemu-system for both ARMs, cpio, python3 (checks).
need=()
command -v qemu-system-aarch64 >/dev/null || need+=(qemu-system-arm)
command -v cpio >/dev/null || need+=(cpio)
command -v python3 >/dev/null || need+=(python3)
command -v gzip >/dev/null || need+=(gzip)
if [ ${#need[@]} -gt 0 ]; then
    log "apt: installing ${need[*]}"
    apt_install "${need[@]}"
fi

# Debian package names per board.
declare -A DEB_ARCH=([aarch64]=arm64 [armv7]=armhf)
declare -A KERNEL_META=([aarch64]=linux-image-arm64 [armv7]=linux-image-armmp)
declare -A RUST_TARGET=([aarch64]=aarch64-unknown-linux-gnu [armv7]=armv7-unknown-linux-gnueabihf)
declare -A STRIP_TOOL=([aarch64]=aarch64-linux-gnu-strip [armv7]=arm-linux-gnueabihf-strip)
declare -A READELF=([aarch64]=aarch64-linux-gnu-readelf [armv7]=arm-linux-gnueabihf-readelf)
declare -A SYSROOT=([aarch64]=/usr/aarch64-linux-gnu [armv7]=/usr/arm-linux-gnueabihf)
declare -A QEMU=([aarch64]="qemu-system-aarch64 -M virt -cpu cortex-a57" [armv7]="qemu-system-arm -M virt,highmem=off -cpu cortex-a15")

fetch() { # arch -> sets $kdir (extracted kernel package) and $bbdir (busybox)
    local arch=$1 da=${DEB_ARCH[$1]} dir="$cache/$1"
    mkdir -p "$dir"
    if ! ls "$dir"/linux-image-*.deb >/dev/null 2>&1 || ! ls "$dir"/busybox-static_*.deb >/dev/null 2>&1; then
        dpkg --print-foreign-architectures | grep -qx "$da" || $sudo_cmd dpkg --add-architecture "$da"
        # A mirror mid-sync (one stale index, e.g. bookworm-security) makes
        # update exit non-zero while the main indexes are fine: carry on.
        $sudo_cmd apt-get update -qq || log "apt-get update reported errors; using the indexes it got"
        # The meta package only depends on the versioned image that holds the files.
        local kpkg
        kpkg=$(apt-cache depends "${KERNEL_META[$arch]}:$da" | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
        [ -n "$kpkg" ] || { echo "cannot resolve ${KERNEL_META[$arch]}:$da" >&2; exit 1; }
        log "downloading $kpkg and busybox-static:$da"
        # apt's sandbox user cannot write into a root-owned cache dir.
        (cd "$dir" && chmod 777 . && apt-get download "$kpkg" "busybox-static:$da" 2>&1 | grep -v '^W: Download is performed unsandboxed' || true)
        ls "$dir"/linux-image-*.deb "$dir"/busybox-static_*.deb >/dev/null
    fi
    kdir="$dir/kernel"
    bbdir="$dir/busybox"
    if [ ! -d "$kdir/boot" ]; then
        rm -rf "$kdir" && mkdir -p "$kdir" && dpkg-deb -x "$(ls "$dir"/linux-image-*.deb | head -n1)" "$kdir"
    fi
    if [ ! -x "$bbdir/bin/busybox" ]; then
        rm -rf "$bbdir" && mkdir -p "$bbdir" && dpkg-deb -x "$(ls "$dir"/busybox-static_*.deb | head -n1)" "$bbdir"
    fi
}

# Module name -> path, and its depends= list, straight from the .ko files
# (the package ships no modules.dep: depmod runs in its postinst).
declare -A MOD_PATH
modname() { local n; n=$(basename "$1"); n=${n%.xz}; n=${n%.zst}; echo "${n%.ko}"; }
index_modules() {
    MOD_PATH=()
    local f n
    while IFS= read -r f; do
        n=$(modname "$f")
        MOD_PATH[${n//-/_}]=$f
    done < <(find "$1" -name '*.ko' -o -name '*.ko.xz' -o -name '*.ko.zst')
}
mod_plain() { # module path -> uncompressed .ko on stdout
    case "$1" in
        *.xz) xz -dc "$1" ;;
        *.zst) zstd -dc "$1" ;;
        *) cat "$1" ;;
    esac
}
declare -A MOD_DONE
ORDER=()
cp_mod=()
resolve() { # depth-first: dependencies before the module itself
    local key=${1//-/_} path dep deps
    [ -n "${MOD_DONE[$key]:-}" ] && return 0
    MOD_DONE[$key]=1
    path=${MOD_PATH[$key]:-}
    [ -n "$path" ] || { echo "module $1 not found in the kernel package" >&2; exit 1; }
    # .modinfo is a run of NUL-terminated key=value strings.
    deps=$(mod_plain "$path" | tr '\0' '\n' | sed -n 's/^depends=//p' | head -n1)
    for dep in ${deps//,/ }; do resolve "$dep"; done
    ORDER+=("$(modname "$path")")
    cp_mod+=("$path")
}

# A dynamically linked binary (armv7: see .cargo/config.toml) needs its
# loader and libraries in the initramfs; they come from the cross sysroot,
# the same glibc that qemu-user runs the tests with.
copy_shared_libs() { # arch binary initrd
    local arch=$1 bin=$2 ird=$3 readelf=${READELF[$1]} sysroot=${SYSROOT[$1]}
    local interp
    interp=$("$readelf" -l "$bin" | sed -n 's/.*Requesting program interpreter: \(.*\)]/\1/p')
    if [ -z "$interp" ]; then
        log "$arch: static binary"
        return 0
    fi
    local todo=("$bin") seen=" " f lib src
    mkdir -p "$ird/lib"
    cp -L "$sysroot/lib/$(basename "$interp")" "$ird$interp"
    while [ ${#todo[@]} -gt 0 ]; do
        f=${todo[0]}; todo=("${todo[@]:1}")
        for lib in $("$readelf" -d "$f" | sed -n 's/.*Shared library: \[\(.*\)\]/\1/p'); do
            case "$seen" in *" $lib "*) continue ;; esac
            seen="$seen$lib "
            src="$sysroot/lib/$lib"
            [ -e "$src" ] || { echo "$arch: $lib (needed by $f) is not in $sysroot/lib" >&2; exit 1; }
            cp -L "$src" "$ird/lib/$lib"
            todo+=("$src")
        done
    done
    log "$arch: dynamic binary; initramfs gets $interp and${seen% }"
}

run_arch() {
    local arch=$1 target=${RUST_TARGET[$1]}
    log "== $arch =="
    fetch "$arch"
    local kver vmlinuz
    vmlinuz=$(ls "$kdir"/boot/vmlinuz-* | head -n1)
    kver=${vmlinuz##*/vmlinuz-}
    index_modules "$kdir/lib/modules/$kver"

    local bin=${COLORIZE_BIN:-}
    if [ -z "$bin" ]; then
        local profile=${VM_PROFILE:-release}
        log "building colorize for $target ($profile)"
        if [ "$profile" = release ]; then
            cargo build --release -p colorize-device --features camera --target "$target"
        else
            cargo build -p colorize-device --features camera --target "$target"
        fi
        bin="$COLORIZE_TARGET/$target/$profile/colorize"
    fi

    local work="$cache/$arch/run"
    rm -rf "$work" && mkdir -p "$work/initrd"/{bin,dev,proc,sys,tmp,out,modules}
    local ird="$work/initrd"
    cp "$bbdir/bin/busybox" "$ird/bin/busybox"
    cp "$bin" "$ird/bin/colorize"
    # Release builds keep line tables (profile.release debug = 1); the VM needs none.
    local strip=${STRIP_TOOL[$arch]}
    command -v "$strip" >/dev/null && "$strip" "$ird/bin/colorize"
    copy_shared_libs "$arch" "$ird/bin/colorize" "$ird"
    cp scripts/vm/init.sh "$ird/init"
    chmod +x "$ird/init" "$ird/bin/busybox" "$ird/bin/colorize"

    MOD_DONE=(); ORDER=(); cp_mod=()
    # vivid and its dependencies; virtio for the results disk on the virt board.
    for m in virtio_mmio virtio_blk vivid; do resolve "$m"; done
    local p
    for p in "${cp_mod[@]}"; do
        mod_plain "$p" > "$ird/modules/$(modname "$p").ko"
    done
    printf '%s\n' "${ORDER[@]}" > "$ird/modules.order"
    log "modules: ${ORDER[*]}"
    (cd "$ird" && find . | cpio -o -H newc --quiet | gzip -1) > "$work/initrd.gz"

    truncate -s 64M "$work/results.img"
    log "booting $kver under ${QEMU[$arch]%% *} (limit ${VM_TIMEOUT:-600}s)"
    local t0=$SECONDS rc=0
    # shellcheck disable=SC2086
    # -nic none: the `virt` board otherwise adds a default virtio NIC whose
    # option ROM (efi-virtio.rom) lives in ipxe-qemu, a package that
    # `--no-install-recommends` leaves out, and qemu refuses to start without
    # it. The VM needs no network: results go out on the second disk.
    timeout "${VM_TIMEOUT:-600}" ${QEMU[$arch]} -m 1024 -smp 2 -nographic -no-reboot -nic none \
        -kernel "$vmlinuz" -initrd "$work/initrd.gz" \
        -append "console=ttyAMA0 panic=-1 quiet loglevel=3" \
        -drive "file=$work/results.img,format=raw,if=none,id=results" \
        -device virtio-blk-device,drive=results \
        </dev/null > "$work/console.log" 2>&1 || rc=$?
    tr -d '\r' < "$work/console.log" > "$work/console.txt"
    grep -E '^(VM:|\[(basic|recover|giveup)\])' "$work/console.txt" || true
    log "VM ran $((SECONDS - t0)) s (qemu status $rc)"
    grep -q '^VM: done' "$work/console.txt" || { log "FAIL: the VM did not finish (see $work/console.txt)"; tail -n 30 "$work/console.txt"; return 1; }

    rm -rf "$work/results" && mkdir -p "$work/results"
    tar -xf "$work/results.img" -C "$work/results"
    python3 scripts/vm/check.py "$work/results" "$work/console.txt"
    log "$arch: passed"
}

archs=("$@")
[ ${#archs[@]} -gt 0 ] || archs=(aarch64)
for a in "${archs[@]}"; do
    [ -n "${RUST_TARGET[$a]:-}" ] || { echo "unknown board $a (aarch64 or armv7)" >&2; exit 2; }
    run_arch "$a"
done
