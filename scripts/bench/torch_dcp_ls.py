# SPDX-License-Identifier: MIT
"""The torch side of B6 (issue 19): what a user does instead of `ckpt-inspect ls DIR` for a
torch.distributed.checkpoint directory: torch 2.13's own reader of `.metadata` (no process
group, no tensor data), and the listing of every tensor with its logical dtype and shape.

    .venv-oracle/bin/python torch_dcp_ls.py DIR
"""
import sys

from torch.distributed.checkpoint import FileSystemReader
from torch.distributed.checkpoint.metadata import TensorStorageMetadata

from torch_common import report_inprocess


def main():
    md = FileSystemReader(sys.argv[1]).read_metadata()
    out = []
    for fqn, m in md.state_dict_metadata.items():
        if isinstance(m, TensorStorageMetadata):
            path = '/'.join(str(k) for k in md.planner_data.get(fqn, (fqn,)))
            out.append(f"{path}\t{str(m.properties.dtype)[6:]}\t{list(m.size)}")
    sys.stdout.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
    report_inprocess()
