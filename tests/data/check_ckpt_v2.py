#!/usr/bin/env python3
"""Checks tests/data/st_tapegrad_ckpt_v2.safetensors, a version-2 tapegrad
checkpoint, by the safetensors specification and the checkpoint format in
models/checkpoint.h, with nothing but the standard library (so the check
does not share code or assumptions with tapegrad's reader).

The file itself is written by tapegrad: tests/test_safetensors.c
(test_checkpoint_fixture) compares its writer's bytes with the committed
file and rewrites it when run with TG_WRITE_FIXTURES=1:

    make build/tests/run_tests
    cd tests && TG_WRITE_FIXTURES=1 CK_RUN_SUITE=safetensors \
        CK_RUN_CASE=checkpoint ../build/tests/run_tests
    python3 tests/data/check_ckpt_v2.py

What it holds: AdamW (lr 0.01, weight decay 0.01, betas 0.9/0.999) on the
seed-11 4-8-3 MLP with a buffer "stats", m = 0.25, v = 0.5, t = 3 for the
parameters, step 3, and two groups: 0 (the weights) and 1 (the biases,
initial lr 0.02, scheduled down to 0.005, no decay).
"""
import json
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SIZES = {"F64": 8, "F32": 4, "I64": 8, "I32": 4, "U8": 1, "BOOL": 1}


def read(path):
    with open(path, "rb") as f:
        blob = f.read()
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + n])
    data = blob[8 + n:]
    meta = header.pop("__metadata__", {})
    assert all(isinstance(v, str) for v in meta.values()), meta
    tensors, ranges = {}, []
    for name, e in header.items():
        nbytes = SIZES[e["dtype"]]
        for d in e["shape"]:
            nbytes *= d
        b, end = e["data_offsets"]
        assert end - b == nbytes, (name, e)
        ranges.append((b, end))
        fmt = {"F32": "f", "F64": "d", "I64": "q", "I32": "i"}[e["dtype"]]
        count = nbytes // SIZES[e["dtype"]]
        tensors[name] = (e["dtype"], tuple(e["shape"]),
                         struct.unpack(f"<{count}{fmt}", data[b:end]))
    ranges.sort()
    assert ranges[0][0] == 0 and ranges[-1][1] == len(data), "data not tiled"
    assert all(a[1] == b[0] for a, b in zip(ranges, ranges[1:])), "gap or overlap"
    return tensors, meta


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        HERE, "st_tapegrad_ckpt_v2.safetensors")
    t, meta = read(path)
    assert meta["format"] == "tapegrad-checkpoint" and meta["version"] == "2", meta
    assert meta["optim"] == "adam" and meta["step"] == "3" and meta["optim.steps"] == "3"
    for k in ("optim.lr", "optim.weight_decay", "optim.beta1", "optim.beta2",
              "optim.eps"):
        assert float(meta[k]) >= 0.0, k
    assert meta["optim.adamw"] == "1"
    assert float(meta["optim.beta1"]) == 0.9 and float(meta["optim.beta2"]) == 0.999
    model = [k[len("model."):] for k in t if k.startswith("model.")]
    params = [n for n in model if f"optim.adam.m.{n}" in t]
    buffers = [n for n in model if n not in params]
    assert buffers == ["stats"], buffers
    for n in params:
        for part in ("m", "v"):
            dt, shape, vals = t[f"optim.adam.{part}.{n}"]
            assert (dt, shape) == t["model." + n][:2], n
            assert set(vals) == {0.25 if part == "m" else 0.5}, (n, part)
    dt, shape, counts = t["optim.adam.t"]
    assert dt == "I64" and shape == (len(model),) and min(counts) >= 0
    # The groups: count, each group's numbers, each parameter's group.
    count = int(meta["optim.groups"])
    assert 1 <= count <= 8
    groups = [{f: float(meta[f"optim.group.{k}.{f}"])
               for f in ("lr", "initial_lr", "weight_decay")} for k in range(count)]
    assert groups[0]["lr"] == float(meta["optim.lr"])
    assert groups[0]["weight_decay"] == float(meta["optim.weight_decay"])
    assert groups[1] == {"lr": 0.005, "initial_lr": 0.02, "weight_decay": 0.0}, groups
    of = {k[len("optim.group_of."):]: int(v) for k, v in meta.items()
          if k.startswith("optim.group_of.")}
    assert sorted(of) == sorted(params), of
    assert all(0 <= g < count for g in of.values())
    assert all(g == (1 if n.endswith(".bias") else 0) for n, g in of.items()), of
    known = {"format", "version", "step", "optim", "optim.steps", "optim.lr",
             "optim.weight_decay", "optim.beta1", "optim.beta2", "optim.eps",
             "optim.adamw", "optim.groups"}
    known |= {f"optim.group.{k}.{f}" for k in range(count)
              for f in ("lr", "initial_lr", "weight_decay")}
    known |= {f"optim.group_of.{n}" for n in params}
    assert set(meta) == known, set(meta) ^ known
    print(f"checked {path}: {len(t)} tensors, {count} groups, "
          f"{len(params)} parameters, {len(buffers)} buffer")


if __name__ == "__main__":
    main()
