"""Writes init_ref.inc: torch.nn.init's gains and fans, and the values of
tapegrad's initialisers where they draw NumPy's legacy stream, for
tests/test_init.c.

Rerun from the repository root (NumPy and PyTorch installed):

    /usr/bin/python3 tests/data/make_init_ref.py

The bounds and standard deviations are computed with PyTorch's own gain and
fan functions and in PyTorch's order of operations, then the values are
drawn with np.random after np.random.seed, as tg_rng draws them. Every value
is written with float.hex(), so the C side compares bit for bit. The
orthogonal matrices are NumPy's QR (LAPACK) with torch.nn.init.orthogonal_'s
sign fix, checked here against torch.linalg.qr; the C side matches them to
rounding. The statistics are those of PyTorch's own initialisers on large
tensors with torch's generator, which tapegrad's must match within sampling
error.
"""
import math
import os

import numpy as np
import torch

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "init_ref.inc")
init = torch.nn.init


def doubles(name, values):
    vals = [float(v).hex() for v in np.asarray(values, dtype=np.float64).ravel()]
    body = ",\n".join("    " + ", ".join(vals[i:i + 3]) for i in range(0, len(vals), 3))
    return (f"static const double {name}[{len(vals)}] = {{\n{body}\n}};\n"
            f"enum {{ {name}_len = {len(vals)} }};\n")


def fans(shape):
    return init._calculate_fan_in_and_fan_out(torch.empty(shape))


def kaiming_std(shape, a, mode, nonlinearity):
    fan = init._calculate_correct_fan(torch.empty(shape), mode)
    gain = init.calculate_gain(nonlinearity, a)
    return gain / math.sqrt(fan)           # torch.nn.init.kaiming_*_


def xavier_std(shape, gain):
    fan_in, fan_out = fans(shape)
    return gain * math.sqrt(2.0 / float(fan_in + fan_out))   # xavier_*_


def orthogonal(seed, shape, gain):
    """torch.nn.init.orthogonal_'s algorithm on np.random's normal draws."""
    rows = shape[0]
    cols = int(np.prod(shape)) // rows
    np.random.seed(seed)
    flat = np.random.normal(0.0, 1.0, (rows, cols))
    a = flat.T if rows < cols else flat
    q, r = np.linalg.qr(a)
    q = q * np.sign(np.diag(r))
    # The same with torch's QR: the sign fix makes Q unique.
    tq, tr = torch.linalg.qr(torch.from_numpy(a.copy()))
    tq = tq * torch.diag(tr, 0).sign()
    assert np.allclose(q, tq.numpy(), rtol=0, atol=1e-12)
    if rows < cols:
        q = q.T
    return (q * gain).reshape(shape)


def main():
    parts = []
    g = [init.calculate_gain("linear"), init.calculate_gain("sigmoid"),
         init.calculate_gain("tanh"), init.calculate_gain("relu"),
         init.calculate_gain("leaky_relu", 0.01), init.calculate_gain("leaky_relu", 0.2),
         init.calculate_gain("selu"), init.calculate_gain("conv2d")]
    parts.append(doubles("ref_gains", g))
    for name, shape in [("2d", (3, 5)), ("conv", (8, 3, 3, 3)), ("3d", (4, 2, 5))]:
        fi, fo = fans(shape)
        parts.append(f"enum {{ ref_fan_in_{name} = {fi}, ref_fan_out_{name} = {fo} }};\n")

    # Exact draws. xavier_uniform (20, 30), gain 1, seed 1, float64.
    std = xavier_std((20, 30), 1.0)
    bound = math.sqrt(3.0) * std
    np.random.seed(1)
    parts.append(doubles("ref_xavier_uniform_s1", np.random.uniform(-bound, bound, (20, 30))))
    # xavier_normal (16, 4, 3, 3), tanh's gain, seed 2, float64.
    std = xavier_std((16, 4, 3, 3), init.calculate_gain("tanh"))
    np.random.seed(2)
    parts.append(doubles("ref_xavier_normal_s2", np.random.normal(0.0, std, (16, 4, 3, 3))))
    # kaiming_uniform's defaults (a=0, fan_in, leaky_relu) on (50, 40), seed 3,
    # float32 (NumPy's doubles rounded).
    std = kaiming_std((50, 40), 0.0, "fan_in", "leaky_relu")
    bound = math.sqrt(3.0) * std
    np.random.seed(3)
    parts.append(doubles("ref_kaiming_uniform_s3_f32",
                         np.random.uniform(-bound, bound, (50, 40)).astype(np.float32)))
    # kaiming_normal (32, 16, 3, 3), fan_out, relu, seed 4, float64.
    std = kaiming_std((32, 16, 3, 3), 0.0, "fan_out", "relu")
    np.random.seed(4)
    parts.append(doubles("ref_kaiming_normal_s4", np.random.normal(0.0, std, (32, 16, 3, 3))))
    # kaiming_uniform (10, 7), a = 0.2, fan_out, leaky_relu, seed 8, float64.
    std = kaiming_std((10, 7), 0.2, "fan_out", "leaky_relu")
    bound = math.sqrt(3.0) * std
    np.random.seed(8)
    parts.append(doubles("ref_kaiming_leaky_s8", np.random.uniform(-bound, bound, (10, 7))))

    # Orthogonal: wide (6, 10), tall (12, 5) with gain 2, conv (4, 2, 3, 3).
    parts.append(doubles("ref_orth_wide_s5", orthogonal(5, (6, 10), 1.0)))
    parts.append(doubles("ref_orth_tall_s6", orthogonal(6, (12, 5), 2.0)))
    parts.append(doubles("ref_orth_conv_s7", orthogonal(7, (4, 2, 3, 3), 1.0)))

    # PyTorch's own initialisers on large tensors (torch's generator): the
    # sample mean and std that tapegrad's must match within sampling error.
    torch.manual_seed(0)
    stats = []
    for fn in [lambda t: init.xavier_uniform_(t),
               lambda t: init.xavier_normal_(t),
               lambda t: init.kaiming_uniform_(t, a=0.0, mode="fan_in", nonlinearity="relu"),
               lambda t: init.kaiming_normal_(t, a=0.0, mode="fan_out", nonlinearity="relu"),
               lambda t: init.kaiming_normal_(t, a=0.1, mode="fan_in",
                                              nonlinearity="leaky_relu")]:
        t = torch.empty((256, 512), dtype=torch.float64)
        fn(t)
        stats += [t.mean().item(), t.std().item(), t.abs().max().item()]
    parts.append(doubles("ref_torch_stats_256x512", stats))

    with open(OUT, "w") as f:
        f.write("/* Generated by tests/data/make_init_ref.py; do not edit. */\n")
        f.write("\n".join(parts))


if __name__ == "__main__":
    main()
