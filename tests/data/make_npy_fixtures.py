#!/usr/bin/python3
"""Writes the .npy fixtures that tests/test_npy.c loads: files NumPy wrote
(the reader must accept them, and the writer must reproduce their bytes) and
broken or unsupported ones (the reader must refuse them with a clear error).

Rerun from the repository root with NumPy installed:
    /usr/bin/python3 tests/data/make_npy_fixtures.py
The files are small and deterministic, so a rerun leaves git clean.
"""
import os

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


def path(name):
    return os.path.join(HERE, name)


def save(name, arr, version=None):
    with open(path(name), "wb") as f:
        np.lib.format.write_array(f, arr, version=version, allow_pickle=False)


def raw(name, data):
    with open(path(name), "wb") as f:
        f.write(data)


def main():
    # Valid files; test_npy.c asserts their values and, for the ones the
    # writer can produce, compares tg_save_npy's bytes with these.
    save("npy_arange_3x4_f8.npy", np.arange(12.0).reshape(3, 4))
    f4 = (np.arange(12, dtype=np.float32) * np.float32(0.5) - 2).reshape(2, 3, 2)
    save("npy_f4_2x3x2.npy", f4)
    save("npy_scalar_f8.npy", np.array(3.5))
    save("npy_vector_f4.npy", np.array([1.5, -2.25, 1e-3, 7], dtype=np.float32))
    save("npy_empty_0x3_f8.npy", np.zeros((0, 3)))
    save("npy_v2_f8.npy", np.array([[1.0, -2.0], [0.5, 4.0]]), version=(2, 0))
    save("npy_v3_f4.npy", np.array([0.25, 8.0], dtype=np.float32), version=(3, 0))
    # The integer and bool dtypes.
    save("npy_int64.npy", np.arange(5, dtype="<i8"))
    save("npy_i4_2x3.npy", np.array([[-3, 0, 7], [2147483647, -2147483648, 1]],
                                    dtype="<i4"))
    save("npy_u1.npy", np.array([0, 1, 128, 255], dtype=np.uint8))
    save("npy_b1_2x2.npy", np.array([[True, False], [False, True]]))
    save("npy_i8_big.npy", np.array([2**62 + 1, -(2**63)], dtype="<i8"))

    # Valid .npy files that tapegrad does not support.
    save("npy_fortran_f8.npy", np.asfortranarray(np.arange(6.0).reshape(2, 3)))
    save("npy_c16.npy", np.arange(3, dtype="<c16"))
    save("npy_bigendian_f8.npy", np.arange(3, dtype=">f8"))
    save("npy_f2.npy", np.arange(3, dtype="<f2"))

    # Broken files.
    with open(path("npy_arange_3x4_f8.npy"), "rb") as f:
        good = f.read()
    raw("npy_truncated.npy", good[:-8])            # data 8 bytes short
    raw("npy_empty.npy", b"")
    raw("npy_bad_magic.npy", b"\x93NUMPZ" + good[6:])
    with open(path("npy_lying_header.npy"), "wb") as f:
        np.lib.format.write_array_header_1_0(
            f, {"descr": "<f8", "fortran_order": False,
                "shape": (100000000, 100000000)})
        f.write(np.arange(2.0).tobytes())


if __name__ == "__main__":
    main()
