#!/usr/bin/python3
"""Reference values for tests/test_join.c: the joining and reordering ops
computed with NumPy (forward) and PyTorch (gradients).

Rerun from the repository root with
    /usr/bin/python3 tests/data/make_join_ref.py
It rewrites tests/data/join_ref.inc. Inputs follow one rule on both sides
(inp() here, join_input() in test_join.c): input k of shape s holds
(arange(numel) + 100 k) / 4 - 2 in C order, laid out as

    'c'  contiguous;
    't'  the transpose of a contiguous array of the reversed shape holding
         those values in the reversed shape's C order (so strides reversed);
    'r'  'c' with axis 0 reversed (a view with a negative stride);
    'b'  broadcast from size 1 on axis 0 (row 0 of 'c', repeated).

Each forward case stores the result's shape and values; each gradient case
the gradient of sum(w * f(inputs)) for every input, w = weights(shape of
the result), from torch.autograd."""
import os

import numpy as np
import torch

torch.set_default_dtype(torch.float64)


def values(k, shape):
    n = int(np.prod(shape, dtype=np.int64))
    return ((np.arange(n, dtype=np.float64) + 100 * k) / 4 - 2).reshape(shape)


def inp(k, shape, layout="c"):
    shape = tuple(shape)
    if layout == "c":
        return values(k, shape)
    if layout == "t":
        return values(k, shape[::-1]).T
    if layout == "r":
        return values(k, shape)[::-1]
    if layout == "b":
        row = values(k, (1,) + shape[1:])
        return np.broadcast_to(row, shape)
    raise ValueError(layout)


def weights(shape):
    n = int(np.prod(shape, dtype=np.int64))
    return (((np.arange(n) * 7) % 11 - 5) * 0.5).reshape(shape)


def torch_pad(x, widths, value):
    """np.pad's (before, after) per axis, first axis first, as F.pad's list:
    last axis first."""
    flat = []
    for before, after in reversed(widths):
        flat += [before, after]
    return torch.nn.functional.pad(x, flat, mode="constant", value=value)


# name: (inputs as (k, shape, layout), numpy forward, torch forward)
CASES = {
    "concat_axis1": ([(0, (2, 3), "t"), (1, (2, 2), "c"), (2, (2, 0), "c")],
                     lambda a, b, c: np.concatenate([a, b, c], axis=1),
                     lambda a, b, c: torch.cat([a, b, c], dim=1)),
    "concat_axis0_bcast": ([(0, (1, 3), "c"), (1, (3, 3), "b"), (2, (2, 3), "r")],
                           lambda a, b, c: np.concatenate([a, b, c], axis=-2),
                           lambda a, b, c: torch.cat([a, b, c], dim=-2)),
    "concat_one": ([(3, (2, 2, 2), "t")],
                   lambda a: np.concatenate([a], axis=2),
                   lambda a: torch.cat([a], dim=2)),
    "stack_axis0": ([(0, (2, 3), "c"), (1, (2, 3), "t"), (2, (2, 3), "b")],
                    lambda a, b, c: np.stack([a, b, c], axis=0),
                    lambda a, b, c: torch.stack([a, b, c], dim=0)),
    "stack_axis1": ([(0, (2, 3), "c"), (1, (2, 3), "r")],
                    lambda a, b: np.stack([a, b], axis=1),
                    lambda a, b: torch.stack([a, b], dim=1)),
    "stack_last": ([(0, (2, 3), "t"), (1, (2, 3), "c")],
                   lambda a, b: np.stack([a, b], axis=-1),
                   lambda a, b: torch.stack([a, b], dim=-1)),
    "stack_scalars": ([(0, (), "c"), (1, (), "c"), (2, (), "c")],
                      lambda a, b, c: np.stack([a, b, c]),
                      lambda a, b, c: torch.stack([a, b, c])),
    "pad_2d": ([(0, (2, 3), "t")],
               lambda a: np.pad(a, ((1, 2), (0, 3)), constant_values=-1.5),
               lambda a: torch_pad(a, ((1, 2), (0, 3)), -1.5)),
    "pad_3d": ([(1, (2, 1, 2), "r")],
               lambda a: np.pad(a, ((0, 0), (2, 1), (1, 0)), constant_values=0.0),
               lambda a: torch_pad(a, ((0, 0), (2, 1), (1, 0)), 0.0)),
    "pad_1d_bcast": ([(2, (3,), "b")],
                     lambda a: np.pad(a, ((2, 2),), constant_values=7.0),
                     lambda a: torch_pad(a, ((2, 2),), 7.0)),
    "flip_0": ([(0, (2, 3, 4), "c")], lambda a: np.flip(a, 0), lambda a: torch.flip(a, [0])),
    "flip_1": ([(0, (2, 3, 4), "t")], lambda a: np.flip(a, 1), lambda a: torch.flip(a, [1])),
    "flip_last": ([(0, (2, 3, 4), "r")], lambda a: np.flip(a, -1),
                  lambda a: torch.flip(a, [-1])),
    "tile_short_reps": ([(0, (2, 3), "t")], lambda a: np.tile(a, (2,)),
                        lambda a: torch.tile(a, (2,))),
    "tile_long_reps": ([(1, (2, 3), "c")], lambda a: np.tile(a, (2, 1, 3)),
                       lambda a: torch.tile(a, (2, 1, 3))),
    "tile_zero": ([(0, (2, 3), "c")], lambda a: np.tile(a, (0, 2)),
                  lambda a: torch.tile(a, (0, 2))),
    "tile_1d_bcast": ([(2, (3,), "b")], lambda a: np.tile(a, (2, 3)),
                      lambda a: torch.tile(a, (2, 3))),
    "tile_8d": ([(0, (2, 1, 1, 1, 1, 1, 1, 2), "t")],
                lambda a: np.tile(a, (1, 2, 1, 1, 1, 1, 3, 1)),
                lambda a: torch.tile(a, (1, 2, 1, 1, 1, 1, 3, 1))),
    "repeat_axis0": ([(0, (2, 3), "c")], lambda a: np.repeat(a, 2, axis=0),
                     lambda a: torch.repeat_interleave(a, 2, dim=0)),
    "repeat_axis1": ([(1, (2, 3), "t")], lambda a: np.repeat(a, 3, axis=1),
                     lambda a: torch.repeat_interleave(a, 3, dim=1)),
    "repeat_zero": ([(0, (2, 3), "c")], lambda a: np.repeat(a, 0, axis=-1),
                    lambda a: torch.repeat_interleave(a, 0, dim=-1)),
    "repeat_1d_rev": ([(2, (4,), "r")], lambda a: np.repeat(a, 3, axis=0),
                      lambda a: torch.repeat_interleave(a, 3, dim=0)),
    "repeat_8d": ([(0, (1, 2, 1, 2, 1, 1, 2, 1), "t")],
                  lambda a: np.repeat(a, 2, axis=3),
                  lambda a: torch.repeat_interleave(a, 2, dim=3)),
}

# Splits: (input, axis, sizes) -> the pieces (np.split at the running sums);
# chunks: (input, axis, n) -> np.array_split.
SPLITS = {
    "split_rows": ((0, (5, 4), "t"), 0, [2, 0, 3]),
    "split_cols": ((1, (3, 5), "r"), -1, [1, 4]),
    "split_one": ((2, (3,), "c"), 0, [3]),
}
CHUNKS = {
    "chunk_7_by_3": ((0, (7, 3), "c"), 0, 3),
    "chunk_2_by_4": ((1, (2,), "c"), 0, 4),
    "chunk_cols": ((2, (3, 5), "t"), 1, 2),
}


def c_doubles(name, arr):
    flat = np.array(arr, dtype=np.float64, order="C").ravel()
    body = ", ".join(repr(float(v)) for v in flat) if flat.size else "0"
    return "static const double %s[%d] = {%s};\n" % (name, max(flat.size, 1), body)


def c_ref(name, arr):
    """A join_ref: shape and C-order values."""
    arr = np.asarray(arr)
    shape = ", ".join(str(s) for s in arr.shape) if arr.ndim else "0"
    return (c_doubles(name + "_v", arr) +
            "static const join_ref %s = {%d, {%s}, %s_v};\n" % (name, arr.ndim, shape, name))


def torch_grads(f, arrays):
    xs = [torch.tensor(np.array(a, order="C"), requires_grad=True) for a in arrays]
    y = f(*xs)
    w = torch.tensor(weights(tuple(y.shape)))
    (y * w).sum().backward()
    return [x.grad.numpy() for x in xs]


def piece_grads(x, pieces_of):
    """d sum_i sum(w_i * piece_i) / dx, w_i = weights(piece i's shape)."""
    t = torch.tensor(np.array(x, order="C"), requires_grad=True)
    loss = sum((p * torch.tensor(weights(tuple(p.shape)))).sum() for p in pieces_of(t))
    loss.backward()
    return t.grad.numpy()


def main():
    out = []
    out.append("/* join_ref.inc - generated by make_join_ref.py with NumPy %s and "
               "PyTorch %s; do not edit. */\n" % (np.__version__, torch.__version__))
    out.append("typedef struct join_ref {\n    int ndim;\n    int64_t shape[8];\n"
               "    const double *v;\n} join_ref;\n")
    for name, (ins, fnp, ftorch) in CASES.items():
        arrays = [inp(*spec) for spec in ins]
        y = fnp(*arrays)
        yt = ftorch(*[torch.tensor(np.array(a, order="C")) for a in arrays])
        assert np.array_equal(y, yt.numpy()), name  # the two libraries agree
        out.append("/* %s */\n" % name)
        out.append(c_ref("ref_" + name, y))
        for i, g in enumerate(torch_grads(ftorch, arrays)):
            out.append(c_ref("ref_%s_grad%d" % (name, i), g))
    for name, (spec, axis, sizes) in SPLITS.items():
        x = inp(*spec)
        pieces = np.split(x, np.cumsum(sizes)[:-1], axis=axis)
        out.append("/* %s: sizes %s on axis %d */\n" % (name, sizes, axis))
        for i, p in enumerate(pieces):
            out.append(c_ref("ref_%s_%d" % (name, i), p))
        g = piece_grads(x, lambda t: torch.split(t, sizes, dim=axis))
        out.append(c_ref("ref_%s_grad" % name, g))
    for name, (spec, axis, n) in CHUNKS.items():
        x = inp(*spec)
        pieces = np.array_split(x, n, axis=axis)
        out.append("/* %s: np.array_split into %d on axis %d */\n" % (name, n, axis))
        for i, p in enumerate(pieces):
            out.append(c_ref("ref_%s_%d" % (name, i), p))
        sizes = [p.shape[axis] for p in pieces]
        g = piece_grads(x, lambda t: torch.split(t, sizes, dim=axis))
        out.append(c_ref("ref_%s_grad" % name, g))
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "join_ref.inc")
    with open(path, "w") as f:
        f.write("".join(out))


if __name__ == "__main__":
    main()
