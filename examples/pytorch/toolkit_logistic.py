"""toolkit_logistic.py - logistic regression with BCE and SGD in PyTorch,
the twin of examples/toolkit_logistic.c: the same data and start, the
same printed numbers."""
import numpy as np
import torch
import torch.nn.functional as F

np.random.seed(0)
X = np.random.randn(200, 2)          # two Gaussian blobs:
X[:100] -= 1.0                       # label 0 around (-1, -1)
X[100:] += 1.0                       # label 1 around (1, 1)
X = torch.from_numpy(X)
y = torch.cat([torch.zeros(100), torch.ones(100)]).double()
w = torch.zeros(2, dtype=torch.float64, requires_grad=True)
b = torch.zeros(1, dtype=torch.float64, requires_grad=True)
opt = torch.optim.SGD([w, b], lr=0.5)

for step in range(300):
    loss = F.binary_cross_entropy_with_logits(X @ w + b, y)
    opt.zero_grad()
    loss.backward()
    opt.step()
    if step % 50 == 0 or step == 299:
        print(f"step {step} loss {loss.item():.17g}")

with torch.no_grad():
    correct = ((X @ w + b > 0) == (y > 0.5)).sum().item()
print(f"w={w[0].item():.17g},{w[1].item():.17g} b={b.item():.17g}")
print(f"accuracy {correct / 200:.3f} ({correct} of 200)")
