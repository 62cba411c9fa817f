"""toolkit_chapter.py - the chapter's fit of y = w*x^2 + b in PyTorch, the
twin of examples/toolkit_chapter.c: NumPy's data and start, autograd and
SGD, the chapter's numbers."""
import numpy as np
import torch

np.random.seed(100)
x = np.linspace(-1, 1, 100)
y = 3 * np.power(x, 2) + 2 + 0.2 * np.random.rand(x.size)
x, y = torch.from_numpy(x), torch.from_numpy(y)
w = torch.tensor([np.random.rand()], dtype=torch.float64, requires_grad=True)
b = torch.tensor([np.random.rand()], dtype=torch.float64, requires_grad=True)
print(f"init w={w.item():.17g} b={b.item():.17g}")
opt = torch.optim.SGD([w, b], lr=0.001)

for step in range(800):
    loss = 0.5 * ((w * x**2 + b - y) ** 2).sum()
    opt.zero_grad()
    loss.backward()
    opt.step()

print(f"w={w.item():.17g} b={b.item():.17g} loss={loss.item():.17g}")
