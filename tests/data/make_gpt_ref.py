#!/usr/bin/python3
"""Writes gpt_ref.npz, the fixture of tests/test_gpt.c: 20 training steps
of a small character-level GPT in PyTorch, float64, that tapegrad's GPT
(models/gpt.h), loading the same weights and batches, must repeat to 1e-9.

  model     nanoGPT's GPT (pre-norm blocks of causal multi-head self-
            attention and a 4x GELU MLP, final LayerNorm, a bias-less
            lm_head not tied to wte), gpt_model.py's, with the parameter
            names of tapegrad's: wte.weight, wpe.weight, h.0.ln_1.weight, ...,
            ln_f.bias, lm_head.weight. VOCAB 27, CONTEXT 8, N_LAYER 2,
            N_HEAD 2, N_EMBD 16, no dropout.
  weights   GPT-2's initialisation drawn with NumPy's legacy generator
            after np.random.seed(INIT_SEED), parameter by parameter in
            state_dict order: randn(*shape) * 0.02 for the embeddings and
            Linear weights, * 0.02 / sqrt(2 N_LAYER) for the c_proj
            weights; what tg_gpt_new(cfg, rng seeded INIT_SEED) draws, bit
            for bit (the test checks it). That init has zero biases and unit
            norm weights, so for the training run the biases and the layer
            norms' weights and biases are then moved off 0 and 1 by draws of
            default_rng(SEED): every parameter is nonzero and asymmetric.
  data      BATCHES fixed batches of B sequences of T = CONTEXT tokens from
            a random first-order Markov chain over the vocabulary
            (default_rng(SEED)): x = seq[:, :T], y = seq[:, 1:].
  loss      F.cross_entropy(logits.view(-1, VOCAB), y.view(-1))
  optimiser AdamW(lr LR, betas (BETA1, BETA2), eps EPS) in two groups as
            nanoGPT's configure_optimizers: parameters of two or more axes
            (embeddings, Linear weights) with weight decay WD, the rest
            (biases, layer norm weights) without; tapegrad's
            TG_GPT_NO_DECAY patterns.
  schedule  SequentialLR([LinearLR(WARMUP_START, 1, WARMUP),
            CosineAnnealingLR(T_MAX, ETA_MIN)], [WARMUP]) stepped after
            every step (tg_lr_warmup_cosine)
  clipping  clip_grad_norm_(parameters, MAX_NORM = 1.0) between backward
            and step; the init is scaled so that some steps clip (asserted)

Members of gpt_ref.npz (np.savez, stored, float64 unless said):
  <name>          the initial parameters under tapegrad's names (for
                  tg_params_load_npz)
  grad.<name>     the gradient of step 1 (before clipping)
  x, y (BATCHES, B, T) int64   the batches
  loss (STEPS,)   each step's loss before its update
  total_norm (STEPS,), clipped (STEPS,) bool, step_lr (STEPS,) (every
                  group's lr during the step)
  logits0 (B, T, VOCAB)   the logits of batch 0 at the initial weights
  the settings, 0-d: vocab context n_layer n_head n_embd init_seed lr beta1
      beta2 eps wd max_norm warmup_start warmup_iters t_max eta_min

Rerun from the repository root (NumPy and PyTorch installed):
    /usr/bin/python3 tests/data/make_gpt_ref.py
np.savez stamps no dates, so a rerun leaves git clean as long as PyTorch's
CPU kernels give the same bits.
"""
import os
import warnings

import numpy as np
import torch
import torch.nn.functional as F
from torch.optim import lr_scheduler as S

from gpt_model import GPT, gpt2_init_arrays

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "gpt_ref.npz")

VOCAB, CONTEXT, N_LAYER, N_HEAD, N_EMBD = 27, 8, 2, 2, 16
INIT_SEED = 1337       # np.random.seed: the GPT-2 init, as tg_gpt_new's rng
SEED = 2026            # default_rng: the bias/norm offsets and the data
BATCHES, B = 20, 4
STEPS = 20
LR, BETA1, BETA2, EPS, WD = 1e-2, 0.9, 0.99, 1e-8, 0.01
WARMUP_START, WARMUP, T_MAX, ETA_MIN = 0.2, 5, 15, 1e-4
MAX_NORM = 1.0


def gpt2_init(model):
    """tg_gpt_init_weights: state_dict order, legacy randn times the std."""
    np.random.seed(INIT_SEED)
    return gpt2_init_arrays(model, N_LAYER)


def markov_data(rng):
    """Sequences of a random Markov chain: each token's successor drawn
    from a peaked distribution of its own."""
    logits = 3.0 * rng.standard_normal((VOCAB, VOCAB))
    trans = np.exp(logits)
    trans /= trans.sum(axis=1, keepdims=True)
    seq = np.empty((BATCHES, B, CONTEXT + 1), dtype=np.int64)
    seq[:, :, 0] = rng.integers(0, VOCAB, (BATCHES, B))
    for t in range(CONTEXT):
        u = rng.random((BATCHES, B, 1))
        cdf = np.cumsum(trans[seq[:, :, t]], axis=-1)
        seq[:, :, t + 1] = np.minimum((u > cdf).sum(axis=-1), VOCAB - 1)
    return seq[:, :, :-1].copy(), seq[:, :, 1:].copy()


def main():
    torch.set_default_dtype(torch.float64)
    model = GPT(VOCAB, CONTEXT, N_LAYER, N_HEAD, N_EMBD)
    w0 = gpt2_init(model)
    rng = np.random.default_rng(SEED)
    for name in w0:
        if name.endswith(".bias"):
            w0[name] = w0[name] + 0.02 * rng.standard_normal(w0[name].shape)
        elif "ln_" in name:
            w0[name] = w0[name] + 0.1 * rng.standard_normal(w0[name].shape)
    x, y = markov_data(rng)
    model.load_state_dict({k: torch.from_numpy(v) for k, v in w0.items()})

    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": WD},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=LR, betas=(BETA1, BETA2), eps=EPS)
    warnings.simplefilter("ignore")  # SequentialLR's step(0) deprecation
    sched = S.SequentialLR(opt, [S.LinearLR(opt, start_factor=WARMUP_START,
                                            end_factor=1.0, total_iters=WARMUP),
                                 S.CosineAnnealingLR(opt, T_max=T_MAX, eta_min=ETA_MIN)],
                           milestones=[WARMUP])

    with torch.no_grad():
        logits0 = model(torch.from_numpy(x[0])).numpy().copy()
    losses, norms, clipped, lrs, grads = [], [], [], [], {}
    for step in range(STEPS):
        xb, yb = torch.from_numpy(x[step % BATCHES]), torch.from_numpy(y[step % BATCHES])
        lrs.append(opt.param_groups[0]["lr"])
        opt.zero_grad()
        logits = model(xb)
        loss = F.cross_entropy(logits.view(-1, VOCAB), yb.view(-1))
        loss.backward()
        if step == 0:
            grads = {f"grad.{n}": p.grad.numpy().copy() for n, p in model.named_parameters()}
        total = torch.nn.utils.clip_grad_norm_(model.parameters(), MAX_NORM)
        opt.step()
        sched.step()
        losses.append(loss.item())
        norms.append(total.item())
        clipped.append(MAX_NORM / (total.item() + 1e-6) < 1.0)

    clipped = np.array(clipped)
    assert 0 < clipped.sum() < STEPS, (clipped.sum(), norms)
    assert losses[-1] < losses[0] - 0.1, (losses[0], losses[-1])

    out = dict(w0)
    out.update(grads)
    out.update(x=x, y=y, loss=np.array(losses), total_norm=np.array(norms),
               clipped=clipped, step_lr=np.array(lrs), logits0=logits0)
    settings = dict(vocab=VOCAB, context=CONTEXT, n_layer=N_LAYER, n_head=N_HEAD,
                    n_embd=N_EMBD, init_seed=INIT_SEED, lr=LR, beta1=BETA1, beta2=BETA2,
                    eps=EPS, wd=WD, max_norm=MAX_NORM, warmup_start=WARMUP_START,
                    warmup_iters=WARMUP, t_max=T_MAX, eta_min=ETA_MIN)
    out.update({k: np.array(v, dtype=np.int64 if isinstance(v, int) else np.float64)
                for k, v in settings.items()})
    np.savez(OUT, **out)
    print(f"loss {losses[0]:.6f} -> {losses[-1]:.6f}; "
          f"{clipped.sum()} of {STEPS} steps clipped; "
          f"total norm {min(norms):.4f} .. {max(norms):.4f}")


if __name__ == "__main__":
    main()
