#!/usr/bin/env bash
# A real single-node Slurm cluster on this machine runs
# deploy/slurm/colorize-array.sbatch over a tree of test images: a 4-task
# array over 48 images, one task cancelled midway (scancel on its index)
# and resubmitted alone, then every output and the merged manifests checked.
#
# Installs Debian's slurm-wlm and munge if missing, starts munged,
# slurmctld and slurmd on localhost from a generated slurm.conf in a
# temporary folder (its own ports and sockets: a Slurm already on the
# machine is left alone), and stops them and their jobs on exit. The
# daemons need root: as another user it reruns itself with sudo.
#
# Usage: scripts/slurm-test.sh [COLORIZE_BINARY]   (default: builds one)
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=env.sh
source scripts/env.sh

log() { printf '\033[1mslurm-test:\033[0m %s\n' "$*"; }
fail() { printf '\033[1;31mslurm-test: FAIL\033[0m %s\n' "$*" >&2; exit 1; }

if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || fail "needs root (munged, slurmctld and slurmd run as root) and there is no sudo"
    log "the cluster's daemons need root: rerunning with sudo"
    exec sudo -E PATH="$PATH" bash "$0" "$@"
fi
missing=()
for p in slurm-wlm munge; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
    log "installing ${missing[*]}"
    apt_install "${missing[@]}"
fi

bin=${1:-}
if [ -z "$bin" ]; then
    log "building colorize"
    cargo build -q -p colorize-device --features camera --bin colorize
    bin="$COLORIZE_TARGET/debug/colorize"
fi
bin=$(realpath "$bin")

work=$(mktemp -d /tmp/colorize-slurm.XXXXXX)
chmod 755 "$work"
cleanup() {
    # Our cluster's jobs first (SLURM_CONF points at it), then its daemons.
    [ -n "${SLURM_CONF:-}" ] && scancel --quiet --user=root 2>/dev/null || true
    local pids=()
    for d in slurmctld slurmd munged; do
        [ -f "$work/$d.pid" ] && pids+=("$(cat "$work/$d.pid")")
    done
    [ ${#pids[@]} -gt 0 ] && kill "${pids[@]}" 2>/dev/null || true
    # slurmctld writes its state on the way out: wait for the daemons to be
    # gone before removing their folder (up to 10 s), and never fail on it.
    for _ in $(seq 100); do
        alive=0
        for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
        [ "$alive" = 0 ] && break
        sleep 0.1
    done
    if [ "${KEEP:-0}" = 1 ]; then log "kept $work"; else rm -rf "$work" 2>/dev/null || { sleep 1; rm -rf "$work"; } || true; fi
}
trap cleanup EXIT

# --- munge -----------------------------------------------------------------
mkdir -p "$work/munge"
dd if=/dev/urandom of="$work/munge/munge.key" bs=1024 count=1 status=none
chmod 700 "$work/munge" && chmod 400 "$work/munge/munge.key"
munged --force --key-file="$work/munge/munge.key" --socket="$work/munge/socket" \
    --pid-file="$work/munged.pid" --log-file="$work/munged.log" \
    --seed-file="$work/munge/seed" \
    || fail "munged did not start: $(cat "$work/munged.log" 2>/dev/null)"

# --- slurm.conf ------------------------------------------------------------
host=$(hostname -s)
cpus=$(nproc)
mem=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 / 2 ))
# Ports of our own, picked from the PID so two runs do not collide.
base=$((20000 + ($$ % 20000)))
mkdir -p "$work/state" "$work/spool"
cat > "$work/slurm.conf" <<EOF
ClusterName=colorizetest
SlurmctldHost=$host
SlurmctldPort=$base
SlurmdPort=$((base + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$work/munge/socket
StateSaveLocation=$work/state
SlurmdSpoolDir=$work/spool
SlurmctldPidFile=$work/slurmctld.pid
SlurmdPidFile=$work/slurmd.pid
SlurmctldLogFile=$work/slurmctld.log
SlurmdLogFile=$work/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
MpiDefault=none
ReturnToService=2
SlurmdTimeout=30
InactiveLimit=0
KillWait=2
NodeName=$host CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=test Nodes=$host Default=YES MaxTime=INFINITE State=UP OverSubscribe=YES
EOF
export SLURM_CONF=$work/slurm.conf
slurmctld -i || fail "slurmctld did not start: $(tail -5 "$work/slurmctld.log")"
slurmd || fail "slurmd did not start: $(tail -5 "$work/slurmd.log")"
for _ in $(seq 60); do
    state=$(sinfo -h -n "$host" -o %t 2>/dev/null || true)
    [[ "$state" == idle* || "$state" == mix* ]] && break
    sleep 0.5
done
[[ "$state" == idle* || "$state" == mix* ]] || fail "node not idle ($state): $(tail -5 "$work/slurmd.log")"
log "single-node cluster up: $(sinfo -h -o '%P %D %t %c CPUs')"

# --- the archive -----------------------------------------------------------
# 48 gray PNGs in 4 boxes with repeated names, large enough (800x600) that
# a task takes a few seconds and can be cancelled midway.
python3 - "$work/in" <<'PY'
import os, struct, sys, zlib
root = sys.argv[1]
def png(path, w, h, seed):
    raw = b"".join(b"\0" + bytes((x * 3 + y * 2 + seed * 17 + (x * y) % 7) % 256 for x in range(w)) for y in range(h))
    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)
    data = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)) \
        + chunk(b"IDAT", zlib.compress(raw, 1)) + chunk(b"IEND", b"")
    open(path, "wb").write(data)
for k in range(48):
    box = os.path.join(root, f"box{k % 4}")
    os.makedirs(box, exist_ok=True)
    png(os.path.join(box, f"{k // 4:04}.png"), 800, 600, k)
PY
chmod -R a+rX "$work"

# --- the array, one task cancelled midway, then resubmitted ----------------
export IN=$work/in OUT=$work/out SHARDS=4 COLORIZE=$bin
mkdir -p "$work/logs"
submit() {
    sbatch --parsable --chdir="$work/logs" "$@" deploy/slurm/colorize-array.sbatch
}
t0=$SECONDS
job=$(submit --array=0-3)
log "submitted array job $job (4 tasks over 48 images)"
victim=1
manifest=$OUT/.manifests/$victim.jsonl
cancelled=0
for _ in $(seq 600); do
    lines=$( (cat "$manifest" 2>/dev/null || true) | wc -l)
    if [ "$lines" -ge 2 ]; then
        scancel "${job}_${victim}"
        cancelled=1
        log "cancelled task $victim after $lines of its images"
        break
    fi
    state=$(squeue -h -j "${job}_${victim}" -o %T 2>/dev/null || true)
    [ -z "$state" ] && [ "$lines" -gt 0 ] && break
    sleep 0.1
done
[ "$cancelled" = 1 ] || fail "task $victim finished before it could be cancelled"
# Wait for the rest of the array.
for _ in $(seq 1200); do
    [ -z "$(squeue -h -j "$job" 2>/dev/null)" ] && break
    sleep 0.25
done
[ -z "$(squeue -h -j "$job")" ] || fail "array job $job still running"
done_before=$(find "$OUT" -name '*.png' | wc -l)
[ "$done_before" -lt 48 ] || fail "all 48 outputs exist although task $victim was cancelled"
log "array done without task $victim: $done_before of 48 outputs; resubmitting index $victim"
submit --array=$victim --wait >/dev/null || fail "resubmitted task failed: $(cat "$work"/logs/*.log | tail -5)"
log "resubmitted task finished; whole run $((SECONDS - t0)) s"

# --- checks ----------------------------------------------------------------
n=$(find "$OUT" -name '*.png' | wc -l)
[ "$n" -eq 48 ] || fail "$n outputs, expected 48"
while IFS= read -r f; do
    rel=${f#"$IN"/}
    [ -f "$OUT/$rel" ] || fail "missing output for $rel"
done < <(find "$IN" -name '*.png')
leftover=$(find "$OUT" -name '*.colorize-tmp' | wc -l)
[ "$leftover" -eq 0 ] || fail "$leftover temp files left"
report=$("$bin" report "$OUT"/.manifests/*.jsonl) || fail "report: $report"
echo "$report" | sed 's/^/  /'
# Every input done: "ok", or "skipped" by the rerun where the cancelled
# task finished an image but was killed before its manifest line (a
# second SIGTERM window); none failed.
grep -qE '^48 inputs: [0-9]+ ok, 0 failed' <<<"$report" || fail "merged manifests: $report"
# No input is colourized twice: across all shards' manifests each input has
# at most one ok line (the resubmitted task's lines for what it had done are
# "skipped"), and every input has an ok or a skipped line.
dups=$(cat "$OUT"/.manifests/*.jsonl | python3 -c '
import collections, json, sys
ok = collections.Counter()
done = set()
for line in sys.stdin:
    try:
        r = json.loads(line)
    except ValueError:
        continue
    if r["status"] == "ok":
        ok[r["input"]] += 1
    if r["status"] in ("ok", "skipped"):
        done.add(r["input"])
print(sum(1 for c in ok.values() if c > 1), len(done))')
read -r twice distinct <<<"$dups"
[ "$twice" -eq 0 ] || fail "$twice inputs colourized twice"
[ "$distinct" -eq 48 ] || fail "$distinct distinct inputs done, expected 48"
log "PASS: 4-task array, task $victim cancelled and resubmitted, 48 outputs once each, manifests merged ($((SECONDS - t0)) s)"
