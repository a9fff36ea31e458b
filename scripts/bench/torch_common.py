# SPDX-License-Identifier: MIT
"""What the torch side of every benchmark shares: loading a file the way a user of that torch
would, all cores, and the in-process time (after `import torch`, which the whole-process wall
time includes) reported on stderr for run_bench.py.

torch 1.13 (2022): `torch.load(path, map_location="cpu")`, the only way it had.
torch >= 2.1 (today): `torch.load(path, mmap=True, weights_only=True, map_location="cpu")`: the
tensors stay in the file's pages until used, and nothing in the file runs.
"""
import os
import sys
import time

import torch

IMPORTED = time.perf_counter()  # after `import torch`: the in-process clock starts here
torch.set_num_threads(os.cpu_count() or 1)
MODERN = tuple(int(x) for x in torch.__version__.split("+")[0].split(".")[:2]) >= (2, 1)


def load(path):
    if MODERN:
        return torch.load(path, mmap=True, weights_only=True, map_location="cpu")
    return torch.load(path, map_location="cpu")


def report_inprocess():
    """Prints the in-process seconds as the last line on stderr (run_bench.py reads it)."""
    sys.stdout.flush()
    sys.stderr.write(f"\nCKPT_BENCH_INPROCESS_S={time.perf_counter() - IMPORTED:.6f}\n")
