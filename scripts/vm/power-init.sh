#!/bin/busybox sh
# /init of the power-cut test's board (scripts/power-test.sh): mounts the
# box's ext4 disk where the box keeps its state, then runs `colorize box`
# as the systemd unit does (deploy/colorize-box.service: the same config
# path, --check-config first, as the unprivileged user colorize that owns
# the state folder). The kernel command line says how it ends:
#   powertest=run    the box runs until the host pulls the plug (SIGKILL to
#                    qemu), printing its write steps (COLORIZE_PHASE_TRACE);
#   powertest=drain  `--drain`: the box finishes the inbox, the disk is
#                    unmounted cleanly and the board powers off.
# Lines starting with "VM:" are what the host reads.
. /lib/board.sh
board_start VM:
mode=$(sed -n 's/.*powertest=\([a-z]*\).*/\1/p' /proc/cmdline)
pause=$(sed -n 's/.*phasepause=\([0-9]*\).*/\1/p' /proc/cmdline)
wait_for /dev/vda
hostname colorize-box
mkdir -p /var/lib/colorize
# As /etc/fstab mounts a data partition by default: ext4, rw, relatime.
if ! mount -t ext4 -o rw,relatime /dev/vda /var/lib/colorize; then
    echo "VM: mount failed"
    poweroff -f
fi
echo "VM: mounted ($mode)"
# The unit's User=colorize, and StateDirectory= handing it the state folder.
echo "root:x:0:0:root:/:/bin/sh" > /etc/passwd
echo "colorize:x:999:999:colorize:/var/lib/colorize:/bin/sh" >> /etc/passwd
echo "root:x:0:" > /etc/group
echo "colorize:x:999:" >> /etc/group
chown -R colorize:colorize /var/lib/colorize
as_box() { su -s /bin/sh colorize -c "$*"; }
export SOURCE_DATE_EPOCH=1700000000
as_box /bin/colorize box --config /etc/colorize/box.toml --check-config > /dev/null || echo "VM: bad config"
if [ "$mode" = run ]; then
    echo "VM: box running as $(as_box id -un)"
    export COLORIZE_PHASE_TRACE=${pause:-1000}
    as_box /bin/colorize box --config /etc/colorize/box.toml 2>&1
    echo "VM: box exited $?"
    # Only a pulled plug may end this boot.
    while true; do sleep 60; done
fi
as_box /bin/colorize box --config /etc/colorize/box.toml --drain 2>&1
echo "VM: drain exit $?"
umount /var/lib/colorize && echo "VM: unmounted"
echo "VM: done"
poweroff -f
