#!/bin/busybox sh
# /init of the second boot of scripts/package-board.sh: loads the disk's
# modules (Debian's kernel has them as modules; the package's board has an
# initramfs of its own for that), mounts the Debian root and hands over to
# systemd, as a board's own initramfs does.
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
for m in $(cat /modules.order); do
    insmod "/modules/$m.ko" || echo "BOARD: insmod $m failed"
done
i=0
while [ ! -e /dev/vda ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
mkdir -p /newroot
mount -t ext4 -o rw /dev/vda /newroot || { echo "BOARD: mount failed"; poweroff -f; }
umount /proc /sys
mount --move /dev /newroot/dev
exec switch_root /newroot /lib/systemd/systemd
