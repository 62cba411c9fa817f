#!/usr/bin/python3
"""Writes parity_ref.npz, the fixture of tests/test_parity.c: 100 steps of
training a small PyTorch MLP in float64 with every piece of tapegrad's
training toolkit at once, so the C test can redo them and must land on the
same numbers.

  model     6 -> 32 -> 32 -> 3, ReLU between the layers, no dropout
            (torch.nn.Sequential of Linear layers; tapegrad's tg_mlp)
  loss      F.cross_entropy(logits, y) + BCE_WEIGHT *
            F.binary_cross_entropy_with_logits(logits, z): class labels y
            and three independent 0/1 targets z on the same logits
  optimiser AdamW with two parameter groups: the weights (lr LR_W, decay
            WD_W) and the biases (lr LR_B, no decay)
  schedule  SequentialLR([LinearLR(WARMUP_START, 1, WARMUP),
            CosineAnnealingLR(T_MAX, ETA_MIN)], [WARMUP]), stepped after
            every optimiser step (tapegrad's tg_lr_warmup_cosine)
  clipping  clip_grad_norm_(parameters, MAX_NORM) between backward and step;
            MAX_NORM is chosen so that a good part of the steps clip (the
            script asserts it)
  batches   a data set of N rows, BATCH rows a step, reshuffled every epoch
            by np.random.permutation(N) after np.random.seed(PERM_SEED):
            what tg_batches gives with a tg_rng seeded the same way

The initial weights and the data are drawn with NumPy (default_rng(SEED)),
not left to PyTorch's initialiser, so they are nothing special. Members of
parity_ref.npz (np.savez, stored, float64 unless said):

  fc1.weight (32, 6), fc1.bias (32,), fc2.* (32, 32), (32,), fc3.* (3, 32),
      (3,)          the initial parameters, under tapegrad's names, so
                    tg_params_load_npz reads them into a tg_mlp
  final.fc1.weight, ...  the parameters after the last step
  x (N, 6), y (N,) int64, z (N, 3)   the data set
  idx (STEPS, BATCH) int64   the rows of each step's batch
  loss (STEPS,)       the loss of each step (before its update)
  total_norm (STEPS,) clip_grad_norm_'s return value at each step
  clipped (STEPS,) bool   whether that step's gradients were scaled
                    (max_norm / (total_norm + 1e-6) < 1, PyTorch's test)
  lr (STEPS, 2)       each group's lr during each step (weights, biases)
  the settings, 0-d: lr_w lr_b wd_w wd_b beta1 beta2 eps max_norm
      warmup_start warmup_iters t_max eta_min bce_weight batch perm_seed

Rerun from the repository root (NumPy and PyTorch installed):
    /usr/bin/python3 tests/data/make_parity_ref.py
np.savez stamps no dates, so a rerun leaves git clean as long as PyTorch's
CPU kernels give the same bits.
"""
import os
import warnings

import numpy as np
import torch
import torch.nn.functional as F
from torch.optim import lr_scheduler as S

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "parity_ref.npz")

SEED = 2026            # weights and data
PERM_SEED = 7          # the batch order (np.random.seed, as tg_rng_seed)
SIZES = [6, 32, 32, 3]
N, BATCH, STEPS = 400, 16, 100   # 25 batches an epoch, 4 epochs
LR_W, LR_B = 0.01, 0.02
WD_W, WD_B = 0.05, 0.0
BETA1, BETA2, EPS = 0.9, 0.999, 1e-8
WARMUP_START, WARMUP, T_MAX, ETA_MIN = 0.1, 10, 90, 1e-4
MAX_NORM = 0.75
BCE_WEIGHT = 0.5


def data(rng):
    """A learnable problem: labels from a random linear teacher plus noise,
    multi-label targets from another one."""
    x = rng.standard_normal((N, SIZES[0]))
    a = rng.standard_normal((SIZES[0], SIZES[-1]))
    y = np.argmax(x @ a + 0.5 * rng.standard_normal((N, SIZES[-1])), axis=1)
    b = rng.standard_normal((SIZES[0], SIZES[-1]))
    z = (x @ b + 0.5 * rng.standard_normal((N, SIZES[-1])) > 0).astype(np.float64)
    return x, y.astype(np.int64), z


def initial_weights(rng):
    """PyTorch's default bounds, uniform in +-1/sqrt(fan_in), biases too."""
    w = {}
    for k in range(len(SIZES) - 1):
        bound = 1.0 / np.sqrt(SIZES[k])
        w[f"fc{k + 1}.weight"] = rng.uniform(-bound, bound, (SIZES[k + 1], SIZES[k]))
        w[f"fc{k + 1}.bias"] = rng.uniform(-bound, bound, SIZES[k + 1])
    return w


def batch_rows():
    """Each step's rows: epoch e is the e-th np.random.permutation(N) after
    np.random.seed(PERM_SEED), batch k of it rows perm[k*BATCH:(k+1)*BATCH]."""
    np.random.seed(PERM_SEED)
    per_epoch = N // BATCH
    idx = []
    for _ in range((STEPS + per_epoch - 1) // per_epoch):
        perm = np.random.permutation(N)
        idx += [perm[k * BATCH:(k + 1) * BATCH] for k in range(per_epoch)]
    return np.array(idx[:STEPS], dtype=np.int64)


def main():
    torch.set_default_dtype(torch.float64)
    rng = np.random.default_rng(SEED)
    x, y, z = data(rng)
    w0 = initial_weights(rng)
    idx = batch_rows()

    layers = []
    for k in range(len(SIZES) - 1):
        layers.append(torch.nn.Linear(SIZES[k], SIZES[k + 1]))
        if k < len(SIZES) - 2:
            layers.append(torch.nn.ReLU())
    net = torch.nn.Sequential(*layers)
    linears = [m for m in net if isinstance(m, torch.nn.Linear)]
    with torch.no_grad():
        for k, lin in enumerate(linears):
            lin.weight.copy_(torch.from_numpy(w0[f"fc{k + 1}.weight"]))
            lin.bias.copy_(torch.from_numpy(w0[f"fc{k + 1}.bias"]))

    groups = [{"params": [m.weight for m in linears]},
              {"params": [m.bias for m in linears], "lr": LR_B, "weight_decay": WD_B}]
    opt = torch.optim.AdamW(groups, lr=LR_W, betas=(BETA1, BETA2), eps=EPS,
                            weight_decay=WD_W)
    warnings.simplefilter("ignore")  # SequentialLR's step(0) deprecation
    sched = S.SequentialLR(opt, [S.LinearLR(opt, start_factor=WARMUP_START,
                                            end_factor=1.0, total_iters=WARMUP),
                                 S.CosineAnnealingLR(opt, T_max=T_MAX, eta_min=ETA_MIN)],
                           milestones=[WARMUP])

    xt, yt, zt = torch.from_numpy(x), torch.from_numpy(y), torch.from_numpy(z)
    losses, norms, clipped, lrs = [], [], [], []
    for step in range(STEPS):
        rows = torch.from_numpy(idx[step])
        lrs.append([g["lr"] for g in opt.param_groups])
        opt.zero_grad()
        logits = net(xt[rows])
        loss = (F.cross_entropy(logits, yt[rows]) +
                BCE_WEIGHT * F.binary_cross_entropy_with_logits(logits, zt[rows]))
        loss.backward()
        total = torch.nn.utils.clip_grad_norm_(net.parameters(), MAX_NORM)
        opt.step()
        sched.step()
        losses.append(loss.item())
        norms.append(total.item())
        clipped.append(MAX_NORM / (total.item() + 1e-6) < 1.0)

    clipped = np.array(clipped)
    # The test must exercise clipping both ways, and the schedule both phases.
    assert 0.3 * STEPS <= clipped.sum() <= 0.8 * STEPS, clipped.sum()
    assert losses[-1] < 0.8 * losses[0], (losses[0], losses[-1])
    lrs = np.array(lrs)
    assert lrs[0, 0] == LR_W * WARMUP_START and lrs[WARMUP, 1] == LR_B

    out = dict(w0)
    for k, lin in enumerate(linears):
        out[f"final.fc{k + 1}.weight"] = lin.weight.detach().numpy().copy()
        out[f"final.fc{k + 1}.bias"] = lin.bias.detach().numpy().copy()
    out.update(x=x, y=y, z=z, idx=idx, loss=np.array(losses),
               total_norm=np.array(norms), clipped=clipped, lr=lrs)
    settings = dict(lr_w=LR_W, lr_b=LR_B, wd_w=WD_W, wd_b=WD_B, beta1=BETA1,
                    beta2=BETA2, eps=EPS, max_norm=MAX_NORM,
                    warmup_start=WARMUP_START, warmup_iters=WARMUP, t_max=T_MAX,
                    eta_min=ETA_MIN, bce_weight=BCE_WEIGHT, batch=BATCH,
                    perm_seed=PERM_SEED)
    out.update({k: np.array(v, dtype=np.int64 if isinstance(v, int) else np.float64)
                for k, v in settings.items()})
    np.savez(OUT, **out)
    print(f"loss {losses[0]:.6f} -> {losses[-1]:.6f}; "
          f"{clipped.sum()} of {STEPS} steps clipped; "
          f"total norm {min(norms):.4f} .. {max(norms):.4f}")


if __name__ == "__main__":
    main()
