"""Soak test: does a long run leak memory? The real runner for many iterations, sampling the main process's RSS.

A tiny ResNet-18 (CIFAR stem, 8 channels) trains on the in-memory digits at their native 8x8 for
``--iters`` iterations with ``imgcls.apis.train_model`` (IterBasedRunner, checkpoints and evaluation on
their intervals, log.jsonl, the progress logger), exactly as ``imgcls train`` runs. A hook reads
the resident set size every ``--interval`` iterations; the least-squares slope of RSS against
iterations, after ``--warmup`` iterations, is the growth in MB per 1000 iterations. Expected: about zero.
The default warm-up ends one sample after the first evaluation and checkpoint (at a quarter of the run),
which allocate their buffers once.

Usage:
    python benchmarks/soak.py [--iters 10000] [--interval 500] [--warmup N] [--batch 16] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from imgcls import Config  # noqa: E402
from imgcls.apis import train_model  # noqa: E402
from imgcls.engine.hooks import HOOKS, Hook  # noqa: E402

SAMPLES: list[tuple[int, float]] = []

CONFIG = '''
_base_ = [{base!r}]
model = dict(backbone=dict(stem_channels=8, base_channels=8), head=dict(in_channels=64))
norm = dict(type='Normalize', mean=[77.8], std=[96.5], to_rgb=False)
train_steps = [norm, dict(type='ImageToTensor', keys=['img']), dict(type='ToTensor', keys=['gt_label']),
               dict(type='Collect', keys=['img', 'gt_label'])]
eval_steps = [norm, dict(type='ImageToTensor', keys=['img']), dict(type='Collect', keys=['img'])]
data = dict(samples_per_gpu={batch}, workers_per_gpu=0, train=dict(pipeline=train_steps),
            val=dict(pipeline=eval_steps), test=dict(pipeline=eval_steps))
runner = dict(type='IterBasedRunner', max_iters={iters})
lr_config = dict(policy='CosineAnnealing', min_lr=0.0, by_epoch=False, warmup='linear', warmup_iters=100)
checkpoint_config = dict(interval={ckpt_interval}, by_epoch=False, max_keep_ckpts=2)
evaluation = dict(interval={ckpt_interval}, by_epoch=False, metric='accuracy')
log_config = dict(interval=100)
custom_hooks = [dict(type='RSSSampler', interval={interval})]
amp = None
channels_last = False
'''


def rss_mb() -> float:
    """Resident set size of this process, from /proc (Linux)."""
    with open('/proc/self/statm') as fh:
        pages = int(fh.read().split()[1])
    return pages * os.sysconf('SC_PAGE_SIZE') / 2 ** 20


@HOOKS.register_module(force=True)
class RSSSampler(Hook):
    """Records (iterations done, RSS MB) every ``interval`` iterations."""

    priority = 'LOWEST'

    def __init__(self, interval: int = 500):
        self.interval = interval

    def before_run(self, runner) -> None:
        SAMPLES.append((0, rss_mb()))

    def after_train_iter(self, runner) -> None:
        if (runner.iter + 1) % self.interval == 0:
            SAMPLES.append((runner.iter + 1, rss_mb()))


def slope_mb_per_1000(samples: list[tuple[int, float]], warmup: int) -> float:
    """Least-squares slope of RSS over iterations (after ``warmup``), in MB per 1000 iterations."""
    pts = np.array([s for s in samples if s[0] >= warmup], dtype=np.float64)
    if len(pts) < 2:
        return float('nan')
    return float(np.polyfit(pts[:, 0], pts[:, 1], 1)[0] * 1000)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--iters', type=int, default=10000)
    parser.add_argument('--interval', type=int, default=500, help='iterations between RSS samples')
    parser.add_argument('--warmup', type=int, help='iterations left out of the slope (default: a quarter of '
                                                   '--iters plus --interval, past the first evaluation)')
    parser.add_argument('--batch', type=int, default=16)
    parser.add_argument('--threads', type=int, default=1, help='torch intra-op threads')
    parser.add_argument('--json', help='also write the samples and the slope to this file')
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.warmup is None:
        args.warmup = max(args.iters // 4, 1) + args.interval
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / 'soak_digits.py'
        config.write_text(CONFIG.format(base=str(REPO / 'configs/resnet/resnet18_digits.py'), batch=args.batch,
                                        iters=args.iters, interval=args.interval,
                                        ckpt_interval=max(args.iters // 4, 1)))
        start = time.perf_counter()
        train_model(Config.fromfile(config), work_dir=Path(tmp) / 'work', seed=0)
        elapsed = time.perf_counter() - start
    slope = slope_mb_per_1000(SAMPLES, args.warmup)
    print('\n  iters   RSS MB')
    for it, mb in SAMPLES:
        print(f'{it:7d}  {mb:7.1f}')
    after = [mb for it, mb in SAMPLES if it >= args.warmup]
    print(f'\n{args.iters} iterations in {elapsed:.0f} s ({args.iters / elapsed:.0f} it/s); RSS {SAMPLES[0][1]:.1f} MB '
          f'at start, {min(after):.1f}..{max(after):.1f} MB after {args.warmup} iterations; '
          f'slope {slope:+.3f} MB per 1000 iterations')
    if args.json:
        Path(args.json).write_text(json.dumps({'samples': SAMPLES, 'slope_mb_per_1000_iters': slope,
                                               'seconds': elapsed, 'args': vars(args)}, indent=1))
    return 0


if __name__ == '__main__':
    sys.exit(main())
