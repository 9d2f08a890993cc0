#!/usr/bin/env bash
# The amd64 package, installed like any Debian package into a minimal
# Debian root (debootstrap --variant=minbase, entered with chroot; no
# Docker): install, the user, folders, conffile and an enabled unit;
# `colorize box --check-config`; an upgrade keeps an edited box.toml;
# remove and purge keep the scans. Then lintian (no errors) and
# `systemd-analyze verify` on the installed unit. The test command runs it
# on the host build (--profile debug) that the host tests made.
#
# usage: scripts/package-test.sh [--profile P]   (default: debug; runs itself with sudo when not root)
# env:   MIRROR  a Debian mirror (default http://deb.debian.org/debian)
# The minbase root is cached as a tarball in ~/.cache/colorize/deb-test/.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=env.sh
source scripts/env.sh

profile=debug
while [ $# -gt 0 ]; do
    case "$1" in
        --profile) profile=$2; shift 2 ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | grep '^#' | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "package-test: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done
# chroot, mount and debootstrap need root: as the vm scripts do, ask sudo.
if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null || { echo "package-test: needs root (chroot, debootstrap) or sudo" >&2; exit 1; }
    exec sudo -E PATH="$PATH" bash "$0" "$@"
fi
for tool in debootstrap lintian systemd-analyze; do
    command -v "$tool" >/dev/null || { echo "package-test: $tool not found; scripts/setup.sh installs it" >&2; exit 1; }
done

work=$(mktemp -d)
root=$work/root
cleanup() {
    for m in proc dev/pts dev; do umount -l "$root/$m" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "package-test: FAILED: $*" >&2; exit 1; }
ok() { echo "package-test: ok: $*"; }

# Two versions of the same build: the second is the upgrade.
scripts/package.sh --profile "$profile" --out "$work" x86_64-unknown-linux-gnu
scripts/package.sh --profile "$profile" --version 0.1.0-2~test --out "$work" x86_64-unknown-linux-gnu >/dev/null
deb1=$(ls "$work"/colorize-box_*-1_amd64.deb)
deb2=$(ls "$work"/colorize-box_*-2~test_amd64.deb)

lintian --fail-on error "$deb1" > "$work/lintian.txt" 2>&1 ||
    { cat "$work/lintian.txt"; fail "lintian reports errors"; }
ok "lintian: no errors"

# The package's own dependencies are in the root, so apt needs no network.
# systemd is there for the unit's targets that `systemd-analyze verify` reads.
suite=$(. /etc/os-release && echo "$VERSION_CODENAME")
include=adduser,init-system-helpers,libgcc-s1,systemd
cache=$COLORIZE_CACHE/deb-test/$suite-minbase-$(echo "$include" | md5sum | cut -c1-8).tar
if [ ! -f "$cache" ]; then
    mkdir -p "$(dirname "$cache")" "$work/fresh"
    echo "package-test: debootstrap --variant=minbase $suite (once; cached in $cache)"
    debootstrap --variant=minbase --include="$include" \
        "$suite" "$work/fresh" "${MIRROR:-http://deb.debian.org/debian}" > "$work/debootstrap.log" 2>&1 ||
        { tail -20 "$work/debootstrap.log"; fail "debootstrap"; }
    tar -C "$work/fresh" -cf "$cache.tmp" . && mv "$cache.tmp" "$cache"
    rm -rf "$work/fresh"
fi
mkdir "$root"
tar -C "$root" -xf "$cache"
mount -t proc proc "$root/proc"
mount --bind /dev "$root/dev"
mount --bind /dev/pts "$root/dev/pts"
cp "$deb1" "$deb2" "$root/tmp/"
in_root() { chroot "$root" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive "$@"; }
apt_get() { in_root apt-get -y -q -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "$@"; }

# Install.
apt_get install "/tmp/$(basename "$deb1")" || fail "apt-get install"
in_root getent passwd colorize >/dev/null || fail "no colorize user"
in_root getent group colorize >/dev/null || fail "no colorize group"
for d in /var/lib/colorize /var/lib/colorize/inbox /var/lib/colorize/out; do
    [ "$(in_root stat -c %U:%G "$d")" = colorize:colorize ] || fail "$d is not colorize's"
done
in_root dpkg-query -W -f='${Conffiles}\n' colorize-box | grep -q '/etc/colorize/box.toml' ||
    fail "box.toml is not a conffile"
[ -L "$root/etc/systemd/system/multi-user.target.wants/colorize-box.service" ] || fail "the unit is not enabled"
in_root colorize box --config /etc/colorize/box.toml --check-config > "$work/check.txt" 2>&1 ||
    { cat "$work/check.txt"; fail "colorize box --check-config"; }
ok "installed: user and group colorize, folders, conffile /etc/colorize/box.toml, unit enabled, --check-config passes"

SYSTEMD_LOG_LEVEL=notice systemd-analyze verify --root="$root" colorize-box.service ||
    fail "systemd-analyze verify"
ok "systemd-analyze verify accepts the unit"

# Upgrade with an edited config.
sed -i 's/^poll_ms = 1000$/poll_ms = 750/' "$root/etc/colorize/box.toml"
grep -q '^poll_ms = 750$' "$root/etc/colorize/box.toml" || fail "could not edit box.toml"
apt_get install "/tmp/$(basename "$deb2")" || fail "apt-get install (upgrade)"
[ "$(in_root dpkg-query -W -f='${Version}' colorize-box)" = 0.1.0-2~test ] || fail "not upgraded"
grep -q '^poll_ms = 750$' "$root/etc/colorize/box.toml" || fail "the upgrade lost the edit of box.toml"
ok "upgrade to 0.1.0-2~test kept the edited box.toml"

# Scans in the output folder and the inbox's done folder.
install -d -o 0 -g 0 "$root/var/lib/colorize/inbox/done"
echo scan > "$root/var/lib/colorize/out/scan-0001.png"
echo original > "$root/var/lib/colorize/inbox/done/scan-0001.tif"
apt_get remove colorize-box || fail "apt-get remove"
[ ! -e "$root/usr/bin/colorize" ] || fail "remove left the binary"
[ -f "$root/etc/colorize/box.toml" ] || fail "remove took the config (only purge may)"
apt_get purge colorize-box || fail "apt-get purge"
[ ! -e "$root/etc/colorize" ] || fail "purge left /etc/colorize"
! in_root getent passwd colorize >/dev/null || fail "purge left the user"
! in_root getent group colorize >/dev/null || fail "purge left the group"
[ "$(cat "$root/var/lib/colorize/out/scan-0001.png")" = scan ] || fail "purge lost an output"
[ "$(cat "$root/var/lib/colorize/inbox/done/scan-0001.tif")" = original ] || fail "purge lost a scan"
ok "remove kept the config; purge removed the user, group and /etc/colorize, and kept both scans"
echo "package-test: all passed"
