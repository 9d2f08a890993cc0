#!/bin/busybox sh
# /init of the emulated board: load vivid, run colorize camera against it,
# hand the results to the host on the second virtio disk, power off.
# Lines starting with "VM:" are what scripts/vm-test.sh checks.
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
echo "VM: kernel $(uname -r) $(uname -m)"

# Dependency order, computed on the host from each module's depends= field.
for m in $(cat /modules.order); do
    args=""
    # One vivid instance with only a video-capture node (/dev/video0).
    [ "$m" = vivid ] && args="n_devs=1 node_types=0x1"
    insmod "/modules/$m.ko" $args || echo "VM: insmod $m failed"
done
i=0
while [ ! -e /dev/video0 ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
[ -e /dev/video0 ] && echo "VM: /dev/video0 present" || echo "VM: /dev/video0 missing"

mkdir -p /out
# busybox sh has no PIPESTATUS: record the status in a file instead.
run_rc() {
    name="$1"; shift
    echo "VM: run $name: colorize camera $*"
    ( /bin/colorize camera --device /dev/video0 --out "/out/$name" "$@"; echo $? > /tmp/rc.$name ) 2>&1 | sed "s/^/[$name] /"
    echo "VM: run $name exit $(cat /tmp/rc.$name)"
}

# 1. The acceptance run: 5 frames, YUYV, a size vivid will adjust.
run_rc basic --width 320 --height 240 --format yuyv --frames 5
# 2. Faults that should be survived: a corrupt buffer, then a disconnect.
# vivid flags the next buffer it *fills*; the 3 already filled in the MMAP
# queue come out first, so the flagged one is about the 5th frame: leave
# room before the disconnect.
run_rc recover --width 320 --height 240 --format grey --frames 8 \
    --inject "Inject V4L2_BUF_FLAG_ERROR@1" --inject "Disconnect@6"
# 3. A disconnect with no reopen allowed: must fail clearly, keeping frame 1.
run_rc giveup --width 320 --height 240 --format yuyv --frames 3 --max-reopens 0 \
    --inject "Disconnect@1"

for f in $(find /out -type f | sort); do
    echo "VM: file $f $(wc -c < "$f") $(md5sum "$f" | cut -d' ' -f1)"
done
# The results disk is a raw tar archive: no filesystem driver needed.
if [ -e /dev/vda ]; then
    tar -cf /dev/vda -C /out . && sync && echo "VM: results written to /dev/vda"
else
    echo "VM: no results disk"
fi
echo "VM: done"
poweroff -f
