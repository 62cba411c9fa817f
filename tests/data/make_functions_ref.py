#!/usr/bin/python3
"""Reference values for tests/test_functions.c, computed with PyTorch.

Rerun from the repository root with

    /usr/bin/python3 tests/data/make_functions_ref.py

It rewrites tests/data/functions_ref.inc. Each case is one op applied to
an input x (random shape and values from a seeded NumPy generator, or a
line of edge values: 0, -0, +-1e4, +-inf, NaN, the thresholds...), in
float32 or float64, and holds, all computed by PyTorch in that dtype:

    y  = f(x)
    gx = d sum(w * y) / dx            for fixed weights w (y's shape)
    gx_alt                            the same computed element by element,
                                      where PyTorch's scalar and vector
                                      loops disagree (NaN inputs)
    hv = d sum(gx * v) / dx           a Hessian-vector product (float64)

x, w and v are written too, so the test uses exactly these inputs.
Values are written with float.hex(); infinities and NaN as macros.
"""
import math
import os

import numpy as np
import torch
import torch.nn.functional as F

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                   "functions_ref.inc")

INF = math.inf
NAN = math.nan

# The unary ops: name -> (torch function of x and the parameter, the
# parameter, differentiable, input domain for random values).
UNARY = {
    "sin": (lambda x, p: torch.sin(x), 0.0, True, (-4, 4)),
    "cos": (lambda x, p: torch.cos(x), 0.0, True, (-4, 4)),
    "log1p": (lambda x, p: torch.log1p(x), 0.0, True, (-0.9, 4)),
    "expm1": (lambda x, p: torch.expm1(x), 0.0, True, (-4, 4)),
    "softplus": (lambda x, p: F.softplus(x), 0.0, True, (-25, 25)),
    "leaky_relu": (lambda x, p: F.leaky_relu(x, p), 0.01, True, (-3, 3)),
    "leaky_relu_big": (lambda x, p: F.leaky_relu(x, p), -1.75, True, (-3, 3)),
    "elu": (lambda x, p: F.elu(x, p), 1.0, True, (-4, 3)),
    "elu_alpha": (lambda x, p: F.elu(x, p), 0.35, True, (-4, 3)),
    "gelu": (lambda x, p: F.gelu(x), 0.0, True, (-5, 5)),
    "gelu_tanh": (lambda x, p: F.gelu(x, approximate="tanh"), 0.0, True, (-5, 5)),
    "silu": (lambda x, p: F.silu(x), 0.0, True, (-8, 8)),
    "log_sigmoid": (lambda x, p: F.logsigmoid(x), 0.0, True, (-30, 30)),
    "square": (lambda x, p: torch.square(x), 0.0, True, (-3, 3)),
    "reciprocal": (lambda x, p: torch.reciprocal(x), 0.0, True, (0.2, 3)),
    "floor": (lambda x, p: torch.floor(x), 0.0, False, (-6, 6)),
    "ceil": (lambda x, p: torch.ceil(x), 0.0, False, (-6, 6)),
    "round": (lambda x, p: torch.round(x), 0.0, False, (-6, 6)),
}

# Edge values every unary op sees, and extra ones for some.
EDGES = [0.0, -0.0, 1e-10, -1e-10, 1.0, -1.0, 0.5, -0.5, 2.5, -2.5, 20.0,
         20.5, -20.0, 30.0, -30.0, 100.0, -100.0, 700.0, -700.0, 1e4, -1e4,
         INF, -INF, NAN]
EXTRA_EDGES = {
    "log1p": [-1.0, -0.999, -2.0, 1e-300],
    "reciprocal": [1e-300, -3.0, 1e300],
    "floor": [1.5, -1.5, 3.5, -3.5, 1e4 + 0.5, 2.0 ** 52 + 0.5, 2.0 ** 53 + 2, -1e-300],
    "ceil": [1.5, -1.5, 3.5, -3.5, 1e4 + 0.5, 2.0 ** 52 + 0.5, -1e-300],
    "round": [1.5, -1.5, 3.5, -3.5, 4.5, 1e4 + 0.5, 2.0 ** 52 + 0.5,
              2.4999999999999996, 0.49999999999999994],
    "softplus": [19.999, 20.001, 36.0, 40.0, -40.0, 709.0, 710.0],
    "log_sigmoid": [36.0, 40.0, -40.0, 709.0, -709.0, 746.0, -746.0],
    "silu": [-40.0, -88.0, -89.0, -709.0, -710.0, 746.0],
    "gelu": [-5.0, -8.0, -10.0, -38.0, 38.0],
    "gelu_tanh": [-5.0, -8.0, -10.0, 1e13, -1e13],
}

# softmax, log_softmax, logsumexp along an axis.
SOFTMAX = {
    "softmax": lambda x, axis, keep: torch.softmax(x, axis),
    "log_softmax": lambda x, axis, keep: torch.log_softmax(x, axis),
    "logsumexp": lambda x, axis, keep: torch.logsumexp(x, axis, keepdim=keep),
}

rng = np.random.RandomState(20261111)
cases = []


def cast(values, dtype):
    """values as the dtype holds them, as Python floats."""
    a = np.asarray(values, dtype=np.float64)
    if dtype == torch.float32:
        with np.errstate(over="ignore"):  # 1e300 is inf in float32
            a = a.astype(np.float32).astype(np.float64)
    return a


def run(name, f, x_np, dtype, param, axis, keep, differentiable, want_hv):
    """Evaluates one case in PyTorch; returns its record."""
    x = torch.tensor(x_np, dtype=dtype, requires_grad=differentiable)
    y = f(x, param) if axis is None else f(x, axis, keep)
    w = cast(rng.uniform(-1.5, 1.5, size=y.shape), dtype)
    rec = {"op": name, "param": param or 0.0, "axis": 0 if axis is None else axis,
           "keep": bool(keep), "f64": dtype == torch.float64,
           "shape": list(x_np.shape), "x": x_np.reshape(-1),
           "w": w.reshape(-1), "y": y.detach().double().numpy().reshape(-1),
           "gx": None, "gx_alt": None, "v": None, "hv": None}
    if not differentiable:
        return rec
    loss = (y * torch.tensor(w, dtype=dtype)).sum()
    (gx,) = torch.autograd.grad(loss, x, create_graph=want_hv)
    rec["gx"] = gx.detach().double().numpy().reshape(-1)
    if axis is None:
        rec["gx_alt"] = alternative(f, x_np, w, dtype, param, rec["gx"])
    if want_hv:
        v = cast(rng.uniform(-1, 1, size=x_np.shape), dtype)
        gv = (gx * torch.tensor(v, dtype=dtype)).sum()
        if gv.requires_grad:
            (hv,) = torch.autograd.grad(gv, x, allow_unused=True)
        else:
            hv = None
        if hv is None:  # the gradient does not depend on x
            hv = torch.zeros_like(x)
        rec["v"] = v.reshape(-1)
        rec["hv"] = hv.detach().double().numpy().reshape(-1)
    return rec


def alternative(f, x_np, w, dtype, param, gx):
    """PyTorch's gradient of each element computed in a line of 64 copies
    of it (all in its vector loops), where it is NaN and the one computed
    with the others is not, or the other way round:
    its vector loops and its scalar tail treat NaN differently for some ops
    (elu's vector code takes the exponential branch, its scalar code the
    linear one), so either is PyTorch's answer. None when all agree."""
    alt = np.array(gx, dtype=np.float64)
    xs, ws = x_np.reshape(-1), w.reshape(-1)
    differ = False
    for i in range(len(xs)):
        x1 = torch.tensor(np.repeat(xs[i], 64), dtype=dtype, requires_grad=True)
        (g1,) = torch.autograd.grad((f(x1, param) * ws[i]).sum(), x1)
        if math.isnan(float(g1[0])) != math.isnan(gx[i]):
            alt[i] = float(g1[0])
            differ = True
    return alt if differ else None


def random_shape(nd_min, nd_max):
    nd = rng.randint(nd_min, nd_max + 1)
    return tuple(int(rng.randint(1, 5)) for _ in range(nd))


for dtype in (torch.float64, torch.float32):
    for name, (f, param, diff, (lo, hi)) in UNARY.items():
        # two random shapes of moderate values; second order in float64
        for rep in range(2):
            shape = random_shape(0 if rep == 0 else 1, 3)
            x = cast(rng.uniform(lo, hi, size=shape), dtype)
            cases.append(run(name, f, x, dtype, param, None, False, diff,
                             diff and dtype == torch.float64))
        # the edge values, as one line
        x = cast(EDGES + EXTRA_EDGES.get(name, []), dtype)
        cases.append(run(name, f, x, dtype, param, None, False, diff, False))

    for name, f in SOFTMAX.items():
        for rep in range(4):
            shape = random_shape(1, 4)
            axis = int(rng.randint(-len(shape), len(shape)))
            keep = name == "logsumexp" and rep % 2 == 1
            x = cast(rng.uniform(-6, 6, size=shape), dtype)
            cases.append(run(name, f, x, dtype, None, axis, keep, True,
                             dtype == torch.float64))
        # huge, masked, empty and spoiled lines: rows of a (7, 4) along
        # axis 1, and the same transposed along axis 0
        edge = np.array([
            [1e4, 0.0, -1e4, 5.0],
            [-INF, 1.0, 2.0, -INF],
            [-INF, -INF, -INF, -INF],
            [-INF, -INF, -INF, 3.0],
            [1e4, 1e4, -1e4, -1e4],
            [INF, 1.0, 0.0, -INF],
            [NAN, 1.0, 2.0, 3.0],
        ])
        x = cast(edge, dtype)
        cases.append(run(name, f, x, dtype, None, 1, False, True, False))
        cases.append(run(name, f, np.ascontiguousarray(x.T), dtype, None, 0,
                         name == "logsumexp", True, False))
        # a long line (the compensated sum) and an empty axis
        x = cast(rng.uniform(-3, 3, size=(1, 300)), dtype)
        cases.append(run(name, f, x, dtype, None, -1, False, True, False))
        x = cast(np.zeros((3, 0)), dtype)
        cases.append(run(name, f, x, dtype, None, 1, False, True, False))


def c_value(v):
    v = float(v)
    if math.isnan(v):
        return "(double)NAN"
    if math.isinf(v):
        return "(double)INFINITY" if v > 0 else "-(double)INFINITY"
    return v.hex()


def c_array(name, values, lines):
    vals = [c_value(v) for v in values]
    lines.append(f"static const double {name}[{max(len(vals), 1)}] = {{")
    row = "   "
    for item in vals or ["0"]:
        if len(row) + len(item) + 2 > 78:
            lines.append(row)
            row = "   "
        row += " " + item + ","
    lines.append(row)
    lines.append("};")


lines = ["/* functions_ref.inc - generated by make_functions_ref.py with "
         f"PyTorch {torch.__version__}; do not edit. */"]
entries = []
for i, c in enumerate(cases):
    arrays = {}
    for key in ("x", "w", "y", "gx", "gx_alt", "v", "hv"):
        if c[key] is None:
            arrays[key] = "NULL"
        else:
            arrays[key] = f"fx{i}_{key}"
            c_array(arrays[key], c[key], lines)
    shape = c["shape"]
    dims = ", ".join(str(d) for d in shape) if shape else "0"
    entries.append(
        f'    {{"{c["op"]}", {float(c["param"]).hex()}, {c["axis"]}, '
        f'{int(c["keep"])}, {int(c["f64"])}, {len(shape)}, {{{dims}}}, '
        f'{len(c["x"])}, {len(c["y"])}, {arrays["x"]}, {arrays["w"]}, '
        f'{arrays["y"]}, {arrays["gx"]}, {arrays["gx_alt"]}, {arrays["v"]}, '
        f'{arrays["hv"]}}},')
lines.append("static const fx_case fx_cases[] = {")
lines += entries
lines.append("};")

with open(OUT, "w") as fh:
    fh.write("\n".join(lines) + "\n")
print("wrote", OUT, len(cases), "cases")
