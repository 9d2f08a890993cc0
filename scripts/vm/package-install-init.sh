#!/bin/busybox sh
# /init of the first boot of scripts/package-board.sh: the arm64 board's
# own CPU finishes the Debian root (debootstrap's second stage), installs
# the colorize-box package with apt, as an administrator would, turns off
# the camera, button and LED this board has not got, and powers off. Lines
# starting with "BOARD:" are what the host reads.
. /lib/board.sh
board_start BOARD:
wait_for /dev/vda
mkdir -p /root
mount -t ext4 /dev/vda /root || { echo "BOARD: mount failed"; poweroff -f; }
in_root() { chroot /root /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive "$@"; }
echo "BOARD: debootstrap second stage on $(uname -m)"
if chroot /root /debootstrap/debootstrap --second-stage > /tmp/second.log 2>&1; then
    echo "BOARD: second stage done"
else
    tail -n 20 /tmp/second.log | sed 's/^/BOARD: second stage: /'
    echo "BOARD: second stage failed"; poweroff -f
fi
mount -t proc proc /root/proc
mount -t devtmpfs dev /root/dev
deb=$(cd /root/root && ls colorize-box_*_arm64.deb)
echo "BOARD: apt-get install ./$deb"
( in_root apt-get install -y -q "/root/$deb"; echo $? > /tmp/rc ) 2>&1 | sed 's/^/BOARD: apt: /'
echo "BOARD: apt exit $(cat /tmp/rc)"
# This board has no camera, button or LED: the inbox alone.
for section in camera button led; do
    in_root sed -i "/^\[$section\]/,/^\[/ s/^enabled = true/enabled = false/" /etc/colorize/box.toml
done
in_root colorize box --config /etc/colorize/box.toml --check-config > /tmp/check 2>&1
echo "BOARD: check-config exit $?"
grep '^# ' /tmp/check | sed 's/^/BOARD: check-config: /'
in_root systemctl is-enabled colorize-box.service | sed 's/^/BOARD: colorize-box is /'
in_root systemctl enable board-check.service 2>&1 | sed 's/^/BOARD: /'
umount /root/proc /root/dev
sync
umount /root && echo "BOARD: unmounted"
echo "BOARD: installed"
poweroff -f
