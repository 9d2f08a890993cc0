#!/bin/sh
# Runs on the emulated board at boot (board-check.service, after
# colorize-box.service): is the box up by itself? It drops a scan into the
# inbox as a scanner's share would (a temp name, then a rename), waits for
# the coloured output, shows what the box logged, and powers off. Lines
# starting with "BOARD:" go to the console, where the host reads them.
say() { echo "BOARD: $*" > /dev/console; }
i=0
until systemctl is-active --quiet colorize-box.service || [ $i -ge 120 ]; do sleep 1; i=$((i + 1)); done
say "colorize-box after boot: $(systemctl is-active colorize-box.service), $(systemctl is-enabled colorize-box.service)"
say "running as: $(ps -o user= -p "$(systemctl show -p MainPID --value colorize-box.service)")"
cp /root/scan.tif /var/lib/colorize/inbox/.scan-0001.tif.part
mv /var/lib/colorize/inbox/.scan-0001.tif.part /var/lib/colorize/inbox/scan-0001.tif
say "scan dropped into /var/lib/colorize/inbox: scan-0001.tif ($(stat -c %s /root/scan.tif) bytes)"
i=0
until [ -f /var/lib/colorize/out/scan-0001.png ] || [ $i -ge 600 ]; do sleep 1; i=$((i + 1)); done
if [ -f /var/lib/colorize/out/scan-0001.png ]; then
    say "output after ${i} s: /var/lib/colorize/out/scan-0001.png ($(stat -c '%s bytes, owner %U' /var/lib/colorize/out/scan-0001.png))"
else
    say "no output after ${i} s"
fi
sleep 2
say "inbox/done: $(ls /var/lib/colorize/inbox/done 2>/dev/null | tr '\n' ' ')"
journalctl -b -u colorize-box.service --no-pager -o short-monotonic | tail -n 15 | while IFS= read -r l; do say "journal: $l"; done
say "check done"
systemctl poweroff
