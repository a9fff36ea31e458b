#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Writes fresh random checkpoint pairs plus what torch computes for their diff (issue 5).

    /usr/bin/python3 tests/oracle/torch_diff_oracle.py --out DIR --seed N --count K

For i in 0..K-1 writes DIR/diff_<N>_<i>_a.pt, DIR/diff_<N>_<i>_b.pt and DIR/diff_<N>_<i>.json
(the schema of tests/fixtures/expected_diff/, made by make_diff_fixtures.expected_diff from the
files as torch.load reads them back). Same seed, same files.

A is a dict of random tensors (float64/32/16, bfloat16, complex64/128, int64/32/8, uint8, bool;
0-d to 3-d; some saved as transposed or sliced views of a bigger tensor, so they are strided in
the file) and a few plain values; B keeps, perturbs (noise, flipped elements, NaN/inf in new
places), casts (dtype), reshapes (shape) or drops each of them and adds new ones. Each side is a
zip or a legacy stream. Needs Debian's python3-torch (run with /usr/bin/python3).
"""

import argparse
import collections
import os
import random
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'fixtures'))

import torch  # noqa: E402

import make_diff_fixtures as mdf  # noqa: E402
import torch_expect as te  # noqa: E402

FLOATS = [torch.float64, torch.float32, torch.float16, torch.bfloat16]
DTYPES = FLOATS + [torch.complex64, torch.complex128, torch.int64, torch.int32, torch.int8, torch.uint8,
                   torch.bool]


class Gen:
    def __init__(self, seed):
        self.r = random.Random(seed)
        self.g = torch.Generator().manual_seed(seed)

    def shape(self):
        return [self.r.randint(1, 9) for _ in range(self.r.choice([0, 1, 1, 2, 2, 3]))]

    def values(self, shape, dtype):
        if dtype == torch.bool:
            return torch.randint(0, 2, shape, generator=self.g).bool()
        if not (dtype.is_floating_point or dtype.is_complex):
            lo, hi = (0, 255) if dtype == torch.uint8 else (-100, 100)
            return torch.randint(lo, hi, shape, generator=self.g).to(dtype)
        t = torch.randn(shape, generator=self.g, dtype=torch.complex128 if dtype.is_complex else torch.float64)
        t = (t * 10 ** self.r.uniform(-3, 2)).to(dtype)
        self.sprinkle(t)
        return t

    def sprinkle(self, t):
        """A NaN or an infinity now and then (floating types)."""
        if not (t.dtype.is_floating_point or t.dtype.is_complex) or t.numel() == 0 or self.r.random() < 0.7:
            return
        flat = t.view(-1)
        flat[self.r.randrange(flat.numel())] = self.r.choice([float('nan'), float('inf'), -float('inf')])

    def tensor(self):
        dtype = self.r.choice(DTYPES)
        shape = self.shape()
        if len(shape) >= 2 and self.r.random() < 0.3:
            return self.values(shape[::-1], dtype).t() if len(shape) == 2 else self.values(shape, dtype)
        if shape and self.r.random() < 0.2:
            big = self.values([shape[0] * 2 + 1] + shape[1:], dtype)
            return big[1::2]  # offset and step: strided
        return self.values(shape, dtype)

    def change(self, t):
        op = self.r.choice(['same', 'same', 'perturb', 'perturb', 'perturb', 'cast', 'reshape', 'drop'])
        if op == 'same':
            return t.clone()
        if op == 'drop':
            return None
        if op == 'reshape':
            return self.values(self.shape() + [self.r.randint(2, 4)], t.dtype)
        if op == 'cast':
            if t.dtype in FLOATS:
                return t.to(self.r.choice([d for d in FLOATS if d != t.dtype]))
            if t.dtype.is_complex:
                return t.to(torch.complex128 if t.dtype == torch.complex64 else torch.complex64)
            return t.to(torch.int64 if t.dtype != torch.int64 else torch.int32)
        u = t.clone().contiguous()
        if u.numel() == 0:
            return u
        flat = u.view(-1)
        if u.dtype == torch.bool:
            flat[self.r.randrange(flat.numel())] ^= True
        elif u.dtype.is_floating_point or u.dtype.is_complex:
            noise = torch.randn(flat.shape, generator=self.g, dtype=torch.float64) * 10 ** self.r.uniform(-4, 0)
            flat += noise.to(flat.dtype)
            self.sprinkle(u)
        else:
            flat[self.r.randrange(flat.numel())] += 1
        return u

    def pair(self):
        a = collections.OrderedDict()
        for i in range(self.r.randint(6, 14)):
            a[f'layer{i}.{self.r.choice(["weight", "bias", "running_mean", "table"])}'] = self.tensor()
        plain = {'epoch': self.r.randint(0, 9), 'lr': self.r.choice([1e-3, 5e-4, 0.1]), 'name': 'run',
                 'betas': (0.9, self.r.choice([0.99, 0.999]))}
        b = collections.OrderedDict()
        for k, v in a.items():
            w = self.change(v)
            if w is not None:
                b[k] = w
        for i in range(self.r.randint(0, 2)):
            b[f'extra{i}.weight'] = self.tensor()
        pb = {k: (v if self.r.random() < 0.6 else (v + 1 if isinstance(v, int) else
                                                   v / 2 if isinstance(v, float) else v))
              for k, v in plain.items()}
        return {'model': a, 'meta': plain}, {'model': b, 'meta': pb}


def save(obj, path, legacy):
    if legacy:
        with open(path, 'wb') as f:
            te.save_legacy_deterministic(obj, f)
    else:
        torch.save(obj, path)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--out', required=True)
    ap.add_argument('--seed', type=int, required=True)
    ap.add_argument('--count', type=int, default=4)
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    for i in range(args.count):
        gen = Gen(args.seed * 1000 + i)
        a, b = gen.pair()
        names = [f'diff_{args.seed}_{i}_{s}.pt' for s in 'ab']
        for obj, name in zip((a, b), names):
            save(obj, os.path.join(args.out, name), gen.r.random() < 0.3)
        doc = mdf.expected_diff(names[0], te.torch_load(os.path.join(args.out, names[0])),
                                names[1], te.torch_load(os.path.join(args.out, names[1])))
        te.write_doc(os.path.join(args.out, f'diff_{args.seed}_{i}.json'), doc)
        print(names[0], names[1], doc['summary'])


if __name__ == '__main__':
    main()
