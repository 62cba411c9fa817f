#!/usr/bin/python3
"""Writes the .npz fixtures that tests/test_npz.c reads:

  npz_stored.npz      np.savez of arrays of every tapegrad dtype (stored members)
  npz_deflated.npz    np.savez_compressed of the same arrays (deflated members)
  npz_torch_mlp.npz   a tiny PyTorch MLP (4 -> 8 -> 3, ReLU, float32) trained for
                      a few Adam steps on fixed random data: its weights under
                      tapegrad's names (fc1.weight, fc1.bias, fc2.weight,
                      fc2.bias), fixed inputs x (5, 4) and the model's logits
                      on them (5, 3), which tapegrad must reproduce to 1e-6

The arrays' values are simple formulas that test_npz.c recomputes. Rerun
from the repository root (NumPy and PyTorch installed):
    /usr/bin/python3 tests/data/make_npz_ref.py
np.savez stamps no dates, so a rerun leaves git clean (the torch file too,
as long as PyTorch's CPU kernels give the same bits).
"""
import os

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


def arrays():
    return {
        "f4": (np.arange(12, dtype=np.float32).reshape(3, 4) - 5) / 8,
        "f8": np.linspace(-1, 1, 7),
        "i4": np.arange(-3, 3, dtype=np.int32).reshape(2, 3),
        "i8": np.array([2**40, -1, 0], dtype=np.int64),
        "u1": np.arange(250, 256, dtype=np.uint8),
        "b1": np.array([[True, False], [False, True]]),
        "scalar": np.array(3.5),
        "empty": np.zeros((0, 2), dtype=np.float32),
        # long enough that deflate really compresses it
        "big": np.tile(np.arange(100, dtype=np.float64), 3),
    }


def torch_mlp(path):
    import torch

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(),
                              torch.nn.Linear(8, 3))
    data = torch.randn(32, 4)
    labels = torch.randint(0, 3, (32,))
    opt = torch.optim.Adam(net.parameters(), lr=0.01)
    for _ in range(5):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(net(data), labels).backward()
        opt.step()
    x = torch.randn(5, 4)
    with torch.no_grad():
        logits = net(x)
    sd = net.state_dict()
    np.savez(path, **{
        "fc1.weight": sd["0.weight"].numpy(), "fc1.bias": sd["0.bias"].numpy(),
        "fc2.weight": sd["2.weight"].numpy(), "fc2.bias": sd["2.bias"].numpy(),
        "x": x.numpy(), "logits": logits.numpy()})


def main():
    a = arrays()
    np.savez(os.path.join(HERE, "npz_stored.npz"), **a)
    np.savez_compressed(os.path.join(HERE, "npz_deflated.npz"), **a)
    torch_mlp(os.path.join(HERE, "npz_torch_mlp.npz"))
    for n in ("npz_stored.npz", "npz_deflated.npz", "npz_torch_mlp.npz"):
        with np.load(os.path.join(HERE, n)) as z:
            print(n, {k: z[k].shape for k in z.files})


if __name__ == "__main__":
    main()
