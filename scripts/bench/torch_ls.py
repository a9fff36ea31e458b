# SPDX-License-Identifier: MIT
"""The torch side of B1/B2: what a user does instead of `ckpt-inspect ls FILE`.

    PYTHON torch_ls.py FILE
"""
import sys

import torch

from torch_common import load, report_inprocess


def walk(obj, path, out):
    if isinstance(obj, torch.Tensor):
        out.append(f"{path}\t{str(obj.dtype)[6:]}\t{list(obj.shape)}")
    elif isinstance(obj, dict):
        for k, v in obj.items():
            walk(v, f"{path}/{k}" if path else str(k), out)
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            walk(v, f"{path}/{i}" if path else str(i), out)


def main():
    sd = load(sys.argv[1])
    out = []
    walk(sd, "", out)
    sys.stdout.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
    report_inprocess()
