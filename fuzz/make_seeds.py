#!/usr/bin/python3
"""Writes the seed corpora of the libFuzzer targets in fuzz/:

  corpus/fuzz_npy/  small valid .npy images NumPy wrote (every float dtype,
                    version and shape kind the reader takes) plus the
                    fixtures of tests/data
  corpus/fuzz_idx/  small valid IDX images (labels, images, empty, 8-d)
  corpus/fuzz_ops/  op programs for fuzz_ops.c (see its top comment for the
                    byte layout) and a few pseudo-random byte strings

Rerun from the repository root (NumPy needed for the .npy seeds):
    /usr/bin/python3 fuzz/make_seeds.py
Everything is deterministic, so a rerun leaves git clean. `make fuzz`
writes what the fuzzers find to build-fuzz/, not here; fold findings back
with -merge=1 -use_counters=0 (edge coverage only), keeping this corpus
small (see fuzz/README.md).
"""
import glob
import io
import os
import random
import shutil
import struct

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def target_dir(name):
    d = os.path.join(HERE, "corpus", name)
    os.makedirs(d, exist_ok=True)
    return d


def write(d, name, data):
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def npy_bytes(arr, version=None):
    buf = io.BytesIO()
    np.lib.format.write_array(buf, arr, version=version, allow_pickle=False)
    return buf.getvalue()


def npy_seeds():
    d = target_dir("fuzz_npy")
    for f in sorted(glob.glob(os.path.join(ROOT, "tests", "data", "*.npy"))):
        if os.path.getsize(f) > 0:
            shutil.copy(f, os.path.join(d, os.path.basename(f)))
    write(d, "scalar_f4.npy", npy_bytes(np.float32(1.5).reshape(())))
    write(d, "ones_8d_f8.npy", npy_bytes(np.ones((1,) * 8)))
    write(d, "empty_0_f4.npy", npy_bytes(np.zeros((0,), np.float32)))
    write(d, "empty_2x0x3_f8.npy", npy_bytes(np.zeros((2, 0, 3))))
    write(d, "special_f8.npy",
          npy_bytes(np.array([np.nan, np.inf, -np.inf, -0.0, 5e-324, 1e308])))
    write(d, "v2_2x2_f4.npy",
          npy_bytes(np.arange(4, dtype=np.float32).reshape(2, 2), (2, 0)))
    write(d, "v3_3_f8.npy", npy_bytes(np.arange(3.0), (3, 0)))


def idx_bytes(dims, data):
    head = struct.pack(">BBBB", 0, 0, 0x08, len(dims))
    head += b"".join(struct.pack(">I", n) for n in dims)
    return head + bytes(data)


def idx_seeds():
    d = target_dir("fuzz_idx")
    write(d, "labels_10.idx", idx_bytes([10], [i % 10 for i in range(10)]))
    write(d, "images_2x3x3.idx", idx_bytes([2, 3, 3], range(18)))
    write(d, "empty_0.idx", idx_bytes([0], []))
    write(d, "empty_0x5.idx", idx_bytes([0, 5], []))
    write(d, "ones_8d.idx", idx_bytes([1] * 8, [255]))
    write(d, "images_1x4x4.idx", idx_bytes([1, 4, 4], [(37 * i) % 256 for i in range(16)]))


def ops_seeds():
    d = target_dir("fuzz_ops")
    F64, F32, NOGRAD = 1, 0, 2

    def leaf(dtype, sizes, seed, grad=True):
        m = dtype | (0 if grad else NOGRAD) | len(sizes) << 2
        return bytes([m] + list(sizes) + [seed])

    # flags, nleaves - 1, leaves, then ops (opcode byte first; see run_op)
    progs = {
        # x (3,4) @ w (4,2), tanh, sum over axis 1
        "mlp_layer": bytes([0, 1]) + leaf(F64, [3, 4], 7) + leaf(F64, [4, 2], 9)
        + bytes([12, 0, 1, 5, 5, 2, 7, 3, 3, 6, 0]),
        # the chapter's model: w * x^2 + b, half squared error against y
        "quadratic": bytes([0, 3]) + leaf(F64, [5], 1) + leaf(F64, [1], 2)
        + leaf(F64, [1], 3) + leaf(F64, [5], 4, grad=False)
        + bytes([3, 6, 0, 3, 0, 2, 4, 1, 0, 0, 5, 2, 0, 1, 6, 3, 6, 7, 3, 3, 0, 7]),
        # float32 views: expand, permute, slice, reshape, max over an axis
        "views_f32": bytes([0, 0]) + leaf(F32, [2, 3, 1], 5)
        + bytes([9, 4, 0, 0, 4, 9, 2, 1, 1, 0, 0, 9, 3, 2, 5, 0, 1, 3,
                 9, 0, 3, 1, 7, 5, 4, 4, 1]),
        # wild values through every unary op, second order
        "wild_unary": bytes([3, 1]) + leaf(F64, [4], 11) + leaf(F32, [2, 2], 12)
        + bytes([5, 1, 0, 5, 2, 2, 5, 3, 0, 5, 5, 4, 6, 6, 1, 6, 7, 5, 6, 8, 7,
                 9, 5, 1, 2, 0, 3, 8, 6]),
        # broadcasting binary ops and reductions, casts between dtypes
        "broadcast": bytes([0, 2]) + leaf(F64, [3, 1], 21) + leaf(F64, [4], 22)
        + leaf(F32, [2, 1, 4], 23)
        + bytes([0, 0, 0, 1, 1, 5, 3, 2, 9, 5, 4, 0, 1, 6, 4, 0, 2, 4, 2, 7,
                 0, 5, 1, 8, 4, 3, 2, 0]),
        # plain tensor.h ops and in-place writes on the pool
        "plain_inplace": bytes([0, 1]) + leaf(F64, [2, 3], 31) + leaf(F64, [3], 32)
        + bytes([13, 0, 0, 5, 1, 14, 4, 0, 5, 1, 13, 7, 0, 5, 1, 0, 13, 10, 0, 5,
                 1, 15, 3, 0, 1, 3, 0, 2, 0, 1]),
        # out-of-memory at the 5th allocation
        "oom": bytes([4, 4, 1]) + leaf(F64, [2, 2], 41) + leaf(F64, [2], 42)
        + bytes([12, 0, 1, 0, 2, 2, 0, 7, 0, 2, 6, 0]),
    }
    for name, data in progs.items():
        write(d, name, data)
    rng = random.Random(20261129)
    for i in range(6):
        n = rng.choice([16, 48, 96, 160])
        write(d, "random_%d" % i, bytes(rng.randrange(256) for _ in range(n)))


if __name__ == "__main__":
    npy_seeds()
    idx_seeds()
    ops_seeds()
