# SPDX-License-Identifier: MIT
"""Writes the DCP benchmark inputs of scripts/bench.sh (issue 19) with torch 2.13's own writer,
four processes on the CPU (gloo, mp.spawn), never committed:

    .venv-oracle/bin/python scripts/bench/make_dcp_inputs.py DIR

  dcp_small/  dcp.save of 10,000 DTensors sharded over a 4-rank mesh (Shard(0)): every tensor
              split into 4 chunks, one per __<rank>_0.distcp; [64, 16] float32 each (40 MB)
  dcp_large/  the same 10,000 tensors at [64, 512] (1.3 GB): the same listing, 32 x the data
Directories already present (with their ".done" marker) are kept.
"""
import os
import sys
import time

import torch
import torch.distributed as dist
import torch.distributed.checkpoint as dcp
import torch.multiprocessing as mp

TENSORS = 10_000
RANKS = 4


def worker(rank, out, cols, port):
    os.environ['MASTER_ADDR'] = '127.0.0.1'
    os.environ['MASTER_PORT'] = str(port)
    torch.set_num_threads(1)
    dist.init_process_group('gloo', rank=rank, world_size=RANKS)
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.tensor import DTensor, Shard
    mesh = init_device_mesh('cpu', (RANKS,))
    g = torch.Generator().manual_seed(1000 + rank)
    state = {}
    for i in range(TENSORS):
        # Each rank makes its own quarter (from_local): no data moves between the processes.
        local = torch.randn(64 // RANKS, cols, generator=g) * (0.02 * (1 + i % 5))
        state[f'layers.{i // 4}.block.{i % 4}.weight'] = DTensor.from_local(local, mesh, [Shard(0)], run_check=False)
    dcp.save({'model': state}, checkpoint_id=out)
    dist.destroy_process_group()


def main():
    root = sys.argv[1]
    os.makedirs(root, exist_ok=True)
    for name, cols, port in (('dcp_small', 16, 29611), ('dcp_large', 512, 29612)):
        out = os.path.join(root, name)
        if os.path.exists(out + '.done'):
            continue
        start = time.time()
        mp.spawn(worker, args=(out, cols, port), nprocs=RANKS)
        open(out + '.done', 'w').close()
        size = sum(os.path.getsize(os.path.join(out, f)) for f in os.listdir(out))
        print(f'  wrote {out} ({size / 1e9:.2f} GB, {time.time() - start:.0f} s)', flush=True)


if __name__ == '__main__':
    main()
