#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Makes the bundled sample pair resources/samples/sample_epoch{1,2}.pt.

    /usr/bin/python3 scripts/make_sample.py

The same small CNN (conv-bn-relu-conv-bn-relu-pool-linear, 25,674 parameters, BatchNorm
buffers) is trained on synthetic data for one epoch, saved, trained one more epoch and saved
again. Each file is a typical hand-written training checkpoint:

    {'epoch', 'global_step', 'model_state_dict', 'optimizer_state_dict' (AdamW, two parameter
     groups: weight decay for conv/linear weights, none for biases and BatchNorm),
     'scheduler' (StepLR), 'scaler' (GradScaler-shaped dict), 'loss' (0-d tensor),
     'best_acc' (float), 'args' (argparse.Namespace)}

GradScaler is disabled on a CPU-only machine (its state_dict() is then {}), so 'scaler' holds
the values an enabled scaler would have after that many overflow-free steps.

Also writes what torch says about both files (same schema as the fixtures) to
tests/fixtures/expected/sample_epoch{1,2}.pt.json. Deterministic (fixed seed, one thread).
Needs Debian's python3-torch (run with /usr/bin/python3).
"""

from __future__ import annotations

import argparse
import os
import random
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, 'tests', 'fixtures'))
import torch_expect as te  # noqa: E402

OUT = os.path.join(ROOT, 'resources', 'samples')
EXPECTED = os.path.join(ROOT, 'tests', 'fixtures', 'expected')


class SmallCNN(nn.Module):
    def __init__(self, num_classes: int = 10):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(16)
        self.conv2 = nn.Conv2d(16, 32, 3, padding=1)
        self.bn2 = nn.BatchNorm2d(32)
        self.pool = nn.AdaptiveAvgPool2d(8)
        self.fc = nn.Linear(32 * 8 * 8, num_classes)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.relu(self.bn2(self.conv2(x)))
        return self.fc(torch.flatten(self.pool(x), 1))


def synthetic_data(n: int, g: torch.Generator, teacher: torch.Tensor):
    x = torch.randn(n, 3, 16, 16, generator=g)
    logits = F.avg_pool2d(x, 8).flatten(1) @ teacher        # a learnable rule: coarse colours
    return x, logits.argmax(1)


def main() -> int:
    args = argparse.Namespace(arch='small_cnn', data='synthetic-16x16', num_classes=10, lr=3e-3,
                              weight_decay=0.05, betas=(0.9, 0.999), batch_size=32, epochs=2,
                              steps_per_epoch=30, lr_step=1, lr_gamma=0.5, amp=True, seed=1234,
                              output_dir='runs/small_cnn')
    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    random.seed(args.seed)
    g = torch.Generator().manual_seed(args.seed)
    teacher = torch.randn(3 * 2 * 2, args.num_classes, generator=g)
    x_val, y_val = synthetic_data(256, g, teacher)

    model = SmallCNN(args.num_classes)
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        (decay if p.dim() > 1 else no_decay).append(p)
    opt = torch.optim.AdamW([{'params': decay, 'weight_decay': args.weight_decay},
                             {'params': no_decay, 'weight_decay': 0.0}],
                            lr=args.lr, betas=args.betas)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=args.lr_step, gamma=args.lr_gamma)

    os.makedirs(OUT, exist_ok=True)
    global_step, best_acc = 0, 0.0
    for epoch in range(1, args.epochs + 1):
        model.train()
        loss = torch.tensor(0.0)
        for _ in range(args.steps_per_epoch):
            x, y = synthetic_data(args.batch_size, g, teacher)
            opt.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            global_step += 1
        sched.step()
        model.eval()
        with torch.no_grad():
            acc = (model(x_val).argmax(1) == y_val).float().mean().item()
        best_acc = max(best_acc, acc)
        ckpt = {
            'epoch': epoch,
            'global_step': global_step,
            'model_state_dict': model.state_dict(),
            'optimizer_state_dict': opt.state_dict(),
            'scheduler': sched.state_dict(),
            'scaler': {'scale': 65536.0, 'growth_factor': 2.0, 'backoff_factor': 0.5,
                       'growth_interval': 2000, '_growth_tracker': global_step % 2000},
            'loss': loss.detach(),
            'best_acc': best_acc,
            'args': args,
        }
        name = f'sample_epoch{epoch}.pt'
        path = os.path.join(OUT, name)
        torch.save(ckpt, path)
        size = os.path.getsize(path)
        assert size < 1024 * 1024, (name, size)
        doc = te.derive_file(path, name)
        te.write_doc(os.path.join(EXPECTED, name + '.json'), doc)
        print(f'{path}: {size} bytes, epoch {epoch}, step {global_step}, '
              f'loss {loss.item():.4f}, val acc {acc:.3f}, {len(doc["tensors"])} tensors')
    nparams = sum(p.numel() for p in model.parameters())
    print(f'{nparams} parameters')
    return 0


if __name__ == '__main__':
    sys.exit(main())
