"""run.py - the driver of `make bench`: runs tapegrad's benchmark programs
and their NumPy / PyTorch peers in the same run, interleaved, and prints
tables of medians and ratios (peer time / tapegrad time).

Every round runs each group of sides once, in forward order on even rounds
and reversed on odd ones, so slow drift and a busy neighbour hit all sides
alike. Each program times its own loop (start-up and data loading outside)
and prints `RESULT ... sec=...`, the median of its samples; a table entry is
the median of those over the rounds, with the range over rounds beside it.
Every side runs with OPENBLAS_NUM_THREADS, OMP_NUM_THREADS and
MKL_NUM_THREADS set to 1 (2 for the two-thread W3 and W6 rows); OPENBLAS_CORETYPE
and OPENBLAS_L2_SIZE are left as the machine set them and printed, except
in W6's extra rows that set OPENBLAS_CORETYPE=SKYLAKEX on processors with
AVX-512 (those rows say so; the rows with the machine's setting stay).

W8 is data-parallel training (models/dist.h): one epoch of the examples
fashion_mnist and fashion_cnn (BUILD/examples, `make examples`) run alone
and as 2 ranks under `mpirun -np 2 --bind-to none`, one thread each, their
epoch line's time= compared; and bench_dist under mpirun -np 2, gradient
averaging overlapped with the backward pass vs after it. The CNN's epochs
get W8_CNN_ROUNDS rounds unless --rounds is given; --w8-limit N trains the
examples on N images (a quick run). W8 is skipped, saying why, without
mpirun; its epoch rows without the data set.

    /usr/bin/python3 tests/bench/run.py --build build [--rounds 5]
        [--only w1,w2,w3,w4,w5,w6,w7,w8] [--data DIR] [--out FILE]
        [--w8-limit N]

Uses only the standard library; without numpy or torch in /usr/bin/python3
it says so and leaves those peers' rows out. docs/performance.md explains
each row.
"""
import argparse
import ctypes
import json
import os
import platform
import re
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PEERS = os.path.join(HERE, "peers.py")
PY = sys.executable or "/usr/bin/python3"
THREAD_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
               "TG_NUM_THREADS")
LEFT_ALONE = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
TIMEOUT = 900  # seconds for one program run
# W6 times part of an epoch and scales it to 60,000 images: each run trains
# W6_SAMPLES samples of W6_LIMIT images (whole batches of 64) after
# W6_WARMUP steps, so a PyTorch run lasts seconds, not half a minute.
W6_LIMIT, W6_SAMPLES, W6_WARMUP, W6_ROUNDS = 3200, 2, 3, 3
# The conv layers of W6's CNN at batch 64 (cin, cout, size, stride), 3x3
# kernels, padding 1 (the third is a strided variant of the second layer).
W6B_SHAPES = ((1, 32, 28, 1), (32, 64, 14, 1), (64, 64, 7, 2))
SKYLAKEX = {"OPENBLAS_CORETYPE": "SKYLAKEX"}
# W7 times GPT training steps (batch 32 x 16 tokens): each run does
# W7_WARMUP steps, then W7_SAMPLES samples of W7_ITERS steps, cycling
# through W7_BATCHES fixed batches.
W7_WARMUP, W7_ITERS, W7_SAMPLES, W7_BATCHES = 5, 20, 5, 8
# W8: an epoch of fashion_cnn takes 20-30 s a run, so its group gets
# W8_CNN_ROUNDS rounds unless --rounds is given; bench_dist runs
# W8_DDP_ROUNDS rounds of W8_DDP_STEPS steps of each mode after
# W8_DDP_WARMUP steps of each.
W8_CNN_ROUNDS = 2
W8_DDP_WARMUP, W8_DDP_STEPS, W8_DDP_ROUNDS = 3, 20, 7
W8_RANKS = 2
W8_EPOCH = re.compile(r"^epoch (\d+)/(\d+) loss=(\S+) test_acc=(\S+) time=([0-9.]+)s$")


def have_avx512():
    """True when /proc/cpuinfo lists avx512f (OpenBLAS's SkylakeX kernels
    run there)."""
    try:
        with open("/proc/cpuinfo") as f:
            return re.search(r"^flags\s*:.*\bavx512f\b", f.read(), re.M) is not None
    except OSError:
        return False

# ---- what runs ----


class Side:
    """One program run: which impl it reports, its argv, thread count and
    which Python module it needs (None for the C programs). With epoch set
    the program is an example, not a benchmark: its last `epoch E/N ...
    time=Ts` line is read as a RESULT of workload `epoch`, sec = T."""

    def __init__(self, impl, argv, threads=1, needs=None, env=None, epoch=None):
        self.impl, self.argv, self.threads, self.needs = impl, argv, threads, needs
        self.env = env or {}
        self.epoch = epoch


def mpirun(ranks, argv):
    """argv started as `ranks` ranks by Open MPI's mpirun, unbound (the
    ranks share the machine's cores as the kernel schedules them), with
    the thread variables passed on to every rank."""
    cmd = ["mpirun"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-run-as-root")
    cmd += ["--bind-to", "none", "-np", str(ranks)]
    for v in THREAD_VARS:
        cmd += ["-x", v]
    return cmd + argv


def have_fashion(d):
    """True when d holds Fashion-MNIST's four IDX files (gzipped or not)."""
    return all(os.path.exists(os.path.join(d, n)) or
               os.path.exists(os.path.join(d, n + ".gz"))
               for n in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                         "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"))


def groups(a, have, skips):
    """The groups of sides, keyed by name, that each round runs, and how
    many rounds each group gets (W3's two-thread group: at most 3, since
    PyTorch's epoch can take a minute or more there; W6: W6_ROUNDS; W8's
    CNN epochs: W8_CNN_ROUNDS unless --rounds was given). What cannot run
    is printed and added to skips as (group, side, why)."""
    b = os.path.join(a.build, "bench")
    c = lambda name, *args: [os.path.join(b, name)] + list(args)
    p = lambda cmd, *args: [PY, PEERS, cmd] + list(args)
    g = {}
    if "w1" in a.only:
        # Steps per sample differ so that every sample lasts a few tenths of
        # a second (about 0.2 s in C, 0.6-1.2 s in Python): a 12 ms sample
        # would catch the shared machine in one momentary state. The final
        # w agrees anyway: 20,000 steps already reach the fixed point.
        ch = ["--workload", "w1", "--n", "100", "--lr", "0.001",
              "--warmup", "1000", "--samples", "3"]
        g["w1"] = [Side("tapegrad", c("bench_chapter", "--impl", "tape", *ch,
                                      "--iters", "300000")),
                   Side("tapegrad_replay", c("bench_chapter", "--impl", "replay", *ch,
                                             "--iters", "600000")),
                   Side("tapegrad_fused_replay", c("bench_chapter", "--impl",
                                                   "fused_replay", *ch,
                                                   "--iters", "600000")),
                   Side("fused_c", c("bench_chapter", "--impl", "fused", *ch,
                                     "--iters", "2000000")),
                   Side("numpy", p("chapter-numpy", *ch, "--iters", "20000"),
                        needs="numpy"),
                   Side("torch", p("chapter-torch", *ch, "--iters", "20000"),
                        needs="torch")]
    if "w2" in a.only:
        ch = ["--workload", "w2", "--n", "1000000", "--lr", "1e-7",
              "--warmup", "2", "--iters", "10", "--samples", "3"]
        g["w2"] = [Side("tapegrad", c("bench_chapter", "--impl", "tape", *ch)),
                   Side("tapegrad_replay", c("bench_chapter", "--impl", "replay", *ch)),
                   Side("tapegrad_fused_replay", c("bench_chapter", "--impl",
                                                   "fused_replay", *ch)),
                   Side("tapegrad_t2", c("bench_chapter", "--impl", "tape", *ch),
                        threads=2),
                   Side("fused_c", c("bench_chapter", "--impl", "fused", *ch)),
                   Side("numpy", p("chapter-numpy", *ch), needs="numpy"),
                   Side("torch", p("chapter-torch", *ch), needs="torch")]
    limit = {}
    if "w3" in a.only:
        for t in (1, 2):
            mlp = ["--data", a.data, "--epochs", "1"]
            g["w3_t%d" % t] = [
                Side("tapegrad", c("bench_mlp", *mlp, "--threads-note", str(t)),
                     threads=t),
                Side("torch", p("mlp-torch", *mlp, "--threads", str(t)),
                     threads=t, needs="torch")]
        # libgomp's spinning workers stall torch's many small parallel
        # regions whenever the other core is busy; the passive wait policy
        # is the usual remedy, shown as its own row.
        g["w3_t2"].append(Side("torch_passive", p("mlp-torch", *mlp, "--threads", "2"),
                               threads=2, needs="torch",
                               env={"OMP_WAIT_POLICY": "PASSIVE"}))
        limit["w3_t2"] = 3
        # The full-batch step captured and replayed (plan.h), unfused and
        # fused, against the eager epoch of the same group.
        for r, name in ((1, "tapegrad_replay"), (2, "tapegrad_fused_replay")):
            g["w3_t1"].append(Side(name, c("bench_mlp", *mlp, "--threads-note", "1",
                                           "--replay", str(r)), threads=1))
    if "w4" in a.only:
        for dt in ("float32", "float64"):
            mm = ["--dtype", dt, "--sizes", "64,128,256,512,1024",
                  "--min-time", "0.1", "--samples", "3"]
            g["w4_" + dt] = [
                Side("tapegrad", c("bench_matmul", *mm)),
                Side("tapegrad_portable", c("bench_matmul", "--portable", *mm)),
                Side("numpy", p("matmul-numpy", *mm), needs="numpy"),
                Side("torch", p("matmul-torch", *mm), needs="torch")]
    if "w5" in a.only:
        for op in ("add", "mul"):
            g["w5_" + op] = [
                Side("tapegrad", c("bench_op", "--op", op, "--warmup", "10000",
                                   "--iters", "200000", "--samples", "3")),
                Side("torch", p("op-torch", "--op", op, "--warmup", "2000",
                                "--iters", "50000", "--samples", "3"),
                     needs="torch")]
    if "w6" in a.only:
        # One thread and two; PyTorch at two threads with the passive wait
        # policy as W3's fair row (its default policy is left out to keep
        # W6 short). With AVX-512, the one-thread sides again with
        # OpenBLAS's SkylakeX kernels: both sides, since PyTorch's linear
        # layers call the same OpenBLAS (its convolutions are oneDNN's).
        skx = have_avx512()
        for t in (1, 2):
            cnn = ["--data", a.data, "--limit", str(W6_LIMIT), "--samples",
                   str(W6_SAMPLES), "--warmup", str(W6_WARMUP)]
            pol = {"OMP_WAIT_POLICY": "PASSIVE"} if t == 2 else {}
            sides = [Side("tapegrad", c("bench_cnn", *cnn, "--threads-note", str(t)),
                          threads=t)]
            if t == 1:  # the full-batch step captured and replayed (plan.h)
                for r, name in ((1, "tapegrad_replay"), (2, "tapegrad_fused_replay")):
                    sides.append(Side(name, c("bench_cnn", *cnn, "--threads-note", "1",
                                              "--replay", str(r)), threads=1))
            if t == 2:  # tapegrad's pool alone, OpenBLAS on the calling thread
                sides.append(Side("tapegrad_pool",
                                  c("bench_cnn", *cnn, "--threads-note", str(t)),
                                  threads=t, env={"OPENBLAS_NUM_THREADS": "1"}))
            sides.append(Side("torch", p("cnn-torch", *cnn, "--threads", str(t)),
                              threads=t, needs="torch", env=pol))
            if skx and t == 1:
                sides += [Side("tapegrad_skx", c("bench_cnn", *cnn, "--threads-note",
                                                 str(t)), threads=t, env=SKYLAKEX),
                          Side("torch_skx", p("cnn-torch", *cnn, "--threads", str(t)),
                               threads=t, needs="torch", env=SKYLAKEX)]
            g["w6_t%d" % t] = sides
            limit["w6_t%d" % t] = W6_ROUNDS
        conv = ["--shapes", ",".join("%dx%dx%ds%d" % sh for sh in W6B_SHAPES),
                "--batch", "64", "--min-time", "0.2", "--samples", "3"]
        g["w6b"] = [Side("tapegrad", c("bench_conv", *conv)),
                    Side("torch", p("conv-torch", *conv), needs="torch")]
        if skx:
            g["w6b"].append(Side("tapegrad_skx", c("bench_conv", *conv), env=SKYLAKEX))
        limit["w6b"] = W6_ROUNDS
    if "w7" in a.only:
        gpt = ["--warmup", str(W7_WARMUP), "--iters", str(W7_ITERS),
               "--samples", str(W7_SAMPLES), "--batches", str(W7_BATCHES)]
        g["w7"] = [Side("tapegrad", c("bench_gpt", *gpt)),
                   Side("torch", p("gpt-torch", *gpt), needs="torch")]
    if "w8" in a.only:
        why = None
        if not shutil.which("mpirun"):
            why = "mpirun not found (apt-get install openmpi-bin libopenmpi-dev): W8 skipped"
            skips.append(("w8", "all", why))
            print("bench: " + why, file=sys.stderr)
        elif not have_fashion(a.data):
            why = ("Fashion-MNIST not found in %s (apt-get install "
                   "dataset-fashion-mnist): W8's epoch rows skipped" % a.data)
            skips.append(("w8", "epochs", why))
            print("bench: " + why, file=sys.stderr)
        if not why:
            for model in ("fashion_mnist", "fashion_cnn"):
                exe = os.path.join(a.build, "examples", model)
                name = "w8_" + ("mlp" if model == "fashion_mnist" else "cnn")
                if not os.access(exe, os.X_OK):
                    msg = "%s not built (make examples): its W8 rows skipped" % exe
                    skips.append((name, "all", msg))
                    print("bench: " + msg, file=sys.stderr)
                    continue
                sides = []
                for ranks in (1, W8_RANKS):
                    # Each run its own directory for the weights and the
                    # figure (rank 0 writes them; they are not looked at).
                    out = os.path.join(a.tmp, "%s_np%d" % (model, ranks))
                    args = [exe, "--data", a.data, "--epochs", "1", "--quiet",
                            "--save", out, "--plot", os.path.join(out, "x.svg")]
                    if a.w8_limit:
                        args += ["--limit", str(a.w8_limit),
                                 "--test-limit", str(min(a.w8_limit, 10000))]
                    sides.append(Side("ranks%d" % ranks,
                                      args if ranks == 1 else mpirun(ranks, args),
                                      epoch=name))
                g[name] = sides
            if "w8_cnn" in g and not a.rounds_given:
                limit["w8_cnn"] = W8_CNN_ROUNDS
        if shutil.which("mpirun"):
            ddp = ["--warmup", str(W8_DDP_WARMUP), "--steps", str(W8_DDP_STEPS),
                   "--rounds", str(W8_DDP_ROUNDS)]
            g["w8_ddp"] = [Side("tapegrad", mpirun(W8_RANKS, c("bench_dist", *ddp)))]
    for name in g:
        g[name] = [s for s in g[name] if s.needs is None or have.get(s.needs)]
    return g, limit


def run_side(side):
    """Runs one side; returns (list of RESULT dicts, error text or None,
    exit status)."""
    env = dict(os.environ)
    for v in THREAD_VARS:
        env[v] = str(side.threads)
    env.update(side.env)
    # A session of its own, so that a run that times out is ended with
    # everything it started (mpirun's ranks too), not mpirun alone.
    try:
        proc = subprocess.Popen(side.argv, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True,
                                start_new_session=True)
    except OSError as e:
        return [], str(e), -1
    try:
        stdout, stderr = proc.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except OSError:
            pass
        proc.communicate()
        return [], "timed out after %d s" % TIMEOUT, -1
    cp = subprocess.CompletedProcess(side.argv, proc.returncode, stdout, stderr)
    found = []
    for line in cp.stdout.splitlines():
        if line.startswith("RESULT "):
            found.append(dict(kv.split("=", 1) for kv in line.split()[1:]))
        m = W8_EPOCH.match(line.strip()) if side.epoch else None
        if m and cp.returncode == 0:  # the last epoch's line
            found = [{"workload": side.epoch, "impl": side.impl, "sec": m.group(5),
                      "loss": m.group(3), "acc": m.group(4)}]
    err = None
    if cp.returncode != 0 or not found:
        tail = (cp.stderr.strip().splitlines() or ["no output"])[-1]
        err = "exit %d: %s" % (cp.returncode, tail)
    return found, err, cp.returncode


# ---- the machine ----


def sh(cmd):
    try:
        return subprocess.run(cmd, shell=True, capture_output=True, text=True,
                              timeout=60).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return ""


def module_version(mod):
    """The version of a module in this interpreter, or None without it."""
    out = sh("%s -c 'import %s; print(%s.__version__)' 2>/dev/null" % (
        shlex.quote(PY), mod, mod))
    return out.splitlines()[-1] if out else None


def openblas_core(coretype=None):
    """OpenBLAS's kernel name in this process, or with OPENBLAS_CORETYPE
    set to coretype in a fresh one (the variable is read at load time)."""
    if coretype:
        out = sh("OPENBLAS_CORETYPE=%s %s -c %s" % (
            shlex.quote(coretype), shlex.quote(PY), shlex.quote(
                "import ctypes; l = ctypes.CDLL('libopenblas.so.0'); "
                "l.openblas_get_corename.restype = ctypes.c_char_p; "
                "print(l.openblas_get_corename().decode())")))
        return out or "unknown"
    for name in ("libopenblas.so.0", "libopenblas.so"):
        try:
            lib = ctypes.CDLL(name)
            lib.openblas_get_corename.restype = ctypes.c_char_p
            return lib.openblas_get_corename().decode()
        except (OSError, AttributeError):
            continue
    return "unknown"


def machine(have):
    model = re.search(r"Model name:\s*(.*)", sh("LC_ALL=C lscpu"))
    mem = re.search(r"MemTotal:\s*(\d+)", open("/proc/meminfo").read())
    cc = os.environ.get("CC", "cc")
    info = [
        ("CPU", model.group(1) if model else platform.processor()),
        ("cores (nproc)", sh("nproc")),
        ("memory", "%.1f GiB" % (int(mem.group(1)) / 2 ** 20) if mem else "?"),
        ("OS", "Debian %s, kernel %s" % (sh("cat /etc/debian_version"),
                                        platform.release())),
        ("compiler", sh("%s --version | head -1" % shlex.quote(cc))),
        ("OpenBLAS", "%s (core %s)" % (
            sh("dpkg-query -W -f='${Version}' libopenblas0-pthread 2>/dev/null")
            or sh("dpkg-query -W -f='${Version}' libopenblas0 2>/dev/null") or "?",
            openblas_core())),
        ("libblas.so.3 (NumPy, PyTorch)",
         sh("readlink -f /usr/lib/x86_64-linux-gnu/libblas.so.3") or "?"),
        ("python", "%s %s" % (PY, platform.python_version())),
        ("numpy", have.get("numpy") or "not installed"),
        ("torch", have.get("torch") or "not installed"),
    ]
    for v in LEFT_ALONE:
        info.append((v, os.environ.get(v, "unset")))
    info.append(("MPI (W8)", sh("mpirun --version 2>/dev/null | head -1") or "no mpirun"))
    info.append(("AVX-512 (avx512f)", "yes: W6 also runs with OPENBLAS_CORETYPE="
                 "SKYLAKEX (core %s)" % openblas_core("SKYLAKEX")
                 if have_avx512() else "no"))
    info.append(("load average at start", " ".join(
        "%.2f" % x for x in os.getloadavg())))
    return info


# ---- tables ----


def time_unit(s):
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if s >= scale:
            return unit, scale
    return "ns", 1e-9


def num(v):
    return ("%.3g" % v) if v < 100 else ("%.0f" % v)


def fmt_time(s):
    unit, scale = time_unit(s)
    return "%s %s" % (num(s / scale), unit)


class Stats:
    """The RESULT dicts of one (workload, impl) over the rounds."""

    def __init__(self, runs):
        self.runs = runs
        secs = [float(r["sec"]) for r in runs]
        self.med = statistics.median(secs)
        self.lo, self.hi = min(secs), max(secs)

    def field(self, key, how=statistics.median):
        vals = [float(r[key]) for r in self.runs if key in r]
        return how(vals) if vals else None

    def cell(self):
        """'930 ns [901-955]': the median, then the range in its unit."""
        unit, scale = time_unit(self.med)
        return "%s %s [%s-%s]" % (num(self.med / scale), unit,
                                  num(self.lo / scale), num(self.hi / scale))


def status(value, target, at_least):
    """'met' or 'MISSED by ...' for value against a >= or <= target."""
    if value is None:
        return "n/a"
    if at_least:
        return "met" if value >= target else "MISSED (%.2fx short)" % (target / value)
    return "met" if value <= target else "MISSED (%.2fx over)" % (value / target)


def table(head, rows):
    out = ["| " + " | ".join(head) + " |",
           "|" + "|".join("---" for _ in head) + "|"]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(out)


def report_w6(S):
    """The W6 tables: CNN epochs (extrapolated), floor, memory, conv ops."""
    parts, rows, floor, mem = [], [], [], []
    cpu = lambda s: fmt_time(s.field("cpu")) if s and s.field("cpu") else "-"
    for t, tg_impl, pt_impl, label in (
            (1, "tapegrad", "torch", "1 thread"),
            (1, "tapegrad_replay", "torch", "1 thread, tapegrad replayed (plan.h)"),
            (1, "tapegrad_fused_replay", "torch", "1 thread, tapegrad replayed fused"),
            (1, "tapegrad_skx", "torch_skx", "1 thread, OPENBLAS_CORETYPE=SKYLAKEX"),
            (2, "tapegrad", "torch", "2 threads (PyTorch: OMP_WAIT_POLICY=PASSIVE)"),
            (2, "tapegrad_pool", "torch",
             "2 threads, tapegrad's pool with OpenBLAS at 1 (PyTorch: as above)")):
        w = "w6_t%d" % t
        tg, pt = S(w, tg_impl), S(w, pt_impl)
        if not tg and not pt:
            continue
        ratio = pt.med / tg.med if tg and pt else None
        first = t == 1 and tg_impl == "tapegrad"
        # On a busy machine the fastest run of each side is the least
        # disturbed one; their ratio can differ a lot from the medians'.
        rows.append([label, "%d" % len(pt.runs if pt else tg.runs),
                     tg.cell() if tg else "failed", pt.cell() if pt else "not run",
                     "%.2fx" % ratio if ratio else "-",
                     "%.2fx" % (pt.lo / tg.lo) if ratio else "-", cpu(tg), cpu(pt),
                     ">= 1.33x (tapegrad <= 0.75x)" if first else "(info)",
                     status(ratio, 1 / 0.75, True) if first else ""])
        if t == 1 and tg:
            gf, fl = tg.field("gemm_gflops"), tg.field("epoch_gflop")
            if gf and fl:
                mult = tg.med / (fl / gf)
                cpu_mult = tg.field("cpu") / (fl / gf) if tg.field("cpu") else None
                floor.append([label, "%.1f" % gf, "%.0f" % fl, fmt_time(fl / gf),
                              fmt_time(tg.med), "%.2fx" % mult,
                              "%.2fx" % cpu_mult if cpu_mult else "-",
                              "<= 1.5x" if first else "(info)",
                              status(mult, 1.5, False) if first else ""])
        if first:
            tk = tg.field("maxrss_kb") if tg else None
            pk = pt.field("maxrss_kb") if pt else None
            base = pt.field("base_kb") if pt else None
            r = pk / tk if tk and pk else None
            mem.append(["W6 peak RSS, 1 thread", "%.0f MiB" % (tk / 1024) if tk else "-",
                        "%.0f MiB (%.0f MiB right after import torch)" % (
                            pk / 1024, base / 1024) if pk else "-",
                        "%.2fx" % r if r else "-", ">= 2x (tapegrad <= half)",
                        status(r, 2.0, True)])
    if rows:
        parts.append(
            "W6 Fashion-MNIST CNN (conv 1->32, pool, conv 32->64, pool, 3136-128-10, "
            "dropout 0.25), Adam, batch 64, float32: seconds per epoch, EXTRAPOLATED "
            "from part of an epoch (each run: %d warm-up steps, then %d samples of "
            "%d images, each sample's time x 60000 / its images); median over runs "
            "[min-max]; ratio = PyTorch / tapegrad, of the medians and of each "
            "side's fastest run; CPU = the process's processor time per epoch, "
            "scaled alike (all threads; median over runs)\n\n" % (
                W6_WARMUP, W6_SAMPLES, W6_LIMIT) + table(
                ["setting", "runs", "tapegrad epoch", "PyTorch epoch", "ratio",
                 "ratio of the fastest runs", "tapegrad CPU", "PyTorch CPU",
                 "target", "status (medians)"], rows))
    if floor:
        parts.append(
            "W6 floor: the epoch's floating-point operations in convolutions and "
            "linear layers (forward, weight and input gradients; conv1's input "
            "gradient is not computed) / the SGEMM rate the same process measured "
            "(float32 1024x1024 tg_matmul, the fastest of 7 calls; median over "
            "runs), one thread\n\n" + table(
                ["setting", "SGEMM GFLOP/s", "epoch GFLOP", "floor", "tapegrad epoch",
                 "tapegrad / floor", "tapegrad CPU / floor", "target", "status"], floor))
    if mem:
        parts.append(table(["memory", "tapegrad", "PyTorch", "ratio", "target",
                            "status"], mem))
    rows = []
    for cin, cout, hw, stride in W6B_SHAPES:
        w = "w6b_f32_%dx%d_%d_s%d" % (cin, cout, hw, stride)
        tg, pt, skx = S(w, "tapegrad"), S(w, "torch"), S(w, "tapegrad_skx")
        if not tg and not pt:
            continue
        gf = lambda s: "%.1f" % s.field("gflops") if s and s.field("gflops") else "-"
        rel = lambda s: "%.2fx" % (pt.med / s.med) if s and pt else "-"
        rows.append(["%d->%d @%dx%d%s" % (cin, cout, hw, hw,
                                           ", stride 2" if stride == 2 else ""),
                     tg.cell() if tg else "failed", pt.cell() if pt else "not run",
                     rel(tg), gf(tg), gf(pt),
                     skx.cell() if skx else "-", rel(skx), gf(skx)])
    if rows:
        parts.append(
            "W6 conv2d forward + backward (result, input, weight and bias "
            "gradients from a fixed seed gradient), batch 64, 3x3, padding 1, "
            "float32, one thread: time per call, median over runs [min-max]; "
            "ratio = PyTorch (torch.nn.functional.conv2d) / tapegrad; GFLOP/s "
            "counts 3 x 2 N O OH OW C 9\n\n" + table(
                ["conv", "tapegrad", "PyTorch", "ratio", "tapegrad GFLOP/s",
                 "PyTorch GFLOP/s", "tapegrad SKYLAKEX", "ratio (SKYLAKEX)",
                 "GFLOP/s (SKYLAKEX)"], rows))
    return parts


def report_w7(S):
    """The W7 table: GPT training steps, tapegrad / PyTorch, and whether the
    two sides' losses agree (same weights, same batches)."""
    tg, pt = S("w7", "tapegrad"), S("w7", "torch")
    if not tg and not pt:
        return []
    ratio = tg.med / pt.med if tg and pt else None
    tok = lambda s: "%.0f" % (32 * 16 / s.med) if s else "-"
    cpu = lambda s: fmt_time(s.field("cpu")) if s and s.field("cpu") else "-"
    row = ["%d" % len(tg.runs if tg else pt.runs), tg.cell() if tg else "failed",
           pt.cell() if pt else "not run", "%.2fx" % ratio if ratio else "-",
           "%.2fx" % (tg.lo / pt.lo) if ratio else "-", tok(tg), tok(pt),
           cpu(tg), cpu(pt), "tapegrad <= 0.5x", status(ratio, 0.5, False)]
    text = ("W7 small GPT (models/gpt.h defaults: vocab 27, context 16, 4 layers, "
            "4 heads, width 64), float32, batch 32 x 16 tokens, AdamW with two "
            "decay groups, clip_grad_norm 1.0, one thread: time per training step "
            "(each run: %d warm-up steps, then %d samples of %d steps); median over "
            "runs [min-max]; ratio = tapegrad / PyTorch (lower is better), of the "
            "medians and of each side's fastest run; tokens/s = 512 / step time; "
            "CPU = the process's processor time per step (median over runs)\n\n" % (
                W7_WARMUP, W7_SAMPLES, W7_ITERS) + table(
                ["runs", "tapegrad step", "PyTorch step", "ratio tapegrad/PyTorch",
                 "ratio of the fastest runs", "tapegrad tokens/s", "PyTorch tokens/s",
                 "tapegrad CPU", "PyTorch CPU", "target", "status"], [row]))
    if tg and pt:
        # Same weights and batches: the first step's loss agrees to float32
        # rounding; the last step's after the same number of steps shows
        # how far the two float32 trainings drifted apart.
        a0, b0 = tg.runs[-1].get("loss0"), pt.runs[-1].get("loss0")
        a1, b1 = tg.runs[-1].get("loss"), pt.runs[-1].get("loss")
        if a0 and b0 and a1 and b1:
            ok = abs(float(a0) - float(b0)) <= 1e-5 * abs(float(a0))
            text += ("\n\nW7 agreement: first-step loss tapegrad %s, PyTorch %s (%s); "
                     "after %s steps %s and %s" % (
                         a0, b0, "agree to 1e-5" if ok else "DIFFER",
                         tg.runs[-1].get("steps", "?"), a1, b1))
    return [text]


def report_w8(S):
    """The W8 tables: epochs alone and as 2 ranks, and bench_dist's overlap
    vs sync step times."""
    parts, rows = [], []
    acc = lambda s: "%.4f" % s.field("acc") if s and s.field("acc") is not None else "-"
    for w, label, target in (("w8_mlp", "fashion_mnist (MLP 784-256-128-10)", None),
                             ("w8_cnn", "fashion_cnn (CNN)", 1.7)):
        one, two = S(w, "ranks1"), S(w, "ranks%d" % W8_RANKS)
        if not one and not two:
            continue
        ratio = one.med / two.med if one and two else None
        rows.append([label, "%d" % max(len(one.runs) if one else 0,
                                       len(two.runs) if two else 0),
                     one.cell() if one else "failed", two.cell() if two else "failed",
                     "%.2fx" % ratio if ratio else "-",
                     "%.2fx" % (one.lo / two.lo) if ratio else "-", acc(one), acc(two),
                     ">= %gx" % target if target else "(info)",
                     status(ratio, target, True) if target else ""])
    if rows:
        parts.append(
            "W8 data-parallel training (models/dist.h): one epoch of the example "
            "(its `time=`, rank 0's training time, evaluation excluded) as one "
            "process and as %d ranks (mpirun -np %d --bind-to none), one thread each, "
            "global batch 64 (64 / ranks a rank), Adam; median over runs [min-max]; "
            "ratio = 1-rank time / %d-rank time (the throughput gain), of the "
            "medians and of each side's fastest run; test accuracy after the epoch "
            "(median over runs)\n\n" % (W8_RANKS, W8_RANKS, W8_RANKS) + table(
                ["model", "runs", "1 rank epoch", "%d ranks epoch" % W8_RANKS, "ratio",
                 "ratio of the fastest runs", "1 rank acc", "%d ranks acc" % W8_RANKS,
                 "target", "status (medians)"], rows))
    ov, sy = S("w8_overlap", "tapegrad"), S("w8_sync", "tapegrad")
    if ov or sy:
        ref = ov or sy
        ratio = sy.med / ov.med if ov and sy else None
        cpu = lambda s: fmt_time(s.field("cpu")) if s and s.field("cpu") else "-"
        agree = all(r.get("agree") == "1" for s in (ov, sy) if s for r in s.runs)
        parts.append(
            "W8 gradient averaging (bench_dist: the fashion_cnn model on random "
            "float32 data, Adam, global batch %s = %s a rank, %s ranks under "
            "mpirun, one thread each): time per training step with the buckets' "
            "all-reduces overlapped with the backward pass (tg_ddp_backward) and "
            "after it (tg_backward + tg_ddp_sync); each run alternates the modes "
            "in %d rounds of %d steps and reports each mode's median; median over "
            "runs [min-max]; ratio = sync / overlap (above 1: overlapping "
            "gains); CPU = processor time per step (median over runs)\n\n" % (
                ref.runs[-1].get("global_batch", "?"), ref.runs[-1].get("batch", "?"),
                ref.runs[-1].get("world", "?"), W8_DDP_ROUNDS, W8_DDP_STEPS) + table(
                ["runs", "overlap step", "sync step", "ratio sync/overlap",
                 "ratio of the fastest runs", "overlap CPU", "sync CPU", "buckets",
                 "ranks' parameters equal"],
                [["%d" % len(ref.runs), ov.cell() if ov else "failed",
                  sy.cell() if sy else "failed", "%.3fx" % ratio if ratio else "-",
                  "%.3fx" % (sy.lo / ov.lo) if ratio else "-", cpu(ov), cpu(sy),
                  "%s (%s KiB)" % (ref.runs[-1].get("buckets", "?"),
                                   ref.runs[-1].get("bucket_kb", "?")),
                  "yes" if agree else "NO"]]))
    return parts


def report(res, errors):
    S = lambda w, i: Stats(res[(w, i)]) if res.get((w, i)) else None
    parts = []
    names = {"numpy": "NumPy", "torch": "PyTorch autograd", "fused_c": "hand-fused C"}

    # W1, W2, W5: one row per peer.
    rows = []
    spec = [("w1", "W1 chapter step, 100 pts f64",
             {"numpy": 30, "torch": 40, "fused_c": 0.2}),
            ("w2", "W2 chapter step, 1e6 pts f64", {"torch": 1.2}),
            ("w5_add", "W5 add fwd+bwd, 1 elem f64", {"torch": 20}),
            ("w5_mul", "W5 mul fwd+bwd, 1 elem f64", {"torch": 20})]
    for w, label, targets in spec:
        tg = S(w, "tapegrad")
        for peer in ("numpy", "torch", "fused_c"):
            st = S(w, peer)
            if not st and not (tg and peer in targets and peer != "fused_c"):
                continue
            ratio = st.med / tg.med if st and tg else None
            tgt = targets.get(peer)
            if tgt is None:
                target, stat = "(info)", ""
            elif peer == "fused_c":
                # "within 5x of the floor": tapegrad / fused <= 5
                target = "tapegrad <= %gx fused" % (1 / tgt)
                stat = status(1 / ratio if ratio else None, 1 / tgt, False)
            else:
                target = ">= %gx" % tgt
                stat = status(ratio, tgt, True)
            shown = "%.2fx" % ratio if ratio else "-"
            if ratio and peer == "fused_c":
                shown += " (tapegrad %.1fx the floor)" % (1 / ratio)
            rows.append([label, tg.cell() if tg else "failed", names[peer],
                         st.cell() if st else "not run", shown, target, stat])
    # W1 and W2 replayed (plan.h), plain and fused, against the floor
    # (target: within 2x) and against the eager tape.
    for w, label, impl in (
            ("w1", "W1 chapter step, 100 pts f64, replay", "tapegrad_replay"),
            ("w1", "W1 chapter step, 100 pts f64, fused replay", "tapegrad_fused_replay"),
            ("w2", "W2 chapter step, 1e6 pts f64, replay", "tapegrad_replay"),
            ("w2", "W2 chapter step, 1e6 pts f64, fused replay", "tapegrad_fused_replay")):
        rp, fu, tg = S(w, impl), S(w, "fused_c"), S(w, "tapegrad")
        if not rp:
            continue
        if fu:
            # the 2x target is the fused replay's; the plain one is shown
            ratio = fu.med / rp.med
            fused = impl == "tapegrad_fused_replay"
            rows.append([label, rp.cell(), names["fused_c"], fu.cell(),
                         "%.2fx (replay %.1fx the floor)" % (ratio, 1 / ratio),
                         "replay <= 2x fused" if fused else "(info)",
                         status(1 / ratio, 2.0, False) if fused else ""])
        if tg:
            ratio = tg.med / rp.med
            rows.append([label, rp.cell(), "tapegrad, eager", tg.cell(),
                         "%.2fx" % ratio, "(info)", ""])
    # W2 on tapegrad's thread pool (TG_NUM_THREADS=2) against one thread.
    tg, t2 = S("w2", "tapegrad"), S("w2", "tapegrad_t2")
    if t2:
        ratio = tg.med / t2.med if tg else None
        rows.append(["W2 chapter step, 1e6 pts f64, 2 threads", t2.cell(),
                     "tapegrad, 1 thread", tg.cell() if tg else "failed",
                     "%.2fx" % ratio if ratio else "-", ">= 1.6x", status(ratio, 1.6, True)])
    if rows:
        parts.append("Time per iteration: median over rounds [min-max over "
                     "rounds]; ratio = peer time / tapegrad time\n\n" + table(
                         ["workload", "tapegrad", "peer", "peer time", "ratio",
                          "target", "status"], rows))

    # W3: epochs, accuracy, memory.
    rows, mem = [], []
    acc = lambda s: "%.4f" % s.field("acc") if s else "-"
    for t, peer, label in ((1, "torch", "1 thread"),
                           (2, "torch", "2 threads"),
                           (2, "torch_passive",
                            "2 threads, PyTorch with OMP_WAIT_POLICY=PASSIVE")):
        w = "w3_t%d" % t
        tg, pt = S(w, "tapegrad"), S(w, peer)
        if not tg and not pt:
            continue
        ratio = pt.med / tg.med if tg and pt else None
        rows.append([label, "%d" % len(pt.runs if pt else tg.runs),
                     tg.cell() if tg else "failed", pt.cell() if pt else "not run",
                     "%.2fx" % ratio if ratio else "-", acc(tg), acc(pt)])
        if t == 1:
            tk = tg.field("maxrss_kb") if tg else None
            pk = pt.field("maxrss_kb") if pt else None
            base = pt.field("base_kb") if pt else None
            r = pk / tk if tk and pk else None
            mem.append(["peak RSS, 1 thread", "%.0f MiB" % (tk / 1024) if tk else "-",
                        "%.0f MiB (%.0f MiB right after import torch)" % (
                            pk / 1024, base / 1024) if pk else "-",
                        "%.2fx" % r if r else "-", ">= 2x (tapegrad <= half)",
                        status(r, 2.0, True)])
    tg = S("w3_t1", "tapegrad")
    for impl, label in (("tapegrad_replay", "1 thread, tapegrad replayed"),
                        ("tapegrad_fused_replay", "1 thread, tapegrad replayed fused")):
        rp = S("w3_t1", impl)
        if rp:
            ratio = tg.med / rp.med if tg else None
            rows.append([label, "%d" % len(rp.runs), rp.cell(),
                         "(eager tapegrad %s)" % (tg.cell() if tg else "failed"),
                         "%.2fx eager" % ratio if ratio else "-", acc(rp), "-"])
    if rows:
        parts.append("W3 Fashion-MNIST MLP 784-256-128-10, Adam, batch 64, "
                     "float32: seconds per epoch (1 epoch per run; test accuracy "
                     "after that epoch)\n\n" + table(
                         ["threads", "runs", "tapegrad epoch", "PyTorch epoch", "ratio",
                          "tapegrad acc", "PyTorch acc"], rows))
    if mem:
        parts.append(table(["memory", "tapegrad", "PyTorch", "ratio", "target",
                            "status"], mem))

    parts += report_w6(S)
    parts += report_w7(S)
    parts += report_w8(S)

    # Allocations per step.
    rows = []
    for w, label in (("w1", "W1 tape, steps 2..N"), ("w3_t1", "W3 MLP, steps 2..N"),
                     ("w5_add", "W5 add, iterations 2..N"),
                     ("w5_mul", "W5 mul, iterations 2..N"),
                     ("w6_t1", "W6 CNN, steps 2..N"),
                     ("w6b_f32_1x32_28_s1", "W6 conv2d 1->32 @28x28, iterations 2..N"),
                     ("w6b_f32_32x64_14_s1", "W6 conv2d 32->64 @14x14, iterations 2..N"),
                     ("w6b_f32_64x64_7_s2", "W6 conv2d 64->64 @7x7 s2, iterations 2..N"),
                     ("w7", "W7 GPT, steps 2..N"),
                     ("w8_overlap", "W8 DDP overlap, timed steps (rank 0)"),
                     ("w8_sync", "W8 DDP sync, timed steps (rank 0)")):
        tg = S(w, "tapegrad")
        if tg:
            n = tg.field("allocs", max)
            rows.append([label, "%d" % n if n is not None else "-", "0",
                         status(n, 0, False) if n is not None else "n/a"])
    if rows:
        parts.append("Heap allocations through tapegrad's allocator after the "
                     "first step (the largest count of any round)\n\n" + table(
                         ["loop", "allocations", "target", "status"], rows))

    # W4: GFLOP/s.
    rows = []
    for dt in ("float32", "float64"):
        for n in (64, 128, 256, 512, 1024):
            w = "w4_%s_%d" % ("f32" if dt == "float32" else "f64", n)
            st = {i: S(w, i) for i in ("tapegrad", "tapegrad_portable", "numpy", "torch")}
            if not any(st.values()):
                continue
            gf = lambda s: 2.0 * n ** 3 / s.med * 1e-9 if s else None
            cell = lambda s: "%.1f" % gf(s) if s else "-"
            rel = lambda s: "%.2f" % (gf(st["tapegrad"]) / gf(s)) \
                if s and st["tapegrad"] else "-"
            rows.append([dt, n, cell(st["tapegrad"]), cell(st["tapegrad_portable"]),
                         cell(st["numpy"]), cell(st["torch"]), rel(st["numpy"]),
                         rel(st["torch"])])
    if rows:
        parts.append("W4 square matmul, GFLOP/s (2n^3 / median time), one "
                     "thread; the last two columns are tapegrad (BLAS) / peer\n\n"
                     + table(["dtype", "n", "tapegrad BLAS", "tapegrad portable",
                              "NumPy", "PyTorch", "tg/NumPy", "tg/PyTorch"], rows))

    # Agreement of the sides (same arithmetic -> same numbers).
    notes = []
    for (w, impl), runs in sorted(res.items()):
        ref = res.get((w, "tapegrad"))
        if impl == "tapegrad" or not ref or "check" not in runs[-1]:
            continue
        x, y = float(ref[-1]["check"]), float(runs[-1]["check"])
        tol = 1e-3 if "_f32_" in w else 1e-8
        if abs(x - y) > tol * max(1.0, abs(x)):
            notes.append("%s: %s ends at check=%s, tapegrad at %s" % (
                w, impl, runs[-1]["check"], ref[-1]["check"]))
    parts.append("Agreement: " + ("every peer's result (final w, gradient, "
                                  "product sum) matches tapegrad's."
                                  if not notes else "; ".join(notes)))
    if errors:
        parts.append("Failures and skips:\n" + "\n".join(
            "- %s %s: %s" % e for e in errors))
    return "\n\n".join(parts)


def run_rounds(a, g, limit, errors):
    """Runs the groups round by round (each group's sides forward on even
    rounds, reversed on odd ones); returns the RESULT dicts keyed by
    (workload, impl). A side that fails without a result, or whose data
    set is missing (exit 3), is not run again."""
    res, dead = {}, set()
    for r in range(a.rounds):
        for name, sides in g.items():
            if r >= limit.get(name, a.rounds):
                continue
            order = sides if r % 2 == 0 else sides[::-1]
            for side in order:
                if (name, side.impl) in dead:
                    continue
                print("bench: round %d/%d %s %s" % (r + 1, a.rounds, name, side.impl),
                      file=sys.stderr, flush=True)
                found, err, code = run_side(side)
                if err:
                    errors.append((name, side.impl, err))
                    print("bench:   " + err, file=sys.stderr)
                    if code == 3 or not found:  # data set missing, or broken
                        dead.add((name, side.impl))
                for f in found:
                    w = name if f["workload"] in ("w3", "w6") else f["workload"]
                    res.setdefault((w, side.impl), []).append(f)
    return res


def main():
    ap = argparse.ArgumentParser(description="tapegrad benchmarks vs NumPy/PyTorch")
    ap.add_argument("--build", default="build")
    ap.add_argument("--rounds", type=int, default=None,
                    help="rounds (default 5; W8's CNN epochs: %d unless given)" %
                    W8_CNN_ROUNDS)
    ap.add_argument("--only", default="w1,w2,w3,w4,w5,w6,w7,w8")
    ap.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--out", default=None,
                    help="also write the report here (default BUILD/bench/results.md)")
    ap.add_argument("--w8-limit", type=int, default=None, metavar="N",
                    help="W8's examples train on the first N images (and test on "
                    "at most N): a quick run (default: whole epochs)")
    a = ap.parse_args()
    a.rounds_given = a.rounds is not None
    if not a.rounds_given:
        a.rounds = 5
    a.only = set(a.only.split(","))
    t_start = time.time()

    have, errors = {}, []
    for mod in ("numpy", "torch"):
        have[mod] = module_version(mod)
        if not have[mod]:
            msg = "%s has no %s: its rows are skipped" % (PY, mod)
            print("bench: " + msg, file=sys.stderr)
            errors.append(("all", mod, msg))

    info = machine(have)
    a.tmp = tempfile.mkdtemp(prefix="tapegrad-bench-") if "w8" in a.only else None
    try:
        g, limit = groups(a, have, errors)
        res = run_rounds(a, g, limit, errors)
    finally:
        if a.tmp:
            shutil.rmtree(a.tmp, ignore_errors=True)

    info.append(("load average at end", " ".join("%.2f" % x for x in os.getloadavg())))
    info.append(("rounds", "%d, %.0f s in all" % (a.rounds, time.time() - t_start)))
    head = "Machine and settings\n\n" + table(["", ""], info)
    text = head + "\n\n" + report(res, errors) + "\n"
    print(text)
    out = a.out or os.path.join(a.build, "bench", "results.md")
    try:
        with open(out, "w") as f:
            f.write(text)
        with open(os.path.splitext(out)[0] + ".json", "w") as f:
            json.dump({"%s/%s" % k: v for k, v in res.items()}, f, indent=1)
        print("bench: wrote %s" % out, file=sys.stderr)
    except OSError as e:
        print("bench: cannot write %s: %s" % (out, e), file=sys.stderr)


if __name__ == "__main__":
    main()
