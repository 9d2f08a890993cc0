# Sourced by the emulated boards' /init scripts (busybox sh; initrd_tree in
# scripts/vm/lib.sh puts it at /lib/board.sh): the start every board shares.

# busybox's applets, /proc, /sys and /dev, then the modules the host chose,
# in dependency order. $1 prefixes a failure line ("VM:", "BOARD:").
board_start() {
    /bin/busybox --install -s /bin
    export PATH=/bin
    mount -t proc proc /proc
    mount -t sysfs sys /sys
    mount -t devtmpfs dev /dev
    for m in $(cat /modules.order); do
        insmod "/modules/$m.ko" || echo "$1 insmod $m failed"
    done
}

# Waits up to 5 s for a device node (a module's probe is asynchronous).
wait_for() {
    i=0
    while [ ! -e "$1" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
}
