# SPDX-License-Identifier: MIT
"""The torch side of B3: the statistics of `ckpt-inspect stats FILE` (PRODUCT.md section 4:
min, max, mean, std, L2 over the finite values, NaN/+Inf/-Inf/zero counts, a 64-bin histogram
over [min, max]) for every tensor, computed by torch after torch.load.

    PYTHON torch_stats.py FILE [BINS]
"""
import sys

import torch

from torch_common import load, report_inprocess


def stats_line(name, t, bins):
    x = t.float()  # bf16/f16: histc has no CPU kernel for them
    nan = int(torch.isnan(x).sum())
    pinf = int(torch.isposinf(x).sum())
    ninf = int(torch.isneginf(x).sum())
    zeros = int((x == 0).sum())
    f = x[torch.isfinite(x)] if nan + pinf + ninf else x.reshape(-1)
    lo, hi = torch.aminmax(f)
    mean = f.mean()
    std = f.std()
    l2 = torch.linalg.vector_norm(f)
    hist = torch.histc(f, bins=bins, min=float(lo), max=float(hi))
    return (f"{name} {float(lo)} {float(hi)} {float(mean)} {float(std)} {float(l2)} {nan} {pinf} {ninf} {zeros} "
            f"{int(hist.max())}")


def main():
    bins = int(sys.argv[2]) if len(sys.argv) > 2 else 64
    sd = load(sys.argv[1])
    for name, t in sd.items():
        print(stats_line(name, t, bins))


if __name__ == "__main__":
    main()
    report_inprocess()
