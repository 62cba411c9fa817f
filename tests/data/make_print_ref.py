#!/usr/bin/python3
"""Prints NumPy's repr of the arrays tests/test_print.c builds, as C string
literals to paste into that file's table (tg_print adds the final newline
that Python's print would add).

Rerun from the repository root with NumPy installed:
    /usr/bin/python3 tests/data/make_print_ref.py
"""
import numpy as np

f4 = np.float32
nan, inf = np.nan, np.inf

# (name used in test_print.c, the array); the C side builds the same values.
CASES = [
    ("arange5", np.arange(5.0)),
    ("linspace5", np.linspace(0, 1, 5)),
    ("matrix", np.array([[1.0, 2.0], [3.0, 4.0]])),
    ("matrix_t", np.array([[1.0, 2.0], [3.0, 4.0]]).T),
    ("scalar", np.array(3.0)),
    ("scalar_f4", np.array(3.0, dtype=f4)),
    ("scalar_nan", np.array(nan)),
    ("scalar_small", np.array(1e-5)),
    ("tenth", np.array([0.1])),
    ("tenth_f4", np.array([0.1], dtype=f4)),
    ("small", np.array([1e-5])),
    ("big", np.array([1e10])),
    ("nonfinite", np.array([nan, inf, -inf])),
    ("one_nan_neginf", np.array([1.0, nan, -inf])),
    ("mixed_sci", np.array([0.1, 1e-5])),
    ("huge_range", np.array([1e-300, 1e300])),
    ("signed_zero", np.array([-0.0, 0.0, 1.5])),
    ("wide_fixed", np.array([123456.789, 1e-3])),
    ("arange3_f4", np.arange(3, dtype=f4)),
    ("pow2_f4", np.array([2.0**-96], dtype=f4)),
    ("big_int_f4", np.array([67108872.0, 1e5], dtype=f4)),
    ("tiny_f4", np.array([1e-4, 0.05], dtype=f4)),
    ("thirds_f4", np.array([1 / 3, 2 / 3, 1e-3, -5], dtype=f4)),
    ("sevenths", np.arange(30.0) / 7),
    ("cube", np.arange(30.0).reshape(2, 3, 5)),
    ("ones4d", np.ones((2, 1, 1, 3))),
    ("empty", np.zeros((0,))),
    ("empty_f4", np.zeros((0,), dtype=f4)),
    ("empty_0x3", np.zeros((0, 3))),
    ("empty_2x0x3", np.zeros((2, 0, 3))),
    ("long", np.arange(2000.0)),
    ("long_matrix", np.arange(2000.0).reshape(40, 50)),
    ("long_cube", np.arange(1008.0).reshape(7, 2, 72)),
    ("dtype_own_line_f4", np.arange(9, dtype=f4) * f4(1.5)),
]


def c_literal(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace(
        "\n", '\\n"\n    "') + '\\n"'


def main():
    for name, arr in CASES:
        print("/* %s */\n    %s," % (name, c_literal(repr(arr))))


if __name__ == "__main__":
    main()
