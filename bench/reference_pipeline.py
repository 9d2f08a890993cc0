#!/usr/bin/env python3
"""The Python reference for the whole-frame benchmark (issue 7): the steps of
`colorize files photo.jpg --out DIR`, done with OpenCV and onnxruntime, one
thread each.

    python bench/reference_pipeline.py photo.jpg out.png models/colorize-default.onnx
    python bench/reference_pipeline.py --model models/colorize-default.onnx --out DIR a.jpg b.jpg ...

(the second form: many photos in one process, as `colorize files` runs them)

Steps, as in the Rust pipeline: decode the JPEG; L* of the full-resolution
image; L* resized to the model's input size (area average); the model
(input L*/50 - 1, output a*b* / 128); a*b* upsampled bilinearly to full size
(pixel-centre aligned); full-resolution L* + a*b* -> sRGB8; PNG encode.
Lab is OpenCV's 8-bit path (COLOR_RGB2Lab / COLOR_Lab2RGB: L* scaled to
0..255, a*b* offset by 128), the fastest it offers. Not done here: the Rust
binary's chroma reduction for out-of-gamut pixels and its atomic, fsynced
write.
"""
import sys
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort


def session(model_path):
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(model_path, opts, providers=["CPUExecutionProvider"])


def caveat(model_path):
    """What the benchmark pages say when this pipeline does not do what ours
    does with `model_path`: a colour-distribution head (more than 2 output
    channels) is decoded by ours (annealed mean over the bins); here its
    first two channels are read as a*b*. None when the steps are the same."""
    channels = session(model_path).get_outputs()[0].shape[1]
    if isinstance(channels, int) and channels > 2:
        return (f"the model outputs {channels} colour-bin logits a pixel: ours decodes them (annealed "
                "mean over the bins), the Python pipeline reads the first two channels as a\\*b\\* "
                "and skips that decode, so its colours are wrong and its time leaves the decode out")
    return None


def colorize(sess, src, dst):
    bgr = cv2.imread(src, cv2.IMREAD_COLOR)
    if bgr is None:
        raise SystemExit(f"{src}: can not decode")
    h, w = bgr.shape[:2]
    l8 = cv2.cvtColor(bgr, cv2.COLOR_BGR2Lab)[:, :, 0]  # L* * 255/100
    inp = sess.get_inputs()[0]
    mh, mw = inp.shape[2], inp.shape[3]
    small = cv2.resize(l8, (mw, mh), interpolation=cv2.INTER_AREA).astype(np.float32)
    x = (small * (100.0 / 255.0) / 50.0 - 1.0).reshape(1, 1, mh, mw)
    ab = sess.run(None, {inp.name: x})[0][0]  # [2, mh, mw] in -1..1
    ab = np.clip(ab, -1.0, 1.0) * 128.0 + 128.0
    a = cv2.resize(ab[0], (w, h), interpolation=cv2.INTER_LINEAR)
    b = cv2.resize(ab[1], (w, h), interpolation=cv2.INTER_LINEAR)
    lab = cv2.merge([l8, np.clip(a + 0.5, 0, 255).astype(np.uint8),
                     np.clip(b + 0.5, 0, 255).astype(np.uint8)])
    out = cv2.cvtColor(lab, cv2.COLOR_Lab2BGR)
    if not cv2.imwrite(dst, out):
        raise SystemExit(f"{dst}: can not write")


def main():
    cv2.setNumThreads(1)
    args = sys.argv[1:]
    if args[:1] == ["--model"] and len(args) >= 5 and args[2] == "--out":
        sess, out = session(args[1]), Path(args[3])
        out.mkdir(parents=True, exist_ok=True)
        for p in args[4:]:
            colorize(sess, p, str(out / (Path(p).stem + ".png")))
        return
    if len(args) != 3:
        raise SystemExit(__doc__)
    colorize(session(args[2]), args[0], args[1])


if __name__ == "__main__":
    main()
