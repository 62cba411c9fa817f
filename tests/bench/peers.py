"""peers.py - the NumPy and PyTorch sides of tapegrad's benchmarks.

Each subcommand times one workload the way the matching C program in
tests/bench/ does and prints the same RESULT line (see harness.h):

    RESULT workload=w1 impl=numpy sec=1.5e-05 samples=3 iters=20000 ...

sec is the median over the samples of (sample time / iters). Start-up,
imports and data loading are outside the timing. Run by run.py with
/usr/bin/python3 (Debian's numpy and torch); by hand, for example:

    OPENBLAS_NUM_THREADS=1 /usr/bin/python3 tests/bench/peers.py chapter-torch --n 100
"""
import argparse
import gzip
import os
import resource
import statistics
import sys
import time


def result(workload, impl, per_iter, iters, **extra):
    fields = " ".join("%s=%s" % (k, v) for k, v in extra.items())
    print("RESULT workload=%s impl=%s sec=%.6e samples=%d iters=%d%s%s" % (
        workload, impl, statistics.median(per_iter), len(per_iter), iters,
        " " if fields else "", fields), flush=True)


def timed(step, warmup, iters, samples):
    """Runs step() warmup times, then samples x iters times; returns the
    per-iteration time of each sample."""
    for _ in range(warmup):
        step()
    out = []
    for _ in range(samples):
        t0 = time.perf_counter()
        for _ in range(iters):
            step()
        out.append((time.perf_counter() - t0) / iters)
    return out


def torch_threads(n):
    import torch
    torch.set_num_threads(n)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass
    return torch


def chapter_data(n):
    """The chapter's data from NumPy's seed-100 stream, shapes (n, 1)."""
    import numpy as np
    np.random.seed(100)
    x = np.linspace(-1, 1, n).reshape(n, 1)
    y = 3 * np.power(x, 2) + 2 + 0.2 * np.random.rand(x.size).reshape(n, 1)
    w1 = np.random.rand(1, 1)
    b1 = np.random.rand(1, 1)
    return x, y, w1, b1


# ---- W1 / W2: the chapter's training step ----

def chapter_numpy(a):
    """The loop of tests/data/chapter_reference.py, unchanged."""
    import numpy as np
    x, y, w1, b1 = chapter_data(a.n)
    lr = a.lr
    state = {}

    def step():
        nonlocal w1, b1
        y_pred = np.power(x, 2) * w1 + b1
        loss = 0.5 * (y_pred - y) ** 2
        loss = loss.sum()
        grad_w = np.sum((y_pred - y) * np.power(x, 2))
        grad_b = np.sum((y_pred - y))
        w1 -= lr * grad_w
        b1 -= lr * grad_b
        state["loss"] = loss

    per = timed(step, a.warmup, a.iters, a.samples)
    result(a.workload, "numpy", per, a.iters, n=a.n,
           check="%.17g" % w1[0, 0], loss="%.17g" % state["loss"])


def chapter_torch(a):
    """The same ops as the tape (pow, mul, add, sub, pow, mul, sum, item,
    zero grads, backward, axpy update under no_grad), float64."""
    torch = torch_threads(1)
    x_np, y_np, w1, b1 = chapter_data(a.n)
    x = torch.from_numpy(x_np.reshape(-1).copy())
    y = torch.from_numpy(y_np.reshape(-1).copy())
    w = torch.tensor([w1[0, 0]], dtype=torch.float64, requires_grad=True)
    b = torch.tensor([b1[0, 0]], dtype=torch.float64, requires_grad=True)
    w.grad = torch.zeros_like(w)
    b.grad = torch.zeros_like(b)
    lr = a.lr
    state = {}

    def step():
        pred = x.pow(2) * w + b
        err = pred - y
        total = (err.pow(2) * 0.5).sum()
        state["loss"] = total.item()
        w.grad.zero_()
        b.grad.zero_()
        total.backward()
        with torch.no_grad():
            w.add_(w.grad, alpha=-lr)
            b.add_(b.grad, alpha=-lr)

    per = timed(step, a.warmup, a.iters, a.samples)
    result(a.workload, "torch", per, a.iters, n=a.n,
           check="%.17g" % w.item(), loss="%.17g" % state["loss"],
           threads=torch.get_num_threads())


# ---- W5: one op, forward and backward ----

def op_torch(a):
    torch = torch_threads(1)
    x = torch.full((1,), 2.0, dtype=torch.float64, requires_grad=True)
    y = torch.full((1,), 3.0, dtype=torch.float64, requires_grad=True)
    x.grad = torch.zeros_like(x)
    y.grad = torch.zeros_like(y)

    if a.op == "add":
        def step():
            x.grad.zero_()
            y.grad.zero_()
            (x + y).backward()
    else:
        def step():
            x.grad.zero_()
            y.grad.zero_()
            (x * y).backward()

    per = timed(step, a.warmup, a.iters, a.samples)
    result("w5_" + a.op, "torch", per, a.iters, check="%.17g" % x.grad.item())


# ---- W4: square matmul ----

def matmul_peer(a, impl):
    import numpy as np
    torch = torch_threads(1) if impl == "torch" else None
    dt = np.float32 if a.dtype == "float32" else np.float64
    for n in [int(s) for s in a.sizes.split(",")]:
        np.random.seed(0)
        x = np.random.rand(n, n).astype(dt)
        y = np.random.rand(n, n).astype(dt)
        if torch is not None:
            x, y = torch.from_numpy(x), torch.from_numpy(y)
            mm = torch.matmul
        else:
            mm = np.matmul
        t0 = time.perf_counter()
        c = mm(x, y)
        one = time.perf_counter() - t0
        iters = int(a.min_time / one) + 1 if one > 0 else 1000
        per = []
        for _ in range(a.samples):
            t0 = time.perf_counter()
            for _ in range(iters):
                c = mm(x, y)
            per.append((time.perf_counter() - t0) / iters)
        med = statistics.median(per)
        result("w4_%s_%d" % ("f32" if dt == np.float32 else "f64", n), impl,
               per, iters, n=n, gflops="%.3f" % (2.0 * n ** 3 / med * 1e-9),
               check="%.10g" % float(c.sum()))


# ---- W3: Fashion-MNIST MLP epochs ----

def load_idx(path):
    import numpy as np
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        raw = f.read()
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def find_idx(d, name):
    for p in (os.path.join(d, name + ".gz"), os.path.join(d, name)):
        if os.path.exists(p):
            return p
    return None


def mlp_torch(a):
    import numpy as np
    torch = torch_threads(a.threads)
    base_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    paths = [find_idx(a.data, "%s-%s-idx%d-ubyte" % (s, k, 3 if k == "images" else 1))
             for s in ("train", "t10k") for k in ("images", "labels")]
    if None in paths:
        print("peers.py: Fashion-MNIST not found in %s "
              "(apt-get install dataset-fashion-mnist)" % a.data, file=sys.stderr)
        sys.exit(3)

    # Pixels stay bytes and each batch is scaled as it is taken, as in
    # bench_mlp.c, so both sides hold the same data in memory.
    def split(images, labels):
        x = load_idx(images).reshape(-1, 784)
        y = load_idx(labels).astype(np.int64)
        return torch.from_numpy(x), torch.from_numpy(y)

    xtr, ytr = split(paths[0], paths[1])
    xte, yte = split(paths[2], paths[3])
    torch.manual_seed(a.seed)
    net = torch.nn.Sequential(
        torch.nn.Linear(784, 256), torch.nn.ReLU(),
        torch.nn.Linear(256, 128), torch.nn.ReLU(),
        torch.nn.Linear(128, 10))
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    loss_fn = torch.nn.CrossEntropyLoss()
    n = xtr.shape[0]
    epoch_sec = []
    mean_loss = 0.0
    for _ in range(a.epochs):
        perm = torch.randperm(n)
        t0 = time.perf_counter()
        total = 0.0
        for start in range(0, n, 64):
            idx = perm[start:start + 64]
            xb, yb = (xtr[idx].float() / 255.0 - 0.2860) / 0.3530, ytr[idx]
            loss = loss_fn(net(xb), yb)
            total += loss.item() * len(idx)
            opt.zero_grad()
            loss.backward()
            opt.step()
        epoch_sec.append(time.perf_counter() - t0)
        mean_loss = total / n
    hits = 0
    with torch.no_grad():
        for start in range(0, xte.shape[0], 1000):
            logits = net((xte[start:start + 1000].float() / 255.0 - 0.2860) / 0.3530)
            hits += int((logits.argmax(1) == yte[start:start + 1000]).sum())
    result("w3", "torch", epoch_sec, 1, acc="%.4f" % (hits / xte.shape[0]),
           loss="%.4f" % mean_loss,
           maxrss_kb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
           base_kb=base_kb, threads=torch.get_num_threads())


# ---- W6: Fashion-MNIST CNN steps, and conv2d forward + backward ----

def cnn_torch(a):
    """The CNN of bench_cnn.c in PyTorch, timed the same way: --warmup
    steps, then --samples samples of the next --limit images (whole batches
    of 64, the shuffled epoch continuing across samples), each scaled to an
    epoch of 60,000 images; cpu= is the same for the process's processor
    time (all threads)."""
    import numpy as np
    torch = torch_threads(a.threads)
    base_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    paths = [find_idx(a.data, "train-%s-idx%d-ubyte" % (k, 3 if k == "images" else 1))
             for k in ("images", "labels")]
    if None in paths:
        print("peers.py: Fashion-MNIST not found in %s "
              "(apt-get install dataset-fashion-mnist)" % a.data, file=sys.stderr)
        sys.exit(3)
    xtr = torch.from_numpy(load_idx(paths[0]).reshape(-1, 1, 28, 28))  # bytes
    ytr = torch.from_numpy(load_idx(paths[1]).astype(np.int64))
    torch.manual_seed(a.seed)
    nn = torch.nn
    net = nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(3136, 128), nn.ReLU(), nn.Dropout(0.25),
        nn.Linear(128, 10))
    net.train()
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    n = xtr.shape[0]
    state = {"perm": None, "pos": n}

    def step():
        """One training step on the next batch; returns (images, loss)."""
        if state["pos"] >= n:
            state["perm"], state["pos"] = torch.randperm(n), 0
        idx = state["perm"][state["pos"]:state["pos"] + 64]
        state["pos"] += len(idx)
        xb, yb = (xtr[idx].float() / 255.0 - 0.2860) / 0.3530, ytr[idx]
        loss = loss_fn(net(xb), yb)
        value = loss.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
        return len(idx), value

    for _ in range(a.warmup):
        step()
    per, cpu, total, images = [], [], 0.0, 0
    for _ in range(a.samples):
        done = 0
        t0, c0 = time.perf_counter(), time.process_time()
        while done < a.limit:
            b, value = step()
            done += b
            total += value * b
        per.append((time.perf_counter() - t0) * 60000 / done)
        cpu.append((time.process_time() - c0) * 60000 / done)
        images += done
    result("w6", "torch", per, (images + a.samples - 1) // a.samples,
           cpu="%.4g" % statistics.median(cpu), loss="%.4f" % (total / images),
           maxrss_kb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
           base_kb=base_kb, threads=torch.get_num_threads())


def conv_pattern(n, scale):
    """The fixed inputs bench_conv.c builds: element i of a tensor of n is
    scale * (((i * 7919) % 2003) / 2003 - 0.5), exact in float32."""
    import numpy as np
    i = np.arange(n, dtype=np.int64)
    v = ((i * 7919) % 2003).astype(np.float64) / 2003.0 - 0.5
    return (v * scale).astype(np.float32)


def conv_torch(a):
    """conv2d forward + backward (input, weight and bias gradients) on a
    fixed seed gradient, padding 1, for each of --shapes, as bench_conv.c:
    one warm-up call, one call that sets the calls per sample (--min-time
    seconds), then --samples samples."""
    torch = torch_threads(1)
    import torch.nn.functional as F
    mk = lambda shape, scale: torch.from_numpy(
        conv_pattern(int(torch.Size(shape).numel()), scale).reshape(shape))
    for spec in a.shapes.split(","):
        cin, cout, hw, stride = (int(v) for v in spec.replace("s", "x").split("x"))
        oh = (hw + 2 - 3) // stride + 1
        x = mk((a.batch, cin, hw, hw), 1.0).requires_grad_()
        w = mk((cout, cin, 3, 3), 0.2).requires_grad_()
        b = mk((cout,), 0.1).requires_grad_()
        seed = mk((a.batch, cout, oh, oh), 1.0)

        def step():
            x.grad = w.grad = b.grad = None
            F.conv2d(x, w, b, stride=stride, padding=1).backward(seed)

        step()
        t0 = time.perf_counter()
        step()
        one = time.perf_counter() - t0
        iters = int(a.min_time / one) + 1 if one > 0 else 1000
        per = timed(step, 0, iters, a.samples)
        flop = 3 * 2.0 * a.batch * cout * oh * oh * cin * 9
        result("w6b_f32_%dx%d_%d_s%d" % (cin, cout, hw, stride), "torch", per, iters,
               gflops="%.2f" % (flop / statistics.median(per) * 1e-9),
               check="%.9g" % float(w.grad.double().sum()))


# ---- W7: the small GPT's training step ----

def gpt_torch(a):
    """bench_gpt.c's GPT in PyTorch (nanoGPT's model as
    tests/data/gpt_model.py defines it: pre-norm blocks, causal
    self-attention with masked_fill(-inf) and softmax, a 4x GELU (erf) MLP,
    final LayerNorm, a bias-less lm_head not tied to wte), float32, timed
    the same way: --warmup steps, then --samples samples of --iters steps.
    The same weights (GPT-2's init, NumPy's legacy randn after
    np.random.seed(--seed), parameter by parameter in state_dict order) and
    the same batches (floor(27 * random_sample()) of RandomState(--data-seed),
    (batches, 32, 17) sequences) as bench_gpt.c. A step: copy the batch in,
    forward, cross-entropy, item, zero_grad(set_to_none=True), backward,
    clip_grad_norm_(1.0), AdamW step (weight decay 0.01 on the weights and
    embeddings, 0 on biases and layer norms, nanoGPT's two groups)."""
    import numpy as np
    torch = torch_threads(1)
    F = torch.nn.functional
    vocab, ctx, n_layer, n_head, n_embd, batch = 27, 16, 4, 4, 64, 32

    # The model of tests/data/gpt_model.py, shared with the parity scripts.
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data"))
    from gpt_model import GPT, gpt2_init_arrays

    model = GPT(vocab, ctx, n_layer, n_head, n_embd)
    np.random.seed(a.seed)  # tg_gpt_init_weights's stream
    init = {name: torch.from_numpy(w.astype(np.float32))
            for name, w in gpt2_init_arrays(model, n_layer).items()}
    model.load_state_dict(init)
    model.train()
    u = np.random.RandomState(a.data_seed).random_sample((a.batches, batch, ctx + 1))
    seq = torch.from_numpy(np.floor(u * vocab).astype(np.int64))
    xs, ys = seq[:, :, :ctx].contiguous(), seq[:, :, 1:].contiguous()
    x = torch.empty(batch, ctx, dtype=torch.int64)
    y = torch.empty(batch, ctx, dtype=torch.int64)
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=5e-4, betas=(0.9, 0.99), eps=1e-8)
    params = list(model.parameters())
    state = {"k": 0, "loss0": None, "loss": None}

    def step():
        k = state["k"] % a.batches
        state["k"] += 1
        x.copy_(xs[k])
        y.copy_(ys[k])
        logits = model(x)
        loss = F.cross_entropy(logits.view(-1, vocab), y.view(-1))
        value = loss.item()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        if state["loss0"] is None:
            state["loss0"] = value
        state["loss"] = value

    for _ in range(a.warmup):
        step()
    per, cpu = [], []
    for _ in range(a.samples):
        t0, c0 = time.perf_counter(), time.process_time()
        for _ in range(a.iters):
            step()
        per.append((time.perf_counter() - t0) / a.iters)
        cpu.append((time.process_time() - c0) / a.iters)
    result("w7", "torch", per, a.iters,
           tokens_per_sec="%.0f" % (batch * ctx / statistics.median(per)),
           cpu="%.4g" % statistics.median(cpu), loss0="%.7f" % state["loss0"],
           loss="%.7f" % state["loss"], steps=state["k"],
           maxrss_kb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
           threads=torch.get_num_threads())


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    for name in ("chapter-numpy", "chapter-torch"):
        s = sub.add_parser(name)
        s.add_argument("--workload", default="w1")
        s.add_argument("--n", type=int, default=100)
        s.add_argument("--lr", type=float, default=0.001)
        s.add_argument("--warmup", type=int, default=1000)
        s.add_argument("--iters", type=int, default=20000)
        s.add_argument("--samples", type=int, default=3)
    s = sub.add_parser("op-torch")
    s.add_argument("--op", choices=("add", "mul"), default="add")
    s.add_argument("--warmup", type=int, default=10000)
    s.add_argument("--iters", type=int, default=200000)
    s.add_argument("--samples", type=int, default=3)
    for name in ("matmul-numpy", "matmul-torch"):
        s = sub.add_parser(name)
        s.add_argument("--dtype", choices=("float32", "float64"), default="float32")
        s.add_argument("--sizes", default="64,128,256,512,1024")
        s.add_argument("--min-time", type=float, default=0.1)
        s.add_argument("--samples", type=int, default=3)
    s = sub.add_parser("mlp-torch")
    s.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    s.add_argument("--epochs", type=int, default=1)
    s.add_argument("--threads", type=int, default=1)
    s.add_argument("--seed", type=int, default=0)
    s = sub.add_parser("cnn-torch")
    s.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    s.add_argument("--threads", type=int, default=1)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--warmup", type=int, default=3)
    s.add_argument("--limit", type=int, default=6000)
    s.add_argument("--samples", type=int, default=3)
    s = sub.add_parser("conv-torch")
    s.add_argument("--shapes", default="1x32x28s1,32x64x14s1,64x64x7s2",
                   help="CxOxHsS,...: in and out channels, image side, stride")
    s.add_argument("--batch", type=int, default=64)
    s.add_argument("--min-time", type=float, default=0.2)
    s.add_argument("--samples", type=int, default=3)
    s = sub.add_parser("gpt-torch")
    s.add_argument("--seed", type=int, default=1337)
    s.add_argument("--data-seed", type=int, default=2026)
    s.add_argument("--batches", type=int, default=8)
    s.add_argument("--warmup", type=int, default=5)
    s.add_argument("--iters", type=int, default=20)
    s.add_argument("--samples", type=int, default=5)
    a = p.parse_args()
    {"chapter-numpy": chapter_numpy,
     "chapter-torch": chapter_torch,
     "op-torch": op_torch,
     "matmul-numpy": lambda a: matmul_peer(a, "numpy"),
     "matmul-torch": lambda a: matmul_peer(a, "torch"),
     "mlp-torch": mlp_torch,
     "cnn-torch": cnn_torch,
     "conv-torch": conv_torch,
     "gpt-torch": gpt_torch}[a.cmd](a)


if __name__ == "__main__":
    main()
