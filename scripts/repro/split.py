#!/usr/bin/env python3
"""Extracts the paper's class subsets of Tiny ImageNet into train/ and test/
folders: per class, the images sorted by their number, every 10th (n % 10 == 9)
to test/, the rest to train/ (500 images give 450 train / 50 test, the
paper's fish protocol). The trainer then holds out 0.1 of train/ for
validation. Original JPEG bytes, paths kept (train/<wnid>/<file>), so the
trainer's class filters still apply. Idempotent: a finished split leaves a
`done` marker listing its counts and is not redone."""
import argparse, os, re, sys, tarfile

ap = argparse.ArgumentParser(description=__doc__)
ap.add_argument("--out", required=True, help="folder that gets train/ and test/")
ap.add_argument("--classes", help="comma-separated wnids (default: every class)")
ap.add_argument("shards", nargs="+", help="train-*.tar.gz shards")
a = ap.parse_args()

done = os.path.join(a.out, "done")
if os.path.exists(done):
    print(open(done).read().strip())
    sys.exit(0)
want = set(a.classes.split(",")) if a.classes else None
pattern = re.compile(r"train/(n\d+)/images/(n\d+_(\d+)\.JPEG)$", re.I)
counts = {"train": 0, "test": 0}
seen = set()
for shard in a.shards:
    with tarfile.open(shard) as t:
        for m in t:
            hit = pattern.search(m.name) if m.isfile() else None
            if not hit or (want is not None and hit.group(1) not in want):
                continue
            wnid, name, n = hit.group(1), hit.group(2), int(hit.group(3))
            part = "test" if n % 10 == 9 else "train"
            folder = os.path.join(a.out, part, wnid)
            os.makedirs(folder, exist_ok=True)
            with open(os.path.join(folder, name), "wb") as f:
                f.write(t.extractfile(m).read())
            counts[part] += 1
            seen.add(wnid)
if want is not None and seen != want:
    sys.exit(f"split: classes not found in the shards: {sorted(want - seen)}")
if not seen:
    sys.exit("split: no images found")
summary = f"split: {len(seen)} classes, {counts['train']} train and {counts['test']} test images in {a.out}"
with open(done, "w") as f:
    f.write(summary + "\n")
print(summary)
