# SPDX-License-Identifier: MIT
"""The torch side of B4: what `ckpt-inspect diff A B` reports per common tensor, computed by
torch after loading both files: max and mean absolute difference, relative L2 difference
(||a - b|| / ||a||) and cosine similarity.

    PYTHON torch_diff.py A B
"""
import sys

import torch

from torch_common import load, report_inprocess


def main():
    a = load(sys.argv[1])
    b = load(sys.argv[2])
    for name, ta in a.items():
        tb = b.get(name)
        if tb is None or tb.shape != ta.shape:
            print(name, "differs in presence or shape")
            continue
        x = ta.double().reshape(-1)
        y = tb.double().reshape(-1)
        ok = torch.isfinite(x) & torch.isfinite(y)
        if not bool(ok.all()):
            x, y = x[ok], y[ok]
        d = (x - y).abs()
        rel = torch.linalg.vector_norm(x - y) / torch.linalg.vector_norm(x)
        cos = torch.nn.functional.cosine_similarity(x, y, dim=0)
        print(name, float(d.max()), float(d.mean()), float(rel), float(cos))


if __name__ == "__main__":
    main()
    report_inprocess()
