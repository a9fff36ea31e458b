#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Writes the benchmark inputs of scripts/bench.sh with real torch (never committed).

    /usr/bin/python3 scripts/bench/make_inputs.py DIR

Files already present (with their ".done" marker) are kept, so a second run writes nothing:
  big44.pt     ~4.4 GB ZIP64 torch.save file: four 1 GiB float32 tensors and one of 100 MiB
  f32.pt       1 GiB: 64 float32 tensors of 4 Mi elements (randn, a few NaN/+Inf/-Inf/zeros)
  f32b.pt      the same tensors plus small noise (the second side of the diff benchmark)
  bf16.pt      f32.pt converted to bfloat16 (same element count, 512 MiB)
  f16.pt       f32.pt converted to float16
  many.pt      100,000 small tensors: the model and Adam state of a 25,000-parameter-tensor model
"""
import collections
import os
import sys

import torch

GiB = 1 << 30


def done(path):
    return os.path.exists(path) and os.path.exists(path + ".done")


def save(obj, path):
    tmp = path + ".tmp"
    torch.save(obj, tmp)
    os.replace(tmp, path)
    open(path + ".done", "w").close()
    print(f"  wrote {path} ({os.path.getsize(path) / 1e9:.2f} GB)", flush=True)


def f32_tensors(seed):
    g = torch.Generator().manual_seed(seed)
    out = collections.OrderedDict()
    for i in range(64):
        t = torch.randn(1024, 4096, generator=g) * (0.02 * (1 + i % 7))
        t.view(-1)[:: 1 << 18] = 0.0     # 16 exact zeros per tensor
        if i % 8 == 0:                   # non-finite values in some tensors
            t.view(-1)[7] = float("nan")
            t.view(-1)[11] = float("inf")
            t.view(-1)[13] = float("-inf")
        out[f"layers.{i // 4}.block.{i % 4}.weight"] = t
    return out


def main():
    d = sys.argv[1]
    os.makedirs(d, exist_ok=True)
    torch.manual_seed(0)

    p = os.path.join(d, "big44.pt")
    if not done(p):
        g = torch.Generator().manual_seed(1)
        sd = collections.OrderedDict()
        for i in range(4):
            sd[f"encoder.{i}.weight"] = torch.randn(GiB // 4 // 8192, 8192, generator=g)
        sd["embed.weight"] = torch.randn(25600, 1024, generator=g)
        save({"model": sd, "epoch": 3}, p)
        del sd

    need = [os.path.join(d, n) for n in ("f32.pt", "f32b.pt", "bf16.pt", "f16.pt")]
    if not all(done(x) for x in need):
        a = f32_tensors(2)
        save(a, need[0])
        g = torch.Generator().manual_seed(3)
        b = collections.OrderedDict((k, v + 1e-3 * torch.randn(v.shape, generator=g)) for k, v in a.items())
        save(b, need[1])
        del b
        save(collections.OrderedDict((k, v.to(torch.bfloat16)) for k, v in a.items()), need[2])
        save(collections.OrderedDict((k, v.to(torch.float16)) for k, v in a.items()), need[3])
        del a

    p = os.path.join(d, "many.pt")
    if not done(p):
        # A deep model's state: 25,000 parameter tensors and, per parameter, Adam's
        # step/exp_avg/exp_avg_sq (torch 1.13 keeps `step` as a tensor) = 100,000 tensors.
        n = 25_000
        g = torch.Generator().manual_seed(4)
        model = collections.OrderedDict()
        for i in range(n):
            shape = (16,) if i % 2 else (4, 8)
            model[f"blocks.{i // 2}.{'bias' if i % 2 else 'weight'}"] = torch.randn(shape, generator=g)
        state = {}
        for i, t in enumerate(model.values()):
            state[i] = {"step": torch.tensor(100.0), "exp_avg": torch.randn(t.shape, generator=g) * 1e-3,
                        "exp_avg_sq": torch.rand(t.shape, generator=g) * 1e-6}
        optim = {"state": state,
                 "param_groups": [{"lr": 1e-3, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.0,
                                   "amsgrad": False, "maximize": False, "foreach": None,
                                   "capturable": False, "differentiable": False, "fused": False,
                                   "params": list(range(n))}]}
        save({"epoch": 7, "model_state_dict": model, "optimizer_state_dict": optim}, p)


if __name__ == "__main__":
    main()
