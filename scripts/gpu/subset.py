#!/usr/bin/env python3
"""Writes an evenly spaced subset of the JPEGs in Tiny ImageNet shards as one
.tar.gz of the original files (paths kept, so class filters still work), as
large as fits in --max-bytes. The shards are in class order, so a stride
keeps every class's share. Original files, not re-encoded: gzip over a tar
already removes most of the per-file JPEG header cost (1,942 B a file raw,
about 1,330 B in the shard), and re-encoding as mosaics measured no smaller
at equal quality (colorize-train pack: 1,484 B at q75, 1,928 B at q85)."""
import argparse, io, sys, tarfile

ap = argparse.ArgumentParser(description=__doc__)
ap.add_argument("--out", required=True)
ap.add_argument("--max-bytes", type=int, required=True)
ap.add_argument("shards", nargs="+")
a = ap.parse_args()

names = []
for s in a.shards:
    with tarfile.open(s) as t:
        names += [(s, m.name) for m in t if m.isfile() and m.name.upper().endswith(".JPEG")]
print(f"subset: {len(names)} images in {len(a.shards)} shards", file=sys.stderr)

def write(fraction):
    keep = {names[int(i / fraction)] for i in range(int(len(names) * fraction))}
    with tarfile.open(a.out, "w:gz", compresslevel=9) as out:
        for s in a.shards:
            with tarfile.open(s) as t:
                for m in t:
                    if (s, m.name) in keep:
                        out.addfile(m, t.extractfile(m))
    import os
    return len(keep), os.path.getsize(a.out)

# gzip'd originals run about 1,330 B an image; start a little under budget
# and shrink until it fits.
fraction = min(1.0, a.max_bytes / (1400.0 * len(names)))
while True:
    n, size = write(fraction)
    print(f"subset: {n} images ({fraction:.3f} of all) in {size / 2**20:.1f} MiB", file=sys.stderr)
    if size <= a.max_bytes:
        break
    fraction *= 0.97 * a.max_bytes / size
print(n)
