#!/usr/bin/env bash
# The amd64 package, installed like any Debian package into a minimal
# Debian root (debootstrap --variant=minbase, entered with chroot; no
# Docker): install, the user, folders, conffile and an enabled unit;
# `colorize box --check-config`; an upgrade keeps an edited box.toml;
# remove and purge keep the scans. Then lintian (no errors) and
# `systemd-analyze verify` on the installed unit. The test command runs it
# on the host build (--profile debug) that the host tests made.
#
# usage: scripts/package-test.sh [--profile P]   (default: debug)
# Packages and lintian run as the caller; the chroot part asks sudo when
# the caller is not root.
# env:   MIRROR  a Debian mirror (default http://deb.debian.org/debian)
# The minbase root is cached as a tarball in ~/.cache/colorize/deb-test/.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=env.sh
source scripts/env.sh

profile=debug debs= own_debs=
while [ $# -gt 0 ]; do
    case "$1" in
        --profile) profile=$2; shift 2 ;;
        # Internal: the packages were built already (the run as the user,
        # before it asks sudo for the chroot).
        --debs) debs=$2; shift 2 ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | grep '^#' | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "package-test: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done
for tool in debootstrap lintian systemd-analyze; do
    command -v "$tool" >/dev/null || { echo "package-test: $tool not found; scripts/setup.sh installs it" >&2; exit 1; }
done
fail() { echo "package-test: FAILED: $*" >&2; exit 1; }
ok() { echo "package-test: ok: $*"; }

if [ -z "$debs" ]; then
    # Built as the user who runs the tests, so that cargo's target folder
    # never gets files owned by root.
    debs=$(mktemp -d) own_debs=1
    trap 'rm -rf "$debs"' EXIT
    scripts/package.sh --profile "$profile" --out "$debs" x86_64-unknown-linux-gnu
    deb1=$(ls "$debs"/colorize-box_*_amd64.deb)
    # The same build at a higher version ('+' sorts after the end): the upgrade.
    v1=$(dpkg-deb -f "$deb1" Version)
    scripts/package.sh --profile "$profile" --version "$v1+upgrade" --out "$debs" x86_64-unknown-linux-gnu >/dev/null
    lintian --fail-on error "$deb1" > "$debs/lintian.txt" 2>&1 ||
        { cat "$debs/lintian.txt"; fail "lintian reports errors"; }
    ok "lintian: no errors"
    # chroot, mount and debootstrap need root: as the vm scripts do, ask sudo.
    if [ "$(id -u)" != 0 ]; then
        command -v sudo >/dev/null || fail "needs root (chroot, debootstrap) or sudo"
        sudo -E PATH="$PATH" bash "$COLORIZE_ROOT/scripts/package-test.sh" --debs "$debs"
        exit
    fi
fi
[ "$(id -u)" = 0 ] || fail "needs root (chroot, debootstrap)"
deb1=$(ls "$debs"/colorize-box_*_amd64.deb | grep -v '+upgrade')
deb2=$(ls "$debs"/colorize-box_*+upgrade_amd64.deb)

work=$(mktemp -d)
root=$work/root
cleanup() {
    for m in proc dev/pts dev; do
        if mountpoint -q "$root/$m"; then umount "$root/$m" || umount -l "$root/$m"; fi
    done
    # --one-file-system: never into a mount that is still there.
    rm -rf --one-file-system "$work"
    [ -z "$own_debs" ] || rm -rf "$debs"
}
trap cleanup EXIT

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
[ "$(in_root dpkg-query -W -f='${Version}' colorize-box)" = "$(dpkg-deb -f "$deb2" Version)" ] || fail "not upgraded"
grep -q '^poll_ms = 750$' "$root/etc/colorize/box.toml" || fail "the upgrade lost the edit of box.toml"
ok "upgrade to $(dpkg-deb -f "$deb2" Version) kept the edited box.toml"

# Scans in the output folder and the inbox's done folder.
install -d -o 0 -g 0 "$root/var/lib/colorize/inbox/done"
echo scan > "$root/var/lib/colorize/out/scan-0001.png"
echo original > "$root/var/lib/colorize/inbox/done/scan-0001.tif"
# Written by the box: its user's.
in_root chown colorize:colorize /var/lib/colorize/out/scan-0001.png /var/lib/colorize/inbox/done/scan-0001.tif
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

# Installed again: the scans the purge kept belong to the new colorize user.
# The old user's number need not come back: make them a number nobody has.
chown 4242:4242 "$root/var/lib/colorize/out/scan-0001.png" "$root/var/lib/colorize/inbox/done/scan-0001.tif"
apt_get install "/tmp/$(basename "$deb1")" || fail "apt-get install after a purge"
for f in /var/lib/colorize/out/scan-0001.png /var/lib/colorize/inbox/done/scan-0001.tif; do
    [ "$(in_root stat -c %U:%G "$f")" = colorize:colorize ] || fail "$f is not the new colorize's"
done
ok "installed again after the purge: the kept scans are the new colorize user's"
echo "package-test: all passed"
