#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Writes fresh random torch checkpoints plus what torch says about each of them.

    /usr/bin/python3 tests/oracle/torch_oracle.py --out DIR --seed N --count K

For i in 0..K-1 writes DIR/oracle_<N>_<i>.pt and DIR/oracle_<N>_<i>.pt.json (the expected-JSON
schema of tests/fixtures/README.md) and prints one line per file. Same seed, same files.

Each checkpoint is a random nest of dict / OrderedDict / list / tuple (dotted string keys, some
int keys, a few plain values) holding tensors of every dtype torch 1.13 can save (bool,
complex, bfloat16, float16, ...), random shapes (0-d, empty dims, 1-4 dims), random values
(normal, with NaN/±Inf/zeros in floating types), random views (transpose/permute, slices with
steps and offsets, expand), tensors shared under two keys, nn.Parameter wrappers with random
requires_grad; zip container with pickle protocol 2-5, or the legacy stream (protocol 2).

The expected JSON is derived from the written file with torch.load, cross-checked against a
non-executing unpickler and against the in-process object (tests/fixtures/torch_expect.py).
Needs Debian's python3-torch (run with /usr/bin/python3).
"""

from __future__ import annotations

import argparse
import collections
import math
import os
import random
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'fixtures'))

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402

import torch_expect as te  # noqa: E402

DTYPES = [torch.float64, torch.float32, torch.float16, torch.bfloat16, torch.complex128,
          torch.complex64, torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8,
          torch.bool]
MAX_BASE_NUMEL = 3000
MAX_FILE_BYTES = 2 * 1024 * 1024

WORDS = ['encoder', 'decoder', 'layer', 'block', 'attn', 'mlp', 'conv', 'bn', 'fc', 'proj',
         'embed', 'head', 'norm', 'q', 'k', 'v', 'weight', 'bias', 'running_mean', 'state']


class Gen:
    def __init__(self, seed: int):
        self.r = random.Random(seed)
        self.g = torch.Generator().manual_seed(seed)
        self.tensors: list[torch.Tensor] = []   # made so far (for sharing)
        self.budget = 40                          # tensors per file (roughly)

    # -- values --------------------------------------------------------------------------------
    def shape(self, max_numel: int) -> list[int]:
        r = self.r
        nd = r.choice([0, 1, 1, 2, 2, 3, 4])
        while True:
            shape = [0 if r.random() < 0.05 else
                     r.choice([1, 2, 3, 4, 5, 7, 8, 16, 40]) if r.random() < 0.9 else r.randint(0, 40)
                     for _ in range(nd)]
            if math.prod(shape) <= max_numel:
                return shape

    def values(self, dt: torch.dtype, shape: list[int]) -> torch.Tensor:
        r, g = self.r, self.g
        n = math.prod(shape)
        if dt == torch.bool:
            return torch.randint(0, 2, shape, generator=g).bool()
        if dt == torch.uint8:
            return torch.randint(0, 256, shape, generator=g, dtype=torch.uint8)
        if dt == torch.int8:
            return torch.randint(-128, 128, shape, generator=g, dtype=torch.int8)
        if dt == torch.int16:
            return torch.randint(-30000, 30000, shape, generator=g, dtype=torch.int16)
        if dt in (torch.int32, torch.int64):
            hi = r.choice([10, 1000, 10**6])
            return torch.randint(-hi, hi, shape, generator=g, dtype=dt)
        scale = 10.0 ** r.uniform(-3, 3)
        if dt.is_complex:
            x = torch.randn(shape, generator=g, dtype=torch.complex128) * scale
        else:
            x = torch.randn(shape, generator=g, dtype=torch.float64) * scale
        if n and r.random() < 0.5:
            flat = x.view(-1)
            for _ in range(r.randint(1, 3)):
                i = r.randrange(n)
                special = r.choice([0.0, 0.0, float('nan'), float('inf'), float('-inf')])
                flat[i] = complex(special, r.choice([0.0, 1.0])) if dt.is_complex else special
        return x.to(dt)

    def tensor(self) -> torch.Tensor:
        r = self.r
        if self.tensors and r.random() < 0.12:
            return r.choice(self.tensors)              # the same object again: shared
        dt = r.choice(DTYPES)
        kind = r.choice(['plain', 'plain', 'transpose', 'slice', 'expand', 'view_of_earlier'])
        if kind == 'view_of_earlier':
            cands = [t for t in self.tensors if t.dim() >= 1 and t.numel() > 0
                     and t.layout == torch.strided]
            if cands:
                base = r.choice(cands)
                t = self.slice(base) if r.random() < 0.6 or base.dim() < 2 else self.permute(base)
                return self.finish(t)
            kind = 'plain'
        shape = self.shape(MAX_BASE_NUMEL)
        base = self.values(dt, shape)
        if kind == 'transpose' and base.dim() >= 2:
            t = self.permute(base)
        elif kind == 'slice' and base.dim() >= 1 and base.numel() > 0:
            t = self.slice(base)
        elif kind == 'expand':
            small = self.values(dt, [1, r.randint(0, 5) if r.random() < 0.1 else r.randint(1, 5)])
            t = small.expand(r.randint(1, 6), small.shape[1])
        else:
            t = base
        return self.finish(t)

    def permute(self, t: torch.Tensor) -> torch.Tensor:
        if t.dim() < 2:
            return t
        if self.r.random() < 0.5:
            return t.t() if t.dim() == 2 else t.transpose(0, t.dim() - 1)
        perm = list(range(t.dim()))
        self.r.shuffle(perm)
        return t.permute(*perm)

    def slice(self, t: torch.Tensor) -> torch.Tensor:
        r = self.r
        d = r.randrange(t.dim())
        size = t.shape[d]
        if size == 0:
            return t
        start = r.randrange(size)
        step = r.choice([1, 1, 2, 3])
        stop = r.randint(start, size) if r.random() < 0.1 else r.randint(start + 1, size)
        idx = [slice(None)] * t.dim()
        idx[d] = slice(start, stop, step)
        return t[tuple(idx)]

    def finish(self, t: torch.Tensor) -> torch.Tensor:
        r = self.r
        if r.random() < 0.2:
            rg = (t.is_floating_point() or t.is_complex()) and r.random() < 0.6
            t = nn.Parameter(t, requires_grad=rg)
        elif (t.is_floating_point() or t.is_complex()) and r.random() < 0.05:
            t = t.detach().requires_grad_()
        self.tensors.append(t)
        self.budget -= 1
        return t

    # -- structure -----------------------------------------------------------------------------
    def key(self, used: set) -> object:
        r = self.r
        while True:
            if r.random() < 0.2:
                k = r.randint(0, 30)
            else:
                parts = [r.choice(WORDS)]
                for _ in range(r.randint(0, 3)):
                    parts.append(str(r.randint(0, 11)) if r.random() < 0.4 else r.choice(WORDS))
                k = '.'.join(parts)
            if k not in used:
                used.add(k)
                return k

    def plain(self) -> object:
        r = self.r
        return r.choice([r.randint(-5, 100), r.random(), 'text', None, True, (1, 2.5, 'x'),
                         float('nan'), 2**40])

    def node(self, depth: int) -> object:
        r = self.r
        if depth >= 4 or self.budget <= 0 or r.random() < 0.45:
            return self.tensor() if r.random() < 0.85 else self.plain()
        kind = r.choice(['dict', 'dict', 'odict', 'list', 'tuple'])
        n = r.randint(0, 6)
        if kind in ('dict', 'odict'):
            used: set = set()
            items = [(self.key(used), self.node(depth + 1)) for _ in range(n)]
            return dict(items) if kind == 'dict' else collections.OrderedDict(items)
        items = [self.node(depth + 1) for _ in range(n)]
        return items if kind == 'list' else tuple(items)

    def checkpoint(self) -> dict:
        used: set = set()
        root = {}
        while self.budget > 0 and len(root) < 12:
            root[self.key(used)] = self.node(1)
        return root


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--out', required=True)
    ap.add_argument('--seed', type=int, default=1)
    ap.add_argument('--count', type=int, default=20)
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    torch.set_num_threads(1)
    t0 = time.time()
    for i in range(a.count):
        fseed = a.seed * 100003 + i
        gen = Gen(fseed)
        obj = gen.checkpoint()
        name = f'oracle_{a.seed}_{i}.pt'
        path = os.path.join(a.out, name)
        legacy = gen.r.random() < 0.25
        proto = 2 if legacy else gen.r.choice([2, 3, 4, 5])
        if legacy:
            with open(path, 'wb') as f:
                te.save_legacy_deterministic(obj, f, pickle_protocol=2)
        else:
            torch.save(obj, path, pickle_protocol=proto)
        size = os.path.getsize(path)
        if size > MAX_FILE_BYTES:
            raise SystemExit(f'{name}: {size} bytes (limit {MAX_FILE_BYTES})')
        doc = te.derive_file(path, name)
        inproc = te.build_doc(name, doc['format'], te.truths_from_walk(obj), doc['globals'])
        diffs = te.compare_docs(inproc, doc)
        if diffs:
            raise SystemExit(f'{name}: file and in-process object disagree: {diffs[:5]}')
        te.write_doc(path + '.json', doc)
        print(f'{path} {doc["format"]} protocol={proto} tensors={len(doc["tensors"])} '
              f'groups={len(doc["storage_groups"])} bytes={size}')
    print(f'# {a.count} files in {time.time() - t0:.1f} s', file=sys.stderr)
    return 0


if __name__ == '__main__':
    sys.exit(main())
