#!/usr/bin/python3
"""Writes words_ref.txt: the losses of a small character-level GPT trained
in PyTorch (float32) on Debian's word list, the twin of examples/words_gpt.c.
The C program reads the same words, draws the same split, weights and
batches from the same NumPy stream and trains with the same optimiser and
schedule, so the two runs differ only by floating-point rounding; a C test
checks that its final validation loss is within 1% of final_val here.

  data      /usr/share/dict/american-english (Debian's wamerican), decoded
            as UTF-8 and split on "\\n"; kept: the lines that are all
            lowercase a-z (^[a-z]+$) and at most CONTEXT-1 = 15 letters
            long, in file order (longer a-z words are skipped and counted).
            Tokens: 0 ends a word, 'a'..'z' are 1..26. A word w of length
            L gives one row of CONTEXT tokens
                x = [0, w1, ..., wL, 0, 0, ...]          (0: start, padding)
                y = [w1, ..., wL, 0, -100, -100, ...]    (-100: ignored)
  stream    one NumPy legacy generator, np.random.seed(SEED), drawn in this
            order: permutation(n) of the kept words (the first n // 10 in
            that order are the validation set, the rest the training set);
            the initial weights; one permutation(n_train) per epoch.
  model     nanoGPT's GPT, gpt_model.py's as for make_gpt_ref.py (pre-norm blocks of causal
            multi-head self-attention and a 4x GELU MLP, final LayerNorm, a
            bias-less lm_head not tied to wte, no dropout): VOCAB 27,
            CONTEXT 16, N_LAYER 4, N_HEAD 4, N_EMBD 64.
  weights   tg_gpt_init_weights: in state_dict order, randn(*shape) * 0.02
            for the embeddings and Linear weights (* 0.02 / sqrt(2 N_LAYER)
            for the c_proj weights), drawn in float64 then rounded to
            float32; biases 0 and layer norm weights 1, drawing nothing.
  batches   BATCH words, shuffled each epoch; an epoch's last, short batch
            is used too. A step is one batch, counted across epochs.
  loss      F.cross_entropy(logits.view(-1, VOCAB), y.view(-1),
            ignore_index=-100): the mean over the letters and word ends.
  optimiser AdamW(lr LR, betas (BETA1, BETA2), eps EPS) in two groups:
            weight decay WD for parameters of two or more axes, none for
            the biases and layer norms (TG_GPT_NO_DECAY);
            clip_grad_norm_(MAX_NORM) between backward and step.
  schedule  SequentialLR([LinearLR(WARMUP_START, 1, WARMUP),
            CosineAnnealingLR(STEPS - WARMUP, ETA_MIN)], [WARMUP]), stepped
            after every step (tg_lr_warmup_cosine).
  output    every EVAL_EVERY steps and after the last: "step k train t val
            v", t the mean of the batch losses since the previous line, v
            the loss over the whole validation set weighted by tokens (the
            sum of the cross-entropies of every non-ignored position over
            their count, in eval mode without grad, EVAL_CHUNK words at a
            time); last, "final_val v". Lines starting '#' are comments.

Rerun from the repository root (NumPy and PyTorch installed; about a
minute on one thread):
    /usr/bin/python3 tests/data/make_words_ref.py
For a quick look, --steps N (N >= 10) shortens the run and --float64 runs
it in float64; either writes a file only when --out names one, so
words_ref.txt always holds the default run.
"""
import argparse
import os
import re
import time
import warnings

import numpy as np
import torch
import torch.nn.functional as F
from torch.optim import lr_scheduler as S

from gpt_model import GPT, gpt2_init_arrays

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "words_ref.txt")
WORDS = "/usr/share/dict/american-english"

VOCAB, CONTEXT, N_LAYER, N_HEAD, N_EMBD = 27, 16, 4, 4, 64
SEED = 1337
BATCH = 32
STEPS = 2000
LR, BETA1, BETA2, EPS, WD = 5e-4, 0.9, 0.99, 1e-8, 0.01
WARMUP_START, ETA_MIN = 0.01, 5e-5
MAX_NORM = 1.0
EVAL_EVERY, EVAL_CHUNK = 250, 512
IGNORE = -100


def warmup_steps(steps):
    return min(100, steps // 10)


# ---- the data --------------------------------------------------------------

def read_words(path):
    """The kept words in file order, and how many a-z words were too long."""
    with open(path, "rb") as f:
        lines = f.read().decode("utf-8").split("\n")
    az = [w for w in lines if re.fullmatch(r"[a-z]+", w)]
    kept = [w for w in az if len(w) <= CONTEXT - 1]
    return kept, len(az) - len(kept), len(lines)


def encode(words):
    """x and y (len(words), CONTEXT) int64 as described at the top."""
    x = np.zeros((len(words), CONTEXT), dtype=np.int64)
    y = np.full((len(words), CONTEXT), IGNORE, dtype=np.int64)
    for i, w in enumerate(words):
        letters = [ord(c) - ord("a") + 1 for c in w]
        x[i, 1:len(w) + 1] = letters
        y[i, :len(w)] = letters
        y[i, len(w)] = 0
    return x, y


# ---- the model: gpt_model.py's, at this size ------------------------------

def gpt2_init(model, dtype):
    """tg_gpt_init_weights, drawing from the global legacy stream (already
    past the data split): state_dict order, randn times the std in float64,
    then rounded to the model's dtype."""
    arrays = gpt2_init_arrays(model, N_LAYER)
    model.load_state_dict({k: torch.from_numpy(w).to(dtype) for k, w in arrays.items()})


# ---- training --------------------------------------------------------------

def val_loss(model, x, y):
    """Token-weighted cross-entropy over the whole set, EVAL_CHUNK rows at a
    time: the sum over all non-ignored positions over their count."""
    model.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for i in range(0, len(x), EVAL_CHUNK):
            xb = torch.from_numpy(x[i:i + EVAL_CHUNK])
            yb = torch.from_numpy(y[i:i + EVAL_CHUNK])
            logits = model(xb)
            total += F.cross_entropy(logits.view(-1, VOCAB), yb.view(-1),
                                     ignore_index=IGNORE, reduction="sum").item()
            count += int((yb != IGNORE).sum())
    model.train()
    return total / count


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=STEPS, help="training steps (>= 10)")
    ap.add_argument("--out", help=f"the file to write (default {OUT}, for the default run only)")
    ap.add_argument("--float64", action="store_true", help="the same run in float64")
    args = ap.parse_args()
    if args.steps < 10:
        ap.error("--steps must be at least 10 (the warm-up is steps // 10)")
    steps, warmup = args.steps, warmup_steps(args.steps)
    dtype = torch.float64 if args.float64 else torch.float32
    out = args.out or (OUT if steps == STEPS and not args.float64 else None)

    torch.set_num_threads(1)
    torch.manual_seed(0)        # for safety: every number below comes from NumPy
    np.random.seed(SEED)

    words, n_long, n_lines = read_words(WORDS)
    n = len(words)
    perm = np.random.permutation(n)                       # draw 1: the split
    n_val = n // 10
    x_all, y_all = encode(words)
    x_val, y_val = x_all[perm[:n_val]], y_all[perm[:n_val]]
    x_tr, y_tr = x_all[perm[n_val:]], y_all[perm[n_val:]]
    n_train = len(x_tr)

    model = GPT(VOCAB, CONTEXT, N_LAYER, N_HEAD, N_EMBD).to(dtype)
    gpt2_init(model, dtype)                               # draw 2: the weights
    n_params = sum(p.numel() for p in model.parameters())

    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": WD},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=LR, betas=(BETA1, BETA2), eps=EPS)
    # SequentialLR warns that it passes an epoch to the cosine's step (a
    # deprecated form); that is how it restarts the cosine at the milestone.
    warnings.filterwarnings("ignore", category=UserWarning, module=r"torch\.optim\.lr_scheduler")
    sched = S.SequentialLR(opt, [S.LinearLR(opt, start_factor=WARMUP_START, end_factor=1.0,
                                            total_iters=warmup),
                                 S.CosineAnnealingLR(opt, T_max=steps - warmup, eta_min=ETA_MIN)],
                           milestones=[warmup])

    print(f"{n_lines} lines in {WORDS}: {n} words kept, {n_long} a-z words longer "
          f"than {CONTEXT - 1} skipped; n_train {n_train}, n_val {n_val}; "
          f"{n_params} parameters, {str(dtype)[6:]}")
    results = []
    batch_losses = []
    order, pos = None, n_train                            # no epoch started yet
    t_start = time.perf_counter()
    t_train = 0.0
    for step in range(1, steps + 1):
        if pos >= n_train:                                # draw 3, 4, ...: each epoch
            order, pos = np.random.permutation(n_train), 0
        rows = order[pos:pos + BATCH]                     # the last one may be short
        pos += BATCH
        xb, yb = torch.from_numpy(x_tr[rows]), torch.from_numpy(y_tr[rows])

        t0 = time.perf_counter()
        opt.zero_grad()
        logits = model(xb)
        loss = F.cross_entropy(logits.view(-1, VOCAB), yb.view(-1), ignore_index=IGNORE)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), MAX_NORM)
        opt.step()
        sched.step()
        t_train += time.perf_counter() - t0
        batch_losses.append(loss.item())

        if step % EVAL_EVERY == 0 or step == steps:
            train = sum(batch_losses) / len(batch_losses)
            val = val_loss(model, x_val, y_val)
            batch_losses = []
            results.append((step, train, val))
            print(f"step {step} train {train:.6f} val {val:.6f}", flush=True)
    wall = time.perf_counter() - t_start
    print(f"final_val {results[-1][2]:.6f}")
    print(f"{wall:.1f} s wall time with the evaluations; {1000 * t_train / steps:.2f} ms "
          f"per training step without them")

    if out is None:
        print("no file written (--steps or --float64 without --out)")
        return
    settings = (f"VOCAB {VOCAB} CONTEXT {CONTEXT} N_LAYER {N_LAYER} N_HEAD {N_HEAD} "
                f"N_EMBD {N_EMBD} dtype {str(dtype)[6:]}\n"
                f"# SEED {SEED} BATCH {BATCH} STEPS {steps} WARMUP {warmup} "
                f"EVAL_EVERY {EVAL_EVERY} EVAL_CHUNK {EVAL_CHUNK}\n"
                f"# AdamW lr {LR:g} betas ({BETA1:g}, {BETA2:g}) eps {EPS:g} "
                f"weight_decay {WD:g} (none on biases and norms), clip {MAX_NORM:g}\n"
                f"# SequentialLR(LinearLR({WARMUP_START:g}, 1, {warmup}), "
                f"CosineAnnealingLR({steps - warmup}, {ETA_MIN:g}))")
    with open(out, "w") as f:
        f.write(f"# written by tests/data/make_words_ref.py (torch {torch.__version__}, "
                f"numpy {np.__version__}): the PyTorch twin of examples/words_gpt.c\n"
                f"# {settings}\n"
                f"# {WORDS}: {n} words kept, {n_long} skipped as longer than "
                f"{CONTEXT - 1}; n_train {n_train} n_val {n_val}; {n_params} parameters\n")
        for step, train, val in results:
            f.write(f"step {step} train {train:.6f} val {val:.6f}\n")
        f.write(f"final_val {results[-1][2]:.6f}\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
