#!/bin/busybox sh
# /init of the low-memory board (scripts/memory-board-test.sh): mounts the
# disk holding the masters, prints the memory budget and each master's
# estimated need, colourizes the folder with the defaults, reports any OOM
# kill from the kernel log, powers off. Lines starting with "VM:" are what
# the host reads.
. /lib/board.sh
board_start VM:
wait_for /dev/vda
mkdir -p /data
mount -t ext4 /dev/vda /data || { echo "VM: mount failed"; poweroff -f; }
echo "VM: $(grep MemTotal /proc/meminfo | tr -s ' '), $(nproc) CPUs"
export SOURCE_DATE_EPOCH=1764633600
/bin/colorize info --estimate /data/masters/*.tif 2>&1 | grep -E '^(memory budget|/data)' | sed 's/^/VM: /'
# busybox sh has no PIPESTATUS: the status goes through a file.
( /bin/colorize files /data/masters --out /data/out; echo $? > /tmp/rc ) 2>&1 | sed 's/^/VM: files: /'
echo "VM: files exit $(cat /tmp/rc)"
echo "VM: oom kills $(dmesg | grep -c -i -E 'out of memory|oom-kill|killed process')"
umount /data && echo "VM: unmounted"
echo "VM: done"
poweroff -f
