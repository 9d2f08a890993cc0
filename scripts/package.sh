#!/usr/bin/env bash
# Builds the colorize-box Debian package for each TARGET from the shipping
# build (scripts/dist.sh), with Debian's own packager (dpkg-deb):
#   /usr/bin/colorize                         the stripped binary
#   /lib/systemd/system/colorize-box.service  the unit (deploy/)
#   /etc/colorize/box.toml                    the config, a conffile
#   /usr/share/colorize/colorize-box-web.conf the web page's drop-in, not enabled
#   /usr/share/man/man1/colorize.1.gz         from `colorize --help` (help2man)
#   /usr/share/doc/colorize-box/               copyright (scripts/deb/copyright.py),
#                                             every subcommand's --help, deploy.md
# and the maintainer scripts of scripts/deb/. Writes dist/colorize-box_<version>_<arch>.deb.
#
# usage: scripts/package.sh [--profile P] [--version V] [--out DIR] TARGET...
#   TARGET   x86_64-unknown-linux-gnu (amd64), aarch64-unknown-linux-gnu (arm64),
#            armv7-unknown-linux-gnueabihf (armhf)
#   --profile dist (default; what ships) or a Cargo profile already built,
#            such as debug: the test command packages its host build
#   --version the package version (default: the workspace's, revision -1)
#   --out    where the .debs go (default: dist/)
# example: scripts/package.sh aarch64-unknown-linux-gnu armv7-unknown-linux-gnueabihf x86_64-unknown-linux-gnu
#          sudo apt install ./dist/colorize-box_0.1.0-1_arm64.deb
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=env.sh
source scripts/env.sh

profile=dist version= out=dist targets=()
while [ $# -gt 0 ]; do
    case "$1" in
        --profile) profile=$2; shift 2 ;;
        --version) version=$2; shift 2 ;;
        --out) out=$2; shift 2 ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | grep '^#' | sed 's/^# \{0,1\}//'; exit 0 ;;
        -*) echo "package.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
        *) targets+=("$1"); shift ;;
    esac
done
[ ${#targets[@]} -gt 0 ] || { echo "package.sh: name a target (see --help)" >&2; exit 2; }
for tool in dpkg-deb help2man python3; do
    command -v "$tool" >/dev/null || { echo "package.sh: $tool not found; scripts/setup.sh installs it" >&2; exit 1; }
done
if [ -z "$version" ]; then
    version=$(cargo metadata --format-version 1 --no-deps |
        python3 -c 'import json, sys; print(next(p["version"] for p in json.load(sys.stdin)["packages"] if p["name"] == "colorize-device"))')-1
fi
# As Debian's tools take it: DEBFULLNAME and DEBEMAIL, else the last commit's author.
maintainer="${DEBFULLNAME:-$(git log -1 --format=%an 2>/dev/null || echo colorize)} <${DEBEMAIL:-$(git log -1 --format=%ae 2>/dev/null || echo "root@$(hostname -f)")}>"
host=$(rustc -vV | sed -n 's/^host: //p')
mkdir -p "$out"

for target in "${targets[@]}"; do
    case "$target" in
        x86_64-unknown-linux-gnu) arch=amd64 strip_tool=strip runner= ;;
        aarch64-unknown-linux-gnu) arch=arm64 strip_tool=aarch64-linux-gnu-strip runner=$CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER ;;
        armv7-unknown-linux-gnueabihf) arch=armhf strip_tool=arm-linux-gnueabihf-strip runner=$CARGO_TARGET_ARMV7_UNKNOWN_LINUX_GNUEABIHF_RUNNER ;;
        *) echo "package.sh: unknown target $target" >&2; exit 2 ;;
    esac
    if [ "$profile" = dist ]; then
        bash scripts/dist.sh "$target" >&2
        bin=$COLORIZE_TARGET/$target/dist/colorize
    else
        # The host's own build lives outside target/<triple>/: the one the
        # host tests made.
        case "$profile" in
            debug|dev) cargo_profile=dev pdir=debug ;;
            *) cargo_profile=$profile pdir=$profile ;;
        esac
        target_args=() tdir=
        if [ "$target" != "$host" ]; then target_args=(--target "$target") tdir=$target/; fi
        cargo build --profile "$cargo_profile" -p colorize-device --features camera,web --bin colorize \
            "${target_args[@]}" >&2
        bin=$COLORIZE_TARGET/$tdir$pdir/colorize
    fi

    root=$(mktemp -d)
    chmod 0755 "$root"
    trap 'rm -rf "$root"' EXIT
    doc=$root/usr/share/doc/colorize-box
    install -d "$root/DEBIAN" "$root/usr/bin" "$root/lib/systemd/system" "$root/etc/colorize" \
        "$root/usr/share/colorize" "$root/usr/share/man/man1" "$doc"
    install -m 0755 "$bin" "$root/usr/bin/colorize"
    "$strip_tool" --strip-unneeded --remove-section=.comment --remove-section=.note "$root/usr/bin/colorize"
    # A manual install puts the binary in /usr/local/bin (docs/deploy.md);
    # a package never does.
    sed -e 's|/usr/local/bin/colorize|/usr/bin/colorize|g' \
        -e 's|/usr/share/doc/colorize/|/usr/share/doc/colorize-box/|g' \
        deploy/colorize-box.service > "$root/lib/systemd/system/colorize-box.service"
    if grep -q /usr/local "$root/lib/systemd/system/colorize-box.service"; then
        echo "package.sh: the unit still names /usr/local" >&2; exit 1
    fi
    install -m 0644 deploy/box.toml "$root/etc/colorize/box.toml"
    install -m 0644 deploy/colorize-box-web.conf "$root/usr/share/colorize/colorize-box-web.conf"
    install -m 0644 docs/deploy.md "$doc/deploy.md"

    # The help texts come from the binary itself (under qemu-user for ARM).
    wrap=$(mktemp -d)
    run=$wrap/colorize
    printf '#!/bin/sh\nexec %s %q "$@"\n' "$runner" "$root/usr/bin/colorize" > "$run"
    chmod +x "$run"
    help2man --no-info --name "colour grayscale photographs with a small neural network, on the device" \
        --version-string "$version" "$run" | sed "s|$run|colorize|g" |
        gzip -9n > "$root/usr/share/man/man1/colorize.1.gz"
    {
        "$run" --help
        for sub in $("$run" --help | awk '/^Commands:/{on=1; next} on && /^  [a-z]/{print $1} on && /^$/{exit}'); do
            [ "$sub" = help ] && continue
            printf '\n\n==== colorize %s --help ====\n\n' "$sub"
            "$run" "$sub" --help
        done
    } | sed "s|$run|colorize|g" | gzip -9n > "$doc/help.txt.gz"
    rm -r "$wrap"

    python3 scripts/deb/copyright.py "$target" > "$doc/copyright"
    printf 'colorize-box (%s) unstable; urgency=medium\n\n  * Built from commit %s by scripts/package.sh.\n\n -- %s  %s\n' \
        "$version" "$(git rev-parse --short HEAD 2>/dev/null || echo unknown)" "$maintainer" \
        "$(date -R -d "@$(git log -1 --format=%ct 2>/dev/null || date +%s)")" | gzip -9n > "$doc/changelog.Debian.gz"

    # A dynamically linked binary needs a glibc (and libgcc) at least as new
    # as the newest symbol version it uses: what dpkg-shlibdeps computes,
    # which cannot see a cross target's libraries here.
    depends="adduser, init-system-helpers (>= 1.54~)"
    newest() { readelf -V "$root/usr/bin/colorize" | grep -o "$1_[0-9.]*" | sed "s/$1_//" | sort -V | tail -1; }
    needed=$(readelf -d "$root/usr/bin/colorize" | sed -n 's/.*NEEDED.*\[\(.*\)\]/\1/p')
    if grep -q '^libgcc_s\.so' <<< "$needed"; then depends="libgcc-s1 (>= $(newest GCC)), $depends"; fi
    if grep -q '^libc\.so' <<< "$needed"; then depends="libc6 (>= $(newest GLIBC)), $depends"; fi
    others=$(grep -v -E '^(libc|libm|libdl|libpthread|librt|libgcc_s|ld-linux.*)\.so' <<< "$needed" || true)
    [ -z "$others" ] || { echo "package.sh: unexpected shared libraries: $others" >&2; exit 1; }
    install -D -m 0644 scripts/deb/lintian-overrides "$root/usr/share/lintian/overrides/colorize-box"
    install -m 0755 scripts/deb/postinst scripts/deb/prerm scripts/deb/postrm "$root/DEBIAN/"
    echo /etc/colorize/box.toml > "$root/DEBIAN/conffiles"
    size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
    cat > "$root/DEBIAN/control" <<CONTROL
Package: colorize-box
Version: $version
Architecture: $arch
Maintainer: $maintainer
Installed-Size: $size
Depends: $depends
Section: graphics
Priority: optional
Description: scanner box that colours grayscale scans on the device
 colorize predicts the colour of grayscale photographs with a small
 convolutional network that runs on the CPU of a small board. This package
 runs it as a service: scans dropped into an inbox folder and frames taken
 with a push button come out coloured at full resolution, with their
 metadata and ICC profile. The model is built into the binary.
 .
 The same binary colours files and camera frames from the command line
 (colorize files, colorize camera) for the archivist's field kit.
CONTROL
    (cd "$root" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | sort -z | xargs -0 md5sum) > "$root/DEBIAN/md5sums"
    deb="$out/colorize-box_${version}_$arch.deb"
    dpkg-deb --root-owner-group -Zxz --build "$root" "$deb" >/dev/null
    rm -rf "$root"
    trap - EXIT
    printf '%s  %s bytes\n' "$deb" "$(stat -c %s "$deb")"
done
