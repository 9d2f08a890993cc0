# Shared by scripts/vm-test.sh, scripts/power-test.sh and
# scripts/memory-board-test.sh: the Debian
# kernel and busybox of an emulated ARM board, its modules, and an
# initramfs around the colorize binary. Source it from the repository root
# after scripts/env.sh.

cache="$COLORIZE_CACHE/vm"
mkdir -p "$cache"
sudo_cmd=""
[ "$(id -u)" = 0 ] || sudo_cmd="sudo"
log() { printf '\033[1m%s:\033[0m %s\n' "${VM_LOG_NAME:-vm}" "$*"; }

# What the host needs: qemu-system for both ARMs, cpio, python3 (checks),
# e2fsprogs (the ext4 disks of the power-cut and memory boards).
need=()
command -v qemu-system-aarch64 >/dev/null || need+=(qemu-system-arm)
command -v cpio >/dev/null || need+=(cpio)
command -v python3 >/dev/null || need+=(python3)
command -v gzip >/dev/null || need+=(gzip)
command -v debugfs >/dev/null || need+=(e2fsprogs)
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


# The colorize binary for a board: $COLORIZE_BIN, or a build of the profile
# $VM_PROFILE (release by default; `dist` is what ships, scripts/dist.sh;
# `debug` reuses what `cargo test --target` built). Sets $bin.
board_binary() { # arch
    local target=${RUST_TARGET[$1]}
    bin=${COLORIZE_BIN:-}
    if [ -z "$bin" ]; then
        local profile=${VM_PROFILE:-release}
        log "building colorize for $target ($profile)"
        case $profile in
            release) cargo build --release -p colorize-device --features camera,web --target "$target" ;;
            # What ships (LTO, stripped): the build the boards should be tested on.
            dist) bash "$COLORIZE_ROOT/scripts/dist.sh" "$target" ;;
            *) cargo build -p colorize-device --features camera,web --target "$target" ;;
        esac
        bin="$COLORIZE_TARGET/$target/$profile/colorize"
    fi
}

# Starts an initramfs tree in $ird: busybox, the stripped binary (and its
# libraries when dynamic), the modules named (with their dependencies, in
# load order in /modules.order), /init and what the inits share (/lib/board.sh).
initrd_tree() { # arch binary init-script ird module...
    local arch=$1 bin=$2 init=$3 ird=$4
    shift 4
    rm -rf "$ird" && mkdir -p "$ird"/{bin,dev,proc,sys,tmp,out,modules}
    cp "$bbdir/bin/busybox" "$ird/bin/busybox"
    cp "$bin" "$ird/bin/colorize"
    # Release builds keep line tables (profile.release debug = 1); the VM needs none.
    local strip=${STRIP_TOOL[$arch]}
    command -v "$strip" >/dev/null && "$strip" "$ird/bin/colorize"
    copy_shared_libs "$arch" "$ird/bin/colorize" "$ird"
    cp "$init" "$ird/init"
    mkdir -p "$ird/lib"
    cp "$COLORIZE_ROOT/scripts/vm/board.sh" "$ird/lib/board.sh"
    chmod +x "$ird/init" "$ird/bin/busybox" "$ird/bin/colorize"
    local kver vmlinuz
    vmlinuz=$(ls "$kdir"/boot/vmlinuz-* | head -n1)
    kver=${vmlinuz##*/vmlinuz-}
    index_modules "$kdir/lib/modules/$kver"
    MOD_DONE=(); ORDER=(); cp_mod=()
    local m p
    for m in "$@"; do resolve "$m"; done
    for p in "${cp_mod[@]}"; do
        mod_plain "$p" > "$ird/modules/$(modname "$p").ko"
    done
    printf '%s\n' "${ORDER[@]}" > "$ird/modules.order"
    log "modules: ${ORDER[*]}"
}

initrd_pack() { # ird out.gz
    (cd "$1" && find . | cpio -o -H newc --quiet | gzip -1) > "$2"
}
