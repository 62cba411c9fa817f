#!/usr/bin/python3
"""Writes tests/data/st_ref.safetensors, the safetensors fixture that
tests/test_safetensors.c reads, st_ref_writer.safetensors (the same without
its F16 tensor: the bytes tapegrad's writer must reproduce), and checks tapegrad's own output by the
format's specification.

The file is laid out as the reference writer (Hugging Face's safetensors,
safetensors.numpy.save_file) lays it out: an 8-byte little-endian header
length, the JSON header with no spaces, "__metadata__" first, then the
tensors ordered by dtype size (largest first) and name, padded with spaces
to a multiple of 8 bytes, then the raw little-endian data. When the
safetensors package is installed, the script also checks that it writes the
same bytes and reads the file back; it is usually not installed, so the
file is written with NumPy from the specification alone.

    /usr/bin/python3 tests/data/make_safetensors_ref.py            # writes the fixture,
                                                                    # checks st_tapegrad_ckpt
    /usr/bin/python3 tests/data/make_safetensors_ref.py --check F   # checks any file F

The check of tapegrad's output reads tests/data/st_tapegrad_ckpt.safetensors,
a checkpoint tapegrad wrote (tests/test_safetensors.c compares its writer's
bytes with that file), parses it by the specification, and verifies every
rule: header length, JSON, dtypes, shapes, offsets that tile the data
section, unique names, string metadata.
"""
import json
import os
import struct
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
DTYPES = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "I64": "<i8", "I32": "<i4",
          "I16": "<i2", "I8": "i1", "U8": "u1", "BOOL": "?", "U16": "<u2",
          "U32": "<u4", "U64": "<u8"}


def ref_tensors():
    """The fixture's tensors; test_safetensors.c knows the same values."""
    return {
        "weight": np.arange(6, dtype=np.float32).reshape(2, 3) / 4,  # F32 (2,3)
        "bias": np.array([-1.5, 0.0, 2.25], dtype=np.float64),      # F64 (3,)
        "idx": np.array([[1, -2], [3, 2**31 - 1]], dtype=np.int32),  # I32 (2,2)
        "count": np.array(2**40 + 7, dtype=np.int64),                # I64 ()
        "bytes": np.array([0, 1, 128, 255], dtype=np.uint8),         # U8 (4,)
        "mask": np.array([True, False], dtype=np.bool_),             # BOOL (2,)
        "empty": np.zeros((0, 3), dtype=np.float32),                 # F32 (0,3)
        "half": np.array([1.0, -2.0], dtype=np.float16),             # F16 (2,): not tapegrad's
    }


def dtype_name(a):
    for k, v in DTYPES.items():
        if np.dtype(v) == a.dtype:
            return k
    raise ValueError(a.dtype)


def serialize(tensors, metadata):
    """The bytes the reference writer produces."""
    names = sorted(tensors, key=lambda n: (-tensors[n].dtype.itemsize, n))
    header, data, at = {}, [], 0
    if metadata:
        header["__metadata__"] = metadata
    for n in names:
        a = np.array(tensors[n], order="C").astype(tensors[n].dtype.newbyteorder("<"))
        b = a.tobytes()
        header[n] = {"dtype": dtype_name(a), "shape": list(a.shape),
                     "data_offsets": [at, at + len(b)]}
        data.append(b)
        at += len(b)
    h = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode()
    h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + b"".join(data)


def check(path):
    """Parses path by the specification; returns (tensors, metadata)."""
    blob = open(path, "rb").read()
    assert len(blob) >= 8, "too short"
    (n,) = struct.unpack("<Q", blob[:8])
    assert 2 <= n <= 100_000_000 and 8 + n <= len(blob), "bad header length"
    text = blob[8:8 + n].decode("utf-8")
    assert text.startswith("{") and text.rstrip(" ").endswith("}"), "header framing"

    def no_dupes(pairs):
        keys = [k for k, _ in pairs]
        assert len(keys) == len(set(keys)), "duplicate key"
        return dict(pairs)

    header = json.loads(text, object_pairs_hook=no_dupes)
    meta = header.pop("__metadata__", {})
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in meta.items())
    data = blob[8 + n:]
    spans, out = [], {}
    for name, info in header.items():
        assert set(info) == {"dtype", "shape", "data_offsets"}, name
        dt = np.dtype(DTYPES[info["dtype"]])
        shape = info["shape"]
        assert all(isinstance(d, int) and d >= 0 for d in shape), name
        b, e = info["data_offsets"]
        assert 0 <= b <= e <= len(data), name
        assert e - b == int(np.prod(shape, dtype=np.int64)) * dt.itemsize, name
        spans.append((b, e))
        out[name] = np.frombuffer(data[b:e], dtype=dt).reshape(tuple(shape))
    at = 0
    for b, e in sorted(spans):
        assert b == at, "overlap or gap in data_offsets"
        at = e
    assert at == len(data), "data section not fully covered"
    if 8 + n != 8 + ((n + 7) // 8) * 8:
        print(f"{path}: note: header not padded to 8 bytes")
    try:  # the real library, when it is there
        from safetensors.numpy import load_file
        got = load_file(path)
        assert set(got) == set(out)
        for k in out:
            assert np.array_equal(got[k], out[k])
    except ImportError:
        pass
    return out, meta


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--check":
        tensors, meta = check(sys.argv[2])
        for k, v in tensors.items():
            print(f"{k}: {v.dtype} {v.shape}")
        print(f"metadata: {meta}")
        return
    tensors = ref_tensors()
    meta = {"format": "pt", "note": "caf\u00e9 \"quoted\" \\ tab\t"}
    blob = serialize(tensors, meta)
    path = os.path.join(HERE, "st_ref.safetensors")
    with open(path, "wb") as f:
        f.write(blob)
    got, gmeta = check(path)
    assert gmeta == meta
    for k in tensors:
        assert got[k].dtype == tensors[k].dtype and np.array_equal(got[k], tensors[k])
    try:
        from safetensors.numpy import save
        assert save(tensors, metadata=meta) == blob, "layout differs from safetensors'"
        print("safetensors package: same bytes")
    except ImportError:
        print("safetensors package not installed: fixture written by the specification")
    print(f"wrote {path} ({len(blob)} bytes)")
    # The same without the F16 tensor: what tapegrad's writer must reproduce.
    del tensors["half"]
    path = os.path.join(HERE, "st_ref_writer.safetensors")
    with open(path, "wb") as f:
        f.write(serialize(tensors, meta))
    check(path)
    print(f"wrote {path}")

    ck = os.path.join(HERE, "st_tapegrad_ckpt.safetensors")
    if os.path.exists(ck):
        got, gmeta = check(ck)
        assert gmeta.get("format") == "tapegrad-checkpoint", gmeta
        assert int(gmeta["step"]) >= 0 and gmeta["optim"] == "adam"
        names = [k[len("model."):] for k in got if k.startswith("model.")]
        for n in names:
            for part in ("m", "v"):
                s = got[f"optim.adam.{part}.{n}"]
                assert s.shape == got["model." + n].shape and s.dtype == np.float32
            assert np.all(got[f"optim.adam.v.{n}"] >= 0)
        assert got["optim.adam.t"].dtype == np.int64
        print(f"checked tapegrad's {ck}: {len(got)} tensors by the specification")


if __name__ == "__main__":
    main()
