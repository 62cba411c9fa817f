# The chapter's NumPy listing, run as written (shapes (100,1) and (1,1)), with
# the order of draws the examples use: seed, x, y's noise, then w and b.
# Prints the lines the five C examples print. Rerun with:
#   /usr/bin/python3 tests/data/chapter_reference.py > tests/data/chapter_reference.txt
import numpy as np

np.random.seed(100)
x = np.linspace(-1, 1, 100).reshape(100, 1)
y = 3 * np.power(x, 2) + 2 + 0.2 * np.random.rand(x.size).reshape(100, 1)
w1 = np.random.rand(1, 1)
b1 = np.random.rand(1, 1)
print("init w=%.17g b=%.17g" % (w1[0, 0], b1[0, 0]))
lr = 0.001
for i in range(800):
    y_pred = np.power(x, 2) * w1 + b1
    loss = 0.5 * (y_pred - y) ** 2
    loss = loss.sum()
    grad_w = np.sum((y_pred - y) * np.power(x, 2))
    grad_b = np.sum((y_pred - y))
    w1 -= lr * grad_w
    b1 -= lr * grad_b
print("w=%.17g b=%.17g loss=%.17g" % (w1[0, 0], b1[0, 0], loss))
