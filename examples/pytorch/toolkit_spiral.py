"""toolkit_spiral.py - a 2-100-3 MLP on CS231n's spiral (3 classes, 100
points each) with Adam, batches of 32 and a step schedule, in PyTorch: the
twin of examples/toolkit_spiral.c. The data, the initial weights and the
shuffles come from NumPy's generator, as tapegrad's do, so the printed
numbers are the same."""
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

N, K = 100, 3                                   # points per class, classes
np.random.seed(0)
X = np.zeros((N * K, 2))
y = np.zeros(N * K, dtype=np.int64)
for j in range(K):                              # CS231n's spiral
    r = np.linspace(0.0, 1, N)
    t = np.linspace(j * 4, (j + 1) * 4, N) + np.random.randn(N) * 0.2
    X[N * j:N * (j + 1)] = np.c_[r * np.sin(t), r * np.cos(t)]
    y[N * j:N * (j + 1)] = j
X, y = torch.from_numpy(X), torch.from_numpy(y)

net = nn.Sequential(nn.Linear(2, 100), nn.ReLU(), nn.Linear(100, 3)).double()
with torch.no_grad():                           # PyTorch's init, NumPy's draws
    for layer in (net[0], net[2]):
        k = 1 / np.sqrt(layer.in_features)
        for p in (layer.weight, layer.bias):
            p.copy_(torch.from_numpy(np.random.uniform(-k, k, tuple(p.shape))))
opt = torch.optim.Adam(net.parameters(), lr=0.01)
sched = torch.optim.lr_scheduler.StepLR(opt, step_size=40, gamma=0.5)

for epoch in range(100):
    perm = np.random.permutation(N * K)         # tapegrad's batch order
    total = 0.0
    for i in range(0, N * K, 32):
        idx = torch.from_numpy(perm[i:i + 32])
        loss = F.cross_entropy(net(X[idx]), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        total += loss.item() * len(idx)
    sched.step()
    if epoch % 20 == 0 or epoch == 99:
        print(f"epoch {epoch} loss {total / (N * K):.17g}")

with torch.no_grad():
    logits = net(X)
    loss = F.cross_entropy(logits, y).item()
    accuracy = (logits.argmax(1) == y).double().mean().item()
print(f"loss {loss:.17g} accuracy {accuracy:.4f}")
