#!/usr/bin/env python3
"""Writes dtypes_ref.inc: what NumPy gives for the integer and bool dtypes,
for tests/test_dtypes.c. Run with /usr/bin/python3 (NumPy 1.24 from
Debian); the values below are inputs, every expected value comes from
NumPy.

    /usr/bin/python3 tests/data/make_dtypes_ref.py

Sections:
  - np.result_type for every pair of tapegrad's dtypes;
  - binary ops (add sub mul maximum minimum true_divide power and the six
    comparisons) on operands of every pair of dtypes: result dtype and
    values (as int64 and as double);
  - array-scalar ops (NumPy 1.24's value-based casting);
  - reductions of integer and bool arrays (sum mean max argmax);
  - casts between the dtypes (truncation, wrap-around, bools);
  - repr() of integer and bool arrays.
"""
import os

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "dtypes_ref.inc")

DTYPES = ["float32", "float64", "int32", "int64", "uint8", "bool"]
TG = {d: "TG_" + d.upper() for d in DTYPES}

# Inputs of each dtype: 6 values, one row of a (2,3) operand; the other
# operand is a (3,) row that broadcasts.
A = {
    "float32": np.array([[1.5, -2.0, 0.0], [3.25, 7.0, -0.5]], dtype=np.float32),
    "float64": np.array([[2.5, -1.0, 4.0], [0.0, -3.5, 9.0]]),
    "int32": np.array([[3, -7, 0], [2147483647, 5, -2]], dtype=np.int32),
    "int64": np.array([[10, -3, 4], [2**40, 0, -9]], dtype=np.int64),
    "uint8": np.array([[0, 200, 7], [255, 3, 16]], dtype=np.uint8),
    "bool": np.array([[True, False, True], [False, False, True]]),
}
B = {
    "float32": np.array([0.5, 4.0, -1.5], dtype=np.float32),
    "float64": np.array([-2.0, 0.25, 3.0]),
    "int32": np.array([2, -5, 7], dtype=np.int32),
    "int64": np.array([3, 1, -4], dtype=np.int64),
    "uint8": np.array([1, 100, 250], dtype=np.uint8),
    "bool": np.array([True, True, False]),
}
OPS = [("TG_ADD", np.add), ("TG_SUB", np.subtract), ("TG_MUL", np.multiply),
       ("TG_MAXIMUM", np.maximum), ("TG_MINIMUM", np.minimum),
       ("TG_DIV", np.true_divide)]
CMPS = [("TG_CMP_EQ", np.equal), ("TG_CMP_NE", np.not_equal),
        ("TG_CMP_LT", np.less), ("TG_CMP_LE", np.less_equal),
        ("TG_CMP_GT", np.greater), ("TG_CMP_GE", np.greater_equal)]


def c_double(x):
    x = float(x)
    if np.isnan(x):
        return "DNAN"
    if np.isinf(x):
        return "DINF" if x > 0 else "-DINF"
    return repr(x)


def c_int(x):
    x = int(x)
    if x == -(2**63):
        return "INT64_MIN"
    return "INT64_C(%d)" % x


def values(arr):
    flat = np.asarray(arr).reshape(-1)
    if flat.dtype.kind in "iub":
        ints = ", ".join(c_int(v) for v in flat.astype(np.int64))
        dbls = ", ".join(c_double(v) for v in flat.astype(np.int64))
    else:
        ints = "0"
        dbls = ", ".join(c_double(v) for v in flat.astype(np.float64))
    return "{%s}, {%s}" % (ints, dbls)


def tgname(dt):
    name = np.dtype(dt).name
    # NumPy sums uint8 into uint64, which tapegrad lacks; it sums into int64
    # (the same values for any sum of fewer than 2^55 bytes).
    if name == "uint64":
        name = "int64"
    return TG[name]


def main():
    out = []
    w = out.append
    w("/* Made by tests/data/make_dtypes_ref.py with NumPy %s; do not edit. */"
      % np.__version__)

    w("static const tg_dtype ref_result_type[6][6] = {")
    for a in DTYPES:
        row = [tgname(np.result_type(np.dtype(a), np.dtype(b))) for b in DTYPES]
        w("    {%s}," % ", ".join(row))
    w("};")

    w("static const ref_vals ref_inputs_a[6] = {")
    for d in DTYPES:
        w("    {%s, %s}," % (TG[d], values(A[d])))
    w("};")
    w("static const ref_vals ref_inputs_b[6] = {")
    for d in DTYPES:
        w("    {%s, %s}," % (TG[d], values(B[d])))
    w("};")

    w("static const binary_ref ref_binary[] = {")
    with np.errstate(all="ignore"):
        for a in DTYPES:
            for b in DTYPES:
                for name, f in OPS:
                    if name == "TG_SUB" and a == "bool" and b == "bool":
                        continue  # NumPy refuses it (tested as an error)
                    r = f(A[a], B[b])
                    w("    {%d, %d, %s, 0, {%s, %s}}," % (
                        DTYPES.index(a), DTYPES.index(b), name, tgname(r.dtype),
                        values(r)))
                for name, f in CMPS:
                    r = f(A[a], B[b])
                    w("    {%d, %d, %s, 1, {%s, %s}}," % (
                        DTYPES.index(a), DTYPES.index(b), name, tgname(r.dtype),
                        values(r)))
    w("};")

    # array op Python scalar (value-based casting in NumPy 1.24), only where
    # NumPy's result is one of tapegrad's dtypes
    w("static const scalar_ref ref_scalar[] = {")
    with np.errstate(all="ignore"):
        for a in ["int32", "int64", "uint8", "bool"]:
            for s in [3, -2, 2.5, 1000, 2**40]:
                for name, f in OPS:
                    if a == "bool" and name == "TG_SUB":
                        continue
                    r = f(A[a], s)
                    if r.dtype.name not in DTYPES:
                        continue
                    w("    {%d, %s, %s, {%s, %s}}," % (
                        DTYPES.index(a), c_double(s), name, tgname(r.dtype),
                        values(r)))
    w("};")

    w("static const reduce_ref ref_reduce[] = {")
    for a in ["int32", "int64", "uint8", "bool"]:
        x = A[a]
        for kind, f in [(0, np.sum), (1, np.mean), (2, np.max), (3, np.argmax)]:
            r = f(x)
            w("    {%d, %d, -1, {%s, %s}}," % (DTYPES.index(a), kind,
                                             tgname(np.asarray(r).dtype),
                                             values(r)))
            for axis in (0, 1):
                r = f(x, axis=axis)
                w("    {%d, %d, %d, {%s, %s}}," % (DTYPES.index(a), kind, axis,
                                                tgname(r.dtype), values(r)))
    w("};")

    w("static const cast_ref ref_cast[] = {")
    src = {
        "float64": np.array([[2.9, -2.9, 0.5], [-0.5, 1e9, 255.99]]),
        "int64": np.array([[2**40 + 5, -1, 300], [2**31, -(2**31) - 1, 0]],
                          dtype=np.int64),
        "int32": A["int32"], "uint8": A["uint8"], "bool": A["bool"],
        "float32": A["float32"],
    }
    with np.errstate(all="ignore"):
        for a in DTYPES:
            for b in DTYPES:
                if a in ("float32", "float64") and b == "uint8":
                    continue  # negative floats do not fit: refused (tested apart)
                r = src[a].astype(b)
                w("    {%d, %d, {%s, %s}, {%s, %s}}," % (
                    DTYPES.index(a), DTYPES.index(b), TG[a], values(src[a]),
                    tgname(r.dtype), values(r)))
    w("};")

    # repr
    reprs = [
        ("int32", np.array([1, 2, 3], dtype=np.int32)),
        ("int64", np.array([[-1, 200], [3, 40000]], dtype=np.int64)),
        ("int64", np.array(7, dtype=np.int64)),
        ("int32", np.array(-5, dtype=np.int32)),
        ("bool", np.array([True, False, True])),
        ("bool", np.array(True)),
        ("bool", np.array([[False], [True]])),
        ("uint8", np.array([0, 255, 16], dtype=np.uint8)),
        ("int64", np.array([], dtype=np.int64)),
        ("bool", np.zeros((0, 2), dtype=bool)),
        ("int64", np.arange(2000, dtype=np.int64) * 1000 - 7),
        ("int32", np.arange(60, dtype=np.int32).reshape(3, 20) * 123457),
        ("int64", np.array([2**62 + 1, -(2**63)], dtype=np.int64)),
        ("bool", np.arange(1200) % 3 == 0),
    ]
    w("static const repr_ref ref_repr[] = {")
    for dt, arr in reprs:
        shape = ", ".join(str(s) for s in arr.shape) or "0"
        text = repr(arr).replace("\\", "\\\\").replace("\n", "\\n")
        flat = arr.reshape(-1).astype(np.int64)
        w("    {%s, %d, {%s}, %d, (const int64_t[]){%s}, \"%s\\n\"}," % (
            TG[dt], arr.ndim, shape, arr.size,
            ", ".join(c_int(v) for v in flat) or "0", text))
    w("};")

    with open(OUT, "w") as f:
        f.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
