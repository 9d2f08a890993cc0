#!/usr/bin/env python3
"""The power-cut test's host side (scripts/power-test.sh builds the board).

The box's state lives on an ext4 disk image. A round formats a fresh image
holding the scans in the inbox, then boots the board `cuts` times and pulls
the plug each time (SIGKILL to qemu: the guest's page cache is lost) inside
a chosen step of the box's durable write, which the box prints with
COLORIZE_PHASE_TRACE. After each cut, a copy of the image is checked as a
reader would find it (the journal replayed by e2fsck): every output under
its own name complete, every input exactly once. The round ends with a boot
that drains the inbox and shuts down cleanly; then the image must pass
`e2fsck -fn`, hold no temp file, every input in done/ (the broken one in
failed/) and every output byte-identical to an uninterrupted run's.

Only the Python standard library; e2fsprogs (mkfs.ext4, debugfs, e2fsck)
and qemu-system do the rest.
"""

import argparse
import json
import os
import random
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import zlib

PHASES = ["read", "write", "synced", "renamed"]
BROKEN = "g-broken.png"
TMP_SUFFIX = ".colorize-tmp"
IMAGE_MB = 160


def log(msg):
    print(f"\033[1mpower-test:\033[0m {msg}", flush=True)


# ---------------------------------------------------------------- the scans


def pattern(w, h, seed, x_scale=1.0):
    """Gray levels 0..1: gradients, rings and a little noise (a scan-like
    image that neither compresses to nothing nor is pure noise)."""
    rng = random.Random(seed)
    rows = []
    for y in range(h):
        fy = y / h
        row = []
        for x in range(w):
            fx = x * x_scale / w
            v = 0.45 * fx + 0.35 * fy + 0.15 * (((x // 24) + (y // 24)) % 2)
            v += rng.random() * 0.05
            row.append(min(1.0, v))
        rows.append(row)
    return rows


def png(w, h, channels, rows8):
    raw = b"".join(b"\0" + bytes(r) for r in rows8)
    color = {1: 0, 3: 2}[channels]

    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, color, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b""))


def tiff16(w, h, rows):
    """Uncompressed 16-bit gray TIFF, little-endian, one strip."""
    data = b"".join(struct.pack(f"<{w}H", *[int(v * 65535) for v in r]) for r in rows)
    entries = [(256, 4, w), (257, 4, h), (258, 3, 16), (259, 3, 1), (262, 3, 1),
               (273, 4, 0), (277, 3, 1), (278, 4, h), (279, 4, len(data)), (284, 3, 1)]
    ifd_off = 8
    data_off = ifd_off + 2 + 12 * len(entries) + 4
    out = b"II*\0" + struct.pack("<I", ifd_off) + struct.pack("<H", len(entries))
    for tag, typ, val in entries:
        if tag == 273:
            val = data_off
        if typ == 3:
            out += struct.pack("<HHIHH", tag, typ, 1, val, 0)
        else:
            out += struct.pack("<HHII", tag, typ, 1, val)
    return out + b"\0\0\0\0" + data


def make_scans(dst, repo):
    """A mix of what a scanner writes: 8-bit gray and RGB PNG, 16-bit gray
    TIFF, colour JPEG photos (large enough to take seconds on the board),
    and one broken file that must end in failed/."""
    os.makedirs(dst, exist_ok=True)
    if os.path.exists(os.path.join(dst, "complete")):
        return
    g = pattern(320, 240, 1)
    with open(os.path.join(dst, "a-gray-small.png"), "wb") as f:
        f.write(png(320, 240, 1, [[int(v * 255) for v in r] for r in g]))
    c = pattern(1200, 900, 2)
    rows = [[int(v * 255 * k) for v in r for k in (1.0, 0.8, 0.6)] for r in c]
    with open(os.path.join(dst, "b-rgb-large.png"), "wb") as f:
        f.write(png(1200, 900, 3, rows))
    with open(os.path.join(dst, "c-gray16-large.tif"), "wb") as f:
        f.write(tiff16(1200, 900, pattern(1200, 900, 3, 0.7)))
    photos = os.path.join(repo, "docs/reproduction/full/photos")
    shutil.copy(os.path.join(photos, "Path-2560x1600.jpg"), os.path.join(dst, "d-photo-large.jpg"))
    shutil.copy(os.path.join(repo, "fuzz/seeds/decode_image/gray.jpg"), os.path.join(dst, "e-gray-small.jpg"))
    with open(os.path.join(dst, "f-gray16-small.tif"), "wb") as f:
        f.write(tiff16(400, 300, pattern(400, 300, 4)))
    whole = png(64, 64, 1, [[x * 4 for x in range(64)]] * 64)
    with open(os.path.join(dst, BROKEN), "wb") as f:
        f.write(whole[: len(whole) // 2])
    open(os.path.join(dst, "complete"), "w").close()


def scan_names(scans):
    return sorted(n for n in os.listdir(scans) if n != "complete")


def output_name(scan):
    return os.path.splitext(scan)[0] + ".png"


# ----------------------------------------------------------- disk images


def run(cmd, ok=(0,)):
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode not in ok:
        raise SystemExit(f"{' '.join(cmd)} exited {p.returncode}:\n{p.stdout}{p.stderr}")
    return p


def fresh_image(path, scans, stage):
    shutil.rmtree(stage, ignore_errors=True)
    os.makedirs(os.path.join(stage, "inbox"))
    os.makedirs(os.path.join(stage, "out"))
    for n in scan_names(scans):
        shutil.copy(os.path.join(scans, n), os.path.join(stage, "inbox", n))
    if os.path.exists(path):
        os.remove(path)
    run(["mkfs.ext4", "-q", "-F", "-L", "colorize", "-d", stage, path, f"{IMAGE_MB}M"])


def extract(image, dst, replay):
    """The box's folders as a reader finds them: with `replay`, from a copy
    whose journal e2fsck replayed (what the next mount sees)."""
    shutil.rmtree(dst, ignore_errors=True)
    os.makedirs(dst)
    src = image
    if replay:
        src = dst + ".img"
        run(["cp", "--sparse=always", image, src])
        # 0: clean, 1: errors corrected (a journal replay counts as one).
        p = run(["e2fsck", "-fy", src], ok=(0, 1))
        if p.returncode == 1 and "Clearing" in p.stdout:
            log(f"e2fsck after the cut: {p.stdout.strip()}")
    for d in ("inbox", "out"):
        run(["debugfs", "-R", f"rdump /{d} {dst}", src])
    if replay:
        os.remove(src)


# ----------------------------------------------------------------- checks


def png_complete(data):
    """Whether a PNG decodes completely: every chunk's CRC, the whole zlib
    stream, exactly the bytes its header promises."""
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        return False
    pos, idat, ihdr, end = 8, b"", None, False
    while pos + 8 <= len(data):
        (n,) = struct.unpack(">I", data[pos:pos + 4])
        t = data[pos + 4:pos + 8]
        body = data[pos + 8:pos + 8 + n]
        crc = data[pos + 8 + n:pos + 12 + n]
        if len(body) != n or len(crc) != 4 or struct.unpack(">I", crc)[0] != zlib.crc32(t + body):
            return False
        if t == b"IHDR":
            ihdr = struct.unpack(">IIBBBBB", body)
        elif t == b"IDAT":
            idat += body
        elif t == b"IEND":
            end = True
            break
        pos += 12 + n
    if not end or ihdr is None:
        return False
    w, h, depth, color = ihdr[0], ihdr[1], ihdr[2], ihdr[3]
    channels = {0: 1, 2: 3, 4: 2, 6: 4}[color]
    try:
        d = zlib.decompressobj()
        raw = d.decompress(idat) + d.flush()
        if not d.eof:
            return False
    except zlib.error:
        return False
    return len(raw) == h * (1 + w * channels * depth // 8)


def check(state, scans, ref, final):
    """Counts what went wrong in an extracted state; returns (tally, errors)."""
    t = {"lost": 0, "partial": 0, "duplicates": 0, "changed": 0, "temps": 0, "waiting": 0}
    errors = []
    inbox = os.path.join(state, "inbox")
    done = os.path.join(inbox, "done")
    failed = os.path.join(inbox, "failed")
    out = os.path.join(state, "out")

    def names(d):
        return sorted(os.listdir(d)) if os.path.isdir(d) else []

    for scan in scan_names(scans):
        original = open(os.path.join(scans, scan), "rb").read()
        stem, ext = os.path.splitext(scan)
        places = []
        for d in (inbox, done, failed):
            for n in names(d):
                if n == scan or re.fullmatch(re.escape(stem) + r"\.\d+" + re.escape(ext), n):
                    places.append(os.path.join(d, n))
        if not places:
            t["lost"] += 1
            errors.append(f"{scan}: lost (nowhere in inbox, done/ or failed/)")
            continue
        if len(places) > 1:
            t["duplicates"] += 1
            errors.append(f"{scan}: {len(places)} copies: {places}")
        for p in places:
            if open(p, "rb").read() != original:
                t["changed"] += 1
                errors.append(f"{p}: the input changed")
        where = os.path.basename(os.path.dirname(places[0]))
        outp = os.path.join(out, output_name(scan))
        if scan == BROKEN:
            if final and where != "failed":
                errors.append(f"{scan}: broken input not in failed/ but in {where}")
            continue
        if where == "failed":
            errors.append(f"{scan}: a good input was moved to failed/")
        elif where == "done" and not os.path.exists(outp):
            t["lost"] += 1
            errors.append(f"{scan}: in done/ without its output")
        elif where == "inbox":
            t["waiting"] += 1
            if final:
                errors.append(f"{scan}: still in the inbox after the drain")
    for n in names(out):
        p = os.path.join(out, n)
        if n.startswith(".") and n.endswith(TMP_SUFFIX):
            t["temps"] += 1
            if final:
                errors.append(f"{n}: a temp file survived the drain")
            continue
        want = os.path.join(ref, n)
        if not os.path.exists(want):
            errors.append(f"out/{n}: not an output of any scan")
            continue
        got = open(p, "rb").read()
        if got != open(want, "rb").read():
            t["partial"] += 1
            errors.append(f"out/{n}: {len(got)} bytes, differs from the uninterrupted run's "
                          f"({os.path.getsize(want)} bytes; decodes: {png_complete(got)})")
    return t, errors


# ------------------------------------------------------------------ boots


class Board:
    def __init__(self, args):
        self.qemu = args.qemu.split()
        self.kernel = args.kernel
        self.initrd = args.initrd
        self.timeout = args.boot_timeout

    def cmd(self, image, mode, pause_ms):
        return self.qemu + [
            "-m", "1024", "-smp", "2", "-nographic", "-no-reboot", "-nic", "none",
            "-kernel", self.kernel, "-initrd", self.initrd,
            "-append", f"console=ttyAMA0 panic=-1 quiet loglevel=3 powertest={mode} phasepause={pause_ms}",
            "-drive", f"file={image},format=raw,if=none,id=state,cache=writeback",
            "-device", "virtio-blk-device,drive=state",
        ]

    def drain(self, image, console):
        """Boots, lets the box finish the inbox, shuts down cleanly."""
        t0 = time.time()
        with open(console, "w") as f:
            p = subprocess.run(self.cmd(image, "drain", 0), stdin=subprocess.DEVNULL, stdout=f,
                               stderr=subprocess.STDOUT, timeout=self.timeout)
        text = open(console, errors="replace").read().replace("\r", "")
        if "VM: unmounted" not in text or "VM: drain exit 0" not in text:
            sys.stdout.write(text[-3000:])
            raise SystemExit(f"the drain boot did not finish cleanly (qemu {p.returncode}); see {console}")
        return time.time() - t0

    def cut(self, image, console, pause_ms, phase, nth, delay):
        """Boots with the box running and pulls the plug `delay` seconds
        after its `nth` `phase` marker. Returns (phase the box was in, file,
        whether the target was reached)."""
        t0 = time.time()
        last = ("boot", "")
        seen = 0
        kill_at = None
        with open(console, "w") as f:
            p = subprocess.Popen(self.cmd(image, "run", pause_ms), stdin=subprocess.DEVNULL,
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            os.set_blocking(p.stdout.fileno(), False)
            buf = b""
            # The box prints a step at least every pause: a long silence
            # after it started means it has nothing left to do.
            quiet_since = None
            quiet_limit = 2 * pause_ms / 1000 + 20
            while True:
                now = time.time()
                if kill_at is not None and now >= kill_at:
                    break
                if now - t0 > self.timeout:
                    p.kill()
                    raise SystemExit(f"no cut within {self.timeout}s; see {console}")
                chunk = p.stdout.read() or b""
                if not chunk:
                    if p.poll() is not None:
                        raise SystemExit(f"the board stopped by itself; see {console}")
                    time.sleep(0.005)
                    # With nothing left to do, cut anyway.
                    if quiet_since and now - quiet_since > quiet_limit and kill_at is None:
                        kill_at = now
                    continue
                f.write(chunk.decode(errors="replace"))
                f.flush()
                buf += chunk
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    line = line.decode(errors="replace").strip("\r")
                    m = re.match(r"phase: (\w+) (.*)", line)
                    if quiet_since is not None:
                        quiet_since = time.time()
                    if m:
                        last = (m.group(1), os.path.basename(m.group(2)))
                        if m.group(1) == phase and kill_at is None:
                            seen += 1
                            if seen == nth:
                                kill_at = time.time() + delay
                    elif line.startswith("VM: box running"):
                        quiet_since = time.time()
            p.kill()  # SIGKILL: the power cut
            p.wait()
            rest = p.stdout.read() or b""
            f.write(rest.decode(errors="replace"))
        # What the console had printed before the plug was pulled.
        return last[0], last[1], seen >= nth


# ------------------------------------------------------------------- main


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--qemu", required=True)
    ap.add_argument("--kernel", required=True)
    ap.add_argument("--initrd", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--repo", required=True)
    ap.add_argument("--cuts", type=int, default=5)
    ap.add_argument("--per-round", type=int, default=5, help="cuts before each drain")
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--pause-ms", type=int, default=1500, help="the box's wait after each step marker")
    ap.add_argument("--boot-timeout", type=int, default=900)
    ap.add_argument("--json", help="write the tally here")
    a = ap.parse_args()

    seed = a.seed if a.seed is not None else random.SystemRandom().randrange(1 << 30)
    rng = random.Random(seed)
    log(f"seed {seed} (rerun the same cuts with --seed {seed})")
    t_start = time.time()
    os.makedirs(a.work, exist_ok=True)
    scans = os.path.join(a.work, "scans")
    make_scans(scans, a.repo)
    board = Board(a)
    image = os.path.join(a.work, "state.img")
    stage = os.path.join(a.work, "stage")
    ref = os.path.join(a.work, "reference")

    # The uninterrupted run every output is compared with.
    fresh_image(image, scans, stage)
    secs = board.drain(image, os.path.join(a.work, "console-reference.txt"))
    extract(image, os.path.join(a.work, "ref-state"), replay=False)
    shutil.rmtree(ref, ignore_errors=True)
    shutil.copytree(os.path.join(a.work, "ref-state", "out"), ref)
    for n in scan_names(scans):
        if n == BROKEN:
            continue
        p = os.path.join(ref, output_name(n))
        if not os.path.exists(p) or not png_complete(open(p, "rb").read()):
            raise SystemExit(f"the uninterrupted run has no complete output for {n}")
    t, errors = check(os.path.join(a.work, "ref-state"), scans, ref, final=True)
    if errors:
        raise SystemExit("the uninterrupted run itself fails the checks:\n  " + "\n  ".join(errors))
    log(f"uninterrupted run: {len(scan_names(scans))} scans in {secs:.0f} s (boot included)")

    tally = {"seed": seed, "cuts": 0, "rounds": 0, "scans": 0, "lost": 0, "partial": 0,
             "duplicates": 0, "changed": 0, "phases": {p: 0 for p in PHASES + ["boot", "moved"]},
             "missed_target": 0}
    failures = []
    cut_no = 0
    # A cut that lands past its step (a slow host) is counted where it
    # landed; a step no cut has reached yet gets up to 8 extra cuts.
    extra = 8 if a.cuts >= len(PHASES) else 0

    def missing():
        return [p for p in PHASES if tally["phases"][p] == 0]

    def planned():
        return a.cuts + (min(extra, len(missing())) if cut_no >= a.cuts else 0)

    while cut_no < a.cuts or (missing() and cut_no < a.cuts + extra):
        tally["rounds"] += 1
        r = tally["rounds"]
        fresh_image(image, scans, stage)
        tally["scans"] += len(scan_names(scans))
        waiting = len(scan_names(scans)) - 1  # the good scans not yet done
        for _ in range(max(1, min(a.per_round, planned() - cut_no))):
            if waiting == 0:
                break  # nothing left to cut into: on to the drain
            # The step reached least often so far, the earliest first.
            phase = min(PHASES, key=lambda p: (tally["phases"][p], PHASES.index(p)))
            nth = min(rng.choice([1, 1, 2, 3]), waiting)
            pause = a.pause_ms / 1000
            # Inside the marker's wait; for `read`, past it, into the
            # reading and colourizing that follow.
            delay = pause + rng.uniform(0.1, 0.6) if phase == "read" else rng.uniform(0.05, pause - 0.05)
            cut_no += 1
            console = os.path.join(a.work, f"console-cut{cut_no:03d}.txt")
            got, scan, reached = board.cut(image, console, a.pause_ms, phase, nth, delay)
            tally["cuts"] += 1
            tally["phases"][got] = tally["phases"].get(got, 0) + 1
            tally["missed_target"] += 0 if reached else 1
            state = os.path.join(a.work, "after-cut")
            extract(image, state, replay=True)
            ct, errs = check(state, scans, ref, final=False)
            waiting = ct["waiting"]
            for k in ("lost", "partial", "duplicates", "changed"):
                tally[k] += ct[k]
            log(f"round {r} cut {cut_no}: aimed at {phase} #{nth}, cut in {got} {scan}; "
                f"{ct['waiting']} waiting, {ct['temps']} temp file(s) left"
                + (f"; FAIL: {'; '.join(errs)}" if errs else ""))
            failures += [f"cut {cut_no} ({got} {scan}): {e}" for e in errs]
        secs = board.drain(image, os.path.join(a.work, f"console-drain{r:03d}.txt"))
        fsck = run(["e2fsck", "-fn", image], ok=(0, 1, 4))
        if fsck.returncode != 0:
            failures.append(f"round {r}: e2fsck -fn after the clean shutdown: exit {fsck.returncode}\n{fsck.stdout}")
        state = os.path.join(a.work, "after-drain")
        extract(image, state, replay=False)
        ct, errs = check(state, scans, ref, final=True)
        for k in ("lost", "partial", "duplicates", "changed"):
            tally[k] += ct[k]
        failures += [f"round {r} after the drain: {e}" for e in errs]
        log(f"round {r}: drained in {secs:.0f} s; e2fsck -fn exit {fsck.returncode}; "
            + ("all scans done, outputs identical, no temp file" if not errs else "FAIL: " + "; ".join(errs)))

    tally["seconds"] = round(time.time() - t_start)
    tally["ok"] = not failures
    log(json.dumps(tally))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(tally, f, indent=1)
    if failures:
        print("\n".join(["power-test: FAILED"] + failures), file=sys.stderr)
        sys.exit(1)
    if a.cuts >= len(PHASES) and missing():
        print(f"power-test: FAILED: no cut landed in {missing()}", file=sys.stderr)
        sys.exit(1)
    log(f"passed: {tally['cuts']} cuts, lost 0, partial 0, duplicates 0")


if __name__ == "__main__":
    main()
