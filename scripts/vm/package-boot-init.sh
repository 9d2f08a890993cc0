#!/bin/busybox sh
# /init of the second boot of scripts/package-board.sh: loads the disk's
# modules (Debian's kernel has them as modules; the package's board has an
# initramfs of its own for that), mounts the Debian root and hands over to
# systemd, as a board's own initramfs does.
. /lib/board.sh
board_start BOARD:
wait_for /dev/vda
mkdir -p /newroot
mount -t ext4 -o rw /dev/vda /newroot || { echo "BOARD: mount failed"; poweroff -f; }
umount /proc /sys
mount --move /dev /newroot/dev
exec switch_root /newroot /lib/systemd/systemd
