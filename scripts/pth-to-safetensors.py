#!/usr/bin/env python3
"""Converts a PyTorch state dict (.pth, the legacy pickle format or the zip
format of torch >= 1.6) to a .safetensors file that `colorize-train` reads
with tch, using the Python standard library only: the project's libtorch
venv holds torch's shared libraries, not an importable torch, and nothing
here may reach the network.

usage: pth-to-safetensors.py IN.pth OUT.safetensors

Only float32 tensors are written (BatchNorm's int64 `num_batches_tracked`
counters are dropped: inference does not use them). Every tensor is written
row-major, whatever its strides in the file.
"""

import collections
import io
import json
import os
import pickle
import struct
import sys
import zipfile

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
# Storage type name -> (safetensors dtype, bytes per element).
STORAGES = {
    "FloatStorage": ("F32", 4),
    "LongStorage": ("I64", 8),
    "IntStorage": ("I32", 4),
    "HalfStorage": ("F16", 2),
    "DoubleStorage": ("F64", 8),
}


class Storage:
    def __init__(self, kind, key, numel):
        self.dtype, self.itemsize = STORAGES[kind]
        self.key = key
        self.numel = numel
        self.data = None


class TensorRef:
    def __init__(self, storage, offset, size, stride):
        self.storage, self.offset = storage, offset
        self.size, self.stride = tuple(size), tuple(stride)

    def bytes(self):
        """Row-major bytes; strided views (TF ports are often saved
        channels-last) are gathered element by element."""
        s = self.storage
        n = 1
        for d in self.size:
            n *= d
        contiguous, acc = [], 1
        for d in reversed(self.size):
            contiguous.insert(0, acc)
            acc *= d
        if not self.size or tuple(contiguous) == self.stride:
            return s.data[self.offset * s.itemsize:(self.offset + n) * s.itemsize]
        w = s.itemsize
        out = bytearray(n * w)
        idx = [0] * len(self.size)
        for i in range(n):
            src = self.offset + sum(a * b for a, b in zip(idx, self.stride))
            out[i * w:(i + 1) * w] = s.data[src * w:(src + 1) * w]
            for ax in range(len(idx) - 1, -1, -1):
                idx[ax] += 1
                if idx[ax] < self.size[ax]:
                    break
                idx[ax] = 0
        return bytes(out)


def rebuild_tensor(storage, offset, size, stride, *_rest):
    return TensorRef(storage, offset, size, stride)


class StorageKind:
    def __init__(self, name):
        self.name = name


class Unpickler(pickle.Unpickler):
    def __init__(self, f, storages, zip_reader=None):
        super().__init__(f)
        self.storages = storages
        self.zip_reader = zip_reader

    def find_class(self, module, name):
        if module == "torch._utils" and name in ("_rebuild_tensor_v2", "_rebuild_tensor"):
            return rebuild_tensor
        if module == "torch" and name in STORAGES:
            return StorageKind(name)
        if module == "collections" and name == "OrderedDict":
            return collections.OrderedDict
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}")

    def persistent_load(self, pid):
        if pid[0] != "storage":
            raise pickle.UnpicklingError(f"unexpected persistent id {pid[0]!r}")
        kind, key, _location, numel = pid[1], pid[2], pid[3], pid[4]
        if key not in self.storages:
            self.storages[key] = Storage(kind.name, key, numel)
            if self.zip_reader is not None:
                self.storages[key].data = self.zip_reader(key)
        return self.storages[key]


def load_legacy(f):
    if pickle.load(f) != LEGACY_MAGIC:
        raise SystemExit("not a PyTorch file (bad magic number)")
    pickle.load(f)  # protocol version
    pickle.load(f)  # sys info
    storages = {}
    state = Unpickler(f, storages).load()
    for key in pickle.load(f):
        s = storages[key]
        (numel,) = struct.unpack("<q", f.read(8))
        s.data = f.read(numel * s.itemsize)
        if len(s.data) != numel * s.itemsize:
            raise SystemExit("truncated file")
    return state


def load_zip(path):
    z = zipfile.ZipFile(path)
    pkl = next(n for n in z.namelist() if n.endswith("/data.pkl") or n == "data.pkl")
    prefix = pkl[: -len("data.pkl")]
    state = Unpickler(io.BytesIO(z.read(pkl)), {}, lambda key: z.read(f"{prefix}data/{key}")).load()
    return state


def main():
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    src, dst = sys.argv[1], sys.argv[2]
    if zipfile.is_zipfile(src):
        state = load_zip(src)
    else:
        with open(src, "rb") as f:
            state = load_legacy(f)
    header, chunks, offset = {}, [], 0
    for name, t in state.items():
        if not isinstance(t, TensorRef) or t.storage.dtype != "F32":
            continue
        data = t.bytes()
        header[name] = {"dtype": "F32", "shape": list(t.size), "data_offsets": [offset, offset + len(data)]}
        chunks.append(data)
        offset += len(data)
    head = json.dumps(header, separators=(",", ":")).encode()
    head += b" " * (-len(head) % 8)
    tmp = dst + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(head)))
        f.write(head)
        for c in chunks:
            f.write(c)
    os.replace(tmp, dst)
    print(f"{dst}: {len(header)} float32 tensors, {offset} bytes")


if __name__ == "__main__":
    main()
