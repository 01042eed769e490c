"""Training-loop benchmarks for the engine (issue 5), each measured side by side in one run.

1. overhead: imgcls's runner vs a minimal hand-written PyTorch loop with identical settings
   (fp32, ResNet-18-CIFAR, batch 128, SGD, in-memory uint8 data). Target: >= 0.97x.
2. defaults: imgcls's default CPU settings (bf16 autocast + channels_last, chosen automatically) vs
   fp32 eager, training the digits main job; images/s and final top-1. Target: >= 1.8x, top-1
   within 0.5 points.

Usage:
    python benchmarks/train_speed.py [--only overhead|defaults] [--iters 30] [--repeats 3] [--batch 128]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from imgcls import Config  # noqa: E402
from imgcls.data.builder import DATASETS  # noqa: E402

MODEL = dict(type='ImageClassifier',
             backbone=dict(type='ResNet_CIFAR', depth=18),
             neck=dict(type='GlobalAveragePooling'),
             head=dict(type='LinearClsHead', num_classes=10, in_channels=512))


@DATASETS.register_module(force=True)
class InMemoryBatches(torch.utils.data.Dataset):
    """Random uint8 32x32 images held in memory (no decoding, no augmentation)."""

    CLASSES = [str(i) for i in range(10)]

    def __init__(self, num: int, pipeline=(), test_mode=False):
        g = torch.Generator().manual_seed(0)
        self.imgs = torch.randint(0, 256, (num, 3, 32, 32), dtype=torch.uint8, generator=g)
        self.labels = torch.randint(0, 10, (num,), generator=g)

    def __len__(self):
        return len(self.imgs)

    def __getitem__(self, i):
        return {'img': self.imgs[i], 'gt_label': self.labels[i]}


def plain_loop(iters: int, batch: int) -> float:
    """The minimal loop a user writes by hand: images/s."""
    from imgcls.models import build_classifier
    torch.manual_seed(0)
    model = build_classifier(MODEL)
    model.init_weights()
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4, foreach=True)
    data = InMemoryBatches(iters * batch)
    loader = torch.utils.data.DataLoader(data, batch_size=batch, shuffle=True, num_workers=0)
    mean = torch.tensor([125.3, 123.0, 113.9]).view(1, 3, 1, 1)
    std = torch.tensor([63.0, 62.1, 66.7]).view(1, 3, 1, 1)
    loss_fn = torch.nn.CrossEntropyLoss()
    start, n = None, 0
    for i, b in enumerate(loader):
        if i == 3:  # warm-up done
            start, n = time.perf_counter(), 0
        x = (b['img'].float() - mean) / std
        logits = model.head.fc(model.neck(model.backbone(x))[-1])
        loss = loss_fn(logits, b['gt_label'])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        n += len(x)
    return n / (time.perf_counter() - start)


def imgcls_loop(iters: int, batch: int, work: Path) -> float:
    """The same training through imgcls's runner: images/s from its own log."""
    from imgcls.apis import train_model
    cfg = Config(dict(
        model=MODEL,
        data=dict(samples_per_gpu=batch, workers_per_gpu=0,
                  train=dict(type='InMemoryBatches', num=iters * batch)),
        data_preprocessor=dict(mean=[125.3, 123.0, 113.9], std=[63.0, 62.1, 66.7]),
        optimizer=dict(type='SGD', lr=0.1, momentum=0.9, weight_decay=5e-4, foreach=True),
        optimizer_config=dict(grad_clip=None), lr_config=dict(policy='fixed'),
        runner=dict(type='EpochBasedRunner', max_epochs=1), checkpoint_config=dict(interval=-1, save_last=False),
        evaluation=dict(interval=0), log_config=dict(interval=iters, hooks=[]),
        amp=None, channels_last=False))
    cfg['model']['data_preprocessor'] = cfg.data_preprocessor
    t = {}

    from imgcls.engine.hooks import HOOKS, Hook

    @HOOKS.register_module(force=True)
    class _Timer(Hook):
        def after_train_iter(self, runner):
            if runner.inner_iter == 2:
                t['start'] = time.perf_counter()
            t['end'], t['n'] = time.perf_counter(), (runner.inner_iter - 2) * batch

    cfg['custom_hooks'] = [dict(type='_Timer')]
    train_model(cfg, work_dir=work, seed=0)
    return t['n'] / (t['end'] - t['start'])


def bench_overhead(iters: int, repeats: int, batch: int = 128) -> dict:
    plain, ours = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(repeats):  # interleaved, so machine noise hits both alike
            plain.append(plain_loop(iters, batch))
            ours.append(imgcls_loop(iters, batch, Path(tmp) / f'run{r}'))
    p, o = statistics.median(plain), statistics.median(ours)
    return {'workload': f'engine overhead (fp32, ResNet-18-CIFAR, batch {batch}, in-memory)',
            'plain_img_s': round(p, 1), 'imgcls_img_s': round(o, 1), 'ratio': round(o / p, 3),
            'target': '>= 0.97', 'runs_plain': [round(v, 1) for v in plain],
            'runs_imgcls': [round(v, 1) for v in ours]}


def train_digits(work: Path, extra: dict) -> tuple[float, float]:
    """Train the main job; returns (median train images/s over logged windows, final top-1)."""
    from imgcls.apis import train_model
    cfg = Config.fromfile(REPO / 'configs/resnet/resnet18_digits.py')
    cfg.merge_from_dict(extra)
    results = train_model(cfg, work_dir=work, seed=0)
    speeds = [json.loads(line)['img_per_s'] for line in (work / 'log.jsonl').read_text().splitlines()
              if json.loads(line)['mode'] == 'train' and json.loads(line)['iter'] > 10]
    return statistics.median(speeds), results['accuracy_top-1']


def bench_defaults() -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        fp32_speed, fp32_acc = train_digits(Path(tmp) / 'fp32', {'amp': None, 'channels_last': False})
        def_speed, def_acc = train_digits(Path(tmp) / 'default', {})
    return {'workload': 'digits main job: default settings vs fp32 eager',
            'fp32_img_s': round(fp32_speed, 1), 'default_img_s': round(def_speed, 1),
            'ratio': round(def_speed / fp32_speed, 3), 'target': '>= 1.8',
            'fp32_top1': round(fp32_acc, 2), 'default_top1': round(def_acc, 2),
            'top1_diff': round(def_acc - fp32_acc, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--only', choices=('overhead', 'defaults'))
    parser.add_argument('--iters', type=int, default=30)
    parser.add_argument('--repeats', type=int, default=3)
    parser.add_argument('--batch', type=int, default=128)
    args = parser.parse_args()
    import logging
    logging.getLogger('imgcls').setLevel(logging.WARNING)
    results = []
    if args.only in (None, 'overhead'):
        results.append(bench_overhead(args.iters, args.repeats, args.batch))
        print(json.dumps(results[-1]), flush=True)
    if args.only in (None, 'defaults'):
        results.append(bench_defaults())
        print(json.dumps(results[-1]), flush=True)
    print(f'torch {torch.__version__}, {torch.get_num_threads()} threads, '
          f'CPU capability {torch.backends.cpu.get_cpu_capability()}')


if __name__ == '__main__':
    main()
