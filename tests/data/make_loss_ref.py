"""Writes loss_ref.inc: values, gradients and a few Hessian-vector products
of torch.nn.functional's losses, for tests/test_loss.c (models/loss.c).

Rerun from the repository root with PyTorch installed:

    /usr/bin/python3 tests/data/make_loss_ref.py

Every input comes from a formula the C test reproduces from the numbers
written here: element i of a float tensor is lo + (hi - lo) * k / (m - 1)
with k = (i * a + b) % m, then the listed overrides (index, value) are set
(exact zeros and ones for BCE, logits of +-1e4, targets equal to
ignore_index); class targets are (i * a + b) % m then the overrides. Every
operation is one IEEE operation done in the same order in Python and in C,
so both see the same bits. float32 references run the same case in float32
(the float64 inputs rounded, as a C cast does).

A loss reduced to one element is differentiated with seed 1; a NONE loss
with the seed s_i = ((7 i + 3) % 11 + 1) / 8. A Hessian-vector product is
d/dx (grad_x . v) with v_i = ((5 i + 2) % 9 - 4) / 4. Values are written
with float.hex(); the test compares float64 to 1e-12 relative and float32
to 1e-5.
"""
import math
import os
import warnings

import torch
import torch.nn.functional as F

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "loss_ref.inc")

LOSSES = ["L1", "MSE", "HUBER", "SMOOTH_L1", "BCE", "BCE_LOGITS", "NLL", "CE",
          "KL"]
REDUCTIONS = {"mean": 0, "sum": 1, "none": 2, "batchmean": 3}


def gen(a, b, m, lo, hi, sets=()):
    return dict(a=a, b=b, m=m, lo=lo, hi=hi, sets=list(sets))


def fill(g, n):
    v = [g["lo"] + (g["hi"] - g["lo"]) * ((i * g["a"] + g["b"]) % g["m"]) / (g["m"] - 1)
         for i in range(n)]
    for at, val in g["sets"]:
        if at < n:
            v[at] = val
    return v


def ifill(g, n):
    v = [(i * g["a"] + g["b"]) % g["m"] for i in range(n)]
    for at, val in g["sets"]:
        if at < n:
            v[at] = int(val)
    return v


def seed_of(n):
    return [((7 * i + 3) % 11 + 1) / 8 for i in range(n)]


def vec_of(n):
    return [((5 * i + 2) % 9 - 4) / 4 for i in range(n)]


def numel(shape):
    n = 1
    for s in shape:
        n *= s
    return n


def class_target_shape(shape):
    return [] if len(shape) == 1 else [shape[0]] + list(shape[2:])


CASES = []


def case(name, loss, red, shape, x, y, **kw):
    c = dict(name=name, loss=loss, red=red, shape=shape, x=x, y=y, w=None,
             wshape=None, pw=None, pwshape=None, param=0.0, ignore=-100,
             log_target=False, tgrad=False, hvp=False)
    c.update(kw)
    CASES.append(c)


# ---- regression: exact ties (d = 0) for L1, |d| == delta / beta exactly
GX = gen(3, 1, 17, -2.0, 2.0)   # multiples of 0.25 in [-2, 2]
GY = gen(5, 4, 17, -2.0, 2.0)
for red in ("mean", "sum", "none"):
    case("l1_" + red, "L1", red, [4, 5], GX, GY, tgrad=red == "none")
    case("mse_" + red, "MSE", red, [4, 5], GX, GY, tgrad=red == "none")
    case("huber_" + red, "HUBER", red, [4, 5], GX, GY, param=1.0,
         tgrad=red == "none", hvp=red == "mean")
    case("smooth_l1_" + red, "SMOOTH_L1", red, [4, 5], GX, GY, param=1.0,
         hvp=red == "sum")
case("huber_delta_half", "HUBER", "none", [4, 5], GX, GY, param=0.5)
case("huber_delta_big", "HUBER", "mean", [2, 3], GX, GY, param=3.5)
case("smooth_l1_beta_half", "SMOOTH_L1", "none", [4, 5], GX, GY, param=0.5,
     tgrad=True)
# beta 0 is L1 here, gradient 0 at d = 0 (PyTorch 1.13's smooth_l1_loss
# says -1 there), so this case has no ties; l1_* have them.
case("smooth_l1_beta_zero", "SMOOTH_L1", "sum", [4, 5], GX,
     gen(5, 4, 19, -2.0, 2.0), param=0.0)
case("mse_3d", "MSE", "mean", [2, 3, 2], gen(7, 2, 13, -1.5, 3.0),
     gen(2, 5, 11, -1.0, 1.0))

# ---- BCE on probabilities: every corner (x, t) in {0, 1}^2
PX = gen(7, 3, 23, 0.0, 1.0, [(0, 0.0), (1, 1.0), (2, 0.0), (3, 1.0)])
PY = gen(3, 2, 7, 0.0, 1.0, [(0, 0.0), (1, 1.0), (2, 1.0), (3, 0.0)])
PX_IN = gen(7, 3, 23, 0.02, 0.97)    # away from 0 and 1: target gradients
case("bce_mean", "BCE", "mean", [4, 5], PX, PY)
case("bce_sum_w", "BCE", "sum", [4, 5], PX, PY, w=gen(2, 1, 5, 0.5, 2.0),
     wshape=[5])
case("bce_none_w", "BCE", "none", [4, 5], PX, PY, w=gen(3, 0, 7, 0.25, 1.75),
     wshape=[4, 5])
case("bce_none_tgrad", "BCE", "none", [3, 4], PX_IN, PY, tgrad=True)
case("bce_mean_hvp", "BCE", "mean", [2, 3], PX_IN, PY, hvp=True)
case("bce_1d_tiny", "BCE", "sum", [4], gen(1, 1, 3, 0.0, 1.0,
                                            [(0, 1e-10), (3, 1.0 - 2 ** -40)]),
     gen(1, 0, 2, 0.0, 1.0))

# ---- BCE on logits: +-1e4, 0, and ordinary logits
LX = gen(5, 2, 25, -6.0, 6.0, [(0, 1e4), (1, -1e4), (2, 1e4), (3, -1e4), (4, 0.0),
                               (5, 0.0)])
LY = gen(3, 1, 5, 0.0, 1.0, [(0, 1.0), (1, 0.0), (2, 0.5), (3, 0.25), (4, 1.0),
                             (5, 0.0)])
case("bcel_mean", "BCE_LOGITS", "mean", [4, 5], LX, LY)
case("bcel_sum", "BCE_LOGITS", "sum", [4, 5], LX, LY)
case("bcel_none_tgrad", "BCE_LOGITS", "none", [4, 5], LX, LY, tgrad=True)
case("bcel_pos_weight", "BCE_LOGITS", "mean", [4, 5], LX, LY,
     pw=gen(2, 1, 5, 0.5, 3.0), pwshape=[5])
case("bcel_weights", "BCE_LOGITS", "none", [4, 5], LX, LY,
     w=gen(1, 0, 4, 0.5, 2.0), wshape=[4, 1], pw=gen(3, 2, 5, 0.25, 4.0),
     pwshape=[5], tgrad=True)
case("bcel_hvp", "BCE_LOGITS", "sum", [3, 4], gen(5, 2, 25, -6.0, 6.0), LY,
     pw=gen(2, 1, 5, 0.5, 3.0), pwshape=[4], hvp=True)

# ---- NLL: log-probabilities (any reals), targets with ignore_index
NX = gen(7, 3, 29, -4.0, -0.05)
NT = gen(3, 1, 5, 0, 0, [(2, -100), (5, -100)])
W5 = gen(2, 1, 5, 0.5, 2.5)
for red in ("mean", "sum", "none"):
    case("nll_" + red, "NLL", red, [7, 5], NX, NT)
    case("nll_w_" + red, "NLL", red, [7, 5], NX, NT, w=W5, wshape=[5])
case("nll_3d_w", "NLL", "mean", [3, 4, 2], NX,
     gen(3, 1, 4, 0, 0, [(1, -100)]), w=gen(1, 1, 4, 0.5, 2.0), wshape=[4])
case("nll_1d_w", "NLL", "mean", [5], NX, gen(1, 3, 5, 0, 0), w=W5, wshape=[5])
case("nll_all_ignored", "NLL", "mean", [3, 5], NX,
     gen(1, 0, 5, 0, 0, [(0, -100), (1, -100), (2, -100)]))
case("nll_all_ignored_sum", "NLL", "sum", [3, 5], NX,
     gen(1, 0, 5, 0, 0, [(0, -100), (1, -100), (2, -100)]), w=W5, wshape=[5])
case("nll_ignore_class", "NLL", "mean", [7, 5], NX, gen(3, 1, 5, 0, 0), w=W5,
     wshape=[5], ignore=2)

# ---- cross-entropy: logits, with ignore_index, weights and label smoothing
CX = gen(5, 2, 31, -3.0, 4.0, [(3, 1e4), (7, -1e4)])
CT = gen(2, 1, 5, 0, 0, [(1, -100), (4, -100)])
for red in ("mean", "sum", "none"):
    case("ce_" + red, "CE", red, [6, 5], CX, CT)
    case("ce_w_" + red, "CE", red, [6, 5], CX, CT, w=W5, wshape=[5])
    case("ce_ls_" + red, "CE", red, [6, 5], CX, CT, param=0.1)
    case("ce_ls_w_" + red, "CE", red, [6, 5], CX, CT, w=W5, wshape=[5],
         param=0.2, hvp=red == "mean")
case("ce_3d_ls_w", "CE", "mean", [2, 4, 3], CX,
     gen(3, 2, 4, 0, 0, [(4, -100)]), w=gen(1, 1, 4, 0.5, 2.0), wshape=[4],
     param=0.3, hvp=True)
case("ce_1d_ls", "CE", "sum", [5], CX, gen(1, 2, 5, 0, 0), param=0.25)
case("ce_all_ignored_ls", "CE", "mean", [2, 5], CX,
     gen(1, 0, 5, 0, 0, [(0, -100), (1, -100)]), w=W5, wshape=[5], param=0.1)
case("ce_ls_one", "CE", "mean", [6, 5], CX, CT, param=1.0)
case("ce_ignore_class_ls", "CE", "none", [6, 5], CX, gen(2, 1, 5, 0, 0),
     w=W5, wshape=[5], ignore=3, param=0.15)

# ---- KL divergence: log-probability input; probability target with zeros
KX = gen(3, 1, 19, -5.0, -0.1)
KY = gen(2, 3, 9, 0.0, 0.4, [(0, 0.0), (7, 0.0)])
KY_POS = gen(2, 3, 9, 0.05, 0.4)
KY_LOG = gen(4, 1, 13, -6.0, -0.2)
for red in ("mean", "sum", "none", "batchmean"):
    case("kl_" + red, "KL", red, [4, 5], KX, KY)
    case("kl_log_" + red, "KL", red, [4, 5], KX, KY_LOG, log_target=True,
         tgrad=True)
case("kl_tgrad", "KL", "batchmean", [4, 5], KX, KY_POS, tgrad=True)
case("kl_3d", "KL", "batchmean", [3, 2, 2], KX, KY)


def compute(c, dtype):
    n = numel(c["shape"])
    x = torch.tensor(fill(c["x"], n), dtype=torch.float64).to(dtype)
    x = x.reshape(c["shape"]).requires_grad_(True)
    cls = c["loss"] in ("NLL", "CE")
    tshape = class_target_shape(c["shape"]) if cls else c["shape"]
    if cls:
        y = torch.tensor(ifill(c["y"], numel(tshape)), dtype=torch.int64)
        y = y.reshape(tshape)
    else:
        y = torch.tensor(fill(c["y"], n), dtype=torch.float64).to(dtype)
        y = y.reshape(tshape).requires_grad_(c["tgrad"])
    w = pw = None
    if c["w"] is not None:
        w = torch.tensor(fill(c["w"], numel(c["wshape"])), dtype=torch.float64)
        w = w.to(dtype).reshape(c["wshape"])
    if c["pw"] is not None:
        pw = torch.tensor(fill(c["pw"], numel(c["pwshape"])), dtype=torch.float64)
        pw = pw.to(dtype).reshape(c["pwshape"])
    red, L = c["red"], c["loss"]
    if L == "L1":
        out = F.l1_loss(x, y, reduction=red)
    elif L == "MSE":
        out = F.mse_loss(x, y, reduction=red)
    elif L == "HUBER":
        out = F.huber_loss(x, y, reduction=red, delta=c["param"])
    elif L == "SMOOTH_L1":
        out = F.smooth_l1_loss(x, y, reduction=red, beta=c["param"])
    elif L == "BCE":
        out = F.binary_cross_entropy(x, y, weight=w, reduction=red)
    elif L == "BCE_LOGITS":
        out = F.binary_cross_entropy_with_logits(x, y, weight=w, pos_weight=pw,
                                                 reduction=red)
    elif L == "NLL":
        out = F.nll_loss(x, y, weight=w, ignore_index=c["ignore"], reduction=red)
    elif L == "CE":
        out = F.cross_entropy(x, y, weight=w, ignore_index=c["ignore"],
                              reduction=red, label_smoothing=c["param"])
    else:
        out = F.kl_div(x, y, reduction=red, log_target=c["log_target"])
    seed = torch.ones_like(out) if out.dim() == 0 else \
        torch.tensor(seed_of(out.numel()), dtype=dtype).reshape(out.shape)
    ins = [x] + ([y] if c["tgrad"] else [])
    grads = torch.autograd.grad(out, ins, seed, create_graph=c["hvp"])
    hv = None
    if c["hvp"]:
        v = torch.tensor(vec_of(n), dtype=dtype).reshape(c["shape"])
        hv = torch.autograd.grad((grads[0] * v).sum(), x)[0]
    flat = lambda t: [float(e) for e in t.detach().reshape(-1).tolist()]
    return dict(value=flat(out), gx=flat(grads[0]),
                gy=flat(grads[1]) if c["tgrad"] else None,
                hvp=flat(hv) if hv is not None else None,
                outshape=list(out.shape))


def hexes(values):
    out = []
    for v in values:
        if math.isnan(v):
            out.append("(double)NAN")
        elif math.isinf(v):
            out.append("(double)INFINITY" if v > 0 else "-(double)INFINITY")
        else:
            out.append(float(v).hex())
    return ", ".join(out)


def c_gen(g, integer=False):
    sets = g["sets"]
    at = ", ".join(str(s[0]) for s in sets) or "0"
    to = ", ".join(str(int(s[1])) if integer else float(s[1]).hex() for s in sets) or "0"
    return (f"{{{g['a']}, {g['b']}, {g['m']}, {float(g['lo']).hex()}, "
            f"{float(g['hi']).hex()}, {len(sets)}, {{{at}}}, {{{to}}}}}")


def c_shape(shape):
    shape = shape or []
    return f"{len(shape)}, {{{', '.join(str(s) for s in shape) or '0'}}}"


def main():
    # kl_div's 'mean' warns that it is not 'batchmean'; it is tested as is.
    warnings.filterwarnings("ignore", message="reduction: 'mean'")
    lines = ["/* Generated by tests/data/make_loss_ref.py - do not edit. */"]
    entries = []
    for k, c in enumerate(CASES):
        r64, r32 = compute(c, torch.float64), compute(c, torch.float32)
        arrays = {}
        for tag, r in (("64", r64), ("32", r32)):
            for key in ("value", "gx", "gy", "hvp"):
                if r[key] is None:
                    arrays[key + tag] = "NULL"
                    continue
                nm = f"lref_{k}_{key}{tag}"
                lines.append(f"static const double {nm}[] = {{{hexes(r[key])}}};")
                arrays[key + tag] = nm
        cls = c["loss"] in ("NLL", "CE")
        none_gen = gen(1, 0, 2, 0.0, 1.0)
        entries.append(
            f"    {{\"{c['name']}\", LREF_{c['loss']}, {REDUCTIONS[c['red']]}, "
            f"{c_shape(c['shape'])}, {c_gen(c['x'])}, {c_gen(c['y'], cls)}, "
            f"{int(c['w'] is not None)}, {c_gen(c['w'] or none_gen)}, "
            f"{c_shape(c['wshape'])}, "
            f"{int(c['pw'] is not None)}, {c_gen(c['pw'] or none_gen)}, "
            f"{c_shape(c['pwshape'])}, "
            f"{float(c['param']).hex()}, {c['ignore']}, {int(c['log_target'])}, "
            f"{int(c['tgrad'])}, {int(c['hvp'])}, {c_shape(r64['outshape'])},\n"
            f"     {arrays['value64']}, {arrays['gx64']}, {arrays['gy64']}, "
            f"{arrays['hvp64']},\n"
            f"     {arrays['value32']}, {arrays['gx32']}, {arrays['gy32']}, "
            f"{arrays['hvp32']}}},")
    lines.append("static const lref_case lref_cases[] = {")
    lines += entries
    lines.append("};")
    with open(OUT, "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
