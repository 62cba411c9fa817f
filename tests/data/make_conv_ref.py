#!/usr/bin/python3
"""Reference values for tests/test_conv.c: conv2d, conv1d and
conv_transpose2d computed by PyTorch in float64, forward, first-order
gradients and Hessian-vector products.

Rerun from the repository root with
    /usr/bin/python3 tests/data/make_conv_ref.py
It rewrites tests/data/conv_ref.inc (Debian's python3-numpy and
python3-torch are enough).

Inputs follow one rule on both sides (values() here, conv_values() in
test_conv.c): tensor k of a case (x: 0, w: 1, bias: 2) holds

    ((arange(n) * 37 + 11 k) % 23 - 11) / 8

in C order, so every value is a small binary fraction and every sum the
ops make is exact in float64 (and float32). The weights of the loss are

    wts = ((arange(n) * 7) % 11 - 5) / 2      (the result's shape)

and the direction of a Hessian-vector product is, for tensor k,

    v_k = ((arange(n) * 13 + 5 k) % 17 - 8) / 16      (k = 0, 1, 2).

A first-order case records y = op(x, w, bias) and the gradients of
sum(wts * y) with respect to x, w and bias. A second-order case (hvp
true) records the gradients g of L = sum(wts * y * y) and the product
H v = d (g_x . v_0 + g_w . v_1 + g_b . v_2) / d (x, w, bias), through a
create_graph backward; both x and w get second-order terms there (y is
bilinear in them and squared).

The cases, with their shapes and arguments, are written into the .inc as
a table, so test_conv.c walks exactly what was computed here."""
import os
import warnings

import numpy as np
import torch
import torch.nn.functional as F

torch.set_default_dtype(torch.float64)
# PyTorch warns that an even 'same' padding copies the input; it is meant.
warnings.filterwarnings("ignore", message="Using padding='same'")

CONV2D, CONV1D, CONVT2D = 2, 1, 3


def values(k, shape):
    n = int(np.prod(shape, dtype=np.int64))
    return (((np.arange(n, dtype=np.int64) * 37 + 11 * k) % 23 - 11) / 8.0).reshape(shape)


def weights(shape):
    n = int(np.prod(shape, dtype=np.int64))
    return (((np.arange(n, dtype=np.int64) * 7) % 11 - 5) * 0.5).reshape(shape)


def direction(k, shape):
    n = int(np.prod(shape, dtype=np.int64))
    return (((np.arange(n, dtype=np.int64) * 13 + 5 * k) % 17 - 8) / 16.0).reshape(shape)


def case(name, kind, x, w, bias=True, stride=(1, 1), padding=(0, 0), dilation=(1, 1),
         groups=1, same=False, output_padding=(0, 0), hvp=False):
    """x, w: shapes. For conv1d only entry 0 of each pair is used (entry 1
    is written as the default)."""
    if kind == CONV1D:
        stride, padding, dilation = (stride[0], 1), (padding[0], 0), (dilation[0], 1)
    if kind != CONVT2D:
        out_ch = w[0]
    else:
        out_ch = w[1] * groups
    return dict(name=name, kind=kind, x=tuple(x), w=tuple(w), bias=bias,
                b=(out_ch,), stride=tuple(stride), padding=tuple(padding),
                dilation=tuple(dilation), groups=groups, same=same,
                output_padding=tuple(output_padding), hvp=hvp)


C2, C1, CT = CONV2D, CONV1D, CONVT2D
CASES = [
    # conv2d
    case("c2_basic", C2, (2, 3, 5, 6), (4, 3, 3, 3)),
    case("c2_stride2_pad1", C2, (2, 3, 7, 6), (2, 3, 3, 3), stride=(2, 2), padding=(1, 1)),
    case("c2_stride21_pad20_nobias", C2, (1, 2, 6, 5), (3, 2, 3, 2), bias=False,
         stride=(2, 1), padding=(2, 0)),
    case("c2_odd_5x7_k3x2_batch1", C2, (1, 1, 5, 7), (2, 1, 3, 2)),
    case("c2_1x1_nobias", C2, (2, 3, 4, 5), (2, 3, 1, 1), bias=False),
    case("c2_same_odd", C2, (2, 2, 5, 6), (3, 2, 3, 3), same=True),
    case("c2_same_even_nobias", C2, (1, 2, 5, 7), (2, 2, 4, 2), bias=False, same=True),
    case("c2_same_even_dilated", C2, (2, 1, 6, 5), (2, 1, 2, 3), same=True,
         dilation=(3, 1)),
    case("c2_dilation2", C2, (2, 2, 7, 7), (2, 2, 3, 3), padding=(1, 1), dilation=(2, 2)),
    case("c2_groups2", C2, (2, 4, 5, 5), (6, 2, 3, 3), stride=(1, 2), padding=(1, 1),
         groups=2),
    case("c2_depthwise", C2, (2, 3, 6, 5), (6, 1, 3, 3), padding=(1, 1), groups=3),
    case("c2_depthwise_nobias", C2, (1, 4, 5, 5), (4, 1, 2, 2), bias=False, groups=4),
    case("c2_all", C2, (2, 4, 8, 7), (4, 2, 3, 3), stride=(2, 1), padding=(1, 2),
         dilation=(2, 1), groups=2),
    # conv1d
    case("c1_basic", C1, (2, 3, 9), (2, 3, 3)),
    case("c1_stride3_pad2_nobias", C1, (2, 2, 10), (3, 2, 4), bias=False, stride=(3,),
         padding=(2,)),
    case("c1_dil2_groups2", C1, (1, 4, 11), (4, 2, 3), stride=(2,), padding=(1,),
         dilation=(2,), groups=2),
    case("c1_same_even", C1, (2, 2, 7), (2, 2, 4), same=True),
    case("c1_depthwise", C1, (2, 3, 8), (3, 1, 5), padding=(2,), groups=3),
    # conv_transpose2d: w is (C, O / groups, KH, KW)
    case("ct_basic", CT, (2, 3, 4, 3), (3, 2, 3, 3)),
    case("ct_stride2_pad1_op1", CT, (2, 2, 3, 4), (2, 3, 3, 3), stride=(2, 2),
         padding=(1, 1), output_padding=(1, 1)),
    case("ct_groups2_nobias", CT, (1, 4, 3, 3), (4, 3, 3, 2), bias=False, stride=(2, 1),
         padding=(1, 0), output_padding=(1, 0), groups=2),
    case("ct_dilation2", CT, (2, 2, 4, 3), (2, 2, 2, 3), stride=(1, 2), padding=(1, 1),
         dilation=(2, 1), output_padding=(1, 1)),
    case("ct_all", CT, (2, 4, 3, 4), (4, 2, 3, 3), stride=(2, 2), padding=(1, 1),
         dilation=(2, 2), output_padding=(1, 1), groups=2),
    # second order: Hessian-vector products of sum(wts * y^2)
    case("hvp_c2", C2, (1, 4, 5, 5), (2, 2, 3, 3), stride=(2, 1), padding=(1, 1),
         dilation=(1, 2), groups=2, hvp=True),
    case("hvp_c1", C1, (2, 2, 7), (3, 2, 3), stride=(2,), padding=(1,), hvp=True),
    case("hvp_ct", CT, (1, 2, 3, 3), (2, 2, 3, 2), stride=(2, 1), padding=(1, 0),
         output_padding=(1, 0), hvp=True),
]


def forward(c, x, w, b):
    if c["kind"] == CONV2D:
        pad = "same" if c["same"] else c["padding"]
        return F.conv2d(x, w, b, stride=c["stride"], padding=pad,
                        dilation=c["dilation"], groups=c["groups"])
    if c["kind"] == CONV1D:
        pad = "same" if c["same"] else c["padding"][0]
        return F.conv1d(x, w, b, stride=c["stride"][0], padding=pad,
                        dilation=c["dilation"][0], groups=c["groups"])
    return F.conv_transpose2d(x, w, b, stride=c["stride"], padding=c["padding"],
                              output_padding=c["output_padding"], groups=c["groups"],
                              dilation=c["dilation"])


def same_by_hand(c, x, w, b):
    """'same' as an explicit zero padding: total d (k - 1) per axis, the
    smaller half before and the odd zero after, then a valid convolution.
    Checks the convention test_conv.c relies on."""
    spatial = x.dim() - 2
    flat = []
    for ax in reversed(range(spatial)):
        total = c["dilation"][ax] * (w.shape[2 + ax] - 1)
        flat += [total // 2, total - total // 2]
    xp = F.pad(x, flat)
    conv = F.conv2d if spatial == 2 else F.conv1d
    return conv(xp, w, b, stride=1, padding=0,
                dilation=c["dilation"][:spatial] if spatial == 2 else c["dilation"][0],
                groups=c["groups"])


def run(c):
    x = torch.tensor(values(0, c["x"]), requires_grad=True)
    w = torch.tensor(values(1, c["w"]), requires_grad=True)
    b = torch.tensor(values(2, c["b"]), requires_grad=True) if c["bias"] else None
    leaves = [x, w] + ([b] if b is not None else [])
    y = forward(c, x, w, b)
    if c["same"]:
        assert torch.equal(y, same_by_hand(c, x, w, b)), c["name"]
    wts = torch.tensor(weights(tuple(y.shape)))
    out = {"y": y.detach().numpy()}
    if not c["hvp"]:
        grads = torch.autograd.grad((wts * y).sum(), leaves)
    else:
        loss = (wts * y * y).sum()
        grads = torch.autograd.grad(loss, leaves, create_graph=True)
        dot = sum((g * torch.tensor(direction(k, tuple(g.shape)))).sum()
                  for k, g in enumerate(grads))
        hv = torch.autograd.grad(dot, leaves)
        for name, h in zip(("hx", "hw", "hb"), hv):
            out[name] = h.detach().numpy()
    for name, g in zip(("gx", "gw", "gb"), grads):
        out[name] = g.detach().numpy()
    return out


def c_doubles(name, arr):
    flat = np.asarray(arr, dtype=np.float64).ravel()
    body = ", ".join("%.17g" % float(v) for v in flat)
    return "static const double %s[%d] = {%s};\n" % (name, flat.size, body)


def c_shape(shape):
    shape = tuple(shape) + (0,) * (4 - len(shape))
    return "{%s}" % ", ".join(str(s) for s in shape)


def main():
    out = ["/* conv_ref.inc - generated by make_conv_ref.py with NumPy %s and PyTorch %s; "
           "do not edit. */\n" % (np.__version__, torch.__version__)]
    out.append("""enum { CONV_2D = %d, CONV_1D = %d, CONV_T2D = %d };
typedef struct conv_ref {
    const char *name;
    int kind;                /* CONV_2D, CONV_1D or CONV_T2D */
    int ndim;                /* of x, w and y: 4, or 3 for conv1d */
    int64_t x[4], w[4], y[4];
    bool bias;               /* b is (O,) = (y[1],) */
    int64_t stride[2], padding[2], dilation[2], groups;
    bool same;
    int64_t output_padding[2];
    bool hvp;                /* loss sum(wts y^2) and H v; else sum(wts y) */
    const double *yv, *gx, *gw, *gb, *hx, *hw, *hb;
} conv_ref;
""" % (CONV2D, CONV1D, CONVT2D))
    rows = []
    for c in CASES:
        r = run(c)
        n = c["name"]
        out.append("/* %s */\n" % n)
        names = ["y", "gx", "gw"] + (["gb"] if c["bias"] else [])
        if c["hvp"]:
            names += ["hx", "hw"] + (["hb"] if c["bias"] else [])
        for k in names:
            out.append(c_doubles("ref_%s_%s" % (n, k), r[k]))
        ptr = {k: ("ref_%s_%s" % (n, k) if k in names else "NULL")
               for k in ("y", "gx", "gw", "gb", "hx", "hw", "hb")}
        kind = {CONV2D: "CONV_2D", CONV1D: "CONV_1D", CONVT2D: "CONV_T2D"}[c["kind"]]
        rows.append(
            '    {"%s", %s, %d, %s, %s, %s, %s,\n'
            '     {%d, %d}, {%d, %d}, {%d, %d}, %d, %s, {%d, %d}, %s,\n'
            '     %s, %s, %s, %s, %s, %s, %s},\n'
            % (n, kind, len(c["x"]), c_shape(c["x"]), c_shape(c["w"]), c_shape(r["y"].shape),
               "true" if c["bias"] else "false",
               c["stride"][0], c["stride"][1], c["padding"][0], c["padding"][1],
               c["dilation"][0], c["dilation"][1], c["groups"],
               "true" if c["same"] else "false",
               c["output_padding"][0], c["output_padding"][1],
               "true" if c["hvp"] else "false",
               ptr["y"], ptr["gx"], ptr["gw"], ptr["gb"], ptr["hx"], ptr["hw"], ptr["hb"]))
    out.append("static const conv_ref conv_refs[] = {\n")
    out.extend(rows)
    out.append("};\n#define NCONV_REFS ((int)(sizeof conv_refs / sizeof conv_refs[0]))\n")
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "conv_ref.inc")
    with open(path, "w") as f:
        f.write("".join(out))


if __name__ == "__main__":
    main()
