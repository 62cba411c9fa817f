"""gpt_model.py - the PyTorch twin of models/gpt.h's GPT, in one place for
the three scripts that run it: make_gpt_ref.py (the float64 fixture of
tests/test_gpt.c), make_words_ref.py (examples/words_gpt.c's float32
training) and tests/bench/peers.py (workload W7).

  GPT(vocab, context, n_layer, n_head, n_embd)
            nanoGPT's model: token and position embeddings, n_layer
            pre-norm blocks of causal multi-head self-attention (q k^T /
            sqrt(head size), masked_fill(-inf) where j > i, softmax, times
            v) and a 4x MLP with exact (erf) GELU, a final LayerNorm and a
            bias-less lm_head not tied to wte; biases everywhere else. The
            parameters are named as tapegrad's: wte.weight, wpe.weight,
            h.0.ln_1.weight, ..., ln_f.bias, lm_head.weight.
  gpt2_init_arrays(model, n_layer)
            GPT-2's initialisation as tg_gpt_init_weights draws it, from
            NumPy's legacy global stream (seed it, or not, first): for each
            parameter in state_dict order, biases 0, layer norm weights 1,
            the rest randn(*shape) * 0.02 (* 0.02 / sqrt(2 n_layer) for the
            c_proj weights). Returns the float64 arrays by name.
"""
import math

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


class CausalSelfAttention(nn.Module):
    def __init__(self, n_embd, n_head, context):
        super().__init__()
        self.n_embd, self.n_head = n_embd, n_head
        self.c_attn = nn.Linear(n_embd, 3 * n_embd)
        self.c_proj = nn.Linear(n_embd, n_embd)
        mask = torch.triu(torch.ones(context, context, dtype=torch.bool), diagonal=1)
        self.register_buffer("mask", mask, persistent=False)  # True where j > i

    def forward(self, x):
        b, t, c = x.size()
        hs = c // self.n_head
        q, k, v = self.c_attn(x).split(self.n_embd, dim=2)
        q = q.view(b, t, self.n_head, hs).transpose(1, 2)   # (b, heads, t, hs)
        k = k.view(b, t, self.n_head, hs).transpose(1, 2)
        v = v.view(b, t, self.n_head, hs).transpose(1, 2)
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(hs))
        att = att.masked_fill(self.mask[:t, :t], float("-inf"))
        att = F.softmax(att, dim=-1)
        y = (att @ v).transpose(1, 2).contiguous().view(b, t, c)
        return self.c_proj(y)


class MLP(nn.Module):
    def __init__(self, n_embd):
        super().__init__()
        self.c_fc = nn.Linear(n_embd, 4 * n_embd)
        self.gelu = nn.GELU()                              # exact (erf)
        self.c_proj = nn.Linear(4 * n_embd, n_embd)

    def forward(self, x):
        return self.c_proj(self.gelu(self.c_fc(x)))


class Block(nn.Module):
    def __init__(self, n_embd, n_head, context):
        super().__init__()
        self.ln_1 = nn.LayerNorm(n_embd)
        self.attn = CausalSelfAttention(n_embd, n_head, context)
        self.ln_2 = nn.LayerNorm(n_embd)
        self.mlp = MLP(n_embd)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    def __init__(self, vocab, context, n_layer, n_head, n_embd):
        super().__init__()
        self.wte = nn.Embedding(vocab, n_embd)
        self.wpe = nn.Embedding(context, n_embd)
        self.h = nn.ModuleList([Block(n_embd, n_head, context) for _ in range(n_layer)])
        self.ln_f = nn.LayerNorm(n_embd)
        self.lm_head = nn.Linear(n_embd, vocab, bias=False)
        self.register_buffer("pos", torch.arange(context), persistent=False)

    def forward(self, idx):
        x = self.wte(idx) + self.wpe(self.pos[:idx.size(1)])
        for block in self.h:
            x = block(x)
        return self.lm_head(self.ln_f(x))


def gpt2_init_arrays(model, n_layer):
    """tg_gpt_init_weights's draws, from the legacy global stream."""
    arrays = {}
    for name, p in model.state_dict().items():
        if name.endswith(".bias"):
            arrays[name] = np.zeros(p.shape)
        elif "ln_" in name:
            arrays[name] = np.ones(p.shape)
        else:
            std = 0.02 / math.sqrt(2 * n_layer) if name.endswith("c_proj.weight") else 0.02
            arrays[name] = np.random.randn(*p.shape) * std
    return arrays
