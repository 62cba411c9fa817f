#!/usr/bin/python3
"""How PyTorch's test accuracy varies with the seed, for issue #12's accuracy
target (docs/cnn.md, "Accuracy and the seed"): examples/fashion_cnn.c's
recipe in plain PyTorch, one thread: conv(1->32,3x3,p1) relu maxpool2
conv(32->64,3x3,p1) relu maxpool2 flatten linear(3136->128) relu dropout(0.25)
linear(128->10); Adam lr 1e-3, batch 64, reshuffled each epoch, short last
batch kept, mean cross-entropy, pixels (v/255 - 0.2860)/0.3530 (fashion.c's
constants), test in eval mode. It prints the training set's pixel mean
and std (the constants' check), then a line per epoch.

    usage: /usr/bin/python3 tests/bench/cnn_seeds_torch.py SEED [EPOCHS]"""
import gzip, os, struct, sys, time
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

DATA = "/usr/share/datasets/fashion-mnist"
MEAN, STD = 0.2860, 0.3530


def read_idx(name):
    path = os.path.join(DATA, name)
    opener = open
    if os.path.exists(path + ".gz"):
        path, opener = path + ".gz", gzip.open
    with opener(path, "rb") as f:
        raw = f.read()
    zero, dtype, ndim = struct.unpack(">HBB", raw[:4])
    assert zero == 0 and dtype == 0x08
    dims = struct.unpack(">" + "I" * ndim, raw[4:4 + 4 * ndim])
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim).reshape(dims)


def images(name):
    x = read_idx(name).astype(np.float32)
    x = (x / np.float32(255) - np.float32(MEAN)) / np.float32(STD)
    return torch.from_numpy(x).unsqueeze(1).contiguous()


def main():
    seed = int(sys.argv[1])
    epochs = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    torch.set_num_threads(1)
    torch.manual_seed(seed)
    xtr, xte = images("train-images-idx3-ubyte"), images("t10k-images-idx3-ubyte")
    ytr = torch.from_numpy(read_idx("train-labels-idx1-ubyte").astype(np.int64))
    yte = torch.from_numpy(read_idx("t10k-labels-idx1-ubyte").astype(np.int64))
    raw = read_idx("train-images-idx3-ubyte").astype(np.float64) / 255
    print(f"train pixel mean {raw.mean():.4f} std {raw.std():.4f}", flush=True)
    net = nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(64 * 7 * 7, 128), nn.ReLU(), nn.Dropout(0.25),
        nn.Linear(128, 10))
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    n, bs = xtr.shape[0], 64
    for epoch in range(1, epochs + 1):
        t0 = time.time()
        net.train()
        perm = torch.randperm(n)
        total = 0.0
        for s in range(0, n, bs):  # 938 steps, the last of 32
            idx = perm[s:s + bs]
            loss = F.cross_entropy(net(xtr[idx]), ytr[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
        net.eval()
        hits = 0
        with torch.no_grad():
            for s in range(0, xte.shape[0], 250):
                hits += (net(xte[s:s + 250]).argmax(1) == yte[s:s + 250]).sum().item()
        print(f"seed {seed} epoch {epoch}/{epochs} loss={total / n:.4f} "
              f"test_acc={hits / xte.shape[0]:.4f} time={time.time() - t0:.1f}s", flush=True)


if __name__ == "__main__":
    main()
