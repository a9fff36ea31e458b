#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Regression inputs for the class of the fuzzers' tar timeout (docs/FUZZING.md), made with real
torch so that they are files a user could have: views that claim 2^60 elements over a few stored
values. torch saves views as (storage, offset, shape, stride), so both load in torch instantly.

    /usr/bin/python3 tests/fuzz/make_regressions.py [OUT_DIR]   (default tests/fixtures/fuzz/checkpoint)

- broadcast_*.pt: `expand` (stride 0) of 3 values to [2^60, 3];
- overlap_*.pt: `as_strided` of 373 values to twelve dimensions of 32 with every stride 1
  (2^60 elements; no stride is 0, so only cancellation bounds the work: before the fix it was
  checked between chunks of 2^44 elements).
Each in the zip format and the legacy (pre-1.6) format. tst_fuzzregressions runs them through
the whole-loader harness (statistics of every tensor, cancelled after 2^20 elements).
"""
import os
import sys

import torch

out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                          "..", "fixtures", "fuzz", "checkpoint")
os.makedirs(out, exist_ok=True)
tensors = {
    "broadcast": torch.tensor([1.5, -2.0, 3.0]).expand(2 ** 60, 3),
    "overlap": torch.arange(373, dtype=torch.float32).as_strided((32,) * 12, (1,) * 12),
}
for name, t in tensors.items():
    assert t.numel() == (3 * 2 ** 60 if name == "broadcast" else 2 ** 60)
    for fmt, zip_format in (("zip", True), ("legacy", False)):
        path = os.path.join(out, f"{name}_{fmt}.pt")
        torch.save({name: t}, path, _use_new_zipfile_serialization=zip_format)
        back = torch.load(path)[name]
        assert back.shape == t.shape and back.stride() == t.stride()
        print(path, os.path.getsize(path), "bytes")
