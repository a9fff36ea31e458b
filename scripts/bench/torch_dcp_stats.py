# SPDX-License-Identifier: MIT
"""The torch side of B6 (issue 19): the statistics of `ckpt-inspect stats DIR` for a
torch.distributed.checkpoint directory, the way a user gets them without a process group:
dcp_to_torch_save into a scratch file, torch.load of it, then torch_stats.py's statistics of
every tensor.

    .venv-oracle/bin/python torch_dcp_stats.py DIR [BINS]
"""
import os
import sys
import tempfile

from torch.distributed.checkpoint.format_utils import dcp_to_torch_save

from torch_common import load, report_inprocess
from torch_stats import stats_line


def walk(obj, path, out):
    if isinstance(obj, dict):
        for k, v in obj.items():
            walk(v, f"{path}/{k}" if path else str(k), out)
    elif hasattr(obj, 'dtype') and hasattr(obj, 'shape'):
        out.append((path, obj))


def main():
    bins = int(sys.argv[2]) if len(sys.argv) > 2 else 64
    with tempfile.TemporaryDirectory(dir=os.environ.get('CKPT_BENCH_SCRATCH')) as tmp:
        path = os.path.join(tmp, 'converted.pt')
        dcp_to_torch_save(sys.argv[1], path)
        tensors = []
        walk(load(path), "", tensors)
        for name, t in tensors:
            print(stats_line(name, t, bins))


if __name__ == "__main__":
    main()
    report_inprocess()
