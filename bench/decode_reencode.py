#!/usr/bin/env python3
"""What OpenCV needs just to read a photo and write it back as PNG, the
baseline of the whole-photo benchmark (issue 17): `cv2.imread` +
`cv2.imwrite` (OpenCV's PNG defaults), one thread, nothing else.

    python bench/decode_reencode.py --out DIR photo.jpg [photo.jpg ...]
"""
import argparse
from pathlib import Path

import cv2


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, help="folder for the PNGs (created)")
    ap.add_argument("photos", nargs="+")
    args = ap.parse_args()
    cv2.setNumThreads(1)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for p in args.photos:
        img = cv2.imread(p, cv2.IMREAD_COLOR)
        if img is None:
            raise SystemExit(f"{p}: can not decode")
        if not cv2.imwrite(str(out / (Path(p).stem + ".png")), img):
            raise SystemExit(f"{out}: can not write")


if __name__ == "__main__":
    main()
