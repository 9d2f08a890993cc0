#!/usr/bin/env python3
"""Checks what the emulated board wrote, from the host.

usage: check.py RESULTS_DIR CONSOLE_LOG

Decodes every PNG with the standard library only (chunk CRCs, zlib stream,
scanline count and filter bytes), checks the frame counts and negotiated
sizes the VM reported, and that the console's md5 sums match the files
carried out on the results disk.
"""
import hashlib
import os
import re
import struct
import sys
import zlib


def decode_png(path):
    data = open(path, "rb").read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG signature")
    pos, idat, ihdr, seen_end = 8, [], None, False
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        ctype = data[pos + 4:pos + 8]
        body = data[pos + 8:pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])
        if zlib.crc32(ctype + body) & 0xFFFFFFFF != crc:
            raise ValueError(f"bad CRC in {ctype!r}")
        if ctype == b"IHDR":
            ihdr = struct.unpack(">IIBBBBB", body)
        elif ctype == b"IDAT":
            idat.append(body)
        elif ctype == b"IEND":
            seen_end = True
            break
        pos += 12 + length
    if ihdr is None or not seen_end:
        raise ValueError("truncated PNG")
    w, h, depth, color = ihdr[:4]
    if (depth, color) != (8, 2):
        raise ValueError(f"expected 8-bit RGB, got depth {depth} colour type {color}")
    raw = zlib.decompress(b"".join(idat))
    stride = 1 + 3 * w
    if len(raw) != h * stride:
        raise ValueError(f"pixel data is {len(raw)} bytes, {w}x{h} needs {h * stride}")
    if any(raw[y * stride] > 4 for y in range(h)):
        raise ValueError("bad scanline filter byte")
    return w, h


def main():
    results, log_path = sys.argv[1], sys.argv[2]
    log = open(log_path, errors="replace").read()
    fails = []

    def expect(cond, msg):
        print(("ok   " if cond else "FAIL ") + msg)
        if not cond:
            fails.append(msg)

    def run_info(name):
        m = re.search(rf"VM: run {name} exit (\S+)", log)
        sizes = re.findall(rf"\[{name}\] camera: negotiated (\d+)x(\d+)", log)
        files = sorted(os.listdir(os.path.join(results, name))) if os.path.isdir(os.path.join(results, name)) else []
        return (m.group(1) if m else None), [(int(a), int(b)) for a, b in sizes], files

    def check_frames(name, files, size):
        for f in files:
            p = os.path.join(results, name, f)
            try:
                got = decode_png(p)
                expect(got == size, f"{name}/{f} decodes, {got[0]}x{got[1]}")
            except Exception as e:  # noqa: BLE001 - report every failure
                expect(False, f"{name}/{f} decodes: {e}")

    rc, sizes, files = run_info("basic")
    expect(rc == "0", f"basic: colorize camera exited {rc}")
    expect(len(sizes) >= 1, f"basic: negotiated size reported {sizes}")
    size = sizes[0] if sizes else None
    expect(size is not None and size != (320, 240), f"basic: vivid adjusted 320x240 to {size}")
    expect(len(files) == 5, f"basic: 5 frames written ({files})")
    check_frames("basic", files, size)

    rc, sizes, files = run_info("recover")
    expect(rc == "0", f"recover: exited {rc} after the injected faults")
    expect(re.search(r"\[recover\] camera: skipped a frame: frame \d+ was flagged corrupt", log) is not None,
           "recover: the V4L2_BUF_FLAG_ERROR frame was skipped")
    expect(re.search(r"\[recover\] camera: .*reopening \(1/", log) is not None, "recover: reopened after Disconnect")
    expect(len(files) == 8, f"recover: 8 frames written ({files})")
    check_frames("recover", files, sizes[0] if sizes else None)

    rc, sizes, files = run_info("giveup")
    expect(rc not in (None, "0"), f"giveup: failed with status {rc}")
    expect(re.search(r"\[giveup\] error: camera lost .*1 frame\(s\) were written and are intact", log) is not None,
           "giveup: clear error naming the frames kept")
    expect(len(files) == 1, f"giveup: the frame written before the disconnect survived ({files})")
    check_frames("giveup", files, sizes[0] if sizes else None)

    sums = re.findall(r"VM: file /out/(\S+) (\d+) ([0-9a-f]{32})", log)
    expect(len(sums) == 14, f"console lists 14 files ({len(sums)})")
    for rel, size_b, md5 in sums:
        p = os.path.join(results, rel)
        ok = os.path.isfile(p) and hashlib.md5(open(p, "rb").read()).hexdigest() == md5
        expect(ok, f"{rel}: carried out intact (md5 {md5})")

    if fails:
        print(f"{len(fails)} check(s) failed")
        sys.exit(1)
    print("all VM checks passed")


if __name__ == "__main__":
    main()
