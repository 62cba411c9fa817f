#!/usr/bin/env python3
"""Writes index_ref.inc for tests/test_index.c: PyTorch's forward values and
gradients of index_select, gather, scatter_add, where, clamp, masked_fill
and one_hot, in float64. Run with /usr/bin/python3 (Debian's torch):

    /usr/bin/python3 tests/data/make_index_ref.py

Each case builds its inputs from a seeded generator, takes loss =
sum(out * w) with fixed random weights w of out's shape, and records the
inputs, w, out and the gradient of every float input. Indices repeat, so
the gradients show accumulation; where's unchosen operand holds -inf."""
import os

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "index_ref.inc")
torch.set_default_dtype(torch.float64)
rng = np.random.RandomState(20261202)


def arr(x):
    x = np.asarray(x, dtype=np.float64).reshape(-1)
    return "{" + ", ".join(repr(float(v)) if np.isfinite(v) else
                           ("-DINF" if v < 0 else "DINF") for v in x) + "}"


def iarr(x):
    x = np.asarray(x, dtype=np.int64).reshape(-1)
    return "{" + ", ".join("INT64_C(%d)" % v for v in x) + "}"


def shape(t):
    s = list(t.shape)
    return "%d, {%s}" % (len(s), ", ".join(str(v) for v in s) or "0")


def main():
    lines = ["/* Made by tests/data/make_index_ref.py with torch %s; do not edit. */"
             % torch.__version__]
    w = lines.append

    # index_select: an embedding lookup with repeated and unused rows
    weight = torch.tensor(rng.randn(5, 3), requires_grad=True)
    ids = torch.tensor([[4, 0, 4, 2], [1, 4, 0, 0]])
    out = weight[ids]  # torch.index_select over a flattened index, reshaped
    wt = torch.tensor(rng.randn(*out.shape))
    (out * wt).sum().backward()
    w("static const int64_t ref_is_ids[] = %s;" % iarr(ids))
    w("static const double ref_is_weight[] = %s;" % arr(weight.detach()))
    w("static const double ref_is_w[] = %s;" % arr(wt))
    w("static const double ref_is_out[] = %s;" % arr(out.detach()))
    w("static const double ref_is_grad[] = %s;" % arr(weight.grad))

    # gather along axis 1 with repeats
    x = torch.tensor(rng.randn(3, 4), requires_grad=True)
    gi = torch.tensor([[3, 3], [0, 1], [2, 2]])
    out = torch.gather(x, 1, gi)
    wt = torch.tensor(rng.randn(*out.shape))
    (out * wt).sum().backward()
    w("static const int64_t ref_g_index[] = %s;" % iarr(gi))
    w("static const double ref_g_x[] = %s;" % arr(x.detach()))
    w("static const double ref_g_w[] = %s;" % arr(wt))
    w("static const double ref_g_out[] = %s;" % arr(out.detach()))
    w("static const double ref_g_grad[] = %s;" % arr(x.grad))

    # scatter_add along axis 0
    t = torch.tensor(rng.randn(3, 4), requires_grad=True)
    si = torch.tensor([[2, 0, 2, 1], [2, 2, 0, 1]])
    src = torch.tensor(rng.randn(2, 4), requires_grad=True)
    out = torch.scatter_add(t, 0, si, src)
    wt = torch.tensor(rng.randn(*out.shape))
    (out * wt).sum().backward()
    w("static const int64_t ref_sa_index[] = %s;" % iarr(si))
    w("static const double ref_sa_t[] = %s;" % arr(t.detach()))
    w("static const double ref_sa_src[] = %s;" % arr(src.detach()))
    w("static const double ref_sa_w[] = %s;" % arr(wt))
    w("static const double ref_sa_out[] = %s;" % arr(out.detach()))
    w("static const double ref_sa_grad_t[] = %s;" % arr(t.grad))
    w("static const double ref_sa_grad_src[] = %s;" % arr(src.grad))

    # where with a broadcast b that holds -inf where it is not chosen
    a = torch.tensor(rng.randn(2, 3), requires_grad=True)
    b = torch.tensor([-np.inf, 2.0, 3.0], requires_grad=True)
    m2 = torch.tensor([[True, False, True], [True, False, False]])
    # column 0 is always chosen from a: b's -inf never shows
    out = torch.where(m2 | torch.tensor([True, False, False]), a, b)
    wt = torch.tensor(rng.randn(*out.shape))
    (out * wt).sum().backward()
    mask = (m2 | torch.tensor([True, False, False]))
    w("static const int64_t ref_w_mask[] = %s;" % iarr(mask.int()))
    w("static const double ref_w_a[] = %s;" % arr(a.detach()))
    w("static const double ref_w_b[] = %s;" % arr(b.detach()))
    w("static const double ref_w_w[] = %s;" % arr(wt))
    w("static const double ref_w_out[] = %s;" % arr(out.detach()))
    w("static const double ref_w_grad_a[] = %s;" % arr(a.grad))
    w("static const double ref_w_grad_b[] = %s;" % arr(b.grad))

    # clamp with values on both bounds
    c = torch.tensor([[-2.0, -1.0, -0.5], [0.25, 1.5, 3.0]], requires_grad=True)
    out = torch.clamp(c, -1.0, 1.5)
    wt = torch.tensor(rng.randn(*out.shape))
    (out * wt).sum().backward()
    w("static const double ref_c_x[] = %s;" % arr(c.detach()))
    w("static const double ref_c_w[] = %s;" % arr(wt))
    w("static const double ref_c_out[] = %s;" % arr(out.detach()))
    w("static const double ref_c_grad[] = %s;" % arr(c.grad))

    # masked_fill with a broadcast mask and -inf
    mf = torch.tensor(rng.randn(2, 3), requires_grad=True)
    mm = torch.tensor([False, True, False])
    out = mf.masked_fill(mm, -np.inf)
    wt = torch.tensor(rng.randn(*out.shape))
    (out * wt).sum().backward()  # the loss is -inf; the gradient is finite
    w("static const int64_t ref_mf_mask[] = %s;" % iarr(mm.int()))
    w("static const double ref_mf_a[] = %s;" % arr(mf.detach()))
    w("static const double ref_mf_w[] = %s;" % arr(wt))
    w("static const double ref_mf_out[] = %s;" % arr(out.detach()))
    w("static const double ref_mf_grad[] = %s;" % arr(mf.grad))

    # Hessian-vector products through gather, index_select and where: the
    # gradient of sum(f(x)^3 * w) recorded, then d/dx of <gradient, v>
    x = torch.tensor(rng.randn(3, 4), requires_grad=True)
    v = torch.tensor(rng.randn(3, 4))
    gi = torch.tensor([[3, 3, 1], [0, 2, 0], [1, 1, 1]])
    si = torch.tensor([2, 0, 2])
    hm = torch.tensor([[True, False, True, False], [False, True, True, True],
                       [True, True, False, False]])
    y = (torch.gather(x, 1, gi) ** 3).sum() \
        + (torch.index_select(x, 0, si) ** 3 * 0.5).sum() \
        + (torch.where(hm, x, x * x) ** 3).sum()
    (g,) = torch.autograd.grad(y, x, create_graph=True)
    (hv,) = torch.autograd.grad((g * v).sum(), x)
    w("static const double ref_h_x[] = %s;" % arr(x.detach()))
    w("static const double ref_h_v[] = %s;" % arr(v))
    w("static const int64_t ref_h_gi[] = %s;" % iarr(gi))
    w("static const int64_t ref_h_si[] = %s;" % iarr(si))
    w("static const int64_t ref_h_mask[] = %s;" % iarr(hm.int()))
    w("static const double ref_h_grad[] = %s;" % arr(g.detach()))
    w("static const double ref_h_hv[] = %s;" % arr(hv))

    # one_hot
    oh = torch.nn.functional.one_hot(torch.tensor([[2, 0], [1, 2]]), 4)
    w("static const int64_t ref_oh[] = %s;" % iarr(oh))

    with open(OUT, "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
